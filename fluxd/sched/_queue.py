# -*- test-case-name: tests.unit.sched.test_service -*-
"""The scheduler's queues of alloc requests (pure).

An :class:`AllocQueue` orders its jobs as Flux does: higher priority
first, then lower job id (older first).  It is a sorted list of keys, so
a scheduling pass reads its first ``queue-depth`` jobs without sorting
(:meth:`AllocQueue.head`); push, remove and reprioritize cost a binary
search and a memory move, cheap with thousands of jobs queued in
unlimited mode.  A :class:`QueueSet` keeps one per named queue (jobs
without a queue, or naming one the scheduler was not told of, share the
anonymous one) and answers for all of them by job id.
"""

import bisect

__all__ = ["AllocQueue", "QueueSet"]


class AllocQueue:
    """Pending jobs, each with ``id`` and ``priority`` attributes."""

    def __init__(self):
        self._keys = []
        self._jobs = {}

    def __len__(self):
        return len(self._jobs)

    def __contains__(self, jobid):
        return jobid in self._jobs

    def get(self, jobid):
        """The queued job with that id, or None."""
        return self._jobs.get(jobid)

    def push(self, job):
        """Queue ``job`` (its id must not be queued)."""
        self._jobs[job.id] = job
        bisect.insort(self._keys, (-job.priority, job.id))

    def head(self, count):
        """The first ``count`` jobs, in order (a list)."""
        jobs = self._jobs
        return [jobs[jobid] for _, jobid in self._keys[:count]]

    def peek(self):
        """The first job, or None."""
        return self._jobs[self._keys[0][1]] if self._keys else None

    def pop(self):
        """Remove and return the first job (None when empty)."""
        if not self._keys:
            return None
        _, jobid = self._keys.pop(0)
        return self._jobs.pop(jobid)

    def remove(self, jobid):
        """Take a job out wherever it is; returns it, or None."""
        job = self._jobs.pop(jobid, None)
        if job is not None:
            key = (-job.priority, jobid)
            i = bisect.bisect_left(self._keys, key)
            del self._keys[i]
        return job

    def reprioritize(self, jobid, priority):
        """Give a queued job a new priority (False when not queued)."""
        job = self.remove(jobid)
        if job is None:
            return False
        job.priority = priority
        self.push(job)
        return True

    def jobs(self):
        """The queued jobs, in no particular order."""
        return list(self._jobs.values())


class QueueSet:
    """One :class:`AllocQueue` per queue name; jobs carry ``queue``."""

    def __init__(self, names=()):
        self._queues = {}
        self._where = {}
        self.set_names(names)

    def set_names(self, names):
        """The named queues (jobs of a name no longer known move to the
        anonymous queue)."""
        names = set(names)
        for name in list(self._queues):
            if name is not None and name not in names:
                for job in self._queues.pop(name).jobs():
                    self._where[job.id] = None
                    self._queues.setdefault(None, AllocQueue()).push(job)
        for name in sorted(names):
            self._queues.setdefault(name, AllocQueue())
        self._queues.setdefault(None, AllocQueue())

    def items(self):
        """``(name, AllocQueue)`` pairs, the anonymous queue first, then
        by name."""
        return sorted(self._queues.items(),
                      key=lambda item: (item[0] is not None, item[0] or ""))

    def __len__(self):
        return len(self._where)

    def __contains__(self, jobid):
        return jobid in self._where

    def __bool__(self):
        return bool(self._where)

    def get(self, jobid):
        """The queued job with that id, or None."""
        if jobid not in self._where:
            return None
        return self._queues[self._where[jobid]].get(jobid)

    def push(self, job):
        """Queue ``job`` in its queue (``job.queue``)."""
        name = job.queue if job.queue in self._queues else None
        self._where[job.id] = name
        self._queues[name].push(job)

    def remove(self, jobid):
        """Take a job out; returns it, or None."""
        name = self._where.pop(jobid, 0)
        if name == 0:
            return None
        return self._queues[name].remove(jobid)

    def pop(self):
        """Remove and return some job (None when empty)."""
        for queue in self._queues.values():
            job = queue.pop()
            if job is not None:
                del self._where[job.id]
                return job
        return None

    def heads(self, count):
        """The first ``count`` jobs of each queue."""
        return [job for queue in self._queues.values()
                for job in queue.head(count)]

    def reprioritize(self, jobid, priority):
        """Give a queued job a new priority (False when not queued)."""
        if jobid not in self._where:
            return False
        return self._queues[self._where[jobid]].reprioritize(jobid, priority)

    def jobs(self):
        """Every queued job."""
        return [job for queue in self._queues.values() for job in queue.jobs()]
