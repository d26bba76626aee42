# -*- test-case-name: tests.unit.cli.test_cmd_jobs -*-
"""``flux jobs``: list jobs (spec/cli.md section 3).

By default the current user's pending and running jobs; ``-a`` adds
inactive ones, ``-A``/``-u all`` every user's, ``-f STATE|RESULT,...``
chooses states and results (``pending,failed`` means either), ``--since``
inactive jobs that ended after a time, ``--name``, ``-q QUEUE,...`` and
``-i HOSTS|RANKS`` narrow the selection, ``-c N`` limits it (1000; 0 for
no limit: a warning says when output was cut).  JOBID arguments list just
those jobs (``JobID X unknown`` for the others; exit 1 when none is
known).  The jobs come from ``job-list.list`` (or ``job-list.list-id``
per JOBID) with only the attributes the format needs.

Output goes through the ``-o`` mini-language (:mod:`fluxd.cli.formatting`,
imported only when rows are printed) with flux's named formats
``default``, ``cute``, ``long``, ``deps`` and ``endreason``, ``--sort``,
``-n``, ``-w N``, ``--color``; ``--json`` prints the jobs as JSON
instead, ``--stats``/``--stats-only`` the counts of ``job-list.job-stats``.
``-R`` also lists, below the jobs, the jobs of each of the user's running
jobs that is a Flux instance (a ``uri`` memo), under a ``PATH:`` line
(``ƒID``, ``ƒID/ƒID2``...), down ``-L N`` levels; ``--recurse-all``
descends into other users' instances too; with ``--json`` each instance
job gets a ``jobs`` array.  With color, instance jobs are blue.
The job model is :mod:`fluxd.cli._jobinfo`.

Errors are one line, ``flux-jobs: ERROR: ...``, exit 1.
"""

import argparse
import json
import os
import pwd
import sys
import time

from fluxd.cli._jobinfo import JobInfo, fields_to_attrs
from fluxd.errors import FluxError, InvalidArgument, NotFound
from fluxd.job.jobs import (
    ACTIVE, CANCELED, CLEANUP, COMPLETED, DEPEND, FAILED, INACTIVE, PENDING,
    PRIORITY, RUN, RUNNING, SCHED, TIMEOUT)

__all__ = ["main", "JobsCommand", "FORMATS", "parse_when"]

PROG = "flux-jobs"
USERID_ANY = 0xFFFFFFFF

_BASE = "{id.f58:>12} ?:{queue:<8.8} +:{username:<8} {name:<10.10+} "
#: flux's built-in named formats
FORMATS = {
    "default": {
        "description": "Default flux-jobs format string",
        "format": _BASE + "{status_abbrev:>2.2} {ntasks:>6} {nnodes:>6h} "
                  "{contextual_time!F:>8h} {contextual_info}",
    },
    "cute": {
        "description": "Cute flux-jobs format string (default with emojis)",
        "format": _BASE + "{status_emoji:>5.5} {ntasks:>6} {nnodes:>6h} "
                  "{contextual_time!F:>8h} {contextual_info}",
    },
    "long": {
        "description": "Extended flux-jobs format string",
        "format": _BASE + "{status:>9.9} {ntasks:>6} {nnodes:>6h} "
                  "{t_submit!d:%b%d %R::>12} {t_remaining!F:>12h} "
                  "{contextual_time!F:>8h} {contextual_info}",
    },
    "deps": {
        "description": "Show job urgency, priority, and dependencies",
        "format": "{id.f58:>12} ?:{queue:<8.8} {name:<10.10+} {urgency:<3} "
                  "{priority:<12} {state:<8.8} {dependencies}",
    },
    "endreason": {
        "description": "Show why each job ended",
        "format": _BASE + "{status_abbrev:>2.2} "
                  "{t_inactive!d:%b%d %R::>12h} {inactive_reason}",
    },
}

_STATES = {"depend": DEPEND, "priority": PRIORITY, "sched": SCHED,
           "run": RUN, "cleanup": CLEANUP, "inactive": INACTIVE,
           "pending": PENDING, "running": RUNNING, "active": ACTIVE}
_RESULTS = {"completed": COMPLETED, "failed": FAILED, "canceled": CANCELED,
            "timeout": TIMEOUT}
_COLORS = {"COMPLETED": "\033[01;32m", "FAILED": "\033[01;31m",
           "CANCELED": "\033[37m", "TIMEOUT": "\033[01;31m"}
#: flux's color of a job that is an instance (a ``uri``, no result yet)
_INSTANCE_COLOR = "\033[01;34m"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InvalidArgument(message)


class _Filter(argparse.Action):
    """An option that selects jobs (ignored, with a warning, for JOBIDs)."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.filtered = True
        if self.dest == "user":
            namespace.filtereduser = True
        if self.nargs == 0:
            values = True
        elif self.dest in ("filter", "queue"):
            values = getattr(namespace, self.dest) + [
                v for v in values.split(",") if v]
        setattr(namespace, self.dest, values)


def _count(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'") \
            from None


def build_parser():
    """:returns: the ``flux jobs`` argument parser."""
    p = _Parser(prog=PROG, add_help=True)
    p.add_argument("-a", action=_Filter, nargs=0, default=False,
                   help="List jobs in all states")
    p.add_argument("-A", action=_Filter, nargs=0, default=False,
                   help="List all jobs for all users")
    p.add_argument("-c", "--count", action=_Filter, type=_count,
                   default=1000, metavar="N",
                   help="Limit output to N jobs (default 1000)")
    p.add_argument("-f", "--filter", action=_Filter, default=[],
                   metavar="STATE|RESULT",
                   help="List jobs with specific job state or result")
    p.add_argument("--since", action=_Filter, metavar="WHEN",
                   help="Include jobs that have become inactive since WHEN"
                   " (implies -a if no other --filter option is specified)")
    p.add_argument("-n", "--no-header", "--suppress-header",
                   action="store_true", help="Suppress printing of header")
    p.add_argument("-u", "--user", action=_Filter, metavar="[USERNAME|UID]",
                   help="Limit output to specific username or userid"
                   " (Specify \"all\" for all users)")
    p.add_argument("--name", action=_Filter, metavar="JOB-NAME",
                   help="Limit output to specific job name")
    p.add_argument("-q", "--queue", action=_Filter, default=[],
                   metavar="QUEUE,...",
                   help="Limit output to specific queue or queues")
    p.add_argument("-i", "--include", metavar="HOSTS|RANKS",
                   help="Limit output to jobs that were allocated to the"
                   " specified HOSTS or RANKS")
    p.add_argument("-o", "--format", default="default", metavar="FORMAT",
                   help="Specify output format using Python's string format"
                   " syntax or a defined format by name (use 'help' to get"
                   " a list of names)")
    p.add_argument("--sort", default="", metavar="KEY,...",
                   help="Specify sort order")
    p.add_argument("-w", "--width", type=_count, default=-1, const=0,
                   nargs="?", metavar="N",
                   help="Truncate output at width N (0: terminal width)")
    p.add_argument("--json", action="store_true",
                   help="Output jobs in JSON instead of formatted output")
    p.add_argument("--color", metavar="WHEN", nargs="?", const="always",
                   default="auto", choices=["never", "always", "auto"],
                   help="Colorize output; WHEN can be 'never', 'always',"
                   " or 'auto' (default)")
    p.add_argument("-R", "--recursive", action="store_true",
                   help="List jobs recursively")
    p.add_argument("-L", "--level", type=_count, default=9999, metavar="N",
                   help="With --recursive, only descend N levels")
    p.add_argument("--recurse-all", action="store_true",
                   help="With --recursive, attempt to recurse all jobs,"
                   " not just jobs of current user")
    p.add_argument("--stats", action="store_true",
                   help="Print job statistics before header")
    p.add_argument("--stats-only", action="store_true",
                   help="Print job statistics only and exit (non-zero"
                   " status if there are no active jobs)")
    p.add_argument("jobids", metavar="JOBID", nargs="*",
                   help="Limit output to specific Job IDs")
    p.add_argument("--from-stdin", action="store_true",
                   help=argparse.SUPPRESS)
    p.set_defaults(filtered=False, filtereduser=False)
    return p


def parse_when(text, now):
    """``--since WHEN`` as a timestamp.

    WHEN is ``-FSD`` (that long ago), ``+FSD`` (from now), ``now``,
    ``today``, ``yesterday``, a timestamp, or an ISO 8601 date or date and
    time (local time unless it names a zone).

    :raises InvalidArgument: for anything else.
    """
    from fluxd.formats.fsd import parse_fsd
    text = text.strip()
    if text[:1] in ("-", "+"):
        try:
            offset = parse_fsd(text[1:])
        except InvalidArgument:
            offset = None
        if offset is not None:
            return now - offset if text[0] == "-" else now + offset
    lowered = text.lower()
    if lowered == "now":
        return now
    if lowered in ("today", "yesterday"):
        midnight = time.mktime(time.localtime(now)[:3] + (0, 0, 0, 0, 0, -1))
        return midnight - (86400 if lowered == "yesterday" else 0)
    try:
        return float(text)
    except ValueError:
        pass
    from datetime import datetime
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise InvalidArgument(f"--since: invalid datetime '{text}'") \
            from None


def _parse_user(text):
    if text == "all":
        return USERID_ANY
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        pass
    try:
        userid = int(text)
    except ValueError:
        raise InvalidArgument(f"Invalid user {text} specified") from None
    if not 0 <= userid < USERID_ANY:
        raise InvalidArgument(f"Invalid user {text} specified")
    return userid


def _parse_filters(names):
    states = results = 0
    for name in names:
        name = name.lower()
        if name in _STATES:
            states |= _STATES[name]
        elif name in _RESULTS:
            results |= _RESULTS[name]
        else:
            raise InvalidArgument(f"Invalid filter specified: {name}")
    return states, results


class JobsCommand:
    """``flux jobs`` with its streams, environment, clock and broker
    connection injectable.

    :param connect: callable returning a broker handle (default
        :class:`fluxd.client.sync.Flux`).
    :param now: callable returning the time.
    :param getuid: callable returning the caller's uid.
    """

    def __init__(self, stdin=None, stdout=None, stderr=None, environ=None,
                 connect=None, now=time.time, getuid=os.getuid):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.environ = os.environ if environ is None else environ
        self._connect = connect
        self._handle = None
        self.now = now
        self.getuid = getuid

    def handle(self):
        """The broker connection, opened on first use."""
        if self._handle is None:
            if self._connect is None:
                from fluxd.client.sync import Flux
                self._connect = Flux
            self._handle = self._connect()
        return self._handle

    def warn(self, message):
        """Print ``flux-jobs: WARNING: message``."""
        self.stderr.write(f"{PROG}: WARNING: {message}\n")

    def run(self, argv):
        """Parse ``argv`` and list; returns the exit code.

        :raises FluxError: for bad input or a broker error.
        """
        args = build_parser().parse_args(argv)
        try:
            return self._run(args)
        finally:
            if self._handle is not None:
                self._handle.close()

    def _run(self, args):
        if args.json and (args.stats or args.stats_only):
            raise InvalidArgument("--json incompatible with --stats or"
                                  " --stats-only")
        jobids = [self._jobid(text) for text in args.jobids]
        args.recursive = args.recursive or args.recurse_all
        if jobids and args.filtered and not args.recursive:
            self.warn("Filtering options ignored with jobid list")
        if args.stats or args.stats_only:
            stats = self._stats(args.queue)
            self.stdout.write(
                f"{stats['running']} running, {stats['successful']}"
                f" completed, {stats['failed']} failed, {stats['pending']}"
                f" pending, {stats['inactive_purged']} inactive purged\n")
            if args.stats_only:
                return 0 if stats["active"] else 1
        if args.json:
            records, _ = self._fetch(args, jobids, ["all"])
            if jobids and not records:
                return 1
            jobs = self._json_jobs(args, records, 0)
            if len(jobids) == 1:
                out = json.dumps(jobs[0])
            else:
                out = json.dumps({"jobs": jobs})
            self.stdout.write(out + "\n")
            return 0
        return self._print(args, jobids)

    def _jobid(self, text):
        from fluxd.formats import fluid
        try:
            return fluid.decode(text), text
        except InvalidArgument:
            raise InvalidArgument(f"argument JOBID: invalid JobID value:"
                                  f" '{text}'") from None

    def _formatter(self, args):
        """The format to print with, or None after ``-o help``."""
        from fluxd.cli.formatting import FormatConfig
        config = FormatConfig("flux-jobs", FORMATS,
                              environ=self.environ).load()
        text = config.describe(args.format)
        if text is not None:
            self.stdout.write(text)
            return None
        fmt = config.get_format_string(args.format)
        import string
        from fluxd.cli._jobinfo import headings_for
        from fluxd.cli.formatting import Formatter
        # annotations.X, sched.X and user.X get headings as they are used,
        # in the format or as sort keys
        keys = args.sort.split(",")
        if fmt.startswith("sort:"):
            keys += fmt.split(None, 1)[0][len("sort:"):].split(",")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(fmt) if f]
            formatter = Formatter(fmt, headings_for(
                fields + [k.lstrip("-") for k in keys if k]))
        except (InvalidArgument, ValueError) as exc:
            raise InvalidArgument(f"Error in user format: {exc}") from None
        if args.sort:
            formatter.set_sort_keys(args.sort)
        return formatter

    def _print(self, args, jobids):
        formatter = self._formatter(args)
        if formatter is None:
            return 0
        # as flux: color needs the result and the uri, -R the owner too
        extra = ["result", "annotations"] if args.color != "never" else []
        if args.recursive:
            extra += ["annotations", "status", "userid"]
        attrs = fields_to_attrs(formatter.fields + extra)
        records, truncated = self._fetch(args, jobids, attrs)
        if jobids and not records:
            return 1
        jobs = self._jobinfos(records, formatter.fields)
        width = self._width(args.width)
        color = args.color == "always" or (args.color == "auto"
                                           and self.stdout.isatty())
        # the ?: and +: columns are sized for these jobs
        final = type(formatter)(formatter.filter(jobs,
                                                 no_header=args.no_header),
                                headings=formatter.headings)
        if not args.no_header:
            self._line(final.header(), width)
        self._lines(args, formatter.sort_items(jobs),
                    (final, width, color, attrs), "", 0)
        if not args.no_header and truncated:
            self.stderr.write(f"warning: output truncated at {args.count}"
                              " jobs.\nUse --count to increase returned"
                              " results or use filters to alter results.\n")
        return 0

    def _lines(self, args, jobs, output, path, level):
        """Print ``jobs``, then (``-R``) the jobs of the instances among
        them under a ``PATH:`` line each."""
        final, width, color, attrs = output
        children = []
        for job in jobs:
            line = final.format(job)
            if not line or line.isspace():
                continue
            shade = _COLORS.get(job.result) or (
                _INSTANCE_COLOR if job.uri else None)
            self._line(line, width, shade if color else None)
            if args.recursive and self._descend(args, job):
                children.append(job)
        if not args.recursive or args.level == level:
            return
        for job in children:
            fetched = self._child_jobs(args, job, attrs)
            if fetched is None:
                continue
            records, stats = fetched
            here = f"{path}{job.id.f58}"
            self.stdout.write(f"\n{here}:\n")
            if stats is not None:
                self.stdout.write(
                    f"{stats['running']} running, {stats['successful']}"
                    f" completed, {stats['failed']} failed,"
                    f" {stats['pending']} pending\n")
            self._lines(args, self._jobinfos(records, final.fields),
                        output, here + "/", level + 1)

    def _jobinfos(self, records, fields):
        """The :class:`JobInfo` of ``records``; asked about the instance
        each one runs when ``fields`` has ``instance.*`` ones."""
        jobs = [JobInfo(r, now=self.now) for r in records]
        if any(f.startswith("instance.") for f in fields):
            from fluxd.cli._instance import attach
            connect = self._connect
            if connect is None:
                from fluxd.client.sync import Flux as connect
            for job in jobs:
                attach(job, connect)
        return jobs

    def _descend(self, args, job):
        """Whether ``-R`` lists the jobs of ``job``: a running instance
        of the user (any user's with ``--recurse-all``)."""
        return bool(job.uri) and job.status_abbrev == "R" and (
            args.recurse_all or job.userid == self.getuid())

    def _child_jobs(self, args, job, attrs):
        """``(records, stats)`` of the instance ``job`` runs, or None
        when it cannot be reached (gone, not the user's)."""
        saved, self._handle = self._handle, None
        connect = self._connect
        if connect is None:
            from fluxd.client.sync import Flux as connect
        try:
            self._handle = connect(job.uri)
            records, _ = self._fetch(args, [], attrs)
            stats = self._stats(args.queue) if args.stats else None
            return records, stats
        except FluxError:
            return None
        finally:
            if self._handle is not None:
                self._handle.close()
            self._handle = saved

    def _json_jobs(self, args, records, level):
        """``--json`` dicts of ``records``; with ``-R`` an instance's
        dict has its own jobs as ``jobs``."""
        result = []
        for record in records:
            job = JobInfo(record, now=self.now)
            entry = job.to_dict()
            if args.recursive and args.level != level \
                    and self._descend(args, job):
                fetched = self._child_jobs(args, job, ["all"])
                if fetched is not None:
                    entry["jobs"] = self._json_jobs(args, fetched[0],
                                                    level + 1)
            result.append(entry)
        return result

    def _fetch(self, args, jobids, attrs):
        """``(records, truncated)``: the job-list records to show."""
        if args.from_stdin:
            return self._from_stdin(), False
        if jobids:
            h = self.handle()
            records = []
            for jobid, text in jobids:
                try:
                    records.append(h.rpc("job-list.list-id",
                                         {"id": jobid, "attrs": attrs})["job"])
                except NotFound:
                    self.stderr.write(f"JobID {text} unknown\n")
                except FluxError as exc:
                    self.stderr.write(f"rpc: {exc}\n")
            return records, False
        payload = self._query(args, attrs)
        jobs = self.handle().rpc("job-list.list", payload)["jobs"]
        if args.count > 0 and len(jobs) > args.count:
            return jobs[:args.count], True
        return jobs, False

    def _query(self, args, attrs):
        """The ``job-list.list`` payload for the selection options."""
        if args.A:
            userid = USERID_ANY
        elif args.user is not None:
            userid = _parse_user(args.user)
        else:
            userid = self.getuid()
        since = 0.0
        filters = list(args.filter)
        if args.since is not None:
            now = self.now()
            since = parse_when(args.since, now)
            if since > now:
                raise InvalidArgument(f"--since={args.since} appears to be"
                                      " in the future")
            if not filters:
                args.a = True
        if args.a:
            if filters:
                self.warn("Both -a and --filter specified, ignoring -a")
            else:
                filters = ["pending", "running", "inactive"]
        states, results = _parse_filters(filters or ["pending", "running"])
        payload = {"max_entries": args.count + 1 if args.count > 0
                   else args.count,
                   "attrs": attrs, "userid": userid, "states": states,
                   "results": results, "since": since}
        if args.name is not None:
            payload["name"] = args.name
        if args.queue:
            payload["queue"] = list(args.queue)
        if args.include:
            payload.update(_include(args.include))
            if not args.filtereduser:
                payload["userid"] = USERID_ANY
        return payload

    def _from_stdin(self):
        records = []
        for lineno, line in enumerate(self.stdin, 1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or "id" not in record:
                    raise ValueError("expected a job object with an id")
            except ValueError as exc:
                raise InvalidArgument(f"JSON input error: line {lineno}:"
                                      f" {exc}") from None
            records.append(record)
        return records

    def _stats(self, queues):
        """``job-list.job-stats`` with flux's derived counts, for the
        queues named (all jobs when none)."""
        answer = self.handle().rpc("job-list.job-stats", {})
        if queues:
            per = {q.get("name"): q for q in answer.get("queues", [])}
            parts = []
            for name in queues:
                if name not in per:
                    raise InvalidArgument("error retrieving job stats: no"
                                          f" stats available for queue"
                                          f" {name}")
                parts.append(per[name])
        else:
            parts = [answer]
        total = {}
        for part in parts:
            for key, value in part.get("job_states", {}).items():
                total[key] = total.get(key, 0) + value
            for key in ("successful", "failed", "timeout", "canceled",
                        "inactive_purged"):
                total[key] = total.get(key, 0) + part.get(key, 0)
        get = total.get
        return {"pending": get("depend", 0) + get("priority", 0)
                + get("sched", 0),
                "running": get("run", 0) + get("cleanup", 0),
                "active": get("total", 0) - get("inactive", 0),
                "successful": get("successful", 0),
                "failed": get("failed", 0) + get("timeout", 0)
                + get("canceled", 0),
                "inactive_purged": get("inactive_purged", 0)}

    def _width(self, width):
        if width == 0:
            if not self.stdout.isatty():
                return -1
            return os.get_terminal_size(self.stdout.fileno()).columns
        return width

    def _line(self, line, width, color=None):
        if width > 0 and len(line) > width:
            line = line[:width - 1] + "+"
        if color:
            line = color + line + "\033[0;0m"
        self.stdout.write(line + "\n")


def _include(targets):
    """``-i HOSTS|RANKS`` as ``ranks`` or ``hosts`` of the query."""
    from fluxd.formats.idset import IDset
    try:
        return {"ranks": IDset(targets).encode()}
    except InvalidArgument:
        pass
    from fluxd.formats.hostlist import Hostlist
    try:
        return {"hosts": Hostlist(targets).encode()}
    except InvalidArgument:
        raise InvalidArgument(f"-i/--include: invalid targets: {targets}") \
            from None


def main(argv):
    """Run ``flux jobs``; errors are ``flux-jobs: ERROR: ...``, exit 1.

    :param argv: the arguments after ``jobs``.
    :returns: the exit code.
    """
    try:
        return JobsCommand().run(argv)
    except FluxError as exc:
        sys.stderr.write(f"{PROG}: ERROR: {exc}\n")
        return 1
