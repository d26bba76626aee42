"""The J of the jobs next in line, read before they start
(fluxd.exec._readahead), on a real KVS."""

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError
from fluxd.exec._readahead import KNOWN_BUDGET, READ_AHEAD, JReadAhead
from fluxd.formats import fluid
from fluxd.storage import treeobj as T
from fluxd.testing.kvs import KVSBroker


class CountingKVS:
    """The real KVS, its lookups counted (and held while ``gate`` is
    set)."""

    def __init__(self, kvs):
        self.kvs = kvs
        self.keys = []
        self.gate = None

    def lookup(self, namespace, key, cred=None):
        self.keys.append(key)
        d = self.kvs.lookup(namespace, key, cred=cred)
        if self.gate is None:
            return d
        gate = self.gate
        return gate.addCallback(lambda _: d)


class ReadAheadTests(SynchronousTestCase):

    def setUp(self):
        self.broker = KVSBroker(0)
        self.successResultOf(self.broker.start())
        self.kvs = CountingKVS(self.broker.kvs)
        ops = [{"key": self.key(i) + ".J", "flags": 0,
                "dirent": T.create_val(f"J of {i}".encode())}
               for i in range(1, 81)]
        self.successResultOf(self.broker.kvs.commit("primary", ops))
        self.running = {}
        self.stats = {}
        self.ahead = JReadAhead(self.kvs, self.broker.router.instance_cred,
                                self.running, self.stats)

    @staticmethod
    def key(jobid):
        return fluid.encode(jobid, "kvs")

    def read(self, jobid):
        return self.successResultOf(defer.ensureDeferred(
            self.ahead.read(jobid, self.key(jobid))))

    def test_a_job_read_ahead_starts_without_a_lookup(self):
        self.ahead.expect([1, 2])
        self.assertEqual(len(self.kvs.keys), 2)
        self.assertEqual(self.read(2), "J of 2")
        self.assertEqual(self.read(1), "J of 1")
        self.assertEqual(len(self.kvs.keys), 2)
        # a job not named is read at its start
        self.assertEqual(self.read(3), "J of 3")
        self.assertEqual(len(self.kvs.keys), 3)
        self.assertEqual(self.stats, {"J-read-ahead": 2, "J-ahead-hits": 2,
                                      "J-known-hits": 0})

    def test_named_again_or_running_is_not_read_again(self):
        self.running[5] = object()
        self.ahead.expect([1, 5])
        self.ahead.expect([1, 5, 6])
        self.assertEqual(self.kvs.keys, [self.key(1) + ".J",
                                         self.key(6) + ".J"])

    def test_a_read_under_way_is_awaited(self):
        self.kvs.gate = defer.Deferred()
        self.ahead.expect([4])
        d = defer.ensureDeferred(self.ahead.read(4, self.key(4)))
        self.assertNoResult(d)
        self.kvs.gate.callback(None)
        self.assertEqual(self.successResultOf(d), "J of 4")
        self.assertEqual(len(self.kvs.keys), 1)

    def test_a_failed_read_ahead_is_read_again_at_the_start(self):
        self.ahead.expect([999])           # no such job (yet)
        ops = [{"key": self.key(999) + ".J", "flags": 0,
                "dirent": T.create_val(b"J of 999")}]
        self.successResultOf(self.broker.kvs.commit("primary", ops))
        self.assertEqual(self.read(999), "J of 999")
        self.assertEqual(len(self.kvs.keys), 2)
        self.assertEqual(self.stats["J-ahead-hits"], 0)

    def test_a_missing_J_fails_the_start(self):
        d = defer.ensureDeferred(self.ahead.read(998, self.key(998)))
        self.failureResultOf(d, FluxError)

    def test_at_most_READ_AHEAD_are_kept(self):
        self.ahead.expect(range(1, READ_AHEAD + 3))
        self.assertEqual(len(self.kvs.keys), READ_AHEAD + 2)
        # the oldest two went: read again
        self.assertEqual(self.read(1), "J of 1")
        self.assertEqual(self.read(READ_AHEAD + 2), f"J of {READ_AHEAD + 2}")
        self.assertEqual(len(self.kvs.keys), READ_AHEAD + 3)


class RememberedTests(ReadAheadTests):
    """J texts handed over at submission: no KVS read at the start."""

    def test_a_remembered_job_starts_without_a_lookup(self):
        self.ahead.remember(7, "J as submitted")
        self.ahead.expect([7, 8])
        self.assertEqual(self.kvs.keys, [self.key(8) + ".J"])
        self.assertEqual(self.read(7), "J as submitted")
        self.assertEqual(self.stats["J-known-hits"], 1)
        # taken: a second start (a restart's) reads the KVS
        self.assertEqual(self.read(7), "J of 7")
        self.assertEqual(self.ahead.known_bytes, 0)

    def test_a_shared_text_counts_once(self):
        ahead = JReadAhead(self.kvs, self.broker.router.instance_cred,
                           budget=100)
        text = "x" * 60
        for jobid in range(1, 11):
            ahead.remember(jobid, text)
        self.assertEqual(ahead.known_bytes, 60)
        # another text does not fit: that job is read at its start
        ahead.remember(11, "y" * 60)
        self.assertEqual(self.successResultOf(defer.ensureDeferred(
            ahead.read(11, self.key(11)))), "J of 11")
        for jobid in range(1, 10):
            ahead.forget(jobid)
        self.assertEqual(ahead.known_bytes, 60)
        ahead.forget(10)
        self.assertEqual(ahead.known_bytes, 0)
        ahead.remember(12, "y" * 60)
        self.assertEqual(self.successResultOf(defer.ensureDeferred(
            ahead.read(12, self.key(12)))), "y" * 60)

    def test_equal_texts_are_kept_once(self):
        # the same job submitted again arrives as another, equal text
        ahead = JReadAhead(self.kvs, self.broker.router.instance_cred,
                           budget=100)
        texts = ["".join(["x"] * 60) for _ in range(10)]
        self.assertIsNot(texts[0], texts[1])
        for jobid, text in enumerate(texts, 1):
            ahead.remember(jobid, text)
        self.assertEqual(ahead.known_bytes, 60)
        for jobid in range(1, 11):
            self.assertEqual(self.successResultOf(defer.ensureDeferred(
                ahead.read(jobid, self.key(jobid)))), "x" * 60)
        self.assertEqual(ahead.stats["J-known-hits"], 10)
        self.assertEqual(ahead.known_bytes, 0)

    def test_forgetting_an_unknown_job_is_harmless(self):
        self.ahead.forget(42)
        self.ahead.remember(42, "J")
        self.ahead.remember(42, "J")      # once only
        self.ahead.forget(42)
        self.assertEqual(self.ahead.known_bytes, 0)

    def test_the_default_budget(self):
        self.assertEqual(self.ahead.budget, KNOWN_BUDGET)


class WantsTests(SynchronousTestCase):
    """Only jobs that run shells need their J at the start."""

    def test_shell_jobs_only(self):
        def spec(system):
            return {"version": 1, "attributes": {"system": system}}
        self.assertTrue(JReadAhead.wants(spec({})))
        self.assertFalse(JReadAhead.wants(spec({"exec": {"test": {}}})))
        # a bad test setting fails as a test job (no shell either)
        self.assertFalse(JReadAhead.wants(spec({"exec": {"test": {
            "run_duration": 5}}})))
