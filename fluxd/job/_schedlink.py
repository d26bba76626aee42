# -*- test-case-name: tests.unit.job.test_manager -*-
"""The job manager's side of the scheduler protocol (RFC 27).

The scheduler says hello (``job-manager.sched-hello``: the job manager
answers with every job holding resources, so it can mark them allocated)
and ready (``job-manager.sched-ready``, limited or unlimited mode).  From
then on the job manager sends one streaming ``sched.alloc`` request per
job in SCHED, in priority order (higher first, then older first): all of
them in unlimited mode, at most ``limit`` outstanding in limited mode.
Alloc responses are success (R is in the KVS, and fluxd's schedulers also
return it), annotate, deny or cancel.  ``sched.cancel`` withdraws an
alloc, ``sched.prioritize`` reorders outstanding ones, ``sched.free``
returns a job's resources.

The pending queue is a heap with lazy deletion: a job's entry is stale
once it left SCHED, got an alloc out, or changed priority (its
``queue_key`` then differs).  A job whose RFC 33 queue is stopped is
parked aside (not counted as queued) until its queue starts again;
stopping a queue also withdraws its outstanding allocs (``sched.cancel``).
"""

import errno
import heapq
from functools import partial

from twisted.logger import Logger

from fluxd.errors import FluxError
from fluxd.job._jobq import with_queue_requires
from fluxd.job.jobs import SCHED

__all__ = ["SchedLink", "SUCCESS", "ANNOTATE", "DENY", "CANCEL"]

SUCCESS, ANNOTATE, DENY, CANCEL = 0, 1, 2, 3


def _key(job):
    return (-(job.priority or 0), job.t_submit, job.id)


class SchedLink:
    """Alloc requests and frees for one job manager.

    :param router: the broker's router (requests to ``sched.*``).
    :param manager: the job manager (``post``, ``raise_exception``,
        ``alloc_done``, ``queue``).
    """

    log = Logger()

    def __init__(self, router, manager):
        self._router = router
        self._manager = manager
        self.ready = False
        self.limit = None
        self.outstanding = {}
        self._heap = []
        self._queued_key = {}
        self._held = set()
        self._parked = {}
        # bound once: each job's stream callbacks are partials of these
        self._on_alloc = self._alloc_response
        self._on_alloc_error = self._alloc_failed

    @property
    def online(self):
        """True once a scheduler said ready (until it goes away)."""
        return self.ready

    # -- the pending queue -----------------------------------------------------

    def enqueue(self, job):
        """``job`` entered SCHED (or changed priority while in it)."""
        if job.id in self.outstanding:
            if job.priority == 0:
                self.cancel(job)      # held: withdraw it (RFC 30)
            else:
                self._prioritize([job])
            return
        self._held.discard(job.id)
        if not self._manager.queues.started(job):
            self._park(job)
            return
        self._parked.pop(job.id, None)
        key = _key(job)
        if self._queued_key.get(job.id) == key:
            return
        self._queued_key[job.id] = key
        heapq.heappush(self._heap, (key, job.id, job))
        self.pump()

    def pending_count(self):
        """Jobs in SCHED waiting for an alloc request to be sent (held
        jobs included)."""
        return len(self._queued_key) + len(self._held)

    def pump(self):
        """Send alloc requests while the scheduler and queue allow."""
        if not self.ready:
            return
        while self._heap and (self.limit is None
                              or len(self.outstanding) < self.limit):
            key, _, job = heapq.heappop(self._heap)
            if self._queued_key.get(job.id) != key or job.state != SCHED \
                    or job.id in self.outstanding:
                continue
            del self._queued_key[job.id]
            if not self._manager.queues.started(job):
                self._park(job)
                continue
            if not job.priority:
                # held (priority 0): never allocated; queued again when
                # its priority changes
                self._held.add(job.id)
                continue
            self._send_alloc(job)

    def _send_alloc(self, job):
        job.alloc_pending = True
        payload = {"id": job.id, "priority": job.priority,
                   "userid": job.userid, "t_submit": job.t_submit,
                   "jobspec": with_queue_requires(
                       job.jobspec, self._manager.queues.requires_of(job))}
        stream = self._router.stream(
            "sched.alloc", payload, cred=self._router.instance_cred,
            on_response=partial(self._on_alloc, job),
            on_error=partial(self._on_alloc_error, job))
        self.outstanding[job.id] = stream

    def _alloc_response(self, job, body):
        kind = body.get("type")
        if kind == ANNOTATE:
            self._manager.annotate(job, body.get("annotations"))
            return
        self.outstanding.pop(job.id, None)
        job.alloc_pending = False
        if kind == SUCCESS:
            self._manager.alloc_success(job, body.get("R"),
                                        body.get("annotations"))
        elif kind == DENY:
            self._manager.clear_annotations(job)
            self._manager.raise_exception(job, "alloc", 0,
                                          body.get("note") or "alloc denied")
        elif kind == CANCEL:
            self._manager.alloc_canceled(job)
        else:
            self.log.warn("sched.alloc: unknown response type {kind} for"
                          " job {id}", kind=kind, id=job.id)
        self.pump()

    def _alloc_failed(self, job, failure):
        # an error response: the scheduler went away; stop until hello
        self.outstanding.pop(job.id, None)
        job.alloc_pending = False
        if not failure.check(FluxError):
            self.log.failure("sched.alloc for job {id} failed", failure,
                             id=job.id)
        elif failure.value.errno not in (errno.ENOSYS, errno.EHOSTUNREACH):
            self.log.warn("sched.alloc for job {id} failed: {why}",
                          id=job.id, why=failure.getErrorMessage())
        self.offline()
        self._manager.alloc_canceled(job)

    # -- requests to the scheduler -----------------------------------------------

    def cancel(self, job):
        """Withdraw ``job``'s outstanding alloc (answered with CANCEL)."""
        if job.id in self.outstanding:
            self._router.call("sched.cancel", {"id": job.id},
                              cred=self._router.instance_cred).addErrback(
                lambda f: None)

    def _park(self, job):
        self._queued_key.pop(job.id, None)
        self._parked[job.id] = job

    def queues_stopped(self, names):
        """Queues ``names`` (None: the anonymous queue) were stopped: park
        their queued jobs and withdraw their outstanding allocs (each is
        answered with CANCEL and parked then).

        :returns: the ``done`` Deferreds of the withdrawn alloc streams.
        """
        for _, _, job in list(self._heap):
            if job.id in self._queued_key and job.queue in names:
                self._park(job)
        withdrawn = []
        for jobid, stream in list(self.outstanding.items()):
            job = self._manager.get(jobid)
            if job is not None and job.queue in names:
                self.cancel(job)
                withdrawn.append(stream.done)
        return withdrawn

    def queues_started(self):
        """Some queue was started: queue its parked jobs again."""
        for job in list(self._parked.values()):
            if self._manager.queues.started(job):
                del self._parked[job.id]
                if job.state == SCHED and job.id not in self.outstanding:
                    self.enqueue(job)
        self.pump()

    def _prioritize(self, jobs):
        self._router.call("sched.prioritize",
                          {"jobs": [[j.id, j.priority] for j in jobs]},
                          cred=self._router.instance_cred).addErrback(
            lambda f: None)

    def free(self, job, R, final=True):
        """Return ``job``'s resources (``final``: the last of them); a
        Deferred (errors are logged)."""
        d = self._router.call("sched.free", {"id": job.id, "R": R,
                                             "final": final},
                              cred=self._router.instance_cred)

        def failed(failure):
            self.log.warn("sched.free for job {id} failed: {why}",
                          id=job.id, why=failure.getErrorMessage())
        return d.addErrback(failed)

    # -- the scheduler's side ----------------------------------------------------

    def hello(self):
        """A scheduler says hello: nothing is outstanding any more."""
        self.ready = False
        self._drop_outstanding()

    def set_ready(self, mode, limit):
        """``sched-ready``: start sending allocs."""
        self.ready = True
        self.limit = limit if mode == "limited" else None
        self.pump()

    def offline(self):
        """The scheduler is gone: requeue outstanding allocs."""
        self.ready = False
        self._drop_outstanding()

    def _drop_outstanding(self):
        jobs = list(self.outstanding)
        self.outstanding.clear()
        for jobid in jobs:
            job = self._manager.get(jobid)
            if job is not None:
                job.alloc_pending = False
                # back in the queue, or (canceled meanwhile) cleaned up
                self._manager.alloc_canceled(job)
