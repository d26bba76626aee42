"""IContentStore contract: the memory store and content.sqlite alike.

``make_icontentstore_tests(factory)`` builds the suite; it runs against
the memory store, the sqlite store with an inline worker and the sqlite
store with its real writer and reader threads.
"""

import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from fluxd.errors import FluxError, NotFound
from fluxd.interfaces import IContentStore
from fluxd.kvs import _sqlite
from fluxd.storage.blobref import hash_blob
from fluxd.kvs.content import MemoryContentStore, SqliteContentStore, root_record
from fluxd.testing.kvs import GatedStore
from fluxd.testing.threads import ThreadedCalls


def make_icontentstore_tests(factory):
    """A TestCase class checking :class:`IContentStore` behaviour.

    :param factory: ``factory(testcase, hash_name) -> (store, settle)``
        where ``settle(d)`` waits for a Deferred and returns its result.
    """

    class Tests(SynchronousTestCase):
        hash_name = "sha1"

        def setUp(self):
            self.store, self.settle = factory(self, self.hash_name)
            self.settle(self.store.open())
            self.addCleanup(lambda: self.settle(self.store.close()))

        def blob(self, data):
            return hash_blob(data, self.hash_name), data

        def test_interface(self):
            self.assertTrue(verifyObject(IContentStore, self.store))
            self.assertEqual(self.store.hash_name, self.hash_name)

        def test_store_and_load(self):
            blobs = dict([self.blob(b"hello"), self.blob(b""),
                          self.blob(b"x" * 100000), self.blob(os.urandom(5000))])
            self.settle(self.store.write(blobs, {}))
            for ref, data in blobs.items():
                self.assertEqual(self.settle(self.store.load(ref)), data)

        def test_load_missing(self):
            ref, _ = self.blob(b"never stored")
            with self.assertRaises(NotFound):
                self.settle(self.store.load(ref))

        def test_load_bad_blobref(self):
            with self.assertRaises(FluxError):
                self.settle(self.store.load("sha1-nothex"))

        def test_roots(self):
            ref, data = self.blob(b"{}")
            rec = root_record(ref, 3, 1000, 0, 12.5)
            self.settle(self.store.write({ref: data},
                                         {"primary": rec, "ns": rec}))
            self.assertEqual(self.settle(self.store.roots()),
                             {"primary": rec, "ns": rec})
            newer = root_record(ref, 4, 1000, 0, 13.0)
            self.settle(self.store.write({}, {"ns": None, "primary": newer}))
            self.assertEqual(self.settle(self.store.roots()), {"primary": newer})

        def test_bad_write_stores_nothing(self):
            good = self.blob(b"good")
            other = "sha256-" + "0" * 64 if self.hash_name == "sha1" else \
                "sha1-" + "0" * 40
            for bad in ("nonsense", other):
                with self.assertRaises(FluxError):
                    self.settle(self.store.write(dict([good, (bad, b"x")]), {}))
            with self.assertRaises(NotFound):
                self.settle(self.store.load(good[0]))

        def test_many_writes_in_flight(self):
            ds = []
            for i in range(200):
                ref, data = self.blob(b"blob %d" % i)
                ds.append(self.store.write({ref: data}, {
                    "primary": root_record(ref, i, 0, 0, 1.0)}))
            order = []
            for i, d in enumerate(ds):
                d.addCallback(lambda _, i=i: order.append(i))
            self.settle(self.store.flush())
            for d in ds:
                self.settle(d)
            self.assertEqual(order, list(range(200)))
            roots = self.settle(self.store.roots())
            self.assertEqual(roots["primary"]["sequence"], 199)
            for i in (0, 99, 199):
                ref, data = self.blob(b"blob %d" % i)
                self.assertEqual(self.settle(self.store.load(ref)), data)

        def test_duplicate_blobs(self):
            ref, data = self.blob(b"same")
            self.settle(self.store.write({ref: data}, {}))
            self.settle(self.store.write({ref: data}, {}))
            self.assertEqual(self.settle(self.store.load(ref)), data)

        def test_flush_when_idle(self):
            self.assertIsNone(self.settle(self.store.flush()))

        def test_write_after_close_fails(self):
            self.settle(self.store.close())
            ref, data = self.blob(b"late")
            with self.assertRaises(FluxError):
                self.settle(self.store.write({ref: data}, {}))

    return Tests


def _memory(testcase, hash_name):
    calls = ThreadedCalls()
    return MemoryContentStore(hash_name), calls.settle


def _tempdir(testcase):
    path = tempfile.mkdtemp(prefix="fluxd-content-")
    testcase.addCleanup(shutil.rmtree, path, True)
    return path


def _sqlite_inline(testcase, hash_name):
    path = os.path.join(_tempdir(testcase), "c.sqlite")
    calls = ThreadedCalls()
    return SqliteContentStore(calls, path, hash_name,
                              worker=_sqlite.InlineWorker), calls.settle


def _sqlite_threads(testcase, hash_name):
    path = os.path.join(_tempdir(testcase), "content.sqlite")
    calls = ThreadedCalls()
    return SqliteContentStore(calls, path, hash_name), calls.settle


def _gated(testcase, hash_name):
    """The unit tests' gated fake, with its gate open: every write is
    released as soon as it is made."""
    calls = ThreadedCalls()
    store = GatedStore(MemoryContentStore(hash_name))
    store.gate = False
    return store, calls.settle


class MemoryStoreTests(make_icontentstore_tests(_memory)):
    pass


class GatedStoreTests(make_icontentstore_tests(_gated)):
    pass


class GatedStoreSha256Tests(make_icontentstore_tests(_gated)):
    hash_name = "sha256"


class MemoryStoreSha256Tests(make_icontentstore_tests(_memory)):
    hash_name = "sha256"


class SqliteInlineTests(make_icontentstore_tests(_sqlite_inline)):
    pass


class SqliteThreadTests(make_icontentstore_tests(_sqlite_threads)):
    pass


class SqliteThreadSha256Tests(make_icontentstore_tests(_sqlite_threads)):
    hash_name = "sha256"


class SqlitePersistenceTests(SynchronousTestCase):
    """What only a file-backed store can show."""

    def setUp(self):
        self.dir = _tempdir(self)
        self.path = os.path.join(self.dir, "content.sqlite")
        self.calls = ThreadedCalls()

    def open(self, hash_name="sha1"):
        store = SqliteContentStore(self.calls, self.path, hash_name)
        self.calls.settle(store.open())
        return store

    def test_reopen_keeps_blobs_and_roots(self):
        store = self.open()
        # a KVS root is a directory: the store checks that when it opens
        root = b'{"data":{},"type":"dir","ver":1}'
        ref = hash_blob(root)
        rec = root_record(ref, 7, 42, 0, 1.5)
        self.calls.settle(store.write({ref: root}, {"primary": rec}))
        self.calls.settle(store.close())
        store = self.open()
        self.assertEqual(self.calls.settle(store.load(ref)), root)
        self.assertEqual(self.calls.settle(store.roots()), {"primary": rec})
        self.calls.settle(store.close())

    def test_unusable_path_is_a_flux_error(self):
        store = SqliteContentStore(self.calls, os.path.join(self.dir, "no", "x.db"))
        with self.assertRaises(FluxError) as cm:
            self.calls.settle(store.open())
        self.assertIn("content store", str(cm.exception))

    def test_hash_mismatch_refused(self):
        self.calls.settle(self.open("sha1").close())
        store = SqliteContentStore(self.calls, self.path, "sha256")
        with self.assertRaises(FluxError) as cm:
            self.calls.settle(store.open())
        self.assertIn("sha1", str(cm.exception))

    def test_concurrent_writes_are_batched(self):
        store = self.open()
        ds = []
        for i in range(500):
            ref = hash_blob(b"%d" % i)
            ds.append(store.write({ref: b"%d" % i}, {}))
        self.calls.settle(store.flush())
        self.assertTrue(all(d.called for d in ds))
        # the first write went alone; the rest queued behind it and were
        # committed in far fewer transactions than writes
        self.assertLess(store.stats["batches"], 50)
        self.assertEqual(store.stats["writes"], 500)
        self.assertEqual(self.calls.settle(store.count())[0], 500)
        self.calls.settle(store.close())

    def test_compression_on_disk(self):
        store = self.open()
        big = b"abcdefgh" * 100000
        ref = hash_blob(big)
        self.calls.settle(store.write({ref: big}, {}))
        self.calls.settle(store.close())
        self.assertLess(os.path.getsize(self.path), len(big) // 10)
        store = self.open()
        self.assertEqual(self.calls.settle(store.load(ref)), big)
        self.calls.settle(store.close())
