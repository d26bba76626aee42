"""The manhole: a REPL for the owner, refused to another user."""

import os
import socket
import stat

import pytest

from fluxd.testing.users import temporary_user
from tests.integration.lifecycle_helpers import (  # noqa: F401
    SYSTEM_PYTHON, make_broker, run_as_guest, shared_dir)


def read_until(sock, marker, limit=1 << 20):
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_owner_evaluates(make_broker, tmp_path):
    path = str(tmp_path / "manhole")
    broker = make_broker(attrs={"broker.manhole": path}).start()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(path)
        read_until(sock, b">>> ")
        sock.sendall(b"6 * 7\r")
        assert b"\r\n42\r\n" in read_until(sock, b"42\r\n")
        sock.sendall(b"lifecycle.state, attributes.get('rank')\r")
        assert b"('run', '0')" in read_until(sock, b"'0')")
        sock.sendall(b"\x04")
        read_until(sock, b"never")  # until EOF: ctrl-D closed it
    assert broker.flux("getattr", "rank").out == "0\n"
    broker.stop()
    assert not os.path.exists(path)


GUEST_CONNECT = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
try:
    s.connect(sys.argv[1] if len(sys.argv) > 1 else PATH)
except PermissionError as exc:
    print("connect refused", exc.errno)
    raise SystemExit(0)
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print("answer", data)
"""


@pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                    reason="needs root to create a user")
def test_other_user_refused(make_broker, shared_dir):
    path = os.path.join(shared_dir, "manhole")
    broker = make_broker(attrs={"broker.manhole": path}).start()
    code = GUEST_CONNECT.replace("PATH", repr(path))
    with temporary_user() as user:
        # the socket's mode keeps other users out...
        proc = run_as_guest(user, shared_dir, code)
        assert proc.stdout.strip() == "connect refused 13", proc.stderr
        # ...and with the mode opened, SO_PEERCRED still does
        os.chmod(path, 0o666)
        proc = run_as_guest(user, shared_dir, code)
    assert proc.stdout.strip() == "answer b'manhole: permission denied\\r\\n'", \
        proc.stdout + proc.stderr
    broker.wait_for(f"manhole: refused connection from uid {user.pw_uid}")
    assert broker.flux("getattr", "rank").out == "0\n"
