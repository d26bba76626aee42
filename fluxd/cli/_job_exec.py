# -*- test-case-name: tests.integration.test_exec_shells -*-
"""``flux job attach``, ``taskmap``, ``hostpids`` and ``timeleft``: the
job-shell subcommands of ``flux job`` (spec/cli.md section 6).

- ``attach [-l] [-u] [-q] [-r] [-E] [-X] [-v] [-w EVENT] ID``: follow a
  job as ``flux run`` does (:class:`fluxd.cli._attach.Attach`), its
  standard input sent to the job's tasks unless ``-r``
  (``--read-only``), and exit with its status; ``-E`` prints the job's
  events, ``-X`` its exec events, ``-u`` writes each piece of output at
  once (no buffering).
- ``taskmap ID``: the RFC 34 task map of the job's ``shell.start``.
- ``hostpids [-d DELIM] ID``: ``host:pid`` of each task of a running
  job, in task rank order, joined by DELIM (``,``).
- ``timeleft [-H] [ID]``: seconds left before the job's time limit (of
  ``$FLUX_JOB_ID`` without ID), ``infinity`` when it has none; ``-H``
  as an FSD.
"""

import argparse
import json
import os
import sys

from fluxd.cli._jobid import parse_jobid
from fluxd.errors import FluxError

__all__ = ["cmd_attach", "cmd_taskmap", "cmd_timeleft", "cmd_hostpids",
           "unbuffered"]

PROG = "flux-job"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: {message}\n")


def _fail(message):
    sys.stderr.write(f"{PROG}: {message}\n")
    return 1


class _Unbuffered:
    """A text stream flushed after each write (``attach -u``)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        self._stream.write(text)
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def unbuffered(stream):
    """``stream`` flushed after every write (``-u``)."""
    return _Unbuffered(stream)


def cmd_attach(argv):
    """``flux job attach``."""
    from fluxd.cli._attach import Attach
    from fluxd.cli._follow import EventFollower
    from fluxd.cli._submit import CommandEnv
    from fluxd.formats.fluid import encode
    parser = _Parser(prog=f"{PROG} attach", description="Interactively"
                     " attach to job")
    parser.add_argument("-l", "--label-io", action="store_true",
                        help="Label output by rank")
    parser.add_argument("-u", "--unbuffered", action="store_true",
                        help="Disable buffering of output")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="Suppress warnings and shell log messages")
    parser.add_argument("-E", "--show-events", action="store_true",
                        help="Show job events on stderr")
    parser.add_argument("-X", "--show-exec", action="store_true",
                        help="Show exec events on stderr")
    parser.add_argument("-r", "--read-only", action="store_true",
                        help="Do not send standard input to the job")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="Increase verbosity")
    parser.add_argument("-w", "--wait-event", metavar="EVENT",
                        default="clean", help="Wait for EVENT")
    parser.add_argument("id")
    args = parser.parse_args(argv)
    try:
        jobid = parse_jobid(args.id)
    except FluxError as exc:
        return _fail(str(exc))
    stdout, stderr = sys.stdout, sys.stderr
    if args.unbuffered:
        stdout, stderr = _Unbuffered(stdout), _Unbuffered(stderr)
    env = CommandEnv(stdout=stdout, stderr=stderr)
    try:
        attach = Attach(env, EventFollower(env.handle()), jobid,
                        encode(jobid, "f58"), wait_event=args.wait_event,
                        show_events=args.show_events or args.verbose > 0,
                        show_exec=args.show_exec or args.verbose > 1,
                        label_io=args.label_io, quiet=args.quiet)
        if not args.read_only:
            if not (_interactive(env, jobid)
                    and attach.use_pty(env.connect)):
                attach.forward_stdin(env.connect)
        return attach.run()
    except FluxError as exc:
        return _fail(str(exc))
    finally:
        env.close()


def _interactive(env, jobid):
    """Whether the job asked for ``-o pty.interactive``."""
    from fluxd.cli._pty import interactive
    try:
        reply = env.handle().rpc("job-info.lookup", {"id": jobid,
                                                     "keys": ["jobspec"],
                                                     "flags": 0})
    except FluxError:
        return False    # no such job, or not ours: attach says it
    return interactive(reply.get("jobspec"))


def _exec_events(handle, jobid):
    from fluxd.formats.eventlog import decode
    reply = handle.rpc("job-info.lookup", {"id": jobid,
                                           "keys": ["guest.exec.eventlog"],
                                           "flags": 0})
    return decode(reply["guest.exec.eventlog"].encode())


def cmd_taskmap(argv):
    """``flux job taskmap ID``."""
    from fluxd.client.sync import Flux
    parser = _Parser(prog=f"{PROG} taskmap",
                     description="Print the task map of a job")
    parser.add_argument("id")
    args = parser.parse_args(argv)
    try:
        jobid = parse_jobid(args.id)
        with Flux() as h:
            entries = _exec_events(h, jobid)
    except FluxError as exc:
        return _fail(f"{args.id}: {exc}")
    for entry in entries:
        if entry["name"] == "shell.start":
            taskmap = (entry.get("context") or {}).get("taskmap")
            sys.stdout.write(json.dumps(taskmap, separators=(",", ":"))
                             + "\n")
            return 0
    return _fail(f"{args.id}: job has no task map (it never started)")


def cmd_timeleft(argv):
    """``flux job timeleft [-H] [ID]``."""
    import time
    from fluxd.client.sync import Flux
    from fluxd.formats.eventlog import decode
    parser = _Parser(prog=f"{PROG} timeleft",
                     description="Find remaining runtime for job or"
                     " enclosing instance")
    parser.add_argument("-H", "--human", action="store_true",
                        help="Print time in RFC 23 Flux Standard Duration")
    parser.add_argument("id", nargs="?")
    args = parser.parse_args(argv)
    text = args.id or os.environ.get("FLUX_JOB_ID")
    if not text:
        return _fail("timeleft: no job id given and FLUX_JOB_ID is not set")
    try:
        jobid = parse_jobid(text)
        with Flux() as h:
            reply = h.rpc("job-info.lookup", {
                "id": jobid, "keys": ["R", "eventlog"], "flags": 1})
    except FluxError as exc:
        return _fail(f"{text}: {exc}")
    names = [e["name"] for e in decode(reply["eventlog"].encode())]
    if "start" not in names or "finish" in names:
        return _fail(f"{text}: job is not running")
    R = reply.get("R") or {}
    expiration = (R.get("execution") or {}).get("expiration", 0)
    if not expiration:
        sys.stdout.write("infinity\n")
        return 0
    left = max(0.0, expiration - time.time())
    if args.human:
        from fluxd.formats.fsd import format_fsd
        sys.stdout.write(format_fsd(left) + "\n")
    else:
        sys.stdout.write(f"{int(left)}\n")
    return 0


def cmd_hostpids(argv):
    """``flux job hostpids [-d DELIM] ID``."""
    from fluxd.client.sync import Flux
    parser = _Parser(prog=f"{PROG} hostpids",
                     description="Print host:pid pairs for the tasks of a"
                     " job")
    parser.add_argument("-d", "--delimiter", default=",",
                        help="Set output delimiter (default ',')")
    parser.add_argument("id")
    args = parser.parse_args(argv)
    try:
        jobid = parse_jobid(args.id)
        with Flux() as h:
            reply = h.rpc("job-exec.hostpids", {"id": jobid})
    except FluxError as exc:
        return _fail(f"{args.id}: {exc}")
    sys.stdout.write(args.delimiter.join(
        f"{host}:{pid}" for host, pid in reply["hostpids"]) + "\n")
    return 0
