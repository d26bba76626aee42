# -*- test-case-name: tests.contracts.test_content_store -*-
"""Backing stores for rank 0's content (RFC 10): memory and sqlite.

Both provide :class:`fluxd.interfaces.IContentStore` and are held to the
same contract tests (``tests/contracts/test_content_store.py``).  For
dump and restore (``content.dump``/``content.restore``, garbage
collection) both also offer :meth:`~SqliteContentStore.read_direct` and
:meth:`~SqliteContentStore.restore_fresh`, which run a synchronous
function over a blob source/sink (:class:`fluxd.storage.sqlitedb.DirectStore`).

:class:`MemoryContentStore` keeps everything in dicts: the store of an
instance without a ``statedir``, whose state ends with the broker, as
in Flux.

:class:`SqliteContentStore` keeps ``content.sqlite`` in the statedir, in
WAL mode with ``synchronous=FULL``.  Nothing touches sqlite in the
reactor thread: one dedicated writer thread owns the connection that
writes and one reader thread owns the connection that loads.  Writes
that arrive while the writer is busy are batched: the next transaction
stores all of their blobs and roots and syncs once, and each write's
Deferred fires only after that commit, so a caller that answers its
client then has made the data durable first.

Faults (spec/kvs.md section 4): the file is checked in the writer
thread before it is opened for writing, and refused, untouched, when
truncated or corrupt (:func:`fluxd.storage.check.check_store`: header,
write-ahead log, sqlite's integrity or quick check as the size allows,
the roots' reachability); every blob loaded is checked against its
blobref; a full disk makes the store read-only until space returns
(:class:`fluxd.kvs._space.SpaceGuard`); the statedir is locked
(:class:`fluxd.storage.sqlitedb.StateLock`) while the store is open.
"""

import errno
import os

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fluxd.errors import FluxError, NoSpace, NotFound
from fluxd.interfaces import IContentStore
from fluxd.kvs import _sqlite
from fluxd.kvs._space import SpaceGuard
from fluxd.storage import blobref as _blobref
from fluxd.storage import check as _check
from fluxd.storage import sqlitedb
from fluxd.storage.errors import CorruptStore
from fluxd.storage.fsync import fsync_path
from fluxd.storage.sqlitedb import DirectStore, root_record
from fluxd.util.blocking import run_blocking

__all__ = ["MemoryContentStore", "SqliteContentStore", "root_record"]

#: a write batch stops growing past this many bytes of blobs (the writes
#: left over go into the next transaction), bounding one commit's latency
BATCH_BYTES = 64 * 1024 * 1024


class _Closed(FluxError):
    """content store is closed"""


@implementer(IContentStore)
class MemoryContentStore:
    """Blobs and roots in memory.

    :param hash_name: ``sha1`` or ``sha256``.
    """

    def __init__(self, hash_name="sha1"):
        self.hash_name = _blobref.check_hash_name(hash_name)
        self._blobs = {}
        self._roots = {}
        self._meta = {}
        self._closed = False
        self.stats = {"writes": 0, "batches": 0, "blobs": 0}

    def open(self):
        """Ready the store (:meth:`IContentStore.open`)."""
        return defer.succeed(None)

    def load(self, blobref):
        """A Deferred firing with the blob (NotFound if absent)."""
        try:
            return defer.succeed(self._blobs[blobref])
        except KeyError:
            return defer.fail(NotFound("No such file or directory"))

    def write(self, blobs, roots):
        """Store blobs and roots together; fires once durable."""
        if self._closed:
            return defer.fail(_Closed())
        for ref in blobs:
            _blobref.validate(ref, self.hash_name)
        self.stats["writes"] += 1
        self.stats["batches"] += 1
        for ref, data in blobs.items():
            if ref not in self._blobs:
                self._blobs[ref] = bytes(data)
                self.stats["blobs"] += 1
        for ns, rec in roots.items():
            if rec is None:
                self._roots.pop(ns, None)
            else:
                self._roots[ns] = dict(rec)
        return defer.succeed(None)

    def roots(self):
        """A Deferred firing with ``{namespace: record}``."""
        return defer.succeed({ns: dict(rec) for ns, rec in self._roots.items()})

    def flush(self):
        """A Deferred firing once earlier writes are durable."""
        return defer.succeed(None)

    def close(self):
        """Finish writes and release the store (a Deferred)."""
        self._closed = True
        return defer.succeed(None)

    def read_direct(self, fn):
        """Run ``fn(direct)`` over the stored blobs and roots (dump).

        :returns: a Deferred firing with its result.
        """
        return defer.maybeDeferred(fn, _MemoryDirect(self))

    def inspect(self):
        """What is stored now (see :meth:`SqliteContentStore.inspect`)."""
        return defer.succeed({"exists": bool(self._roots), "corrupt": None,
                              "primary": self._roots.get("primary"),
                              "meta": dict(self._meta)})

    def record_meta(self, items):
        """Set ``{name: value}`` in the meta table (None removes)."""
        _set_meta(self._meta, items)
        return defer.succeed(None)

    def restore_fresh(self, build, keep_old=None):
        """Empty the store, then run ``build(direct)`` to fill it (restore
        at start, before :meth:`open`).  ``keep_old`` is accepted for the
        sqlite store's signature: memory has nothing to keep.

        :returns: a Deferred firing with its result.
        """
        self._blobs.clear()
        self._roots.clear()
        self._meta.clear()
        return defer.maybeDeferred(build, _MemoryDirect(self))


class _MemoryDirect:
    """The synchronous blob source/sink of a :class:`MemoryContentStore`."""

    def __init__(self, store):
        self._store = store
        self.hash_name = store.hash_name
        self.stored = 0

    def load(self, ref):
        try:
            return self._store._blobs[ref]
        except KeyError:
            raise NotFound("No such file or directory") from None

    def store(self, blobs):
        for ref, data in blobs.items():
            if ref not in self._store._blobs:
                self._store._blobs[ref] = bytes(data)
                self.stored += 1

    def roots(self):
        return {ns: dict(rec) for ns, rec in self._store._roots.items()}

    def set_root(self, namespace, record):
        if record is None:
            self._store._roots.pop(namespace, None)
        else:
            self._store._roots[namespace] = dict(record)

    def set_meta(self, items):
        _set_meta(self._store._meta, items)


def _set_meta(meta, items):
    for name, value in items.items():
        if value is None:
            meta.pop(name, None)
        else:
            meta[name] = str(value)


@implementer(IContentStore)
class SqliteContentStore:
    """``content.sqlite``: blobs and roots in sqlite, written off the reactor.

    :param reactor: provides ``callFromThread`` (and ``callLater`` and
        ``seconds`` unless ``clock`` is given).
    :param path: the database file.
    :param hash_name: ``sha1`` or ``sha256`` (must match an existing file).
    :param synchronous: the sqlite ``synchronous`` pragma (FULL, see
        :func:`fluxd.storage.sqlitedb.connect`).
    :param journal_mode: the sqlite ``journal_mode`` pragma (WAL).
    :param worker: the worker class (:class:`~fluxd.kvs._sqlite.ThreadWorker`;
        tests pass :class:`~fluxd.kvs._sqlite.InlineWorker`).
    :param clock: ``IReactorTime`` for the full-disk probe (default:
        ``reactor``).
    :param statvfs: ``os.statvfs`` (tests pass a fake).
    """

    log = Logger()

    def __init__(self, reactor, path, hash_name="sha1", synchronous="FULL",
                 journal_mode="WAL", worker=_sqlite.ThreadWorker, clock=None,
                 statvfs=os.statvfs):
        self.hash_name = _blobref.check_hash_name(hash_name)
        self.path = path
        self._reactor = reactor
        self._sync = synchronous
        self._journal = journal_mode
        self._worker_class = worker
        self._writer = self._reader = None
        self._pending = []          # [(blobs, roots, Deferred)]
        self._writing = False
        self._flush_waiters = []
        self._closed = False
        self._lock = sqlitedb.StateLock(os.path.dirname(os.path.abspath(path)))
        self.space = SpaceGuard(clock if clock is not None else reactor, path,
                                statvfs)
        self.stats = {"writes": 0, "batches": 0, "blobs": 0,
                      "largest-batch": 0, "refused": 0}

    def _opener(self):
        return lambda: _sqlite.connect(self.path, self._sync, self._journal)

    # -- open, close ---------------------------------------------------------

    def open(self):
        """Ready the store (:meth:`IContentStore.open`).

        Fails with :class:`~fluxd.storage.sqlitedb.CorruptStore` (the file is
        left as it is) for a truncated or corrupt file,
        :class:`~fluxd.storage.sqlitedb.StoreInUse` when another broker or an
        offline dump/restore holds the statedir, ``NoSpace`` when sqlite
        cannot even set up its files.
        """
        return defer.Deferred.fromCoroutine(self._open())

    async def _open(self):
        self._lock.acquire()
        opener = self._opener()
        checked = {}

        def checked_opener():
            # every check reads only, before the writer's connection
            # exists: closing that one would write into a file found
            # corrupt (replaying or dropping its write-ahead log)
            checked["result"] = _check.check_store(self.path)
            return opener()
        try:
            self._writer = self._worker_class(
                self._reactor, "content-sqlite-writer", checked_opener)
            await self._writer.submit(_sqlite.init_schema, self.hash_name)
        except Exception as exc:
            if self._writer is not None:
                await self._writer.stop()
                self._writer = None
            self._lock.release()
            if isinstance(exc, CorruptStore):
                raise CorruptStore(_check.one_line(self.path, exc)) from None
            free = self.space.free_bytes()
            if isinstance(exc, FluxError) and not isinstance(exc, NoSpace) \
                    and free is not None and free < self.space.resume_bytes:
                raise NoSpace(f"{self.path}: no space left on device ({exc})"
                              f"; free space in {self.space.directory}") from None
            raise
        self._reader = self._worker_class(self._reactor, "content-sqlite-reader",
                                          self._opener())
        result = checked.get("result")
        if result is None:
            self.log.info("content store: {path} ({hash}), new",
                          path=self.path, hash=self.hash_name)
        else:
            self.log.info("content store: {path} ({hash}), checked ({check},"
                          " roots) in {secs:.3f}s", path=self.path,
                          hash=self.hash_name, check=result["check"] or
                          "header and log only", secs=result["seconds"])

    def close(self):
        """Finish writes and release the store (a Deferred)."""
        return defer.Deferred.fromCoroutine(self._close())

    async def _close(self):
        if self._closed:
            return
        self._closed = True
        self.space.stop()
        await self.flush()
        if self._writer is not None:
            try:
                await self._writer.submit(_sqlite.checkpoint)
            except FluxError as exc:
                # the WAL keeps everything; sqlite replays it next time
                self.log.warn("content store: final checkpoint failed: {why}",
                              why=exc)
            writer, self._writer = self._writer, None
            await writer.stop()
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.stop()
        self._lock.release()

    # -- IContentStore ---------------------------------------------------------

    def load(self, blobref):
        """A Deferred firing with the blob (NotFound if absent)."""
        try:
            digest = _blobref.to_digest(blobref)
        except FluxError as exc:
            return defer.fail(exc)
        if self._reader is None:
            return defer.fail(_Closed())
        return self._reader.submit(_sqlite.load_blob, digest)

    def write(self, blobs, roots):
        """Store blobs and roots together; fires once durable.

        Fails at once with ``NoSpace`` while the store is read-only for
        lack of space (see :class:`~fluxd.kvs._space.SpaceGuard`).
        """
        if self._closed or self._writer is None:
            return defer.fail(_Closed())
        try:
            for ref in blobs:
                _blobref.validate(ref, self.hash_name)
        except FluxError as exc:
            return defer.fail(exc)
        if not self.space.writable():
            self.stats["refused"] += 1
            return defer.fail(self.space.error())
        d = defer.Deferred()
        self._pending.append((blobs, roots, d))
        self.stats["writes"] += 1
        self._start_batch()
        return d

    def _start_batch(self):
        if self._writing or not self._pending:
            return
        items, size = [], 0
        while self._pending and (not items or size < BATCH_BYTES):
            item = self._pending.pop(0)
            items.append(item)
            size += sum(len(data) for data in item[0].values())
        blobs, roots = {}, {}
        for item_blobs, item_roots, _ in items:
            blobs.update(item_blobs)
            roots.update(item_roots)
        rows = [(_blobref.to_digest(ref), bytes(data)) for ref, data in blobs.items()]
        self._writing = True
        self.stats["batches"] += 1
        self.stats["largest-batch"] = max(self.stats["largest-batch"], len(items))
        d = self._writer.submit(_sqlite.write_batch, rows, list(roots.items()))
        d.addBoth(self._written, items)

    def _written(self, result, items):
        self._writing = False
        failed = isinstance(result, Failure)
        if failed and _is_enospc(result):
            # rolled back: nothing of this batch is stored, all of it fails
            self.space.enter(result.value)
            error = self.space.error()
            items = items + self._pending
            self._pending = []
            self.stats["refused"] += len(items)
            for _, _, d in items:
                d.errback(error)
        else:
            if failed and result.check(FluxError):
                self.log.error("content store write failed: {why}",
                               why=result.value)
            elif failed:
                self.log.failure("content store write failed", result)
            else:
                self.stats["blobs"] += result
            for _, _, d in items:
                if failed:
                    d.errback(result)
                else:
                    d.callback(None)
        self._start_batch()
        if not self._writing and not self._pending:
            waiters, self._flush_waiters = self._flush_waiters, []
            for d in waiters:
                d.callback(None)

    def roots(self):
        """A Deferred firing with ``{namespace: record}``."""
        if self._writer is None:
            return defer.fail(_Closed())
        return self._writer.submit(_sqlite.read_roots)

    def flush(self):
        """A Deferred firing once earlier writes are done (durable, or
        failed)."""
        if not self._writing and not self._pending:
            return defer.succeed(None)
        d = defer.Deferred()
        self._flush_waiters.append(d)
        return d

    def count(self):
        """A Deferred firing with ``(blob count, total bytes)``."""
        return self._reader.submit(_sqlite.count_objects)

    # -- dump and restore ------------------------------------------------------

    def read_direct(self, fn):
        """Run ``fn(direct)`` in the reader thread, over a
        :class:`~fluxd.storage.sqlitedb.DirectStore` (a dump at stop).

        :returns: a Deferred firing with its result.
        """
        if self._reader is None:
            return defer.fail(_Closed())
        return self._reader.submit(_run_direct, fn, self.hash_name)

    def inspect(self):
        """What is stored now, before :meth:`open` (the restore rule of
        :class:`~fluxd.kvs.backing.ContentBackingService`).

        Runs the start-up checks and reads the roots and the meta table
        through a read-only connection, in a thread of its own.

        :returns: a Deferred firing with ``{"exists": bool, "corrupt":
            reason or None, "primary": record or None, "meta": dict}``.
        """
        return defer.Deferred.fromCoroutine(self._inspect())

    async def _inspect(self):
        worker = self._worker_class(self._reactor, "content-sqlite-inspect",
                                    lambda: None)
        try:
            return await worker.submit(_inspect_file, self.path)
        finally:
            await worker.stop()

    def record_meta(self, items):
        """Set ``{name: value}`` in the store's meta table (None removes),
        durably, through the writer (a dump records there what it saved).

        :returns: a Deferred firing once written.
        """
        if self._writer is None:
            return defer.fail(_Closed())
        return self._writer.submit(sqlitedb.write_meta, items)

    def restore_fresh(self, build, keep_old=None):
        """Build a new ``content.sqlite`` with ``build(direct)`` and put it
        in place of the old one (the restore of ``content.restore``).

        Runs before :meth:`open`, with the statedir locked.  The new file
        is made beside the old one and renamed over it only once complete,
        so a failed restore leaves the old store as it was.  Every fsync
        runs in a worker thread.

        :param keep_old: rename the old store (and its ``-wal``) to this
            path instead of removing it (a damaged store is kept).
        :returns: a Deferred firing with the result of ``build``.
        """
        return defer.Deferred.fromCoroutine(self._restore_fresh(build,
                                                                keep_old))

    async def _restore_fresh(self, build, keep_old):
        self._lock.acquire()
        tmp = self.path + ".restoring"
        worker = None
        try:
            sqlitedb.remove_database(tmp)
            # No journal and no syncs while filling: a crash leaves a
            # half-made temporary file, removed on the next attempt.
            worker = self._worker_class(
                self._reactor, "content-sqlite-restore",
                lambda: _sqlite.connect(tmp, "OFF", "OFF"))
            await worker.submit(_sqlite.init_schema, self.hash_name)
            result = await worker.submit(_run_direct, build, self.hash_name)
            await worker.submit(_finish_restore, tmp)
            await worker.stop()
            worker = None
            await run_blocking(self._reactor, _install, tmp, self.path,
                               keep_old)
        except BaseException:
            if worker is not None:
                await worker.stop()
            sqlitedb.remove_database(tmp)
            self._lock.release()
            raise
        # the lock stays held: open() comes next
        return result


def _run_direct(conn, fn, hash_name):
    return fn(DirectStore(conn, hash_name))


def _inspect_file(_conn, path):
    if not os.path.exists(path):
        return {"exists": False, "corrupt": None, "primary": None, "meta": {}}
    try:
        _check.check_store(path)
        conn = _check.open_readonly(path)
        try:
            roots = sqlitedb.read_roots(conn)
            meta = sqlitedb.read_meta(conn)
        finally:
            conn.close()
    except FluxError as exc:
        return {"exists": True, "corrupt": str(exc), "primary": None,
                "meta": {}}
    return {"exists": True, "corrupt": None, "primary": roots.get("primary"),
            "meta": meta}


@sqlitedb.sqlite_errors
def _finish_restore(conn, path):
    # the file is complete: put it in the broker's journal mode, on disk
    conn.execute("PRAGMA journal_mode = WAL")
    fsync_path(path)


def _install(tmp, path, keep_old):
    """Put the restored file in place (in a worker thread: it syncs)."""
    if keep_old is not None:
        for suffix in ("", "-wal"):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, keep_old + suffix)
    sqlitedb.remove_database(path)
    os.replace(tmp, path)
    fsync_path(os.path.dirname(os.path.abspath(path)))


def _is_enospc(failure):
    return isinstance(failure.value, FluxError) and \
        failure.value.errno == errno.ENOSPC
