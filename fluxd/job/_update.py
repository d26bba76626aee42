# -*- test-case-name: tests.unit.job.test_update -*-
"""``job-manager.update {id, updates}``: change an active job's jobspec
(flux-update(1); flux-core's job-manager update service).

Every key of ``updates`` (dotted, starting with ``attributes.``) must be
allowed by a ``job.update.KEY`` jobtap callback (else ``update of KEY not
supported``); a callback refuses with its message, or returns
``validated`` (no re-validation needed for this key), ``feasibility``
(ask the scheduler whether the updated job can ever run) and ``updates``
(more keys to set with it).  Unless every key was ``validated``, the
updated jobspec goes through the ``job.validate`` plugins (policy
limits...).  All updates apply or none: one ``jobspec-update`` event whose
context is the updated keys.  When the instance owner updates a guest's
job past validation, the job is marked ``immutable`` (``set-flags``) and
its owner may not update it again (``job is immutable due to previous
instance owner update``).

``attributes.system.job.name`` is allowed here without a plugin.  A
running job's new duration becomes a new expiration (its R's start time
plus the duration): the scheduler is asked first (``sched.expiration``;
ENOSYS is no refusal), then ``resource-update {expiration}`` is posted
and the exec service told (``job-exec.expiration``).
"""

import copy
import errno

from fluxd.errors import FluxError, InvalidArgument, PermissionDenied
from fluxd.job import jobs as J
from fluxd.job._jobtapapi import JobtapError
from fluxd.message.router import method
from fluxd.message.types import ROLE_OWNER, ROLE_USER

__all__ = ["UpdateMethods"]

DURATION = "attributes.system.duration"
NAME = "attributes.system.job.name"
#: keys the update service allows itself (no jobtap plugin needed)
_ALLOWED = {NAME: lambda v: isinstance(v, str) and bool(v)}


def updated_jobspec(jobspec, updates):
    """A copy of ``jobspec`` with ``updates`` applied."""
    spec = copy.deepcopy(jobspec)
    for key, value in updates.items():
        J.set_path(spec, key, value)
    return spec


class UpdateMethods:
    """Mixed into :class:`fluxd.job.manager.JobManagerService`."""

    @method("update", roles=ROLE_USER)
    async def rpc_update(self, request):
        """``{id, updates, urgency?}`` -> ``{}`` once the events are
        durable.  ``urgency`` (``flux update ID urgency=N``) is checked
        with the jobspec updates, all before any is applied, and posted
        as the ``urgency`` event of ``job-manager.urgency``."""
        body = request.json()
        updates = body.get("updates", {})
        urgency = body.get("urgency")
        if not isinstance(updates, dict) or not all(
                isinstance(k, str) and k.startswith("attributes.")
                and all(k.split(".")) for k in updates) \
                or not (updates or urgency is not None):
            raise InvalidArgument("one or more jobspec updates are invalid")
        job = self._job(body)
        if job.state == J.INACTIVE:
            raise InvalidArgument("job is inactive")
        if not request.is_owner and request.userid != job.userid:
            raise PermissionDenied("guests may only update their own jobs")
        if J.has_flag(job, "immutable") and not request.is_owner:
            raise PermissionDenied("job is immutable due to previous"
                                   " instance owner update")
        if urgency is not None:
            self.check_urgency(request, job, urgency)
        if not updates:
            self.post_urgency(request, job, urgency)
            await self.batcher.flush()
            return {}
        updates = dict(updates)
        validate, feasibility = self._allow_updates(request, job, updates)
        spec = updated_jobspec(job.jobspec or {}, updates)
        if validate:
            try:
                self.jobtap.call("job.validate", job, jobspec=spec)
            except JobtapError as exc:
                raise InvalidArgument(str(exc) or "rejected by job-manager"
                                      " plugin") from None
        if feasibility:
            await self._feasible(job, spec)
        expiration = None
        if job.state & J.RUNNING and DURATION in updates:
            expiration = self._new_expiration(job, updates[DURATION])
            await self._sched_expiration(job, expiration)
        if job.state == J.INACTIVE:
            raise InvalidArgument("job is inactive")
        if not validate and request.is_owner \
                and request.userid != job.userid:
            self.post(job, "set-flags", {"flags": ["immutable"]})
        self.post(job, "jobspec-update", updates)
        if job.id in self.sched.outstanding:
            # the scheduler has the old jobspec: ask again with the new
            self.sched.cancel(job)
        if expiration is not None and job.state & J.RUNNING:
            self.post(job, "resource-update", {"expiration": expiration})
            self.router.call("job-exec.expiration", {
                "id": job.id, "expiration": expiration},
                cred=self.router.instance_cred).addErrback(
                lambda f: self.log.warn(
                    "job {id}: job-exec.expiration: {why}", id=job.id,
                    why=f.getErrorMessage()))
        self.jobtap.call("job.update", job, updates=updates)
        if urgency is not None:
            self.post_urgency(request, job, urgency)
        await self.batcher.flush()
        return {}

    def check_urgency(self, request, job, urgency):
        """Whether ``request`` may set ``job``'s urgency to ``urgency``.

        :raises InvalidArgument: out of range, or resources allocated.
        :raises PermissionDenied: a guest above the default.
        """
        if not isinstance(urgency, int) or isinstance(urgency, bool) \
                or not 0 <= urgency <= 31:
            raise InvalidArgument("urgency value is out of range")
        if not request.is_owner and urgency > max(J.URGENCY_DEFAULT,
                                                  job.urgency):
            raise PermissionDenied("guests can only adjust urgency <= default")
        if job.has_resources:
            raise InvalidArgument("urgency cannot be changed once resources"
                                  " are allocated")

    def post_urgency(self, request, job, urgency):
        """Post the ``urgency`` event (checked by :meth:`check_urgency`)."""
        self.post(job, "urgency", {"userid": request.userid,
                                   "urgency": urgency})
        if job.state == J.SCHED:
            self.sched.enqueue(job)

    def _allow_updates(self, request, job, updates):
        """``job.update.KEY`` for each key (and the keys they add).

        :returns: ``(validate, feasibility)``.
        """
        validate = feasibility = False
        cred = {"userid": request.userid,
                "rolemask": ROLE_OWNER if request.is_owner else ROLE_USER}
        extra = {}
        for key, value in updates.items():
            check = _ALLOWED.get(key)
            if check is not None:
                if not check(value):
                    raise InvalidArgument(f"invalid value for {key}")
                validate = True
                continue
            topic = "job.update." + key
            if not self.jobtap.handlers(topic):
                raise InvalidArgument(f"update of {key} not supported")
            try:
                outputs = self.jobtap.call(topic, job, cred=cred, key=key,
                                           value=value)
            except JobtapError as exc:
                raise InvalidArgument(str(exc) or "update rejected by"
                                      " job-manager plugin") from None
            if not any(out.get("validated") for out in outputs):
                validate = True
            if any(out.get("feasibility") for out in outputs):
                feasibility = True
            for out in outputs:
                extra.update(out.get("updates") or {})
        updates.update(extra)
        return validate, feasibility

    async def _feasible(self, job, spec):
        try:
            await self.router.call("feasibility.check", {
                "jobspec": spec, "userid": job.userid},
                cred=self.router.instance_cred)
        except FluxError as exc:
            if exc.errno != errno.ENOSYS:
                raise FluxError(str(exc), errnum=exc.errno) from None

    def _new_expiration(self, job, duration):
        if not isinstance(duration, (int, float)) or isinstance(
                duration, bool):
            raise InvalidArgument("duration must be a number")
        if duration == 0:
            return 0.0
        execution = (job.R or {}).get("execution") or {}
        start = execution.get("starttime") or 0
        if not start or start <= 0:
            raise InvalidArgument("unable to get job starttime")
        expiration = float(start) + float(duration)
        if expiration <= self._clock.seconds():
            raise InvalidArgument("requested duration places job"
                                  " expiration in the past")
        return expiration

    async def _sched_expiration(self, job, expiration):
        try:
            await self.router.call("sched.expiration", {
                "id": job.id, "expiration": expiration},
                cred=self.router.instance_cred)
        except FluxError as exc:
            if exc.errno != errno.ENOSYS:
                raise FluxError("scheduler refused expiration update",
                                errnum=exc.errno) from None

