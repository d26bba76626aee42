# -*- test-case-name: tests.unit.job.test_manager_drain -*-
"""``job-manager.wait`` (flux-core's wait.c), for ``flux job wait``.

Only jobs submitted with the ``waitable`` flag can be waited for, once
each: the first wait takes the job's result.  A wait for ANY takes the
first waitable job to end (or one that already ended).  Every refusal is
ECHILD with flux-core's wording, on which ``flux job wait`` exits 2:
``job was not submitted with FLUX_JOB_WAITABLE``, ``job id already has
a waiter``, ``invalid job id, or job may be inactive and not waitable``,
``there are no more waitable jobs``.
"""

import errno

from twisted.internet import defer

from fluxd.errors import FluxError, PermissionDenied
from fluxd.job import jobs as J
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER

__all__ = ["WaitMethods", "NOT_WAITABLE"]

NOT_WAITABLE = "invalid job id, or job may be inactive and not waitable"


class WaitMethods:
    """The job manager's waiting, mixed into
    :class:`fluxd.job.manager.JobManagerService` (which has the jobs:
    ``_jobs``, ``_job``, ``_waiters``, ``_any_waiters``, ``_unwaited``).
    """

    def _became_inactive(self, job):
        """``job`` is INACTIVE and durable: answer its waiter, or the
        first waiter for any job."""
        if job.waitable:
            waiters = self._waiters.pop(job.id, [])
            if not waiters and self._any_waiters:
                waiters = [self._any_waiters.pop(0)]
            if waiters:
                job.waited = True
                for d in waiters:
                    d.callback(self._wait_answer(job))

    @staticmethod
    def _wait_answer(job):
        answer = {"id": job.id, "success": job.result == J.COMPLETED,
                  "errstr": ""}
        if job.result != J.COMPLETED:
            if job.exception_occurred and job.exception_severity == 0:
                answer["errstr"] = (f"Fatal exception type={job.exception_type}"
                                    f" {job.exception_note}").rstrip()
            elif job.waitstatus:
                answer["errstr"] = _status_text(job.waitstatus)
        return answer

    def _durable_answer(self, job):
        # the records run ahead of the disk: an inactive job is answered
        # once its last events are durable
        return self.durable().addCallback(lambda _: self._wait_answer(job))

    @method("wait", roles=ROLE_USER)
    def rpc_wait(self, request):
        """``{id}``: wait for a waitable job (or any) to become inactive.

        Errors are ECHILD with flux-core's wording (``flux job wait``
        exits 2 on them)."""
        body = request.json()
        jobid = body.get("id")
        if jobid == J.ANY_JOB:
            return self._wait_any(request)
        job = self._job(body, wait=True)
        if not request.is_owner and request.userid != job.userid:
            raise PermissionDenied("guests can only wait for their own jobs")
        if job.state != J.INACTIVE and not job.waitable:
            raise FluxError("job was not submitted with FLUX_JOB_WAITABLE",
                            errnum=errno.ECHILD)
        if not job.waitable or job.waited:
            raise FluxError(NOT_WAITABLE, errnum=errno.ECHILD)
        if job.state == J.INACTIVE:
            job.waited = True
            return self._durable_answer(job)
        if self._waiters.get(job.id):
            raise FluxError("job id already has a waiter",
                            errnum=errno.ECHILD)
        done = defer.Deferred()
        self._waiters[job.id] = [done]
        return done

    def _wait_any(self, request):
        # forget reaped or purged jobs at the front, then look for one
        while self._unwaited and (self._jobs.get(self._unwaited[0]) is None
                                  or self._jobs[self._unwaited[0]].waited):
            self._unwaited.popleft()
        mine = [job for job in map(self._jobs.get, self._unwaited)
                if job is not None and not job.waited
                and (request.is_owner or job.userid == request.userid)]
        for job in mine:
            if job.state == J.INACTIVE:
                job.waited = True
                return self._durable_answer(job)
        if not mine:
            raise FluxError("there are no more waitable jobs",
                            errnum=errno.ECHILD)
        done = defer.Deferred()
        self._any_waiters.append(done)
        return done


def _status_text(status):
    if status & 0x7F:
        return f"task(s) killed by signal {status & 0x7F}"
    return f"task(s) exited with exit code {(status >> 8) & 0xFF}"
