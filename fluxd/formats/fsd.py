# -*- test-case-name: tests.unit.formats.test_fsd -*-
"""RFC 23 Flux Standard Duration (FSD).

An FSD is a non-negative floating point number followed by an optional
unit: ``ms``, ``s``, ``m``, ``h`` or ``d`` (no unit means seconds), or one of
the spellings of infinity.  Examples: ``2ms``, ``30``, ``1.5h``, ``inf``.

Parsing follows flux-core's C ``fsd_parse_duration()``, which reads the
number with ``strtod()`` and therefore inherits its quirks (leading
whitespace, a ``+`` sign, hexadecimal ``0x10``, exponents, ``INFINITY`` in
any case).  Formatting offers both flavours flux-core prints:

- :func:`format_fsd` is C ``fsd_format_duration(_ex)`` (``%g``, used by the
  broker and C commands, e.g. ``1.03333m``);
- :func:`fsd_brief` is the Python binding's ``flux.util.fsd()`` (used by
  ``flux jobs`` ``!F`` fields, e.g. ``6.593s``).
"""

import math
import re

from fluxd.errors import InvalidArgument

__all__ = ["FSDError", "parse_fsd", "format_fsd", "fsd_brief"]


class FSDError(InvalidArgument):
    """invalid Flux standard duration"""


# Multipliers as written in flux-core: "ms" multiplies by .001 rather than
# dividing by 1000, which matters for the last bit of some results.
_UNITS = {"ms": .001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

# isspace() in the C locale.
_C_SPACE = " \t\n\v\f\r"

# The three shapes strtod() accepts after an optional sign.  An exponent is
# consumed only when digits follow it ("1e" stops before the "e"), and "0x"
# without hex digits is the number 0 followed by "x".
_HEX = re.compile(
    r"0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)"
    r"(?:[pP][+-]?[0-9]+)?")
_DECIMAL = re.compile(
    r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SPECIAL = re.compile(r"(?i:(inf(?:inity)?)|nan(?:\([0-9A-Za-z_]*\))?)")


def _strtod(s):
    """Emulate C ``strtod()`` in the C locale.

    :returns: ``(value, end)`` where ``end`` is the index just past the
        converted text, or ``(0.0, 0)`` when nothing could be converted.
    """
    pos = 0
    while pos < len(s) and s[pos] in _C_SPACE:
        pos += 1
    negative = False
    if pos < len(s) and s[pos] in "+-":
        negative = s[pos] == "-"
        pos += 1
    match = _HEX.match(s, pos)
    if match:
        try:
            value = float.fromhex(match.group())
        except OverflowError:  # strtod() returns HUGE_VAL on overflow
            value = math.inf
    else:
        match = _DECIMAL.match(s, pos)
        if match:
            # float() overflows to inf and underflows to 0 like strtod().
            value = float(match.group())
        else:
            match = _SPECIAL.match(s, pos)
            if not match:
                return 0.0, 0
            value = math.inf if match.group(1) else math.nan
    return (-value if negative else value), match.end()


def parse_fsd(s):
    """Parse a Flux Standard Duration into seconds.

    This is flux-core's C ``fsd_parse_duration()``: the number is read like
    ``strtod()``, so ``" 5"`` (leading whitespace), ``"+5"``, ``"1e3s"``,
    ``".5"``, ``"5."`` and hexadecimal ``"0x10"`` (16) are accepted;
    ``inf``/``infinity`` in any letter case are accepted only without a
    unit; negative values and NaN are rejected; the unit must follow the
    number immediately and be exactly ``ms``, ``s``, ``m``, ``h`` or ``d``
    (so ``"5 "``, ``"5S"``, ``"1h30m"`` and ``"2w"`` are invalid); ``"-0"``
    gives ``-0.0`` as in C.

    One deliberate difference from C: input where no number can be read at
    all (``""``, or a bare unit such as ``"s"``) is rejected, as the Python
    binding does, instead of being taken as 0.

    The Python binding ``flux.util.parse_fsd()`` differs, and this function
    does *not* follow it there: it reads the number with ``float()``, so it
    rejects hex (``0x10``), accepts whitespace anywhere float() allows it
    (``"5 "``, ``"5 s"``) and ``_`` digit separators (``1_000``); it
    accepts infinity only as the exact strings ``inf``, ``infinity``,
    ``INF`` and ``INFINITY`` (not ``Infinity``, ``+inf`` or an overflowing
    ``1e999``); and it converts units through ``timedelta``, which rounds
    to whole microseconds.

    :param s: the duration string.
    :returns: the duration in seconds (a float, possibly ``math.inf``).
    :raises FSDError: when ``s`` is not a valid FSD.
    :raises TypeError: when ``s`` is not a str.
    """
    if not isinstance(s, str):
        raise TypeError(f"FSD must be a str, not {type(s).__name__}")
    value, end = _strtod(s)
    if end == 0:
        raise FSDError(f"invalid Flux standard duration '{s}'")
    if math.isnan(value):
        raise FSDError(
            f"invalid Flux standard duration '{s}': not a number")
    if value < 0:
        raise FSDError(
            f"invalid Flux standard duration '{s}': must be non-negative")
    unit = s[end:]
    if unit:
        if math.isinf(value):
            raise FSDError(f"invalid Flux standard duration '{s}': "
                           "units are not allowed with infinity")
        multiplier = _UNITS.get(unit)
        if multiplier is None:
            raise FSDError(
                f"invalid Flux standard duration '{s}': bad unit '{unit}'")
        value *= multiplier
    return value


def format_fsd(seconds, precision=None):
    """Format seconds as an FSD, like C ``fsd_format_duration(_ex)``.

    The largest unit that keeps the number at or above 1 is chosen, and the
    number is printed with ``%g`` (``precision`` significant digits):
    infinity gives ``infinity``, 0 gives ``0s``, below 0.1s milliseconds
    (``10ms``), below a minute seconds (``5.1s``), then minutes
    (``1.03333m``), hours (``1.25h``) and days (``1.2d``).

    As in C, negative infinity is also printed ``infinity`` (the infinity
    test comes before the sign test), and ``-0.0`` prints ``-0s``.

    :param seconds: the duration (int or float).
    :param precision: significant digits; None (or negative, as C's
        ``%.*g`` treats it) means 6.
    :returns: the FSD string.
    :raises FSDError: when ``seconds`` is negative or NaN.
    """
    if precision is None or precision < 0:
        precision = 6
    seconds = float(seconds)
    if math.isinf(seconds):
        return "infinity"
    if math.isnan(seconds) or seconds < 0:
        raise FSDError(
            f"invalid duration {seconds!r}: must be a non-negative number")
    if seconds < 0.1 and seconds != 0:
        return "%.*gms" % (precision, seconds * 1000.)
    if seconds < 60.:
        return "%.*gs" % (precision, seconds)
    if seconds < 3600.:
        return "%.*gm" % (precision, seconds / 60.)
    if seconds < 86400.:
        return "%.*gh" % (precision, seconds / 3600.)
    return "%.*gd" % (precision, seconds / 86400.)


def fsd_brief(seconds):
    """Format seconds like the Python binding's ``flux.util.fsd()``.

    This is the form ``flux jobs`` prints for ``!F`` conversions: infinity
    is ``inf``; anything below 1ms (negative values included) is ``0s``;
    below 10 seconds three decimals (``6.593s``); otherwise four significant
    digits with the largest fitting unit (``12.5s``, ``1.033m``, ``2h``).

    :param seconds: the duration (int or float).
    :returns: the formatted string.
    """
    if math.isinf(seconds):
        return "inf"
    if seconds < 1.0e-3:
        return "0s"
    if seconds < 10.0:
        return "%.03fs" % seconds
    if seconds < 60.0:
        return "%.4gs" % seconds
    if seconds < 3600.0:
        return "%.4gm" % (seconds / 60.0)
    if seconds < 86400.0:
        return "%.4gh" % (seconds / 3600.0)
    return "%.4gd" % (seconds / 86400.0)
