"""Tests for :mod:`fluxd.formats.idset` (RFC 22 idsets).

Vectors come from the formats digest (spec/formats.md section 2),
flux-core's ``libidset/test/idset.c`` and ``t/python/t0021-idset.py``.
"""

import copy
import errno

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument, NotFound, ValueRangeError
from fluxd.formats.idset import (
    IDSET_MAX_ID, IDset, IdsetError, IdsetRangeError, decode_idset)

# (input, RANGE, RANGE+BRACKETS, plain) from spec section 2 and idset.c.
ENCODE_VECTORS = [
    ("2", "2", "2", "2"),
    ("7-9", "7-9", "[7-9]", "7,8,9"),
    ("1,7-9", "1,7-9", "[1,7-9]", "1,7,8,9"),
    ("1,7-9,16", "1,7-9,16", "[1,7-9,16]", "1,7,8,9,16"),
    ("1,7-9,14,16", "1,7-9,14,16", "[1,7-9,14,16]", "1,7,8,9,14,16"),
    ("1-3,7-9,14,16", "1-3,7-9,14,16", "[1-3,7-9,14,16]",
     "1,2,3,7,8,9,14,16"),
    ("2,3,4,5", "2-5", "[2-5]", "2,3,4,5"),
    ("[0]", "0", "0", "0"),
    ("0", "0", "0", "0"),
    ("1-3,4-5", "1-5", "[1-5]", "1,2,3,4,5"),
    ("", "", "", ""),
    ("[]", "", "", ""),
    ("1048576", "1048576", "1048576", "1048576"),
    ("[2]", "2", "2", "2"),
    ("[7-9]", "7-9", "[7-9]", "7,8,9"),
    ("[2,3,4,5]", "2-5", "[2-5]", "2,3,4,5"),
    ("0,1", "0-1", "[0-1]", "0,1"),
]

# Every invalid string of spec section 2 plus idset.c's expected failures,
# with the flux-core error text each must produce.
INVALID_VECTORS = [
    ("4.2", "error parsing range '4.2'"),
    ("x", "error parsing range 'x'"),
    ("1-2x", "error parsing range '1-2x'"),
    ("1-x", "error parsing range '1-x'"),
    ("01,2", "error parsing range '01'"),
    ("00", "error parsing range '00'"),
    ("3,2", "range '2' is out of order"),
    ("3-0", "error parsing range '3-0'"),
    ("2,2,2,2", "range '2' is out of order"),
    ("[0", "mismatched or nested brackets"),
    ("0]", "mismatched or nested brackets"),
    ("[[0]]", "mismatched or nested brackets"),
    ("[[0,2]", "mismatched or nested brackets"),
    ("[0,2]]", "mismatched or nested brackets"),
    ("0,[2", "mismatched or nested brackets"),
    ("0]2", "mismatched or nested brackets"),
    ("0-", "error parsing range '0-'"),
    ("[0-]", "error parsing range '0-'"),
    ("-5", "error parsing range '-5'"),
    ("[-5]", "error parsing range '-5'"),
    ("3-3", "error parsing range '3-3'"),
    (" 1", "error parsing range ' 1'"),
    ("1 ", "error parsing range '1 '"),
    ("+1", "error parsing range '+1'"),
    ("0x10", "error parsing range '0x10'"),
    ("1,1", "range '1' is out of order"),
    ("1-5,3", "range '3' is out of order"),
    ("1-5,5-7", "range '5-7' is out of order"),
    ("1--5", "error parsing range '1--5'"),
    ("1-2-3", "error parsing range '1-2-3'"),
    ("1-05", "error parsing range '1-05'"),
    ("1-+5", "error parsing range '1-+5'"),
    # Unicode digits are digits to str.isdigit() but not to strtoul().
    ("\u0661", "error parsing range '\u0661'"),
    # beyond ULONG_MAX strtoul() itself fails: a parse error, not ERANGE
    ("18446744073709551616", "error parsing range '18446744073709551616'"),
]

RANGE_VECTORS = ["4294967295", "2147483648", "0-2147483648", "1,4294967296"]


class DecodeEncodeTests(SynchronousTestCase):
    """Every codec vector of the spec table and of libidset's test."""

    def test_encode_vectors(self):
        for text, rng, bracketed, plain in ENCODE_VECTORS:
            ids = IDset.decode(text)
            self.assertEqual(ids.encode(), rng, text)
            self.assertEqual(ids.encode(ranges=True, brackets=True),
                             bracketed, text)
            self.assertEqual(ids.encode(ranges=False), plain, text)
            self.assertEqual(str(ids), rng, text)

    def test_brackets_without_ranges(self):
        """t0021: BRACKETS alone lists every id inside brackets."""
        ids = IDset("0-3")
        self.assertEqual(ids.encode(ranges=False, brackets=True), "[0,1,2,3]")
        self.assertEqual(IDset("5").encode(ranges=False, brackets=True), "5")

    def test_invalid_vectors(self):
        for text, message in INVALID_VECTORS:
            exc = self.assertRaises(IdsetError, IDset.decode, text)
            self.assertEqual(str(exc), message, text)
            self.assertEqual(exc.errno, errno.EINVAL, text)
            self.assertIsInstance(exc, InvalidArgument)
            self.assertIsInstance(exc, ValueError)

    def test_universe_overflow_is_erange(self):
        for text in RANGE_VECTORS:
            exc = self.assertRaises(IdsetRangeError, IDset.decode, text)
            self.assertEqual(exc.errno, errno.ERANGE, text)
            self.assertIsInstance(exc, ValueRangeError)
            self.assertIsInstance(exc, IdsetError)
            self.assertIn("set universe size would exceed maximum", str(exc))
        exc = self.assertRaises(IdsetRangeError, IDset.decode, "2147483648")
        self.assertEqual(
            str(exc), "error appending '2147483648': "
            "set universe size would exceed maximum")

    def test_max_id(self):
        self.assertEqual(IDSET_MAX_ID, 2147483647)
        ids = IDset.decode("2147483647")
        self.assertEqual(ids.last(), IDSET_MAX_ID)
        self.assertEqual(len(ids), 1)

    def test_empty_tokens_skipped(self):
        for text in ("1,,2", ",1,2", "1,2,", "[,1,2,]", ",,,"):
            expected = "" if text == ",,," else "1-2"
            self.assertEqual(str(IDset.decode(text)), expected, text)

    def test_unmerged_ranges_accepted(self):
        ids = IDset.decode("1-3,4-5,6")
        self.assertEqual(ids.intervals(), [(1, 6)])

    def test_huge_range_is_cheap(self):
        """Decoding and encoding never expand the set."""
        ids = IDset.decode("0-2147483646")
        self.assertEqual(len(ids), 2147483647)
        self.assertEqual(ids.intervals(), [(0, 2147483646)])
        self.assertEqual(str(ids), "0-2147483646")
        self.assertIn(2147483646, ids)
        self.assertNotIn(2147483647, ids)
        ids.add(2147483647)
        self.assertEqual(str(ids), "0-2147483647")
        ids.discard(1000, 2000000000)
        self.assertEqual(str(ids), "0-999,2000000001-2147483647")
        self.assertEqual(ids.nth(1000), 2000000001)

    def test_codec_large(self):
        """libidset test_codec_large: 0-5000 lists all 5001 ids."""
        text = IDset.decode("0-5000").encode(ranges=False)
        self.assertEqual([int(x) for x in text.split(",")],
                         list(range(5001)))

    def test_decode_alias_and_constructor(self):
        self.assertEqual(decode_idset("1-3"), IDset("1-3"))
        self.assertEqual(IDset.decode("[7-9]"), IDset([9, 7, 8]))
        self.assertEqual(IDset(None), IDset(""))
        self.assertEqual(IDset(""), IDset([]))

    def test_decode_type_error(self):
        self.assertRaises(TypeError, IDset.decode, None)
        self.assertRaises(TypeError, IDset.decode, b"1-2")
        self.assertRaises(TypeError, IDset, 5)

    def test_repr(self):
        """t0021: repr is IDset('<RANGE encoding>')."""
        self.assertEqual(repr(IDset("0,1")), "IDset('0-1')")
        self.assertEqual(repr(IDset()), "IDset('')")
        self.assertEqual(repr(IDset("0-3,7")), "IDset('0-3,7')")


class ConstructionTests(SynchronousTestCase):
    """Building sets from iterables and copies."""

    def test_from_iterable(self):
        ids = IDset([5, 3, 4, 3, 10, 0])
        self.assertEqual(str(ids), "0,3-5,10")
        self.assertEqual(IDset(range(4)).intervals(), [(0, 3)])
        self.assertEqual(IDset(iter([2, 1])), IDset("1-2"))

    def test_from_iterable_rejects_bad_ids(self):
        self.assertRaises(IdsetError, IDset, [1, -1])
        self.assertRaises(IdsetRangeError, IDset, [2**31])
        self.assertRaises(TypeError, IDset, ["a"])
        self.assertRaises(TypeError, IDset, [True])
        self.assertRaises(TypeError, IDset, [1.0])

    def test_copy_is_independent(self):
        ids = IDset("0-9")
        for cp in (ids.copy(), IDset(ids), copy.copy(ids),
                   copy.deepcopy(ids)):
            cp.discard(1, 9)
            self.assertEqual(str(cp), "0")
        self.assertEqual(str(ids), "0-9")
        self.assertEqual(len(ids), 10)


class QueryTests(SynchronousTestCase):
    """len, iteration, membership, first/last/nth, equality."""

    def test_count(self):
        for text, count in [("", 0), ("0", 1), ("0,1", 2), ("0-10", 11),
                            ("0,5,9", 3)]:
            self.assertEqual(len(IDset(text)), count, text)

    def test_bool(self):
        self.assertFalse(IDset())
        self.assertFalse(IDset("[]"))
        self.assertTrue(IDset("0"))

    def test_iteration(self):
        self.assertEqual(list(IDset("0-3,7")), [0, 1, 2, 3, 7])
        self.assertEqual(list(IDset("3")), [3])
        self.assertEqual(list(IDset("")), [])
        self.assertEqual(list(reversed(IDset("0-2,7"))), [7, 2, 1, 0])
        self.assertEqual(IDset("0-3").expand(), [0, 1, 2, 3])

    def test_contains(self):
        ids = IDset("0-9,20")
        for member in (0, 5, 9, 20):
            self.assertIn(member, ids)
        for other in (10, 19, 21, 1024, -1, "foo", 1.5, None):
            self.assertNotIn(other, ids)
        self.assertNotIn(0, IDset())

    def test_first_last(self):
        ids = IDset("7-9,12")
        self.assertEqual(ids.first(), 7)
        self.assertEqual(ids.last(), 12)
        empty = IDset()
        self.assertRaises(NotFound, empty.first)
        exc = self.assertRaises(NotFound, empty.last)
        self.assertEqual(exc.errno, errno.ENOENT)

    def test_nth(self):
        ids = IDset("1-3,7,10-11")
        self.assertEqual([ids.nth(i) for i in range(len(ids))],
                         list(ids))
        self.assertEqual(ids.nth(-1), 11)
        self.assertEqual(ids.nth(-6), 1)
        self.assertRaises(NotFound, ids.nth, 6)
        self.assertRaises(NotFound, ids.nth, -7)
        self.assertRaises(NotFound, IDset().nth, 0)

    def test_equality(self):
        a, b = IDset(), IDset()
        self.assertEqual(a, b)
        a.add(0, 9)
        b.add(0, 9)
        self.assertEqual(a, b)
        a.discard(0)
        self.assertNotEqual(a, b)
        self.assertNotEqual(IDset("1"), "1")
        self.assertNotEqual(IDset("1"), {1})
        self.assertRaises(TypeError, hash, IDset())


class MutationTests(SynchronousTestCase):
    """add/discard/remove/clear (t0021 test_set_and_clear and friends)."""

    def test_add_and_discard(self):
        ids = IDset()
        ids.add(3)
        self.assertEqual(str(ids), "3")
        ids.discard(3)
        self.assertEqual(str(ids), "")
        ids.add(3, 7)
        self.assertEqual(str(ids), "3-7")
        ids.discard(4, 5)
        self.assertEqual(str(ids), "3,6-7")
        self.assertEqual(len(ids), 3)

    def test_add_merges_neighbours(self):
        ids = IDset("0-2,6-8,12")
        ids.add(3, 5)
        self.assertEqual(ids.intervals(), [(0, 8), (12, 12)])
        ids.add(10)
        self.assertEqual(str(ids), "0-8,10,12")
        ids.add(11)
        self.assertEqual(str(ids), "0-8,10-12")
        ids.add(0, 20)
        self.assertEqual(ids.intervals(), [(0, 20)])
        ids.add(5)
        self.assertEqual(ids.intervals(), [(0, 20)])
        self.assertEqual(len(ids), 21)

    def test_discard_splits_and_ignores_non_members(self):
        ids = IDset("0-20")
        ids.discard(5, 7).discard(30).discard(2**40)
        self.assertEqual(str(ids), "0-4,8-20")
        ids.discard(0, 4)
        self.assertEqual(str(ids), "8-20")
        ids.discard(20)
        ids.discard(8)
        self.assertEqual(str(ids), "9-19")
        ids.discard(0, 100)
        self.assertEqual(str(ids), "")

    def test_add_and_discard_sets(self):
        """t0021 test_add_subtract: strings, lists and IDsets."""
        ids = IDset("0-9")
        self.assertEqual(str(ids.add("10-11")), "0-11")
        self.assertEqual(str(ids.add([20, 21])), "0-11,20-21")
        self.assertEqual(str(ids.add(IDset(""))), "0-11,20-21")
        self.assertEqual(str(ids.discard([])), "0-11,20-21")
        self.assertEqual(str(ids.discard("11-20")), "0-10,21")
        self.assertEqual(str(ids.discard(IDset("0-10"))), "21")
        self.assertEqual(str(ids.discard([21])), "")
        self.assertRaises(IdsetError, ids.add, "foo")
        self.assertRaises(IdsetError, ids.discard, "foo")

    def test_bad_arguments(self):
        ids = IDset()
        self.assertRaises(IdsetError, ids.add, -1)
        self.assertRaises(IdsetError, ids.add, 1, -1)
        self.assertRaises(IdsetError, ids.add, 5, 1)
        self.assertRaises(IdsetRangeError, ids.add, 2**31)
        self.assertRaises(IdsetRangeError, ids.add, 0, 2**31)
        self.assertRaises(TypeError, ids.add, 1, "a")
        self.assertRaises(TypeError, ids.add, True)
        self.assertRaises(IdsetError, ids.discard, -1)
        self.assertRaises(IdsetError, ids.discard, 5, 1)
        self.assertEqual(str(ids), "")

    def test_remove(self):
        ids = IDset("1-3")
        ids.remove(2)
        self.assertEqual(str(ids), "1,3")
        exc = self.assertRaises(NotFound, ids.remove, 2)
        self.assertEqual(str(exc), "id 2 is not in idset '1,3'")

    def test_clear(self):
        ids = IDset("1-10")
        ids.clear()
        self.assertEqual(len(ids), 0)
        self.assertEqual(str(ids), "")


class AlgebraTests(SynchronousTestCase):
    """Set operations, from libidset's optab and t0021."""

    def test_libidset_optab(self):
        cases = [
            ("[0]", "__or__", "[0]", "[0]"),
            ("[0]", "__or__", "[1]", "[0-1]"),
            ("[0]", "__sub__", "[0]", "[]"),
            ("[0-1]", "__sub__", "[0]", "[1]"),
            ("[0-1]", "__and__", "[2-3]", "[]"),
            ("[0-1]", "__and__", "[1-2]", "[1]"),
            ("[0-1]", "__and__", "[0-1]", "[0-1]"),
            ("[0,1]", "__sub__", "[2]", "[0,1]"),
        ]
        for a, op, b, result in cases:
            self.assertEqual(getattr(IDset(a), op)(IDset(b)), IDset(result),
                             f"{a} {op} {b}")

    def test_intersect_many(self):
        for idset, args, result in [("0-10", ["0-5", "0-3"], "0-3"),
                                    ("0-1", ["3-4"], ""),
                                    ("0-1024", ["500-600"], "500-600")]:
            ids = IDset(idset)
            self.assertEqual(str(ids.intersection(*args)), result)
            self.assertEqual(
                str(ids.intersection(*map(IDset, args))), result)
            self.assertEqual(str(ids), idset)

    def test_union_many(self):
        self.assertEqual(str(IDset("0-10").union("5-15", "0-3")), "0-15")
        self.assertEqual(str(IDset("0-1").union("3-4")), "0-1,3-4")
        self.assertEqual(str(IDset("0-1").union([2], IDset("9"))), "0-2,9")

    def test_difference_and_symmetric(self):
        a = IDset("0-10,20-30")
        b = IDset("5-25")
        self.assertEqual(str(a - b), "0-4,26-30")
        self.assertEqual(str(b - a), "11-19")
        self.assertEqual(str(a ^ b), "0-4,11-19,26-30")
        self.assertEqual(str(a.difference("0-100")), "")
        self.assertEqual(str(a.symmetric_difference([10, 11])),
                         "0-9,11,20-30")

    def test_predicates(self):
        a = IDset("2-4")
        self.assertTrue(a.issubset("0-10"))
        self.assertFalse(a.issubset("3-10"))
        self.assertTrue(IDset("0-10").issuperset(a))
        self.assertTrue(a.isdisjoint([5, 6]))
        self.assertFalse(a.isdisjoint([4]))
        self.assertTrue(a <= IDset("2-4"))
        self.assertFalse(a < IDset("2-4"))
        self.assertTrue(a < IDset("2-5"))
        self.assertTrue(IDset("1-5") > a)
        self.assertTrue(IDset().issubset(a))

    def test_in_place_operators(self):
        ids = IDset("0-3")
        same = ids
        ids |= IDset("10")
        ids -= IDset("1")
        ids &= IDset("0-5,10")
        ids ^= IDset("4,10")
        self.assertIs(ids, same)
        self.assertEqual(str(ids), "0,2-4")

    def test_operators_need_idsets(self):
        ids = IDset("1")
        for op in ("__or__", "__and__", "__sub__", "__xor__"):
            self.assertIs(getattr(ids, op)("2"), NotImplemented)
        self.assertRaises(TypeError, lambda: ids | "2")
        self.assertRaises(TypeError, lambda: ids <= {1})
        self.assertRaises(TypeError, ids.union, 5)


# -- property tests ---------------------------------------------------------

small_ids = st.frozensets(st.integers(min_value=0, max_value=40))
wide_ids = st.frozensets(
    st.one_of(st.integers(min_value=0, max_value=200),
              st.integers(min_value=0, max_value=IDSET_MAX_ID)),
    max_size=60)


class PropertyTests(SynchronousTestCase):
    """IDset against Python frozensets."""

    @given(wide_ids, st.booleans(), st.booleans())
    def test_codec_roundtrip(self, ids, ranges, brackets):
        idset = IDset(ids)
        text = idset.encode(ranges=ranges, brackets=brackets)
        self.assertEqual(IDset.decode(text), idset)
        self.assertEqual(set(IDset.decode(text)), set(ids))
        if not brackets:
            self.assertNotIn("[", text)

    @given(small_ids)
    def test_encoding_matches_ids(self, ids):
        idset = IDset(ids)
        self.assertEqual(len(idset), len(ids))
        self.assertEqual(list(idset), sorted(ids))
        self.assertEqual(idset.encode(ranges=False),
                         ",".join(map(str, sorted(ids))))
        self.assertEqual(idset.encode(brackets=True).startswith("["),
                         len(ids) > 1)
        for lo, hi in idset.intervals():
            self.assertLessEqual(lo, hi)
        # intervals are disjoint and never adjacent (maximally compressed)
        pairs = idset.intervals()
        for (_, hi), (lo, _) in zip(pairs, pairs[1:]):
            self.assertGreater(lo, hi + 1)

    @given(small_ids, small_ids)
    def test_algebra_matches_frozenset(self, a, b):
        x, y = IDset(a), IDset(b)
        self.assertEqual(set(x | y), a | b)
        self.assertEqual(set(x & y), a & b)
        self.assertEqual(set(x - y), a - b)
        self.assertEqual(set(x ^ y), a ^ b)
        self.assertEqual(x.issubset(y), a <= b)
        self.assertEqual(x.issuperset(y), a >= b)
        self.assertEqual(x.isdisjoint(y), a.isdisjoint(b))
        self.assertEqual(x == y, a == b)
        self.assertEqual(x < y, a < b)
        self.assertEqual(str(x), str(IDset(sorted(a))))

    @given(small_ids, st.lists(st.tuples(
        st.booleans(), st.integers(0, 45), st.integers(0, 5))))
    @settings(max_examples=200)
    def test_mutation_matches_set(self, start, ops):
        model = set(start)
        idset = IDset(start)
        for adding, lo, width in ops:
            hi = lo + width
            if adding:
                idset.add(lo, hi)
                model.update(range(lo, hi + 1))
            else:
                idset.discard(lo, hi)
                model.difference_update(range(lo, hi + 1))
            self.assertEqual(list(idset), sorted(model))
            self.assertEqual(len(idset), len(model))
        for probe in range(50):
            self.assertEqual(probe in idset, probe in model)
        if model:
            self.assertEqual(idset.first(), min(model))
            self.assertEqual(idset.last(), max(model))
            self.assertEqual([idset.nth(i) for i in range(len(model))],
                             sorted(model))
