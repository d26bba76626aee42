# -*- test-case-name: tests.unit.sched.test_service -*-
"""The ``sched`` service: RFC 27's scheduler side (rank 0), with
Fluxion's queue and match policies.

At start (once registered, so the job manager can reach it) it acquires
the resources (RFC 28 ``resource.acquire``: R without excluded ranks,
then up/down changes), says hello to the job manager (every job still
holding resources is marked allocated, from its ``job.<id>.R``, until its
expiration) and ready (``unlimited`` in the broker, as Fluxion;
``limited`` with a limit of 8, sched-simple's, is the class default).
Then:

- ``sched.alloc`` (streaming, one per job): queued in the job's queue
  (``attributes.system.queue``; one queue per ``[queues]`` name) by
  priority then id.  A scheduling pass (:mod:`fluxd.sched.fluxion`) runs
  after every change and decides: allocated now, denied (``unsatisfiable
  request``), or waiting, annotated (ANNOTATE) with
  ``sched.reason_pending`` and, once reserved, ``sched.t_estimate``.  R
  goes to ``job.<id>.R`` with ``starttime`` now and ``expiration`` from
  the duration (``match-format = "rv1"`` adds the ``scheduling`` graph),
  through one :class:`~fluxd.job.kvsbatch.KVSBatcher` (the R of every
  job allocated in one pass, or while a commit is in flight, go out as
  one commit; with a batcher of its own, also those of the passes that
  follow one another at once when more jobs than the queue depth may
  start); the success response (annotation
  ``sched.resource_summary``, and R itself) is sent once R is durable,
  or, when the scheduler shares the job manager's batcher (as in the
  broker), once R is queued: the batcher commits in order, each commit
  atomic, so the ``alloc`` event the job manager posts on success is
  never durable without R, and a job's resources are not held through
  a disk write (a free then schedules at once, the job manager having
  queued its ``free`` event before asking);
- ``sched.free`` (``final`` false: a partial release of those ranks),
  ``sched.cancel``, ``sched.prioritize``, ``sched.expiration`` and
  ``sched.resource-status`` (the scheduler's view);
- ``feasibility.check`` (:class:`~fluxd.sched.feasibility.FeasibilityService`,
  here too);
- ``flux config reload``: new policies (an unknown one refused).

The policy is pure: this module only speaks the protocol.
"""

import json
import sys

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import (
    FluxError, InvalidArgument, NoSuchService, ProtocolError)
from fluxd.formats import fluid
from fluxd.formats.jsonenc import compact
from fluxd.interfaces import IKVS, IReconfigurable, IRouter, provide
from fluxd.job.kvsbatch import KVSBatcher
from fluxd.storage import treeobj as T
from fluxd.message.router import OPEN, method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module
from fluxd.sched._queue import QueueSet
from fluxd.sched.feasibility import FeasibilityService
from fluxd.sched.fluxion import Fluxion
from fluxd.sched.policy import InvalidRequest
from fluxd.sched.schedconf import SettingsError, sched_settings
from fluxd.sched.rbuild import (
    RError, build_R, groups_of, ids_of, policy_nodes, shares_of, summary_of)
from fluxd.sched.request import request_of

__all__ = ["SchedulerService", "FeasibilityService", "SUCCESS", "ANNOTATE",
           "DENY", "CANCEL"]

SUCCESS, ANNOTATE, DENY, CANCEL = 0, 1, 2, 3
#: sched-simple's default concurrency: ``limited=8``
DEFAULT_LIMIT = 8
#: the pending jobs of each queue named to ``expect`` after a pass
NEXT_IN_LINE = 4
#: compact JSON of R (one encoder, not one a job)
_dumps = compact()


class _Job:
    """One alloc request (freed once answered): only what the queue, the
    policy and the answers need (not the jobspec)."""

    __slots__ = ("id", "priority", "request", "req", "alloc", "queue",
                 "note", "expected")

    def __init__(self, jobid, priority, request, req, queue=None):
        self.id, self.priority = jobid, priority
        self.request, self.req = request, req
        self.queue = queue
        #: (R, summary, shares) once allocated, while R is being written
        self.alloc = None
        #: the sched annotations last sent (None before any)
        self.note = None
        #: named to ``expect`` when next in line
        self.expected = False


def _queue_of(jobspec):
    try:
        queue = jobspec["attributes"]["system"].get("queue")
    except (KeyError, TypeError, AttributeError):
        return None
    return queue if isinstance(queue, str) else None


def _int_field(body, key):
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"{key} must be a non-negative integer")
    return value


@implementer(IReconfigurable)
class SchedulerService(Module):
    """The ``sched`` service of rank 0.

    :param reactor: IReactorTime (R times, the scheduling turn).
    :param router: the broker router (job manager, resource, KVS).
    :param kvs: the broker's :class:`~fluxd.interfaces.IKVS` (R writes).
    :param limit: alloc requests outstanding at once (``limited`` mode),
        or None for ``unlimited``.
    :param make_policy: ``make_policy(nodes, expiration, settings)`` ->
        the :class:`~fluxd.sched.fluxion.Fluxion` policy (the default).
    :param writer: the job manager's
        :class:`~fluxd.job.kvsbatch.KVSBatcher` to write R through (success
        answered once R is queued), or None for a batcher of its own
        (success answered once R is durable).
    :param config: the :class:`fluxd.config.Config` (its
        ``sched-fluxion-*`` tables and ``[queues]``), or None.
    :param expect: told the jobs next in line, or None: its
        ``wants(jobspec)`` picks at alloc the jobs it cares for, and
        ``expect(jobids)`` hears after each pass those among the first
        :data:`NEXT_IN_LINE` jobs still pending in each queue (rank 0's
        exec service reads their J before they start:
        :class:`~fluxd.exec._readahead.JReadAhead`).
    """

    name = "sched"
    log = Logger()

    def __init__(self, reactor, router, kvs, limit=DEFAULT_LIMIT,
                 make_policy=Fluxion, writer=None, config=None, expect=None):
        super().__init__(0)
        self.reactor = reactor
        self.router = provide(IRouter, router)
        self.kvs = provide(IKVS, kvs)
        self.limit = limit
        self._make_policy = make_policy
        self.policy = None
        self.settings = sched_settings(config)
        self.queue = QueueSet(self._queue_names(config))
        self._shared = writer is not None
        self.writer = writer if self._shared else KVSBatcher(
            reactor, kvs, router.instance_cred, on_durable=self._durable)
        self.ready = False
        self._resources = defer.Deferred()
        self._acquire = None
        self._turn = None
        self._wake = None
        #: R writes held while a chain of passes runs (own batcher only):
        #: ``[(key, data, job)]``
        self._held = []
        self._init = None
        self._start_call = None
        self.expect = expect
        self.stats.update(allocs=0, frees=0, denied=0, canceled=0)
        # bound once, registered with every pending job's request
        self._on_abandoned = self._abandoned

    @staticmethod
    def _queue_names(config):
        if config is None:
            return ()
        queues = config.get("queues", None)
        return sorted(queues) if isinstance(queues, dict) else ()

    def reconfigure(self, config):
        """``flux config reload``: new queue and match policies (an
        unknown one is refused, naming the key)."""
        try:
            settings = sched_settings(config)
        except SettingsError as exc:
            raise InvalidArgument(str(exc)) from None
        self.settings = settings
        self.queue.set_names(self._queue_names(config))
        if self.policy is not None:
            self.policy.configure(settings)
            self._kick()

    # -- start and stop --------------------------------------------------------

    def startService(self):
        super().startService()
        if self.settings.match_format == "rv1_shorthand":
            self.log.warn("sched-fluxion-resource.match-format: rv1_shorthand"
                          " is written as rv1 (the full JGF graph) by fluxd")
        # once registered: the job manager sends allocs from its ready
        self._start_call = self.reactor.callLater(0, self._begin)

    def _begin(self):
        self._start_call = None
        self._init = defer.Deferred.fromCoroutine(self._start())
        self._init.addErrback(self._start_failed)

    def _start_failed(self, failure):
        if failure.check(defer.CancelledError):
            return None
        if failure.check(NoSuchService):
            self.log.info("sched: {why}: not scheduling",
                          why=failure.getErrorMessage())
            return None
        self.log.failure("sched: start failed", failure)
        return None

    async def _start(self):
        self._acquire = self.router.stream(
            "resource.acquire", {}, cred=self.router.instance_cred,
            on_response=self._acquired)
        self._acquire.done.addBoth(self._acquire_ended)
        await self._resources
        await self._hello()
        mode = {"mode": "unlimited"} if self.limit is None else \
            {"mode": "limited", "limit": self.limit}
        answer = await self.router.call("job-manager.sched-ready", mode,
                                        cred=self.router.instance_cred)
        self.ready = True
        avail, total = self.policy.totals()
        self.log.info("sched: ready {mode}: {avail} of {total} cores,"
                      " {count} jobs waiting", avail=avail, total=total,
                      mode=mode["mode"] if self.limit is None
                      else f"limited={self.limit}",
                      count=answer.get("count"))

    def stopService(self):
        super().stopService()
        if self._start_call is not None and self._start_call.active():
            self._start_call.cancel()
        if self._init is not None:
            self._init.cancel()
        if self._acquire is not None:
            self._acquire.cancel()
        for call in (self._turn, self._wake):
            if call is not None and call.active():
                call.cancel()
        self.ready = False
        self._release()
        while self.queue:
            job = self.queue.pop()
            job.request.fail(NoSuchService.errno, "simple sched exiting")
        # a shared writer is the job manager's to flush (bounded in time)
        return None if self._shared else self.writer.flush()

    # -- resources -------------------------------------------------------------

    def _acquired(self, body):
        if self.policy is None:
            try:
                nodes = policy_nodes(body["resources"])
            except (KeyError, RError) as exc:
                self.log.error("sched: resource.acquire: {err}", err=exc)
                return
            self.policy = self._make_policy(
                nodes, float(body.get("expiration") or 0.0), self.settings)
            self.policy.mark_up(self._ranks(body.get("up")))
            self._resources.callback(None)
            return
        self.policy.mark_up(self._ranks(body.get("up")))
        self.policy.mark_down(self._ranks(body.get("down")))
        self._kick()

    @staticmethod
    def _ranks(text):
        return ids_of(text) if text else ()

    def _acquire_ended(self, result):
        if self.running:
            self.log.error("sched: resource.acquire ended: {why}",
                           why=getattr(result, "value", "end of stream"))
        if not self._resources.called:
            self._resources.errback(NoSuchService("no resources acquired"))
        return None

    async def _hello(self):
        jobs = []
        stream = self.router.stream(
            "job-manager.sched-hello", {"partial-ok": True},
            cred=self.router.instance_cred, on_response=jobs.append)
        await stream.done
        for body in jobs:
            await self._hello_job(body)

    async def _hello_job(self, body):
        jobid = body.get("id")
        try:
            obj = await self.kvs.lookup(
                "primary", fluid.encode(jobid, "kvs") + ".R",
                cred=self.router.instance_cred)
            R = json.loads(T.decode_val(obj))
            skip = set(ids_of(body["free"])) if body.get("free") else ()
            exact = self.policy.set_allocated(
                shares_of(R, skip), jobid,
                float(R["execution"].get("expiration") or 0.0))
        except (FluxError, ValueError, TypeError, KeyError, RError) as exc:
            self.log.error("sched: hello: job {id}: {err}", id=jobid, err=exc)
            return
        if not exact:
            self.log.error("sched: hello: job {id}: R was partly allocated"
                           " already", id=jobid)

    # -- scheduling ------------------------------------------------------------

    def _kick(self):
        """Run a scheduling pass on the next reactor turn (once)."""
        if self._turn is None and self.queue:
            self._turn = self.reactor.callLater(0, self._schedule)

    def _schedule(self):
        self._turn = None
        if self.policy is None:
            self._release()
            return
        now = self.reactor.seconds()
        allocated = []
        held = self._held
        decisions = self.policy.schedule(self.queue, now)
        for kind, job, value in decisions:
            if kind == "annotate":
                self._annotate(job, value)
            elif kind == "deny":
                self._deny(job, value)
            else:
                shares, expiration = value
                groups = groups_of(shares)
                R = build_R(shares, job.req.nslots, now, expiration,
                            self.settings.match_format != "rv1_nosched",
                            groups)
                # the summary string is shared by every job with the same one
                job.alloc = (R, sys.intern(summary_of(R)), shares)
                key, data = fluid.encode(job.id, "kvs") + ".R", \
                    _dumps(R).encode()
                if self._shared:
                    self.writer.put_value(key, data)
                else:
                    held.append((key, data, job))
                allocated.append(job)
        if self._shared and allocated:
            # R precedes, in the shared ordered stream, whatever the job
            # manager writes on hearing of it
            self._durable(allocated)
        if self.policy.again:
            # the queue moved: the jobs behind the depth looked at get a
            # pass of their own on the next turn; the R of this one wait
            # for it (one commit for the chain, not one a pass: a big
            # job's end starts many in a row)
            self._kick()
        if self._turn is None:
            self._release()
        if self.expect is not None and self.queue:
            self.expect.expect([job.id for job in
                                self.queue.heads(NEXT_IN_LINE)
                                if job.expected])
        self._set_wake(now)

    def _release(self):
        """Queue the held R writes (own batcher: each job is answered
        once its R is durable)."""
        held, self._held = self._held, []
        put = self.writer.put_value
        for key, data, job in held:
            put(key, data, note=job)

    def _set_wake(self, now):
        """A pass when the next reservation is due, whatever happens."""
        wake = self.policy.wake(now)
        if self._wake is not None and self._wake.active():
            if wake is not None and self._wake.getTime() == wake:
                return
            self._wake.cancel()
        self._wake = None if wake is None else \
            self.reactor.callLater(wake - now, self._kick)

    def _annotate(self, job, sched):
        """ANNOTATE with what changed since the last one."""
        note = job.note
        if note is None:
            note = job.note = {}
        changed = {k: v for k, v in sched.items() if note.get(k) != v}
        if not changed:
            return
        note.update(changed)
        job.request.respond({"id": job.id, "type": ANNOTATE,
                             "annotations": {"sched": changed}})

    def _durable(self, jobs):
        for job in jobs:
            R, text, shares = job.alloc
            if job.request.cancelled:
                # the job manager went away: nobody will free these
                self.policy.free(shares)
                self._kick()
                continue
            self.stats["allocs"] += 1
            sched = {"resource_summary": text, "reason_pending": None,
                     "jobs_ahead": None}
            if job.note is not None and \
                    job.note.get("t_estimate") is not None:
                sched["t_estimate"] = None
            job.request.respond({
                "id": job.id, "type": SUCCESS, "R": R,
                "annotations": {"sched": sched}})
            job.request.end()

    def _deny(self, job, note):
        self.stats["denied"] += 1
        job.request.respond({"id": job.id, "type": DENY, "note": note})
        job.request.end()

    # -- RFC 27 methods --------------------------------------------------------

    @method("alloc", streaming=True)
    def rpc_alloc(self, request):
        """``sched.alloc {id, priority, userid, t_submit, jobspec}``: one
        success (R in the KVS), deny or cancel response, then the end."""
        body = request.json()
        jobid = _int_field(body, "id")
        priority = _int_field(body, "priority")
        jobspec = body.get("jobspec")
        if not isinstance(jobspec, dict):
            raise ProtocolError("jobspec must be an object")
        if self.limit is not None and len(self.queue) >= self.limit:
            raise InvalidArgument(
                f"alloc received above max concurrency: {self.limit}")
        if jobid in self.queue:
            raise InvalidArgument(f"job {jobid} already has an alloc request")
        try:
            req = request_of(jobspec)
        except InvalidRequest as exc:
            self._deny(_Job(jobid, priority, request, None), str(exc))
            return None
        job = _Job(jobid, priority, request, req, _queue_of(jobspec))
        if self.expect is not None:
            job.expected = self.expect.wants(jobspec)
        # parsed: the request may stay open for long, without the jobspec
        request.release_payload()
        self.queue.push(job)
        if self.policy is not None:
            self.policy.queued(job)
        request.on_cancel(self._on_abandoned, job)
        self._kick()
        # the stream ends with the answer (request.end()): no Deferred
        return OPEN

    def _abandoned(self, job):
        """The job manager cancelled the stream (or went away)."""
        if self.queue.get(job.id) is job:
            self.queue.remove(job.id)
            self._withdrawn(job.id)

    @method("cancel")
    def rpc_cancel(self, request):
        """``sched.cancel {id}``: a queued request is answered CANCEL."""
        jobid = _int_field(request.json(), "id")
        job = self.queue.remove(jobid)
        if job is not None:
            self.stats["canceled"] += 1
            job.request.respond({"id": jobid, "type": CANCEL})
            job.request.end()
            self._withdrawn(jobid)
        return {}

    def _withdrawn(self, jobid):
        """A pending job left the queue: its reservation goes."""
        if self.policy is not None:
            self.policy.withdrawn(jobid)
        self._kick()

    @method("prioritize")
    def rpc_prioritize(self, request):
        """``sched.prioritize {jobs: [[id, priority], ...]}``."""
        jobs = request.json().get("jobs")
        if not isinstance(jobs, list):
            raise ProtocolError("malformed sched.prioritize request")
        for item in jobs:
            if not (isinstance(item, list) and len(item) == 2
                    and all(isinstance(v, int) for v in item)):
                raise ProtocolError("malformed sched.prioritize request")
            if self.queue.reprioritize(item[0], item[1]) \
                    and self.policy is not None:
                self.policy.reordered()
        self._kick()
        return {}

    @method("free")
    async def rpc_free(self, request):
        """``sched.free {id, R, final}``: the resources are free again
        (R looked up in the KVS when absent)."""
        body = request.json()
        jobid = _int_field(body, "id")
        if self.policy is None:
            raise NoSuchService("sched-simple not initialized")
        final = body.get("final", True) is not False
        now = self.reactor.seconds()
        if not (final and self.policy.free_job(jobid, now)):
            # a partial release, or a job the policy holds nothing of
            # (a free of what hello did not reclaim): from R
            await self._free_R(jobid, body.get("R"), final, now)
        self.stats["frees"] += 1
        if self._shared and self.queue:
            # the job manager queued its free event first: the next job's
            # alloc may follow it in the same ordered stream right away
            if self._turn is not None and self._turn.active():
                self._turn.cancel()
            self._schedule()
        else:
            self._kick()
        return {}

    async def _free_R(self, jobid, R, final, now):
        if R is None:
            obj = await self.kvs.lookup(
                "primary", fluid.encode(jobid, "kvs") + ".R",
                cred=self.router.instance_cred)
            R = json.loads(T.decode_val(obj))
        try:
            shares = shares_of(R)
        except RError as exc:
            raise InvalidArgument(f"free: job {jobid}: {exc}") from None
        if not self.policy.free(shares, jobid, final, now):
            self.log.error("sched: free: job {id}: R was not allocated",
                           id=jobid)

    @method("expiration")
    def rpc_expiration(self, request):
        """``sched.expiration {id, expiration}``: accepted (not a planning
        scheduler, as sched-simple)."""
        body = request.json()
        _int_field(body, "id")
        expiration = body.get("expiration")
        if not isinstance(expiration, (int, float)) or expiration < 0:
            raise InvalidArgument("expiration must be a number >= 0")
        return {}

    @method("resource-status", roles=ROLE_USER)
    async def rpc_resource_status(self, request):
        """``{all, allocated, down}`` as the scheduler sees them."""
        await self.when_resources()
        every, used, down = self.policy.snapshot()
        return {"all": build_R(every, 0, 0, 0),
                "allocated": build_R(used, 0, 0, 0),
                "down": build_R(down, 0, 0, 0)}

    async def when_resources(self):
        """Wait until the policy has the resources (raise NoSuchService
        when the scheduler could not get them)."""
        if not self._resources.called:
            d = defer.Deferred()
            self._resources.addBoth(lambda r: (d.callback(None), r)[1])
            await d
        if self.policy is None:
            raise NoSuchService("sched-simple not initialized")
