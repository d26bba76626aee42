# -*- test-case-name: tests.integration.test_broker_local -*-
"""The composition root: :func:`build_broker` wires one broker's services.

Nothing else in fluxd constructs services; each gets its collaborators
(and the reactor or clock) from here, typed by the interfaces of
:mod:`fluxd.interfaces`, so tests can build a broker from fakes the same
way.  The broker is one declared list of modules, in start order
(:class:`fluxd.module.ModuleSet`); the few links that go both ways (the
overlay is the router's upstream and the events' forwarder, and drives
the lifecycle's waits) are made here, once, through list-valued hooks.
Every attribute is set before any service starts.
"""

import os
import shutil
import signal
import socket
import tempfile
import time
import uuid

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger, LogLevel

from fluxd import __version__
from fluxd._attr_table import (  # parse_setattr, SETTABLE re-exported
    ATTRIBUTES, SETTABLE, parse_setattr)
from fluxd.admin.reconfigure import TbonTimings
from fluxd.admin.setup import build_admin, check_directory, watch_overlay
from fluxd.attributes import Attributes, AttrService
from fluxd.builtins import BrokerModule, ModuleService
from fluxd.config import config_notes, unknown_tables
from fluxd.client.uri import local_uri_path  # re-exported: the one parser
from fluxd.errors import InvalidArgument
from fluxd.events import EventService
from fluxd.exec.service import ExecService
from fluxd.job.rexec import RexecService
from fluxd.formats.hostlist import Hostlist
from fluxd.job.info import JobInfoService
from fluxd.job.list import JobListService
from fluxd.job.setup import build_job_modules
from fluxd.kvs.wiring import build_kvs_modules
from fluxd.local.connection import Policy
from fluxd.local.limits import connector_limits
from fluxd.local.service import LocalConnectorService
from fluxd.message.router import Router
from fluxd.module import ModuleSet
from fluxd.overlay import setup as overlay_setup
from fluxd.overlay.groups import GroupsService
from fluxd.resource.service import build_resource
from fluxd.sched.service import FeasibilityService, SchedulerService

LOG_DEFAULTS = {
    "log-ring-size": "1024", "log-forward-level": "3",
    "log-critical-level": "2", "log-stderr-level": "3",
    "log-stderr-mode": "leader", "log-level": "7",
    "log-syslog-enable": "0", "log-syslog-level": "2",
}


def attribute_notes(setattrs):
    """One ``(level, text)`` line per given attribute fluxd does not act on.

    ``warned`` attributes get a warning saying why they have no effect,
    ``later`` ones an info line naming the service that will read them.
    """
    notes = []
    for name in setattrs:
        spec = ATTRIBUTES[name]
        if spec.status == "warned":
            notes.append(("warn", f"{name}: has no effect in fluxd"
                                  f" ({spec.why})"))
        elif spec.status.startswith("later:"):
            what = spec.status.split(":", 1)[1].strip()
            notes.append(("info", f"{name}: not used until fluxd has {what}"))
    return notes


def quorum_size(value, size):
    """The number of brokers ``broker.quorum`` asks for.

    Takes flux-core's deprecated forms too: ``0`` means 1 and ``0-N`` all
    N+1 brokers (N must be size-1).

    :raises fluxd.errors.InvalidArgument: when it is not within 1..size.
    """
    if value is None:
        return size
    text = value.strip()
    if text == "0":
        return 1
    if text.startswith("0-"):
        count = int(text[2:]) + 1
        if count != size:
            raise InvalidArgument(f"broker.quorum: {value} is not the idset"
                                  f" of all {size} ranks")
        return size
    count = int(text, 0)
    if count > size:
        raise InvalidArgument(f"broker.quorum: {count} is more than the"
                              f" instance size {size}")
    return count


class BrokerService(service.MultiService):
    """One broker: its modules, driven through the broker states.

    ``MultiService`` starts children without waiting for one another; a
    broker needs the order, so its modules are a :class:`ModuleSet` that
    the :class:`fluxd.lifecycle.Lifecycle` starts in LOAD-BUILTINS and
    stops in UNLOAD-BUILTINS.  On EXIT the run directories are removed and
    the reactor stopped (unless twistd is already stopping it).  The log
    ring, when given, is started before the first state and stopped after
    the last, so that every transition is in it.

    :param notes: ``(level, text)`` lines logged once the log ring runs:
        settings fluxd accepts without acting on them, unknown tables.
    :ivar started: fires when the broker reaches RUN (never when it stops
        before; :meth:`fluxd.lifecycle.Lifecycle.when_state` fails then).
    """

    log = Logger()

    def __init__(self, reactor, attributes, router, modules, lifecycle,
                 cleanup=(), logring=None, notes=()):
        super().__init__()
        self.reactor = reactor
        self.attributes = attributes
        self.router = router
        self.modules = modules
        self.lifecycle = lifecycle
        self._cleanup = list(cleanup)
        self.logring = logring
        self.notes = list(notes)
        self.lifecycle.add_listener(self._state_changed)
        self.started = None
        self._exit_waiters = []
        self._exited_code = None
        self._stopping = False

    @property
    def exit_code(self):
        """The exit code the broker process should end with."""
        return self.lifecycle.exit_code

    def startService(self):
        # twistd calls this before reactor.run(): start the modules once the
        # reactor runs, so signal handlers are in place when we say "ready".
        service.Service.startService(self)
        self.started = defer.Deferred()
        if self.logring is not None:
            self.logring.startService()
            self.router.add_module(self.logring)
        for level, text in self.notes:
            self.log.emit(LogLevel.warn if level == "warn" else LogLevel.info,
                          "{text}", text=text)
        self.reactor.callWhenRunning(self.lifecycle.start)

    def _state_changed(self, lifecycle, state, event):
        if state == "run" and self.started is not None and not self.started.called:
            self.log.info("broker ready: rank {rank} size {size}",
                          rank=self.attributes.get("rank"),
                          size=self.attributes.get("size"))
            self.started.callback(None)
        elif state == "exit":
            self._exited(lifecycle.exit_code)

    def _exited(self, exit_code):
        if self.logring is not None and self.logring.running:
            self.logring.stopService()
            self.router.remove_module(self.logring.name)
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)
        self._exited_code = exit_code
        waiters, self._exit_waiters = self._exit_waiters, []
        for d in waiters:
            d.callback(exit_code)
        if not self._stopping and self.reactor.running:
            self.reactor.stop()

    def when_exited(self):
        """A new Deferred firing with the exit code once EXIT is reached."""
        if self._exited_code is not None:
            return defer.succeed(self._exited_code)
        d = defer.Deferred()
        self._exit_waiters.append(d)
        return d

    def stopService(self):
        """Stop through the states (as on SIGTERM); the Deferred fires at
        EXIT."""
        service.Service.stopService(self)
        self._stopping = True
        if self._exited_code is not None:
            return defer.succeed(None)
        if self.lifecycle.state == "none":
            # never started (the reactor did not run): nothing to unwind
            self._exited(self.lifecycle.exit_code)
            return defer.succeed(None)
        d = self.when_exited()
        self.lifecycle.kill(signal.SIGTERM)
        return d.addCallback(lambda _: None)


def _join_lifecycle(lifecycle, overlay, rank):
    """Let the overlay drive the lifecycle's waits (spec/broker.md 2).

    A follower leaves JOIN once its parent accepted it; rank 0 leaves
    QUORUM once ``broker.quorum`` brokers are online; every broker leaves
    SHUTDOWN once its children are gone, and tells them to shut down when
    it gets there.  (A parent's shutdown or an administrative disconnect
    stops the broker the way a signal does:
    :func:`fluxd.admin.setup.watch_overlay`.)
    """
    if rank > 0:
        lifecycle.add_gate("join", lambda: overlay.parent_ready().addCallback(
            lambda _: True))
    else:
        lifecycle.add_gate("quorum", overlay.quorum_reached)
    lifecycle.add_gate("shutdown", overlay.children_gone)

    def changed(_lifecycle, state, _event):
        if state == "shutdown":
            overlay.shutdown_children()
    lifecycle.add_listener(changed)


def build_broker(reactor, config, setattrs=None, owner=None, environ=None,
                 initial_program=None, install_signal=None, log_publisher=None,
                 stderr=None, bootstrap=None):
    """Build one broker from its configuration.

    :param reactor: provides IReactorTime, IReactorUNIX, IReactorProcess.
    :param config: a :class:`fluxd.config.Config`.
    :param setattrs: ``{name: value}`` from ``-S`` options.
    :param owner: the instance owner's uid (default: this process's).
    :param initial_program: the rc2 command (argv list) or None.
    :param install_signal: ``signal.signal`` to reload the config on
        SIGHUP (None: no handler, for in-process tests).
    :param log_publisher: the ``twisted.logger`` publisher the log ring
        observes (production: ``globalLogPublisher``; None: no ring input).
    :param stderr: stream for ``log-stderr-level`` output (None: none).
    :param bootstrap: a ``[bootstrap]`` table used in place of the
        config's (``flux start --test-size``), or None.
    :returns: a :class:`BrokerService`, not yet started.
    :raises fluxd.errors.InvalidArgument: for unusable attribute values;
        the directories made for the broker are removed first.
    """
    cleanup, made = [], []
    try:
        return _build(reactor, config, dict(setattrs or {}), owner, environ,
                      initial_program, install_signal, log_publisher, stderr,
                      bootstrap, cleanup, made)
    except BaseException:
        for path in cleanup + made:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _boot_config(config, setattrs, bootstrap):
    """The config the layout is planned from (``broker.boot-method``)."""
    boot = config
    if bootstrap is not None:
        boot = config.without("bootstrap").with_value(
            "bootstrap", bootstrap, source="--bootstrap")
    method = setattrs.get("broker.boot-method")
    if method == "single":
        boot = boot.without("bootstrap")
    elif method == "config" and not boot.is_set("bootstrap"):
        raise InvalidArgument("broker.boot-method=config: the configuration"
                              " has no [bootstrap] table")
    elif method not in (None, "config"):
        raise InvalidArgument(f"broker.boot-method={method}: fluxd boots from"
                              " [bootstrap] (config) or alone (single), never"
                              " through PMI")
    return boot


def _build(reactor, config, setattrs, owner, environ, initial_program,
           install_signal, log_publisher, stderr, bootstrap, cleanup, made):
    environ = os.environ if environ is None else environ
    owner = os.getuid() if owner is None else owner
    hostname = setattrs.get("hostname") or socket.gethostname()
    boot = _boot_config(config, setattrs, bootstrap)
    layout = overlay_setup.plan(boot, hostname, setattrs)
    rank, size = layout.rank, layout.size
    setattrs["broker.quorum"] = str(quorum_size(setattrs.get("broker.quorum"),
                                                size))
    attrs, local_uri = _attributes(config, setattrs, layout, owner, hostname,
                                   cleanup, made)

    router = Router(rank=rank, clock=reactor, owner=owner)
    events = EventService(rank, router)
    modules = ModuleSet(router)
    children = layout.topology.children(rank)
    admin = build_admin(
        reactor, config, attrs, modules, rank=rank, size=size, owner=owner,
        environ=environ, local_uri=local_uri, hostname=hostname,
        cleanup=cleanup, initial_program=initial_program,
        install_signal=install_signal, log_publisher=log_publisher,
        stderr=stderr, router=router, events=events, children=children)
    overlay = None
    if size > 1:
        overlay = overlay_setup.build_overlay(
            reactor, layout, boot, setattrs, router, events, __version__)
        router.attach_upstream(overlay)
        events.add_forwarder(overlay.send_event_down)
        _join_lifecycle(admin.lifecycle, overlay, rank)
        watch_overlay(admin, overlay, rank=rank, size=size, children=children,
                      hostnames=layout.hosts)
        admin.config.follow(TbonTimings(overlay, setattrs))
    lifecycle = admin.lifecycle
    kvs_modules = build_kvs_modules(reactor, rank, router, events, attrs,
                                    config, owner,
                                    statedir=setattrs.get("statedir"))
    jobs = []
    if rank == 0:
        kvs = next(m for m in kvs_modules if m.name == "kvs")
        jobs = build_job_modules(
            reactor, router, kvs, events, config, safe_mode=admin.safe_mode,
            expiration=lambda: (sched.policy.expiration
                                if sched.policy is not None else 0.0))
        manager = jobs[0]
        # one ordered stream of KVS writes for the job manager, the
        # scheduler and exec: R and the exec eventlog need not be
        # durable before the job manager hears of them
        # Fluxion's mode: every pending job is the scheduler's to plan
        execsvc = ExecService(reactor, router, kvs, events, config,
                              writer=manager.batcher, hostname=hostname,
                              local_uri=local_uri, attrs=attrs,
                              rundir=attrs.get("rundir"),
                              instance_stopping=lambda: lifecycle
                              .shutdown_requested)
        # a job's J goes from its submission to its start in memory; the
        # jobs next in line have it read before they start otherwise
        manager.known_J = execsvc.read_ahead
        sched = SchedulerService(reactor, router, kvs, limit=None,
                                 writer=manager.batcher, config=config,
                                 expect=execsvc.read_ahead)
        jobs += [sched, FeasibilityService(sched), execsvc]

        def instance_stops(_lifecycle, state, _event):
            # the followers' job shells outlive their brokers: end them
            # before the followers are told to shut down
            if state == "cleanup" and lifecycle.shutdown_requested:
                execsvc.end_all()
        lifecycle.add_listener(instance_stops)
        # job-info and job-list read the job manager's table
        jobs += [JobInfoService(router, manager), JobListService(
            manager, private_mode=bool(config.get("access.private-mode",
                                                  False)))]
    else:
        # every other rank runs the shells of its part of each job
        # (their shells outlive this broker: it stops when its parent
        # does, and rank 0 ends the jobs of a whole-instance shutdown)
        jobs = [ExecService(reactor, router, None, events, config, rank=rank,
                            hostname=hostname, local_uri=local_uri,
                            attrs=attrs, rundir=attrs.get("rundir"),
                            instance_stopping=lambda: False)]
    # every rank runs the commands of prologs, epilogs and housekeeping
    jobs.append(RexecService(reactor, rank, local_uri=local_uri,
                             hostname=hostname))
    policy = Policy(owner,
                    allow_guest_user=bool(config.get("access.allow-guest-user", False)),
                    allow_root_owner=bool(config.get("access.allow-root-owner", False)))
    admin.config.follow(policy)
    modules.declare([
        # the overlay first: it must carry requests once clients can
        # connect, and it stops last
        overlay,
        AttrService(attrs, rank),
        BrokerModule(attrs, rank),
        ModuleService(router, reactor, rank),
        events,
        GroupsService(rank, overlay, router),
        # content, kvs, kvs-watch: ready before anything stores state
        *kvs_modules,
        # resources: after the KVS that keeps drains
        build_resource(reactor, boot, attrs, router, overlay),
        # rank 0's job services: after the resources they schedule
        *jobs,
        # admin services answer before clients can connect
        *admin.modules,
        LocalConnectorService(reactor, local_uri_path(local_uri), router,
                              policy, rank, limits=connector_limits(attrs)),
        # the manhole last
        *admin.late_modules,
    ])
    notes = attribute_notes(setattrs)
    notes += [("warn", line) for line in unknown_tables(config)]
    notes += config_notes(config)
    broker = BrokerService(reactor, attrs, router, modules, admin.lifecycle,
                           cleanup, logring=admin.logring, notes=notes)
    broker.environ = environ
    broker.admin = admin
    admin.namespace.update(
        broker=broker, lifecycle=admin.lifecycle, router=router,
        attributes=attrs, config=admin.config, reactor=reactor,
        modules=modules.by_name())
    return broker


def _attributes(config, setattrs, layout, owner, hostname, cleanup, made):
    """The attribute table of a new broker, and its ``local-uri``.

    Creates the rundir (appending it to ``cleanup`` when it is to be
    removed at exit, to ``made`` when it did not exist).
    """
    rank, size = layout.rank, layout.size
    rundir = setattrs.get("rundir")
    if rundir:
        created = not os.path.lexists(rundir)
        try:
            os.makedirs(rundir, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise InvalidArgument(f"rundir {rundir}: {exc.strerror}") from None
        if created:
            made.append(rundir)
        if setattrs.get("rundir-cleanup") == "1":
            cleanup.append(rundir)
        check_directory(rundir, "rundir")
    else:
        rundir = tempfile.mkdtemp(prefix="fluxd-rundir-")
        os.chmod(rundir, 0o755)
        if setattrs.get("rundir-cleanup") != "0":
            cleanup.append(rundir)
    local_uri = setattrs.get("local-uri") or f"local://{rundir}/local-{rank}"
    local_uri_path(local_uri)
    attrs = Attributes()
    values = dict(LOG_DEFAULTS)
    values.update(setattrs)
    values.update({
        "rank": rank, "size": size, "version": __version__,
        "security.owner": owner,
        "instance-level": int(setattrs.get("instance-level") or 0),
        "jobid": setattrs.get("jobid") or "-",
        "broker.pid": os.getpid(), "broker.starttime": f"{time.time():.6f}",
        "broker.uuid": str(uuid.uuid4()),
        "tbon.topo": layout.topology.uri,
        "tbon.level": layout.topology.level(rank),
        "tbon.maxlevel": layout.topology.maxlevel,
        "tbon.descendants": layout.topology.descendants(rank),
        "content.hash": setattrs.get("content.hash", "sha1"),
        "rundir": rundir, "local-uri": local_uri, "hostname": hostname,
        "hostlist": setattrs.get("hostlist", Hostlist(layout.hosts).encode()),
        "broker.quorum": setattrs.get("broker.quorum", str(size)),
    })
    if config.path:
        values["config.path"] = config.path
    for name, value in values.items():
        attrs.set_initial(name, value)
    return attrs, local_uri
