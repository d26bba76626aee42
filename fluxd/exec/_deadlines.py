# -*- test-case-name: tests.unit.exec.test_testexec -*-
"""Many deadlines on one reactor timer.

The exec service needs two timers per running job (the end of its
simulated run and its time limit); with thousands of jobs, one
``IDelayedCall`` each would be thousands of reactor timers.  A
:class:`Deadlines` keeps them in one heap and holds a single delayed
call for the earliest; cancelling marks an entry dead (swept when dead
entries outnumber live ones).
"""

import heapq
import itertools

__all__ = ["Deadlines"]


class Deadlines:
    """A heap of deadlines served by one delayed call.

    :param clock: IReactorTime.
    :param fire: ``fire(key)`` called when a deadline passes, in
        deadline order (ties: first added first).
    """

    def __init__(self, clock, fire):
        self._clock = clock
        self._fire = fire
        self._heap = []
        self._live = 0
        self._seq = itertools.count()
        self._call = None
        self._call_at = None

    def __len__(self):
        return self._live

    def add(self, when, key):
        """Call ``fire(key)`` at ``when`` (clock seconds).

        :returns: a handle for :meth:`cancel`.
        """
        entry = [when, next(self._seq), key]
        heapq.heappush(self._heap, entry)
        self._live += 1
        if self._call_at is None or when < self._call_at:
            self._arm(when)
        return entry

    def cancel(self, entry):
        """Forget a deadline (no effect once fired or cancelled)."""
        if entry is None or entry[2] is None:
            return
        entry[2] = None
        self._live -= 1
        if len(self._heap) > 2 * self._live + 64:
            self._heap = [e for e in self._heap if e[2] is not None]
            heapq.heapify(self._heap)
        if not self._live:
            self.stop()

    def _arm(self, when):
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call_at = when
        self._call = self._clock.callLater(
            max(0.0, when - self._clock.seconds()), self._run)

    def _run(self):
        self._call = self._call_at = None
        heap = self._heap
        now = self._clock.seconds()
        while heap and (heap[0][2] is None or heap[0][0] <= now):
            entry = heapq.heappop(heap)
            key = entry[2]
            if key is None:
                continue
            entry[2] = None
            self._live -= 1
            self._fire(key)
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
        if heap and self._call is None:
            self._arm(heap[0][0])

    def stop(self):
        """Cancel the reactor timer (the entries stay; :meth:`add` or a
        restart re-arms it)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = self._call_at = None
