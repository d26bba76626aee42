# -*- test-case-name: tests.integration.test_broker_local -*-
"""``twistd fluxd``: command-line options and ``makeService``.

Options follow flux-broker(1): ``--config-path=DIR`` and repeated
``-Sname=value`` / ``--setattr=name=value`` (or a bare ``-Sname``).  The
attributes and the configuration are read and checked in
:meth:`Options.postOptions`, so a bad file, key or value is reported on
the terminal before twistd daemonizes, in one line (``fluxd: WHAT: WHY``,
exit status 1) rather than after twistd's usage text.
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
         " file or a .json file (default: -Sconfig.path, $FLUX_CONF_DIR,"
         " else embedded defaults)"],
        ["bootstrap", None, None,
         "Take the [bootstrap] table from this TOML FILE instead of the"
         " configuration (flux start --test-size does, so that its brokers"
         " read the user's --config-path itself)"],
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
        try:
            self["attrs"] = attrs = parse_setattr(self["setattr"])
            given = attrs.get("config.path")
            if given and self["config-path"] and given != self["config-path"]:
                raise FluxError("config.path: conflicts with --config-path")
            path = self["config-path"] or given \
                or os.environ.get("FLUX_CONF_DIR")
            attrs.pop("config.path", None)
            self["config"] = load_config(path)
            self["bootstrap-table"] = None
            if self["bootstrap"]:
                self["bootstrap-table"] = _bootstrap_table(self["bootstrap"])
        except FluxError as exc:
            # one line, not twistd's usage text: nothing is wrong with the
            # options themselves
            raise SystemExit(f"fluxd: {exc}") from None


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
    from fluxd.util import heap
    raise_open_file_limit()
    try:
        broker = build_broker(reactor, options["config"], options["attrs"],
                              initial_program=options["initial-program"],
                              install_signal=signal.signal,
                              log_publisher=globalLogPublisher,
                              stderr=broker_stderr(options),
                              bootstrap=options.get("bootstrap-table"))
    except FluxError as exc:
        raise SystemExit(f"fluxd: {exc}") from None
    atexit.register(exit_with_code, broker)
    # what exists once the broker is built lives as long as it does
    reactor.callWhenRunning(heap.settle)
    return broker


def _bootstrap_table(path):
    """The ``[bootstrap]`` table of a ``--bootstrap`` file, checked."""
    from fluxd.config import config_from_object, read_config_tables
    data, _origins = read_config_tables(path)
    table = data.get("bootstrap")
    if not isinstance(table, dict):
        raise FluxError(f"{path}: no [bootstrap] table")
    config_from_object({"bootstrap": table}, source=path)
    return table


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
