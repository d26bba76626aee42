"""systemd: NOTIFY_SOCKET gets READY=1 and status; the unit file."""

import configparser
import os
import shlex
import signal
import socket

from twisted.python.reflect import namedAny

from fluxd.broker import SETTABLE, attribute_notes, parse_setattr
from tests.integration.lifecycle_helpers import REPO, make_broker  # noqa: F401


def test_ready_and_status(make_broker, tmp_path):
    address = str(tmp_path / "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(30)
    try:
        broker = make_broker(env=dict(os.environ, NOTIFY_SOCKET=address)).start()
        messages = [listener.recv(4096).decode() for _ in range(3)]
        assert messages == ["READY=1", "STATUS=Waiting for instance quorum",
                            "STATUS=Running as leader of 1 node Flux instance"]
        assert broker.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        assert listener.recv(4096).decode() == "STATUS=Exiting"
    finally:
        listener.close()


def test_sd_notify_off(make_broker, tmp_path):
    address = str(tmp_path / "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.setblocking(False)
    try:
        broker = make_broker(env=dict(os.environ, NOTIFY_SOCKET=address),
                             attrs={"broker.sd-notify": "0"}).start()
        broker.stop()
        try:
            data = listener.recv(4096)
        except BlockingIOError:
            data = None
        assert data is None
    finally:
        listener.close()


def test_unit_file():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(os.path.join(REPO, "conf", "flux.service"))
    service = unit["Service"]
    assert service["Type"] == "notify"
    # systemd joins lines ending in a backslash
    argv = shlex.split(service["ExecStart"].replace("\\\n", " "))
    assert os.path.basename(argv[0]) == "twistd"
    assert argv[1:3] == ["-n", "--pidfile="]
    (logger,) = [a.split("=", 1)[1] for a in argv if a.startswith("--logger=")]
    assert namedAny(logger)()({"log_format": "dropped"}) is None
    fluxd_at = argv.index("fluxd")
    attrs = dict(a[2:].partition("=")[::2] for a in argv[fluxd_at + 1:]
                 if a.startswith("-S"))
    # every attribute is one fluxd acts on (none that only warns)
    assert set(attrs) <= SETTABLE
    assert not attribute_notes(attrs)
    parse_setattr([a[2:] for a in argv[fluxd_at + 1:] if a.startswith("-S")])
    assert attrs["log-stderr-level"] == "6"
    assert attrs["log-stderr-mode"] == "local"
    assert attrs["broker.exit-norestart"] == "42"
    assert attrs["broker.sd-notify"] == "1"
    assert attrs["broker.rc2_none"] == ""
    assert attrs["broker.shutdown-timeout"] == "5m"
    reload = shlex.split(service["ExecReload"])
    assert os.path.basename(reload[0]) == "flux"
    assert reload[1:] == ["config", "reload", "--follower-noop"]
    assert service["RestartPreventExitStatus"] == "42"
    assert service["SuccessExitStatus"] == "42"
    assert any(a.startswith("--config-path=") for a in argv)
