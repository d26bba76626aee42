# -*- test-case-name: tests.unit.exec.test_testexec -*-
"""The ``job-exec`` service (RFC 32): job shells, and flux-core's test
execution.

It runs on every rank.  Each rank's service keeps a shell server
(:class:`~fluxd.exec._shells.ShellServerProcess`, started by the rank's
first job and kept: a 16-broker test instance that runs no job starts
no server) and answers ``job-exec.shell-launch`` (streaming: the events
of the job shell it forks for the job), ``job-exec.shell-attach {id}``
(the same stream again from a shell that outlived a broker restart),
``job-exec.shell-ack {id, seq, forget?}`` (rank 0 made those events
durable), ``job-exec.shell-kill {id, signum, shell?}``,
``job-exec.shell-input {id, data, eof}`` and
``job-exec.shell-order {id, order}`` (a PMI barrier's exchange, an
interactive pty's input); rank 0's also answers the job owner's
``job-exec.pty-attach``, ``pty-write`` and ``pty-resize``.  It also
sends the ``shell-<id>.kill {signum}`` events of ``flux job kill`` to its
shells.  Rank 0's service alone talks to the
job manager: a job with ``attributes.system.exec.test`` is simulated
(:class:`~fluxd.exec._job.TestJob`), any other is run by one shell per
rank of its R (:class:`~fluxd.exec._shelljob.ShellJob`).  The shells of
other users' jobs (a ``shell-launch`` with their J) are run through the
IMP of ``[exec] imp`` instead (:class:`~fluxd.exec._imp.ImpShells`).

On rank 0, once registered it says hello to the job manager
(``job-manager.exec-hello {service: "job-exec"}``), which then sends one
streaming ``job-exec.start {id, userid, jobspec, R, reattach}`` per job
entering RUN.  Jobs are simulated as flux-core's ``testexec`` does
(settings in :mod:`fluxd.exec.testconf`).  The life of one job:

- the job's guest namespace ``job-<id>`` (decimal id) is created, owned
  by the job's user, and ``job.<id>.guest`` in ``primary`` becomes a
  symlink to its root (:class:`~fluxd.exec._guest.GuestNamespaces`);
  the exec eventlog, the output and the input are written there, so the
  job's user may read them with ``flux kvs -N job-<id>``;
- exec eventlog ``init`` (``reattach`` on reattach), written to
  ``exec.eventlog`` of the guest namespace and awaited;
- the settings are read (a guest's test job needs ``[exec.testexec]
  allow-guests``); ``mock_exception=init`` fails here;
- ``starting`` (``re-starting``), then the ``start`` response (or
  ``reattached``) and the run timer; ``mock_exception=run`` fails now;
  in ``override`` mode ``job-exec.override`` starts and finishes it;
- the time limit is R's expiration, moved by the delay between the
  allocation and the start when that delay exceeds
  ``exec.max-start-delay-percent`` of the limit: past it, a ``timeout``
  exception ``resource allocation expired`` and the job is killed with
  SIGALRM;
- a fatal exception (``job-exception`` event of the job manager, acted
  on at the next reactor turn, or one raised here) kills it with
  ``exec.term-signal`` (SIGTERM);
- ``complete {status}`` and the ``finish`` response; the guest
  namespace's final root is copied into ``job.<id>.guest`` (a ``dirref``
  to the same blobs) and the namespace removed, then ``done`` (awaited)
  and the final ``release``, which ends the stream.

Every write of a job, its namespace's creation and removal included,
goes through the batcher, in order, many jobs per commit (one
multi-namespace batch, one durable write).  Namespaces survive a broker
restart: a reattached job writes on into its own; the namespaces of jobs
that finished while the broker was down are folded back at start
(:meth:`~fluxd.exec._guest.GuestNamespaces.recover`).

Killing a test job "ends" it with the signal as wait status, as
testexec's kill does.  Every eventlog write goes through one
:class:`~fluxd.job.kvsbatch.KVSBatcher` (many jobs per commit) and every
timer through one :class:`~fluxd.exec._deadlines.Deadlines`; a job's
record is dropped at its release.  What waits for ``init`` and ``done``
waits until they are durable, or, when the service shares the job
manager's batcher (as in the broker), not at all: that batcher commits
in order, each commit atomic, so whatever the job manager writes on
hearing of them (``start``, ``release``) is never durable before them.
"""

import os
import signal
import socket

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import (
    FluxError, InvalidArgument, NotFound, PermissionDenied, ProtocolError)
from fluxd.exec._deadlines import Deadlines
from fluxd.exec._imp import ImpShells
from fluxd.exec._guest import GuestNamespaces
from fluxd.exec._job import GUESTS_REFUSED, TestJob
from fluxd.exec._readahead import JReadAhead
from fluxd.exec._shelljob import IMP_NEEDED, ShellJob, _idset
from fluxd.exec._shells import ShellServerProcess
from fluxd.exec.testconf import ExecTestError, read_conf
from fluxd.formats import eventlog
from fluxd.formats.fsd import parse_fsd
from fluxd.interfaces import IEvents, IKVS, IReconfigurable, IRouter, provide
from fluxd.job.kvsbatch import KVSBatcher
from fluxd.storage import treeobj as T
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module

__all__ = ["ExecService", "IMP_NEEDED", "GUESTS_REFUSED"]


def _signum(name):
    if name.isdigit():
        return int(name)
    return int(signal.Signals[name if name.startswith("SIG")
                              else "SIG" + name])


#: shell events that rank 0 does not use: not sent (``exit`` is told
#: again, as a wait status, by ``shell-exit``)
_LOCAL_EVENTS = frozenset(("spawned", "exit"))
#: the event of rank 0's exec service when the whole instance stops
#: (``flux shutdown``): each rank ends its shells when it stops
INSTANCE_STOPS = "shell-instance.stop"
#: the orders rank 0 may send to a rank's shell (job-exec.shell-order)
_SHELL_ORDERS = frozenset(("barrier", "pmi", "pty-input", "pty-resize"))


def _seconds(value, default):
    if value is None or value == "none":
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return parse_fsd(str(value))


@implementer(IReconfigurable)
class ExecService(Module):
    """The ``job-exec`` service of one rank.

    :param reactor: IReactorTime (timers, eventlog timestamps).
    :param router: the broker router (job manager, KVS).
    :param kvs: the broker's :class:`~fluxd.interfaces.IKVS`.
    :param events: the broker's :class:`~fluxd.interfaces.IEvents`
        (``job-exception``).
    :param config: the broker's :class:`fluxd.config.Config`
        (``exec.term-signal``, ``exec.max-start-delay-percent``,
        ``exec.testexec.allow-guests``).
    :param writer: the job manager's
        :class:`~fluxd.job.kvsbatch.KVSBatcher` to write the exec eventlogs
        through, or None for a batcher of its own (rank 0).
    :param rank: this broker's rank: rank 0 runs jobs, every rank shells.
    :param shells: the :class:`~fluxd.exec._shells.ShellServerProcess`
        of this broker (None: one is made, started by the first job).
    :param hostname: this broker's host name (shell messages).
    :param local_uri: this broker's local URI (``FLUX_URI`` of the tasks).
    :param attrs: the broker's :class:`~fluxd.interfaces.IAttributes`
        (``conf.shell_pluginpath``, ``conf.shell_initrc`` for the shells),
        or None.
    :param rundir: this broker's rundir (the shell server's socket).
    :param instance_stopping: callable, true when the broker stops with
        the whole instance (``flux shutdown``): the shells are ended then;
        otherwise (one broker stopped or restarted) they go on, and the
        broker takes them up again when it returns.
    """

    name = "job-exec"
    log = Logger()

    def __init__(self, reactor, router, kvs, events, config, writer=None,
                 rank=0, shells=None, hostname=None, local_uri=None,
                 attrs=None, rundir=None, instance_stopping=None):
        super().__init__(rank)
        self.reactor = reactor
        self.router = provide(IRouter, router)
        self.kvs = provide(IKVS, kvs) if rank == 0 else kvs
        self.events = provide(IEvents, events)
        self.owner = router.instance_cred.userid
        self.jobs = {}
        # the J of the jobs next in line (the scheduler's expect hook)
        self.read_ahead = JReadAhead(kvs, router.instance_cred, self.jobs,
                                     self.stats) \
            if rank == 0 and kvs is not None else None
        self._shared = writer is not None
        self.writer = writer if self._shared or rank != 0 else KVSBatcher(
            reactor, kvs, router.instance_cred, on_durable=self._durable)
        self.guests = GuestNamespaces(reactor, kvs, self.writer,
                                      router.instance_cred)
        self.deadlines = Deadlines(reactor, self._deadline)
        self.rundir = rundir
        self.shells = shells if shells is not None \
            else ShellServerProcess(reactor, rundir=rundir, rank=rank)
        self.instance_stopping = instance_stopping or (lambda: True)
        self.hostname = hostname or socket.gethostname()
        self.local_uri = local_uri
        self.attrs = attrs
        self.local = set()
        # rank 0 said the whole instance stops (INSTANCE_STOPS)
        self.instance_ends = False
        self._sub = None
        self._kill_sub = None
        self._hello = None
        self.reconfigure(config)
        self.stats.update(started=0, finished=0)

    def reconfigure(self, config):
        """Follow ``exec.term-signal``, ``kill-signal``, ``kill-timeout``,
        ``max-kill-count``, ``max-kill-timeout``, ``barrier-timeout``,
        ``shell-exit-timeout``, ``max-start-delay-percent``,
        ``exec.testexec.allow-guests``, and ``exec.imp`` (other users'
        shells run through it: it runs ``flux-shell`` of the same
        directory)."""
        self.term_signal = _signum(config.get("exec.term-signal", "SIGTERM"))
        self.kill_signal = _signum(config.get("exec.kill-signal", "SIGKILL"))
        self.kill_timeout = _seconds(config.get("exec.kill-timeout", "5s"),
                                     5.0)
        self.max_kill_count = int(config.get("exec.max-kill-count", 8))
        self.max_kill_timeout = _seconds(
            config.get("exec.max-kill-timeout", "300s"), 300.0)
        self.barrier_timeout = _seconds(
            config.get("exec.barrier-timeout", "30m"), 0.0)
        self.shell_exit_timeout = _seconds(
            config.get("exec.shell-exit-timeout", "30s"), 0.0)
        # a broker away this long has lost its jobs' shells
        self.lost_shell_timeout = _seconds(
            config.get("tbon.tcp_user_timeout", "20s"), 20.0)
        self.max_start_delay = float(
            config.get("exec.max-start-delay-percent", 25))
        self.allow_guests = bool(config.get("exec.testexec.allow-guests",
                                            False))
        imp = config.get("exec.imp", None)
        # as in Flux, the job shell is flux-shell beside the IMP launcher
        shell = imp and os.path.join(os.path.dirname(imp), "flux-shell")
        if not imp:
            self.imp_shells = None
        elif getattr(self, "imp_shells", None) is not None:
            self.imp_shells.imp, self.imp_shells.shell = imp, shell
        else:
            self.imp_shells = ImpShells(self.reactor, imp, shell,
                                        rundir=self.rundir, rank=self.rank)

    # -- start and stop --------------------------------------------------------

    def startService(self):
        super().startService()
        self._kill_sub = self.events.subscribe("shell-", self._kill_event)
        if self.imp_shells is not None:
            # the IMP's shells that outlived the last broker connect again
            try:
                self.imp_shells.listen()
            except OSError as exc:
                self.log.error("job-exec: IMP shells: {path}: {why}",
                               path=self.imp_shells.path, why=exc.strerror)
        if self.rank != 0:
            return
        self._sub = self.events.subscribe("job-exception", self._exception)
        # once registered: the job manager sends starts from its hello
        self._hello = self.reactor.callLater(0, self._recover_then_hello)

    def _recover_then_hello(self):
        self._hello = None
        d = defer.Deferred.fromCoroutine(self.guests.recover(self.jobs))
        d.addErrback(lambda f: self.log.failure(
            "job-exec: recovering guest namespaces", f))
        d.addCallback(lambda _: self._say_hello() if self.running else None)

    def _say_hello(self):
        d = self.router.call("job-manager.exec-hello",
                             {"service": self.name},
                             cred=self.router.instance_cred)

        def failed(failure):
            failure.trap(FluxError)
            self.log.info("job-exec: exec-hello: {why}: not executing",
                          why=failure.getErrorMessage())
        d.addErrback(failed)

    def stopService(self):
        super().stopService()
        if self._hello is not None and self._hello.active():
            self._hello.cancel()
        for sub in (self._sub, self._kill_sub):
            if sub is not None:
                sub.cancel()
        self.deadlines.stop()
        kill = bool(self.instance_stopping()) or self.instance_ends
        stopped = self.shells.stop(kill=kill)
        if self.imp_shells is not None:
            stopped = defer.gatherResults([stopped,
                                           self.imp_shells.stop(kill=kill)])
        # a shared writer is the job manager's to flush (bounded in time)
        if self._shared or self.writer is None:
            return stopped
        return defer.gatherResults([stopped, self.writer.flush()])

    # -- writing the exec eventlog ---------------------------------------------

    def post(self, job, name, context=None, then=None):
        """Append to the job's exec eventlog; ``then(job)`` once durable."""
        line = eventlog.encode_entry(name, context, self.reactor.seconds())
        note = None if then is None else (then, job)
        self.guests.append(job, "exec.eventlog", line.encode("utf-8"),
                           note=None if self._shared else note)
        if self._shared and note is not None:
            # ordered before anything queued after it: go on at once
            self._durable([note])

    def _durable(self, notes):
        for then, job in notes:
            try:
                then(job)
            except Exception:
                # one job's failure must not hold up the others' writes
                self.log.failure("job-exec: job {id}", id=job.id)

    # -- timers ---------------------------------------------------------------

    def _deadline(self, key):
        job, what = key
        if what == "run":
            job.run_timer = None
            job.tasks_complete(job.conf.wait_status)
        elif what == "kill":
            job.escalate()
        elif what == "shell-exit":
            job.leader_gone()
        elif what == "barrier":
            job.barrier_timeout()
        else:
            job.expiry = None
            job.timeout()

    def drain(self, ranks, reason):
        """Drain ``ranks`` (a list of ranks) with ``reason`` through the
        resource service of rank 0 (a failure is logged)."""
        if not ranks:
            return
        self.router.call("resource.drain",
                         {"targets": _idset(ranks), "reason": reason,
                          "mode": "update"},
                         cred=self.router.instance_cred, nodeid=0
                         ).addErrback(lambda f: self.log.error(
                             "job-exec: drain {ranks}: {why}",
                             ranks=_idset(ranks), why=f.getErrorMessage()))

    def at(self, job, delay, what):
        """Arm the job's ``run`` or ``expiry`` timer ``delay`` from now."""
        return self.deadlines.add(self.reactor.seconds() + delay, (job, what))

    # -- RFC 32 ---------------------------------------------------------------

    @method("start", streaming=True)
    def rpc_start(self, request):
        """``job-exec.start {id, userid, jobspec, R, reattach}``: the job's
        responses, ending after the final ``release``."""
        body = request.json()
        jobid, userid = body.get("id"), body.get("userid")
        jobspec, R = body.get("jobspec"), body.get("R")
        reattach = body.get("reattach", False)
        if not isinstance(jobid, int) or not isinstance(userid, int) \
                or not isinstance(jobspec, dict) or not isinstance(R, dict) \
                or not isinstance(reattach, bool):
            raise ProtocolError("job-exec.start: expected {id, userid,"
                                " jobspec, R, reattach}")
        if jobid in self.jobs:
            raise InvalidArgument(f"job {jobid} is already running")
        if self.rank != 0:
            raise InvalidArgument("job-exec.start: jobs start on rank 0")
        try:
            test = read_conf(jobspec) is not None
        except ExecTestError:
            test = True      # TestJob reports the bad setting
        kind = TestJob if test else ShellJob
        job = kind(self, jobid, userid, request, jobspec, R, reattach)
        self.jobs[jobid] = job
        self.stats["started"] += 1
        request.on_cancel(job.abandoned)
        job.begin()
        return job.done

    def end_all(self):
        """The whole instance stops (``flux shutdown``): a fatal exception
        on every running job (its tasks get ``exec.term-signal`` at once,
        on every rank, before the followers stop); the other ranks hear
        it (:data:`INSTANCE_STOPS`) and end their shells when they stop."""
        self.events.publish(INSTANCE_STOPS, {},
                            cred=self.router.instance_cred)
        for job in list(self.jobs.values()):
            if isinstance(job, ShellJob) and not job.finalizing:
                job.fatal("the instance is shutting down")

    def forget(self, job):
        """The job was released: drop its record."""
        if self.jobs.get(job.id) is job:
            del self.jobs[job.id]
            self.stats["finished"] += 1

    def _exception(self, message):
        """``job-exception {id, type, severity}``: a fatal one ends the job."""
        try:
            body = message.json()
        except ProtocolError:
            return
        job = self.jobs.get(body.get("id"))
        if job is not None and body.get("severity") == 0:
            # on the next turn, as a remote exec service would see it: the
            # exception may be this service's own answer (a timeout), whose
            # handling must finish first
            self.reactor.callLater(0, job.exception_event,
                                   str(body.get("type")))

    async def start_time(self, job):
        """The time of the job's ``start`` event (reattach), or None."""
        try:
            obj = await self.kvs.lookup("primary", job.key + ".eventlog",
                                        cred=self.router.instance_cred)
        except NotFound:
            return None
        for entry in eventlog.decode(T.decode_val(obj).rstrip(b"\0")):
            if entry["name"] == "start":
                return entry["timestamp"]
        return None

    async def exec_events(self, job):
        """The names of the events in the job's exec eventlog (reattach:
        was it ``recoverable``, was ``shell-exit`` posted)."""
        try:
            obj = await self.kvs.lookup(
                "primary", job.key + ".guest.exec.eventlog",
                cred=self.router.instance_cred)
        except NotFound:
            return set()
        return {entry["name"] for entry in
                eventlog.decode(T.decode_val(obj).rstrip(b"\0"))}

    async def shell_seqs(self, job, ranks):
        """``{rank: seq}``: the last shell event of each rank whose
        output is durable (reattach: the ones sent again are skipped)."""
        seqs = {}
        for rank in ranks:
            try:
                obj = await self.kvs.lookup(
                    "primary", f"{job.key}.guest.exec.seq.{rank}",
                    cred=self.router.instance_cred)
                seqs[rank] = int(T.decode_val(obj))
            except (NotFound, ValueError):
                continue
        return seqs

    @method("expiration")
    def rpc_expiration(self, request):
        """``job-exec.expiration {id, expiration}`` (the job manager, after
        the owner changed a running job's duration): its time limit moves
        (0: none)."""
        body = request.json()
        jobid, expiration = body.get("id"), body.get("expiration")
        if not isinstance(jobid, int) or isinstance(expiration, bool) \
                or not isinstance(expiration, (int, float)) \
                or expiration < 0:
            raise ProtocolError("job-exec.expiration: expected {id,"
                                " expiration >= 0}")
        job = self.jobs.get(jobid)
        if job is None:
            raise NotFound("Job not found")
        job.expiration = float(expiration)
        self.deadlines.cancel(job.expiry)
        job.expiry = None
        if expiration and job.running and not job.finalizing:
            job.expiry = self.at(job, max(0.0, expiration
                                          - self.reactor.seconds()),
                                 "expiry")
        return {}

    @method("input", roles=ROLE_USER)
    def rpc_input(self, request):
        """``job-exec.input {id, data?, eof?}``: standard input for every
        task of a running job, from its owner."""
        body = request.json()
        jobid, data, eof = body.get("id"), body.get("data", ""), \
            body.get("eof", False)
        if not isinstance(data, str) or not isinstance(eof, bool):
            raise ProtocolError("job-exec.input: expected {id, data, eof}")
        job = self.jobs.get(jobid)
        if job is None or not isinstance(job, ShellJob):
            raise NotFound(f"job {jobid} is not running job shells")
        if request.userid != job.userid:
            raise PermissionDenied("Permission denied")
        job.input(data, eof)
        return {}

    @method("shell-input")
    def rpc_shell_input(self, request):
        """``job-exec.shell-input {id, data, eof}``: for the tasks' stdin
        of the job's shell here."""
        body = request.json()
        jobid = body.get("id")
        if jobid not in self.local:
            raise NotFound(f"job {jobid} has no shell here")
        self._shells(jobid).input(jobid, str(body.get("data", "")),
                          bool(body.get("eof")))
        return {}

    @method("hostpids", roles=ROLE_USER)
    def rpc_hostpids(self, request):
        """``job-exec.hostpids {id}`` -> ``{"hostpids": [[host, pid]...]}``
        in task rank order, for the owner of a running job."""
        jobid = request.json().get("id")
        job = self.jobs.get(jobid)
        if job is None or not isinstance(job, ShellJob):
            raise NotFound(f"job {jobid} is not running job shells")
        if request.userid != job.userid and request.userid != self.owner:
            raise PermissionDenied("Permission denied")
        return {"hostpids": job.hostpids()}

    @method("override", roles=ROLE_USER)
    def rpc_override(self, request):
        """``job-exec.override {jobid, event: start|finish, status?}``: the
        job's owner starts or finishes a test job in override mode."""
        body = request.json()
        event, jobid = body.get("event"), body.get("jobid")
        status = body.get("status", 0)
        if not isinstance(event, str) or not isinstance(jobid, int) \
                or not isinstance(status, int):
            raise ProtocolError("job-exec.override: expected {jobid, event,"
                                " status?}")
        job = self.jobs.get(jobid)
        if job is None:
            raise NotFound("Job not found")
        if request.userid != job.userid:
            raise PermissionDenied("Permission denied")
        job.override(event, status)
        return {}

    # -- this rank's shells ---------------------------------------------------

    @method("shell-launch", streaming=True)
    def rpc_shell_launch(self, request):
        """``job-exec.shell-launch {id, f58, shell_rank, jobspec, R}``
        (rank 0's exec service only): fork the job's shell here; one
        response per shell event, the stream ends at the shell's exit."""
        body = request.json()
        jobid = body.get("id")
        if not isinstance(jobid, int) or not isinstance(
                body.get("jobspec"), dict) or not isinstance(
                body.get("R"), dict):
            raise ProtocolError("job-exec.shell-launch: expected {id,"
                                " jobspec, R, shell_rank}")
        if jobid in self.local:
            raise InvalidArgument(f"job {jobid} has a shell here already")
        spec = dict(body, broker_rank=self.rank, hostname=self.hostname,
                    uri=self.local_uri)
        if self.attrs is not None:
            for name in ("shell_pluginpath", "shell_initrc"):
                value = self.attrs.get_default("conf." + name)
                if value:
                    spec[name] = value
        done, event = self._relay(request, jobid)
        if "J" in body:
            if self.imp_shells is None:
                raise InvalidArgument(IMP_NEEDED)
            self.imp_shells.launch(jobid, spec, event)
        else:
            self.shells.launch(jobid, spec, event)
        return done

    def _shells(self, jobid):
        """Who runs the shell of ``jobid`` here: the IMP or the server."""
        if self.imp_shells is not None and jobid in self.imp_shells:
            return self.imp_shells
        return self.shells

    @method("shell-attach", streaming=True)
    def rpc_shell_attach(self, request):
        """``job-exec.shell-attach {id}`` (rank 0's exec service after a
        restart): take up the job's shell here again; responses as for
        ``shell-launch``, first ``attached {start}`` (or ``lost``)."""
        jobid = request.json().get("id")
        if not isinstance(jobid, int):
            raise ProtocolError("job-exec.shell-attach: expected {id}")
        done, event = self._relay(request, jobid)
        self._shells(jobid).attach(jobid, event)
        return done

    def _relay(self, request, jobid):
        """The stream of ``jobid``'s shell events to ``request``:
        ``(done, on_event)``.  The events of one read of the shell
        server (its ``init`` and ``start``, its last output, ``exit`` and
        ``shell-exit``) go as one response ``{"events": [...]}``, a lone
        one as itself: fewer messages through the overlay and rank 0.
        Cancelled (rank 0's exec service or this broker went away), the
        shell goes on, its events held by the server until an
        ``attach``; rank 0 ends a job's shells with ``shell-kill``."""
        done = defer.Deferred()
        held = []

        def send():
            if held:
                request.respond(held[0] if len(held) == 1
                                else {"events": held[:]})
                del held[:]

        def event(ev):
            if ev.get("ev") in _LOCAL_EVENTS:
                return
            if ev.get("ev") == "start":
                ev["host"] = self.hostname
            held.append(ev)
            if ev.get("ev") in ("shell-exit", "lost"):
                send()
                self.local.discard(jobid)
                done.callback(None)
            elif len(held) == 1 and not self._shells(jobid).after_read(send):
                send()
        self.local.add(jobid)

        def cancelled():
            self.local.discard(jobid)
            self._shells(jobid).detach(jobid)
        request.on_cancel(cancelled)
        return done, event

    @method("shell-ack")
    def rpc_shell_ack(self, request):
        """``job-exec.shell-ack {id, seq, forget?}`` (rank 0's exec
        service): the events of the job's shell here up to ``seq`` are
        durable; ``forget``: the job is over."""
        body = request.json()
        jobid, seq = body.get("id"), body.get("seq", 0)
        if not isinstance(jobid, int) or not isinstance(seq, int):
            raise ProtocolError("job-exec.shell-ack: expected {id, seq}")
        self._shells(jobid).ack(jobid, seq, bool(body.get("forget")))
        return {}

    @method("shell-order")
    def rpc_shell_order(self, request):
        """``job-exec.shell-order {id, order}``: an order of rank 0's
        exec service for the job's shell here (``pmi``: a PMI barrier's
        exchange; ``pty-input``, ``pty-resize``)."""
        body = request.json()
        jobid, order = body.get("id"), body.get("order")
        if not isinstance(jobid, int) or not isinstance(order, dict) \
                or order.get("op") not in _SHELL_ORDERS:
            raise ProtocolError("job-exec.shell-order: expected {id, order:"
                                " {op: barrier|pmi|pty-input|pty-resize}}")
        if jobid not in self.local:
            raise NotFound(f"job {jobid} has no shell here")
        self._shells(jobid).order(jobid, order)
        return {}

    # -- interactive ptys (-o pty.interactive) --------------------------------

    def _pty_job(self, request):
        jobid = request.json().get("id")
        job = self.jobs.get(jobid)
        if job is None or not isinstance(job, ShellJob):
            raise NotFound(f"job {jobid} is not running job shells")
        if request.userid != job.userid:
            raise PermissionDenied("Permission denied")
        return job

    @method("pty-attach", streaming=True, roles=ROLE_USER)
    def rpc_pty_attach(self, request):
        """``job-exec.pty-attach {id}``: the terminal output of task 0 of
        an interactive pty job, ``{data}`` (base64) responses, then
        ``{eof, status}``; for the job's owner."""
        return self._pty_job(request).pty_session().attach(request)

    @method("pty-write", roles=ROLE_USER)
    def rpc_pty_write(self, request):
        """``job-exec.pty-write {id, data}``: keystrokes (base64) for the
        job's interactive pty."""
        job = self._pty_job(request)
        data = request.json().get("data")
        if not isinstance(data, str):
            raise ProtocolError("job-exec.pty-write: expected {id, data}")
        job.pty_order({"op": "pty-input", "data": data})
        return {}

    @method("pty-resize", roles=ROLE_USER)
    def rpc_pty_resize(self, request):
        """``job-exec.pty-resize {id, rows, cols}``: the attached
        terminal's size."""
        job = self._pty_job(request)
        body = request.json()
        rows, cols = body.get("rows"), body.get("cols")
        if not all(isinstance(v, int) and not isinstance(v, bool)
                   and 0 < v < 65536 for v in (rows, cols)):
            raise ProtocolError("job-exec.pty-resize: expected {id, rows,"
                                " cols}")
        job.pty_order({"op": "pty-resize", "rows": rows, "cols": cols})
        return {}

    @method("shell-kill")
    def rpc_shell_kill(self, request):
        """``job-exec.shell-kill {id, signum, shell?, tasks?}``: signal
        the tasks of the job's shell here (with ``shell``: SIGKILL the
        shell; and ``tasks``: only while its tasks run)."""
        body = request.json()
        jobid, signum = body.get("id"), body.get("signum")
        if not isinstance(jobid, int) or not isinstance(signum, int):
            raise ProtocolError("job-exec.shell-kill: expected {id, signum}")
        if jobid not in self.local:
            raise NotFound(f"job {jobid} has no shell here")
        if body.get("shell"):
            self._shells(jobid).terminate(jobid,
                                          tasks=bool(body.get("tasks")))
        else:
            self._shells(jobid).kill(jobid, signum)
        return {}

    def _kill_event(self, message):
        """``shell-<id>.kill {signum}`` (``flux job kill``)."""
        topic = message.topic
        if topic == INSTANCE_STOPS:
            self.instance_ends = message.userid == self.owner
            return
        if not topic.endswith(".kill"):
            return
        try:
            jobid = int(topic[len("shell-"):-len(".kill")])
            signum = int(message.json().get("signum"))
        except (ValueError, TypeError, ProtocolError):
            return
        if jobid in self.local:
            self._shells(jobid).kill(jobid, signum)
