# -*- test-case-name: tests.unit.cli.test_queue -*-
"""``flux queue``: control job submission and scheduling (spec/cli.md
section 2; the guide's "Managing the Flux queue").

``list [-q QUEUE,...] [-n] [-o FORMAT]`` prints a table of the queues
(:mod:`fluxd.cli._queue_list`).  ``status [-v] [QUEUE]`` prints ``Job submission is enabled`` /
``...disabled: REASON`` and ``Scheduling is started`` / ``...stopped[:
REASON]`` (prefixed ``QUEUE: `` for named queues); ``-v`` adds the counts
of queued and pending alloc requests and running jobs.  ``enable``,
``disable [-m REASON]``, ``start``, ``stop [-m REASON]`` (instance owner
only; ``--all`` for every named queue, ``--nocheckpoint`` to forget the
change at restart) print the new state unless ``--quiet``.  ``drain``
waits until no job is active, ``idle`` until none is running (and prints
the pending count), both with ``--timeout=FSD``.  Errors print
``flux-queue: ERROR: VERB: MESSAGE`` and exit 1.
"""

import argparse

from fluxd.cli._submit import CommandEnv, log
from fluxd.errors import FluxError, InvalidArgument, TimedOut

__all__ = ["QueueCommand", "main"]

PROG = "flux-queue"


class _Exit(Exception):
    """An error already reported."""


class _SetUpdate(argparse.Action):
    """``-q a,b -q c``: the union of comma-separated values."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = list(getattr(namespace, self.dest) or [])
        current += [v for v in values.split(",") if v and v not in current]
        setattr(namespace, self.dest, current)


class QueueCommand:
    """``flux queue`` with its environment injectable."""

    def __init__(self, env=None):
        self.env = env or CommandEnv()

    def build_parser(self):
        """:returns: the argument parser."""
        parser = self.env.parser(prog=PROG)
        sub = parser.add_subparsers(title="subcommands", dest="subcommand",
                                    metavar="COMMAND")
        sub.required = True
        p = sub.add_parser("list", help="List queues",
                           description="List queue status, defaults, and"
                           " limits")
        p.add_argument("-q", "--queue", action=_SetUpdate, default=[],
                       metavar="QUEUE,...",
                       help="Include only specified queues in output")
        p.add_argument("-o", "--format", default="default",
                       help="Specify output format using Python's string"
                       " format syntax or a defined format by name (use"
                       " 'help' to get a list of names)")
        p.add_argument("-n", "--no-header", action="store_true",
                       help="Suppress header output")
        helps = {"status": "Get queue status",
                 "enable": "Enable job submission",
                 "disable": "Disable job submission",
                 "start": "Start scheduling", "stop": "Stop scheduling"}
        for name, text in helps.items():
            p = sub.add_parser(name, help=text, description=text)
            if name != "status":
                p.add_argument("-a", "--all", action="store_true",
                               help="Force command to apply to all queues"
                               " if none specified")
                p.add_argument("--quiet", action="store_true",
                               help="Display only errors")
            p.add_argument("-v", "--verbose", action="store_true",
                           help="Display more detail about internal job"
                           " manager state")
            if name in ("stop", "disable"):
                verb = "stopped" if name == "stop" else "disabled"
                p.add_argument("--nocheckpoint", action="store_true",
                               help="Do not checkpoint that the queue has"
                               f" been {verb}")
                p.add_argument("-m", "--message", metavar="REASON",
                               help=f"Add reason that a queue is {verb}")
            p.add_argument("-q", "--queue", dest="old_queue",
                           help=argparse.SUPPRESS)
            p.add_argument("queue", metavar="QUEUE", nargs="?",
                           help=f"Queue to {name}")
        for name, text in (("drain", "Wait for queue to become empty."),
                           ("idle", "Wait for queue to become idle.")):
            p = sub.add_parser(name, help=text, description=text)
            p.add_argument("-t", "--timeout", metavar="DURATION",
                           help="timeout after DURATION")
            if name == "idle":
                p.add_argument("--quiet", action="store_true",
                               help="Only display pending job count if"
                               " nonzero")
        return parser

    def run(self, argv):
        """Parse ``argv`` and run the subcommand; returns the exit code."""
        args = self.build_parser().parse_args(argv)
        try:
            if getattr(args, "old_queue", None) is not None:
                if args.queue is not None:
                    raise InvalidArgument(
                        "Conflicting queues specified as"
                        f" --queue={args.old_queue} and {args.queue}")
                args.queue = args.old_queue
            return getattr(self, "do_" + args.subcommand)(args) or 0
        except _Exit:
            return 1
        except FluxError as exc:
            log(self.env, PROG, "ERROR", str(exc))
            return 1
        finally:
            self.env.close()

    # -- helpers -----------------------------------------------------------------

    def _rpc(self, verb, topic, payload=None, timeout=None):
        try:
            return self.env.handle().rpc(topic, payload or {}, nodeid=0,
                                         timeout=timeout)
        except FluxError as exc:
            if isinstance(exc, TimedOut) and verb in ("drain", "idle"):
                log(self.env, PROG, "ERROR", f"{verb}: timeout")
            else:
                log(self.env, PROG, "ERROR", f"{verb}: {exc}")
            raise _Exit() from None

    def _print(self, line):
        self.env.stdout.write(line + "\n")

    def _enable_line(self, name, status):
        prefix = f"{name}: " if name else ""
        if status["enable"]:
            self._print(f"{prefix}Job submission is enabled")
        else:
            self._print(f"{prefix}Job submission is disabled:"
                        f" {status.get('disable_reason', '')}")

    def _start_line(self, name, status):
        prefix = f"{name}: " if name else ""
        if status["start"]:
            self._print(f"{prefix}Scheduling is started")
        else:
            reason = status.get("stop_reason")
            self._print(f"{prefix}Scheduling is stopped"
                        f"{': ' + reason if reason else ''}")

    def _status_one(self, name=None):
        return self._rpc("status", "job-manager.queue-status",
                         {"name": name} if name else {})

    def _statuses(self, queue, verbose):
        queues = self._rpc("list", "job-manager.queue-list")["queues"]
        if not queue or verbose:
            if queues:
                return [(q, self._status_one(q)) for q in queues]
            return [(queue, self._status_one())]
        return [(queue, self._status_one(queue))]

    def _show(self, args, *printers):
        for name, status in self._statuses(args.queue, args.verbose):
            for printer in printers:
                printer(name, status)

    def _alloc_counts(self):
        query = self._rpc("alloc-query", "job-manager.alloc-query")
        self._print(f"{query['queue_length']} alloc requests queued")
        self._print(f"{query['alloc_pending']} alloc requests"
                    " pending to scheduler")
        self._print(f"{query['running']} running jobs")

    def _check_all(self, args):
        if not args.queue and not args.all:
            queues = self._rpc("list", "job-manager.queue-list")["queues"]
            if queues:
                raise InvalidArgument("Named queues are defined. Specify"
                                      " queues or use --all.")

    # -- subcommands ------------------------------------------------------------

    def do_list(self, args):
        """``flux queue list``."""
        from fluxd.cli._format_config import FormatConfig
        from fluxd.cli._queue_list import FORMATS, HEADINGS, queue_infos
        from fluxd.cli.formatting import Formatter
        from fluxd.resource._schedlist import SchedResourceList
        config = FormatConfig("flux-queue", {"list": FORMATS}, "list",
                              environ=self.env.environ).load()
        text = config.describe(args.format)
        if text is not None:
            self.env.stdout.write(text)
            return
        formatter = Formatter(config.get_format_string(args.format),
                              headings=HEADINGS)
        names = self._rpc("list", "job-manager.queue-list")["queues"]
        conf = self._rpc("list", "config.get") or {}
        sched = SchedResourceList(self._rpc("list",
                                            "resource.sched-status"))
        rows = queue_infos(names, conf, self._status_one, sched,
                           only=args.queue)
        formatter.print_items(rows, no_header=args.no_header,
                              out=self.env.stdout)

    def do_status(self, args):
        """``flux queue status``."""
        self._show(args, self._enable_line, self._start_line)
        if args.verbose:
            self._alloc_counts()

    def _enable(self, args, enable):
        self._check_all(args)
        payload = {"enable": enable, "all": args.all}
        if args.queue:
            payload["name"] = args.queue
        if not enable:
            payload["reason"] = args.message or "disabled by administrator"
            payload["nocheckpoint"] = args.nocheckpoint
        self._rpc("enable", "job-manager.queue-enable", payload)
        if not args.quiet:
            self._show(args, self._enable_line)

    def do_enable(self, args):
        """``flux queue enable``."""
        self._enable(args, True)

    def do_disable(self, args):
        """``flux queue disable``."""
        self._enable(args, False)

    def _start(self, args, start):
        self._check_all(args)
        payload = {"start": start, "all": args.all,
                   "nocheckpoint": getattr(args, "nocheckpoint", False)}
        if args.queue:
            payload["name"] = args.queue
        if not start and args.message:
            payload["reason"] = args.message
        self._rpc("start", "job-manager.queue-start", payload)
        if not args.quiet:
            self._show(args, self._start_line)
            if args.verbose:
                self._alloc_counts()

    def do_start(self, args):
        """``flux queue start``."""
        self._start(args, True)

    def do_stop(self, args):
        """``flux queue stop``."""
        self._start(args, False)

    def _timeout(self, args):
        from fluxd.formats.fsd import parse_fsd
        if args.timeout is None:
            return None
        return parse_fsd(args.timeout)

    def do_drain(self, args):
        """``flux queue drain``: wait until no job is active."""
        self._rpc("drain", "job-manager.drain", {},
                  timeout=self._timeout(args))

    def do_idle(self, args):
        """``flux queue idle``: wait until no job is running."""
        reply = self._rpc("idle", "job-manager.idle", {},
                          timeout=self._timeout(args))
        pending = reply.get("pending", 0)
        if not args.quiet or pending > 0:
            self._print(f"{pending} jobs")


def main(argv):
    """``flux queue`` entry point."""
    return QueueCommand().run(argv)
