"""Tests for :mod:`fluxd.formats.fsd` (RFC 23 Flux Standard Duration).

Vectors come from the formats digest (spec/formats.md section 3),
flux-core's ``libutil/test/fsd.c`` and the Python binding's
``flux.util.fsd()``.
"""

import errno
import math

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument
from fluxd.formats.fsd import FSDError, format_fsd, fsd_brief, parse_fsd

RFC23_VECTORS = [
    ("2ms", 0.002), ("0.1s", 0.1), ("30", 30.), ("1.2h", 4320.),
    ("5m", 300.), ("0s", 0.), ("5d", 432000.),
    ("inf", math.inf), ("INF", math.inf), ("infinity", math.inf),
]

IMPL_VECTORS = [
    ("0", 0.), ("0ms", 0.), ("0m", 0.), ("0h", 0.), ("0d", 0.),
    ("500ms", 0.5), ("0.2ms", 0.0002), ("0.5", 0.5), ("0.5s", 0.5),
    ("0.5m", 30.), ("0.5h", 1800.), ("1.0d", 86400.), ("1.5d", 129600.),
    ("1e3", 1000.), ("1e3s", 1000.), ("0x10", 16.), (" 5", 5.),
    (".5", 0.5), ("5.", 5.), ("Infinity", math.inf),
    ("INFINITY", math.inf), ("iNfInItY", math.inf),
    # more strtod(): sign, other blanks, hex fractions and exponents
    ("+5", 5.), ("\t\n5s", 5.), ("0X1p4", 16.), ("0x.8m", 30.),
    ("1E+2ms", 0.1), ("+inf", math.inf), ("1e999", math.inf),
    ("1e-999", 0.),
]

INVALID_VECTORS = [
    "-1.", "1.0f", "1.0sec", "NaNs", "nan", "infinites", "infd", "infs",
    "5S", "5 ", "5 s", "1h30m", "2w",
    # beyond the spec list: no number, bad sign, units on infinity
    "", "s", "ms", " ", "x", "-inf", "-5s", "1e999s", "1e", "0x", "nan(1)",
    "inf s", "5ms ", "--5", "5mss", "1,5",
]


class ParseTests(SynchronousTestCase):
    """parse_fsd() is C fsd_parse_duration() (minus the empty string)."""

    def test_rfc23_vectors(self):
        for text, expected in RFC23_VECTORS:
            self.assertEqual(parse_fsd(text), expected, text)

    def test_impl_vectors(self):
        for text, expected in IMPL_VECTORS:
            self.assertEqual(parse_fsd(text), expected, text)

    def test_invalid_vectors(self):
        for text in INVALID_VECTORS:
            exc = self.assertRaises(FSDError, parse_fsd, text)
            self.assertEqual(exc.errno, errno.EINVAL, text)
            self.assertIsInstance(exc, InvalidArgument)
            self.assertIsInstance(exc, ValueError)
            self.assertTrue(
                str(exc).startswith(f"invalid Flux standard duration "
                                    f"'{text}'"), str(exc))

    def test_error_details(self):
        cases = [
            ("5S", "invalid Flux standard duration '5S': bad unit 'S'"),
            ("infs", "invalid Flux standard duration 'infs': "
                     "units are not allowed with infinity"),
            ("-1.", "invalid Flux standard duration '-1.': "
                    "must be non-negative"),
            ("nan", "invalid Flux standard duration 'nan': not a number"),
            ("", "invalid Flux standard duration ''"),
        ]
        for text, message in cases:
            self.assertEqual(str(self.assertRaises(FSDError, parse_fsd,
                                                   text)), message)

    def test_negative_zero(self):
        """C keeps the sign of -0 (it is not < 0)."""
        value = parse_fsd("-0")
        self.assertEqual(value, 0.)
        self.assertEqual(math.copysign(1., value), -1.)

    def test_ms_multiplies(self):
        """ms multiplies by .001 as C does, not divides by 1000."""
        self.assertEqual(parse_fsd("3ms"), 3 * .001)
        self.assertEqual(parse_fsd("1e308d"), math.inf)

    def test_type_error(self):
        self.assertRaises(TypeError, parse_fsd, 5)
        self.assertRaises(TypeError, parse_fsd, None)
        self.assertRaises(TypeError, parse_fsd, b"5s")


class FormatTests(SynchronousTestCase):
    """format_fsd() is C fsd_format_duration(_ex)."""

    def test_vectors(self):
        for seconds, expected in [
                (.001, "1ms"), (.01, "10ms"), (5., "5s"), (5.1, "5.1s"),
                (62., "1.03333m"), (3600., "1h"), (4500., "1.25h"),
                (86400., "1d"), (103680., "1.2d"), (90000., "1.04167d"),
                (0, "0s"), (0., "0s"), (math.inf, "infinity"),
                (.1, "0.1s"), (.0999, "99.9ms"), (59.9999999, "60s"),
                (60, "1m"), (1e-5, "0.01ms"), (1.23e-8, "1.23e-05ms"),
                (1e20, "1.15741e+15d")]:
            self.assertEqual(format_fsd(seconds), expected, seconds)

    def test_precision(self):
        self.assertEqual(format_fsd(62., 1), "1m")
        self.assertEqual(format_fsd(62., precision=2), "1m")
        self.assertEqual(format_fsd(62., 3), "1.03m")
        self.assertEqual(format_fsd(62., 0), "1m")
        self.assertEqual(format_fsd(4500., 2), "1.2h")
        self.assertEqual(format_fsd(62., -1), "1.03333m")
        self.assertEqual(format_fsd(math.inf, 2), "infinity")

    def test_c_quirks(self):
        self.assertEqual(format_fsd(-math.inf), "infinity")
        self.assertEqual(format_fsd(-0.), "-0s")

    def test_invalid(self):
        for bad in (-1., -1e-9, math.nan):
            exc = self.assertRaises(FSDError, format_fsd, bad)
            self.assertEqual(exc.errno, errno.EINVAL)
            self.assertIn("must be a non-negative number", str(exc))


class BriefTests(SynchronousTestCase):
    """fsd_brief() is the Python binding's flux.util.fsd()."""

    def test_vectors(self):
        for seconds, expected in [
                (math.inf, "inf"), (0, "0s"), (0.0009, "0s"), (-5, "0s"),
                (0.001, "0.001s"), (6.5931, "6.593s"), (9.9999, "10.000s"),
                (10, "10s"), (12.5, "12.5s"), (59.99, "59.99s"),
                (62, "1.033m"), (3600, "1h"), (4500, "1.25h"),
                (86400, "1d"), (90000, "1.042d"), (1e7, "115.7d")]:
            self.assertEqual(fsd_brief(seconds), expected, seconds)


durations = st.floats(min_value=1e-300, max_value=1e300,
                      allow_nan=False, allow_infinity=False)


class PropertyTests(SynchronousTestCase):
    """Formatting then parsing keeps six significant digits."""

    @given(durations)
    def test_roundtrip(self, seconds):
        text = format_fsd(seconds)
        self.assertTrue(math.isclose(parse_fsd(text), seconds,
                                     rel_tol=5.1e-6), (seconds, text))

    @given(durations, st.integers(min_value=1, max_value=17))
    def test_roundtrip_precision(self, seconds, precision):
        text = format_fsd(seconds, precision)
        # half a unit in the last printed digit, plus a few ulps lost to
        # the unit division and multiplication at high precisions
        tolerance = 5.1 * 10.0 ** -precision + 1e-15
        self.assertTrue(math.isclose(parse_fsd(text), seconds,
                                     rel_tol=tolerance),
                        (seconds, precision, text))

    @given(durations)
    def test_unit_choice(self, seconds):
        """The number printed is below the next unit's size."""
        text = format_fsd(seconds)
        unit = text.lstrip("0123456789.e+-")
        self.assertIn(unit, ("ms", "s", "m", "h", "d"))
        self.assertEqual(unit == "ms", seconds < 0.1)
        self.assertEqual(unit == "d", seconds >= 86400)

    @given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
    def test_brief_parses(self, seconds):
        """fsd_brief() output is itself a valid FSD."""
        parsed = parse_fsd(fsd_brief(seconds))
        if seconds >= 1e-3:
            self.assertTrue(math.isclose(parsed, seconds, rel_tol=1e-3,
                                         abs_tol=5e-4), seconds)
        else:
            self.assertEqual(parsed, 0.)
