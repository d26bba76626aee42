# -*- test-case-name: tests.integration.test_broker_local -*-
"""``twistd fluxd``: command-line options and ``makeService``.

Options follow flux-broker(1): ``--config-path=DIR`` and repeated
``-Sname=value`` / ``--setattr=name=value``.  The configuration is read
and checked in :meth:`Options.postOptions`, so a bad file or key is
reported on the terminal before twistd daemonizes.
"""

import atexit
import os
import sys

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
    try:
        broker = build_broker(reactor, options["config"], options["attrs"],
                              initial_program=options["initial-program"],
                              install_signal=signal.signal,
                              log_publisher=globalLogPublisher,
                              stderr=broker_stderr(options))
    except FluxError as exc:
        raise SystemExit(f"fluxd: {exc}") from None
    atexit.register(exit_with_code, broker)
    return broker


def broker_stderr(options, stdout=None, stderr=None):
    """The stream for the broker's own stderr log lines (log-stderr-level).

    ``twistd -n`` without ``--logfile``, ``--logger`` or ``--syslog`` prints
    every log event on stdout itself.  When stderr is that same terminal,
    the broker's copy would show each line twice: then the broker writes
    none (twistd's lines carry everything).  With a log file or a custom
    observer (the systemd unit's ``--logger``), or stdout and stderr apart,
    stderr gets the broker's lines as flux-broker writes them.

    :param options: the parsed :class:`Options` (``options.parent`` is
        twistd's own, once twistd has parsed the command line).
    :returns: ``stderr`` (default: ``sys.__stderr__``), or None.
    """
    stdout = sys.__stdout__ if stdout is None else stdout
    stderr = sys.__stderr__ if stderr is None else stderr
    twistd = getattr(options, "parent", None)
    if twistd is None or not twistd.get("nodaemon") or twistd.get("logger") \
            or twistd.get("syslog") or twistd.get("logfile") not in (None, "", "-"):
        return stderr
    try:
        same = stderr.isatty() and os.path.samestat(
            os.fstat(stdout.fileno()), os.fstat(stderr.fileno()))
    except (OSError, ValueError, AttributeError):
        same = False
    return None if same else stderr


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
