# -*- test-case-name: tests.contracts.test_content_store -*-
"""The sqlite side of :class:`fluxd.kvs.content.SqliteContentStore`.

Each sqlite connection lives in one dedicated thread (:class:`ThreadWorker`)
and never leaves it: the writer thread owns the connection that writes,
a reader thread owns another for loads (WAL mode lets it read while the
writer commits).  The reactor thread only queues work and receives the
results through ``callFromThread``; :class:`InlineWorker` runs the same
functions synchronously for unit tests.

The functions below run inside a worker thread, with its connection as
their first argument.  Schema (``content.sqlite``)::

    meta(name TEXT PRIMARY KEY, value TEXT)         -- hash, schema version
    objects(hash BLOB PRIMARY KEY, size INTEGER,    -- raw digest, length,
            encoding INTEGER, object BLOB)          --   0 raw / 1 zlib
    roots(namespace TEXT PRIMARY KEY, rootref TEXT, sequence INTEGER,
          owner INTEGER, flags INTEGER, timestamp REAL)
"""

import errno
import functools
import queue
import sqlite3
import threading
import zlib

from twisted.internet import defer
from twisted.python.failure import Failure

from fluxd.errors import FluxError, NotFound

SCHEMA_VERSION = "1"
RAW, ZLIB = 0, 1
#: blobs at least this long are stored zlib-compressed when that helps
COMPRESS_MIN = 256

_STOP = object()


class StoreError(FluxError):
    """content store error"""


def _sqlite_errors(fn):
    """Report sqlite failures as FluxErrors (ENOSPC for a full disk)."""
    @functools.wraps(fn)
    def wrapper(*args):
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            full = isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)
            raise StoreError(f"content store: {exc}",
                             errnum=errno.ENOSPC if full else errno.EIO) from None
    return wrapper


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
        self._conn.close()
        return defer.succeed(None)


# -- functions run in a worker thread ---------------------------------------

@_sqlite_errors
def connect(path, synchronous="FULL", journal_mode="WAL"):
    """Open ``path`` in autocommit mode with the durability pragmas.

    ``synchronous=FULL`` in WAL mode syncs the log at every commit, so a
    committed transaction survives a crash of the process *and* of the
    machine; NORMAL would only survive the former.
    """
    conn = sqlite3.connect(path, isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


@_sqlite_errors
def init_schema(conn, hash_name):
    """Create the tables; check the stored hash matches ``hash_name``.

    :raises StoreError: when the file was written with another hash.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS meta"
                     " (name TEXT PRIMARY KEY, value TEXT)")
        conn.execute("CREATE TABLE IF NOT EXISTS objects"
                     " (hash BLOB PRIMARY KEY, size INTEGER,"
                     " encoding INTEGER, object BLOB)")
        conn.execute("CREATE TABLE IF NOT EXISTS roots"
                     " (namespace TEXT PRIMARY KEY, rootref TEXT,"
                     " sequence INTEGER, owner INTEGER, flags INTEGER,"
                     " timestamp REAL)")
        row = conn.execute("SELECT value FROM meta WHERE name = 'hash'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta VALUES ('hash', ?), ('version', ?)",
                         (hash_name, SCHEMA_VERSION))
        elif row[0] != hash_name:
            raise StoreError(f"content store uses {row[0]} blobrefs but"
                             f" content.hash is {hash_name}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _encode(data):
    if len(data) >= COMPRESS_MIN:
        packed = zlib.compress(data, 1)
        if len(packed) < len(data):
            return ZLIB, packed
    return RAW, data


@_sqlite_errors
def write_batch(conn, blobs, roots):
    """Store blobs and roots in one transaction.

    :param blobs: ``[(digest, data)]``.
    :param roots: ``[(namespace, record or None)]`` in order (None deletes).
    :returns: the number of blobs that were new.
    """
    rows = []
    for digest, data in blobs:
        encoding, stored = _encode(data)
        rows.append((digest, len(data), encoding, stored))
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        conn.executemany("INSERT OR IGNORE INTO objects VALUES (?, ?, ?, ?)",
                         rows)
        added = conn.total_changes - before
        for namespace, rec in roots:
            if rec is None:
                conn.execute("DELETE FROM roots WHERE namespace = ?", (namespace,))
            else:
                conn.execute("INSERT OR REPLACE INTO roots VALUES"
                             " (?, ?, ?, ?, ?, ?)",
                             (namespace, rec["rootref"], rec["sequence"],
                              rec["owner"], rec["flags"], rec["timestamp"]))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return added


@_sqlite_errors
def load_blob(conn, digest):
    """The blob stored under ``digest``.

    :raises NotFound: when there is none.
    """
    row = conn.execute("SELECT encoding, object FROM objects WHERE hash = ?",
                       (digest,)).fetchone()
    if row is None:
        raise NotFound("No such file or directory")
    encoding, data = row
    return zlib.decompress(data) if encoding == ZLIB else bytes(data)


@_sqlite_errors
def read_roots(conn):
    """``{namespace: record}`` from the roots table."""
    out = {}
    for ns, ref, seq, owner, flags, ts in conn.execute(
            "SELECT namespace, rootref, sequence, owner, flags, timestamp"
            " FROM roots"):
        out[ns] = {"rootref": ref, "sequence": seq, "owner": owner,
                   "flags": flags, "timestamp": ts}
    return out


@_sqlite_errors
def checkpoint(conn):
    """Copy the WAL into the database file and truncate it (clean stop)."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@_sqlite_errors
def count_objects(conn):
    """``(count, total size)`` of stored blobs."""
    return tuple(conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0)"
                              " FROM objects").fetchone())
