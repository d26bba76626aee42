# -*- test-case-name: tests.contracts.test_content_store -*-
"""The sqlite side of :class:`fluxd.kvs.content.SqliteContentStore`.

Each sqlite connection lives in one dedicated thread (:class:`ThreadWorker`)
and never leaves it: the writer thread owns the connection that writes,
a reader thread owns another for loads (WAL mode lets it read while the
writer commits).  The reactor thread only queues work and receives the
results through ``callFromThread``; :class:`InlineWorker` runs the same
functions synchronously for unit tests.

The functions submitted to a worker run inside its thread, with its
connection as their first argument: the statements of
:mod:`fluxd.storage.sqlitedb` (schema, writes, loads), re-exported here.
"""

import queue
import threading

from twisted.internet import defer
from twisted.python.failure import Failure

# The statements themselves are pure (flux dump/restore use them too).
from fluxd.storage.sqlitedb import (  # noqa: F401  (re-exported)
    COMPRESS_MIN, RAW, SCHEMA_VERSION, ZLIB, CorruptStore, StoreError,
    checkpoint, connect, count_objects, init_schema, load_blob, read_meta,
    read_roots, write_batch)

_STOP = object()


class ThreadWorker:
    """A dedicated thread running queued calls on its own connection.

    :param reactor: provides ``callFromThread`` (results come back there).
    :param name: the thread name.
    :param opener: called in the thread to make the connection.
    """

    def __init__(self, reactor, name, opener):
        self._reactor = reactor
        self._opener = opener
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name,
                                        daemon=True)
        self._stopped = defer.Deferred()
        self._thread.start()

    def submit(self, fn, *args):
        """Run ``fn(connection, *args)`` in the thread.

        :returns: a Deferred firing (in the reactor thread) with its result.
        """
        d = defer.Deferred()
        self._queue.put((fn, args, d))
        return d

    def stop(self):
        """Finish the queued calls, close the connection, end the thread.

        :returns: a Deferred firing once the thread has closed it.
        """
        self._queue.put(_STOP)
        return self._stopped

    def _run(self):
        conn, error = None, None
        try:
            conn = self._opener()
        except Exception:
            error = Failure()
        while True:
            batch = [self._queue.get()]
            # Take whatever else is queued: one hop back to the reactor
            # delivers all of their results.
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            results, stop = [], False
            for item in batch:
                if item is _STOP:
                    stop = True
                    continue
                fn, args, d = item
                if error is not None:
                    results.append((d, error))
                    continue
                try:
                    results.append((d, fn(conn, *args)))
                except Exception:
                    results.append((d, Failure()))
            if results:
                self._reactor.callFromThread(_deliver, results)
            if stop:
                if conn is not None:
                    conn.close()
                self._reactor.callFromThread(self._stopped.callback, None)
                return


def _deliver(results):
    for d, result in results:
        if isinstance(result, Failure):
            d.errback(result)
        else:
            d.callback(result)


class InlineWorker:
    """Runs the same calls synchronously (unit tests, no threads)."""

    def __init__(self, reactor, name, opener):
        self._conn = opener()

    def submit(self, fn, *args):
        return defer.maybeDeferred(fn, self._conn, *args)

    def stop(self):
        if self._conn is not None:
            self._conn.close()
        return defer.succeed(None)
