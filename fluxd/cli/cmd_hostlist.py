# -*- test-case-name: tests.unit.cli.test_cmd_hostlist -*-
"""``flux hostlist``: combine, filter and print RFC 29 hostlists.

Options, their order of application and the output follow flux-core's
``flux-hostlist``: the SOURCES are resolved to hostlists, combined (append
by default, or ``-i``/``-X``/``-m``), then ``-x``, ``-S``, ``-u``, ``-L``
and ``-n`` apply in that order, and one of ``-F``/``-c``/``-e`` or the
compressed list is printed.

Sources that need a running instance (``instance``, ``local``, ``avail``
and job IDs) are refused with a one-line error; ``--fallback`` turns an
argument that parses as a job ID into a host name, as flux does when the
job is not found.
"""

import argparse
import os
import select
import sys

from fluxd.errors import InvalidArgument, NotConnected, TimedOut
from fluxd.formats.hostlist import Hostlist, HostlistError, difference

SOURCES_DESCRIPTION = """\
SOURCES may include:
instance     the hosts of the enclosing instance (its 'hostlist' attribute)
jobid        the hosts allocated to a job
local        the current job's hosts when FLUX_JOB_ID is set, otherwise the
             'instance' hosts
avail[able]  the 'instance' hosts that are neither down nor drained
stdin, '-'   hostlists read from standard input, one or more per line
hosts        a literal hostlist

Without SOURCES, standard input is read ('local' with -l, --local).
"""

#: Source keywords answered by a running instance.
INSTANCE_SOURCES = ("instance", "local", "avail", "available")

#: Seconds to wait for the first byte on stdin (FLUX_HOSTLIST_STDIN_TIMEOUT).
DEFAULT_STDIN_TIMEOUT = 15.0


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Flux's option layout: ``-d, --delimiter=S`` in a 40-column field."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=40)

    def _format_action_invocation(self, action):
        if not action.option_strings:
            return super()._format_action_invocation(action)
        opts = ", ".join(action.option_strings)
        if len(action.option_strings) == 1 and len(opts) > 2:
            opts = "    " + opts    # line long-only options up with the rest
        if action.nargs == 0:
            return opts
        return opts + "=" + self._format_args(action, action.dest.upper())


def _parser():
    parser = argparse.ArgumentParser(
        prog="flux-hostlist", epilog=SOURCES_DESCRIPTION,
        formatter_class=_HelpFormatter)
    outputs = parser.add_mutually_exclusive_group()
    outputs.add_argument(
        "-e", "--expand", action="store_true",
        help="Print every host, separated by the delimiter")
    parser.add_argument(
        "-d", "--delimiter", metavar="S", default=" ",
        help="Delimiter for --expand (default: one space; \\n for newline)")
    outputs.add_argument(
        "-c", "--count", action="store_true",
        help="Print the number of hosts")
    parser.add_argument(
        "-n", "--nth", metavar="[-]IDS",
        help="Keep the hosts at the 0-based positions in idset IDS"
             " (with a leading -, positions counted from the end)")
    parser.add_argument(
        "-F", "--find", metavar="HOSTS",
        help="Print the positions of HOSTS in the result (an error if any"
             " is missing)")
    parser.add_argument(
        "-L", "--limit", metavar="N", type=int,
        help="Keep the first N hosts (the last N if N is negative)")
    parser.add_argument(
        "-S", "--sort", action="store_true", help="Sort the result (duplicates kept)")
    parser.add_argument(
        "-x", "--exclude", metavar="IDS|HOSTS", type=Hostlist,
        help="Drop every occurrence of HOSTS, or else the hosts at"
             " positions IDS")
    parser.add_argument(
        "-u", "--union", "--unique", action="store_true",
        help="Sort the result and drop duplicates (with no set operation,"
             " the union of all SOURCES; they are appended by default)")
    setops = parser.add_mutually_exclusive_group()
    setops.add_argument(
        "-i", "--intersect", action="store_true",
        help="Keep the hosts found in every source")
    setops.add_argument(
        "-m", "--minus", action="store_true",
        help="Remove the later sources' hosts from the first source"
             " (one occurrence per host)")
    setops.add_argument(
        "-X", "--xor", action="store_true",
        help="Symmetric difference of the sources")
    parser.add_argument(
        "-f", "--fallback", action="store_true",
        help="Take a source that parses as a job ID (f1, foo1, 1234) as a"
             " host name")
    parser.add_argument(
        "-l", "--local", action="store_true",
        help="Read the 'local' source when no SOURCES are given")
    parser.add_argument(
        "-q", "--quiet", action="store_true",
        help="Print nothing; exit 1 if the result is empty")
    parser.add_argument(
        "sources", metavar="SOURCES", nargs="*",
        help="Where hosts come from (see below)")
    return parser


def _stdin_timeout():
    text = os.environ.get("FLUX_HOSTLIST_STDIN_TIMEOUT")
    if text is None:
        return DEFAULT_STDIN_TIMEOUT
    try:
        return float(text)
    except ValueError:
        raise InvalidArgument(
            f"invalid FLUX_HOSTLIST_STDIN_TIMEOUT value '{text}'") from None


def read_stdin():
    """Read a hostlist from standard input, one or more per line.

    Like flux, wait at most FLUX_HOSTLIST_STDIN_TIMEOUT seconds (default
    15) for input to arrive, so that a forgotten source does not hang.

    :returns: a :class:`Hostlist`.
    :raises TimedOut: if nothing arrives in time.
    :raises HostlistError: for a malformed line.
    """
    stream = sys.stdin
    if stream is None:          # started with stdin closed
        return Hostlist()
    timeout = _stdin_timeout()
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None               # an in-memory stream is always ready
    if fd is not None and not select.select([fd], [], [], timeout)[0]:
        raise TimedOut(f"timeout after {timeout}s waiting for stdin")
    hosts = Hostlist()
    for line in stream.readlines():
        hosts.append(line.rstrip())
    return hosts


def _is_jobid(arg):
    """True if ``arg`` parses as a job ID in any RFC 19 encoding."""
    from fluxd.formats import fluid
    try:
        fluid.decode(arg)
    except InvalidArgument:
        return False
    return True


def resolve_source(arg, fallback=False):
    """Turn one SOURCES argument into a :class:`Hostlist`.

    :param arg: ``stdin``/``-``, an instance keyword, a job ID or a
        literal hostlist.  As in flux, an argument that parses as a job ID
        (``f1``, ``foo1``, ``1234``) is a job ID, not a host.
    :param fallback: treat job IDs as host names.
    :raises NotConnected: for sources that need a running instance.
    :raises HostlistError: ``Invalid jobid or hostlist ARG``.
    """
    if arg in ("stdin", "-"):
        return read_stdin()
    if arg in INSTANCE_SOURCES:
        raise NotConnected(f"source '{arg}' needs a running Flux instance")
    if _is_jobid(arg):
        if not fallback:
            raise NotConnected(
                f"job {arg}: job hostlists need a running Flux instance"
                f" (use --fallback to treat '{arg}' as a host name)")
    try:
        return Hostlist(arg)
    except HostlistError:
        raise HostlistError(f"Invalid jobid or hostlist {arg}") from None


def _intersect(a, b):
    """flux-hostlist's intersection: hosts of ``a`` found in ``b``, uniq'd.

    Uses libhostlist's uniq, as flux does, rather than
    :func:`fluxd.formats.hostlist.intersect`, so the output matches flux's
    even where its uniq leaves a name twice.
    """
    return Hostlist([host for host in a if host in b]).uniq()


def _xor(a, b):
    """flux-hostlist's symmetric difference (see :func:`_intersect`)."""
    result = difference(a, b)
    result.append(difference(b, a))
    return result.uniq()


def _combine(args, hostlists):
    if args.intersect:
        result = hostlists[0]
        for other in hostlists[1:]:
            result = _intersect(result, other)
    elif args.xor:
        result = hostlists[0]
        for other in hostlists[1:]:
            result = _xor(result, other)
    elif args.minus:
        result = hostlists[0]
        for other in hostlists[1:]:
            result.delete(other)
    else:
        result = Hostlist()
        for other in hostlists:
            result.append(other)
    return result


def _exclude(hosts, exclude):
    """``-x``: drop every occurrence of the hosts, else the indices.

    As flux: only when no host was removed is the argument tried as an
    idset of positions, built from its host names sorted as strings; an
    argument that is no valid idset then changes nothing.
    """
    from fluxd.formats.idset import IDset
    count = len(hosts)
    hosts.delete_all(exclude)
    if len(hosts) != count:
        return hosts
    try:
        ids = IDset.decode(",".join(sorted(exclude)))
    except InvalidArgument:
        return hosts
    return Hostlist([hosts[i] for i in range(count) if i not in ids])


def main(argv):
    """Run ``flux hostlist ARGV...``.

    :returns: the exit code: 1 with ``-q`` when the result is empty.
    """
    args = _parser().parse_args(argv)
    sources = args.sources or (["local"] if args.local else ["stdin"])
    hosts = _combine(args, [resolve_source(arg, args.fallback)
                            for arg in sources])
    if args.exclude:
        hosts = _exclude(hosts, args.exclude)
    if args.sort:
        hosts.sort()
    if args.union:
        hosts.uniq()
    if args.limit:
        hosts = hosts[:args.limit] if args.limit > 0 else hosts[args.limit:]
    if args.nth is not None:
        hosts = hosts.index(args.nth)

    if args.find:
        text = " ".join(map(str, hosts.find_indices(args.find))) + "\n"
    elif args.count:
        text = f"{len(hosts)}\n"
    elif not hosts:
        text = ""
    elif args.expand:
        # "\n" typed on the command line means a newline
        text = args.delimiter.replace("\\n", "\n").join(hosts) + "\n"
    else:
        text = hosts.encode() + "\n"
    if not args.quiet:
        sys.stdout.write(text)
    return 1 if args.quiet and not hosts else 0
