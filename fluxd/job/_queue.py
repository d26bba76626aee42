# -*- test-case-name: tests.unit.job.test_manager -*-
"""The job manager's queue requests (RFC 33; the queues themselves are
in :mod:`fluxd.job._jobq`).

``queue-list`` names the named queues, ``queue-status`` gives one queue's
flags (flux-core's fields, with fluxd's alloc counts), ``alloc-query``
the counts that ``flux queue status -v`` prints, ``queue-enable`` and
``queue-start`` (instance owner only) change the flags of one queue or
of all of them, ``drain`` and ``idle`` wait (:mod:`fluxd.job._drain`).
Stopping a queue withdraws its outstanding alloc requests; starting one
sends its jobs' requests again.  The job manager also follows config
reloads here (:meth:`QueueMethods.reconfigure`): a reload that removes a
queue that still has jobs is refused, naming the queue.
"""

import json

from twisted.internet import defer

from fluxd.errors import InvalidArgument
from fluxd.job import jobs as J
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER

__all__ = ["QueueMethods"]

SCHEDULER_OFFLINE = "Scheduler is offline"
#: seconds ``queue-start`` waits for the scheduler to answer the
#: withdrawn allocs before it answers anyway
_WITHDRAW_WAIT = 10.0


def _settled(deferreds, clock, timeout):
    """A Deferred firing once every one of ``deferreds`` has fired (their
    results untouched), or after ``timeout`` seconds."""
    done = defer.Deferred()
    left = [len(deferreds)]

    def finish():
        if not done.called:
            if timer.active():
                timer.cancel()
            done.callback(None)

    def one(result):
        left[0] -= 1
        if left[0] == 0:
            finish()
        return result
    timer = clock.callLater(timeout, finish)
    if not deferreds:
        finish()
    for d in deferreds:
        d.addBoth(one)
    return done


def _flag(body, key):
    value = body.get(key)
    if not isinstance(value, bool):
        raise InvalidArgument(f"{key} must be a boolean")
    return value


def _reason(body):
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidArgument("reason must be a string")
    return reason


class QueueMethods:
    """The queue's requests, mixed into
    :class:`fluxd.job.manager.JobManagerService` (which has ``queues``,
    ``sched``, ``_jobs``, ``_drains``, ``batcher`` and
    ``write_checkpoint``)."""

    def _counts(self):
        return {"alloc_queued": self.sched.pending_count(),
                "alloc_pending": len(self.sched.outstanding),
                "running": sum(1 for j in self._jobs.values()
                               if j.state & J.RUNNING)}

    @method("queue-status", roles=ROLE_USER)
    def rpc_queue_status(self, request):
        """``{name?}`` -> one queue's flags; a stopped scheduler shows as
        ``Scheduler is offline``."""
        name = request.json().get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidArgument("name must be a string")
        answer = self.queues.status(self.queues.lookup(name))
        if not self.sched.online:
            answer.update(start=False, stop_reason=SCHEDULER_OFFLINE)
            answer["blocked"] = "scheduler"
        answer.update(self._counts(), scheduler=self.sched.online)
        return answer

    @method("alloc-query", roles=ROLE_USER)
    def rpc_alloc_query(self, request):
        """``{queue_length, alloc_pending, running}`` (``flux queue status
        -v``)."""
        counts = self._counts()
        return {"queue_length": counts["alloc_queued"],
                "alloc_pending": counts["alloc_pending"],
                "running": counts["running"]}

    @method("queue-list", roles=ROLE_USER)
    def rpc_queue_list(self, request):
        """``{queues: [NAME...]}`` (empty with the anonymous queue)."""
        return {"queues": self.queues.names()}

    @method("queue-enable")
    async def rpc_queue_enable(self, request):
        """``{name?, all, enable, reason?, nocheckpoint?}``."""
        body = request.json()
        enable = _flag(body, "enable")
        reason = _reason(body)
        chosen = self.queues.select(body.get("name"), bool(body.get("all")))
        nocheckpoint = bool(body.get("nocheckpoint"))
        self.queues.set_enable(chosen, enable, reason, nocheckpoint)
        if not nocheckpoint:
            self.write_checkpoint()
            await self.batcher.flush()
        return None

    @method("queue-start")
    async def rpc_queue_start(self, request):
        """``{name?, all, start, reason?, nocheckpoint?}``."""
        body = request.json()
        start = _flag(body, "start")
        reason = _reason(body)
        chosen = self.queues.select(body.get("name"), bool(body.get("all")))
        nocheckpoint = bool(body.get("nocheckpoint"))
        self.queues.set_start(chosen, start, reason, nocheckpoint)
        withdrawn = []
        if start:
            self.sched.queues_started()
        else:
            withdrawn = self.sched.queues_stopped(
                self.queues.covered({q.name for q in chosen}))
        if not nocheckpoint:
            # the checkpoint keeps what was last said without --nocheckpoint
            self.write_checkpoint()
            await self.batcher.flush()
        await _settled(withdrawn, self._clock, _WITHDRAW_WAIT)
        return None

    def check_job(self, prepared):
        """The queue check of one new job (:class:`IJobSubmit`): give a
        job without a queue the configured default queue
        (``policy.jobspec.defaults.system.queue``), then refuse an unknown
        or disabled queue, or a missing one, with flux-core's message.

        :param prepared: job-ingest's dict (``jobspec`` and
            ``jobspec_text`` are updated when the default is applied).
        """
        if self.queues.apply_default_queue(prepared["jobspec"]):
            prepared["jobspec_text"] = json.dumps(
                prepared["jobspec"], separators=(",", ":"),
                ensure_ascii=False).encode()
        self.queues.check_submit(prepared["jobspec"])

    def reconfigure(self, config):
        """A reloaded config (:class:`fluxd.interfaces.IReconfigurable`):
        the queues it defines, or a refusal naming a queue that it removes
        while that queue still has jobs."""
        active = [j for j in self._jobs.values() if j.state != J.INACTIVE]
        self.queues.check_reconfigure(config, active)
        # jobtap plugins' conf.update may refuse it (a bad limit)
        self.jobtap.conf_update(config.as_dict())
        self.queues.reconfigure(config, active)
        self.housekeeping.configure(config)
        self._config = config
        self.sched.queues_started()
        self.write_checkpoint()

    @method("drain")
    def rpc_drain(self, request):
        """``{}`` -> ``{}`` once no job is active (``flux queue drain``)."""
        done = defer.Deferred()
        self._drains.add(request, False, done)
        return done

    @method("idle")
    def rpc_idle(self, request):
        """``{}`` -> ``{pending}`` once no job is running and no alloc
        request is outstanding (``flux queue idle``)."""
        done = defer.Deferred()
        self._drains.add(request, True, done)
        return done
