# -*- test-case-name: tests.unit.storage.test_sqlitedb -*-
"""``content.sqlite`` itself: schema and the statements run on it.

Pure Python (stdlib ``sqlite3``): the broker's content store runs these
functions in its worker threads (:mod:`fluxd.kvs._sqlite`), and ``flux
dump``/``restore``/``fsck`` run them directly on a stopped broker's
statedir.  Each statement function takes the connection as its first
argument.  Schema::

    meta(name TEXT PRIMARY KEY, value TEXT)         -- hash, schema version
    objects(hash BLOB PRIMARY KEY, size INTEGER,    -- raw digest, length,
            encoding INTEGER, object BLOB)          --   0 raw / 1 zlib
    roots(namespace TEXT PRIMARY KEY, rootref TEXT, sequence INTEGER,
          owner INTEGER, flags INTEGER, timestamp REAL)

Storage faults (spec/kvs.md section 4, the admin guide's "Persistent
Storage on Rank 0"):

- the checks made before a store is used live in
  :mod:`fluxd.storage.check`;
- every blob read is checked against its blobref: bytes that do not
  hash to it, or that do not decompress, raise
  :class:`~fluxd.storage.errors.BlobMismatch` naming the blobref, and
  sqlite's own "malformed" errors a
  :class:`~fluxd.storage.errors.CorruptStore` naming it too;
- a full disk surfaces as a :class:`StoreError` with ``errno ENOSPC``
  (sqlite's ``SQLITE_FULL``); the transaction is rolled back, so the
  file keeps exactly the transactions that committed;
- :class:`StateLock` (``flock`` on the statedir) keeps a broker and an
  offline ``flux dump``/``restore``/``fsck`` from using one store at once.
"""

import errno
import fcntl
import functools
import os
import sqlite3
import time
import zlib

from fluxd.errors import FluxError, NotFound
from fluxd.storage import blobref as _blobref
from fluxd.storage.errors import (
    BlobMismatch, CorruptStore, StoreError, StoreInUse)

__all__ = [
    "SCHEMA_VERSION", "StoreError", "CorruptStore", "StoreInUse", "connect",
    "init_schema", "write_batch", "load_blob", "read_roots", "checkpoint",
    "count_objects", "read_meta", "StateLock", "remove_database",
    "root_record", "DirectStore", "write_meta", "sqlite_errors", "store_error",
]

SCHEMA_VERSION = "1"
RAW, ZLIB = 0, 1
#: blobs at least this long are stored zlib-compressed when that helps
COMPRESS_MIN = 256
#: sqlite's page cache of one connection, KiB
PAGE_CACHE_KIB = 512


def root_record(rootref, sequence, owner, flags=0, timestamp=None):
    """The stored form of one namespace root."""
    return {"rootref": rootref, "sequence": sequence, "owner": owner,
            "flags": flags,
            "timestamp": time.time() if timestamp is None else timestamp}


def sqlite_errors(fn):
    """Report sqlite failures as FluxErrors (ENOSPC for a full disk)."""
    @functools.wraps(fn)
    def wrapper(*args):
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise store_error(exc) from None
    return wrapper


def store_error(exc):
    """The :class:`StoreError` for an ``sqlite3.Error`` (ENOSPC for a full
    disk, :class:`CorruptStore` for a malformed file, else EIO)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL" or "full" in str(exc):
        return StoreError(f"content store: {exc}", errnum=errno.ENOSPC)
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or \
            "malformed" in str(exc) or "not a database" in str(exc):
        return CorruptStore(f"content store: {exc}")
    return StoreError(f"content store: {exc}", errnum=errno.EIO)


@sqlite_errors
def connect(path, synchronous="FULL", journal_mode="WAL"):
    """Open ``path`` in autocommit mode with the durability pragmas.

    ``synchronous=FULL`` in WAL mode syncs the log at every commit, so a
    committed transaction survives a crash of the process *and* of the
    machine; NORMAL would only survive the former.  Nothing is written
    before the first statement reads the file's header: a file that is
    no database fails here and stays untouched.
    """
    conn = sqlite3.connect(path, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute(f"PRAGMA journal_mode = {journal_mode}")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        # sqlite's page cache, per connection (default 2 MiB): the
        # broker's own caches sit in front of it
        conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
    except BaseException:
        conn.close()
        raise
    return conn


def _rollback(conn):
    # sqlite rolls a transaction back by itself on some errors
    # (SQLITE_FULL among them); a second ROLLBACK would fail and hide the
    # error that matters.
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


@sqlite_errors
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
        _rollback(conn)
        raise


def _encode(data):
    if len(data) >= COMPRESS_MIN:
        packed = zlib.compress(data, 1)
        if len(packed) < len(data):
            return ZLIB, packed
    return RAW, data


#: rows of one INSERT (4 parameters each: within the 999 of older sqlite)
_ROWS_PER_INSERT = 240


@sqlite_errors
def write_batch(conn, blobs, roots):
    """Store blobs and roots in one transaction.

    :param blobs: ``[(digest, data)]``.
    :param roots: ``[(namespace, record or None)]`` in order (None deletes).
    :returns: the number of blobs that were new.
    :raises StoreError: ENOSPC when the disk is full; nothing is stored.
    """
    rows = []
    for digest, data in blobs:
        encoding, stored = _encode(data)
        rows.append((digest, len(data), encoding, stored))
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        # one statement for many rows: one sqlite3_step, so the thread
        # gives up and takes back the GIL once, not once a row
        for i in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[i:i + _ROWS_PER_INSERT]
            conn.execute("INSERT OR IGNORE INTO objects VALUES "
                         + ",".join(["(?,?,?,?)"] * len(chunk)),
                         [v for row in chunk for v in row])
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
        _rollback(conn)
        raise
    return added


def load_blob(conn, digest):
    """The blob stored under ``digest``, checked against it.

    :raises NotFound: when there is none.
    :raises BlobMismatch: when the stored bytes do not decompress or do
        not hash to ``digest`` (the message names the blobref).
    :raises CorruptStore: when sqlite finds the file malformed.
    """
    try:
        row = conn.execute("SELECT encoding, object FROM objects"
                           " WHERE hash = ?", (digest,)).fetchone()
    except sqlite3.Error as exc:
        error = store_error(exc)
        if isinstance(error, CorruptStore):
            error = CorruptStore(f"blob {_name(digest)}: {exc}")
        raise error from None
    if row is None:
        raise NotFound("No such file or directory")
    encoding, data = row
    if not isinstance(data, bytes):
        raise BlobMismatch(_name(digest))
    if encoding == ZLIB:
        try:
            data = zlib.decompress(data)
        except zlib.error:
            raise BlobMismatch(_name(digest), f"blob {_name(digest)} is"
                               " corrupt: it does not decompress") from None
    elif encoding != RAW:
        raise BlobMismatch(_name(digest), f"blob {_name(digest)} is corrupt:"
                           f" unknown encoding {encoding!r}")
    if not _blobref.matches(digest, data):
        raise BlobMismatch(_name(digest))
    return data


def _name(digest):
    try:
        return _blobref.from_digest(digest)
    except FluxError:
        return "with digest " + bytes(digest).hex()


@sqlite_errors
def read_roots(conn):
    """``{namespace: record}`` from the roots table."""
    out = {}
    for ns, ref, seq, owner, flags, ts in conn.execute(
            "SELECT namespace, rootref, sequence, owner, flags, timestamp"
            " FROM roots"):
        out[ns] = {"rootref": ref, "sequence": seq, "owner": owner,
                   "flags": flags, "timestamp": ts}
    return out


@sqlite_errors
def read_meta(conn):
    """``{name: value}`` of the meta table (``hash``, ``version``)."""
    return dict(conn.execute("SELECT name, value FROM meta").fetchall())


@sqlite_errors
def write_meta(conn, items):
    """Set (or with None remove) ``{name: value}`` in the meta table, in
    one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name, value in items.items():
            if value is None:
                conn.execute("DELETE FROM meta WHERE name = ?", (name,))
            else:
                conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             (name, str(value)))
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


@sqlite_errors
def checkpoint(conn):
    """Copy the WAL into the database file and truncate it (clean stop)."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@sqlite_errors
def count_objects(conn):
    """``(count, total size)`` of stored blobs."""
    return tuple(conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0)"
                              " FROM objects").fetchone())


def remove_database(path):
    """Remove a database file and its ``-wal``/``-shm`` companions."""
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


class StateLock:
    """An exclusive ``flock`` on a statedir, held while a store is in use.

    A broker holds it from start to stop; ``flux dump``/``flux restore``
    working on a statedir directly take it too, so neither writes under
    the other.  The kernel drops it when its holder dies, even by
    ``kill -9``.

    :param directory: the statedir.
    """

    def __init__(self, directory):
        self.directory = directory
        self._fd = None

    @property
    def held(self):
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self):
        """Take the lock without waiting.

        :raises StoreInUse: when another process (or object) holds it.
        :raises StoreError: when the directory cannot be opened.
        """
        if self._fd is not None:
            return
        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise StoreError(f"content store: {self.directory}:"
                             f" {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreInUse(f"{self.directory} is in use by a running broker"
                             " (or another flux dump/restore)") from None
        except OSError:
            # a file system without flock (some network mounts): go on
            # unprotected rather than refuse to run at all
            pass
        self._fd = fd

    def release(self):
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class DirectStore:
    """Blob source and sink over one open connection, used synchronously
    (a worker thread of the broker, or ``flux dump``/``flux restore`` on a
    stopped broker's statedir).

    :param conn: a connection from :func:`connect`.
    :param hash_name: the store's hash.
    """

    def __init__(self, conn, hash_name):
        self.conn = conn
        self.hash_name = hash_name
        self.stored = 0

    def load(self, ref):
        """The blob named ``ref`` (NotFound when absent)."""
        return load_blob(self.conn, _blobref.to_digest(ref))

    def store(self, blobs):
        """Store ``{ref: bytes}`` in one transaction."""
        rows = [(_blobref.to_digest(ref), bytes(data))
                for ref, data in blobs.items()]
        self.stored += write_batch(self.conn, rows, [])

    def roots(self):
        """``{namespace: record}`` as stored."""
        return read_roots(self.conn)

    def set_root(self, namespace, record):
        """Set (or with None delete) one namespace root."""
        write_batch(self.conn, [], [(namespace, record)])

    def set_meta(self, items):
        """Set ``{name: value}`` in the store's meta table (None removes)."""
        write_meta(self.conn, items)
