# -*- test-case-name: tests.unit.job.test_manager -*-
"""Purging inactive jobs from the job manager and the KVS: by the
``[job-manager]`` ``inactive-age-limit``/``inactive-num-limit`` policy on a
timer, and on request (``job-manager.purge``, flux-job purge(1)).

Purged jobs leave the table, their ``job.<id>`` directories are unlinked
in batches of :data:`PURGE_BATCH` (one KVS commit each, as flux-core) and
``job-purge-inactive`` is published for each batch.
"""

from collections import deque

from fluxd.errors import InvalidArgument, NotFound
from fluxd.formats import fluid
from fluxd.job import jobs as J
from fluxd.job.jobs import job_key
from fluxd.message.router import method

__all__ = ["PurgeMethods", "PURGE_BATCH"]

#: jobs unlinked per KVS commit when purging (flux-core's batch size)
PURGE_BATCH = 100


class PurgeMethods:
    """Mixin of :class:`~fluxd.job.manager.JobManagerService`: purging
    inactive jobs."""

    def purge(self, age_limit=None, num_limit=None, jobids=None, force=True):
        """Purge inactive jobs: those older than ``age_limit`` seconds and
        the oldest beyond ``num_limit``, or exactly ``jobids``.

        :returns: ``(count, remaining)``; with ``force`` False nothing is
            removed and count is what would be.
        """
        now = self._clock.seconds()
        if jobids is not None:
            chosen = []
            for jobid in jobids:
                job = self._jobs.get(jobid)
                if job is None:
                    raise NotFound(f"{fluid.encode(jobid, 'f58')}: unknown"
                                   " job id")
                if job.state != J.INACTIVE:
                    raise InvalidArgument(f"{fluid.encode(jobid, 'f58')}:"
                                          " job is not inactive")
                chosen.append(job)
        else:
            ordered = sorted(self._inactive, key=lambda j: j.t_inactive)
            chosen = []
            excess = len(ordered) - num_limit if num_limit is not None else 0
            for i, job in enumerate(ordered):
                if i < excess or (age_limit is not None
                                  and now - job.t_inactive > age_limit):
                    chosen.append(job)
        remaining = len(self._inactive) - (len(chosen) if force else 0)
        if force and chosen:
            self._unlink(chosen)
        return len(chosen), remaining

    def _unlink(self, chosen):
        gone = {job.id for job in chosen}
        self._inactive = deque(j for j in self._inactive if j.id not in gone)
        self.write_checkpoint()
        for start in range(0, len(chosen), PURGE_BATCH):
            batch = chosen[start:start + PURGE_BATCH]
            for job in batch:
                self._jobs.pop(job.id, None)
                self.batcher.unlink(job_key(job.id))
                self.jobtap.on_purge(job)
            self.events.publish("job-purge-inactive",
                                {"jobs": [job.id for job in batch]},
                                cred=self.router.instance_cred)

    def _purge_by_policy(self):
        count, _ = self.purge(self.age_limit, self.num_limit)
        if count:
            self.log.debug("purged {n} inactive jobs", n=count)

    @method("purge")
    async def rpc_purge(self, request):
        """``{age_limit?, num_limit?, force, jobs?}`` -> ``{count,
        remaining}``."""
        body = request.json()
        age, num, ids = body.get("age_limit"), body.get("num_limit"), \
            body.get("jobs")
        if age is not None and (not isinstance(age, (int, float))
                                or isinstance(age, bool) or age < 0):
            raise InvalidArgument("age limit must be >= 0")
        if num is not None and (not isinstance(num, int)
                                or isinstance(num, bool) or num < 0):
            raise InvalidArgument("num limit must be >= 0")
        if ids is not None and not (isinstance(ids, list) and all(
                isinstance(i, int) for i in ids)):
            raise InvalidArgument("jobs must be a list of job ids")
        count, remaining = self.purge(age, num, ids,
                                      force=bool(body.get("force")))
        await self.batcher.flush()
        return {"count": count, "remaining": remaining}
