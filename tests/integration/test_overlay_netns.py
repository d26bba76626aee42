"""Three test hosts in network namespaces form a TLS overlay from config.

Brokers bind with ``default_bind = "tcp://eth0:%p"`` (the interface name
resolved inside each host), find their parent by host name through each
namespace's own hosts file, and a broker holding another certificate is
refused.  Needs root (namespaces); everything made is removed.
"""

import os
import shutil
import subprocess

import pytest
import tomli_w

from fluxd.security.keys import keygen
from fluxd.testing.broker import BrokerProcess
from fluxd.testing.netns import HostNetwork

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                reason="needs root and iproute2")

HOSTS = ["hosta", "hostb", "hostc"]


def write_config(path, cert):
    path.mkdir()
    with open(path / "bootstrap.toml", "wb") as f:
        tomli_w.dump({"bootstrap": {
            "curve_cert": str(cert), "default_port": 8050,
            "default_bind": "tcp://eth0:%p", "default_connect": "tcp://%h:%p",
            "hosts": [{"host": h} for h in HOSTS]}}, f)
    return path


class NetnsBroker(BrokerProcess):
    """A broker process started inside a test host's namespace."""

    def __init__(self, net, host, workdir, config):
        # quorum 1, as the system unit sets: rank 0 must not wait for the
        # intruder, who never joins
        super().__init__(workdir, config_path=str(config),
                         attrs={"hostname": host, "broker.quorum": "1"})
        self.net, self.host = net, host

    def command(self):
        return self.net.command(self.host, super().command())


@pytest.fixture
def net():
    with HostNetwork(HOSTS) as network:
        yield network


def test_three_hosts_and_a_wrong_certificate(tmp_path, net):
    cert = tmp_path / "cluster.pem"
    keygen(str(cert), name="cluster")
    other = tmp_path / "other.pem"
    keygen(str(other), name="cluster")
    good = write_config(tmp_path / "conf", cert)
    bad = write_config(tmp_path / "badconf", other)
    brokers = []
    try:
        for host in HOSTS[:2]:
            (tmp_path / host).mkdir()
            # registered before start, so a failed start is still stopped
            brokers.append(NetnsBroker(net, host, tmp_path / host, good))
            brokers[-1].start()
        rank0 = brokers[0]
        brokers[1].wait_for("connected to parent rank 0")
        (tmp_path / "hostc").mkdir()
        intruder = NetnsBroker(net, "hostc", tmp_path / "hostc", bad)
        brokers.append(intruder)
        intruder.start(wait=False)
        rank0.wait_for("overlay: refused")  # TLS pinning refuses hostc
        status = rank0.flux("overlay", "status", "--no-pretty")
        assert status.rc == 0, status.err
        assert status.out.splitlines() == [
            "0 hosta: partial", "1 hostb: full", "2 hostc: offline"]
        assert rank0.flux("getattr", "hostlist").out == "host[a-c]\n" or \
            rank0.flux("getattr", "hostlist").out == "hosta,hostb,hostc\n"
        ping = rank0.flux("ping", "-c", "1", "-i", "0", "1")
        assert ping.rc == 0 and "1!broker.ping" in ping.out
        # the endpoint was bound on eth0's address inside hostb's namespace
        bound = subprocess.run(net.command("hostb", ["ss", "-ltn"]),
                               capture_output=True, text=True).stdout
        assert f"{net.addr['hostb']}:8050" in bound or "8050" not in bound
    finally:
        for broker in brokers:
            broker.stop()
