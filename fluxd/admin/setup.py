# -*- test-case-name: tests.unit.admin.test_setup -*-
"""Wiring of the lifecycle and admin services, for :mod:`fluxd.broker`.

:func:`build_admin` is called by the composition root
(:func:`fluxd.broker.build_broker`) and returns the parts it adds to the
broker: the :class:`fluxd.lifecycle.Lifecycle`, the log ring (started
before everything else) and the admin modules.

Paths chosen here (see the README):

- ``statedir``: the ``-Sstatedir`` directory (created 0700 if missing),
  else a temporary directory removed at exit (``statedir-cleanup=0``
  keeps it).  The startlog lives there.
- scripts run with ``FLUX_URI`` set and the ``flux`` command's directory
  first on ``PATH``.
- ``broker.rc1_path`` / ``broker.rc3_path``: when not set, ``rc1.d`` /
  ``rc3.d`` beside the configuration (inside the ``--config-path``
  directory, or next to a config file); with no config path there are
  none.  A path that does not exist means no scripts (``rc1-none``).
"""

import os
import shutil
import signal
import stat
import sys
import tempfile

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.admin.config_service import ConfigService
from fluxd.admin.heartbeat import HeartbeatService
from fluxd.admin.runat import Runat
from fluxd.admin.sdnotify import SdNotifier
from fluxd.admin.services import (
    AdminService, RunatService, ShutdownService, StartlogKeeper,
    StateMachineService)
from fluxd.admin.startlog import SafeMode
from fluxd.admin.watchdog import SlowBrokerWarnings
from fluxd.errors import InvalidArgument
from fluxd.formats.fsd import FSDError, format_fsd, parse_fsd
from fluxd.lifecycle import Lifecycle
from fluxd.logring.service import LogRingService

log = Logger(namespace="fluxd.broker")


class AdminParts:
    """What :func:`build_admin` made.

    :ivar lifecycle: the broker's Lifecycle.
    :ivar logring: the LogRingService (start it first, stop it last).
    :ivar modules: admin modules to start before the local connector.
    :ivar late_modules: modules to start after it (the manhole).
    :ivar namespace: the manhole's namespace (filled in by the caller).
    """

    def __init__(self):
        self.lifecycle = None
        self.logring = None
        self.modules = []
        self.late_modules = []
        self.namespace = {}
        self.safe_mode = None
        self.startlog = None
        self.config = None
        self.sd_notify = None
        self.runat = None
        self.statedir = None
        self.heartbeat = None
        self.clock = None
        self.parent_lost = None
        self.quorum_warn = None
        self.shutdown_warn = None


def default_rc_path(config_path, phase):
    """``rc1.d``/``rc3.d`` beside the config, or None without one."""
    if not config_path:
        return None
    base = config_path if os.path.isdir(config_path) \
        else os.path.dirname(os.path.abspath(config_path))
    return os.path.join(base, f"{phase}.d")


def check_directory(path, what, owner=None):
    """Make sure ``path`` is a directory this broker can create files in.

    :param what: the attribute naming it (for the message).
    :param owner: the uid that must own it, or None.
    :raises fluxd.errors.InvalidArgument: naming the attribute, the path
        and the reason, in one line.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InvalidArgument(f"{what} {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"{what} {path}: Not a directory")
    if owner is not None and st.st_uid != owner:
        raise InvalidArgument(f"{what} {path}: owned by uid {st.st_uid}, not"
                              f" by the instance owner (uid {owner})")
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".fluxd-probe-")
    except OSError as exc:
        raise InvalidArgument(f"{what} {path}: cannot create a file there"
                              f" ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def resolve_statedir(attrs, cleanup, owner=None):
    """Create or pick the statedir; set the ``statedir`` attribute.

    A given statedir is created (mode 0700) when missing; an existing one
    must be a directory of the instance owner where files can be created.

    :returns: the path.
    :raises fluxd.errors.InvalidArgument: when it cannot be used.
    """
    statedir = attrs.get_default("statedir")
    if statedir:
        created = not os.path.lexists(statedir)
        try:
            os.makedirs(statedir, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise InvalidArgument(f"statedir {statedir}: {exc.strerror}") from None
        try:
            check_directory(statedir, "statedir", owner)
        except InvalidArgument:
            if created:
                shutil.rmtree(statedir, ignore_errors=True)
            raise
        if attrs.get_default("statedir-cleanup") == "1":
            cleanup.append(statedir)
    else:
        statedir = tempfile.mkdtemp(prefix="fluxd-statedir-")
        if attrs.get_default("statedir-cleanup") != "0":
            cleanup.append(statedir)
        attrs.set_initial("statedir", statedir)
    return statedir


def script_environ(environ, bindir=None):
    """The environment of rc scripts and the initial program: the broker's,
    without ``NOTIFY_SOCKET``, with the directory of this installation's
    ``flux`` command first on PATH (scripts call ``flux``; under a
    virtualenv it is not on the system PATH)."""
    env = dict(environ)
    # systemd's notification socket is the broker's, not its children's
    env.pop("NOTIFY_SOCKET", None)
    bindir = bindir or os.path.dirname(sys.executable)
    if os.path.exists(os.path.join(bindir, "flux")):
        parts = [p for p in env.get("PATH", os.defpath).split(os.pathsep)
                 if p and p != bindir]
        env["PATH"] = os.pathsep.join([bindir, *parts])
    return env


def _seconds(attrs, name, default=None):
    """An FSD-or-``none`` attribute in seconds (None: none), recording its
    value as flux-core does (``1m``, ``none``)."""
    value = attrs.get_default(name)
    if value is None or value == "":
        seconds = default
    elif value == "none":
        seconds = None
    else:
        try:
            seconds = parse_fsd(value)
        except FSDError:
            raise InvalidArgument(f"{name}: invalid duration '{value}'") \
                from None
    attrs.set_initial(name, "none" if seconds is None else format_fsd(seconds))
    return seconds


def _int_attr(attrs, name, default=0):
    value = attrs.get_default(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"{name}: expected an integer, got '{value}'") \
            from None


def build_admin(reactor, config, attrs, modules, *, rank, size, owner,
                environ, local_uri, hostname, cleanup, initial_program=None,
                install_signal=None, log_publisher=None, stderr=None,
                safe_mode=None, router=None, events=None, children=()):
    """Make the lifecycle and the admin services of one broker.

    :param modules: the broker's :class:`fluxd.interfaces.IBuiltins`
        module set: the lifecycle starts and stops it, the config service
        follows it for reloads.
    :param cleanup: list of directories removed at exit (appended to).
    :param initial_program: rc2 argv (rank 0), or None.
    :param install_signal: ``signal.signal`` for the SIGHUP reload, or None.
    :param log_publisher: the ``twisted.logger`` publisher to observe.
    :param stderr: the stream for stderr log output.
    :param safe_mode: the :class:`fluxd.admin.startlog.SafeMode` to use
        (services built before this call, e.g. the job manager, may create
        it first and share it); default: a new one.
    :param router: the broker's router (followers forward log records and
        sync the config through it); None for unit tests of one broker.
    :param events: the broker's :class:`fluxd.interfaces.IEvents` (the
        heartbeat); None: no heartbeat service.
    :param children: this broker's TBON children (config updates).
    :returns: an :class:`AdminParts`.
    :raises fluxd.errors.InvalidArgument: for unusable attribute values.
    """
    parts = AdminParts()
    parts.clock = reactor
    parts.statedir = resolve_statedir(attrs, cleanup, owner)
    attrs.set_initial("broker.safe-mode", "0")
    forward = None
    if rank > 0 and router is not None:
        def forward(record):
            # errors dropped on purpose: logging them would come back here
            router.call("log.append", {"buf": record}, nodeid=0,
                        cred=router.instance_cred).addErrback(lambda f: None)
    parts.logring = LogRingService(reactor, attrs, rank, publisher=log_publisher,
                                   stderr=stderr, procid=os.getpid(),
                                   forward=forward)
    runat = parts.runat = Runat(reactor, script_environ(environ), local_uri)
    parts.safe_mode = safe_mode if safe_mode is not None else SafeMode()
    keeper = None
    if rank == 0:
        keeper = parts.startlog = StartlogKeeper(reactor, parts.statedir,
                                                 parts.safe_mode, attrs)
        keeper.detect()
        runat.add_step("rc1", keeper.begin)
    for phase in ("rc1", "rc3"):
        name = f"broker.{phase}_path"
        path = attrs.get_default(name)
        if path is None:
            path = default_rc_path(config.path, phase)
            if path is not None:
                attrs.set_initial(name, path)
        runat.add_path(phase, path)
    if initial_program and rank == 0 and attrs.get_default("broker.rc2_none") is None:
        runat.add_program("rc2", list(initial_program), inherit_stdio=True)
    if keeper is not None:
        runat.add_step("rc3", keeper.finish)

    lifecycle = parts.lifecycle = Lifecycle(
        reactor, runat, rank=rank,
        exit_norestart=_int_attr(attrs, "broker.exit-norestart"),
        recovery_mode=attrs.get_default("broker.recovery-mode") is not None,
        builtins=modules,
        shutdown_timeout=_seconds(attrs, "broker.shutdown-timeout"),
        cleanup_timeout=_seconds(attrs, "broker.cleanup-timeout"),
        unload_timeout=_seconds(attrs, "broker.unload-builtins-timeout", 60.0))
    parts.quorum_warn = _seconds(attrs, "broker.quorum-warn", 60.0)
    parts.shutdown_warn = _seconds(attrs, "broker.shutdown-warn", 60.0)
    if size == 1:
        def lone_quorum():
            log.info("online: {host} (ranks 0)", host=hostname)
            return defer.succeed(None)
        lifecycle.add_gate("quorum", lone_quorum)
    parts.sd_notify = SdNotifier(
        environ, attrs.get_default("broker.sd-notify"), rank=rank, size=size,
        stop_timeout=_seconds(attrs, "broker.sd-stop-timeout"),
        parent_uri=lambda: attrs.get_default("tbon.parent-endpoint", "?"))
    lifecycle.add_listener(parts.sd_notify)

    def parent_lost():
        # a stop the broker did not choose: systemd should start it again
        code = attrs.get_default("broker.exit-restart")
        if code and not lifecycle.exit_code:
            lifecycle.exit_code = int(code, 0)
        lifecycle.kill(signal.SIGTERM)
    parts.parent_lost = parent_lost

    parts.config = ConfigService(config, modules, reactor, install_signal,
                                 rank=rank, router=router, children=children)
    if rank > 0 and router is not None:
        lifecycle.add_gate("config-sync", parts.config.sync_from_leader)
    parts.modules = [
        StateMachineService(lifecycle, rank),
        parts.config,
        ShutdownService(lifecycle, parts.logring, attrs, keeper, rank),
        AdminService(parts.safe_mode, keeper, rank),
        RunatService(runat, lifecycle, rank),
    ]
    if events is not None:
        parts.heartbeat = HeartbeatService(
            reactor, rank, events, router.instance_cred, config,
            on_timeout=parent_lost)
        parts.modules.insert(0, parts.heartbeat)
        lifecycle.add_listener(_follow_heartbeat(parts.heartbeat))
    manhole_path = attrs.get_default("broker.manhole")
    if manhole_path:
        from fluxd.admin.manhole import ManholeService
        parts.late_modules.append(
            ManholeService(reactor, manhole_path, owner, lambda: parts.namespace,
                           rank=rank))
    return parts


def _follow_heartbeat(heartbeat):
    """A follower watches the pulses from INIT (it has joined) until it
    starts to stop."""
    def changed(lifecycle, state, event):
        if state == "init":
            heartbeat.watch()
        elif state in ("cleanup", "shutdown"):
            heartbeat.unwatch()
    return changed


def watch_overlay(parts, overlay, *, rank, size, children, hostnames):
    """Wire the overlay into the admin parts of a multi-broker instance:
    the slow-broker warnings (``broker.quorum-warn``,
    ``broker.shutdown-warn``) and the stop when the parent is lost
    (``broker.exit-restart``).

    :param overlay: the broker's overlay (IOverlayStatus, and
        ``add_parent_lost``).
    """
    parts.lifecycle.add_listener(SlowBrokerWarnings(
        parts.clock, overlay, rank, size, children, hostnames,
        quorum_warn=parts.quorum_warn, shutdown_warn=parts.shutdown_warn))
    overlay.add_parent_lost(parts.parent_lost)
