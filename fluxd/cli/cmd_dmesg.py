# -*- test-case-name: tests.unit.cli.test_cmd_dmesg -*-
"""``flux dmesg [-C] [-c] [-f] [-n] [-H] [-d] [-L[WHEN]]``: the broker's
log ring buffer.

Each record prints as (spec/broker.md section 5)::

    2024-05-01T10:00:01.123456-07:00 broker.info[0]: quorum-full: quorum->run 0.1s

with the timestamp in local time (left as recorded, in UTC, when the
local zone is UTC).  ``-H`` prints human timestamps as the admin guide
shows: ``[May02 14:51]`` when the minute changes, else the offset in
seconds from that line ``[  +0.039371]`` (``-d``: from the previous
line).  ``-L`` colours the output (``always`` when given alone, ``never``,
``auto``: when stdout is a terminal).  ``-f`` keeps printing new records,
``-n`` skips the ones already there, ``-c`` clears the ring after
printing, ``-C`` only clears it.
"""

import datetime
import sys

from fluxd.cli._oneline import OneLineParser
from fluxd.client.sync import Flux
from fluxd.errors import InvalidArgument
from fluxd.logring import stdlog

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
           "Oct", "Nov", "Dec")

_RESET = "\033[0m"
COLORS = {
    "name": "\033[33m", "time": "\033[32m", "timebreak": "\033[1m\033[32m",
    0: "\033[7m\033[31m", 1: "\033[7m\033[31m", 2: "\033[1m\033[31m",
    3: "\033[31m", 4: "\033[1m", 7: "\033[34m",
}


class DmesgFormatter:
    """Formats records as ``flux dmesg`` does.

    :param human: ``-H`` timestamps.
    :param delta: ``-d``: offsets from the previous line (needs ``human``).
    :param color: emit ANSI colours.
    :param tz: tzinfo for local time (None: the system's).
    """

    def __init__(self, human=False, delta=False, color=False, tz=None):
        if delta and not human:
            raise InvalidArgument("--delta can only be used with --human")
        self.human = human
        self.delta = delta
        self.color = color
        self.tz = tz
        self._last_minute = None
        self._last_time = None

    def _paint(self, kind, text):
        code = COLORS.get(kind) if self.color else None
        return f"{code}{text}{_RESET}" if code else text

    def _iso(self, record):
        if record.timestamp is None:
            return record.raw_timestamp
        moment = datetime.datetime.fromtimestamp(record.timestamp, self.tz)
        moment = moment.astimezone(self.tz)
        offset = moment.utcoffset()
        if not offset:
            # flux leaves a UTC time as it was recorded ("...Z")
            return record.raw_timestamp
        sign = "-" if offset.total_seconds() < 0 else "+"
        minutes = int(abs(offset.total_seconds())) // 60
        return (moment.strftime("%Y-%m-%dT%H:%M:%S") +
                f".{moment.microsecond:06d}{sign}{minutes // 60:02d}:{minutes % 60:02d}")

    def _human(self, record):
        if record.timestamp is None:
            return self._paint("time", f"[{record.raw_timestamp}]")
        moment = datetime.datetime.fromtimestamp(record.timestamp, self.tz)
        minute = (moment.year, moment.month, moment.day, moment.hour,
                  moment.minute)
        if minute == self._last_minute:
            text = "[%+11.6f]" % (record.timestamp - self._last_time)
            if self.delta:
                self._last_time = record.timestamp
            return self._paint("time", text)
        self._last_minute = minute
        self._last_time = record.timestamp
        return self._paint("timebreak", f"[{_MONTHS[moment.month - 1]}"
                                        f"{moment.day:02d} {moment.hour:02d}:"
                                        f"{moment.minute:02d}]")

    def format(self, buf):
        """One output line for one record string (printed as is when it
        is not an RFC 5424 record)."""
        try:
            record = stdlog.decode(buf)
        except stdlog.StdlogError:
            return buf
        stamp = self._human(record) if self.human else \
            self._paint("time", self._iso(record))
        rank = record.rank if record.rank is not None else 0
        name = self._paint("name", f"{record.appname}.{record.severity_name}"
                                   f"[{rank}]")
        return f"{stamp} {name}: {self._paint(record.severity, record.message)}"


def color_wanted(when, isatty):
    """Decide ``-L``/``--color``: ``always``, ``never`` or ``auto``."""
    if when == "always":
        return True
    if when == "never":
        return False
    if when == "auto":
        return isatty
    raise InvalidArgument(f"Invalid argument to --color: '{when}'")


def main(argv):
    """``flux dmesg``."""
    parser = OneLineParser(prog="flux-dmesg",
                           description="Print or control log ring buffer")
    parser.add_argument("-C", "--clear", action="store_true",
                        help="Clear the ring buffer")
    parser.add_argument("-c", "--read-clear", action="store_true",
                        help="Clear the ring buffer contents after printing")
    parser.add_argument("-f", "--follow", action="store_true",
                        help="Track new entries as are logged")
    parser.add_argument("-n", "--new", action="store_true",
                        help="Show only new log messages")
    parser.add_argument("-H", "--human", action="store_true",
                        help="Human readable output")
    parser.add_argument("-d", "--delta", action="store_true",
                        help="With --human, show timestamp delta between"
                             " messages")
    parser.add_argument("-L", "--color", nargs="?", const="always",
                        default="auto", metavar="WHEN",
                        help="Colorize output when supported; WHEN can be"
                             " 'always' (default if omitted), 'never', or"
                             " 'auto' (default).")
    args, extra = parser.parse_known_args(argv)
    if extra:
        unknown = [a for a in extra if a.startswith("-")]
        if unknown:
            raise InvalidArgument(f"unrecognized option '{unknown[0]}'")
        raise InvalidArgument("flux-dmesg accepts no free arguments")
    formatter = DmesgFormatter(
        args.human, args.delta,
        color_wanted(args.color, sys.stdout.isatty()))
    with Flux() as h:
        if not args.clear:
            for reply in h.stream("log.dmesg", {"follow": args.follow,
                                                "nobacklog": args.new}):
                sys.stdout.write(formatter.format(reply["buf"]) + "\n")
                sys.stdout.flush()
        if args.clear or args.read_clear:
            h.rpc("log.clear")
    return 0
