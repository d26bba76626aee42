"""The content service: raw RPCs, limits, cache, load coalescing."""

import errno

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError
from fluxd.storage import blobref
from fluxd.kvs.cache import LRUCache
from fluxd.kvs.content import MemoryContentStore
from fluxd.kvs.content_service import ContentService
from fluxd.message.router import Credential, Router
from fluxd.message.types import ROLE_OWNER, ROLE_USER
from fluxd.testing.kvs import GatedStore, KVSBroker, Link


class CountingStore(MemoryContentStore):
    """Counts loads and can hold them until released."""

    def __init__(self):
        super().__init__()
        self.loads = []
        self.hold = False

    def load(self, ref):
        if not self.hold:
            self.loads.append(ref)
            return super().load(ref)
        d = defer.Deferred()
        self.loads.append((ref, d))
        return d


OWNER = Credential(0, ROLE_OWNER)


class ContentRPCTests(SynchronousTestCase):
    def setUp(self):
        self.store = MemoryContentStore()
        self.router = Router(0)
        self.content = ContentService(0, self.router, self.store, blob_limit=100)
        self.successResultOf(self.content.startService())
        self.router.add_module(self.content)

    def call(self, topic, payload=None, rolemask=ROLE_OWNER, **kw):
        return self.router.call(topic, payload, raw=True,
                                cred=Credential(0, rolemask), **kw)

    def test_store_load(self):
        digest = self.successResultOf(self.call("content.store", b"hello"))
        self.assertEqual(digest, blobref.digest(b"hello"))
        self.assertEqual(self.successResultOf(self.call("content.load", digest)),
                         b"hello")
        empty = self.successResultOf(self.call("content.store"))
        self.assertEqual(empty, blobref.digest(b""))
        self.successResultOf(self.call("content.validate", digest))
        self.successResultOf(self.call("content.flush"))

    def test_errors(self):
        f = self.failureResultOf(self.call("content.store", b"x" * 101), FluxError)
        self.assertEqual(f.value.errno, errno.EFBIG)
        self.assertIn("101 bytes", str(f.value))
        f = self.failureResultOf(self.call("content.load", b"short"), FluxError)
        self.assertEqual(f.value.errno, errno.EPROTO)
        f = self.failureResultOf(self.call("content.load",
                                           blobref.digest(b"never")), FluxError)
        self.assertEqual(f.value.errno, errno.ENOENT)
        f = self.failureResultOf(self.call("content.validate",
                                           blobref.digest(b"never")), FluxError)
        self.assertEqual(f.value.errno, errno.ENOENT)
        f = self.failureResultOf(self.call("content.load", blobref.digest(b"x"),
                                           rolemask=ROLE_USER), FluxError)
        self.assertEqual(f.value.errno, errno.EPERM)

    def test_dropcache_and_stats(self):
        self.successResultOf(self.call("content.store", b"cached"))
        stats = self.successResultOf(self.router.call("content.stats-get", cred=OWNER))
        self.assertEqual(stats["count"], 1)
        self.successResultOf(self.call("content.dropcache"))
        stats = self.successResultOf(self.router.call("content.stats-get", cred=OWNER))
        self.assertEqual(stats["count"], 0)
        self.assertEqual(stats["backing"]["blobs"], 1)

    def test_checkpoint(self):
        f = self.failureResultOf(self.router.call("content.checkpoint-get", cred=OWNER),
                                 FluxError)
        self.assertEqual(f.value.errno, errno.ENOENT)
        ref = blobref.hash_blob(b"{}")
        self.successResultOf(self.content.write({ref: b"{}"}))
        self.successResultOf(self.router.call(
            "content.checkpoint-put", cred=OWNER, payload={
            "value": {"version": 1, "rootref": ref, "sequence": 5,
                      "timestamp": 1.0}}))
        got = self.successResultOf(self.router.call("content.checkpoint-get", cred=OWNER))
        self.assertEqual(got["value"], {"version": 1, "rootref": ref,
                                        "sequence": 5, "timestamp": 1.0})
        self.content.kvs_active = True
        f = self.failureResultOf(self.router.call(
            "content.checkpoint-put", cred=OWNER, payload={
            "value": {"rootref": ref, "sequence": 6}}), FluxError)
        self.assertEqual(f.value.errno, errno.EBUSY)
        self.content.kvs_active = False
        f = self.failureResultOf(self.router.call(
            "content.checkpoint-put", cred=OWNER, payload={
            "value": {"rootref": "bad"}}), FluxError)
        self.assertEqual(f.value.errno, errno.EINVAL)

    def test_sha256(self):
        router = Router(0)
        content = ContentService(0, router, MemoryContentStore("sha256"),
                                 hash_name="sha256")
        self.successResultOf(content.startService())
        router.add_module(content)
        digest = self.successResultOf(router.call("content.store", b"x", raw=True, cred=OWNER))
        self.assertEqual(len(digest), 32)
        f = self.failureResultOf(router.call("content.load", blobref.digest(b"x"),
                                             raw=True, cred=OWNER), FluxError)
        self.assertEqual(f.value.errno, errno.EPROTO)


class CacheTests(SynchronousTestCase):
    def test_lru(self):
        cache = LRUCache(10)
        cache.put("a", 1, 4)
        cache.put("b", 2, 4)
        self.assertEqual(cache.get("a"), 1)
        cache.put("c", 3, 4)         # evicts b, the least recently used
        self.assertNotIn("b", cache)
        self.assertEqual((len(cache), cache.size), (2, 8))
        cache.put("huge", 0, 11)     # larger than the budget: not kept
        self.assertNotIn("huge", cache)
        cache.put("a", 9, 2)
        self.assertEqual((cache.get("a"), cache.size), (9, 6))
        self.assertEqual(cache.clear(), 2)
        self.assertEqual(cache.get("a", "gone"), "gone")

    def test_demoted_entries_go_first(self):
        cache = LRUCache(12)
        for key in "abc":
            cache.put(key, key, 4)
        cache.demote(["c", "gone"])      # absent keys are ignored
        cache.put("d", "d", 4)           # evicts c, not a
        self.assertEqual(sorted(cache._entries), ["a", "b", "d"])
        cache.demote(["d"])
        cache.put("d", "D", 4)           # put again: recently used again
        cache.put("e", "e", 4)
        self.assertEqual(sorted(cache._entries), ["b", "d", "e"])

    def test_entries_are_charged_their_overhead(self):
        cache = LRUCache(1000, overhead=256)
        for i in range(10):
            cache.put(i, b"x", 1)
        # ten one-byte blobs cost more than the budget with their overhead
        self.assertEqual((len(cache), cache.size), (3, 3 * 257))
        self.assertEqual(sorted(cache._entries), [7, 8, 9])

    def test_concurrent_loads_share_one_store_load(self):
        store = CountingStore()
        router = Router(0)
        content = ContentService(0, router, store, cache_bytes=0)
        self.successResultOf(content.startService())
        ref = content.hash(b"blob")
        self.successResultOf(store.write({ref: b"blob"}, {}))
        store.hold = True
        d1, d2 = content.load(ref), content.load(ref)
        self.assertEqual(len(store.loads), 1)
        store.loads[0][1].callback(b"blob")
        self.assertEqual(self.successResultOf(d1), b"blob")
        self.assertEqual(self.successResultOf(d2), b"blob")

    def test_pending_write_readable(self):
        store = GatedStore()
        router = Router(0)
        content = ContentService(0, router, store)
        self.successResultOf(content.startService())
        ref = content.hash(b"soon")
        d = content.write({ref: b"soon"})
        self.assertEqual(self.successResultOf(content.load(ref)), b"soon")
        self.assertNoResult(d)
        store.release()
        self.successResultOf(d)
        self.assertEqual(content.cached(ref), b"soon")

    def test_follower_rejects_wrong_blob(self):
        b0, b1 = KVSBroker(0), KVSBroker(1)
        self.successResultOf(b0.start())
        self.successResultOf(b1.start())

        class Liar(Link):
            def forward(self, message, reply):
                reply(message.response(b"not what you asked for"))
        b1.router.attach_upstream(Liar(b0, "rank-1"))
        f = self.failureResultOf(b1.content.load(blobref.hash_blob(b"x")),
                                 FluxError)
        self.assertEqual(f.value.errno, errno.EPROTO)

    def test_rank0_needs_store(self):
        with self.assertRaises(FluxError):
            ContentService(0, Router(0), None)
