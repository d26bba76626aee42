# -*- test-case-name: tests.unit.kvs.test_content_service -*-
"""The ``content`` service (RFC 10): a blob cache on every broker.

On rank 0 the cache sits in front of the backing store
(:class:`~fluxd.interfaces.IContentStore`: memory, or ``content.sqlite``
in the statedir) and a blob is answered from the store on a miss.  On
other ranks a miss is forwarded towards rank 0 and the answer cached;
stores are written through to rank 0 and answered once rank 0 has them.
The requests go through the router addressed to rank 0, so the overlay
carries them up the tree; a lone broker is rank 0 and never forwards.

RPCs (owner only, raw payloads as in flux-core): ``content.load``
(digest -> blob, ENOENT), ``content.store`` (blob -> digest; EFBIG past
the blob size limit), ``content.validate``, ``content.flush``,
``content.dropcache``, ``content.checkpoint-get`` and
``content.checkpoint-put`` (the KVS primary root).

In-process, the KVS uses :meth:`ContentService.load`,
:meth:`~ContentService.write` (rank 0: blobs and roots in one durable
transaction) and :meth:`~ContentService.hash`.
"""

import time

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from fluxd.errors import (
    Busy, FluxError, InvalidArgument, NotFound, ProtocolError)
from fluxd.interfaces import IContentStore
from fluxd.storage import blobref as _blobref
from fluxd.kvs.cache import LRUCache
from fluxd.kvs.content import root_record
from fluxd.storage.errors import TooLarge
from fluxd.message.router import method
from fluxd.module import Module

__all__ = ["ContentService", "DEFAULT_BLOB_LIMIT",
           "DEFAULT_CACHE_BYTES"]

#: flux-core's default blob size limit (1 GiB; RFC 10 says 1 MiB)
DEFAULT_BLOB_LIMIT = 1024 * 1024 * 1024
#: default budget of the clean-blob cache: blobs just written or read
#: (the KVS keeps the directories it works on decoded; the rest is one
#: read away in the store)
DEFAULT_CACHE_BYTES = 1 * 1024 * 1024
#: memory of a cached blob beyond its bytes (object header, blobref key,
#: cache links): an eventlog line's blob is ~100 bytes of data in ~350
ENTRY_OVERHEAD = 256


class ContentService(Module):
    """The content cache of one broker.

    :param rank: this broker's rank.
    :param router: the broker's router (followers forward through it).
    :param store: rank 0's :class:`IContentStore`; None on other ranks.
    :param hash_name: the instance hash (``content.hash``).
    :param blob_limit: the largest blob accepted (bytes).
    :param cache_bytes: the clean-cache budget (bytes).
    :param owner: the instance owner's uid (owner of a checkpointed root).
    :param manage_store: open the store at start and close it at stop
        (False when a :class:`~fluxd.kvs.backing.ContentBackingService`
        does, around the restore and the dump).
    """

    name = "content"
    log = Logger()

    def __init__(self, rank, router, store=None, hash_name="sha1",
                 blob_limit=DEFAULT_BLOB_LIMIT, cache_bytes=DEFAULT_CACHE_BYTES,
                 owner=0, manage_store=True):
        super().__init__(rank)
        self._manage_store = manage_store
        self.owner = owner
        if rank == 0 and store is None:
            raise InvalidArgument("rank 0 needs a content backing store")
        self.router = router
        self.store = IContentStore(store) if store is not None else None
        self.hash_name = _blobref.check_hash_name(hash_name)
        self.blob_limit = blob_limit
        self._cache = LRUCache(cache_bytes, overhead=ENTRY_OVERHEAD)
        self._dirty = {}            # blobref -> [data, writers]
        self._loading = {}          # blobref -> [Deferred] waiting for it
        self._inflight = 0          # follower stores not yet answered
        self._flush_waiters = []
        #: set by the KVS while it owns the primary root
        self.kvs_active = False
        self.stats = {"load-requests": 0, "store-requests": 0,
                      "cache-hits": 0, "cache-misses": 0}

    # -- lifecycle -----------------------------------------------------------

    def startService(self):
        super().startService()
        if self.store is not None and self._manage_store:
            return self.store.open()
        return None

    def stopService(self):
        super().stopService()
        if self.store is not None:
            if self._manage_store:
                return self.store.close()
            return self.store.flush()
        return None

    # -- in-process API ------------------------------------------------------

    def hash(self, data):
        """The blobref of ``data`` under the instance hash."""
        return _blobref.hash_blob(data, self.hash_name)

    def cached(self, ref):
        """The blob if this broker holds it in memory, else None."""
        entry = self._dirty.get(ref)
        if entry is not None:
            return entry[0]
        return self._cache.get(ref)

    def load(self, ref):
        """Fetch a blob.

        :returns: a Deferred firing with its bytes, or failing with
            NotFound (or the error of the way to rank 0).
        """
        data = self.cached(ref)
        if data is not None:
            self.stats["cache-hits"] += 1
            return defer.succeed(data)
        self.stats["cache-misses"] += 1
        mine = defer.Deferred()
        waiters = self._loading.get(ref)
        if waiters is not None:
            waiters.append(mine)
            return mine
        self._loading[ref] = [mine]
        if self.store is not None:
            d = self.store.load(ref)
        else:
            try:
                digest = _blobref.to_digest(ref)
            except FluxError as exc:
                d = defer.fail(exc)
            else:
                d = self.router.call("content.load", digest, nodeid=0,
                                     cred=self.router.instance_cred, raw=True)
        d.addBoth(self._loaded, ref)
        return mine

    def _loaded(self, result, ref):
        waiters = self._loading.pop(ref, [])
        if isinstance(result, Failure):
            for d in waiters:
                d.errback(result)
            return None
        if self.store is None and self.hash(result) != ref:
            err = ProtocolError(f"upstream sent the wrong blob for {ref}")
            for d in waiters:
                d.errback(err)
            return None
        self._cache.put(ref, result, len(result))
        for d in waiters:
            d.callback(result)
        return None

    def write(self, blobs, roots=None):
        """Store blobs (and, on rank 0, namespace roots) durably.

        The blobs are readable from this broker at once; the Deferred
        fires once they (and the roots) are in the backing store, or on
        other ranks once rank 0 has answered each store.

        :param blobs: ``{blobref: bytes}`` (the caller hashed them).
        :param roots: ``{namespace: record or None}``; rank 0 only.
        """
        for ref, data in blobs.items():
            entry = self._dirty.get(ref)
            if entry is None:
                self._dirty[ref] = [data, 1]
            else:
                entry[1] += 1
        if self.store is not None:
            d = self.store.write(blobs, roots or {})
        else:
            if roots:
                return defer.fail(InvalidArgument("only rank 0 stores roots"))
            d = self._store_upstream(blobs)
        d.addBoth(self._written, list(blobs))
        return d

    def _store_upstream(self, blobs):
        calls = [self.router.call("content.store", data, nodeid=0,
                                  cred=self.router.instance_cred, raw=True)
                 for data in blobs.values()]
        if not calls:
            return defer.succeed(None)
        self._inflight += 1
        d = defer.gatherResults(calls, consumeErrors=True)

        def done(result):
            self._inflight -= 1
            if not self._inflight:
                waiters, self._flush_waiters = self._flush_waiters, []
                for w in waiters:
                    w.callback(None)
            if isinstance(result, Failure) and result.check(defer.FirstError):
                return result.value.subFailure
            return result
        return d.addBoth(done)

    def _written(self, result, refs):
        for ref in refs:
            entry = self._dirty.get(ref)
            if entry is None:
                continue
            entry[1] -= 1
            if entry[1] == 0:
                del self._dirty[ref]
                if not isinstance(result, Failure):
                    self._cache.put(ref, entry[0], len(entry[0]))
        return result

    def roots(self):
        """Rank 0: a Deferred firing with the stored namespace roots."""
        return self.store.roots()

    def flush(self):
        """A Deferred firing once nothing written here is pending."""
        if self.store is not None:
            return self.store.flush()
        if not self._inflight:
            return defer.succeed(None)
        d = defer.Deferred()
        self._flush_waiters.append(d)
        return d

    def dropcache(self):
        """Forget clean cached blobs; returns how many."""
        return self._cache.clear()

    # -- RPC -----------------------------------------------------------------

    def _digest_ref(self, request):
        raw = request.message.payload or b""
        try:
            return _blobref.from_digest(raw, self.hash_name)
        except FluxError:
            raise ProtocolError(f"expected a {self.hash_name} digest of"
                                f" {_blobref.HASHES[self.hash_name][1]} bytes,"
                                f" got {len(raw)} bytes") from None

    @method("load")
    def rpc_load(self, request):
        """``content.load``: raw digest in, blob out (ENOENT if unknown)."""
        self.stats["load-requests"] += 1
        return self.load(self._digest_ref(request))

    @method("store")
    async def rpc_store(self, request):
        """``content.store``: blob in, raw digest out once it is stored."""
        self.stats["store-requests"] += 1
        data = request.message.payload or b""
        if len(data) > self.blob_limit:
            raise TooLarge(f"blob of {len(data)} bytes exceeds the blob size"
                           f" limit of {self.blob_limit} bytes")
        ref = self.hash(data)
        if self.cached(ref) is None or ref in self._dirty:
            await self.write({ref: data})
        return _blobref.to_digest(ref)

    @method("validate")
    async def rpc_validate(self, request):
        """``content.validate``: succeed if the blob exists (ENOENT if not)."""
        await self.load(self._digest_ref(request))
        return None

    @method("flush")
    async def rpc_flush(self, request):
        """``content.flush``: answer once nothing is waiting to be stored."""
        await self.flush()
        return None

    @method("dropcache")
    def rpc_dropcache(self, request):
        """``content.dropcache``: drop clean entries from this cache."""
        dropped = self.dropcache()
        self.log.debug("content dropcache {n}", n=dropped)
        return None

    @method("checkpoint-get")
    async def rpc_checkpoint_get(self, request):
        """``content.checkpoint-get``: the stored KVS primary root."""
        if self.store is None:
            return await self.router.call("content.checkpoint-get",
                                          request.json(), nodeid=0,
                                          cred=request.cred)
        rec = (await self.store.roots()).get("primary")
        if rec is None:
            raise NotFound("No checkpoint has been stored")
        return {"value": {"version": 1, "rootref": rec["rootref"],
                          "sequence": rec["sequence"],
                          "timestamp": rec["timestamp"]}}

    @method("checkpoint-put")
    async def rpc_checkpoint_put(self, request):
        """``content.checkpoint-put``: set the stored primary root.

        Only while no KVS runs on this store: a running KVS stores its
        root with every commit and would overwrite it.
        """
        if self.store is None:
            return await self.router.call("content.checkpoint-put",
                                          request.json(), nodeid=0,
                                          cred=request.cred)
        if self.kvs_active:
            raise Busy("the KVS is running and checkpoints every commit")
        value = request.json().get("value")
        if not isinstance(value, dict) or \
                not _blobref.is_blobref(value.get("rootref")) or \
                not isinstance(value.get("sequence"), int):
            raise InvalidArgument("checkpoint value must hold a rootref and"
                                  " an integer sequence")
        await self.load(value["rootref"])
        rec = root_record(value["rootref"], value["sequence"], self.owner, 0,
                          value.get("timestamp", time.time()))
        old = (await self.store.roots()).get("primary")
        if old is not None:
            rec["owner"], rec["flags"] = old["owner"], old["flags"]
        await self.store.write({}, {"primary": rec})
        return None

    @method("stats-get")
    def flux_stats_get(self, request):
        """Cache and store counters (owner only, like the whole service)."""
        out = dict(self.stats)
        out.update(count=len(self._cache) + len(self._dirty),
                   valid=len(self._cache) + len(self._dirty),
                   dirty=len(self._dirty), size=self._cache.size)
        if self.store is not None:
            out["backing"] = dict(getattr(self.store, "stats", {}))
        return out

