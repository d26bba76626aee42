"""startlog after a clean stop and after kill -9; safe mode after a crash."""

import re
import signal

from fluxd import __version__
from tests.integration.lifecycle_helpers import make_broker  # noqa: F401

FINISHED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d - \d{4}-\d\d-\d\d \d\d:\d\d \(\S+\)$")
CRASHED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d - crashed$")
RUNNING = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d - running \(\S+\)$")
CRASH_WARNING = "Flux was not shut down properly.  Data may have been lost."
SAFE_MODE = ("safe mode: job submission is disabled and scheduling is stopped:"
             " Flux is in safe mode due to an incomplete shutdown."
             " (see flux startlog)")


def startlog(broker, *args):
    r = broker.flux("startlog", *args)
    return r.rc, r.out.splitlines()


def test_clean_stop_then_crash_then_safe_mode(make_broker, tmp_path):
    broker = make_broker(attrs={"statedir": str(tmp_path / "state")}).start()
    rc, lines = startlog(broker)
    assert rc == 0 and len(lines) == 1 and RUNNING.match(lines[0]), lines
    assert broker.flux("uptime").out.count("\n") == 1
    assert broker.flux("getattr", "broker.safe-mode").out == "0\n"

    # a clean stop: finish recorded, no safe mode on the next start
    assert broker.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    broker.start()
    rc, lines = startlog(broker)
    assert FINISHED.match(lines[0]) and RUNNING.match(lines[1]), lines
    assert CRASH_WARNING not in broker.log_text
    assert startlog(broker, "--check")[0] == 0

    # kill -9: the next start finds a start without finish
    assert broker.kill() == -signal.SIGKILL
    broker.start()
    rc, lines = startlog(broker)
    assert [bool(FINISHED.match(lines[0])), bool(CRASHED.match(lines[1])),
            bool(RUNNING.match(lines[2]))] == [True, True, True], lines
    assert CRASH_WARNING in broker.log_text
    assert SAFE_MODE in broker.log_text
    r = broker.flux("uptime")
    assert r.out.splitlines()[1] == "  submit disabled,  scheduler stopped"
    assert broker.flux("getattr", "broker.safe-mode").out == "1\n"
    rc, checked = startlog(broker, "--check")
    assert (rc, checked[:2]) == (1, lines[:2])
    assert startlog(broker, "--check", "--quiet") == (1, [])
    rc, verbose = startlog(broker, "-v")
    assert verbose[0] == f"{__version__:>25}  {lines[0]}"

    # a clean stop after the crash ends safe mode for the next run; the
    # queue stays as safe mode left it (kept in the job manager's
    # checkpoint) until the owner enables and starts it
    assert broker.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    broker.start()
    assert broker.flux("getattr", "broker.safe-mode").out == "0\n"
    r = broker.flux("uptime")
    assert r.out.splitlines()[1] == "  submit disabled,  scheduler stopped"
    assert broker.flux("queue", "enable").rc == 0
    assert broker.flux("queue", "start").rc == 0
    assert broker.flux("uptime").out.count("\n") == 1
    rc, lines = startlog(broker, "--check")
    assert rc == 0 and len(lines) == 4 and CRASHED.match(lines[1])


def test_startlog_is_owner_only_and_needs_a_broker(make_broker, tmp_path):
    broker = make_broker().start()
    from fluxd.client.sync import Flux
    from fluxd.errors import PermissionDenied
    from fluxd.message.types import ROLE_USER
    with Flux(broker.uri, userid=4242, rolemask=ROLE_USER) as h:
        try:
            h.rpc("admin.startlog")
        except PermissionDenied as exc:
            assert str(exc) == "Request requires owner credentials"
        else:
            raise AssertionError("a guest read the startlog")
