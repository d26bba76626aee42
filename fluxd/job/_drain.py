# -*- test-case-name: tests.unit.job.test_manager_drain -*-
"""``job-manager.drain`` and ``job-manager.idle`` (flux-core's drain.c),
behind ``flux queue drain`` and ``flux queue idle``.

A drain request is answered ``{}`` once no job is active; an idle request
``{"pending": N}`` once no job is in RUN or CLEANUP and no alloc request
is outstanding (N: the active jobs left, all pending).  As in flux-core,
the answer waits for the job manager's KVS commits in flight, so that a
client reading job data afterwards finds it.  Requests still waiting
when the job manager stops get ENOSYS ``job-manager is unloading``.
"""

import errno

from fluxd.errors import FluxError
from fluxd.job import jobs as J

__all__ = ["DrainWaiters"]


class DrainWaiters:
    """The drain and idle requests waiting on one job manager.

    :param manager: the job manager (``active_count``, ``jobs``,
        ``sched.outstanding``, ``batcher``).
    """

    def __init__(self, manager):
        self._manager = manager
        self._drain = []
        self._idle = []

    def add(self, request, idle, done):
        """Answer ``request`` through the Deferred ``done`` when the
        condition holds (at once if it does)."""
        waiters = self._idle if idle else self._drain
        waiters.append(done)

        def cancelled():
            if done in waiters:
                waiters.remove(done)
        request.on_cancel(cancelled)
        self.check()

    def check(self):
        """Answer the waiters whose condition now holds."""
        manager = self._manager
        if not self._drain and not self._idle:
            return
        active = manager.active_count()
        if self._drain and active == 0:
            waiters, self._drain = self._drain, []
            self._answer(waiters, {})
        if self._idle and not manager.sched.outstanding:
            running = sum(1 for job in manager.jobs()
                          if job.state & J.RUNNING)
            if running == 0:
                waiters, self._idle = self._idle, []
                self._answer(waiters, {"pending": active})

    def _answer(self, waiters, answer):
        def respond(_):
            for d in waiters:
                if not d.called:
                    d.callback(dict(answer))
        self._manager.batcher.flush().addCallback(respond)

    def stop(self):
        """The job manager stops: fail every waiter."""
        waiters = self._drain + self._idle
        self._drain, self._idle = [], []
        for d in waiters:
            if not d.called:
                d.errback(FluxError("job-manager is unloading",
                                    errnum=errno.ENOSYS))
