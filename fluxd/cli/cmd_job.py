# -*- test-case-name: tests.unit.cli.test_cmd_job -*-
"""``flux job``: job housekeeping subcommands.

``flux job SUBCOMMAND ARGS...`` looks SUBCOMMAND up in :data:`SUBCOMMANDS`
and calls its function with the remaining arguments, as flux-core's
``flux-job`` dispatches its optparse subcommands.  Each entry is either a
function or a ``"module:function"`` string imported only when that
subcommand runs, so ``flux job id`` never loads the broker client.

Subcommands implemented here:

``id [--to=ENCODING] [ID...]``
    Convert job ids between the RFC 19 encodings (see
    :mod:`fluxd.formats.fluid`).  Without arguments the ids are read from
    standard input, one per line.  Exits 1 with no output when there is
    no id at all.
"""

import argparse
import importlib
import sys

from fluxd.errors import InvalidArgument

__all__ = ["main", "cmd_id", "SUBCOMMANDS"]

PROG = "flux-job"


class _Parser(argparse.ArgumentParser):
    """argparse that exits 1 on usage errors, as flux's optparse does."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: {message}\n")


def cmd_id(argv):
    """``flux job id``: print each job id in the requested encoding.

    Ids are converted and printed one at a time, so output for the ids
    before a bad one is still written.

    :param argv: the arguments after ``id``.
    :returns: 0 if at least one id was converted, else 1.
    :raises InvalidArgument: ``ID: malformed input`` for an id that does
        not parse, ``Unknown to=X`` for an unknown encoding.
    """
    from fluxd.formats import fluid

    parser = _Parser(prog=f"{PROG} id",
                     description="Convert jobid(s) to another form")
    parser.add_argument("-t", "--to", default="dec",
                        metavar="dec|kvs|hex|dothex|words|f58|f58plain|emoji",
                        help="Convert jobid to specified form")
    parser.add_argument("ids", nargs="*", metavar="id")
    args = parser.parse_intermixed_args(argv)

    # flux_job_id_encode() compares encoding names case-insensitively.
    known = args.to.lower() in fluid.ENCODINGS

    def convert(src):
        value = fluid.decode(src)          # "<src>: malformed input"
        if not known:
            raise InvalidArgument(f"Unknown to={args.to}")
        sys.stdout.write(fluid.encode(value, args.to) + "\n")

    converted = 0
    if args.ids:
        for src in args.ids:
            convert(src)
            converted += 1
    else:
        for line in sys.stdin:
            # flux trims whitespace at both ends of each line.
            convert(line.strip(" \t\n\v\f\r"))
            converted += 1
    return 0 if converted else 1


#: subcommand -> (function or "module:function", usage, one-line summary)
SUBCOMMANDS = {
    "id": (cmd_id, "[OPTIONS] [id ...]", "Convert jobid(s) to another form"),
    "info": ("fluxd.cli._job_info:cmd_info", "id key",
             "Display info for a job"),
    "eventlog": ("fluxd.cli._job_info:cmd_eventlog", "[-f text|json] id",
                 "Display eventlog for a job"),
    "wait-event": ("fluxd.cli._job_info:cmd_wait_event", "id event",
                   "Wait for an event"),
    "status": ("fluxd.cli._job_info:cmd_status", "[OPTIONS] id [id...]",
               "Wait for job(s) to complete and exit with largest exit code"),
    "last": ("fluxd.cli._job_info:cmd_last", "[N|SLICE]",
             "Print the most recently submitted jobid"),
    "urgency": ("fluxd.cli._job_control:cmd_urgency", "[OPTIONS] id urgency",
                "Set job urgency (0-31, HOLD, EXPEDITE, DEFAULT)"),
    "raise": ("fluxd.cli._job_control:cmd_raise",
              "[OPTIONS] ids... [--] [message...]",
              "Raise exception for job(s)"),
    "raiseall": ("fluxd.cli._job_control:cmd_raiseall",
                 "[OPTIONS] type [message...]",
                 "Raise an exception on multiple jobs."),
    "kill": ("fluxd.cli._job_control:cmd_kill", "[OPTIONS] ids...",
             "Send signal to running job"),
    "killall": ("fluxd.cli._job_control:cmd_killall", "[OPTIONS]",
                "Send signal to multiple running jobs"),
    "purge": ("fluxd.cli._job_control:cmd_purge", "[OPTIONS] [id...]",
              "Purge old inactive jobs"),
    "wait": ("fluxd.cli._job_control:cmd_wait", "[OPTIONS] [id]",
             "Wait for job(s) to complete."),
    "memo": ("fluxd.cli._job_memo:cmd_memo", "[--volatile] id key=value...",
             "Post job memo"),
    "post-event": ("fluxd.cli._job_post:cmd_post_event",
                   "id name [key=value...]",
                   "Post an event to a job's eventlog"),
    "attach": ("fluxd.cli._job_exec:cmd_attach", "[OPTIONS] id",
               "Interactively attach to job"),
    "taskmap": ("fluxd.cli._job_exec:cmd_taskmap", "id",
                "Print the task map of a job"),
    "hostpids": ("fluxd.cli._job_exec:cmd_hostpids", "[OPTIONS] id",
                 "Print host:pid pairs for the tasks of a job"),
    "timeleft": ("fluxd.cli._job_exec:cmd_timeleft", "[OPTIONS] [id]",
                 "Find remaining runtime for job or enclosing instance"),
}


def _usage(out):
    out.write(f"Usage: {PROG} [OPTIONS] COMMAND ARGS\n")
    out.write("  -h, --help             Display this message.\n")
    out.write(f"\nCommon commands from {PROG}:\n")
    for name, (_, _, summary) in SUBCOMMANDS.items():
        out.write(f"   {name:<15} {summary}\n")


def _resolve(target):
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def main(argv):
    """Dispatch ``flux job SUBCOMMAND ARGS...``.

    :param argv: the arguments after ``job``.
    :returns: the subcommand's exit code; 1 with usage on stderr for a
        missing or unknown subcommand; 0 for ``--help``.
    """
    if argv and argv[0] in ("-h", "--help"):
        _usage(sys.stdout)
        return 0
    if not argv or argv[0] not in SUBCOMMANDS:
        if argv and argv[0].startswith("-"):
            sys.stderr.write(f"{PROG}: unrecognized option '{argv[0]}'\n")
        elif argv:
            sys.stderr.write(f"{PROG}: unknown command '{argv[0]}'\n")
        _usage(sys.stderr)
        return 1
    func = _resolve(SUBCOMMANDS[argv[0]][0])
    return func(argv[1:])
