# -*- test-case-name: tests.unit.storage.test_check -*-
"""The checks a ``content.sqlite`` passes before anything uses it.

:func:`check_store` runs them in order, reading only, so that a store
found damaged is left exactly as it was (a read-write sqlite connection
would replay or drop its write-ahead log on close):

1. :func:`check_file`: the file itself, before sqlite sees it: empty,
   not an sqlite database, not a whole number of pages, shorter than
   its header says.
2. :func:`fluxd.storage.wal.check_wal`: the ``-wal`` file left by an
   unclean stop.  A torn tail is normal; a damaged frame followed by
   valid frames of the same generation would make sqlite silently drop
   committed transactions, and is refused.
3. :func:`verify`, on a read-only connection: the schema, then sqlite's
   ``PRAGMA integrity_check`` for a store up to :data:`INTEGRITY_MAX`
   bytes, ``quick_check`` up to :data:`QUICK_MAX`, none beyond (``flux
   fsck`` checks everything at any size), then the *reachability of the
   roots*: each namespace's root directory must load, hash to its
   blobref and decode as a directory.

Every failure is a :class:`~fluxd.storage.errors.CorruptStore` (or
:class:`~fluxd.storage.errors.StoreError`) with one line naming the
file.  Pure Python: the broker runs these in its writer thread, the
offline ``flux dump``/``restore``/``fsck`` directly.
"""

import os
import sqlite3
import stat
import time
import urllib.parse

from fluxd.errors import FluxError
from fluxd.storage import blobref as _blobref
from fluxd.storage import treeobj as T
from fluxd.storage.errors import CorruptStore, StoreError
from fluxd.storage.sqlitedb import load_blob, sqlite_errors, store_error
from fluxd.storage.wal import WAL_HEADER, check_wal

__all__ = ["INTEGRITY_MAX", "QUICK_MAX", "unclean", "check_file",
           "check_mode", "verify", "verify_file", "check_store",
           "open_readonly", "one_line"]

#: stores up to this size get sqlite's full ``integrity_check`` at start
#: (about 50 ms for 32 MiB here)
INTEGRITY_MAX = 32 * 1024 * 1024
#: stores up to this size get ``quick_check`` (about 80 ms per 100 MB
#: here); larger ones only the header, WAL and root checks
QUICK_MAX = 1024 * 1024 * 1024
_MAGIC = b"SQLite format 3\0"


def unclean(path):
    """True when ``path`` has a non-empty ``-wal`` file or a rollback
    journal: its last user did not close it (a crash, a kill, a full disk
    at stop)."""
    if os.path.exists(path + "-journal"):
        return True
    try:
        return os.path.getsize(path + "-wal") > WAL_HEADER
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


def check_mode(size):
    """The sqlite check a store of ``size`` bytes gets at start:
    ``integrity_check``, ``quick_check`` or None."""
    if size <= INTEGRITY_MAX:
        return "integrity_check"
    if size <= QUICK_MAX:
        return "quick_check"
    return None


def _check_roots(conn):
    for ns, ref in conn.execute("SELECT namespace, rootref FROM roots"):
        where = f"the root of namespace {ns!r} ({ref})"
        try:
            digest = _blobref.to_digest(ref)
        except FluxError:
            raise CorruptStore(f"{where} is not a blobref") from None
        try:
            data = load_blob(conn, digest)
        except CorruptStore as exc:
            raise CorruptStore(f"{where} is damaged: {exc}") from None
        except FluxError:
            raise CorruptStore(f"{where} is missing") from None
        try:
            obj = T.decode(data)
        except FluxError:
            obj = None
        if obj is None or obj["type"] != T.DIR:
            raise CorruptStore(f"{where} is not a directory")


@sqlite_errors
def verify(conn, mode="quick_check", roots=True):
    """Check an opened database is a readable fluxd content store.

    :param mode: ``integrity_check``, ``quick_check`` or None (see
        :func:`check_mode`).
    :param roots: also check that every namespace root is reachable.
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
    if mode is not None:
        problems = []
        for (text,) in conn.execute(f"PRAGMA {mode}(3)"):
            problems += [line.strip() for line in text.splitlines()
                         if line.strip() and not line.startswith("***")]
        if problems != ["ok"]:
            raise CorruptStore("failed its integrity check ("
                               + "; ".join(problems[:2]) + ")")
    if tables and roots:
        _check_roots(conn)


def open_readonly(path):
    """A read-only connection to an existing store (never writes it, not
    even a checkpoint of its ``-wal`` at close).

    :raises StoreError: when sqlite cannot open it.
    """
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise store_error(exc) from None


def verify_file(path, mode="quick_check", roots=True):
    """:func:`verify` an existing file through a read-only connection.

    A hot rollback journal (a crash in the ``DELETE`` journal modes) must
    be rolled back first, which only a read-write connection can do:
    the check is then left to sqlite.
    """
    if not os.path.exists(path) or os.path.exists(path + "-journal"):
        return
    conn = open_readonly(path)
    try:
        verify(conn, mode, roots)
    finally:
        conn.close()


def check_store(path, mode=None):
    """Every check, in order, on the store at ``path`` (reading only).

    :param mode: the sqlite check (default: by size, :func:`check_mode`).
    :returns: None for a missing file (a new store), else a dict with
        ``check`` (the sqlite check run, or None) and ``seconds`` spent.
    :raises CorruptStore: one line naming the file and the damage.
    """
    started = time.monotonic()
    if not check_file(path):
        return None
    check_wal(path + "-wal")
    if mode is None:
        size = os.path.getsize(path)
        try:
            size += os.path.getsize(path + "-wal")
        except OSError:
            pass
        mode = check_mode(size)
    try:
        verify_file(path, mode)
    except CorruptStore as exc:
        raise CorruptStore(one_line(path, exc)) from None
    return {"check": mode, "seconds": time.monotonic() - started}


def one_line(path, exc):
    text = str(exc)
    for prefix in (path + " ", path + ": ", "content store: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if text.startswith(("is ", "has ", "failed ")):
        return f"{path} {text}"
    return f"{path}: {text}"
