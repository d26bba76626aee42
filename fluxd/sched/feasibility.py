# -*- test-case-name: tests.unit.sched.test_with_manager -*-
"""``feasibility.check`` (RFC 27): whether a jobspec could ever run on
the instance, asked of the scheduler's policy (the ``feasibility`` job
validator calls it at submission)."""

import errno

from fluxd.errors import FluxError, InvalidArgument, ProtocolError
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module
from fluxd.sched.policy import InvalidRequest, Unsatisfiable
from fluxd.sched.request import request_of

__all__ = ["FeasibilityService"]


class FeasibilityService(Module):
    """``feasibility.check {jobspec}`` (RFC 27): empty success, or the
    reason the instance could never run the job.

    :param sched: the :class:`~fluxd.sched.service.SchedulerService` whose
        policy decides (once it has the resources).
    """

    name = "feasibility"

    def __init__(self, sched):
        super().__init__(0)
        self.sched = sched

    @method("check", roles=ROLE_USER)
    async def rpc_check(self, request):
        """Check one jobspec against the instance's resources."""
        jobspec = request.json().get("jobspec")
        if not isinstance(jobspec, dict):
            raise ProtocolError("jobspec must be an object")
        await self.sched.when_resources()
        try:
            self.sched.policy.check(request_of(jobspec))
        except Unsatisfiable as exc:
            raise FluxError(str(exc), errnum=errno.EOVERFLOW) from None
        except InvalidRequest as exc:
            raise InvalidArgument(str(exc)) from None
        return {}
