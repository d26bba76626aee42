# -*- test-case-name: tests.unit.job.test_manager -*-
"""The job queue's enable (submission) and start (scheduling) flags.

Without ``[queues]`` an instance has one anonymous queue (RFC 33).  It
starts enabled and started, unless the broker came up in safe mode after
a crash: then submission is disabled and scheduling stopped with the
safe-mode reason until the owner runs ``flux queue enable`` and ``flux
queue start``.  The flags and their reasons are kept in
``checkpoint.job-manager`` so that an administrator's ``flux queue stop``
survives a restart (``--nocheckpoint`` skips that).

:class:`QueueMethods` holds the job manager's queue requests:
``queue-status``, ``queue-list``, ``queue-enable``, ``queue-start``, and
``drain`` and ``idle`` (:mod:`fluxd.job._drain`).
"""

from twisted.internet import defer

from fluxd.errors import InvalidArgument
from fluxd.job import jobs as J
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER

__all__ = ["QueueState", "QueueMethods", "DEFAULT_DISABLE_REASON"]

DEFAULT_DISABLE_REASON = "disabled by administrator"
DEFAULT_STOP_REASON = "stopped by administrator"


class QueueState:
    """Enable/start flags of the anonymous queue.

    :param safe_mode: the broker's :class:`fluxd.admin.startlog.SafeMode`
        (kept in step, for ``flux uptime``), or None.
    :param saved: the ``queues`` object of ``checkpoint.job-manager``.
    """

    def __init__(self, safe_mode=None, saved=None):
        self._safe_mode = safe_mode
        self.enable, self.disable_reason = True, None
        self.start, self.stop_reason = True, None
        saved = (saved or {}).get("") or {}
        if saved.get("enable") is False:
            self.enable = False
            self.disable_reason = saved.get("disable_reason")
        if saved.get("start") is False:
            self.start = False
            self.stop_reason = saved.get("stop_reason")
        if safe_mode is not None and safe_mode.active:
            self.enable, self.disable_reason = False, safe_mode.reason
            self.start, self.stop_reason = False, safe_mode.reason

    def set_enable(self, enable, reason=None):
        """Enable or disable submission."""
        self.enable = enable
        self.disable_reason = None if enable else (reason or
                                                   DEFAULT_DISABLE_REASON)
        if self._safe_mode is not None and enable:
            self._safe_mode.enable_submit()

    def set_start(self, start, reason=None):
        """Start or stop scheduling."""
        self.start = start
        self.stop_reason = None if start else reason
        if self._safe_mode is not None and start:
            self._safe_mode.start_scheduling()

    def status(self):
        """The ``job-manager.queue-status`` fields of flux-core."""
        answer = {"enable": self.enable, "start": self.start}
        if not self.enable:
            answer["disable_reason"] = self.disable_reason
        if not self.start and self.stop_reason is not None:
            answer["stop_reason"] = self.stop_reason
        return answer

    def checkpoint(self):
        """What ``checkpoint.job-manager`` keeps (the anonymous queue's key
        is the empty string)."""
        return {"": {"enable": self.enable,
                     "disable_reason": self.disable_reason,
                     "start": self.start, "stop_reason": self.stop_reason}}


class QueueMethods:
    """The queue's requests, mixed into
    :class:`fluxd.job.manager.JobManagerService` (which has ``queue``,
    ``sched``, ``_jobs``, ``_drains``, ``batcher`` and
    ``write_checkpoint``)."""

    def _queue_name(self, body):
        name = body.get("name")
        if name is not None:
            raise InvalidArgument("queues are not configured")
        return name

    @method("queue-status", roles=ROLE_USER)
    def rpc_queue_status(self, request):
        """The anonymous queue's flags, with fluxd's alloc counts."""
        self._queue_name(request.json())
        answer = self.queue.status()
        if self.queue.start and not self.sched.online:
            answer.update(start=False, stop_reason="Scheduler is offline")
        answer.update(alloc_queued=self.sched.pending_count(),
                      alloc_pending=len(self.sched.outstanding),
                      running=sum(1 for j in self._jobs.values()
                                  if j.state & J.RUNNING),
                      scheduler=self.sched.online)
        return answer

    @method("queue-list", roles=ROLE_USER)
    def rpc_queue_list(self, request):
        """``{queues: []}``: no named queues."""
        return {"queues": []}

    @method("queue-enable")
    async def rpc_queue_enable(self, request):
        """``{name?, all, enable, reason?, nocheckpoint?}``."""
        body = request.json()
        self._queue_name(body)
        self.queue.set_enable(bool(body.get("enable")), body.get("reason"))
        if not body.get("nocheckpoint"):
            self.write_checkpoint()
            await self.batcher.flush()
        return None

    @method("queue-start")
    async def rpc_queue_start(self, request):
        """``{name?, all, start, reason?, nocheckpoint?}``."""
        body = request.json()
        self._queue_name(body)
        start = bool(body.get("start"))
        self.queue.set_start(start, body.get("reason"))
        if start:
            self.sched.pump()
        else:
            self.sched.cancel_all()
        if not body.get("nocheckpoint"):
            self.write_checkpoint()
            await self.batcher.flush()
        return None

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
