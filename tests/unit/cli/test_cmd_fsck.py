"""flux fsck on a stopped broker's content.sqlite."""

import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.storage import sqlitedb
from fluxd.storage.blobref import hash_blob
from fluxd.testing.cli import run_flux
from tests.unit.cli.test_cmd_dump import make_statedir
from tests.unit.storage.test_check import damage_blob, digest_of


class FsckCommandTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-fsckcli-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.state = os.path.join(self.dir, "state")
        self.blobs, self.root = make_statedir(self.state)
        self.db = os.path.join(self.state, "content.sqlite")

    def test_clean_store(self):
        r = run_flux(["fsck", f"--statedir={self.state}"])
        self.assertEqual((r.rc, r.out), (0, ""))
        self.assertRegex(r.err, r"^flux-fsck: .*content.sqlite: \d+ blobs, 6"
                         r" keys in 1 namespaces; 0 problems, 0 unreachable"
                         r" blobs\n$")

    def test_damage_reported_per_key_and_store_untouched(self):
        ref = hash_blob(b"first half|")
        damage_blob(self.db, ref, b"FIRST HALF|")
        before = digest_of(self.db)
        r = run_flux(["fsck", "-q", "--unreachable", f"--statedir={self.state}"])
        self.assertEqual((r.rc, r.err), (1, ""))
        self.assertEqual(r.out, f"b.c: damaged {ref}: content does not match"
                         " its hash\n")
        self.assertEqual(digest_of(self.db), before)

    def test_unreachable_listed_on_request(self):
        conn = sqlitedb.connect(self.db)
        sqlitedb.DirectStore(conn, "sha1").store({hash_blob(b"junk"): b"junk"})
        sqlitedb.checkpoint(conn)
        conn.close()
        r = run_flux(["fsck", "--unreachable", f"--statedir={self.state}"])
        self.assertEqual((r.rc, r.out), (0, f"unreachable {hash_blob(b'junk')}\n"))
        self.assertIn("0 problems, 1 unreachable blobs", r.err)

    def test_bad_invocations_are_one_line(self):
        r = run_flux(["fsck"])
        self.assertEqual((r.rc, r.err), (1, "flux-fsck: --statedir=DIR is"
                         " required: fsck checks a stopped broker's"
                         " content.sqlite\n"))
        r = run_flux(["fsck", f"--statedir={self.dir}/none"])
        self.assertEqual((r.rc, r.err), (1, f"flux-fsck: {self.dir}/none: No"
                                            " such directory\n"))
        with open(self.db, "r+b") as f:
            f.truncate(4096 * 2)
        r = run_flux(["fsck", f"--statedir={self.state}"])
        self.assertEqual(r.rc, 1)
        self.assertEqual(len(r.err.splitlines()), 1, r.err)
        self.assertIn("is truncated", r.err)
