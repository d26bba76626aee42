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
import sys
import tempfile

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.admin.config_service import ConfigService
from fluxd.admin.runat import Runat
from fluxd.admin.sdnotify import SdNotifier
from fluxd.admin.services import (
    AdminService, ShutdownService, StartlogKeeper, StateMachineService)
from fluxd.admin.startlog import SafeMode
from fluxd.errors import InvalidArgument
from fluxd.formats.fsd import FSDError, parse_fsd
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


def default_rc_path(config_path, phase):
    """``rc1.d``/``rc3.d`` beside the config, or None without one."""
    if not config_path:
        return None
    base = config_path if os.path.isdir(config_path) \
        else os.path.dirname(os.path.abspath(config_path))
    return os.path.join(base, f"{phase}.d")


def resolve_statedir(attrs, cleanup):
    """Create or pick the statedir; set the ``statedir`` attribute.

    :returns: the path.
    :raises fluxd.errors.InvalidArgument: when it cannot be created.
    """
    statedir = attrs.get_default("statedir")
    if statedir:
        try:
            os.makedirs(statedir, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise InvalidArgument(f"statedir {statedir}: {exc.strerror}") from None
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


def _seconds(attrs, name):
    value = attrs.get_default(name)
    if value is None or value in ("", "none"):
        return None
    try:
        return parse_fsd(value)
    except FSDError:
        raise InvalidArgument(f"{name}: invalid duration '{value}'") from None


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
                safe_mode=None):
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
    :returns: an :class:`AdminParts`.
    :raises fluxd.errors.InvalidArgument: for unusable attribute values.
    """
    parts = AdminParts()
    parts.statedir = resolve_statedir(attrs, cleanup)
    attrs.set_initial("broker.safe-mode", "0")
    parts.logring = LogRingService(reactor, attrs, rank, publisher=log_publisher,
                                   stderr=stderr, procid=os.getpid())
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
        builtins=modules)
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

    parts.config = ConfigService(config, modules, reactor, install_signal,
                                 rank=rank)
    parts.modules = [
        StateMachineService(lifecycle, rank),
        parts.config,
        ShutdownService(lifecycle, parts.logring, attrs, keeper, rank),
        AdminService(parts.safe_mode, keeper, rank),
    ]
    manhole_path = attrs.get_default("broker.manhole")
    if manhole_path:
        from fluxd.admin.manhole import ManholeService
        parts.late_modules.append(
            ManholeService(reactor, manhole_path, owner, lambda: parts.namespace,
                           rank=rank))
    return parts
