# -*- test-case-name: tests.unit.logring.test_stdlog -*-
"""RFC 5424 log records as Flux carries them ("stdlog").

Flux's broker log (``flux dmesg``, ``flux logger``, the ``log.*`` services)
moves each record as one RFC 5424 syslog string::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG

where PRI is ``facility * 8 + severity``, TIMESTAMP is UTC ISO 8601 with
microseconds (``2024-05-02T21:51:03.123456Z``) and HOSTNAME carries the
broker *rank* (flux-core's ``stdlog.c``).  Severities are the syslog levels
0 (emerg) to 7 (debug).

This module is pure (stdlib only): the ``flux`` commands import it.
"""

import datetime
import time
from dataclasses import dataclass

from fluxd.errors import InvalidArgument

__all__ = [
    "SEVERITIES", "LOG_USER", "StdlogError", "Record", "severity_from_name",
    "severity_name", "format_timestamp", "parse_timestamp", "encode",
    "decode", "journal_line", "leader_line",
]

#: syslog severity names, indexed by level (``stdlog_severity_to_string``)
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info",
              "debug")
#: the syslog "user" facility, which flux stamps on every record
LOG_USER = 1
#: the RFC 5424 NILVALUE
NIL = "-"

# Field limits of flux-core's stdlog.h (longer values are refused rather
# than truncated: a record must round-trip).
_MAX = {"hostname": 255, "appname": 48, "procid": 128, "msgid": 32}


class StdlogError(InvalidArgument):
    """invalid RFC 5424 log record"""


@dataclass(frozen=True)
class Record:
    """One decoded log record.

    :ivar severity: 0 (emerg) .. 7 (debug).
    :ivar rank: the broker rank from the HOSTNAME field, or None when that
        field is not a number.
    :ivar timestamp: seconds since the epoch, or None when the TIMESTAMP
        field is NIL or unparsable (``raw_timestamp`` keeps the text).
    """

    facility: int
    severity: int
    timestamp: float | None
    raw_timestamp: str
    hostname: str
    appname: str
    procid: str
    msgid: str
    structured_data: str
    message: str

    @property
    def rank(self):
        """The rank in HOSTNAME, or None when it is not a number."""
        return int(self.hostname) if self.hostname.isdigit() else None

    @property
    def severity_name(self):
        """``emerg`` .. ``debug``."""
        return severity_name(self.severity)


def severity_from_name(name):
    """Map ``emerg``..``debug`` (any case) to 0..7.

    :raises StdlogError: for any other name.
    """
    try:
        return SEVERITIES.index(str(name).lower())
    except ValueError:
        raise StdlogError(f"invalid severity: {name}") from None


def severity_name(severity):
    """The name of a severity level, or ``-`` outside 0..7 (as flux)."""
    if isinstance(severity, int) and 0 <= severity < len(SEVERITIES):
        return SEVERITIES[severity]
    return NIL


def format_timestamp(seconds):
    """RFC 5424 UTC timestamp with microseconds, e.g.
    ``2024-05-02T21:51:03.123456Z``."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text):
    """Seconds since the epoch of an RFC 5424 timestamp, or None.

    Accepts ``Z`` or a numeric offset and zero to six fraction digits.
    """
    if not text or text == NIL:
        return None
    value = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


def _field(name, value):
    value = NIL if value is None or value == "" else str(value)
    if " " in value or len(value) > _MAX.get(name, 255):
        raise StdlogError(f"log record {name} {value!r} must be one word of at"
                          f" most {_MAX.get(name, 255)} characters")
    return value


def encode(severity, appname, rank, message, timestamp=None, procid=None,
           msgid=None, facility=LOG_USER):
    """Build one record string.

    :param severity: 0..7.
    :param appname: the logging component (``broker``, ``kvs``...).
    :param rank: the broker rank (goes in HOSTNAME).
    :param message: the text; trailing newlines are dropped as in flux.
    :param timestamp: seconds since the epoch (default: now).
    :returns: the record as a str.
    :raises StdlogError: for a bad severity or a field with spaces.
    """
    if not isinstance(severity, int) or not 0 <= severity <= 7:
        raise StdlogError(f"invalid severity: {severity}")
    if timestamp is None:
        timestamp = time.time()
    pri = facility * 8 + severity
    header = " ".join([
        f"<{pri}>1", format_timestamp(timestamp), _field("hostname", rank),
        _field("appname", appname), _field("procid", procid),
        _field("msgid", msgid), NIL])
    return f"{header} {str(message).rstrip(chr(13) + chr(10))}"


def _next_word(buf, pos, what):
    end = buf.find(" ", pos)
    if end < 0 or end == pos:
        raise StdlogError(f"log record has no {what}: {buf[:60]!r}")
    return buf[pos:end], end + 1


def _structured_data(buf, pos):
    # SD is NIL or one or more [..] elements; brackets may nest in values.
    depth = 0
    end = pos
    while end < len(buf):
        char = buf[end]
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == " " and depth == 0:
            return buf[pos:end], end + 1
        end += 1
    raise StdlogError(f"log record has no message: {buf[:60]!r}")


def decode(buf):
    """Parse one record string (str or UTF-8 bytes).

    :returns: a :class:`Record`.
    :raises StdlogError: when ``buf`` is not an RFC 5424 record.
    """
    if isinstance(buf, (bytes, bytearray)):
        buf = bytes(buf).decode("utf-8", "replace")
    buf = buf.rstrip("\0")
    if not buf.startswith("<") or ">" not in buf[:5]:
        raise StdlogError(f"log record has no <PRI>: {buf[:60]!r}")
    close = buf.index(">")
    pri_text = buf[1:close]
    if not pri_text.isdigit() or int(pri_text) > 191:
        raise StdlogError(f"log record has a bad PRI: {buf[:60]!r}")
    pri = int(pri_text)
    version, pos = _next_word(buf, close + 1, "version")
    if not version.isdigit():
        raise StdlogError(f"log record has a bad version: {buf[:60]!r}")
    stamp, pos = _next_word(buf, pos, "timestamp")
    hostname, pos = _next_word(buf, pos, "hostname")
    appname, pos = _next_word(buf, pos, "app-name")
    procid, pos = _next_word(buf, pos, "procid")
    msgid, pos = _next_word(buf, pos, "msgid")
    sd, pos = _structured_data(buf, pos)
    return Record(facility=pri // 8, severity=pri % 8,
                  timestamp=parse_timestamp(stamp), raw_timestamp=stamp,
                  hostname=hostname, appname=appname, procid=procid,
                  msgid=msgid, structured_data=sd, message=buf[pos:])


def journal_line(record):
    """``appname.severity[rank]: message``: what the broker writes to
    stderr in ``log-stderr-mode=local`` (the journal adds the time)."""
    rank = record.rank if record.rank is not None else 0
    return (f"{record.appname}.{record.severity_name}[{rank}]: "
            f"{record.message}")


def leader_line(record, tz=None):
    """:func:`journal_line` after a local timestamp, as flux writes stderr
    in ``leader`` mode and the ``log-filename`` file:
    ``May 02 14:51:03.123456 PDT 2024 broker.info[0]: ...``."""
    if record.timestamp is None:
        return f"{record.raw_timestamp} {journal_line(record)}"
    moment = datetime.datetime.fromtimestamp(record.timestamp, tz) \
        .astimezone(tz)
    prefix = moment.strftime("%b %d %H:%M:%S") + f".{moment.microsecond:06d}"
    prefix += f" {moment.strftime('%Z')} {moment.year}"
    return f"{prefix} {journal_line(record)}"
