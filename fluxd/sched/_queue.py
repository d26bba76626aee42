# -*- test-case-name: tests.unit.sched.test_service -*-
"""The scheduler's queue of alloc requests (pure).

Ordered as sched-simple orders its queue: higher priority first, then
lower job id (older first).  A heap with lazy deletion, so that push,
pop, cancel and reprioritize cost O(log n) with thousands of jobs
queued in unlimited mode; dead entries are swept once they outnumber the
live ones.
"""

import heapq
import itertools

__all__ = ["AllocQueue"]


class AllocQueue:
    """Pending jobs, each with ``id`` and ``priority`` attributes."""

    def __init__(self):
        self._heap = []
        self._entries = {}
        self._seq = itertools.count()

    def __len__(self):
        return len(self._entries)

    def __contains__(self, jobid):
        return jobid in self._entries

    def get(self, jobid):
        """The queued job with that id, or None."""
        entry = self._entries.get(jobid)
        return None if entry is None else entry[1]

    def push(self, job):
        """Queue ``job`` (its id must not be queued)."""
        # the sequence number breaks ties with a dead entry of the same job
        entry = [(-job.priority, job.id, next(self._seq)), job]
        self._entries[job.id] = entry
        heapq.heappush(self._heap, entry)

    def peek(self):
        """The first job, or None."""
        heap = self._heap
        while heap and heap[0][1] is None:
            heapq.heappop(heap)
        return heap[0][1] if heap else None

    def pop(self):
        """Remove and return the first job (None when empty)."""
        job = self.peek()
        if job is not None:
            heapq.heappop(self._heap)
            del self._entries[job.id]
        return job

    def remove(self, jobid):
        """Take a job out wherever it is; returns it, or None."""
        entry = self._entries.pop(jobid, None)
        if entry is None:
            return None
        job, entry[1] = entry[1], None
        if len(self._heap) > 2 * len(self._entries) + 64:
            self._heap = [e for e in self._heap if e[1] is not None]
            heapq.heapify(self._heap)
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
        return [entry[1] for entry in self._entries.values()]
