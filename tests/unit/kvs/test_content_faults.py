"""content.sqlite under faults: full disk, corrupt file, second user;
and the whole-store operations behind dump and restore."""

import errno
import hashlib
import os
import shutil
import tempfile

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError, NoSpace, NotFound
from fluxd.kvs import _sqlite
from fluxd.storage import sqlitedb
from fluxd.storage.blobref import hash_blob
from fluxd.kvs.content import MemoryContentStore, SqliteContentStore
from fluxd.storage.sqlitedb import root_record
from fluxd.testing.threads import ThreadedCalls
from tests.unit.kvs.test_space import FakeDisk


def blob(data):
    return hash_blob(data), data


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


class StoreCase(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-faults-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "content.sqlite")
        self.calls = ThreadedCalls()
        self.settle = self.calls.settle
        self.clock = Clock()
        self.disk = FakeDisk(free=10 ** 9)

    def store(self, inline=True):
        kw = {"worker": _sqlite.InlineWorker} if inline else {}
        return SqliteContentStore(self.calls, self.path, clock=self.clock,
                                  statvfs=self.disk, **kw)

    def opened(self, inline=True):
        store = self.store(inline)
        self.settle(store.open())
        self.addCleanup(lambda: self.settle(store.close()))
        return store

    def limit_pages(self, store, extra):
        # sqlite's max_page_count fails writes with SQLITE_FULL exactly as
        # a full file system does
        def limit(conn):
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages + extra}")
        self.settle(store._writer.submit(limit))

    def unlimit(self, store):
        self.settle(store._writer.submit(
            lambda conn: conn.execute("PRAGMA max_page_count = 1073741823")))


class FullDiskTests(StoreCase):
    def test_enospc_makes_the_store_read_only_and_loses_nothing(self):
        store = self.opened()
        ok = dict([blob(b"kept %d" % i) for i in range(5)])
        ref0 = next(iter(ok))
        self.settle(store.write(ok, {"primary": root_record(ref0, 1, 0)}))
        self.limit_pages(store, 2)
        self.disk.free = 0
        big = blob(os.urandom(300000))
        d1 = store.write(dict([big]), {"primary": root_record(big[0], 2, 0)})
        d2 = store.write(dict([blob(b"queued behind it")]), {})
        for d in (d1, d2):
            f = self.failureResultOf(d, NoSpace)
            self.assertEqual(f.value.errno, errno.ENOSPC)
            self.assertIn("KVS is read-only", str(f.value))
        self.assertTrue(store.space.readonly)
        # refused at once now, without touching sqlite
        batches = store.stats["batches"]
        self.failureResultOf(store.write(dict([blob(b"later")]), {}), NoSpace)
        self.assertEqual(store.stats["batches"], batches)
        self.assertEqual(store.stats["refused"], 3)
        # reads go on; the failed write left no trace
        for ref, data in ok.items():
            self.assertEqual(self.settle(store.load(ref)), data)
        self.assertEqual(self.settle(store.roots())["primary"]["sequence"], 1)
        self.failureResultOf(store.load(big[0]), NotFound)
        self.assertIsNone(self.settle(store.flush()))
        # space returns: the next write probes, resumes and succeeds
        self.unlimit(store)
        self.disk.free = 10 ** 9
        self.settle(store.write(dict([big]), {"primary": root_record(big[0], 2, 0)}))
        self.assertFalse(store.space.readonly)
        self.assertEqual(self.settle(store.load(big[0])), big[1])

    def test_timed_probe_ends_read_only_mode(self):
        store = self.opened()
        self.limit_pages(store, 1)
        self.disk.free = 0
        self.failureResultOf(store.write(dict([blob(os.urandom(100000))]), {}),
                             NoSpace)
        self.clock.advance(1)
        self.assertTrue(store.space.readonly)
        self.disk.free = 10 ** 9
        self.clock.advance(2)
        self.assertFalse(store.space.readonly)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_close_while_read_only_cancels_the_probe(self):
        store = self.store()
        self.settle(store.open())
        self.limit_pages(store, 1)
        self.disk.free = 0
        self.failureResultOf(store.write(dict([blob(os.urandom(100000))]), {}),
                             NoSpace)
        self.settle(store.close())
        self.assertEqual(self.clock.getDelayedCalls(), [])


class OpenFaultTests(StoreCase):
    def make_file(self):
        store = self.store()
        self.settle(store.open())
        data = dict([blob(os.urandom(3000)) for _ in range(30)])
        self.settle(store.write(data, {"primary": root_record(next(iter(data)),
                                                              4, 0)}))
        self.settle(store.close())
        return data

    def test_truncated_file_refused_and_left_alone(self):
        self.make_file()
        os.truncate(self.path, 8192)
        before = file_digest(self.path)
        store = self.store()
        f = self.failureResultOf(store.open(), sqlitedb.CorruptStore)
        self.assertTrue(str(f.value).startswith(f"{self.path} is truncated (8192"
                                                " of "))
        self.assertEqual(file_digest(self.path), before)
        self.assertEqual(sorted(os.listdir(self.dir)), ["content.sqlite"])
        # the lock was released: a good file opens afterwards
        os.unlink(self.path)
        self.settle(store.open())
        self.settle(store.close())

    def test_foreign_database_refused(self):
        import sqlite3
        conn = sqlite3.connect(self.path)
        conn.execute("CREATE TABLE objects (hash BLOB, object BLOB)")
        conn.commit()
        conn.close()
        before = file_digest(self.path)
        f = self.failureResultOf(self.store().open(), sqlitedb.CorruptStore)
        self.assertEqual(str(f.value), f"{self.path} is not a fluxd content"
                                       " store (tables: objects)")
        self.assertEqual(file_digest(self.path), before)

    def test_second_store_on_a_statedir_refused(self):
        self.opened()
        f = self.failureResultOf(self.store().open(), sqlitedb.StoreInUse)
        self.assertIn("in use by a running broker", str(f.value))

    def test_full_disk_at_open_says_so(self):
        class NoShm(_sqlite.InlineWorker):
            # what sqlite reports when it cannot size its -shm file
            def __init__(self, reactor, name, opener):
                raise sqlitedb.StoreError("content store: disk I/O error")
        self.disk.free = 0
        store = SqliteContentStore(self.calls, self.path, clock=self.clock,
                                   statvfs=self.disk, worker=NoShm)
        f = self.failureResultOf(store.open(), NoSpace)
        self.assertEqual(str(f.value), f"{self.path}: no space left on device"
                         f" (content store: disk I/O error); free space in"
                         f" {self.dir}")
        self.disk.free = 10 ** 9
        f = self.failureResultOf(store.open(), sqlitedb.StoreError)
        self.assertEqual(str(f.value), "content store: disk I/O error")


class DirectTests(StoreCase):
    def build(self, items, seq=0):
        def fill(direct):
            direct.store(dict(items))
            direct.set_root("primary", root_record(items[0][0], seq, 7, 0, 5.0))
            return "built"
        return fill

    def test_read_direct_sees_everything_written(self):
        store = self.opened(inline=False)
        items = [blob(b"a" * 500), blob(b"b")]
        self.settle(store.write(dict(items), {"primary": root_record(
            items[0][0], 3, 0)}))
        got = self.settle(store.read_direct(
            lambda direct: (direct.roots()["primary"]["sequence"],
                            direct.load(items[0][0]))))
        self.assertEqual(got, (3, b"a" * 500))

    def test_restore_fresh_replaces_the_file(self):
        store = self.store(inline=False)
        self.settle(store.open())
        junk = dict([blob(os.urandom(50000)) for _ in range(40)])
        self.settle(store.write(junk, {}))
        self.settle(store.close())
        big = os.path.getsize(self.path)
        store = self.store(inline=False)
        # the root is a directory: the store checks it when it opens
        items = [blob(b'{"data":{},"type":"dir","ver":1}')]
        self.assertEqual(self.settle(store.restore_fresh(self.build(items))),
                         "built")
        self.settle(store.open())
        self.addCleanup(lambda: self.settle(store.close()))
        self.assertLess(os.path.getsize(self.path), big // 10)
        self.assertEqual(self.settle(store.load(items[0][0])), items[0][1])
        with self.assertRaises(NotFound):
            self.settle(store.load(next(iter(junk))))
        self.assertEqual(self.settle(store.roots()), {
            "primary": root_record(items[0][0], 0, 7, 0, 5.0)})
        self.assertNotIn("content.sqlite.restoring", os.listdir(self.dir))

    def test_failed_restore_keeps_the_old_store(self):
        store = self.store()
        self.settle(store.open())
        old = dict([blob(b"old")])
        self.settle(store.write(old, {}))
        self.settle(store.close())
        before = file_digest(self.path)

        def broken(direct):
            direct.store(dict([blob(b"half")]))
            raise FluxError("archive is damaged")
        store = self.store()
        self.failureResultOf(store.restore_fresh(broken), FluxError)
        self.assertEqual(file_digest(self.path), before)
        self.assertEqual(sorted(os.listdir(self.dir)), ["content.sqlite"])
        self.settle(store.open())
        self.assertEqual(self.settle(store.load(next(iter(old)))), b"old")
        self.settle(store.close())

    def test_memory_store_direct(self):
        store = MemoryContentStore()
        self.successResultOf(store.write(dict([blob(b"gone")]), {}))
        items = [blob(b"kept")]
        self.assertEqual(self.successResultOf(
            store.restore_fresh(self.build(items, seq=0))), "built")
        self.failureResultOf(store.load(hash_blob(b"gone")), NotFound)
        roots, data = self.successResultOf(store.read_direct(
            lambda d: (d.roots(), d.load(items[0][0]))))
        self.assertEqual((roots["primary"]["owner"], data), (7, b"kept"))
        self.failureResultOf(store.read_direct(lambda d: d.load(
            hash_blob(b"nope"))), NotFound)
