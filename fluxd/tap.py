# -*- test-case-name: tests.integration.test_broker_local -*-
"""``twistd fluxd``: command-line options and ``makeService``.

Options follow flux-broker(1): ``--config-path=DIR`` and repeated
``-Sname=value`` / ``--setattr=name=value``.  The configuration is read
and checked in :meth:`Options.postOptions`, so a bad file or key is
reported on the terminal before twistd daemonizes.
"""

import atexit
import os
import resource
import sys

from twisted.logger import Logger
from twisted.python import usage

from fluxd.errors import FluxError


class Options(usage.Options):
    """Options of ``twistd fluxd``."""

    synopsis = "[--config-path=PATH] [-Sname=value]... [-- INITIAL-PROGRAM [ARGS...]]"
    optParameters = [
        ["config-path", "c", None,
         "Read configuration from PATH: a directory of *.toml files, a TOML"
         " file or a .json file (default: $FLUX_CONF_DIR, else embedded"
         " defaults)"],
    ]
    longdesc = ("Run one fluxd broker.  Attributes (rundir, statedir,"
                " local-uri, hostname, log-stderr-level, ...) are set with"
                " -Sname=value.  Arguments after the options are the initial"
                " program (rc2): run with FLUX_URI set once the broker is up;"
                " the broker shuts down when it exits and exits with its"
                " status.  Without one (or with -Sbroker.rc2_none=1) the"
                " broker runs until signaled or `flux shutdown`.")

    def __init__(self):
        super().__init__()
        self["setattr"] = []
        self["initial-program"] = None

    def parseArgs(self, *argv):
        """The initial program (rc2) and its arguments, if any."""
        self["initial-program"] = list(argv) or None

    def opt_setattr(self, value):
        """Set broker attribute NAME=VALUE (repeatable)."""
        self["setattr"].append(value)

    opt_S = opt_setattr

    def postOptions(self):
        from fluxd.broker import parse_setattr
        from fluxd.config import load_config
        path = self["config-path"] or os.environ.get("FLUX_CONF_DIR")
        try:
            self["config"] = load_config(path)
            self["attrs"] = parse_setattr(self["setattr"])
        except FluxError as exc:
            raise usage.UsageError(str(exc)) from None


def makeService(options):
    """Build the broker service tree for twistd.

    Besides the reactor, the broker gets the process-wide pieces only
    twistd may touch: the global log publisher (for the log ring), the
    real stderr (twistd redirects ``sys.stderr`` into the log), SIGHUP
    for config reload, and an exit hook for its exit code.
    """
    import signal

    from twisted.internet import reactor
    from twisted.logger import globalLogPublisher

    from fluxd.broker import build_broker
    raise_open_file_limit()
    try:
        broker = build_broker(reactor, options["config"], options["attrs"],
                              initial_program=options["initial-program"],
                              install_signal=signal.signal,
                              log_publisher=globalLogPublisher,
                              stderr=sys.__stderr__)
    except FluxError as exc:
        raise SystemExit(f"fluxd: {exc}") from None
    atexit.register(exit_with_code, broker)
    return broker


def exit_with_code(broker, exit=os._exit, streams=None):
    """At interpreter exit: leave with the broker's exit code.

    twistd itself always exits 0 (or re-raises a stopping signal); the
    broker's code (rc2's status, ``broker.exit-norestart`` after ``flux
    shutdown``, an rc1 failure) must still reach systemd or the caller.
    Runs last, after twistd has stopped logging, so only stdio needs a
    flush before ``_exit``.
    """
    code = broker.exit_code
    if not code:
        return
    for stream in streams if streams is not None else (sys.stdout, sys.stderr,
                                                       sys.__stdout__,
                                                       sys.__stderr__):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    exit(code)


_log = Logger()


def raise_open_file_limit(getrlimit=resource.getrlimit,
                          setrlimit=resource.setrlimit):
    """Raise the soft open-file limit to the hard limit, as flux does.

    A broker holds a descriptor per child, per local client and per
    connection that has not said hello yet; the common soft limit of
    1,024 is too low for a large instance while the hard limit allows
    more.  A limit that cannot be raised is logged and kept.

    :returns: the soft limit now in force.
    """
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError) as exc:
        _log.warn("cannot raise the open file limit from {soft} to {hard}:"
                  " {err}", soft=soft, hard=hard, err=exc)
        return soft
    _log.info("open file limit raised from {soft} to {hard}", soft=soft,
              hard=hard)
    return hard
