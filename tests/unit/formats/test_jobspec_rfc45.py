"""Tests for :class:`fluxd.formats.jobspec.Count` (RFC 14 counts and RFC 45
count strings, flux-core libjob ``count.c``)."""

import itertools

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats.jobspec import COUNT_MAX, Count, CountError, JobspecError

#: string -> (kind, short encoding, long encoding, first values)
DECODE = [
    ("4", "integer", "4", "4", [4]),
    ("[7]", "integer", "7", "7", [7]),
    ("4,9,16,25", "idset", "4,9,16,25", "4,9,16,25", [4, 9, 16, 25]),
    ("[1-3]", "idset", "1-3", "1-3", [1, 2, 3]),
    ("1,,3", "idset", "1,3", "1,3", [1, 3]),
    ("2-32:2:*", "range", "2-32:2:*", "2-32:2:*", [2, 4, 8, 16, 32]),
    ("2-16:2:^", "range", "2-16:2:^", "2-16:2:^", [2, 4, 16]),
    ("3-10:3", "range", "3-10:3", "3-10:3:+", [3, 6, 9]),
    ("2+", "range", "2+", "2+:1:+", [2, 3, 4, 5]),
    ("[100+]", "range", "100+", "100+:1:+", [100, 101, 102, 103]),
    ("5-5", "range", "5", "5", [5]),
    ("2+:1:+", "range", "2+", "2+:1:+", [2, 3, 4, 5]),
    ('{"min": 2, "max": 4}', "range", "2-4", "2-4:1:+", [2, 3, 4]),
]

INVALID = ["", "0", "01", "-1", "+1", " 1", "1 ", "x", "3-2", "3:2", "[1",
           "1]", "[[1]]", "2-32:1:*", "2-32:0", "2+:2:/", "2+:2:*x", "2-",
           "2+:", "2+:2:", "4294967296", '{"min": 0}', "{bad", "1,0"]


class DecodeTests(SynchronousTestCase):
    """Count.decode() is count_decode()."""

    def test_vectors(self):
        for text, kind, short, long, values in DECODE:
            count = Count.decode(text)
            self.assertEqual(count.kind, kind, text)
            self.assertEqual(count.encode(), short, text)
            self.assertEqual(count.encode(short=False), long, text)
            self.assertEqual(list(itertools.islice(count, len(values))),
                             values, text)
            self.assertEqual(count.first(), values[0])

    def test_invalid(self):
        for text in INVALID:
            exc = self.assertRaises(CountError, Count.decode, text)
            self.assertEqual(str(exc), f"invalid count '{text}'")
            self.assertIsInstance(exc, JobspecError)
        self.assertRaises(CountError, Count.decode, 4)

    def test_iteration_ends(self):
        self.assertEqual(list(Count.decode("2-32:2:*")), [2, 4, 8, 16, 32])
        self.assertEqual(list(Count.decode("3")), [3])
        self.assertEqual(list(Count.decode("1,5")), [1, 5])
        # 1 * k never grows: yield 1 once
        self.assertEqual(list(Count.create({"min": 1, "max": 9, "operand": 2,
                                            "operator": "*"})), [1])

    def test_next(self):
        count = Count.decode("1-9:4")
        self.assertEqual([count.next(1), count.next(5), count.next(9)],
                         [5, 9, None])
        self.assertIsNone(Count.decode("4").next(4))
        self.assertEqual(Count.decode("2,7").next(3), 7)
        self.assertIsNone(Count.decode("2,7").next(7))

    def test_brackets(self):
        self.assertEqual(Count.decode("2+").encode(brackets=True), "[2+]")
        self.assertEqual(Count.decode("2,5").encode(brackets=True), "[2,5]")
        self.assertEqual(Count.decode("4").encode(brackets=True), "4")


class CreateTests(SynchronousTestCase):
    """Count.create() is count_create() (the jjc reader)."""

    def test_values(self):
        self.assertEqual(Count.create(3), Count.decode("3"))
        self.assertEqual(Count.create("2+"), Count.decode("2+"))
        count = Count.create({"min": 2, "max": 8, "operand": 2,
                              "operator": "*", "ignored": True})
        self.assertEqual(count.encode(), "2-8:2:*")
        self.assertEqual(Count.create({"min": 2}).max, COUNT_MAX)

    def test_errors(self):
        cases = [
            (0, "create_count: integer count must be >= 1"),
            (True, "create_count: Malformed jobspec resource count"),
            (1.5, "create_count: Malformed jobspec resource count"),
            ([1], "create_count: Malformed jobspec resource count"),
            ("x", "create_count: Failed to decode 'x' as idset or range"),
            ({"max": 2}, "Object item not found: min"),
            ({"min": 1, "operator": 3}, "Expected string, got integer"),
            ({"min": 1, "operand": 0},
             "create_count: min, max, and operand must be >= 1"),
            ({"min": 1, "operator": ""}, "create_count: unknown operator ''"),
        ]
        for value, message in cases:
            exc = self.assertRaises(CountError, Count.create, value)
            self.assertEqual(str(exc), message, value)

    def test_to_json(self):
        self.assertEqual(Count.create(4).to_json(), 4)
        self.assertEqual(Count.decode("1,3").to_json(), "1,3")
        self.assertEqual(Count.decode("2+").to_json(),
                         {"min": 2, "operand": 1, "operator": "+"})
        self.assertEqual(Count.decode("2-8:2:*").to_json(),
                         {"min": 2, "max": 8, "operand": 2, "operator": "*"})

    def test_repr_and_equality(self):
        self.assertEqual(repr(Count.decode("2+")), "Count('2+:1:+')")
        self.assertEqual(str(Count.decode("2+")), "2+")
        self.assertNotEqual(Count.decode("1-3"), Count.decode("1-3:1:+"))
        self.assertNotEqual(Count.decode("3"), 3)
        self.assertTrue(Count.decode("3").is_integer)
        self.assertFalse(Count.decode("3+").is_integer)


class RoundTripTests(SynchronousTestCase):
    """Encoded counts decode to the same count."""

    @given(low=st.integers(1, 1000), span=st.integers(0, 1000),
           operand=st.integers(1, 5), operator=st.sampled_from("+*^"),
           unbounded=st.booleans(), brackets=st.booleans(),
           short=st.booleans())
    def test_range(self, low, span, operand, operator, unbounded, brackets,
                   short):
        if operator != "+":
            operand = max(operand, 2)
        if operator == "^":
            low = max(low, 2)
        count = Count.create({"min": low, "operand": operand,
                              "operator": operator,
                              **({} if unbounded else {"max": low + span})})
        again = Count.decode(count.encode(brackets=brackets, short=short))
        self.assertEqual(list(itertools.islice(again, 20)),
                         list(itertools.islice(count, 20)))
        self.assertEqual(Count.create(count.to_json()), count)
