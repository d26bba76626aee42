"""The dir/ls layout helpers of ``flux kvs``."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli import _kvs_listing as listing


class KvLineTests(SynchronousTestCase):
    def test_fits(self):
        self.assertEqual(listing.kv_line("a", b"1", 80), b"a = 1\n")

    def test_truncated_to_width(self):
        self.assertEqual(listing.kv_line("key", b"x" * 20, 12), b"key = xxx...\n")

    def test_no_limit(self):
        value = b"x" * 200 + b"\nmore"
        self.assertEqual(listing.kv_line("k", value, 0), b"k = " + value + b"\n")

    def test_newline_and_nonprintable(self):
        self.assertEqual(listing.kv_line("k", b"one\ntwo", 80), b"k = one...\n")
        self.assertEqual(listing.kv_line("k", b"one\n", 80), b"k = one\n")
        self.assertEqual(listing.kv_line("k", b"ab\x01cd", 80), b"k = ab...\n")
        self.assertEqual(listing.kv_line("k", "é".encode(), 80), b"k = ...\n")

    def test_c_string(self):
        self.assertEqual(listing.kv_line("k", b"abc\0def", 0), b"k = abc\n")

    def test_tiny_width_means_unlimited(self):
        self.assertEqual(listing.kv_line("k", b"x" * 10, 3), b"k = " + b"x" * 10 + b"\n")


class ColumnsTests(SynchronousTestCase):
    def test_layout(self):
        names = ["a", "bb", "ccc", "d"]
        self.assertEqual(listing.columns(names, 80), "a      bb     ccc    d\n")
        self.assertEqual(listing.columns(names, 15), "a      bb\nccc    d\n")
        self.assertEqual(listing.columns(names, 1), "a\nbb\nccc\nd\n")
        self.assertEqual(listing.columns([], 80), "")
        self.assertEqual(listing.columns(["x", "y"], 0), "x    y\n")

    def test_key_at_and_width(self):
        self.assertEqual(listing.key_at(".", "a"), "a")
        self.assertEqual(listing.key_at("a.b", "c"), "a.b.c")
        self.assertEqual(listing.window_width(7), 7)
