# -*- test-case-name: tests.unit.job.test_manager -*-
"""The job manager's job-control requests: ``urgency``, ``raise``,
``raiseall``, ``kill`` and ``killall`` (flux-core's job-manager methods of
the same names).

A guest may act on their own jobs only; the instance owner on any.
Exceptions are posted through the manager's event path
(:meth:`~fluxd.job.manager.JobManagerService.raise_exception`), signals
published to the job's shells as ``shell-<id>.kill``.
"""

import errno

from fluxd.errors import FluxError, InvalidArgument, PermissionDenied
from fluxd.job import jobs as J
from fluxd.message.router import Credential, method
from fluxd.message.types import ROLE_OWNER, ROLE_USER

__all__ = ["ControlMethods"]


def authorize(request, job, what):
    """Refuse a guest acting on another user's job (``what``: the verb
    for the message)."""
    if not request.is_owner and request.userid != job.userid:
        raise PermissionDenied(f"guests can only {what} their own jobs")


class ControlMethods:
    """Mixin of :class:`~fluxd.job.manager.JobManagerService`: the
    job-control RPCs."""

    @method("urgency", roles=ROLE_USER)
    async def rpc_urgency(self, request):
        """``{id, urgency}`` -> ``{old_urgency}`` (RFC 30)."""
        body = request.json()
        urgency = body.get("urgency")
        job = self._job(body)
        if job.state == J.INACTIVE:
            raise InvalidArgument("job is inactive")
        authorize(request, job, "reprioritize")
        self.check_urgency(request, job, urgency)
        old = job.urgency
        self.post_urgency(request, job, urgency)
        await self.batcher.flush()
        return {"old_urgency": old}

    @method("raise", roles=ROLE_USER)
    async def rpc_raise(self, request):
        """``{id, severity, type, note}``: raise an exception."""
        body = request.json()
        severity, kind = body.get("severity", 0), body.get("type")
        note = body.get("note") or ""
        _check_exception(severity, kind, note)
        job = self._job(body)
        authorize(request, job, "raise exceptions on")
        if job.state == J.INACTIVE:
            raise InvalidArgument("job is inactive")
        self.raise_exception(job, kind, severity, note, userid=request.userid)
        await self.batcher.flush()
        return None

    def _select(self, request, body, what="raise exceptions on"):
        userid = body.get("userid", request.userid)
        states = body.get("states", J.ACTIVE) or J.ACTIVE
        if not isinstance(userid, int) or not isinstance(states, int):
            raise FluxError("userid and states must be integers",
                            errnum=errno.EPROTO)
        if not request.is_owner and userid != request.userid:
            raise PermissionDenied(f"guests can only {what} their own jobs")
        return [job for job in self._jobs.values()
                if job.state & states and job.state != J.INACTIVE
                and (userid == 0xFFFFFFFF or job.userid == userid)]

    @method("raiseall", roles=ROLE_USER)
    async def rpc_raiseall(self, request):
        """``{dry_run, userid, states, severity, type, note}`` ->
        ``{count, errors}``."""
        body = request.json()
        severity, kind = body.get("severity", 0), body.get("type")
        note = body.get("note") or ""
        _check_exception(severity, kind, note)
        chosen = self._select(request, body)
        if not body.get("dry_run"):
            for job in chosen:
                self.raise_exception(job, kind, severity, note,
                                     userid=request.userid)
            await self.batcher.flush()
        return {"count": len(chosen), "errors": 0}

    @method("kill", roles=ROLE_USER)
    def rpc_kill(self, request):
        """``{id, signum}``: signal a running job's tasks."""
        body = request.json()
        signum = body.get("signum")
        _check_signal(signum)
        job = self._job(body)
        authorize(request, job, "kill")
        if job.state != J.RUN:
            raise InvalidArgument("job is not running")
        self._kill(job, signum)
        return None

    def _kill(self, job, signum):
        self.events.publish(f"shell-{job.id}.kill", {"signum": signum},
                            cred=Credential(job.userid, ROLE_OWNER))

    @method("killall", roles=ROLE_USER)
    def rpc_killall(self, request):
        """``{dry_run, userid, signum}`` -> ``{count, errors}``."""
        body = request.json()
        signum = body.get("signum")
        _check_signal(signum)
        chosen = self._select(request, dict(body, states=J.RUN), "kill")
        if not body.get("dry_run"):
            for job in chosen:
                self._kill(job, signum)
        return {"count": len(chosen), "errors": 0}


def _check_exception(severity, kind, note):
    if not isinstance(severity, int) or isinstance(severity, bool) \
            or not 0 <= severity <= 7:
        raise FluxError("invalid exception severity", errnum=errno.EPROTO)
    if not isinstance(kind, str) or not kind or any(
            c.isspace() or c == "=" for c in kind):
        raise FluxError("invalid exception type", errnum=errno.EPROTO)
    if not isinstance(note, str):
        raise FluxError("invalid exception note", errnum=errno.EPROTO)


def _check_signal(signum):
    if not isinstance(signum, int) or isinstance(signum, bool) \
            or not 0 < signum < 65:
        raise InvalidArgument("invalid signal number")
