"""content.sqlite: file checks, the full-disk error, the statedir lock."""

import errno
import hashlib
import os
import shutil
import sqlite3
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.storage import check, sqlitedb
from fluxd.storage.blobref import hash_blob, to_digest


def digest_of(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


class Base(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-sqlitedb-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "content.sqlite")

    def make_store(self, blobs=20, size=3000):
        conn = sqlitedb.connect(self.path)
        sqlitedb.init_schema(conn, "sha1")
        store = sqlitedb.DirectStore(conn, "sha1")
        data = {}
        for i in range(blobs):
            value = os.urandom(size)
            data[hash_blob(value)] = value
        store.store(data)
        store.set_root("primary", sqlitedb.root_record(next(iter(data)), 3, 0))
        return conn, data

    def close_clean(self, conn):
        sqlitedb.checkpoint(conn)
        conn.close()


class CheckFileTests(Base):
    def test_missing_file_is_a_new_store(self):
        self.assertFalse(check.check_file(self.path))
        self.assertFalse(os.path.exists(self.path))

    def test_whole_file_passes(self):
        conn, _ = self.make_store()
        self.close_clean(conn)
        self.assertTrue(check.check_file(self.path))

    def assertRefused(self, text):
        before = digest_of(self.path)
        with self.assertRaises(sqlitedb.CorruptStore) as cm:
            check.check_file(self.path)
        self.assertEqual(str(cm.exception), f"{self.path} {text}")
        self.assertEqual(cm.exception.errno, errno.ENOTRECOVERABLE)
        self.assertEqual(digest_of(self.path), before)

    def test_empty_file(self):
        open(self.path, "wb").close()
        self.assertRefused("is empty (truncated to 0 bytes)")

    def test_not_sqlite(self):
        with open(self.path, "wb") as f:
            f.write(b"hello world, this is no database" * 100)
        self.assertRefused("is not an sqlite database")

    def test_short_header(self):
        with open(self.path, "wb") as f:
            f.write(b"SQLite format 3\0\x10\x00")
        self.assertRefused("is truncated (18 bytes)")

    def test_partial_page(self):
        conn, _ = self.make_store()
        self.close_clean(conn)
        os.truncate(self.path, os.path.getsize(self.path) - 100)
        size = os.path.getsize(self.path)
        self.assertRefused(f"is truncated ({size} bytes is not a whole number"
                           " of 4096-byte pages)")

    def test_truncated_to_whole_pages(self):
        conn, _ = self.make_store()
        self.close_clean(conn)
        full = os.path.getsize(self.path)
        os.truncate(self.path, 4096 * 3)
        self.assertRefused(f"is truncated ({4096 * 3} of {full} bytes)")

    def test_bad_page_size(self):
        conn, _ = self.make_store()
        self.close_clean(conn)
        with open(self.path, "r+b") as f:
            f.seek(16)
            f.write(b"\x03\x00")
        self.assertRefused("has a corrupt header (page size 768)")

    def test_size_not_trusted_while_a_wal_holds_pages(self):
        conn, _ = self.make_store()
        self.close_clean(conn)
        os.truncate(self.path, 4096 * 3)
        with open(self.path + "-wal", "wb") as f:
            f.write(b"\0" * 4096)
        self.assertTrue(check.unclean(self.path))
        self.assertTrue(check.check_file(self.path))


class VerifyTests(Base):
    def test_fluxd_store_passes_deep_check(self):
        conn, _ = self.make_store()
        self.close_clean(conn)
        check.verify_file(self.path, "quick_check", roots=False)

    def test_foreign_schema_refused(self):
        conn = sqlite3.connect(self.path)
        conn.execute("CREATE TABLE checkpt_v2 (id INTEGER, value TEXT)")
        conn.commit()
        conn.close()
        with self.assertRaises(sqlitedb.CorruptStore) as cm:
            check.verify_file(self.path, None, roots=False)
        self.assertEqual(str(cm.exception), "is not a fluxd content store"
                         " (tables: checkpt_v2)")

    def test_damaged_pages_fail_the_deep_check_and_stay_as_they_are(self):
        conn, _ = self.make_store(blobs=40)
        sqlitedb.checkpoint(conn)
        # leave the last transaction in the WAL, as a crash does
        sqlitedb.write_batch(conn, [(to_digest(hash_blob(b"late")), b"late")],
                             [])
        self.assertTrue(check.unclean(self.path))
        with open(self.path, "r+b") as f:
            f.seek(4096 * 3)
            f.write(os.urandom(4096 * 2))
        before, wal = digest_of(self.path), digest_of(self.path + "-wal")
        with self.assertRaises(sqlitedb.CorruptStore) as cm:
            check.verify_file(self.path, "quick_check", roots=False)
        self.assertTrue(str(cm.exception).startswith(
            "failed its integrity check ("))
        self.assertNotIn("\n", str(cm.exception))
        self.assertEqual((digest_of(self.path), digest_of(self.path + "-wal")),
                         (before, wal))
        conn.close()

    def test_garbage_is_not_a_database(self):
        with open(self.path, "wb") as f:
            f.write(os.urandom(8192))
        with self.assertRaises(sqlitedb.CorruptStore):
            check.verify_file(self.path, None, roots=False)

    def test_missing_file_needs_no_check(self):
        check.verify_file(self.path, "quick_check", roots=False)
        self.assertFalse(os.path.exists(self.path))


class WriteBatchTests(Base):
    def test_batches_larger_than_one_insert(self):
        conn = sqlitedb.connect(self.path)
        sqlitedb.init_schema(conn, "sha1")
        count = sqlitedb._ROWS_PER_INSERT * 2 + 7
        values = [b"blob %d" % i + b"x" * (i % 300) for i in range(count)]
        rows = [(to_digest(hash_blob(v)), v) for v in values]
        self.assertEqual(sqlitedb.write_batch(conn, rows[:10], []), 10)
        # those already stored are not counted (nor stored twice)
        self.assertEqual(sqlitedb.write_batch(conn, rows, []), count - 10)
        self.assertEqual(sqlitedb.count_objects(conn)[0], count)
        for digest, value in rows[::37]:
            self.assertEqual(sqlitedb.load_blob(conn, digest), value)
        conn.close()


class FullDiskTests(Base):
    """sqlite's max_page_count fails writes with SQLITE_FULL, as a full
    file system does."""

    def test_full_write_is_enospc_and_stores_nothing(self):
        conn, data = self.make_store(blobs=5)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        big = os.urandom(200000)
        ref = hash_blob(big)
        with self.assertRaises(sqlitedb.StoreError) as cm:
            sqlitedb.write_batch(conn, [(to_digest(ref), big)], [
                ("primary", sqlitedb.root_record(ref, 9, 0))])
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        self.assertIn("full", str(cm.exception))
        self.assertFalse(conn.in_transaction)
        direct = sqlitedb.DirectStore(conn, "sha1")
        self.assertEqual(direct.roots()["primary"]["sequence"], 3)
        with self.assertRaises(sqlitedb.NotFound):
            direct.load(ref)
        for old, value in data.items():
            self.assertEqual(direct.load(old), value)
        conn.execute("PRAGMA max_page_count = 1000000")
        direct.store({ref: big})
        self.assertEqual(direct.load(ref), big)
        conn.close()


class LockTests(Base):
    def test_second_holder_refused_until_release(self):
        first, second = sqlitedb.StateLock(self.dir), sqlitedb.StateLock(self.dir)
        first.acquire()
        first.acquire()     # idempotent
        self.assertTrue(first.held)
        with self.assertRaises(sqlitedb.StoreInUse) as cm:
            second.acquire()
        self.assertEqual(str(cm.exception), f"{self.dir} is in use by a"
                         " running broker (or another flux dump/restore)")
        self.assertEqual(cm.exception.errno, errno.EBUSY)
        first.release()
        first.release()
        second.acquire()
        self.assertTrue(second.held)
        second.release()

    def test_missing_directory(self):
        lock = sqlitedb.StateLock(os.path.join(self.dir, "nope"))
        with self.assertRaises(sqlitedb.StoreError) as cm:
            lock.acquire()
        self.assertIn("content store", str(cm.exception))


class DirectStoreTests(Base):
    def test_round_trip_and_removal(self):
        conn, data = self.make_store(blobs=3, size=100000)
        direct = sqlitedb.DirectStore(conn, "sha1")
        self.assertEqual(direct.stored, 0)
        direct.store(data)      # already there: nothing new
        self.assertEqual(direct.stored, 0)
        for ref, value in data.items():
            self.assertEqual(direct.load(ref), value)
        self.assertEqual(sqlitedb.read_meta(conn),
                         {"hash": "sha1", "version": sqlitedb.SCHEMA_VERSION})
        direct.set_root("primary", None)
        self.assertEqual(direct.roots(), {})
        conn.close()
        sqlitedb.remove_database(self.path)
        self.assertEqual(os.listdir(self.dir), [])


class HotJournalTests(Base):
    def test_rollback_journal_left_to_sqlite(self):
        # a crash in journal_mode=DELETE leaves a hot journal that only a
        # read-write connection may roll back
        import subprocess
        import sys
        code = (
            "import os, sqlite3\n"
            f"c = sqlite3.connect({self.path!r}, isolation_level=None)\n"
            "c.execute('PRAGMA journal_mode=DELETE')\n"
            "c.execute('CREATE TABLE t (x)')\n"
            "c.execute('INSERT INTO t VALUES (1)')\n"
            "c.execute('PRAGMA cache_size=1')\n"
            "c.execute('BEGIN')\n"
            "c.execute('DELETE FROM t')\n"
            "for i in range(300):\n"
            "    c.execute('INSERT INTO t VALUES (?)', (os.urandom(1000),))\n"
            "os._exit(9)\n")
        subprocess.run([sys.executable, "-c", code], check=False)
        self.assertTrue(os.path.exists(self.path + "-journal"))
        check.verify_file(self.path, "quick_check", roots=False)
        conn = sqlitedb.connect(self.path, "FULL", "DELETE")
        self.assertEqual(conn.execute("SELECT x FROM t").fetchall(), [(1,)])
        conn.close()
