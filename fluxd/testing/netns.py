# -*- test-case-name: tests.integration.test_overlay_netns -*-
"""Test hosts in network namespaces, for multi-host overlay tests (root).

:class:`HostNetwork` makes one namespace per host, each with an ``eth0``
veth joined to a bridge in a private "switch" namespace, an address in a
private /24 and an ``/etc/netns/NAME/hosts`` naming every host, so that
``ip netns exec NAME CMD`` runs CMD "on" that host.  Everything is
removed by :meth:`HostNetwork.close`.
"""

import os
import shutil
import subprocess
import uuid


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True,
                          text=True)


class HostNetwork:
    """Namespaced hosts on one private subnet.

    :param hosts: the host names.
    :param subnet: the first three octets of the /24 to use.
    """

    def __init__(self, hosts, subnet="10.251.77"):
        self.tag = uuid.uuid4().hex[:6]
        self.switch = f"fxsw{self.tag}"
        self.hosts = list(hosts)
        self.ns = {h: f"fx{self.tag}{i}" for i, h in enumerate(self.hosts)}
        self.addr = {h: f"{subnet}.{i + 1}" for i, h in enumerate(self.hosts)}
        self._made = []

    def open(self):
        """Create the namespaces, links, addresses and hosts files."""
        _ip("netns", "add", self.switch)
        self._made.append(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        hosts_file = "127.0.0.1 localhost\n" + "".join(
            f"{self.addr[h]} {h}\n" for h in self.hosts)
        for i, host in enumerate(self.hosts):
            ns = self.ns[host]
            _ip("netns", "add", ns)
            self._made.append(ns)
            _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer",
                "name", f"p{i}", "netns", self.switch)
            _ip("-n", self.switch, "link", "set", f"p{i}", "master", "br0")
            _ip("-n", self.switch, "link", "set", f"p{i}", "up")
            _ip("-n", ns, "addr", "add", f"{self.addr[host]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
            with open(f"/etc/netns/{ns}/hosts", "w") as f:
                f.write(hosts_file)
        return self

    def command(self, host, argv):
        """``argv`` wrapped to run on ``host``."""
        return ["ip", "netns", "exec", self.ns[host], *argv]

    def close(self):
        """Remove everything :meth:`open` made (safe to call twice)."""
        for ns in reversed(self._made):
            _ip("netns", "del", ns, check=False)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        self._made = []

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()
