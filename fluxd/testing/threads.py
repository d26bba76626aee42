# -*- test-case-name: tests.contracts.test_content_store -*-
"""A stand-in for the reactor's ``callFromThread``, for tests of code
that runs work in real threads (the sqlite content store).

Calls from worker threads are queued; :meth:`ThreadedCalls.settle` runs
them in the test's thread until a Deferred fires.  It blocks on the
queue (an event), never sleeps, and gives up after ``timeout`` seconds
so a broken worker fails the test instead of hanging it.
"""

import queue


class ThreadedCalls:
    """Collects ``callFromThread`` calls; runs them on demand."""

    def __init__(self, timeout=30.0):
        self._calls = queue.SimpleQueue()
        self.timeout = timeout

    def callFromThread(self, f, *args, **kwargs):
        self._calls.put((f, args, kwargs))

    def run_pending(self):
        """Run the calls queued so far without waiting."""
        while True:
            try:
                f, args, kwargs = self._calls.get_nowait()
            except queue.Empty:
                return
            f(*args, **kwargs)

    def settle(self, d):
        """Run queued calls until ``d`` has fired; return its result.

        :raises Exception: the Deferred's failure, re-raised.
        :raises TimeoutError: when nothing arrives within ``timeout``.
        """
        results = []
        d.addBoth(results.append)
        while not results:
            try:
                f, args, kwargs = self._calls.get(timeout=self.timeout)
            except queue.Empty:
                raise TimeoutError("no result from the worker thread") from None
            f(*args, **kwargs)
        result = results[0]
        if hasattr(result, "raiseException"):
            result.raiseException()
        return result
