# -*- test-case-name: tests.unit.job.test_list -*-
"""The ``job-list`` service (rank 0): job listings for ``flux jobs``.

flux-core's job-list keeps its own copy of every job, rebuilt from the
job manager's journal.  fluxd's reads the job manager's records directly
through :class:`fluxd.interfaces.IJobTable`, so a listing is never behind
the job manager and rank 0 holds each job once (its memory stays flat as
inactive jobs pile up); job-list itself keeps only the ids of the jobs in
listing order (:class:`fluxd.job._listindex.JobIndex`).  What a request
selects and how it is shown is :mod:`fluxd.job._listquery`'s job.

Methods (RFC 43 payloads; guests may use them all and see every job,
unless ``access.private-mode`` is true: then a guest lists only its own
jobs, gets EPERM for another user's job by id and for the job
statistics, which count everyone's):

* ``job-list.list {max_entries, attrs, userid, states, results, since,
  name?, queue?, ids?, ranks?, hosts?}`` -> ``{"jobs": [...]}``;
* ``job-list.list-id {id, attrs, state?}`` -> ``{"job": {...}}``: ENOENT
  for an unknown job; a job not validated yet (NEW) is answered once it
  is, and with ``state`` (a mask of states) once the job is in one of
  them or inactive;
* ``job-list.list-attrs`` -> ``{"attrs": [...]}``;
* ``job-list.history {slice}`` (fluxd) -> ``{"jobs": [id...]}``: the
  requester's jobs, most recently submitted first, cut by a Python-style
  slice (what flux's job-manager ``history.get`` answers ``flux job
  last``);
* ``job-list.job-stats`` -> counts per state and result, overall and per
  queue, with the number of inactive jobs purged since job-list started.
"""

import errno

from twisted.internet import defer

from zope.interface import implementer

from fluxd.errors import FluxError, NotFound, PermissionDenied, ProtocolError
from fluxd.interfaces import IJobTable, IReconfigurable, provide
from fluxd.job import jobs as J
from fluxd.job._listindex import JobIndex
from fluxd.job._listquery import (
    ALL_ATTRS, EXTRA_ATTRS, USERID_ANY, Query, became_inactive, check_attrs,
    count_inactive, history, job_attrs, job_stats, list_jobs, listed)
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module

__all__ = ["JobListService"]


@implementer(IReconfigurable)
class JobListService(Module):
    """Job listings read from the job manager's table.

    :param table: the job manager (:class:`IJobTable`).
    :param rank: this broker's rank (job-list runs on rank 0).
    """

    name = "job-list"

    def __init__(self, table, rank=0, private_mode=False):
        super().__init__(rank)
        self.table = provide(IJobTable, table)
        self.private_mode = private_mode
        self.index = JobIndex(self.table)
        self._inactive_seen = {}
        self._waiters = {}
        self._remove_observer = None
        self.stats = {"list": 0, "list-id": 0}

    def startService(self):
        super().startService()
        self._inactive_seen = count_inactive(self.table.jobs())
        self.index.load()
        self._remove_observer = self.table.add_observer(self._observe)

    def stopService(self):
        super().stopService()
        if self._remove_observer is not None:
            self._remove_observer()
            self._remove_observer = None
        waiters, self._waiters = self._waiters, {}
        for entries in waiters.values():
            for _, d in entries:
                d.errback(FluxError("job-list is shutting down",
                                    errnum=errno.ENOSYS))

    def _observe(self, job, entry):
        self.index.observe(job, entry)
        if became_inactive(job, entry):
            seen = self._inactive_seen
            seen[None] = seen.get(None, 0) + 1
            if job.queue is not None:
                seen[job.queue] = seen.get(job.queue, 0) + 1
        waiting = self._waiters.get(job.id)
        if waiting:
            ready = [(mask, d) for mask, d in waiting
                     if _reached(job, mask)]
            for item in ready:
                waiting.remove(item)
            if not waiting:
                del self._waiters[job.id]
            for _, d in ready:
                d.callback(job)

    def reconfigure(self, config):
        """Follow ``access.private-mode``."""
        self.private_mode = bool(config.get("access.private-mode", False))

    def _private(self, request):
        """Whether this request may see only its own jobs."""
        return self.private_mode and not request.is_owner

    # -- methods -----------------------------------------------------------

    @method("list", roles=ROLE_USER)
    def rpc_list(self, request):
        """``job-list.list``: the selected jobs, in job-list's order."""
        self.stats["list"] += 1
        query = Query(request.json())
        if self._private(request):
            if query.userid not in (USERID_ANY, request.userid):
                return {"jobs": []}
            query.userid = request.userid
        return {"jobs": list_jobs(self.index, query)}

    @method("list-id", roles=ROLE_USER)
    async def rpc_list_id(self, request):
        """``job-list.list-id {id, attrs, state?}`` -> ``{"job": {...}}``."""
        self.stats["list-id"] += 1
        body = request.json()
        jobid = body.get("id")
        if not isinstance(jobid, int) or isinstance(jobid, bool) or jobid < 0:
            raise ProtocolError("invalid payload: id must be a job id")
        attrs = check_attrs(body.get("attrs", []))
        mask = body.get("state", 0)
        if not isinstance(mask, int) or isinstance(mask, bool) or mask < 0:
            raise ProtocolError("invalid payload: state must be a state mask")
        job = self.table.get(jobid)
        if job is None:
            raise NotFound("unknown job id")
        if not _reached(job, mask):
            d = defer.Deferred()
            entry = (mask, d)
            self._waiters.setdefault(jobid, []).append(entry)
            request.on_cancel(lambda: self._forget(jobid, entry))
            job = await d
        if not listed(job):
            raise NotFound("unknown job id")
        if self._private(request) and job.userid != request.userid:
            raise PermissionDenied("access is restricted to job/instance"
                                   " owner")
        return {"job": job_attrs(job, attrs)}

    def _forget(self, jobid, entry):
        waiting = self._waiters.get(jobid)
        if waiting and entry in waiting:
            waiting.remove(entry)
            if not waiting:
                del self._waiters[jobid]

    @method("list-attrs", roles=ROLE_USER)
    def rpc_list_attrs(self, request):
        """``job-list.list-attrs`` -> ``{"attrs": [...]}``."""
        return {"attrs": list(ALL_ATTRS) + list(EXTRA_ATTRS)}

    @method("history", roles=ROLE_USER)
    def rpc_history(self, request):
        """``job-list.history {slice}`` -> ``{"jobs": [id...]}``."""
        text = request.json().get("slice", "[:1]")
        return {"jobs": history(self.table.jobs(), request.userid, text)}

    @method("job-stats", roles=ROLE_USER)
    def rpc_job_stats(self, request):
        """``job-list.job-stats``: counts per state and result."""
        if self._private(request):
            raise PermissionDenied("job statistics are not available to"
                                   " guests in private mode")
        return job_stats(self.table.jobs(), self._inactive_seen)


def _reached(job, mask):
    """A job not yet validated is waited for; with a state mask, until it
    is in one of those states (or inactive, when it can go no further)."""
    if job.state == J.NEW:
        return False
    return not mask or bool(job.state & mask) or job.state == J.INACTIVE
