# -*- test-case-name: tests.unit.job.test_listquery -*-
"""job-list's order of the job manager's jobs, without a copy of them.

Most jobs of a long-running instance are inactive, and most listings
(``flux jobs``: pending and running jobs; ``flux jobs -a``: the 1000 most
recent) need few of them.  :class:`JobIndex` keeps, from the table's
observer notifications, the ids of the active jobs and the ids of the
inactive ones in the order they became inactive (a few dozen bytes per
job; the records stay the job manager's), so that a listing walks the
active jobs and then the inactive ones newest first, stopping once it has
enough.  Ids of purged jobs are skipped when met and dropped in passing.

Pure Python: no Twisted.
"""

from fluxd.job import jobs as J

__all__ = ["JobIndex"]

#: drop purged ids once this many may have accumulated
_COMPACT_EVERY = 1024


class JobIndex:
    """The ids job-list walks, kept current by :meth:`observe`.

    :param table: the :class:`fluxd.interfaces.IJobTable` (records are
        looked up by id, so purged jobs are simply gone).
    """

    def __init__(self, table):
        self.table = table
        self._active = {}
        self._inactive = []
        self._added = 0

    def load(self):
        """Index the jobs the table holds now (at start)."""
        inactive = []
        self._active = {}
        for job in self.table.jobs():
            if job.state == J.INACTIVE:
                inactive.append((job.t_inactive, job.id))
            else:
                self._active[job.id] = None
        inactive.sort()
        self._inactive = [jobid for _, jobid in inactive]

    def observe(self, job, entry):
        """Follow one durable event (an IJobTable observer)."""
        name = entry.get("name")
        if name == "submit":
            self._active[job.id] = None
        elif name in ("clean", "invalidate") and job.state == J.INACTIVE:
            self._active.pop(job.id, None)
            self._inactive.append(job.id)
            self._added += 1
            if self._added >= _COMPACT_EVERY:
                self.compact()

    def compact(self):
        """Forget the ids of purged jobs."""
        get = self.table.get
        self._inactive = [jobid for jobid in self._inactive
                          if get(jobid) is not None]
        self._added = 0

    def active(self):
        """The active jobs (and those not yet validated), any order."""
        get = self.table.get
        for jobid in list(self._active):
            job = get(jobid)
            if job is not None:
                yield job

    def inactive(self):
        """The inactive jobs, most recently inactive first."""
        get = self.table.get
        for jobid in reversed(self._inactive):
            job = get(jobid)
            if job is not None:
                yield job

    def __len__(self):
        return len(self._active) + len(self._inactive)
