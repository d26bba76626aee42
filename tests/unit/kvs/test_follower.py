"""Followers: reads from their own cache, commits and misses via rank 0.

Three in-process brokers in a chain (0 <- 1 <- 2) linked by
:func:`fluxd.testing.kvs.link`, the way the overlay links real ones.
"""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError
from fluxd.storage import blobref
from fluxd.storage import treeobj as T
from fluxd.storage.lookup import WATCH, WATCH_APPEND
from fluxd.storage.txn import APPEND
from fluxd.message.types import ROLE_USER
from fluxd.testing.kvs import KVSBroker, Link, link
from tests.unit.kvs.test_service import commit_body, put
from tests.unit.kvs.test_watch import Stream


class FollowerTests(SynchronousTestCase):
    def setUp(self):
        self.b0, self.b1, self.b2 = KVSBroker(0), KVSBroker(1), KVSBroker(2)
        link(self.b0, self.b1)
        link(self.b1, self.b2)
        for b in (self.b0, self.b1, self.b2):
            self.successResultOf(b.start())

    def value(self, broker, key, namespace="primary", **cred):
        got = self.successResultOf(broker.call(
            "kvs.lookup", {"key": key, "namespace": namespace, "flags": 0}, **cred))
        return T.decode_val(got["val"])

    def commit(self, broker, ops, namespace="primary", **cred):
        return self.successResultOf(broker.call(
            "kvs.commit", commit_body(ops, namespace), **cred))

    def test_read_on_follower_written_on_rank0(self):
        self.commit(self.b0, [put("a.b", b"hello")])
        self.assertEqual(self.value(self.b2, "a.b"), b"hello")
        # the follower fetched the blobs through rank 1 and rank 0
        stats = self.successResultOf(self.b2.call("content.stats-get"))
        self.assertGreater(stats["cache-misses"], 0)
        self.commit(self.b0, [put("a.c", b"more")])
        self.assertEqual(self.value(self.b2, "a.c"), b"more")
        root2 = self.successResultOf(self.b2.kvs.getroot("primary"))
        root0 = self.successResultOf(self.b0.kvs.getroot("primary"))
        self.assertEqual(root2, root0)

    def test_commit_from_follower_reads_its_write(self):
        result = self.commit(self.b2, [put("x", b"1")])
        self.assertEqual(result["rootseq"], 1)
        self.assertEqual(self.value(self.b2, "x"), b"1")
        self.assertEqual(self.value(self.b0, "x"), b"1")
        self.assertEqual(self.value(self.b1, "x"), b"1")

    def test_commit_errors_come_back(self):
        f = self.failureResultOf(self.b2.call("kvs.commit", commit_body(
            [put("a..b", b"1")])), FluxError)
        self.assertEqual(f.value.errno, errno.EINVAL)
        self.assertIn("empty path component", str(f.value))

    def test_watch_on_follower_sees_every_update(self):
        self.commit(self.b0, [put("w", b"0")])
        s = Stream(self.b2, "w", WATCH)
        for i in range(1, 6):
            broker = (self.b0, self.b1, self.b2)[i % 3]
            self.commit(broker, [put("w", b"%d" % i)])
        self.assertEqual(s.values(), [b"%d" % i for i in range(6)])
        log = Stream(self.b1, "log", WATCH | WATCH_APPEND)
        self.assertEqual(log.ended, errno.ENOENT)

    def test_eventlog_append_watch(self):
        self.commit(self.b0, [put("log", b"e0\n", APPEND)])
        s = Stream(self.b2, "log", WATCH | WATCH_APPEND)
        self.commit(self.b1, [put("log", b"e1\n", APPEND)])
        self.commit(self.b2, [put("log", b"e2\n", APPEND)])
        self.assertEqual(s.values(), [b"e0\n", b"e1\n", b"e2\n"])

    def test_namespaces_via_follower(self):
        self.successResultOf(self.b2.call("kvs.namespace-create", {
            "namespace": "job-9", "owner": 77, "flags": 0}))
        listed = self.successResultOf(self.b1.call("kvs.namespace-list"))
        self.assertIn("job-9", [n["namespace"] for n in listed["namespaces"]])
        guest = {"userid": 77, "rolemask": ROLE_USER}
        self.commit(self.b2, [put("k", b"v")], "job-9", **guest)
        self.assertEqual(self.value(self.b1, "k", "job-9", **guest), b"v")
        f = self.failureResultOf(self.b2.call("kvs.lookup", {
            "key": "k", "namespace": "job-9"}, userid=78, rolemask=ROLE_USER))
        self.assertEqual(f.value.errno, errno.EPERM)
        s = Stream(self.b2, "k", WATCH, "job-9", userid=77, rolemask=ROLE_USER)
        self.successResultOf(self.b1.call("kvs.namespace-remove",
                                          {"namespace": "job-9"}))
        self.assertEqual(s.ended, errno.EOPNOTSUPP)
        f = self.failureResultOf(self.b2.call("kvs.lookup", {
            "key": "k", "namespace": "job-9"}))
        self.assertEqual(f.value.errno, errno.EOPNOTSUPP)

    def test_wait_version_on_follower(self):
        d = self.b2.call("kvs.wait-version", {"namespace": "primary", "rootseq": 1})
        self.assertNoResult(d)
        self.commit(self.b0, [put("a", b"1")])
        self.successResultOf(d)

    def test_content_store_and_load_through_followers(self):
        digest = self.successResultOf(self.b2.call(
            "kvs.getroot", {"namespace": "primary"}))
        self.assertEqual(digest["rootseq"], 0)
        raw = self.successResultOf(self.b2.call("content.store",
                                                b"follower blob", nodeid=2,
                                                raw=True))
        ref = blobref.from_digest(raw)
        self.assertEqual(ref, blobref.hash_blob(b"follower blob"))
        # it reached rank 0's store
        self.assertEqual(self.successResultOf(self.b0.store.load(ref)),
                         b"follower blob")
        data = self.successResultOf(self.b1.call("content.load", raw,
                                                 nodeid=1, raw=True))
        self.assertEqual(data, b"follower blob")
        self.successResultOf(self.b2.call("content.flush", nodeid=2,
                                          raw=True))
        missing = blobref.digest(b"nothing")
        f = self.failureResultOf(self.b2.call("content.load", missing,
                                              nodeid=2, raw=True))
        self.assertEqual(f.value.errno, errno.ENOENT)

    def test_dropcache_event(self):
        self.commit(self.b0, [put("a.b", b"1")])
        self.value(self.b2, "a.b")
        self.assertGreater(len(self.b2.kvs._objects), 0)
        self.successResultOf(self.b2.call("event.publish",
                                          {"topic": "kvs.dropcache"}))
        self.assertEqual(len(self.b2.kvs._objects), 0)
        self.assertEqual(self.value(self.b2, "a.b"), b"1")


class FetchRaceTests(SynchronousTestCase):
    def test_setroot_overtaking_a_fetch(self):
        held = []

        class Slow(Link):
            def forward(self, message, reply):
                if message.topic != "kvs.getroot":
                    super().forward(message, reply)
                    return
                answers = []
                super().forward(message, answers.append)  # answered now...
                held.append((reply, answers))             # ...seen later

        b0, b1 = KVSBroker(0), KVSBroker(1)
        b1.router.attach_upstream(Slow(b0, "rank-1"))
        b0.events.add_forwarder(b1.events.deliver)
        for b in (b0, b1):
            self.successResultOf(b.start())
        d = b1.kvs.getroot("primary")
        self.assertNoResult(d)
        self.successResultOf(b0.kvs.commit("primary", [put("k", b"1")]))
        reply, answers = held.pop()
        reply(answers[0])
        self.assertEqual(self.successResultOf(d)["rootseq"], 1)
        got = self.successResultOf(b1.kvs.lookup("primary", "k"))
        self.assertEqual(T.decode_val(got), b"1")
