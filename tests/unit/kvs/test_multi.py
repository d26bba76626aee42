"""Commit batches over several namespaces (a job's guest namespace)."""

import errno

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError, NoSpace
from fluxd.job.kvsbatch import KVSBatcher
from fluxd.kvs.content import MemoryContentStore
from fluxd.kvs.service import OWNER_CRED
from fluxd.message.types import ROLE_USER
from fluxd.storage import treeobj as T
from fluxd.storage.lookup import READDIR, TREEOBJ, WAITCREATE, WATCH, WATCH_APPEND
from fluxd.storage.txn import APPEND
from fluxd.testing.kvs import GatedStore, KVSBroker, link
from tests.unit.kvs.test_service import put
from tests.unit.kvs.test_watch import Stream

GUEST = 4242


def commit(ns, *ops):
    return {"op": "commit", "namespace": ns, "ops": list(ops)}


def append(key, data):
    return put(key, data, APPEND)


class BatchTests(SynchronousTestCase):
    def setUp(self):
        self.store = GatedStore(MemoryContentStore())
        self.store.gate = False
        self.b = KVSBroker(0, self.store)
        self.successResultOf(self.b.start())

    def batch(self, *steps):
        return self.b.kvs.commit_batch(list(steps))

    def value(self, key, ns="primary", **cred):
        obj = self.successResultOf(self.b.kvs.lookup(ns, key, **cred))
        return T.decode_val(obj)

    def test_life_of_a_guest_namespace_in_one_write_per_batch(self):
        writes = len(self.store.writes)
        self.successResultOf(self.batch(
            commit("primary", put("job.1.eventlog", b"submit\n")),
            {"op": "create", "namespace": "job-1", "owner": GUEST},
            commit("primary", {"key": "job.1.guest", "flags": 0,
                               "dirent": T.create_symlink(".", "job-1")}),
            commit("job-1", append("exec.eventlog", b"init\n"))))
        self.assertEqual(len(self.store.writes), writes + 1)
        blobs, roots = self.store.writes[-1]
        self.assertEqual(set(roots), {"primary", "job-1"})
        self.assertEqual(roots["job-1"]["owner"], GUEST)
        # through the symlink, and in the namespace itself
        self.assertEqual(self.value("job.1.guest.exec.eventlog"), b"init\n")
        self.assertEqual(self.value("exec.eventlog", "job-1"), b"init\n")
        self.successResultOf(self.batch(
            commit("job-1", append("exec.eventlog", b"complete\n"),
                   put("output", b"out\n"))))
        self.assertEqual(self.value("job.1.guest.exec.eventlog"),
                         b"init\ncomplete\n")
        before = self.value("job.1.guest.output")
        self.successResultOf(self.batch(
            {"op": "copy", "from": "job-1", "namespace": "primary",
             "key": "job.1.guest"},
            {"op": "remove", "namespace": "job-1"},
            commit("primary", append("job.1.guest.exec.eventlog", b"done\n"))))
        self.assertEqual(len(self.store.writes), writes + 3)
        self.assertEqual(self.store.writes[-1][1]["job-1"], None)
        self.assertNotIn("job-1", [n["namespace"]
                                   for n in self.b.kvs.namespaces()])
        self.assertEqual(self.value("job.1.guest.exec.eventlog"),
                         b"init\ncomplete\ndone\n")
        self.assertEqual(self.value("job.1.guest.output"), before)
        guest = self.successResultOf(self.b.kvs.lookup(
            "primary", "job.1.guest", TREEOBJ))
        self.assertEqual(guest["type"], T.DIRREF)
        # the namespace is gone from the store too (a restart would not
        # bring it back)
        self.assertNotIn("job-1", self.successResultOf(
            self.b.content.roots()))

    def test_copy_shares_the_blobs(self):
        big = b"x" * 5000
        self.successResultOf(self.batch(
            {"op": "create", "namespace": "job-2", "owner": GUEST},
            commit("job-2", put("output", big))))
        self.successResultOf(self.batch(
            {"op": "copy", "from": "job-2", "namespace": "primary",
             "key": "job.2.guest"},
            {"op": "remove", "namespace": "job-2"}))
        blobs = self.store.writes[-1][0]
        self.assertFalse(any(big in data for data in blobs.values()))
        self.assertEqual(self.value("job.2.guest.output"), big)

    def test_create_is_idempotent_and_owner_reads_only_its_own(self):
        create = {"op": "create", "namespace": "job-3", "owner": GUEST}
        self.successResultOf(self.batch(create, commit("job-3", put("a", b"1"))))
        self.successResultOf(self.batch(create))
        self.assertEqual(self.value("a", "job-3"), b"1")
        mine = (GUEST, ROLE_USER)
        self.assertEqual(self.value("a", "job-3", cred=mine), b"1")
        d = self.b.kvs.lookup("job-3", "a", cred=(GUEST + 1, ROLE_USER))
        self.assertEqual(self.failureResultOf(d, FluxError).value.errno,
                         errno.EPERM)
        # a guest may not send batches at all
        d = self.b.kvs.commit_batch([create], cred=mine)
        self.assertEqual(self.failureResultOf(d, FluxError).value.errno,
                         errno.EPERM)

    def test_guest_step_that_fails_is_skipped_primary_one_fails_all(self):
        self.successResultOf(self.batch(
            {"op": "create", "namespace": "job-4", "owner": GUEST},
            commit("job-4", put("output.x", b"in the way"))))
        # the job's owner made "output" a directory: its append is
        # skipped, the rest of the batch lands
        self.successResultOf(self.batch(
            commit("job-4", append("output", b"data")),
            commit("primary", put("k", b"v")),
            commit("gone", put("k", b"v"))))
        self.assertEqual(self.value("k"), b"v")
        writes = len(self.store.writes)
        self.successResultOf(self.b.kvs.commit(
            "primary", [put("dir.x", b"1")]))
        d = self.batch(commit("job-4", put("new", b"1")),
                       commit("primary", append("dir", b"x")))
        self.assertEqual(self.failureResultOf(d, FluxError).value.errno,
                         errno.EISDIR)
        self.assertEqual(len(self.store.writes), writes + 1)
        d = self.b.kvs.lookup("job-4", "new")
        self.assertEqual(self.failureResultOf(d, FluxError).value.errno,
                         errno.ENOENT)

    def test_bad_steps(self):
        for steps, num in (
                ("nope", errno.EPROTO),
                ([{"op": "rename", "namespace": "a"}], errno.EPROTO),
                ([{"op": "create", "namespace": "a b", "owner": 1}],
                 errno.EINVAL),
                ([{"op": "create", "namespace": "a", "owner": "me"}],
                 errno.EINVAL),
                ([{"op": "remove", "namespace": "primary"}], errno.EINVAL),
                ([{"op": "copy", "from": "a", "namespace": "primary",
                   "key": "."}], errno.EINVAL),
                ([commit("primary", {"key": "k"})], errno.EPROTO)):
            d = self.b.kvs.commit_batch(steps)
            self.assertEqual(self.failureResultOf(d, FluxError).value.errno,
                             num, steps)


    def test_own_steps_land_as_their_json_form_does(self):
        # the job services' batcher gives its steps in the checked form
        # (own=True); the same batch as JSON steps makes the same roots
        def steps(job):
            ns = f"job-{job}"
            return (
                [("commit", "primary", [
                    (f"job.{job}.eventlog", APPEND, T.create_val(b"start\n")),
                    (f".job.{job}.R.", 0, T.create_val(b"{}"))]),
                 ("create", ns, GUEST),
                 ("commit", ns, [("output", 0, T.create_val(b"o\n"))]),
                 ("copy", "primary", (ns, f"job.{job}.guest")),
                 ("remove", ns, None)],
                [commit("primary", append(f"job.{job}.eventlog", b"start\n"),
                        put(f".job.{job}.R.", b"{}")),
                 {"op": "create", "namespace": ns, "owner": GUEST},
                 commit(ns, put("output", b"o\n")),
                 {"op": "copy", "from": ns, "namespace": "primary",
                  "key": f"job.{job}.guest"},
                 {"op": "remove", "namespace": ns}])

        own, as_json = steps(7)
        self.successResultOf(self.b.kvs.commit_batch(own, own=True))
        other = KVSBroker(0, GatedStore(MemoryContentStore()))
        other.store.gate = False
        self.successResultOf(other.start())
        self.successResultOf(other.kvs.commit_batch(as_json))
        for b in (self.b, other):
            self.assertEqual(T.decode_val(self.successResultOf(
                b.kvs.lookup("primary", "job.7.guest.output"))), b"o\n")
        self.assertEqual(self.successResultOf(self.b.kvs.getroot("primary"))
                         ["rootref"], self.successResultOf(
                             other.kvs.getroot("primary"))["rootref"])

    def test_own_steps_still_refuse_bad_keys_big_values_and_guests(self):
        self.b.kvs.blob_limit = 4
        for steps, cred, num in (
                ([("commit", "primary", [("a..b", 0, T.create_val(b"1"))])],
                 OWNER_CRED, errno.EINVAL),
                ([("commit", "primary", [(".", 0, T.create_val(b"1"))])],
                 OWNER_CRED, errno.EINVAL),
                ([("copy", "primary", ("job-1", "."))], OWNER_CRED,
                 errno.EINVAL),
                ([("commit", "primary", [("a", 0, T.create_val(b"12345"))])],
                 OWNER_CRED, errno.EFBIG),
                ([("create", "job-1", GUEST)], (GUEST, ROLE_USER),
                 errno.EPERM)):
            d = self.b.kvs.commit_batch(steps, cred=cred, own=True)
            self.assertEqual(self.failureResultOf(d, FluxError).value.errno,
                             num, steps)
        self.assertNotIn("job-1", [n["namespace"]
                                   for n in self.b.kvs.namespaces()])
    def test_waits_for_a_guest_commit_under_way(self):
        self.successResultOf(self.batch(
            {"op": "create", "namespace": "job-5", "owner": GUEST}))
        self.store.gate = True
        first = self.b.kvs.commit("job-5", [put("a", b"1")],
                                  cred=(GUEST, ROLE_USER))
        second = self.batch(commit("job-5", append("a", b"2")))
        self.assertNoResult(second)
        self.store.release()
        self.successResultOf(first)
        self.store.release()
        self.successResultOf(second)
        self.assertEqual(self.value("a", "job-5"), b"12")

    def test_survives_a_restart(self):
        self.successResultOf(self.batch(
            {"op": "create", "namespace": "job-6", "owner": GUEST},
            commit("job-6", put("output", b"o"))))
        self.successResultOf(self.b.stop())
        again = KVSBroker(0, self.store)
        self.successResultOf(again.start())
        obj = self.successResultOf(again.kvs.lookup("job-6", "output"))
        self.assertEqual(T.decode_val(obj), b"o")
        info = self.successResultOf(again.kvs.getroot("job-6"))
        self.assertEqual(info["owner"], GUEST)


class WatchThroughSymlinkTests(SynchronousTestCase):
    def setUp(self):
        self.b = KVSBroker(0)
        self.successResultOf(self.b.start())

    def batch(self, *steps):
        self.successResultOf(self.b.kvs.commit_batch(list(steps)))

    def test_append_watch_follows_the_guest_namespace_and_its_move(self):
        log = Stream(self.b, "job.1.guest.output",
                     WATCH | WATCH_APPEND | WAITCREATE)
        self.batch({"op": "create", "namespace": "job-1", "owner": GUEST},
                   commit("primary", {"key": "job.1.guest", "flags": 0,
                                      "dirent": T.create_symlink(".", "job-1")}),
                   commit("job-1", append("output", b"a\n")))
        self.batch(commit("job-1", append("output", b"b\n")))
        self.batch(commit("job-1", append("output", b"c\n")))
        self.assertEqual(log.values(), [b"a\n", b"b\n", b"c\n"])
        self.batch({"op": "copy", "from": "job-1", "namespace": "primary",
                    "key": "job.1.guest"},
                   {"op": "remove", "namespace": "job-1"},
                   commit("primary", append("job.1.guest.output", b"d\n")))
        self.assertEqual(log.values(), [b"a\n", b"b\n", b"c\n", b"d\n"])
        self.assertIsNone(log.ended)
        # a plain watch of the same key wakes on the guest namespace too
        self.batch({"op": "create", "namespace": "job-2", "owner": GUEST},
                   commit("primary", {"key": "job.2.guest", "flags": 0,
                                      "dirent": T.create_symlink(".", "job-2")}),
                   commit("job-2", put("state", b"1")))
        plain = Stream(self.b, "job.2.guest.state", WATCH)
        self.batch(commit("job-2", put("other", b"x")))
        self.batch(commit("job-2", put("state", b"2")))
        self.assertEqual(plain.values(), [b"1", b"2"])

    def test_directory_listing_through_the_symlink(self):
        self.batch({"op": "create", "namespace": "job-3", "owner": GUEST},
                   commit("primary", {"key": "job.3.guest", "flags": 0,
                                      "dirent": T.create_symlink(".", "job-3")}),
                   commit("job-3", put("output", b"o"), put("input", b"i")))
        obj = self.successResultOf(self.b.kvs.lookup("primary", "job.3.guest",
                                                     READDIR))
        self.assertEqual(sorted(obj["data"]), ["input", "output"])


class BatcherTests(SynchronousTestCase):
    def setUp(self):
        self.store = GatedStore(MemoryContentStore())
        self.store.gate = False
        self.b = KVSBroker(0, self.store)
        self.successResultOf(self.b.start())
        self.clock = Clock()
        self.w = KVSBatcher(self.clock, self.b.kvs, OWNER_CRED)

    def value(self, key, ns="primary"):
        return T.decode_val(self.successResultOf(self.b.kvs.lookup(ns, key)))

    def test_many_jobs_one_write_in_order(self):
        writes = len(self.store.writes)
        for job in (1, 2, 3):
            ns = f"job-{job}"
            self.w.append(f"job.{job}.eventlog", b"start\n")
            self.w.create_namespace(ns, GUEST)
            self.w.put(f"job.{job}.guest", T.create_symlink(".", ns))
            self.w.append("exec.eventlog", b"init\n", namespace=ns)
            self.w.append("exec.eventlog", b"starting\n", namespace=ns)
        self.w.copy_namespace("job-2", "job.2.guest")
        self.w.remove_namespace("job-2")
        self.w.append("job.2.guest.exec.eventlog", b"done\n")
        self.w.append("exec.eventlog", b"late\n", namespace="job-1")
        self.assertEqual(self.w.pending, 19)
        done = self.w.flush()
        self.clock.advance(0)
        self.successResultOf(done)
        self.assertEqual(len(self.store.writes), writes + 1)
        self.assertEqual(self.w.commits, 1)
        self.assertEqual(self.value("job.1.guest.exec.eventlog"),
                         b"init\nstarting\nlate\n")
        self.assertEqual(self.value("job.2.guest.exec.eventlog"),
                         b"init\nstarting\ndone\n")
        self.assertEqual(self.value("exec.eventlog", "job-3"),
                         b"init\nstarting\n")
        self.assertEqual(sorted(n["namespace"] for n in self.b.kvs.namespaces()),
                         ["job-1", "job-3", "primary"])

    def test_failed_batch_is_retried_whole_and_in_order(self):
        self.store.fail_next = NoSpace("disk full")
        self.w.create_namespace("job-9", GUEST)
        self.w.append("exec.eventlog", b"init\n", namespace="job-9")
        done = self.w.flush()
        self.clock.advance(0)
        self.assertNoResult(done)
        self.w.append("exec.eventlog", b"more\n", namespace="job-9")
        self.w.put_value("k", b"1")
        self.clock.advance(5)
        self.successResultOf(done)
        self.clock.advance(0)
        self.successResultOf(self.w.flush())
        self.assertEqual(self.value("exec.eventlog", "job-9"), b"init\nmore\n")
        self.assertEqual(self.value("k"), b"1")


class HeldLoads(GatedStore):
    """A store whose loads wait until :meth:`release_loads` (while
    ``hold``): each release is one round trip to the disk."""

    def __init__(self):
        super().__init__(MemoryContentStore())
        self.gate = False
        self.hold = False
        self.loads = []

    def load(self, blobref):
        if not self.hold:
            return self.inner.load(blobref)
        d = defer.Deferred()
        self.loads.append((d, blobref))
        return d

    def release_loads(self):
        """Answer the loads waiting; how many there were."""
        loads, self.loads = self.loads, []
        for d, ref in loads:
            self.inner.load(ref).chainDeferred(d)
        return len(loads)


class BatchLoadTests(SynchronousTestCase):
    """A batch's cost must not grow faster than its size: with 4 brokers
    and 16,000 jobs, batches whose loads went one at a time (and whose
    primary operations were applied once per job folded back) took 20 ms
    a job, so that each batch was twice the last one."""

    def fold(self, jobs):
        """Start ``jobs`` jobs, then end them all in one batch, with
        nothing cached: the rounds of loads the second batch needed."""
        store = HeldLoads()
        b = KVSBroker(0, store, cache_bytes=1)
        self.successResultOf(b.start())
        clock = Clock()
        w = KVSBatcher(clock, b.kvs, OWNER_CRED)
        keys = [f"job.0000.{i // 8:04x}.{i % 8:04x}" for i in range(jobs)]
        for i, key in enumerate(keys):
            w.append(key + ".eventlog", b"alloc\n")
            w.create_namespace(f"job-{i}", GUEST)
            w.put(key + ".guest", T.create_symlink(".", f"job-{i}"))
            w.append("exec.eventlog", b"init\n", namespace=f"job-{i}")
        done = w.flush()
        clock.advance(0)
        self.successResultOf(done)
        store.hold = True
        for i, key in enumerate(keys):
            w.append("exec.eventlog", b"complete\n", namespace=f"job-{i}")
            w.append(key + ".eventlog", b"finish\n")
            w.copy_namespace(f"job-{i}", key + ".guest")
            w.remove_namespace(f"job-{i}")
            w.append(key + ".guest.exec.eventlog", b"done\n")
        done = w.flush()
        clock.advance(0)
        rounds = 0
        while not done.called:
            self.assertGreater(store.release_loads(), 0)
            rounds += 1
        self.successResultOf(done)
        self.assertEqual(w.commits, 2)
        store.hold = False
        for key in (keys[0], keys[-1]):
            obj = self.successResultOf(b.kvs.lookup(
                "primary", key + ".guest.exec.eventlog"))
            self.assertEqual(T.decode_val(obj), b"init\ncomplete\ndone\n")
            obj = self.successResultOf(b.kvs.lookup("primary", key + ".eventlog"))
            self.assertEqual(T.decode_val(obj), b"alloc\nfinish\n")
        self.assertEqual([n["namespace"] for n in b.kvs.namespaces()],
                         ["primary"])
        self.successResultOf(b.stop())
        return rounds

    def test_a_jobs_namespace_is_not_loaded_again_by_the_next_batch(self):
        store = HeldLoads()
        b = KVSBroker(0, store, cache_bytes=1)
        self.successResultOf(b.start())
        self.successResultOf(b.kvs.commit_batch([
            {"op": "create", "namespace": "job-1", "owner": GUEST},
            commit("job-1", append("exec.eventlog", b"init\n"),
                   append("output", b"o1\n"))]))
        store.hold = True
        for data in (b"start\n", b"finish\n"):
            d = b.kvs.commit_batch([
                commit("job-1", append("exec.eventlog", data),
                       append("output", b"more\n"))])
            # nothing cached, yet nothing to load: the namespace kept its
            # directories
            self.assertEqual(store.loads, [])
            self.successResultOf(d)
        store.hold = False
        obj = self.successResultOf(b.kvs.lookup("job-1", "exec.eventlog"))
        self.assertEqual(T.decode_val(obj), b"init\nstart\nfinish\n")
        self.successResultOf(b.stop())

    def test_rounds_of_loads_do_not_grow_with_the_batch(self):
        few, many = self.fold(2), self.fold(64)
        # one round per level of the trees walked (root, job, 0000, its
        # directory of jobs, the job's own directory)
        self.assertLessEqual(many, 6)
        self.assertEqual(few, many)


class FollowerTests(SynchronousTestCase):
    """A follower hears of a job's namespace (its setroot and removed
    events) only once it has read it, and then of every change."""

    def setUp(self):
        self.b0, self.b1 = KVSBroker(0), KVSBroker(1)
        link(self.b0, self.b1)
        for b in (self.b0, self.b1):
            self.successResultOf(b.start())
        self.topics = []
        self.b1.events.subscribe("kvs.namespace-",
                                 lambda m: self.topics.append(m.topic))

    def batch(self, *steps):
        self.successResultOf(self.b0.kvs.commit_batch(list(steps)))

    def start(self, job):
        self.batch({"op": "create", "namespace": f"job-{job}", "owner": GUEST},
                   commit("primary", {"key": f"job.{job}.guest", "flags": 0,
                                      "dirent": T.create_symlink(
                                          ".", f"job-{job}")}),
                   commit(f"job-{job}", append("exec.eventlog", b"init\n")))

    def end(self, job):
        self.batch(commit(f"job-{job}", append("exec.eventlog", b"done\n")),
                   {"op": "copy", "from": f"job-{job}", "namespace": "primary",
                    "key": f"job.{job}.guest"},
                   {"op": "remove", "namespace": f"job-{job}"})

    def value(self, key, ns="primary"):
        return T.decode_val(self.successResultOf(self.b1.kvs.lookup(ns, key)))

    def known(self):
        return [n["namespace"] for n in self.b1.kvs.namespaces()]

    def test_namespaces_nobody_read_send_nothing_to_followers(self):
        for job in range(10):
            self.start(job)
        for job in range(10):
            self.end(job)
        self.assertTrue(self.topics)
        self.assertEqual(set(self.topics), {"kvs.namespace-primary-setroot"})
        self.assertEqual(self.value("job.3.guest.exec.eventlog"), b"init\ndone\n")
        self.assertEqual(self.known(), ["primary"])

    def test_a_follower_that_read_a_namespace_follows_it_to_its_end(self):
        self.start(1)
        self.start(2)
        self.assertEqual(self.value("job.1.guest.exec.eventlog"), b"init\n")
        self.assertEqual(self.known(), ["job-1", "primary"])
        self.batch(commit("job-1", append("exec.eventlog", b"start\n")),
                   commit("job-2", append("exec.eventlog", b"start\n")))
        # read from the follower's own root: the setroot event moved it
        self.assertEqual(self.value("exec.eventlog", "job-1"),
                         b"init\nstart\n")
        self.assertNotIn("kvs.namespace-job-2-setroot", self.topics)
        self.end(1)
        self.assertIn("kvs.namespace-job-1-removed", self.topics)
        self.assertEqual(self.known(), ["primary"])
        self.assertEqual(self.value("job.1.guest.exec.eventlog"),
                         b"init\nstart\ndone\n")
