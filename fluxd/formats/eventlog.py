# -*- test-case-name: tests.unit.formats.test_eventlog -*-
"""RFC 18 eventlogs: append-only logs of JSON events, one per line.

Each entry is a JSON object on one line ending in ``\\n`` with a numeric
``timestamp`` (seconds since the epoch), a string ``name`` and, optionally,
an object ``context``; other keys are allowed and kept.  The job manager,
the exec system and the resource module keep their histories this way::

    {"timestamp":1552593348.073045,"name":"submit","context":{"userid":5588}}

Decoding follows flux-core's libeventlog rather than the RFC's prose:
the empty string is an empty log, any other text needs at least one
newline, an empty line is an error, and text after the last newline (a
partially written entry) is ignored.  Encoding writes compact JSON with
keys in the order ``timestamp``, ``name``, ``context``.

:class:`EventlogFormatter` renders entries as the text ``flux job
eventlog`` and ``flux kvs eventlog get`` print: ``<time> <name>
key=<json> ...`` with raw, ISO 8601, offset or "human" times.
"""

import json
import math
import time

from fluxd.errors import InvalidArgument
from fluxd.formats.jsonenc import compact

__all__ = [
    "EventlogError", "encode_entry", "decode_entry", "decode", "encode",
    "validate_entry", "contains_event", "format_entry", "EventlogFormatter",
    "TIME_FORMATS",
]

#: Timestamp styles of the text form (``reltime`` is an alias of ``human``).
TIME_FORMATS = ("raw", "iso", "offset", "human")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# The escape sequences flux's formatters use.
_RESET = "\033[0m"
_COLORS = {
    "name": "\033[33m",
    "time": "\033[32m",
    "timebreak": "\033[1m\033[32m",
    "key": "\033[34m",
    "value": "\033[35m",
    "number": "\033[37m",
    "exception": "\033[1m\033[31m",
}


class EventlogError(InvalidArgument):
    """Invalid eventlog"""


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _brief(text, limit=60):
    """A quoted, shortened copy of bad input for one-line error messages."""
    text = repr(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def validate_entry(obj):
    """Check that ``obj`` is a valid RFC 18 entry.

    :param obj: a decoded entry.
    :raises EventlogError: unless ``obj`` is a dict with a string ``name``,
        a numeric ``timestamp`` and, if present, an object ``context``.
    """
    if not isinstance(obj, dict):
        raise EventlogError(f"eventlog entry {_brief(obj)} is not a JSON object")
    if not isinstance(obj.get("name"), str):
        raise EventlogError(f"eventlog entry {_brief(obj)} has no string 'name'")
    if not _is_number(obj.get("timestamp")):
        raise EventlogError(f"eventlog entry {_brief(obj)} has no numeric 'timestamp'")
    if "context" in obj and not isinstance(obj["context"], dict):
        raise EventlogError(f"eventlog entry {_brief(obj)}: 'context' is not an object")


# jansson writes UTF-8 as is and refuses NaN/Infinity: do the same.
_dumps = compact(ensure_ascii=False, allow_nan=False)


def encode_entry(name, context=None, timestamp=None):
    """Build one eventlog line.

    :param name: the event name, a non-empty string.
    :param context: an optional dict of event data.
    :param timestamp: seconds since the epoch; None or 0 mean "now"
        (:func:`time.time`), as in flux-core.
    :returns: compact JSON ending in ``\\n``.
    :raises EventlogError: for an empty name, a negative or non-finite
        timestamp, or a context that is not a JSON-serialisable dict.
    """
    if not isinstance(name, str) or not name:
        raise EventlogError(f"eventlog entry name {_brief(name)} must be a non-empty string")
    if context is not None and not isinstance(context, dict):
        raise EventlogError(f"eventlog context {_brief(context)} is not an object")
    if timestamp is None or (_is_number(timestamp) and timestamp == 0):
        timestamp = time.time()
    if not _is_number(timestamp) or not math.isfinite(timestamp) or timestamp < 0:
        raise EventlogError(f"eventlog timestamp {_brief(timestamp)} must be a"
                            " finite number >= 0")
    entry = {"timestamp": float(timestamp), "name": name}
    if context is not None:
        entry["context"] = context
    try:
        return _dumps(entry) + "\n"
    except (TypeError, ValueError) as exc:
        raise EventlogError(f"eventlog context for {name!r} is not valid JSON: {exc}") from None


def _reject_constant(token):
    raise ValueError(f"{token} is not valid JSON")


def _loads(line):
    try:
        obj = json.loads(line, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise EventlogError(f"eventlog entry {_brief(line)} is not valid JSON: "
                            f"{getattr(exc, 'msg', exc)}") from None
    validate_entry(obj)
    return obj


def decode_entry(line):
    """Decode one eventlog entry.

    :param line: exactly one line of JSON ending in a single ``\\n``.
    :returns: the entry as a dict (extra keys kept).
    :raises EventlogError: for missing/extra newlines, bad JSON or an
        entry failing :func:`validate_entry`.
    """
    if isinstance(line, (bytes, bytearray)):
        line = _text(line)
    if not isinstance(line, str) or not line:
        raise EventlogError(f"eventlog entry {_brief(line)} is empty or not text")
    if not line.endswith("\n") or line.index("\n") != len(line) - 1:
        raise EventlogError(f"eventlog entry {_brief(line)} must be one line"
                            " ending in a newline")
    return _loads(line[:-1])


def _text(data):
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventlogError(f"eventlog is not valid UTF-8: {exc}") from None


def decode(text):
    """Decode a whole eventlog.

    :param text: the eventlog (str, or UTF-8 bytes).
    :returns: a list of entry dicts, in order.  ``""`` gives ``[]``; any
        text after the last newline is ignored.
    :raises EventlogError: if non-empty text has no newline, a line is
        empty, or a line is not a valid entry.
    """
    if isinstance(text, (bytes, bytearray)):
        text = _text(text)
    if not isinstance(text, str):
        raise EventlogError(f"eventlog {_brief(text)} is not text")
    if not text:
        return []
    if "\n" not in text:
        raise EventlogError(f"eventlog {_brief(text)} has no complete line")
    lines = text.split("\n")[:-1]
    entries = []
    for number, line in enumerate(lines, 1):
        if not line:
            raise EventlogError(f"eventlog line {number} is empty")
        try:
            entries.append(_loads(line))
        except EventlogError as exc:
            raise EventlogError(f"eventlog line {number}: {exc}") from None
    return entries


def encode(entries):
    """Encode a list of entries as an eventlog.

    :param entries: entry dicts, each passing :func:`validate_entry`.
    :returns: one compact JSON line per entry; ``""`` for no entries.
    :raises EventlogError: if an entry is invalid or not serialisable.
    """
    lines = []
    for entry in entries:
        validate_entry(entry)
        try:
            lines.append(_dumps(entry) + "\n")
        except (TypeError, ValueError) as exc:
            raise EventlogError(f"eventlog entry {_brief(entry)} is not valid JSON:"
                                f" {exc}") from None
    return "".join(lines)


def contains_event(text, name):
    """Whether an eventlog holds an event called ``name``.

    :raises EventlogError: if ``text`` does not decode.
    """
    return any(entry["name"] == name for entry in decode(text))


class EventlogFormatter:
    """Render entries as text, keeping the state relative times need.

    :param time_format: ``raw`` (``%lf`` seconds, the default), ``iso``
        (local ISO 8601 with microseconds and ``Z`` or ``+HH:MM``),
        ``offset`` (seconds since the first entry formatted) or ``human``
        (``[MonDD HH:MM]`` when the minute changes, then
        ``[   +S.ffffff]`` seconds since that line); case-insensitive,
        ``reltime`` means ``human``.
    :param entry_format: ``text`` or ``json`` (the entry as compact JSON).
    :param color: True/``always`` for ANSI colours, False/``never`` for
        none, ``auto`` for colour when standard output is a terminal.
    :param tz: the :class:`datetime.tzinfo` for ``iso`` and ``human``
        times; None means the local time zone.
    :raises EventlogError: for an unknown format or colour choice.
    """

    def __init__(self, time_format="raw", entry_format="text", color=False, tz=None):
        fmt = time_format.lower() if isinstance(time_format, str) else time_format
        if fmt == "reltime":
            fmt = "human"
        if fmt not in TIME_FORMATS:
            raise EventlogError(f"invalid timestamp format {time_format!r}")
        efmt = entry_format.lower() if isinstance(entry_format, str) else entry_format
        if efmt not in ("text", "json"):
            raise EventlogError(f"invalid eventlog format {entry_format!r}")
        if color in ("always", True):
            color = True
        elif color in ("never", False, None):
            color = False
        elif color == "auto":
            import sys
            color = sys.stdout.isatty()
        else:
            raise EventlogError(f"invalid color choice {color!r}")
        self.time_format = fmt
        self.entry_format = efmt
        self.color = color
        self.tz = tz
        self.reset()

    def reset(self):
        """Forget the first/previous timestamps (start a new log)."""
        self.t0 = None
        self._last_minute = None
        self._last_ts = 0.0

    def _paint(self, kind, text):
        if not self.color:
            return text
        return _COLORS[kind] + text + _RESET

    def _datetime(self, seconds):
        from datetime import datetime   # only to format: not at import
        return datetime.fromtimestamp(seconds, self.tz) if self.tz is not None \
            else datetime.fromtimestamp(seconds).astimezone()

    def _human(self, ts):
        if ts < 0:
            # localtime() cannot place it: flux prints the raw value.
            return self._paint("time", f"[{ts:+11.6f}]")
        # Like C, break the time down from whole seconds.
        dt = self._datetime(int(ts))
        minute = (dt.year, dt.month, dt.day, dt.hour, dt.minute)
        if minute == self._last_minute:
            return self._paint("time", f"[{ts - self._last_ts:+11.6f}]")
        self._last_minute = minute
        self._last_ts = ts
        return self._paint("timebreak",
                           f"[{_MONTHS[dt.month - 1]}{dt.day:02d}"
                           f" {dt.hour:02d}:{dt.minute:02d}]")

    def _iso(self, ts):
        sec = int(ts)
        # Microseconds are truncated, not rounded, as flux-core does.
        usec = int((ts - sec) * 1e6)
        dt = self._datetime(sec)
        tz = dt.strftime("%z")
        if tz == "+0000":
            tz = "Z"
        elif len(tz) == 5 and tz[0] in "+-":
            tz = tz[:3] + ":" + tz[3:]
        return self._paint("time", f"{dt.strftime('%Y-%m-%dT%H:%M:%S')}.{usec:06d}{tz}")

    def _timestamp(self, ts):
        if self.time_format == "raw":
            return self._paint("time", f"{ts:f}")
        if self.time_format == "human":
            return self._human(ts)
        if self.time_format == "iso":
            return self._iso(ts)
        if self.t0 is None:
            self.t0 = ts
        return self._paint("time", f"{ts - self.t0:f}")

    def format(self, entry):
        """Render one entry (without a trailing newline).

        :param entry: a dict passing :func:`validate_entry`, or one line of
            an eventlog (str, with or without its newline).
        :returns: the text (or compact JSON) form.
        :raises EventlogError: if the entry is invalid.
        """
        if isinstance(entry, str):
            entry = decode_entry(entry if entry.endswith("\n") else entry + "\n")
        validate_entry(entry)
        if self.entry_format == "json":
            return _dumps(entry)
        ts = float(entry["timestamp"])
        name = entry["name"]
        parts = [self._timestamp(ts), " ",
                 self._paint("exception" if name == "exception" else "name", name)]
        for key, value in (entry.get("context") or {}).items():
            kind = "number" if _is_number(value) else "value"
            parts.append(f" {self._paint('key', key)}={self._paint(kind, _dumps(value))}")
        return "".join(parts)


def format_entry(entry, time_format="raw", first_ts=None, *, entry_format="text",
                 color=False, tz=None):
    """Render a single entry as text, without formatter state.

    :param entry: as for :meth:`EventlogFormatter.format`.
    :param time_format: as for :class:`EventlogFormatter`.
    :param first_ts: for ``offset``, the timestamp that counts as 0 (the
        log's first entry; default: this entry's own); for ``human``, the
        time of the last minute header (default: print a header).
    :param entry_format: ``text`` or ``json``.
    :param color: as for :class:`EventlogFormatter`.
    :param tz: as for :class:`EventlogFormatter`.
    :returns: the rendered line, without newline.
    """
    evf = EventlogFormatter(time_format, entry_format=entry_format, color=color, tz=tz)
    if first_ts is not None:
        evf.t0 = float(first_ts)
        if evf.time_format == "human" and first_ts >= 0:
            evf._human(float(first_ts))
    return evf.format(entry)
