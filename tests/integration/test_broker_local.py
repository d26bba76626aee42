"""A real `twistd -n fluxd` broker, driven with the real `flux` command."""

import json
import os
import signal
import subprocess
import sys

from fluxd.client.sync import Flux
from fluxd.testing.broker import twistd_executable


def test_twistd_fluxd_help():
    proc = subprocess.run([twistd_executable(), "fluxd", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--config-path" in proc.stdout
    assert "--setattr" in proc.stdout


def test_getattr_and_lsattr(broker):
    r = broker.flux("getattr", "rank")
    assert (r.rc, r.out, r.err) == (0, "0\n", "")
    assert broker.flux("getattr", "size").out == "1\n"
    assert broker.flux("getattr", "local-uri").out.strip() == broker.uri
    names = broker.flux("lsattr").out.split()
    assert {"rank", "size", "rundir", "version", "security.owner"} <= set(names)
    verbose = broker.flux("lsattr", "-v").out.splitlines()
    assert any(line.split() == ["rank", "0"] for line in verbose)


def test_getattr_unknown(broker):
    r = broker.flux("getattr", "nosuchattr")
    assert r.rc == 1
    assert r.err == "flux-getattr: nosuchattr: No such file or directory\n"


def test_getattr_tbon_topo_default(broker_factory):
    """Unset, tbon.topo reports the topology in use: flux's default
    kary:32 without [bootstrap], or the one given with -S."""
    assert broker_factory().flux("getattr", "tbon.topo").out == "kary:32\n"
    other = broker_factory(attrs={"tbon.topo": "binomial"}, name="c")
    assert other.flux("getattr", "tbon.topo").out == "binomial\n"


def test_setattr(broker):
    assert broker.flux("setattr", "log-stderr-level", "6").rc == 0
    assert broker.flux("getattr", "log-stderr-level").out == "6\n"
    r = broker.flux("setattr", "rank", "5")
    assert r.rc == 1 and "Operation not permitted" in r.err
    assert "Traceback" not in r.err


def test_module_list(broker):
    r = broker.flux("module", "list")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "Module                    Idle  S Sendq Recvq Service"
    names = [line.split()[0] for line in lines[1:]]
    assert "connector-local" in names and "attr" in names
    row = next(line for line in lines if line.startswith("attr "))
    assert row[26:30].strip().isdigit() or row[26:30] == "idle"
    assert row[32] == "R"


def test_no_broker_one_line_error(tmp_path):
    env = dict(os.environ, FLUX_URI=f"local://{tmp_path}/nothing")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "flux"),
                           "getattr", "rank"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "Unable to connect to Flux" in proc.stderr


def test_ping_and_big_payload(broker):
    with Flux(broker.uri) as h:
        reply = h.rpc("broker.ping", {"seq": 1, "pad": "x" * 100})
        assert reply["rank"] == 0 and reply["pad"] == "x" * 100
        assert reply["route"].count("!") == 1
        pad = "y" * (16 * 1024 * 1024)
        assert h.rpc("attr.ping", {"pad": pad})["pad"] == pad


def test_unknown_topic_and_bad_payload(broker):
    with Flux(broker.uri) as h:
        try:
            h.rpc("nosuch.method")
        except Exception as exc:
            assert exc.errno == 38
        else:
            raise AssertionError("ENOSYS expected")
        try:
            h.rpc_raw("attr.get", b"[not an object")
        except Exception as exc:
            assert exc.errno == 71
        else:
            raise AssertionError("EPROTO expected")
        # the same connection still works
        assert h.rpc("attr.get", {"name": "rank"})["value"] == "0"


def test_pipelined_requests(broker):
    with Flux(broker.uri) as h:
        tokens = [h.send("attr.get", {"name": "rank"}) for _ in range(100)]
        values = {json.loads(h.wait(t))["value"] for t in reversed(tokens)}
        assert values == {"0"}


def test_sigterm_stops_cleanly(broker):
    sock = broker.uri[len("local://"):]
    assert os.path.exists(sock)
    # twistd re-raises the stopping signal on exit, as a plain process
    # would; systemd counts SIGTERM as a clean stop.
    assert broker.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert not os.path.exists(sock)
    assert "Main loop terminated." in "".join(broker.output)


def test_bad_setattr_reported_before_start(tmp_path):
    proc = subprocess.run([twistd_executable(), "-n", "--pidfile=", "fluxd",
                           "-Snosuch=1"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode != 0
    assert "nosuch" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_bad_config_reported_before_start(tmp_path):
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "access.toml").write_text("[access]\nallow-guest-user = 'yes'\n")
    proc = subprocess.run([twistd_executable(), "-n", "--pidfile=", "fluxd",
                           f"--config-path={conf}"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "access.toml" in out and "allow-guest-user" in out
    assert "Traceback" not in out


def test_many_streams_on_one_connection(broker):
    """next_response() follows several streams at once: responses in
    order per stream, a normal end after cancel, an error end, and a
    timeout when nothing comes."""
    from fluxd.storage import treeobj as T
    from fluxd.storage.lookup import WAITCREATE, WATCH
    ns = "primary"

    def put(key, text):
        h.rpc("kvs.commit", {"namespace": ns, "flags": 0, "ops": [{
            "key": key, "flags": 0, "dirent": T.create_val(text.encode())}]})

    with Flux(broker.uri) as h:
        put("s.a", "a0")
        first = h.start_stream("kvs-watch.lookup", {
            "key": "s.a", "flags": WATCH, "namespace": ns})
        second = h.start_stream("kvs-watch.lookup", {
            "key": "s.b", "flags": WATCH | WAITCREATE, "namespace": ns})
        missing = h.start_stream("kvs-watch.lookup", {
            "key": "s.none", "flags": WATCH, "namespace": ns})
        tokens = [first, second, missing]
        seen = {}
        token, payload, error = h.next_response(tokens, timeout=30)
        while token is not missing:
            seen.setdefault(token, []).append(payload)
            token, payload, error = h.next_response(tokens, timeout=30)
        assert payload is None and error.errno == 2     # ENOENT ends it
        tokens.remove(missing)
        put("s.b", "b0")
        put("s.a", "a1")
        while len(seen.get(second, [])) < 1 or len(seen[first]) < 2:
            token, payload, error = h.next_response(tokens, timeout=30)
            assert error is None and payload is not None
            seen.setdefault(token, []).append(payload)
        values = [T.decode_val(p["val"]).decode() for p in seen[first]]
        assert values == ["a0", "a1"]
        assert h.next_response(tokens, timeout=0.2) is None
        h.cancel(first)
        assert h.next_response(tokens, timeout=30) == (first, None, None)
