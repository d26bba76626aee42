"""What local clients may cost a real broker: memory and log lines.

The guest tests use a real second user (root only, as
``test_guest_access``): the guest runs the system's Python on a
world-readable copy of the fluxd package and speaks the wire codec
directly, as a hostile client would.
"""

import os
import shutil
import socket
import subprocess
import tempfile

import pytest
import tomli_w

from fluxd.client import wire
from fluxd.client.sync import Flux
from fluxd.testing.broker import twistd_executable
from fluxd.testing.users import temporary_user

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
MiB = 1024 * 1024

needs_root = pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                                reason="needs root to create a user")

#: connect, read hello, then send one box that never ends, of up to
#: argv[2] bytes in 64 KiB values under distinct keys; say how far it got,
#: keep the socket open until told to close
HUGE_BOX = r"""
import socket, sys
from fluxd.client import wire
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
decoder, boxes = wire.BoxDecoder(), []
while not boxes:
    boxes = decoder.feed(sock.recv(65536))
print("hello", wire.get_int(boxes[0], "errnum"), flush=True)
value = b"\xff\xff" + b"v" * 65535
sent, i = 0, 0
try:
    sock.sendall(b"\x00\x08_command\x00\x07request")
    while sent < int(sys.argv[2]):
        key = b"k%d" % i
        sock.sendall(len(key).to_bytes(2, "big") + key + value)
        sent += 65535
        i += 1
    print("sent", sent, flush=True)
except OSError as exc:
    print("dropped", sent, flush=True)
sys.stdin.readline()
"""

#: two connections each send all of a ping request but its end marker,
#: then both finish it: which ones are answered?
TWO_PARTIAL = r"""
import json, socket, sys
from fluxd.client import wire
socks = []
for n in range(2):
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(sys.argv[1])
    decoder, boxes = wire.BoxDecoder(max_box=None), []
    while not boxes:
        boxes = decoder.feed(sock.recv(65536))
    socks.append((sock, decoder))
payload = json.dumps({"pad": "x" * int(sys.argv[2])}).encode()
data = wire.encode_request(b"1", "broker.ping", 0xFFFFFFFF, 0, 1, payload)
for sock, _ in socks:
    try:
        sock.sendall(data[:-2])
    except OSError:
        pass
for n, (sock, decoder) in enumerate(socks):
    try:
        sock.sendall(data[-2:])
        boxes = []
        while not boxes:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionResetError
            boxes = decoder.feed(chunk)
        print(n, "answered", wire.decode_result(boxes[0])[0], flush=True)
    except OSError:
        print(n, "dropped", flush=True)
"""


def status(pid, field):
    """A ``/proc/PID/status`` size in kB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def pss_anon(pid):
    """Proportional set size of the anonymous pages, in kB: the broker's
    own heap.  (The file-backed part of Pss moves with every other Python
    process on the host, which share the interpreter's pages.)"""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss_Anon:"):
                return int(line.split()[1])
    raise AssertionError(f"no Pss_Anon for {pid}")


@pytest.fixture
def shared_dir():
    path = tempfile.mkdtemp(prefix="fluxd-limits-")
    os.chmod(path, 0o755)
    libdir = os.path.join(path, "lib")
    shutil.copytree(os.path.join(REPO, "fluxd"), os.path.join(libdir, "fluxd"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def guest_broker(broker_factory, shared_dir, attrs=None):
    rundir = os.path.join(shared_dir, "run")
    os.makedirs(rundir)
    os.chmod(rundir, 0o755)
    config = os.path.join(shared_dir, "access.toml")
    with open(config, "wb") as f:
        tomli_w.dump({"access": {"allow-guest-user": True}}, f)
    attrs = dict(attrs or {}, rundir=rundir)
    attrs["local-uri"] = f"local://{rundir}/local"
    return broker_factory(config_path=config, attrs=attrs)


def as_guest(user, shared_dir, script, *argv, **popen):
    env = {"PYTHONPATH": os.path.join(shared_dir, "lib"), "PATH": "/usr/bin:/bin"}
    return subprocess.Popen([SYSTEM_PYTHON, "-c", script, *argv],
                            user=user.pw_uid, group=user.pw_gid, env=env,
                            stdout=subprocess.PIPE, text=True, **popen)


def ping(uri):
    with Flux(uri) as h:
        assert h.rpc("broker.ping", {"seq": 1})["rank"] == 0


@needs_root
def test_guest_gigabyte_box_leaves_rss_flat(broker_factory, shared_dir):
    broker = guest_broker(broker_factory, shared_dir)
    pid = broker.proc.pid
    ping(broker.uri)
    before = status(pid, "VmRSS")
    with temporary_user() as user:
        guest = as_guest(user, shared_dir, HUGE_BOX,
                         broker.uri[len("local://"):], str(1 << 30),
                         stdin=subprocess.PIPE)
        try:
            assert guest.stdout.readline() == "hello 0\n"
            result = guest.stdout.readline().split()
            # the guest still holds its socket: nothing it sent may stay
            ping(broker.uri)
            after = status(pid, "VmRSS")
            peak = status(pid, "VmHWM")
        finally:
            guest.communicate("close\n", timeout=60)
    print(f"broker RSS {before} kB -> {after} kB (peak {peak} kB);"
          f" guest {result}")
    assert after - before < 20 * 1024
    assert result[0] == "dropped" and int(result[1]) < 17 * MiB
    drops = [line for line in broker.output if "dropping client" in line]
    assert len(drops) == 1
    assert drops[0].rstrip().endswith(
        f"(uid {user.pw_uid}): message larger than 16777216 bytes"
        " (connector-local.guest-message-limit)")
    assert broker.flux("getattr", "connector-local.guest-message-limit").out \
        == "16777216\n"


@needs_root
def test_guest_buffer_limit_is_shared(broker_factory, shared_dir):
    broker = guest_broker(broker_factory, shared_dir, {
        "connector-local.guest-message-limit": str(4 * MiB),
        "connector-local.guest-buffer-limit": str(2 * MiB)})
    with temporary_user() as user:
        guest = as_guest(user, shared_dir, TWO_PARTIAL,
                         broker.uri[len("local://"):], str(3 * MiB // 2))
        out, _ = guest.communicate(timeout=60)
    assert out.splitlines() == ["0 answered 0", "1 dropped"]
    [drop] = [line for line in broker.output if "dropping client" in line]
    assert drop.rstrip().endswith(
        "incomplete messages of all guests exceed 2097152 bytes"
        " (connector-local.guest-buffer-limit)")
    ping(broker.uri)


def test_per_connection_log_lines_rate_limited(broker):
    ping(broker.uri)
    start = len(broker.output)
    path = broker.uri[len("local://"):]
    for _ in range(300):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        sock.sendall(wire.encode_box({wire.COMMAND: b"frob", wire.ASK: b"1"}))
        sock.recv(65536)  # the hello
        while sock.recv(65536):
            pass  # until the broker hangs up
        sock.close()
    ping(broker.uri)
    lines = broker.output[start:]
    drops = [line for line in lines if "dropping client" in line]
    print(f"{len(lines)} log lines for 300 dropped clients")
    assert len(drops) == 10
    assert len(lines) <= 12


def test_closed_connections_leave_pss_flat(broker):
    pid = broker.proc.pid
    for _ in range(5):
        ping(broker.uri)
    before = pss_anon(pid)
    for _ in range(200):
        ping(broker.uri)
    after = pss_anon(pid)
    print(f"broker Pss_Anon {before} kB -> {after} kB over 200 connections")
    assert after - before < 32


def test_bad_limit_refused_before_start(tmp_path):
    proc = subprocess.run([twistd_executable(), "-n", "--pidfile=", "fluxd",
                           "-Sconnector-local.guest-buffer-limit=lots"],
                          capture_output=True, text=True, cwd=tmp_path,
                          timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "fluxd: connector-local.guest-buffer-limit: invalid value 'lots'" \
        " (expected a positive integer)\n" in out
    assert "Traceback" not in out
