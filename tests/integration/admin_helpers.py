"""Hand-made instances for the administration tests: N real brokers on
loopback TLS, each with its own config directory (so a follower's files
can differ from the leader's), started and stopped by the test."""

import os
import signal
import socket
import subprocess

import pytest
import tomli_w

from fluxd.security.keys import keygen
from fluxd.testing.broker import BrokerProcess, twistd_executable


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Broker(BrokerProcess):
    """A BrokerProcess that also takes raw ``twistd fluxd`` arguments
    (bare ``-Sname`` flags, ``--`` and an initial program)."""

    def __init__(self, workdir, extra=(), **kw):
        super().__init__(workdir, **kw)
        self.extra = list(extra)

    def command(self):
        argv = super().command()
        return argv + self.extra

    def resume(self):
        """SIGCONT a broker the test stopped with SIGSTOP."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)


class Instance:
    """``size`` brokers named n0..n(size-1); rank r reads ``conf[r]``.

    :param files: ``{name: text}`` written into every config directory.
    :param shared: a world-readable directory for the rundirs (so that
        another user can reach the sockets), or None.
    """

    def __init__(self, tmp_path, size, files=None, attrs=None, shared=None):
        self.tmp = tmp_path
        cert = tmp_path / "cluster.pem"
        keygen(str(cert), name="flux")
        ports = free_ports(size)
        hosts = [{"host": f"n{r}", "bind": f"tcp://127.0.0.1:{p}",
                  "connect": f"tcp://127.0.0.1:{p}"}
                 for r, p in enumerate(ports)]
        self.ports = ports
        self.conf = []
        self.brokers = []
        for rank in range(size):
            conf = tmp_path / f"conf{rank}"
            conf.mkdir()
            with open(conf / "boot.toml", "wb") as f:
                tomli_w.dump({"bootstrap": {"curve_cert": str(cert),
                                            "hosts": hosts}}, f)
            for name, text in (files or {}).items():
                (conf / name).write_text(text)
            self.conf.append(conf)
            work = tmp_path / f"r{rank}"
            work.mkdir()
            battrs = {"hostname": f"n{rank}", "log-stderr-mode": "local",
                      "log-stderr-level": "6", **(attrs or {})}
            if shared is not None:
                rundir = os.path.join(shared, f"run{rank}")
                os.makedirs(rundir)
                os.chmod(rundir, 0o755)
                battrs.update(rundir=rundir, **{"local-uri":
                                                f"local://{rundir}/local"})
            self.brokers.append(Broker(work, config_path=str(conf),
                                       attrs=battrs))

    def __getitem__(self, rank):
        return self.brokers[rank]

    def start(self, ranks=None):
        for rank in (range(len(self.brokers)) if ranks is None else ranks):
            self.brokers[rank].start(wait=False)
        for rank in (range(len(self.brokers)) if ranks is None else ranks):
            self.brokers[rank].wait_for("broker ready")
        return self

    def stop(self):
        for broker in reversed(self.brokers):
            broker.resume()
            broker.stop(timeout=20)


@pytest.fixture
def make_instance(tmp_path):
    """``make_instance(size, files=..., attrs=...)``: an :class:`Instance`
    (not started); every broker is stopped (and resumed first) at the
    end."""
    made = []

    def make(size, files=None, attrs=None, shared=None):
        inst = Instance(tmp_path, size, files, attrs, shared)
        made.append(inst)
        return inst
    yield make
    for inst in made:
        inst.stop()


def run_fluxd(args, tmp_path, timeout=30, env=None):
    """Run ``twistd -n fluxd ARGS`` to completion with ``TMPDIR`` set to
    a private directory; returns ``(proc, tmpdir)``."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    full_env = dict(os.environ if env is None else env, TMPDIR=str(tmpdir))
    proc = subprocess.run(
        [twistd_executable(), "-n", "--pidfile=", "--logfile=-", "fluxd",
         *args], capture_output=True, text=True, timeout=timeout,
        cwd=tmp_path, env=full_env)
    return proc, tmpdir
