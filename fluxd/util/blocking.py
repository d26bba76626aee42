# -*- test-case-name: tests.unit.storage.test_fsync -*-
"""Run a blocking call (an fsync, a small file write) off the reactor thread.

:func:`run_blocking` hands the call to the reactor's thread pool
(``deferToThreadPool``, with the reactor passed in, never the global
one) and returns a Deferred that fires in the reactor thread with its
result.  A clock without a thread pool (``twisted.internet.task.Clock``
in unit tests) runs the call inline instead: such tests have no other
thread to use and check results, not threads.
"""

from twisted.internet import defer, threads

__all__ = ["run_blocking"]


def run_blocking(reactor, fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` in ``reactor``'s thread pool.

    :returns: a Deferred firing with its result (or failure).
    """
    get_pool = getattr(reactor, "getThreadPool", None)
    if get_pool is None:
        return defer.maybeDeferred(fn, *args, **kwargs)
    return threads.deferToThreadPool(reactor, get_pool(), fn, *args, **kwargs)
