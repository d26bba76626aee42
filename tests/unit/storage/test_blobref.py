"""RFC 10 blobrefs: hashing, digests, validation."""

import hashlib

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument
from fluxd.storage import blobref


class BlobrefTests(SynchronousTestCase):
    def test_rfc10_example(self):
        # The RFC 10 example is the sha1 of "foo\n".
        self.assertEqual(blobref.hash_blob(b"foo\n"),
                         "sha1-f1d2d2f924e986ac86fdf7b36c94bcdf32beec15")

    def test_sha256(self):
        ref = blobref.hash_blob(b"", "sha256")
        self.assertEqual(ref, "sha256-" + hashlib.sha256(b"").hexdigest())
        self.assertEqual(blobref.hash_name(ref), "sha256")

    def test_digest_round_trip(self):
        raw = blobref.digest(b"abc")
        self.assertEqual(len(raw), 20)
        ref = blobref.from_digest(raw)
        self.assertEqual(ref, blobref.hash_blob(b"abc"))
        self.assertEqual(blobref.to_digest(ref), raw)

    def test_bad_digest_size(self):
        with self.assertRaises(InvalidArgument) as cm:
            blobref.from_digest(b"x" * 7)
        self.assertIn("7 bytes", str(cm.exception))
        with self.assertRaises(InvalidArgument):
            blobref.from_digest(b"x" * 20, "sha256")

    def test_invalid_blobrefs(self):
        for bad in ["", "sha1-", "sha1-" + "A" * 40, "sha1-" + "0" * 39,
                    "md5-" + "0" * 32, "sha256-" + "0" * 40, 5, None,
                    "sha1-" + "0" * 40 + "\n"]:
            self.assertFalse(blobref.is_blobref(bad), bad)
            with self.assertRaises(InvalidArgument):
                blobref.validate(bad)

    def test_validate_wrong_hash(self):
        ref = blobref.hash_blob(b"x")
        self.assertEqual(blobref.validate(ref, "sha1"), ref)
        with self.assertRaises(InvalidArgument) as cm:
            blobref.validate(ref, "sha256")
        self.assertIn("sha256", str(cm.exception))

    def test_unknown_hash(self):
        with self.assertRaises(InvalidArgument) as cm:
            blobref.hash_blob(b"x", "md5")
        self.assertIn("md5", str(cm.exception))

    def test_size_limits(self):
        ref = blobref.hash_blob(b"x", "sha256")
        self.assertLessEqual(len(ref), blobref.MAX_BLOBREF_SIZE)
        self.assertLessEqual(len(blobref.to_digest(ref)), blobref.MAX_DIGEST_SIZE)

    @given(st.binary(), st.sampled_from(["sha1", "sha256"]))
    def test_round_trip_property(self, data, name):
        ref = blobref.hash_blob(data, name)
        self.assertTrue(blobref.is_blobref(ref))
        self.assertEqual(blobref.from_digest(blobref.to_digest(ref)), ref)
        self.assertEqual(blobref.to_digest(ref), blobref.digest(data, name))
