# -*- test-case-name: tests.unit.cli.test_job_info -*-
"""``flux job`` subcommands that read job data (spec/cli.md section 6).

* ``info [-o|--original] [-b|--base] ID KEY`` -- a KVS key of the job
  (``eventlog``, ``jobspec``, ``R``, ``J``, ``guest.exec.eventlog``...);
  ``jobspec`` and ``R`` with the eventlog's updates applied unless
  ``--base``; ``--original`` gives the jobspec as submitted (from J).
* ``eventlog [-f text|json] [-T raw|iso|offset|human] [-H] [-L[WHEN]]
  [-F] [-p PATH] ID`` -- the job's eventlog (``-p exec``, ``output``,
  ``input`` or a key), ``-F`` following it until the job is inactive.
* ``wait-event [-t DURATION] [-p PATH] [-m KEY=VAL] [-c COUNT] [-W] [-q]
  [-v] [...format options] ID EVENT`` -- wait for an event and print it.
* ``status [-v] [-j] [-e CODE] ID...`` -- wait for jobs to end; exit with
  the largest exit code.
* ``last [N|SLICE]`` -- the caller's most recently submitted job ids.

Data comes from ``job-info.lookup``, ``job-info.eventlog-watch`` and
``job-manager.history.get`` (the ``.history`` jobtap plugin); errors
are flux-job's one-line messages.
"""

import json
import os
import sys

from fluxd.cli._alarm import Alarm
from fluxd.cli._oneline import OneLineParser
from fluxd.errors import FluxError, InvalidArgument, NotFound

__all__ = ["JobInfoCommands", "cmd_info", "cmd_eventlog", "cmd_wait_event",
           "cmd_status", "cmd_last", "event_matches", "job_result",
           "parse_jobid"]

PROG = "flux-job"
#: ``-p`` short names
PATHS = {"exec": "guest.exec.eventlog", "output": "guest.output",
         "input": "guest.input"}
_JSON_DECODE, _CURRENT = 1, 2
_WAITCREATE = 1

INFO_USAGE = """\
Usage: flux job info id key
some useful keys are:
  J                    - signed jobspec
  R                    - allocated resources
  eventlog             - primary job eventlog
  jobspec              - job specification
  guest.exec.eventlog  - execution eventlog
  guest.input          - job input log
  guest.output         - job output log
Use flux job info -h to list available options
"""


def parse_jobid(text):
    """A job id in any RFC 19 encoding.

    :raises InvalidArgument: ``error parsing jobid: "X"``.
    """
    from fluxd.formats import fluid
    try:
        return fluid.decode(text)
    except InvalidArgument:
        raise InvalidArgument(f'error parsing jobid: "{text}"') from None


def event_matches(entry, name, key=None, value=None):
    """flux's wait-event test: the event is ``name`` and, with ``key``,
    its context has ``key`` whose compact JSON (or string value) is
    ``value``."""
    if entry.get("name") != name:
        return False
    if key is None:
        return True
    context = entry.get("context")
    if not isinstance(context, dict) or key not in context:
        return False
    have = context[key]
    return (json.dumps(have, separators=(",", ":")) == value
            or (isinstance(have, str) and have == value))


def job_result(jobid, entries):
    """The result ``flux job status -j`` prints (flux_job_result()), from
    the job's eventlog entries."""
    res = {"id": jobid, "exception_occurred": False}
    for entry in entries:
        name, ts = entry.get("name"), entry.get("timestamp")
        ctx = entry.get("context") or {}
        if name == "submit":
            res["t_submit"] = ts
        elif name == "alloc":
            res["t_run"] = ts
        elif name == "finish":
            res["t_cleanup"] = ts
            res["waitstatus"] = ctx.get("status")
        elif name == "exception":
            sev = ctx.get("severity")
            if res["exception_occurred"] and \
                    res["exception_severity"] <= sev:
                continue    # keep the most severe, the first of equals
            res.update(exception_occurred=True,
                       exception_type=ctx.get("type"),
                       exception_note=ctx.get("note", ""),
                       exception_severity=sev)
    from fluxd.job.jobs import CANCELED, COMPLETED, FAILED, TIMEOUT
    if res.get("t_run", -1.0) > 0 and res.get("waitstatus") == 0:
        res["result"] = COMPLETED
    elif res["exception_occurred"] and res.get("exception_type") == "cancel":
        res["result"] = CANCELED
    elif res["exception_occurred"] and res.get("exception_type") == "timeout":
        res["result"] = TIMEOUT
    else:
        res["result"] = FAILED
    return res


def _exit_code(status):
    """A wait status as a shell's exit code (none: 0)."""
    if status is None or status < 0:
        return 0
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _color_args(argv):
    """``-L[WHEN]`` and ``--color[=WHEN]`` as flux's optparse reads them
    (the value only when attached), rewritten as ``--color=WHEN``."""
    out = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out):])
            break
        if arg in ("-L", "--color"):
            arg = "--color=always"
        elif arg.startswith("-L"):
            arg = "--color=" + arg[2:]
        out.append(arg)
    return out


def _formatter_options(p):
    p.add_argument("-f", "--format", default="text", metavar="FORMAT",
                   help="Specify output format: text, json")
    p.add_argument("-T", "--time-format", default="raw", metavar="FORMAT",
                   help="Specify time format: raw, iso, offset")
    p.add_argument("-H", "--human", action="store_true",
                   help="Display human-readable output")
    p.add_argument("--color", default="auto", metavar="WHEN",
                   help="-L[WHEN], --color[=WHEN]: colorize output when"
                   " supported; WHEN can be 'always' (default if omitted),"
                   " 'never', or 'auto' (default)")
    p.add_argument("-p", "--path", default="eventlog", metavar="PATH",
                   help="Specify alternate eventlog name or path suffix"
                   " (e.g. \"exec\", \"output\", or \"guest.exec.eventlog\")")


class JobInfoCommands:
    """The subcommands, with their streams and broker connection
    injectable.

    :param connect: callable returning a broker handle (default
        :class:`fluxd.client.sync.Flux`).
    :param getuid: callable returning the caller's uid.
    """

    def __init__(self, stdout=None, stderr=None, connect=None,
                 getuid=os.getuid):
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._connect = connect
        self.getuid = getuid

    def handle(self):
        """A new broker connection."""
        if self._connect is None:
            from fluxd.client.sync import Flux
            self._connect = Flux
        return self._connect()

    def log(self, message):
        """Print ``flux-job: message`` on stderr."""
        self.stderr.write(f"{PROG}: {message}\n")

    # -- info -----------------------------------------------------------------

    def info(self, argv):
        """``flux job info``; returns the exit code."""
        p = OneLineParser(prog=f"{PROG} info", add_help=True)
        p.add_argument("-o", "--original", action="store_true",
                       help="For key \"jobspec\", return the original"
                       " submitted jobspec")
        p.add_argument("-b", "--base", action="store_true",
                       help="For key \"jobspec\" or \"R\", do not apply"
                       " updates from eventlog")
        p.add_argument("args", nargs="*")
        args = p.parse_intermixed_args(argv)
        if len(args.args) != 2:
            self.stderr.write(INFO_USAGE)
            return 1
        jobid = parse_jobid(args.args[0])
        key = args.args[1]
        with self.handle() as h:
            if args.original and key == "jobspec":
                signed = self._lookup(h, jobid, "J", 0)
                from fluxd.security.sign import unwrap
                try:
                    payload, _, _ = unwrap(signed)
                except InvalidArgument as exc:
                    raise FluxError("Failed to unwrap J to get jobspec:"
                                    f" {exc}") from None
                value = payload.decode("utf-8", errors="replace")
            elif not args.base and key in ("R", "jobspec"):
                value = self._lookup(h, jobid, key, _CURRENT)
            else:
                value = self._lookup(h, jobid, key, 0)
        self.stdout.write(value + "\n")
        return 0

    @staticmethod
    def _lookup(h, jobid, key, flags):
        answer = h.rpc("job-info.lookup", {"id": jobid, "keys": [key],
                                           "flags": flags})
        return answer[key]

    # -- eventlog, wait-event -----------------------------------------------

    def _formatter(self, args):
        from fluxd.formats.eventlog import TIME_FORMATS, EventlogFormatter
        entry_format, time_format = args.format, args.time_format
        color = args.color
        if args.human:
            entry_format, time_format, color = "text", "human", "auto"
        if entry_format not in ("text", "json"):
            raise InvalidArgument(f"invalid format type '{entry_format}'")
        if time_format.lower() not in TIME_FORMATS + ("reltime",):
            raise InvalidArgument(f"invalid time-format type"
                                  f" '{time_format}'")
        if color not in ("always", "never", "auto"):
            raise InvalidArgument(f"invalid value: --color={color}")
        if color == "auto":
            color = self.stdout.isatty()
        return EventlogFormatter(time_format, entry_format,
                                 color=color == "always" or color is True)

    def _not_found(self, text, path):
        if path == "eventlog":
            return NotFound(f"job {text} not found")
        return NotFound(f"eventlog path {path} not found")

    def eventlog(self, argv):
        """``flux job eventlog``; returns the exit code."""
        p = OneLineParser(prog=f"{PROG} eventlog")
        _formatter_options(p)
        p.add_argument("-F", "--follow", action="store_true",
                       help="Follow events until the job is inactive")
        p.add_argument("id")
        args = p.parse_args(_color_args(argv))
        jobid = parse_jobid(args.id)
        path = PATHS.get(args.path, args.path)
        evf = self._formatter(args)
        from fluxd.formats.eventlog import decode
        with self.handle() as h:
            try:
                if args.follow:
                    for response in h.stream(
                            "job-info.eventlog-watch",
                            {"id": jobid, "path": path, "flags": 0}):
                        self._print(evf, response["event"])
                else:
                    text = self._lookup(h, jobid, path, 0)
                    for entry in decode(text):
                        self._print(evf, entry)
            except NotFound:
                raise self._not_found(args.id, path) from None
        return 0

    def _print(self, evf, entry):
        self.stdout.write(evf.format(entry) + "\n")
        self.stdout.flush()

    def wait_event(self, argv):
        """``flux job wait-event``; returns the exit code."""
        p = OneLineParser(prog=f"{PROG} wait-event")
        _formatter_options(p)
        p.add_argument("-t", "--timeout", metavar="DURATION",
                       help="timeout after DURATION")
        p.add_argument("-m", "--match-context", metavar="KEY=VAL",
                       help="match key=val in context")
        p.add_argument("-c", "--count", type=int, default=1, metavar="COUNT",
                       help="required number of matches (default 1)")
        p.add_argument("-q", "--quiet", action="store_true",
                       help="Do not output matched event")
        p.add_argument("-v", "--verbose", action="store_true",
                       help="Output all events before matched event")
        p.add_argument("-W", "--waitcreate", action="store_true",
                       help="If path does not exist, wait for its creation")
        p.add_argument("id")
        p.add_argument("event")
        args = p.parse_args(_color_args(argv))
        jobid = parse_jobid(args.id)
        path = PATHS.get(args.path, args.path)
        if args.count <= 0:
            raise InvalidArgument("count must be > 0")
        timeout = None
        if args.timeout is not None:
            from fluxd.formats.fsd import parse_fsd
            timeout = parse_fsd(args.timeout)
        evf = self._formatter(args)
        key = value = None
        if args.match_context is not None:
            key, sep, value = args.match_context.partition("=")
            if not sep:
                raise InvalidArgument("must specify a context test as"
                                      " key=value")
        from fluxd.formats.eventlog import decode_entry
        matched = 0
        with self.handle() as h, Alarm(
                timeout, f"wait-event timeout on event '{args.event}'"):
            try:
                for response in h.stream(
                        "job-info.eventlog-watch",
                        {"id": jobid, "path": path,
                         "flags": _WAITCREATE if args.waitcreate else 0}):
                    entry = decode_entry(response["event"])
                    if evf.t0 is None:
                        evf.t0 = float(entry["timestamp"])
                    if event_matches(entry, args.event, key, value):
                        matched += 1
                        if matched == args.count:
                            if not args.quiet:
                                self._print(evf, entry)
                            return 0
                    if args.verbose:
                        self._print(evf, entry)
            except NotFound:
                raise self._not_found(args.id, path) from None
        raise FluxError(f"event '{args.event}' never received")

    # -- status -------------------------------------------------------------

    def status(self, argv):
        """``flux job status``; returns the largest exit code."""
        p = OneLineParser(prog=f"{PROG} status")
        p.add_argument("-v", "--verbose", action="count", default=0,
                       help="Increase verbosity")
        p.add_argument("-e", "--exception-exit-code", type=int, default=1,
                       metavar="N",
                       help="Set the default exit code for any jobs that"
                       " terminate solely due to an exception to N"
                       " [default=1]")
        p.add_argument("-j", "--json", action="store_true",
                       help="Dump job result information gleaned from"
                       " eventlog to stdout")
        p.add_argument("ids", nargs="+", metavar="id")
        args = p.parse_args(argv)
        jobids = [(parse_jobid(text), text) for text in args.ids]
        if args.verbose and len(jobids) > 1:
            self.log(f"fetching status for {len(jobids)} jobs")
        from fluxd.formats.eventlog import decode_entry
        results = []
        with self.handle() as h:
            for jobid, text in jobids:
                try:
                    entries = [decode_entry(r["event"]) for r in h.stream(
                        "job-info.eventlog-watch",
                        {"id": jobid, "path": "eventlog", "flags": 0})]
                except NotFound:
                    results.append((text, None))
                    continue
                results.append((text, job_result(jobid, entries)))
        if args.verbose and len(jobids) > 1:
            self.log("all done.")
        exit_code = 0
        for text, res in results:
            if res is None:
                raise NotFound(f"{text}: No such job")
            if args.json:
                self.stdout.write(json.dumps(res, separators=(",", ":"))
                                  + "\n")
            exit_code = self._account(args, text, res, exit_code)
        return exit_code

    def _account(self, args, text, res, exit_code):
        status = res.get("waitstatus")
        code = _exit_code(status)
        exit_code = max(exit_code, code)
        fatal = res["exception_occurred"] and res["exception_severity"] == 0
        if fatal and args.exception_exit_code > exit_code:
            exit_code = args.exception_exit_code
        if args.verbose:
            if status is not None and status >= 0 and \
                    os.WIFSIGNALED(status):
                self.log(f"{text}: job shell died by signal"
                         f" {os.WTERMSIG(status)}")
            elif args.verbose > 1 or code != 0:
                if fatal:
                    self.log(f"{text}: exception"
                             f" type={res['exception_type']}")
                else:
                    self.log(f"{text}: exited with exit code {code}")
        return exit_code

    # -- last ---------------------------------------------------------------

    def last(self, argv):
        """``flux job last [N|SLICE]``; prints job ids, most recent
        first."""
        p = OneLineParser(prog=f"{PROG} last")
        p.add_argument("slice", nargs="?", default="[:1]",
                       metavar="N|SLICE")
        args = p.parse_args(argv)
        text = args.slice
        if "[" not in text:
            try:
                text = f"[:{int(text)}]"
            except ValueError:
                raise InvalidArgument(f"invalid argument '{text}': expected"
                                      " N or [SLICE]") from None
        with self.handle() as h:
            # the job manager's .history plugin, as flux-core's
            jobs = h.rpc("job-manager.history.get", {"slice": text})["jobs"]
        if not jobs:
            raise FluxError("job history is empty")
        from fluxd.formats import fluid
        for jobid in jobs:
            self.stdout.write(fluid.encode(jobid, "f58") + "\n")
        return 0


def cmd_info(argv):
    """``flux job info``."""
    return JobInfoCommands().info(argv)


def cmd_eventlog(argv):
    """``flux job eventlog``."""
    return JobInfoCommands().eventlog(argv)


def cmd_wait_event(argv):
    """``flux job wait-event``."""
    return JobInfoCommands().wait_event(argv)


def cmd_status(argv):
    """``flux job status``."""
    return JobInfoCommands().status(argv)


def cmd_last(argv):
    """``flux job last``."""
    return JobInfoCommands().last(argv)
