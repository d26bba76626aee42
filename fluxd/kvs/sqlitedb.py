# -*- test-case-name: tests.unit.kvs.test_sqlitedb -*-
"""``content.sqlite`` itself: schema, checks, and the statements run on it.

Pure Python (stdlib ``sqlite3``): the broker's content store runs these
functions in its worker threads (:mod:`fluxd.kvs._sqlite`), and ``flux
dump``/``flux restore`` run them directly on a stopped broker's statedir.
Each statement function takes the connection as its first argument.
Schema::

    meta(name TEXT PRIMARY KEY, value TEXT)         -- hash, schema version
    objects(hash BLOB PRIMARY KEY, size INTEGER,    -- raw digest, length,
            encoding INTEGER, object BLOB)          --   0 raw / 1 zlib
    roots(namespace TEXT PRIMARY KEY, rootref TEXT, sequence INTEGER,
          owner INTEGER, flags INTEGER, timestamp REAL)

Storage faults (spec/kvs.md section 4, the admin guide's "Persistent
Storage on Rank 0"):

- :func:`check_file` looks at the file before sqlite does: a file that
  is empty, not an sqlite database, not a whole number of pages or
  shorter than its header says is refused (:class:`CorruptStore`), so
  a truncated database is never opened for writing.  After an unclean
  stop (a ``-wal`` file left behind) :func:`verify` also runs sqlite's
  ``PRAGMA quick_check``.
- a full disk surfaces as a :class:`StoreError` with ``errno ENOSPC``
  (sqlite's ``SQLITE_FULL``); the transaction is rolled back, so the
  file keeps exactly the transactions that committed.
- :class:`StateLock` (``flock`` on the statedir) keeps a broker and an
  offline ``flux dump``/``flux restore`` from using one store at once.
"""

import errno
import fcntl
import functools
import os
import sqlite3
import stat
import time
import urllib.parse
import zlib

from fluxd.errors import FluxError, NotFound
from fluxd.kvs import blobref as _blobref

__all__ = [
    "SCHEMA_VERSION", "StoreError", "CorruptStore", "StoreInUse", "connect",
    "init_schema", "write_batch", "load_blob", "read_roots", "checkpoint",
    "count_objects", "read_meta", "check_file", "verify", "StateLock",
    "unclean", "remove_database", "root_record", "DirectStore",
    "verify_file",
]

SCHEMA_VERSION = "1"
RAW, ZLIB = 0, 1
#: blobs at least this long are stored zlib-compressed when that helps
COMPRESS_MIN = 256
_MAGIC = b"SQLite format 3\0"
_WAL_HEADER = 32


def root_record(rootref, sequence, owner, flags=0, timestamp=None):
    """The stored form of one namespace root."""
    return {"rootref": rootref, "sequence": sequence, "owner": owner,
            "flags": flags,
            "timestamp": time.time() if timestamp is None else timestamp}


class StoreError(FluxError):
    """content store error"""


class CorruptStore(StoreError):
    """content store is corrupt"""

    errno = errno.ENOTRECOVERABLE


class StoreInUse(StoreError):
    """content store is in use"""

    errno = errno.EBUSY


def _sqlite_errors(fn):
    """Report sqlite failures as FluxErrors (ENOSPC for a full disk)."""
    @functools.wraps(fn)
    def wrapper(*args):
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise _store_error(exc) from None
    return wrapper


def _store_error(exc):
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL" or "full" in str(exc):
        return StoreError(f"content store: {exc}", errnum=errno.ENOSPC)
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or \
            "malformed" in str(exc) or "not a database" in str(exc):
        return CorruptStore(f"content store: {exc}")
    return StoreError(f"content store: {exc}", errnum=errno.EIO)


@_sqlite_errors
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
        _rollback(conn)
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
    :raises StoreError: ENOSPC when the disk is full; nothing is stored.
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
        _rollback(conn)
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
def read_meta(conn):
    """``{name: value}`` of the meta table (``hash``, ``version``)."""
    return dict(conn.execute("SELECT name, value FROM meta").fetchall())


@_sqlite_errors
def checkpoint(conn):
    """Copy the WAL into the database file and truncate it (clean stop)."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@_sqlite_errors
def count_objects(conn):
    """``(count, total size)`` of stored blobs."""
    return tuple(conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0)"
                              " FROM objects").fetchone())


# -- checks -------------------------------------------------------------------

def unclean(path):
    """True when ``path`` has a non-empty ``-wal`` file or a rollback
    journal: its last user did not close it (a crash, a kill, a full disk
    at stop)."""
    if os.path.exists(path + "-journal"):
        return True
    try:
        return os.path.getsize(path + "-wal") > _WAL_HEADER
    except OSError:
        return False


def check_file(path):
    """Refuse a database file that cannot be whole, without opening it.

    Reads only the 100-byte header and the file size (no sqlite, no
    write).  The header's page count is trusted only when it is marked
    valid and no ``-wal`` file holds pages the main file lacks yet.

    :returns: False when ``path`` does not exist (a new store), else True.
    :raises CorruptStore: one line naming the file and what is wrong.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError(f"{path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise CorruptStore(f"{path} is not a regular file")
    size = st.st_size
    if size == 0:
        raise CorruptStore(f"{path} is empty (truncated to 0 bytes)")
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as exc:
        raise StoreError(f"{path}: {exc.strerror}") from None
    if header[:len(_MAGIC)] != _MAGIC[:len(header)]:
        raise CorruptStore(f"{path} is not an sqlite database")
    if len(header) < 100:
        raise CorruptStore(f"{path} is truncated ({size} bytes)")
    page_size = int.from_bytes(header[16:18], "big")
    if page_size == 1:
        page_size = 65536
    if page_size < 512 or page_size & (page_size - 1):
        raise CorruptStore(f"{path} has a corrupt header (page size"
                           f" {page_size})")
    if size % page_size:
        raise CorruptStore(f"{path} is truncated ({size} bytes is not a whole"
                           f" number of {page_size}-byte pages)")
    pages = int.from_bytes(header[28:32], "big")
    if pages and header[24:28] == header[92:96] and not unclean(path) \
            and pages * page_size > size:
        raise CorruptStore(f"{path} is truncated ({size} of"
                           f" {pages * page_size} bytes)")
    return True


@_sqlite_errors
def verify(conn, deep=False):
    """Check an opened database is a readable fluxd content store.

    :param deep: also run ``PRAGMA quick_check`` (after an unclean stop).
    :raises CorruptStore: for a foreign schema or a failed check.
    """
    tables = {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and not {"meta", "objects", "roots"} <= tables:
        raise CorruptStore("is not a fluxd content store (tables: "
                           + ", ".join(sorted(tables)) + ")")
    if tables:
        conn.execute("SELECT COUNT(*) FROM roots").fetchone()
        conn.execute("SELECT value FROM meta").fetchall()
    if deep:
        problems = []
        for (text,) in conn.execute("PRAGMA quick_check(3)"):
            problems += [line.strip() for line in text.splitlines()
                         if line.strip() and not line.startswith("***")]
        if problems != ["ok"]:
            raise CorruptStore("failed its integrity check ("
                               + "; ".join(problems[:2]) + ")")


def verify_file(path, deep=False):
    """:func:`verify` an existing file through a read-only connection.

    A read-write connection checkpoints its write-ahead log into the file
    when it closes, which would change a file found corrupt; a read-only
    one never writes it.  A hot rollback journal (a crash in the
    ``DELETE`` journal modes) must be rolled back first, which only a
    read-write connection can do: the check is then left to sqlite.
    """
    if not os.path.exists(path) or os.path.exists(path + "-journal"):
        return
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise _store_error(exc) from None
    try:
        verify(conn, deep)
    finally:
        conn.close()


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
