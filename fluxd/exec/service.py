# -*- test-case-name: tests.unit.exec.test_testexec -*-
"""The ``job-exec`` service (RFC 32) with flux-core's test execution.

Once registered it says hello to the job manager
(``job-manager.exec-hello {service: "job-exec"}``), which then sends one
streaming ``job-exec.start {id, userid, jobspec, R, reattach}`` per job
entering RUN.  Jobs are simulated as flux-core's ``testexec`` does
(settings in :mod:`fluxd.exec.testconf`); job shells are a later issue,
so a job without ``attributes.system.exec.test`` gets a fatal ``exec``
exception saying how to use test execution.  The life of one job:

- exec eventlog ``init`` (``reattach`` on reattach), written to
  ``job.<id>.guest.exec.eventlog`` in the primary namespace and awaited;
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
- ``complete {status}`` and the ``finish`` response, then ``done``
  (awaited) and the final ``release``, which ends the stream.

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

import signal

from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import (
    FluxError, InvalidArgument, NotFound, PermissionDenied, ProtocolError)
from fluxd.exec._deadlines import Deadlines
from fluxd.exec._job import GUESTS_REFUSED, NO_SHELLS, TestJob
from fluxd.formats import eventlog
from fluxd.interfaces import IEvents, IKVS, IReconfigurable, IRouter, provide
from fluxd.job.kvsbatch import KVSBatcher
from fluxd.storage import treeobj as T
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module

__all__ = ["ExecService", "NO_SHELLS", "GUESTS_REFUSED"]


def _signum(name):
    if name.isdigit():
        return int(name)
    return int(signal.Signals[name if name.startswith("SIG")
                              else "SIG" + name])


@implementer(IReconfigurable)
class ExecService(Module):
    """The ``job-exec`` service of rank 0.

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
        through, or None for a batcher of its own.
    """

    name = "job-exec"
    log = Logger()

    def __init__(self, reactor, router, kvs, events, config, writer=None):
        super().__init__(0)
        self.reactor = reactor
        self.router = provide(IRouter, router)
        self.kvs = provide(IKVS, kvs)
        self.events = provide(IEvents, events)
        self.owner = router.instance_cred.userid
        self.jobs = {}
        self._shared = writer is not None
        self.writer = writer if self._shared else KVSBatcher(
            reactor, kvs, router.instance_cred, on_durable=self._durable)
        self.deadlines = Deadlines(reactor, self._deadline)
        self._sub = None
        self._hello = None
        self.reconfigure(config)
        self.stats.update(started=0, finished=0)

    def reconfigure(self, config):
        """Follow ``exec.term-signal``, ``exec.max-start-delay-percent``
        and ``exec.testexec.allow-guests`` (for jobs starting later)."""
        self.term_signal = _signum(config.get("exec.term-signal", "SIGTERM"))
        self.max_start_delay = float(
            config.get("exec.max-start-delay-percent", 25))
        self.allow_guests = bool(config.get("exec.testexec.allow-guests",
                                            False))

    # -- start and stop --------------------------------------------------------

    def startService(self):
        super().startService()
        self._sub = self.events.subscribe("job-exception", self._exception)
        # once registered: the job manager sends starts from its hello
        self._hello = self.reactor.callLater(0, self._say_hello)

    def _say_hello(self):
        self._hello = None
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
        if self._sub is not None:
            self._sub.cancel()
        self.deadlines.stop()
        # a shared writer is the job manager's to flush (bounded in time)
        return None if self._shared else self.writer.flush()

    # -- writing the exec eventlog ---------------------------------------------

    def post(self, job, name, context=None, then=None):
        """Append to the job's exec eventlog; ``then(job)`` once durable."""
        line = eventlog.encode_entry(name, context, self.reactor.seconds())
        note = None if then is None else (then, job)
        self.writer.append(job.key + ".guest.exec.eventlog",
                           line.encode("utf-8"),
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
        else:
            job.expiry = None
            job.timeout()

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
        job = TestJob(self, jobid, userid, request, jobspec, R, reattach)
        self.jobs[jobid] = job
        self.stats["started"] += 1
        request.on_cancel(job.abandoned)
        job.begin()
        return job.done

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
