"""The kvs service on rank 0: commits, batching, durability, namespaces."""

import errno

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from fluxd.errors import FluxError
from fluxd.interfaces import IKVS
from fluxd.storage import treeobj as T
from fluxd.kvs.content import MemoryContentStore
from fluxd.storage.lookup import READDIR, READLINK, TREEOBJ
from fluxd.storage.txn import APPEND, NO_MERGE, SYNC, TXN_COMPACT
from fluxd.message.types import ROLE_USER
from fluxd.testing.kvs import GatedStore, KVSBroker

GUEST = 4242


def val(data):
    return T.create_val(data)


def put(key, data, flags=0):
    return {"key": key, "flags": flags, "dirent": val(data)}


def commit_body(ops, namespace="primary", flags=0):
    return {"namespace": namespace, "flags": flags, "ops": ops}


class Base(SynchronousTestCase):
    store_class = MemoryContentStore

    def setUp(self):
        self.store = self.make_store()
        self.b = KVSBroker(0, self.store)
        self.successResultOf(self.b.start())

    def make_store(self):
        return MemoryContentStore()

    def commit(self, ops, namespace="primary", flags=0, **cred):
        return self.b.call("kvs.commit", commit_body(ops, namespace, flags), **cred)

    def ok(self, d):
        return self.successResultOf(d)

    def fails(self, d, num):
        f = self.failureResultOf(d, FluxError)
        self.assertEqual(f.value.errno, num, f.value)
        return f.value

    def get(self, key, namespace="primary", flags=0, **cred):
        return self.b.call("kvs.lookup", {"key": key, "namespace": namespace,
                                          "flags": flags}, **cred)

    def value(self, key, namespace="primary", **cred):
        return T.decode_val(self.ok(self.get(key, namespace, **cred))["val"])


class CommitTests(Base):
    def test_interface(self):
        self.assertTrue(verifyObject(IKVS, self.b.kvs))

    def test_commit_and_lookup(self):
        result = self.ok(self.commit([put("a.b", b"1"), put("c", b"x" * 500)]))
        self.assertEqual(result["rootseq"], 1)
        self.assertEqual(self.value("a.b"), b"1")
        self.assertEqual(self.value("c"), b"x" * 500)
        root = self.ok(self.b.call("kvs.getroot", {"namespace": "primary"}))
        self.assertEqual((root["rootref"], root["rootseq"], root["owner"]),
                         (result["rootref"], 1, 1000))

    def test_lookup_flags(self):
        self.ok(self.commit([put("d.x", b"1"), {"key": "l", "flags": 0,
                             "dirent": T.create_symlink("d.x")}]))
        self.assertEqual(sorted(self.ok(self.get("d", flags=READDIR))["val"]["data"]),
                         ["x"])
        self.assertEqual(self.ok(self.get("l", flags=READLINK))["val"]["data"],
                         {"target": "d.x"})
        self.assertEqual(self.ok(self.get("d", flags=TREEOBJ))["val"]["type"],
                         "dirref")
        self.fails(self.get("d"), errno.EISDIR)
        self.fails(self.get("nope"), errno.ENOENT)
        self.fails(self.get("d", flags=4), errno.EPROTO)

    def test_valref_resolved_unless_treeobj(self):
        self.ok(self.commit([put("log", b"a", APPEND)]))
        self.ok(self.commit([put("log", b"b", APPEND)]))
        self.assertEqual(self.value("log"), b"ab")
        obj = self.ok(self.get("log", flags=TREEOBJ))["val"]
        self.assertEqual(obj["type"], "valref")
        self.assertEqual(len(obj["data"]), 2)

    def test_inprocess_lookup_returns_a_copy(self):
        self.ok(self.commit([put("d.x", b"1")]))
        mine = self.ok(self.b.kvs.lookup("primary", "d", READDIR))
        mine["data"]["x"]["data"] = "garbage"
        mine["data"].clear()
        self.assertEqual(self.value("d.x"), b"1")

    def test_snapshot_lookup(self):
        first = self.ok(self.commit([put("k", b"old")]))
        self.ok(self.commit([put("k", b"new")]))
        old = self.ok(self.b.call("kvs.lookup", {
            "key": "k", "namespace": "primary", "flags": 0,
            "rootdir": T.create_dirref(first["rootref"])}))
        self.assertEqual(T.decode_val(old["val"]), b"old")
        self.assertEqual(self.value("k"), b"new")
        self.fails(self.b.call("kvs.lookup", {"key": "k", "rootdir": val(b"")}),
                   errno.EINVAL)

    def test_bad_input_stores_nothing(self):
        before = len(self.store._blobs)
        cases = [
            ([put("a..b", b"1")], errno.EINVAL, "empty path component"),
            ([{"key": "a", "flags": 0, "dirent": {"ver": 1, "type": "val",
                                                  "data": 5}}],
             errno.EINVAL, "key 'a'"),
            ([{"key": "a", "flags": 0,
               "dirent": T.create_valref(["sha1-" + "0" * 40])}],
             errno.ENOENT, "not in the content store"),
            ([put("big", b"x" * (1024 * 1024 + 1))], errno.EFBIG, "exceeds"),
            ("not ops", errno.EPROTO, "array"),
        ]
        for ops, num, text in cases:
            err = self.fails(self.commit(ops), num)
            self.assertIn(text, str(err))
        self.fails(self.commit([put("a", b"1")], flags=64), errno.EINVAL)
        self.assertEqual(len(self.store._blobs), before)
        self.assertEqual(self.ok(self.b.kvs.getroot("primary"))["rootseq"], 0)

    def test_dirref_must_name_directory(self):
        blob = b"not a dir"
        ref = self.b.content.hash(blob)
        self.ok(self.b.content.write({ref: blob}))
        err = self.fails(self.commit([{"key": "d", "flags": 0,
                                       "dirent": T.create_dirref(ref)}]),
                         errno.EINVAL)
        self.assertIn("does not name a directory", str(err))
        # a valref to an existing blob is fine
        self.ok(self.commit([{"key": "v", "flags": 0,
                              "dirent": T.create_valref([ref])}]))
        self.assertEqual(self.value("v"), blob)

    def test_sync_only_primary(self):
        self.ok(self.commit([put("a", b"1")], flags=SYNC))
        self.ok(self.b.kvs.create_namespace("other"))
        self.fails(self.commit([put("a", b"1")], "other", SYNC), errno.EINVAL)

    def test_empty_commit_keeps_version(self):
        self.ok(self.commit([put("a", b"1")]))
        self.assertEqual(self.ok(self.commit([]))["rootseq"], 1)

    def test_compact(self):
        ops = [put("log", b"%d" % i, APPEND) for i in range(10)]
        self.ok(self.commit(ops, flags=TXN_COMPACT))
        self.assertEqual(self.value("log"), b"0123456789")

    def test_failed_append_fails_alone(self):
        self.ok(self.commit([put("d.x", b"1")]))
        self.fails(self.commit([put("d", b"y", APPEND)]), errno.EISDIR)
        self.assertEqual(self.ok(self.b.kvs.getroot("primary"))["rootseq"], 1)

    def test_setroot_event(self):
        got = []
        self.b.events.subscribe("kvs.namespace-primary-setroot", got.append)
        r = self.ok(self.commit([put("x.y", b"1"), put(".z.", b"2")]))
        body = got[0].json()
        self.assertEqual((body["rootref"], body["rootseq"]), (r["rootref"], 1))
        self.assertEqual(sorted(body["keys"]), ["x.y", "z"])

    def test_wait_version(self):
        d = self.b.call("kvs.wait-version", {"namespace": "primary", "rootseq": 2})
        self.ok(self.commit([put("a", b"1")]))
        self.assertNoResult(d)
        self.ok(self.commit([put("a", b"2")]))
        self.ok(d)
        self.ok(self.b.call("kvs.wait-version", {"namespace": "primary",
                                                 "rootseq": 1}))
        self.fails(self.b.call("kvs.wait-version", {"rootseq": "x"}), errno.EINVAL)

    def test_dropcache_reloads(self):
        self.ok(self.commit([put("a.b.c", b"1")]))
        self.ok(self.b.call("kvs.dropcache"))
        self.ok(self.b.call("content.dropcache"))
        self.assertEqual(self.value("a.b.c"), b"1")
        self.ok(self.commit([put("a.b.d", b"2")]))
        self.assertEqual(self.value("a.b.c"), b"1")

    def test_stats(self):
        self.ok(self.commit([put("a", b"1")]))
        stats = self.ok(self.b.call("kvs.stats-get"))
        self.assertEqual(stats["commits"], 1)
        self.assertEqual(stats["namespace"]["primary"]["rootseq"], 1)


class BatchingTests(Base):
    def make_store(self):
        return GatedStore()

    def setUp(self):
        self.store = GatedStore()
        self.store.gate = False
        self.b = KVSBroker(0, self.store)
        self.successResultOf(self.b.start())
        self.store.gate = True

    def test_answered_only_when_durable(self):
        d = self.commit([put("a", b"1")])
        self.assertNoResult(d)
        self.assertEqual(len(self.store.gated), 1)
        blobs, roots = self.store.writes[-1]
        self.assertEqual(roots["primary"]["sequence"], 1)
        self.assertIn(roots["primary"]["rootref"], blobs)
        # not visible before it is durable
        self.fails(self.get("a"), errno.ENOENT)
        self.store.release()
        self.assertEqual(self.ok(d)["rootseq"], 1)
        self.assertEqual(self.value("a"), b"1")

    def test_concurrent_commits_merge(self):
        first = self.commit([put("a", b"1")])
        rest = [self.commit([put(f"k{i}", b"%d" % i)]) for i in range(5)]
        bad = self.commit([put("d.x", b"1"), put("d", b"z", APPEND)])
        alone = self.commit([put("solo", b"1")], flags=NO_MERGE)
        after = self.commit([put("last", b"1")])
        self.assertEqual(len(self.store.gated), 1)
        self.store.release()
        self.assertEqual(self.ok(first)["rootseq"], 1)
        # the five queued commits (and the failing one) form one batch
        self.assertEqual(len(self.store.gated), 1)
        self.store.release()
        seqs = {self.ok(d)["rootseq"] for d in rest}
        self.assertEqual(seqs, {2})
        self.assertEqual(self.value("a"), b"1")
        self.fails(self.get("d.x"), errno.ENOENT)
        # the NO_MERGE commit goes alone, then the last one
        self.store.release()
        self.assertEqual(self.ok(alone)["rootseq"], 3)
        self.store.release()
        self.assertEqual(self.ok(after)["rootseq"], 4)
        self.fails(bad, errno.EISDIR)

    def test_lost_directory_fails_only_its_commits(self):
        # the directories a batch's keys go through are loaded for the
        # whole batch first; a blob lost from the store fails only the
        # commits whose keys go through it, the others of the batch land
        self.store.gate = False
        self.ok(self.commit([put(f"j.{d}.{i}.x", d.encode()) for d in "abc"
                             for i in range(3)]))
        lost = self.ok(self.b.kvs.lookup("primary", "j.c", TREEOBJ))
        self.ok(self.b.call("kvs.dropcache"))
        self.ok(self.b.call("content.dropcache"))
        del self.store.inner._blobs[lost["data"][0]]
        self.store.gate = True
        first = self.commit([put("first", b"1")])
        ds = [self.commit([put(f"j.{d}.{i}.x", b"1")]) for d in "abc"
              for i in range(3)]
        self.store.release()
        self.store.release()
        self.assertEqual(self.ok(first)["rootseq"], 2)
        for d in ds[:6]:
            self.assertEqual(self.ok(d)["rootseq"], 3)
        for d in ds[6:]:
            self.fails(d, errno.ENOENT)
        self.assertEqual(self.value("j.b.2.x"), b"1")
        self.assertEqual(self.value("j.a.0.x"), b"1")

    def test_write_failure_fails_batch(self):
        d = self.commit([put("a", b"1")])
        self.store.fail_next = FluxError("disk full", errnum=errno.ENOSPC)
        self.store.release()
        self.fails(d, errno.ENOSPC)
        self.assertEqual(len(self.flushLoggedErrors(FluxError)), 1)
        self.assertEqual(self.ok(self.b.kvs.getroot("primary"))["rootseq"], 0)
        self.fails(self.get("a"), errno.ENOENT)
        self.store.gate = False
        self.assertEqual(self.ok(self.commit([put("a", b"2")]))["rootseq"], 1)

    def test_stop_waits_for_batch(self):
        d = self.commit([put("a", b"1")])
        stopping = self.b.stop()
        self.assertNoResult(stopping)
        self.store.release()
        self.ok(d)
        self.ok(stopping)


class TinyCacheTests(SynchronousTestCase):
    def test_works_when_nothing_fits_in_the_caches(self):
        b = KVSBroker(0, cache_bytes=1)
        self.successResultOf(b.start())
        for i in range(3):
            self.successResultOf(b.kvs.commit("primary", [
                put(f"a.b{i}.c", b"%d" % i), put("a.log", b"x", APPEND)]))
        for i in range(3):
            got = self.successResultOf(b.kvs.lookup("primary", f"a.b{i}.c"))
            self.assertEqual(T.decode_val(got), b"%d" % i)
        self.assertEqual(len(b.kvs._objects), 0)
        # a dirref to an existing directory passes the checks
        root = self.successResultOf(b.kvs.lookup("primary", "a", TREEOBJ))
        self.successResultOf(b.kvs.commit("primary", [
            {"key": "copy", "flags": 0, "dirent": root}]))
        got = self.successResultOf(b.kvs.lookup("primary", "copy.b1.c"))
        self.assertEqual(T.decode_val(got), b"1")


class SupersededVersionsTests(SynchronousTestCase):
    def _loads(self, b):
        return b.content.stats["cache-hits"] + b.content.stats["cache-misses"]

    def test_a_large_directory_s_old_versions_go_before_small_ones(self):
        # room for a few versions of a 100-entry directory: each commit
        # to one of its entries makes a new one, and the small
        # directories written before must stay decoded, not pushed out
        # by the versions no root holds any more
        for multi in (False, True):
            b = KVSBroker(0, cache_bytes=300_000)
            self.successResultOf(b.start())
            self.successResultOf(b.kvs.commit("primary", [
                put(f"big.e{i}.x", b"%d" % i) for i in range(100)]))
            for i in range(10):
                self.successResultOf(b.kvs.commit("primary", [
                    put(f"small.d{i}.x", b"small %d" % i)]))
            for i in range(20):
                ops = [put(f"big.e{i}.x", b"new")]
                if multi:   # the job services' path
                    self.successResultOf(b.kvs.commit_batch([
                        {"op": "commit", "namespace": "primary",
                         "ops": ops}]))
                else:
                    self.successResultOf(b.kvs.commit("primary", ops))
            loads = self._loads(b)
            for i in range(10):
                got = self.successResultOf(
                    b.kvs.lookup("primary", f"small.d{i}.x"))
                self.assertEqual(T.decode_val(got), b"small %d" % i)
            self.assertEqual(self._loads(b), loads, f"multi={multi}")
            self.assertLess(b.kvs._objects.size, 300_000)


class RestartTests(SynchronousTestCase):
    def test_resume_from_stored_root(self):
        store = MemoryContentStore()
        b = KVSBroker(0, store)
        self.successResultOf(b.start())
        self.successResultOf(b.call("kvs.commit", commit_body([put("a", b"1")])))
        self.successResultOf(b.kvs.create_namespace("ns", GUEST))
        self.successResultOf(b.call("kvs.commit", commit_body([put("b", b"2")],
                                                              "ns")))
        self.successResultOf(b.stop())
        store._closed = False
        again = KVSBroker(0, store)
        self.successResultOf(again.start())
        root = self.successResultOf(again.kvs.getroot("primary"))
        self.assertEqual(root["rootseq"], 1)
        got = self.successResultOf(again.kvs.lookup("ns", "b"))
        self.assertEqual(T.decode_val(got), b"2")
        self.assertEqual(self.successResultOf(again.kvs.getroot("ns"))["owner"],
                         GUEST)


class NamespaceTests(Base):
    def test_create_list_remove(self):
        self.ok(self.b.call("kvs.namespace-create", {"namespace": "job-1",
                                                     "owner": GUEST, "flags": 0}))
        self.fails(self.b.call("kvs.namespace-create", {"namespace": "job-1"}),
                   errno.EEXIST)
        self.fails(self.b.call("kvs.namespace-create", {"namespace": "a/b"}),
                   errno.EINVAL)
        listed = self.ok(self.b.call("kvs.namespace-list"))["namespaces"]
        self.assertEqual(listed, [{"namespace": "job-1", "owner": GUEST, "flags": 0},
                                  {"namespace": "primary", "owner": 1000, "flags": 0}])
        self.ok(self.commit([put("x", b"1")], "job-1"))
        self.ok(self.b.call("kvs.namespace-remove", {"namespace": "job-1"}))
        self.fails(self.get("x", "job-1"), errno.EOPNOTSUPP)
        self.ok(self.b.call("kvs.namespace-remove", {"namespace": "job-1"}))
        self.fails(self.b.call("kvs.namespace-remove", {"namespace": "primary"}),
                   errno.EINVAL)

    def test_default_owner_is_instance_owner(self):
        self.ok(self.b.call("kvs.namespace-create", {"namespace": "mine",
                                                     "owner": 0xFFFFFFFF}))
        self.assertEqual(self.ok(self.b.kvs.getroot("mine"))["owner"], 1000)

    def test_create_with_rootref(self):
        r = self.ok(self.commit([put("a", b"1")]))
        self.ok(self.b.call("kvs.namespace-create", {"namespace": "copy",
                                                     "rootref": r["rootref"]}))
        self.assertEqual(self.value("a", "copy"), b"1")
        self.fails(self.b.call("kvs.namespace-create", {
            "namespace": "bad", "rootref": "sha1-" + "1" * 40}), errno.ENOENT)

    def test_guest_access(self):
        guest = {"userid": GUEST, "rolemask": ROLE_USER}
        self.ok(self.b.kvs.create_namespace("job-7", GUEST))
        self.ok(self.commit([put("a", b"1")], "job-7", **guest))
        self.assertEqual(self.value("a", "job-7", **guest), b"1")
        self.fails(self.commit([put("a", b"1")], **guest), errno.EPERM)
        self.fails(self.get("a", **guest), errno.EPERM)
        self.fails(self.b.call("kvs.getroot", {"namespace": "primary"}, **guest),
                   errno.EPERM)
        other = {"userid": GUEST + 1, "rolemask": ROLE_USER}
        self.fails(self.get("a", "job-7", **other), errno.EPERM)
        self.fails(self.b.call("kvs.namespace-create", {"namespace": "x"}, **guest),
                   errno.EPERM)
        # the owner may read the guest's namespace
        self.assertEqual(self.value("a", "job-7"), b"1")

    def test_symlink_into_namespace(self):
        self.ok(self.b.kvs.create_namespace("job-7", GUEST))
        self.ok(self.commit([put("data.x", b"guest data")], "job-7"))
        self.ok(self.commit([{"key": "job.guest", "flags": 0,
                              "dirent": T.create_symlink(".", "job-7")}]))
        self.assertEqual(self.value("job.guest.data.x"), b"guest data")
        self.fails(self.commit([put("job.guest.new", b"1")]), errno.EINVAL)

    def test_missing_namespace(self):
        err = self.fails(self.get("a", "nope"), errno.EOPNOTSUPP)
        self.assertIn("nope", str(err))
        self.fails(self.commit([put("a", b"1")], "nope"), errno.EOPNOTSUPP)

    def test_remove_fails_queued_commits(self):
        store = GatedStore()
        store.gate = False
        b = KVSBroker(0, store)
        self.ok(b.start())
        self.ok(b.kvs.create_namespace("gone"))
        store.gate = True
        first = b.kvs.commit("gone", [put("a", b"1")])
        queued = b.kvs.commit("gone", [put("b", b"1")])
        removing = b.call("kvs.namespace-remove", {"namespace": "gone"})
        store.release()
        self.ok(first)
        self.fails(queued, errno.EOPNOTSUPP)
        store.release()
        self.ok(removing)
        self.assertEqual(self.ok(store.roots()).keys(), {"primary"})
