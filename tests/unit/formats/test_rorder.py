"""Tests for :mod:`fluxd.formats._rorder`: the order flux-core prints a
node's children in (its zhashx table's iteration order)."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats._rorder import ChildTable, _hash


def table(*names):
    """A node's table as flux-core's rnode_new() starts it, then ``names``
    added in turn."""
    result = ChildTable()
    for name in ("core",) + names:
        result.add(name)
    return result


class HashTests(SynchronousTestCase):
    def test_bernstein_values(self):
        """33 * hash XOR char, 64-bit: core and gpu share bucket 0 of 3."""
        self.assertEqual(_hash("core"), 3534459)
        self.assertEqual(_hash("gpu"), 111714)
        self.assertEqual((_hash("core") % 3, _hash("gpu") % 3), (0, 0))

    def test_wraps_at_64_bits(self):
        self.assertLess(_hash("x" * 64), 1 << 64)

    def test_signed_chars(self):
        """Bytes past 127 are negative C chars, sign-extended."""
        value = ((33 * 0) ^ ((0xC3 - 256) & ((1 << 64) - 1))) & ((1 << 64) - 1)
        value = ((33 * value) ^ ((0xA9 - 256) & ((1 << 64) - 1))) \
            & ((1 << 64) - 1)
        self.assertEqual(_hash("é"), value)


class OrderTests(SynchronousTestCase):
    def test_new_node_prints_latest_insertion_first(self):
        """gpu, inserted after core into the same bucket, comes first:
        flux R encode prints {"gpu": ..., "core": ...}."""
        self.assertEqual(list(table("gpu")), ["gpu", "core"])

    def test_copy_reverses_a_bucket(self):
        """zhashx_dup() re-inserts in iteration order: a copy prints core
        first, a copy of the copy gpu first again."""
        copy = table("gpu").dup()
        self.assertEqual(list(copy), ["core", "gpu"])
        self.assertEqual(list(copy.dup()), ["gpu", "core"])

    def test_clone_keeps_order(self):
        self.assertEqual(list(table("gpu").clone()), ["gpu", "core"])

    def test_growth_at_load_factor(self):
        """The third name grows the table from 3 to 17 buckets first, so
        the names land in buckets by hash % 17."""
        names = list(table("gpu", "foo"))
        self.assertEqual(sorted(names), ["core", "foo", "gpu"])
        self.assertEqual(names, sorted(names, key=lambda n: _hash(n) % 17))

    def test_long_chain_on_lookup_grows(self):
        """Looking up an absent name behind a chain longer than the limit
        (1) rehashes into 17 buckets, as zhashx_lookup() does."""
        t = table("gpu")
        self.assertNotIn("foo", t)  # bucket 0 of 3 holds gpu, core
        self.assertEqual(list(t), sorted(["core", "gpu"],
                                         key=lambda n: _hash(n) % 17))
        self.assertEqual(len(t), 2)

    def test_discard(self):
        t = table("gpu")
        t.discard("gpu")
        t.discard("nothing")
        self.assertEqual((list(t), len(t)), (["core"], 1))

    def test_add_is_idempotent(self):
        t = table("gpu", "gpu", "core")
        self.assertEqual((list(t), len(t)), (["gpu", "core"], 2))

    def test_many_names(self):
        names = [f"type{i}" for i in range(200)]
        t = table(*names)
        self.assertEqual(sorted(t), sorted(["core"] + names))
        self.assertEqual(len(t), 201)
