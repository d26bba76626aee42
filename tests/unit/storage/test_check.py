"""The start-up checks of a content store and the blob check on load."""

import hashlib
import os
import shutil
import sqlite3
import tempfile
import zlib

from twisted.trial.unittest import SynchronousTestCase

from fluxd.storage import check, sqlitedb
from fluxd.storage.blobref import hash_blob, to_digest
from fluxd.storage.errors import BlobMismatch, CorruptStore
from tests.unit.storage.helpers import crash_with_commits, write_store


def digest_of(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def damage_blob(path, ref, replace):
    """Rewrite the stored bytes of one blob in place (as disk damage does,
    the index left as it was)."""
    conn = sqlite3.connect(path)
    conn.execute("UPDATE objects SET object = ? WHERE hash = ?",
                 (replace, to_digest(ref)))
    conn.commit()
    conn.close()


class CheckStoreTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-check-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "content.sqlite")

    def test_modes_by_size(self):
        self.assertEqual(check.check_mode(1000), "integrity_check")
        self.assertEqual(check.check_mode(check.INTEGRITY_MAX + 1), "quick_check")
        self.assertIsNone(check.check_mode(check.QUICK_MAX + 1))

    def test_missing_store_is_new(self):
        self.assertIsNone(check.check_store(self.path))

    def test_whole_store_passes(self):
        write_store(self.path, {"a.b": b"x" * 500, "c": b"1"})
        result = check.check_store(self.path)
        self.assertEqual(result["check"], "integrity_check")

    def test_missing_root_refused(self):
        rootref, _ = write_store(self.path, {"a": b"1"})
        conn = sqlite3.connect(self.path)
        conn.execute("DELETE FROM objects WHERE hash = ?", (to_digest(rootref),))
        conn.commit()
        conn.close()
        with self.assertRaises(CorruptStore) as cm:
            check.check_store(self.path)
        self.assertEqual(str(cm.exception), f"{self.path}: the root of"
                         f" namespace 'primary' ({rootref}) is missing")

    def test_damaged_root_refused_and_file_untouched(self):
        rootref, _ = write_store(self.path, {"a": b"1"})
        damage_blob(self.path, rootref, b'{"data":{},"type":"dir","ver":2}')
        before = digest_of(self.path)
        with self.assertRaises(CorruptStore) as cm:
            check.check_store(self.path)
        self.assertIn(f"the root of namespace 'primary' ({rootref}) is"
                      f" damaged: blob {rootref} is corrupt", str(cm.exception))
        self.assertEqual(digest_of(self.path), before)

    def test_root_that_is_no_directory_refused(self):
        conn = sqlitedb.connect(self.path)
        sqlitedb.init_schema(conn, "sha1")
        ref = hash_blob(b"value")
        sqlitedb.write_batch(conn, [(to_digest(ref), b"value")],
                             [("primary", sqlitedb.root_record(ref, 1, 0))])
        conn.close()
        with self.assertRaisesRegex(CorruptStore, "is not a directory$"):
            check.check_store(self.path)

    def test_damaged_wal_refused_before_sqlite_sees_it(self):
        crash_with_commits(self.path, [{f"k{i}": os.urandom(500)}
                                       for i in range(20)])
        wal = self.path + "-wal"
        with open(wal, "r+b") as f:
            f.seek(32 + 24 + 100)
            f.write(b"\0" * 512)
        before = (digest_of(self.path), digest_of(wal))
        with self.assertRaisesRegex(CorruptStore, f"^{wal} is damaged at"):
            check.check_store(self.path)
        self.assertEqual((digest_of(self.path), digest_of(wal)), before)


class LoadTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-load-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "content.sqlite")
        _, self.blobs = write_store(self.path, {"big": b"y" * 4000,
                                                "raw": os.urandom(200)})

    def load(self, ref):
        conn = sqlitedb.connect(self.path)
        try:
            return sqlitedb.load_blob(conn, to_digest(ref))
        finally:
            conn.close()

    def test_intact_blobs_load(self):
        for ref, data in self.blobs.items():
            self.assertEqual(self.load(ref), data)

    def test_wrong_bytes_name_the_blobref(self):
        ref = next(r for r, d in self.blobs.items() if len(d) == 200)
        damage_blob(self.path, ref, os.urandom(200))
        with self.assertRaises(BlobMismatch) as cm:
            self.load(ref)
        self.assertEqual(str(cm.exception), f"blob {ref} is corrupt: its"
                         " content does not match its hash")
        self.assertEqual(cm.exception.blobref, ref)

    def test_undecompressable_bytes_name_the_blobref(self):
        ref = next(r for r, d in self.blobs.items() if d == b"y" * 4000)
        packed = bytearray(zlib.compress(b"y" * 4000, 1))
        packed[5:9] = b"\xff\xff\xff\xff"
        damage_blob(self.path, ref, bytes(packed))
        with self.assertRaises(BlobMismatch) as cm:
            self.load(ref)
        self.assertEqual(str(cm.exception),
                         f"blob {ref} is corrupt: it does not decompress")
