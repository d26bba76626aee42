# -*- test-case-name: tests.integration.test_broker_local -*-
"""The composition root: :func:`build_broker` wires one broker's services.

Nothing else in fluxd constructs services; each gets its collaborators
(and the reactor or clock) from here, so tests can build a broker from
fakes the same way.
"""

import os
import shutil
import socket
import tempfile
import time
import uuid

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from fluxd import __version__
from fluxd.attributes import Attributes, AttrService
from fluxd.builtins import BrokerModule, ModuleService
from fluxd.errors import InvalidArgument
from fluxd.events import EventService
from fluxd.local.connection import Policy
from fluxd.local.service import LocalConnectorService
from fluxd.message.router import Router

#: attributes a user may set with -S at start (flux-broker-attributes(7))
SETTABLE = frozenset({
    "rundir", "rundir-cleanup", "statedir", "statedir-cleanup", "local-uri",
    "hostlist", "hostname", "broker.critical-ranks", "broker.boot-method",
    "broker.quorum", "broker.quorum-warn", "broker.shutdown-warn",
    "broker.shutdown-timeout", "broker.cleanup-timeout",
    "broker.unload-builtins-timeout", "broker.rc1_path", "broker.rc3_path",
    "broker.rc2_none", "broker.rc2_pgrp", "broker.exit-restart",
    "broker.exit-norestart", "broker.module-nopanic", "broker.sd-notify",
    "broker.sd-stop-timeout", "broker.recovery-mode", "conf.shell_initrc",
    "conf.shell_pluginpath", "config.path", "tbon.topo", "tbon.fanout",
    "tbon.prefertcp", "tbon.interface-hint", "tbon.torpid_min",
    "tbon.torpid_max", "tbon.tcp_user_timeout", "tbon.connect_timeout",
    "tbon.zmqdebug", "tbon.zmq_io_threads", "tbon.child_rcvhwm",
    "log-ring-size", "log-forward-level", "log-critical-level",
    "log-stderr-level", "log-stderr-mode", "log-level", "log-filename",
    "log-syslog-enable", "log-syslog-level", "content.backing-module",
    "content.dump", "content.restore", "content.hash", "cron.directory",
    "broker.manhole",
})

LOG_DEFAULTS = {
    "log-ring-size": "1024", "log-forward-level": "3",
    "log-critical-level": "2", "log-stderr-level": "3",
    "log-stderr-mode": "leader", "log-level": "7",
}


def parse_setattr(items):
    """Turn ``-S name=value`` strings into a dict, checking the names.

    :raises fluxd.errors.InvalidArgument: for a malformed item or an
        attribute that cannot be set at start.
    """
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidArgument(f"--setattr {item}: expected NAME=VALUE")
        if name not in SETTABLE:
            raise InvalidArgument(f"--setattr {name}: unknown attribute or not"
                                  " settable on the command line")
        result[name] = value
    return result


def local_uri_path(uri):
    """The socket path of a ``local://`` URI (InvalidArgument otherwise)."""
    if not uri.startswith("local://") or len(uri) <= len("local://"):
        raise InvalidArgument(f"local-uri {uri}: expected local:///PATH")
    return uri[len("local://"):]


class BrokerService(service.MultiService):
    """One broker: modules started in order, stopped in reverse.

    ``MultiService`` starts children without waiting for one another; a
    broker needs the order, so modules are kept in an explicit list.
    """

    log = Logger()

    def __init__(self, reactor, attributes, router, modules, cleanup=()):
        super().__init__()
        self.reactor = reactor
        self.attributes = attributes
        self.router = router
        self.modules = list(modules)
        self._cleanup = list(cleanup)
        self.started = None

    def startService(self):
        # twistd calls this before reactor.run(): start the modules once the
        # reactor runs, so signal handlers are in place when we say "ready".
        service.Service.startService(self)
        self.started = defer.Deferred()
        self.reactor.callWhenRunning(self._begin)

    def _begin(self):
        d = defer.Deferred.fromCoroutine(self._start())
        d.addErrback(self._start_failed)
        d.chainDeferred(self.started)

    async def _start(self):
        for module in self.modules:
            await defer.maybeDeferred(module.startService)
            self.router.add_module(module)
        self.log.info("broker ready: rank {rank} size {size}",
                      rank=self.attributes.get("rank"),
                      size=self.attributes.get("size"))

    def _start_failed(self, failure):
        self.log.failure("broker start-up failed", failure)
        if self.reactor.running:
            self.reactor.stop()
        return failure

    def stopService(self):
        service.Service.stopService(self)
        return defer.Deferred.fromCoroutine(self._stop())

    async def _stop(self):
        for module in reversed(self.modules):
            if module.running:
                try:
                    await defer.maybeDeferred(module.stopService)
                except Exception:
                    self.log.failure("stopping {name} failed", name=module.name)
            self.router.remove_module(module.name)
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)


def build_broker(reactor, config, setattrs=None, owner=None, environ=None):
    """Build one broker from its configuration.

    :param reactor: provides IReactorTime, IReactorUNIX.
    :param config: a :class:`fluxd.config.Config`.
    :param setattrs: ``{name: value}`` from ``-S`` options.
    :param owner: the instance owner's uid (default: this process's).
    :returns: a :class:`BrokerService`, not yet started.
    :raises fluxd.errors.InvalidArgument: for unusable attribute values.
    """
    setattrs = dict(setattrs or {})
    environ = os.environ if environ is None else environ
    owner = os.getuid() if owner is None else owner
    cleanup = []
    rank = 0
    rundir = setattrs.get("rundir")
    if rundir:
        os.makedirs(rundir, mode=0o700, exist_ok=True)
        if setattrs.get("rundir-cleanup") == "1":
            cleanup.append(rundir)
    else:
        rundir = tempfile.mkdtemp(prefix="fluxd-rundir-")
        os.chmod(rundir, 0o755)
        if setattrs.get("rundir-cleanup") != "0":
            cleanup.append(rundir)
    hostname = setattrs.get("hostname") or socket.gethostname()
    local_uri = setattrs.get("local-uri") or f"local://{rundir}/local-{rank}"
    path = local_uri_path(local_uri)
    attrs = Attributes()
    values = dict(LOG_DEFAULTS)
    values.update(setattrs)
    values.update({
        "rank": rank, "size": 1, "version": __version__,
        "security.owner": owner, "instance-level": 0, "jobid": "-",
        "broker.pid": os.getpid(), "broker.starttime": f"{time.time():.6f}",
        "broker.uuid": str(uuid.uuid4()), "tbon.level": 0,
        "tbon.maxlevel": 0, "tbon.descendants": 0,
        "content.hash": setattrs.get("content.hash", "sha1"),
        "rundir": rundir, "local-uri": local_uri, "hostname": hostname,
        "hostlist": setattrs.get("hostlist", hostname),
        "broker.quorum": setattrs.get("broker.quorum", "1"),
    })
    if config.path:
        values["config.path"] = config.path
    for name, value in values.items():
        attrs.set_initial(name, value)

    router = Router(rank=rank, clock=reactor)
    policy = Policy(owner,
                    allow_guest_user=bool(config.get("access.allow-guest-user", False)),
                    allow_root_owner=bool(config.get("access.allow-root-owner", False)))
    modules = [
        AttrService(attrs, rank),
        BrokerModule(attrs, rank),
        ModuleService(router, reactor, rank),
        EventService(rank, router),
        LocalConnectorService(reactor, path, router, policy, rank),
    ]
    broker = BrokerService(reactor, attrs, router, modules, cleanup)
    broker.environ = environ
    return broker
