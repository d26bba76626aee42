# -*- test-case-name: tests.unit.cli.test_formatting -*-
"""Rendering of one ``{field!conv:spec}`` of the output format mini-language.

This is the field-level half of :mod:`fluxd.cli.formatting` (spec/cli.md
section 0), the behaviour of flux-core's ``flux.util.UtilFormatter``:

* fields are looked up on an object by attribute *or* mapping item, with
  dotted paths (``{id.f58}``, ``{annotations.sched.t_estimate}``);
* conversions beyond ``!s``/``!r``/``!a``: ``!d`` (epoch -> datetime, whose
  spec is ``STRFTIME::PYSPEC``), ``!D`` (ISO 8601, epoch -> empty), ``!F``
  (Flux Standard Duration, RFC 23, as the Python bindings print it), ``!H``
  (``H:MM:SS``) and ``!P`` (fraction -> percentage);
* spec suffixes: ``h`` renders an "empty" value (see :func:`empty_outputs`)
  as ``-``; ``W`` widens/narrows the field by the display width of wide
  (East Asian, emoji) characters; a trailing ``+`` replaces the last kept
  character with ``+`` when the value was truncated by the precision.

Pure Python: no Twisted.
"""

import _string
import datetime
import re
import string
import unicodedata
from collections.abc import Mapping

from fluxd.errors import InvalidArgument
from fluxd.formats.fsd import fsd_brief

__all__ = ["FieldFormatter", "FormatSpec", "UtilDatetime", "empty_outputs",
           "display_width", "lookup_field"]

# strftime() spellings used instead of %F/%T so the result does not depend
# on the C library's extensions.
_ISO = "%Y-%m-%dT%H:%M:%S"


def empty_outputs():
    """The renderings the ``h`` suffix and the ``?:`` sentinel treat as
    empty: ``""``, ``0s``, ``0.0``, ``0:00:00`` and the epoch (UTC and
    local), as flux's ``empty_outputs()``.

    :returns: a tuple of strings.
    """
    local_epoch = datetime.datetime.fromtimestamp(0.0).strftime(_ISO)
    return ("", "0s", "0.0", "0:00:00", "1970-01-01T00:00:00", local_epoch)


def display_width(text):
    """Terminal columns taken by ``text``: wide and full-width characters
    count 2, combining marks and zero-width characters 0 (what flux's
    ``wcswidth()`` reports for printable text).

    :param text: a str.
    :returns: an int.
    """
    width = 0
    for char in text:
        if unicodedata.combining(char) or char in "\u200b\u200d\ufe0f":
            continue
        width += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return width


def lookup_field(obj, name):
    """One step of a dotted field path: ``obj[name]`` for a mapping that
    holds ``name``, else ``getattr(obj, name)``.

    :raises KeyError: when neither exists.
    """
    if isinstance(obj, Mapping) and name in obj:
        return obj[name]
    try:
        return getattr(obj, name)
    except AttributeError:
        raise KeyError(name) from None


class UtilDatetime(datetime.datetime):
    """A datetime whose format spec is ``STRFTIME::PYSPEC``.

    The part before ``::`` goes to ``strftime()`` (default ISO 8601), the
    part after is an ordinary Python spec applied to the resulting string,
    so ``{t!d:%b%d %R::<12}`` gives ``Dec16 09:00 `` padded to 12 columns.
    The epoch renders as the empty string (``-`` with an ``h`` suffix).
    """

    def __format__(self, fmt):
        timefmt, _, spec = fmt.partition("::")
        if self == datetime.datetime.fromtimestamp(0.0):
            result = ""
        else:
            result = self.strftime(timefmt or _ISO)
        # The h suffix has to be handled here: this method runs after
        # FieldFormatter.format_field() has passed the spec through.
        if spec.endswith("h"):
            result = result or "-"
            spec = spec[:-1] + "s"
        return format(result, spec) if spec else result


def _epoch():
    return UtilDatetime.fromtimestamp(0.0)


def _empty_or_raise(value, exc):
    """A conversion of "" (or None) yields ""; anything else re-raises."""
    if value is None or str(value) == "":
        return ""
    raise exc


class FieldFormatter(string.Formatter):
    """:class:`string.Formatter` with flux's field lookup, conversions and
    spec suffixes (see the module docstring).

    Errors in a field (unknown conversion, spec that does not fit the
    value) raise :class:`~fluxd.errors.InvalidArgument` naming the field.
    """

    def get_field(self, field_name, args, kwargs):
        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            obj = lookup_field(obj, key) if is_attr else obj[key]
        return obj, first

    def convert_field(self, value, conversion):
        try:
            return self._convert(value, conversion)
        except (TypeError, ValueError, OverflowError, OSError) as exc:
            raise InvalidArgument(f"cannot convert {value!r} with"
                                  f" !{conversion}: {exc}") from None

    def _convert(self, value, conv):
        if conv == "d":
            try:
                return UtilDatetime.fromtimestamp(value)
            except TypeError as exc:
                if _empty_or_raise(value, exc) == "":
                    return _epoch()
        elif conv == "D":
            if not value:
                return ""
            try:
                return datetime.datetime.fromtimestamp(value).strftime(_ISO)
            except TypeError as exc:
                return _empty_or_raise(value, exc)
        elif conv == "F":
            try:
                return fsd_brief(value)
            except TypeError as exc:
                return _empty_or_raise(value, exc)
        elif conv == "H":
            try:
                # A running time below one second still shows as 0:00:01.
                if 0 < value < 1:
                    value = 1
                return str(datetime.timedelta(seconds=round(value)))
            except TypeError as exc:
                return _empty_or_raise(value, exc)
        elif conv == "P":
            try:
                percent = value * 100
                if 0 < percent < 1:
                    return f"{percent:.2f}%"
                return f"{percent:.3g}%"
            except (TypeError, ValueError) as exc:
                return _empty_or_raise(value, exc)
        return super().convert_field(value, conv)

    def format_field(self, value, spec):
        truncation_mark = spec.endswith("+")
        if truncation_mark:
            spec = spec[:-1]
        # A datetime applies the h suffix itself, after strftime().
        if spec.endswith("h") and not isinstance(value, UtilDatetime):
            value = "-" if str(value) in empty_outputs() else str(value)
            spec = spec[:-1] + "s"
        if spec.endswith("W"):
            spec = self._wide_spec(value, spec)
        try:
            result = super().format_field(value, spec)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"invalid format spec '{spec}' for value"
                                  f" {value!r}: {exc}") from None
        if truncation_mark and len(result) < len(str(value)):
            result = result[:-1] + "+"
        return result

    @staticmethod
    def _wide_spec(value, spec):
        """``<12W``: shrink the width by the extra columns wide characters
        take, so the rendering still fills 12 terminal columns."""
        head = spec[:-1]
        if isinstance(value, str) and head[:1] in "<>" and head[1:].isdigit():
            width = int(head[1:])
            extra = display_width(value) - len(value)
            if 0 < extra < width:
                width -= extra
            return f"{head[0]}{width}s"
        return head + "s" if isinstance(value, str) else head


# Python's format-spec grammar plus flux's h (hyphen), W (wide) and +
# (truncation mark) suffixes.
_SPEC = re.compile(
    r"(?:(?P<fill>[\s\S])?(?P<align>[<>=^]))?(?P<sign>[- +])?(?P<z>z)?"
    r"(?P<alt>#)?(?P<zero>0)?(?P<width>\d+)?(?P<grouping>[_,])?"
    r"(?:\.(?P<precision>\d+))?(?P<type>[bcdeEfFgGnosxX%])?"
    r"(?P<hyphen>h)?(?P<wide>W)?(?P<truncate>\+)?")


class FormatSpec:
    """A field's format spec split into its parts, so the width can be
    changed and the spec rebuilt.  A datetime spec ``STRFTIME::SPEC`` keeps
    its ``STRFTIME::`` part in :attr:`prefix`.

    :param spec: the spec text after ``:`` (may be empty).
    """

    def __init__(self, spec):
        self.prefix = ""
        if "::" in spec:
            cut = spec.find("::") + 2
            self.prefix, spec = spec[:cut], spec[cut:]
        match = _SPEC.fullmatch(spec)
        parts = match.groupdict() if match else {}
        self._parts = {k: v or "" for k, v in parts.items()}
        for name in _SPEC.groupindex:
            self._parts.setdefault(name, "")

    @property
    def align(self):
        """``<``, ``>``, ``=``, ``^`` or ``""``."""
        return self._parts["align"]

    @property
    def width(self):
        """The minimum width as an int, or 0 when the spec has none."""
        return int(self._parts["width"] or 0)

    @width.setter
    def width(self, value):
        self._parts["width"] = str(value)
        # A string field keeps showing everything it has room for.
        if (self._parts["type"] in ("", "s") and self.precision
                and self.precision < value):
            self._parts["precision"] = str(value)

    @property
    def precision(self):
        """The precision as an int, or 0 when the spec has none."""
        return int(self._parts["precision"] or 0)

    def __str__(self):
        p = self._parts
        precision = "." + p["precision"] if p["precision"] else ""
        return (self.prefix + p["fill"] + p["align"] + p["sign"] + p["z"]
                + p["alt"] + p["zero"] + p["width"] + p["grouping"]
                + precision + p["type"] + p["hyphen"] + p["wide"]
                + p["truncate"])
