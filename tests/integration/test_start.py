"""``flux start``: the port reservation that keeps the instance from
racing other programs for its ports, and a real instance end to end."""

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap

from fluxd.cli.cmd_start import reserve_ports
from fluxd.testing.cli import flux_executable


def reuse_socket():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


def test_reserved_ports_go_to_no_one_else():
    """While reserved, no other socket gets the ports: not a bind(0) (what
    another program or an outgoing connection's source port would take),
    not an explicit bind, even with SO_REUSEADDR."""
    held = reserve_ports(3)
    try:
        ports = {s.getsockname()[1] for s in held}
        assert len(ports) == 3
        for reuse in (False, True):
            for _ in range(500):
                s = reuse_socket() if reuse else socket.socket()
                with s:
                    s.bind(("127.0.0.1", 0))
                    assert s.getsockname()[1] not in ports
        port = min(ports)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError as exc:
                assert exc.errno == errno.EADDRINUSE
            else:
                raise AssertionError("a reserved port was bound")
    finally:
        for s in held:
            s.close()


def test_the_broker_listens_on_a_reserved_port():
    """A listening socket as Twisted makes it (SO_REUSEADDR) binds the
    reserved port, accepts connections, and keeps the port once the
    reservation is released."""
    held = reserve_ports(1)
    port = held[0].getsockname()[1]
    with reuse_socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        held[0].close()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            conn, _ = listener.accept()
            conn.close()
        with reuse_socket() as other:
            try:
                other.bind(("127.0.0.1", port))
            except OSError as exc:
                assert exc.errno == errno.EADDRINUSE
            else:
                raise AssertionError("bound a port a broker listens on")


INSIDE = textwrap.dedent("""
    import json, os, socket, subprocess, sys, tomllib
    top = os.environ["FLUXD_START_DIR"]
    with open(os.path.join(top, "bootstrap.toml"), "rb") as f:
        hosts = tomllib.load(f)["bootstrap"]["hosts"]
    ports = [int(h["bind"].rsplit(":", 1)[1]) for h in hosts]
    # every port stays reserved while the instance runs (leaves do not
    # listen on theirs); rank 0 listens on its own
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        raise SystemExit(f"port {port} is not reserved")
    with socket.create_connection(("127.0.0.1", ports[0]), timeout=5):
        pass
    size = subprocess.run([sys.argv[1], "getattr", "size"], check=True,
                          capture_output=True, text=True).stdout.strip()
    with open(os.path.join(top, "brokers.json")) as f:
        pids = [b["pid"] for b in json.load(f)]
    print(json.dumps({"size": size, "pids": pids, "dir": top,
                      "ports": ports}))
    sys.exit(3)
""")


def test_instance_holds_ports_and_cleans_up(tmp_path):
    script = tmp_path / "inside.py"
    script.write_text(INSIDE)
    proc = subprocess.run([flux_executable(), "start", "--test-size=4",
                           sys.executable, str(script), flux_executable()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["size"] == "4"
    assert not os.path.exists(seen["dir"])
    for port in seen["ports"][1:]:  # released at exit (rank 0's port may
        with socket.socket() as s:  # be in TIME_WAIT: a listener reuses it)
            s.bind(("127.0.0.1", port))
    for pid in seen["pids"]:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"broker {pid} still running")


def test_bad_options_are_one_line():
    for argv, message in (
            (["-o,-Sx=1,bogus", "true"], "-o: unsupported broker option"
             " bogus"),
            (["-o"], "argument -o/--broker-opts: expected one argument"),
            (["--test-size=-1", "true"], "--test-size must be >= 1"),
            (["-Sx", "true"], "--setattr x: unknown attribute or not settable"
             " on the command line"),
            (["-o,-Slog-stderr-level=loud", "true"], "log-stderr-level:"
             " invalid log level 'loud' (expected -1 to 7)")):
        proc = subprocess.run([flux_executable(), "start", *argv],
                              capture_output=True, text=True, timeout=60)
        assert (proc.returncode, proc.stderr) == (1, f"flux-start: {message}\n")
