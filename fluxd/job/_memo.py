# -*- test-case-name: tests.unit.job.test_memo -*-
"""``job-manager.memo {id, volatile, memo}``: user annotations of a job
(flux-job(1) ``memo``; flux-core's job-manager memo service).

A memo is merged into the job's ``annotations.user`` the way scheduler
annotations merge (objects recursively, a null removes its key, an
object left empty goes).  Unless ``volatile``, it is posted as an RFC 21
``memo`` event whose context is the memo itself, so that it is in the
job's eventlog and comes back when the job manager replays it at
restart (:func:`fluxd.job.jobs.apply` merges it again); a volatile memo
lives in memory only.  job-list shows a job's annotations as they are,
so ``flux jobs -o {user.KEY}`` sees either kind.

A nested instance (``flux batch``/``flux alloc``) announces itself this
way: its rank 0 posts ``{"uri": "local://..."}`` as a memo of its job,
which ``flux uri``, ``flux proxy`` and ``flux pstree`` read.

Only the job's owner or the instance owner may add a memo, and only to an
active job (flux-core looks the id up among active jobs: an inactive job
is an ``unknown job id``).
"""

import errno

from fluxd.errors import FluxError, NotFound, PermissionDenied
from fluxd.job import jobs as J
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER

__all__ = ["MemoMethods", "check_memo"]


def check_memo(body):
    """The ``(volatile, memo)`` of a ``job-manager.memo`` payload.

    :raises FluxError: EPROTO for a memo that is not an object or a
        ``volatile`` that is not a boolean.
    """
    memo = body.get("memo")
    volatile = body.get("volatile", False)
    if not isinstance(memo, dict):
        raise FluxError("memo must be an object", errnum=errno.EPROTO)
    if not isinstance(volatile, bool):
        raise FluxError("volatile must be a boolean", errnum=errno.EPROTO)
    return volatile, memo


class MemoMethods:
    """Mixed into :class:`fluxd.job.manager.JobManagerService`."""

    @method("memo", roles=ROLE_USER)
    async def rpc_memo(self, request):
        """``{id, volatile, memo}`` -> ``{}``; a non-volatile memo is
        answered once its ``memo`` event is durable."""
        body = request.json()
        volatile, memo = check_memo(body)
        job = self._job(body)
        if job.state == J.INACTIVE:
            raise NotFound("unknown job id")
        if not request.is_owner and request.userid != job.userid:
            raise PermissionDenied("guests can only add a memo to their"
                                   " own jobs")
        if volatile:
            job.annotations = J.merge_annotations(
                job.annotations, {"user": memo}) or None
            return {}
        self.post(job, "memo", memo)
        await self.batcher.flush()
        return {}
