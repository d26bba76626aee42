"""flux fsck's walk: damaged, missing and unreachable blobs."""

import os
import shutil
import sqlite3
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.storage import sqlitedb
from fluxd.storage import treeobj as T
from fluxd.storage.blobref import hash_blob, to_digest
from fluxd.storage.fsck import fsck
from tests.unit.storage.helpers import write_store
from tests.unit.storage.test_check import damage_blob


class FsckTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-fsck-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "content.sqlite")
        self.values = {"job.a.eventlog": b"e" * 300, "job.b.R": b"r" * 200,
                       "small": b"1"}
        self.rootref, self.blobs = write_store(self.path, self.values)

    def run_fsck(self):
        conn = sqlitedb.connect(self.path)
        try:
            return fsck(conn)
        finally:
            conn.close()

    def ref_of(self, value):
        return hash_blob(value)

    def test_clean_store(self):
        garbage = os.urandom(500)
        conn = sqlitedb.connect(self.path)
        sqlitedb.write_batch(conn, [(to_digest(hash_blob(garbage)), garbage)], [])
        conn.close()
        report = self.run_fsck()
        self.assertEqual(report.problems, [])
        self.assertEqual(report.keys, 3)
        self.assertEqual(report.unreachable, [hash_blob(garbage)])
        self.assertEqual(report.reachable, len(self.blobs))
        self.assertEqual(report.roots, {"primary": self.rootref})

    def test_damaged_value_names_key_and_blobref(self):
        ref = self.ref_of(b"r" * 200)
        damage_blob(self.path, ref, b"x" * 200)
        report = self.run_fsck()
        self.assertEqual([p.line() for p in report.problems],
                         [f"job.b.R: damaged {ref}: content does not match"
                          " its hash"])

    def test_missing_directory_and_unreachable_damage(self):
        conn = sqlite3.connect(self.path)
        job = T.decode(sqlitedb.load_blob(conn, to_digest(self.rootref)))
        jobref = job["data"]["job"]["data"][0]
        conn.execute("DELETE FROM objects WHERE hash = ?", (to_digest(jobref),))
        junk = os.urandom(300)
        conn.execute("INSERT INTO objects VALUES (?, ?, 0, ?)",
                     (to_digest(hash_blob(junk)), 300, b"z" * 300))
        conn.commit()
        conn.close()
        report = self.run_fsck()
        self.assertEqual([p.line() for p in report.problems], [
            f"job: missing {jobref}: not in the store",
            f"damaged {hash_blob(junk)}: content does not match its hash"
            " (unreachable)"])
        self.assertFalse(report.ok)
