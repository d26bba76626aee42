"""broker.quorum, flux overlay status -r, and flux overlay disconnect.

Two brokers configured by hand with ``[bootstrap]`` on loopback: rank 0
waits in QUORUM until rank 1 joins; an administrative disconnect stops
rank 1 and leaves it offline with the reason.
"""

import socket

import tomli_w

from fluxd.security.keys import keygen
from fluxd.testing.broker import BrokerProcess


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_config(tmp_path, size):
    cert = tmp_path / "cluster.pem"
    keygen(str(cert), name="flux")
    conf = tmp_path / "conf"
    conf.mkdir()
    hosts = [{"host": f"n{r}", "bind": f"tcp://127.0.0.1:{p}",
              "connect": f"tcp://127.0.0.1:{p}"}
             for r, p in enumerate(free_port() for _ in range(size))]
    with open(conf / "boot.toml", "wb") as f:
        tomli_w.dump({"bootstrap": {"curve_cert": str(cert), "hosts": hosts}}, f)
    return conf


def broker(tmp_path, conf, rank):
    work = tmp_path / f"r{rank}"
    work.mkdir(exist_ok=True)
    return BrokerProcess(work, config_path=str(conf), attrs={"hostname": f"n{rank}"})


def test_quorum_status_rank_and_disconnect(tmp_path):
    conf = make_config(tmp_path, 3)
    r0 = broker(tmp_path, conf, 0)
    others = []
    try:
        r0.start(wait=False)
        r0.wait_for("init->quorum")
        uptime = r0.flux("uptime").out
        assert " quorum " in uptime, uptime
        assert r0.flux("overlay", "status", "--no-pretty").out.splitlines() == [
            "0 n0: partial", "1 n1: offline", "2 n2: offline"]
        others = [broker(tmp_path, conf, r) for r in (1, 2)]
        for b in others:
            b.start()
        r0.wait_for("quorum-full: quorum->run")
        assert " run " in r0.flux("uptime").out
        # any rank can be asked about its subtree and to report uptime
        assert others[0].flux("overlay", "status", "-r", "1").out == "1 n1: full\n"
        assert others[1].flux("getattr", "rank").out == "2\n"
        # an administrative disconnect: the child stops, parent shows why
        r = r0.flux("overlay", "disconnect", "2")
        assert r.rc == 0, r.err
        assert r.err == ("flux-overlay: asking n0 (rank 0) to disconnect child"
                         " n2 (rank 2)\n")
        others[1].wait()
        status = r0.flux("overlay", "status", "--no-pretty").out.splitlines()
        assert status == ["0 n0: partial", "1 n1: full",
                          "2 n2: offline administrative shutdown"], status
        bad = r0.flux("overlay", "disconnect", "0")
        assert (bad.rc, bad.err) == (1, "flux-overlay: 0 has no parent\n")
    finally:
        for b in others:
            b.stop()
        r0.stop()
