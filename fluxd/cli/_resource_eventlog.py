# -*- test-case-name: tests.unit.cli.test_cmd_resource_live -*-
"""``flux resource eventlog``: show the resource journal (RFC 44 events).

The events come from rank 0's ``resource.journal`` streaming RPC: first
the kept events of earlier runs and this run's events, then an empty
response marking the end of that backlog, then new events as they are
posted.  Without ``-F`` (follow) or ``-w EVENT`` the command stops at the
end of the backlog; with ``-w`` it stops once an EVENT whose context
matches every ``-m KEY=VALUE`` has been shown; ``-t FSD`` bounds the wait.
``-i TARGETS`` keeps only events naming one of the target ranks (in their
``idset`` or ``ranks`` context key).

Entries print as ``flux kvs eventlog get`` prints them
(:class:`fluxd.formats.eventlog.EventlogFormatter`): text with raw, ISO,
offset or human times, or compact JSON with ``-f json``.
"""

import json
import math

from fluxd.cli._alarm import Alarm
from fluxd.errors import FluxError, InvalidArgument
from fluxd.formats.eventlog import EventlogFormatter
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset

__all__ = ["add_eventlog_parser", "run_eventlog", "parse_matches",
           "event_matches", "event_ranks", "resolve_include"]


def add_eventlog_parser(sub):
    """Add the ``eventlog`` subcommand to the ``flux resource`` parser."""
    p = sub.add_parser("eventlog", help="Show the resource eventlog")
    p.add_argument("-f", "--format", default="text", choices=["text", "json"],
                   metavar="FORMAT",
                   help="Specify output format: text, json")
    p.add_argument("-T", "--time-format", default="raw", metavar="FORMAT",
                   choices=["raw", "iso", "offset", "human", "reltime"],
                   help="Specify time format: raw, iso, offset, human")
    p.add_argument("-H", "--human", action="store_true",
                   help="Display human-readable output")
    p.add_argument("-L", "--color", metavar="WHEN", nargs="?",
                   const="always", default="auto",
                   choices=["never", "always", "auto"],
                   help="Use color; WHEN can be 'never', 'always', or"
                   " 'auto' (default)")
    p.add_argument("-F", "--follow", action="store_true",
                   help="Display new events as they are posted")
    p.add_argument("-w", "--wait", metavar="EVENT",
                   help="Display events until EVENT is posted")
    p.add_argument("-m", "--match-context", metavar="KEY=VALUE",
                   action="append", default=[],
                   help="With --wait, wait for an EVENT whose context has"
                   " KEY=VALUE (may be repeated)")
    p.add_argument("-t", "--timeout", metavar="FSD",
                   help="Give up waiting after FSD")
    p.add_argument("-i", "--include", metavar="TARGETS",
                   help="Show only events naming these targets (IDSET or"
                   " HOSTLIST)")
    p.set_defaults(func="eventlog")
    return p


def parse_matches(items):
    """``-m KEY=VALUE`` options -> ``{key: value}``; VALUE is JSON when it
    parses as JSON, else a string.

    :raises InvalidArgument: ``--match-context: 'x' is not KEY=VALUE``,
        ``--match-context: empty key in '=x'``.
    """
    matches = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"--match-context: '{item}' is not"
                                  " KEY=VALUE")
        if not key:
            raise InvalidArgument(f"--match-context: empty key in '{item}'")
        try:
            matches[key] = json.loads(value)
        except ValueError:
            matches[key] = value
    return matches


def _same(want, have):
    if isinstance(want, (int, float)) and isinstance(have, (int, float)) \
            and not isinstance(want, bool) and not isinstance(have, bool):
        # timestamps and expirations are floats: compare with a tolerance
        return math.isclose(want, have, rel_tol=0, abs_tol=1e-5)
    return want == have


def event_matches(entry, name, matches):
    """True when ``entry`` is event ``name`` with every ``matches`` pair in
    its context."""
    if entry.get("name") != name:
        return False
    context = entry.get("context") or {}
    return all(key in context and _same(value, context[key])
               for key, value in matches.items())


def event_ranks(entry):
    """The ranks an event names (``idset`` or ``ranks``), or None."""
    context = entry.get("context") or {}
    text = context.get("idset", context.get("ranks"))
    if not isinstance(text, str):
        return None
    try:
        return IDset(text)
    except InvalidArgument:
        return None


def resolve_include(targets, hostlist):
    """``-i TARGETS`` -> ranks of the instance.

    :param hostlist: the instance hostnames in rank order.
    :raises InvalidArgument: for ranks beyond the instance or unknown
        hosts.
    """
    try:
        ids = IDset(targets)
    except InvalidArgument:
        try:
            hosts = Hostlist(targets)
        except InvalidArgument:
            raise InvalidArgument(f"--include: invalid targets '{targets}'") \
                from None
        missing = [h for h in hosts if h not in hostlist]
        if missing:
            raise InvalidArgument("--include: invalid hosts:"
                                  f" {Hostlist(missing).encode()}")
        wanted = set(hosts)
        return IDset(r for r, h in enumerate(hostlist) if h in wanted)
    if ids and ids.last() >= len(hostlist):
        raise InvalidArgument(f"--include: rank {ids.last()} is not in this"
                              " instance")
    return ids


def run_eventlog(args, source, stdout):
    """Print the journal as ``args`` asks.

    :param source: a :class:`fluxd.cli._resource_source.LiveSource`.
    :param stdout: the text stream to print to.
    :returns: the exit code.
    :raises InvalidArgument: for bad options.
    :raises TimedOut: when ``-t`` expires first.
    :raises FluxError: when the journal ends before ``-w EVENT``.
    """
    from fluxd.formats.fsd import parse_fsd
    matches = parse_matches(args.match_context)
    timeout = None
    if args.timeout is not None:
        try:
            timeout = parse_fsd(args.timeout)
        except InvalidArgument:
            raise InvalidArgument(f"--timeout: invalid duration"
                                  f" '{args.timeout}'") from None
    time_format, entry_format = args.time_format, args.format
    if args.human:
        time_format, entry_format = "human", "text"
    color = args.color == "always" or (args.color == "auto"
                                       and stdout.isatty())
    formatter = EventlogFormatter(time_format, entry_format, color=color)
    include = None
    if args.include:
        include = resolve_include(args.include, source.hostlist())
    message = f"timeout waiting for {args.wait} event" if args.wait \
        else "timeout"
    with Alarm(timeout, message):
        for response in source.journal():
            events = (response or {}).get("events") or []
            if not events and not (args.follow or args.wait):
                return 0  # the end of the backlog
            for entry in events:
                if include is not None:
                    ranks = event_ranks(entry)
                    if ranks is None or not ranks & include:
                        continue
                stdout.write(formatter.format(entry) + "\n")
                stdout.flush()
                if args.wait and event_matches(entry, args.wait, matches):
                    return 0
    if args.wait:
        raise FluxError(f"resource eventlog ended before the {args.wait}"
                        " event")
    return 0
