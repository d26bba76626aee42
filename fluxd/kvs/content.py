# -*- test-case-name: tests.contracts.test_content_store -*-
"""Backing stores for rank 0's content (RFC 10): memory and sqlite.

Both provide :class:`fluxd.interfaces.IContentStore` and are held to the
same contract tests (``tests/contracts/test_content_store.py``).

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
"""

import time

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fluxd.errors import FluxError, NotFound
from fluxd.interfaces import IContentStore
from fluxd.kvs import _sqlite
from fluxd.kvs import blobref as _blobref

__all__ = ["MemoryContentStore", "SqliteContentStore", "root_record"]

#: a write batch stops growing past this many bytes of blobs (the writes
#: left over go into the next transaction), bounding one commit's latency
BATCH_BYTES = 64 * 1024 * 1024


def root_record(rootref, sequence, owner, flags=0, timestamp=None):
    """The stored form of one namespace root."""
    return {"rootref": rootref, "sequence": sequence, "owner": owner,
            "flags": flags,
            "timestamp": time.time() if timestamp is None else timestamp}


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


@implementer(IContentStore)
class SqliteContentStore:
    """``content.sqlite``: blobs and roots in sqlite, written off the reactor.

    :param reactor: provides ``callFromThread``.
    :param path: the database file.
    :param hash_name: ``sha1`` or ``sha256`` (must match an existing file).
    :param synchronous: the sqlite ``synchronous`` pragma (FULL, see
        :func:`fluxd.kvs._sqlite.connect`).
    :param journal_mode: the sqlite ``journal_mode`` pragma (WAL).
    :param worker: the worker class (:class:`~fluxd.kvs._sqlite.ThreadWorker`;
        tests pass :class:`~fluxd.kvs._sqlite.InlineWorker`).
    """

    log = Logger()

    def __init__(self, reactor, path, hash_name="sha1", synchronous="FULL",
                 journal_mode="WAL", worker=_sqlite.ThreadWorker):
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
        self.stats = {"writes": 0, "batches": 0, "blobs": 0,
                      "largest-batch": 0}

    def _opener(self):
        return lambda: _sqlite.connect(self.path, self._sync, self._journal)

    def open(self):
        """Ready the store (:meth:`IContentStore.open`)."""
        return defer.Deferred.fromCoroutine(self._open())

    async def _open(self):
        self._writer = self._worker_class(self._reactor, "content-sqlite-writer",
                                          self._opener())
        try:
            await self._writer.submit(_sqlite.init_schema, self.hash_name)
        except Exception:
            await self._writer.stop()
            self._writer = None
            raise
        self._reader = self._worker_class(self._reactor, "content-sqlite-reader",
                                          self._opener())
        self.log.info("content store: {path} ({hash})", path=self.path,
                      hash=self.hash_name)

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
        """Store blobs and roots together; fires once durable."""
        if self._closed or self._writer is None:
            return defer.fail(_Closed())
        try:
            for ref in blobs:
                _blobref.validate(ref, self.hash_name)
        except FluxError as exc:
            return defer.fail(exc)
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
        if failed:
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
        """A Deferred firing once earlier writes are durable."""
        if not self._writing and not self._pending:
            return defer.succeed(None)
        d = defer.Deferred()
        self._flush_waiters.append(d)
        return d

    def count(self):
        """A Deferred firing with ``(blob count, total bytes)``."""
        return self._reader.submit(_sqlite.count_objects)

    def close(self):
        """Finish writes and release the store (a Deferred)."""
        return defer.Deferred.fromCoroutine(self._close())

    async def _close(self):
        if self._closed:
            return
        self._closed = True
        await self.flush()
        if self._writer is not None:
            try:
                await self._writer.submit(_sqlite.checkpoint)
            except Exception:
                self.log.failure("content store checkpoint failed")
            writer, self._writer = self._writer, None
            await writer.stop()
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.stop()
