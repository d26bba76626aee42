# -*- test-case-name: tests.unit.cli.test_cmd_resource -*-
"""``flux resource``: show an instance's resources (spec/cli.md section 1).

Subcommands:

* ``status`` -- the system view: avail, exclude, draining, drained, torpid,
  housekeeping... per online/offline status (``state*`` = offline);
* ``drain`` -- without targets, the drained nodes with time and reason;
  with targets, ask the resource service to drain them;
* ``undrain`` -- return drained nodes to service;
* ``list`` / ``info`` / ``R`` -- the scheduler view: free, allocated, down
  (and up, all) resources per queue and property set, a one-line summary,
  or the RFC 20 R of the chosen states;
* ``eventlog`` -- the resource journal (:mod:`._resource_eventlog`).

Output goes through the ``-o`` format mini-language
(:mod:`fluxd.cli.formatting`) with flux's built-in named formats.  With
``--from-stdin`` the data is a saved ``resource.status`` (status, drain)
or ``resource.sched-status`` (list, info, R) response and no instance is
needed; otherwise it comes from the broker (:mod:`._resource_source`).
"""

import argparse
import os
import sys

from fluxd.cli._resource_eventlog import add_eventlog_parser, run_eventlog
from fluxd.cli._resource_source import LiveSource, StdinSource
from fluxd.cli.formatting import FormatConfig, Formatter
from fluxd.errors import AlreadyExists, InvalidArgument
from fluxd.resource.status import (
    DEFAULT_LIST_STATES, LIST_HEADINGS, LIST_STATES, STATUS_HEADINGS,
    STATUS_STATES, check_states, include_ranks, list_lines, queue_ranks,
    sched_R, status_lines,
)

PROG = "flux-resource"

#: flux's built-in named formats, per subcommand
FORMATS = {
    "status": {
        "default": {
            "description": "Default flux-resource status format string",
            "format": "{state:>12} {color_up}{up:>2}{color_off} {nnodes:>6}"
                      " {nodelist}",
        },
        "long": {
            "description": "Long flux-resource status format string",
            "format": "{state:>12} {color_up}{up:>2}{color_off} {nnodes:>6}"
                      " +:{reason:<30.30} {nodelist}",
        },
    },
    "drain": {
        "default": {
            "description": "Default flux-resource drain format string",
            "format": "{timestamp!d:%b%d %R::<12} {state:<8.8}"
                      " {reason:<30.30+} {nodelist}",
        },
        "long": {
            "description": "Long flux-resource drain format string",
            "format": "{timestamp!d:%b%d %R::<12} {state:<8.8}"
                      " {ranks:<8.8+} +:{reason:<30.30} {nodelist}",
        },
    },
    "list": {
        "default": {
            "description": "Default flux-resource list format string",
            "format": "{state:>10} ?+:{queue:<5} ?:{propertiesx:<10.10+}"
                      " {nnodes:>6} +:{ncores:>6} ?+:{ngpus:>5} {nodelist}",
        },
        "rlist": {
            "description": "Format including resource list details",
            "format": "{state:>10} ?+:{queue:<5} ?:{propertiesx:<10.10+}"
                      " {nnodes:>6} +:{ncores:>6} ?+:{ngpus:>5} {rlist}",
        },
    },
}

INFO_FORMAT = "{nnodes} Nodes, {ncores} Cores, {ngpus} GPUs"


class _QueueAction(argparse.Action):
    """``-q A,B -q C``: an ordered list of distinct queue names."""

    def __call__(self, parser, namespace, values, option_string=None):
        queues = list(getattr(namespace, self.dest) or [])
        for name in values.split(","):
            if name and name not in queues:
                queues.append(name)
        setattr(namespace, self.dest, queues)


def _add_common(p, *, fmt=True, states=True, stdin=True, skip=True):
    if fmt:
        p.add_argument("-o", "--format", default="default",
                       help="Specify output format using Python's string"
                       " format syntax or a defined format by name (use"
                       " 'help' to get a list of names)")
        p.add_argument("-n", "--no-header", action="store_true",
                       help="Suppress header output")
    if states:
        p.add_argument("-s", "--states", metavar="STATE,...",
                       help="Output resources in given states")
    p.add_argument("-i", "--include", metavar="TARGETS",
                   help="Include only specified targets in output set."
                   " TARGETS may be provided as an idset or hostlist.")
    p.add_argument("-q", "--queue", action=_QueueAction, default=[],
                   metavar="QUEUE,...",
                   help="Include only specified queues in output")
    if skip:
        p.add_argument("--skip-empty", action="store_true",
                       help="Skip empty lines of output")
        p.add_argument("--no-skip-empty", action="store_true",
                       help="Do not skip empty lines, even with --include")
    if stdin:
        p.add_argument("--from-stdin", action="store_true",
                       help=argparse.SUPPRESS)
        p.add_argument("--config-file", help=argparse.SUPPRESS)


def _add_color(p):
    p.add_argument("-L", "--color", metavar="WHEN", nargs="?",
                   const="always", default="auto",
                   choices=["never", "always", "auto"],
                   help="Use color; WHEN can be 'never', 'always', or"
                   " 'auto' (default)")


def build_parser():
    """:returns: the ``flux resource`` argument parser."""
    parser = argparse.ArgumentParser(prog=PROG)
    sub = parser.add_subparsers(title="subcommands", dest="subcommand")

    p = sub.add_parser("status", help="Show the system view of resources")
    _add_common(p)
    _add_color(p)
    p.set_defaults(func="status")

    p = sub.add_parser("drain", help="List drained nodes, or drain nodes")
    p.add_argument("-f", "--force", action="count", default=0,
                   help="Force overwrite of existing drain reason. Specify"
                   " twice to also update drain timestamp.")
    p.add_argument("-u", "--update", action="store_true",
                   help="Update only. Do not fail if targets are already"
                   " drained; keep their reason.")
    _add_common(p, states=False, skip=False)
    _add_color(p)
    p.add_argument("targets", nargs="?",
                   help="List of targets to drain (IDSET or HOSTLIST)")
    p.add_argument("reason", nargs=argparse.REMAINDER, help="Reason")
    p.set_defaults(func="drain", states=None)

    p = sub.add_parser("undrain", help="Return drained nodes to service")
    p.add_argument("-f", "--force", action="store_true",
                   help="Do not fail if any targets are not drained")
    p.add_argument("targets",
                   help="List of targets to resume (IDSET or HOSTLIST)")
    p.add_argument("reason", nargs=argparse.REMAINDER, help="Reason")
    p.set_defaults(func="undrain")

    p = sub.add_parser("list", help="Show the scheduler view of resources")
    _add_common(p)
    p.set_defaults(func="list", states=",".join(DEFAULT_LIST_STATES))

    p = sub.add_parser("info", help="Show a one-line resource summary")
    _add_common(p, fmt=False)
    p.set_defaults(func="info")

    p = sub.add_parser("R", help="Emit R for resources in given states")
    _add_common(p, fmt=False, skip=False)
    p.set_defaults(func="R")

    add_eventlog_parser(sub)
    return parser


class ResourceCommand:
    """``flux resource`` with its streams, environment and broker
    connection injectable.

    :param stdin: text stream for ``--from-stdin`` (default sys.stdin).
    :param stdout: text stream for output (default sys.stdout).
    :param stderr: text stream for warnings (default sys.stderr).
    :param environ: environment (``FLUX_RESOURCE_*_FORMAT_DEFAULT``,
        ``XDG_CONFIG_*``); default :data:`os.environ`.
    :param connect: callable returning a broker handle for the live path
        (default :class:`fluxd.client.sync.Flux`).
    """

    def __init__(self, stdin=None, stdout=None, stderr=None, environ=None,
                 connect=None):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.environ = os.environ if environ is None else environ
        self.connect = connect

    def run(self, argv):
        """Parse ``argv`` and run the subcommand; returns the exit code."""
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.subcommand is None:
            parser.print_help(self.stderr)
            return 1
        return getattr(self, "do_" + args.func)(args)

    # -- helpers ----------------------------------------------------------

    def _warn(self, message):
        self.stderr.write(f"{PROG}: {message}\n")

    def _source(self, args):
        if getattr(args, "from_stdin", False):
            return StdinSource(self.stdin, args.config_file)
        return LiveSource(self.connect, getattr(args, "config_file", None),
                          warn=self._warn)

    def _format(self, subcommand, name):
        """Resolve ``-o``: a format string, or None once ``-o help`` /
        ``get-config=`` output is printed."""
        config = FormatConfig("flux-resource", FORMATS, subcommand,
                              environ=self.environ).load()
        text = config.describe(name)
        if text is not None:
            self.stdout.write(text)
            return None
        return config.get_format_string(name)

    @staticmethod
    def _selected_ranks(args, hostnames, rset, config_fn):
        """The ranks ``-q`` and ``-i`` keep (None: no filter)."""
        ranks = None
        if args.queue:
            try:
                ranks = queue_ranks(rset, config_fn(), args.queue)
            except InvalidArgument as exc:
                raise InvalidArgument(f"--queue: {exc}") from None
        if args.include:
            try:
                included = include_ranks(args.include, hostnames)
            except InvalidArgument as exc:
                raise InvalidArgument(f"--include: {exc}") from None
            ranks = included if ranks is None else ranks & included
        return ranks

    @staticmethod
    def _skip_empty(args):
        return bool(args.skip_empty
                    or (args.include and not args.no_skip_empty))

    def _color(self, args):
        if args.color == "auto":
            return self.stdout.isatty()
        return args.color == "always"

    # -- system view --------------------------------------------------------

    def do_status(self, args, format_table="status", states=None):
        if args.states == "help":
            self._warn("valid states: " + ",".join(STATUS_STATES))
            return 0
        if states is None and args.states:
            states = args.states.split(",")
            check_states(states, STATUS_STATES)
        fmt = self._format(format_table, args.format)
        if fmt is None:
            return 0
        formatter = Formatter(fmt, STATUS_HEADINGS)
        if not self._color(args):
            formatter = formatter.copy(except_fields=["color_up",
                                                      "color_off"])
        source = self._source(args)
        try:
            rstatus = source.status()
            ranks = self._selected_ranks(args, rstatus.hostnames,
                                         rstatus.rset, source.config)
        finally:
            source.close()
        if ranks is not None:
            rstatus.filter_ranks(ranks)
        lines = status_lines(rstatus, formatter, states=states,
                             skip_empty=self._skip_empty(args))
        formatter.print_items(lines, no_header=args.no_header,
                              out=self.stdout)
        return 0

    def do_drain(self, args):
        if args.targets is None:
            # The listing: drained and draining nodes, one line per
            # reason and time.
            args.skip_empty, args.no_skip_empty = True, False
            return self.do_status(args, format_table="drain",
                                  states=["drain"])
        if args.from_stdin:
            raise InvalidArgument("--from-stdin only lists drained nodes;"
                                  " it cannot drain TARGETS")
        if args.update and args.force:
            raise InvalidArgument("Only one of --force and --update may be"
                                  " specified")
        payload = {"targets": args.targets}
        if args.update:
            payload["mode"] = "update"
        elif args.force:
            payload["mode"] = "overwrite" if args.force == 1 \
                else "force-overwrite"
        if args.reason:
            payload["reason"] = " ".join(args.reason)
        source = LiveSource(self.connect, warn=self._warn)
        try:
            source.drain(payload)
        except AlreadyExists as exc:
            self._warn(str(exc))
            self._warn("Use --force to overwrite existing drain reason")
            return 1
        finally:
            source.close()
        return 0

    def do_undrain(self, args):
        payload = {"targets": args.targets}
        if args.force:
            payload["mode"] = "force"
        if args.reason:
            payload["reason"] = " ".join(args.reason)
        source = LiveSource(self.connect, warn=self._warn)
        try:
            source.undrain(payload)
        finally:
            source.close()
        return 0

    def do_eventlog(self, args):
        source = LiveSource(self.connect, warn=self._warn)
        try:
            return run_eventlog(args, source, self.stdout)
        finally:
            source.close()

    # -- scheduler view -----------------------------------------------------

    def _sched(self, args):
        """The scheduler view, filtered by ``-q``/``-i``, and the config."""
        states = args.states.split(",")
        check_states(states, LIST_STATES)
        source = self._source(args)
        try:
            resources = source.sched_list()
            config = source.config()
        finally:
            source.close()
        ranks = self._selected_ranks(args, resources.hostnames(),
                                     resources.all, lambda: config)
        if ranks is not None:
            resources.filter_ranks(ranks)
        return states, resources, config

    def _print_list(self, args, fmt, no_header):
        states, resources, config = self._sched(args)
        formatter = Formatter(fmt, LIST_HEADINGS)
        lines = list_lines(resources, formatter, states=states, config=config,
                           queues=args.queue,
                           skip_empty=self._skip_empty(args))
        formatter.print_items(lines, no_header=no_header, out=self.stdout)
        return 0

    def do_list(self, args):
        check_states(args.states.split(","), LIST_STATES)
        fmt = self._format("list", args.format)
        if fmt is None:
            return 0
        return self._print_list(args, fmt, args.no_header)

    def do_info(self, args):
        args.states = args.states or "all"
        return self._print_list(args, INFO_FORMAT, True)

    def do_R(self, args):
        args.states = args.states or "all"
        states, resources, _ = self._sched(args)
        self.stdout.write(sched_R(resources, states).dumps() + "\n")
        return 0


def main(argv):
    """Run ``flux resource``.

    :param argv: the arguments after ``resource``.
    :returns: the exit code.
    :raises fluxd.errors.FluxError: for bad input or an unreachable
        instance (printed by the dispatcher as one line).
    """
    return ResourceCommand().run(argv)
