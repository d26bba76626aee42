# -*- test-case-name: tests.unit.cli.test_housekeeping -*-
"""``flux housekeeping``: list and kill running housekeeping
(flux-housekeeping(1); the service is :mod:`fluxd.job._housekeeping`).

``list [-i HOSTS|RANKS] [-n] [-o FORMAT]`` prints one line per job whose
resources are in housekeeping, from ``job-manager.stats-get``: the job,
the nodes it still holds, how many still run the command, for how long
(``-i`` keeps only the given ranks or hosts; jobs left with none are not
shown).  ``kill [--all] [-j JOBID] [-t RANKS|HOSTS] [-s SIGNUM]`` signals
the commands (SIGTERM by default) through ``job-manager.housekeeping-kill``
(instance owner only).  Errors print ``flux-housekeeping: ERROR: MESSAGE``
and exit 1.
"""

import time

from fluxd.cli._jobid import JobID as ParsedJobID
from fluxd.cli._jobinfo import JobID
from fluxd.cli._submit import CommandEnv, log
from fluxd.errors import FluxError, InvalidArgument
from fluxd.formats import fluid
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset

__all__ = ["HousekeepingCommand", "HousekeepingJob", "main", "FORMATS",
           "HEADINGS"]

PROG = "flux-housekeeping"

FORMATS = {
    "default": {
        "description": "Default flux-housekeeping format string",
        "format": ("{id.f58:>12} {nnodes:>6} {pending.nnodes:>7} "
                   "{runtime!F:>8} {nodelist}"),
    },
    "pending": {
        "description": "flux-housekeeping format string including active"
                       " nodes only",
        "format": ("{id.f58:>12} {pending.nnodes:>7} {runtime!F:>8}"
                   " {pending.nodelist}"),
    },
}

HEADINGS = {
    "id": "JOBID", "id.dec": "JOBID", "id.hex": "JOBID", "id.f58": "JOBID",
    "id.f58plain": "JOBID", "id.emoji": "JOBID", "id.kvs": "JOBID",
    "id.words": "JOBID", "id.dothex": "JOBID",
    "t_start": "T_START", "runtime": "RUNTIME",
    "ranks": "RANKS", "nodelist": "NODELIST", "nnodes": "NNODES",
    "allocated.ranks": "RANKS", "allocated.nodelist": "NODELIST",
    "allocated.nnodes": "NNODES",
    "pending.ranks": "ACTIVE_RANKS", "pending.nodelist": "ACTIVE_NODES",
    "pending.nnodes": "#ACTIVE",
}


class RankSet:
    """Ranks of the instance with their ``ranks``, ``nnodes`` and
    ``nodelist``."""

    def __init__(self, ranks, hostlist):
        self.ids = set(IDset(ranks))
        self.hostlist = hostlist

    @property
    def ranks(self):
        """The ranks as an idset string."""
        return IDset(sorted(self.ids)).encode() if self.ids else ""

    @property
    def nnodes(self):
        """How many ranks."""
        return len(self.ids)

    @property
    def nodelist(self):
        """The ranks' hosts as a hostlist string."""
        return Hostlist([self.hostlist[r] for r in sorted(self.ids)]).encode()


class HousekeepingJob:
    """One job's housekeeping, as ``stats-get`` reports it."""

    def __init__(self, f58, info, hostlist, now):
        self.id = JobID(fluid.decode(f58))
        self.t_start = info["t_start"]
        self.runtime = max(0.0, now - self.t_start)
        self.pending = RankSet(info["pending"], hostlist)
        self.allocated = RankSet(info["allocated"], hostlist)

    ranks = property(lambda self: self.allocated.ranks)
    nnodes = property(lambda self: self.allocated.nnodes)
    nodelist = property(lambda self: self.allocated.nodelist)

    def keep_only(self, ranks):
        """Forget the ranks not in ``ranks`` (a set of ints)."""
        self.pending.ids &= ranks
        self.allocated.ids &= ranks


class HousekeepingCommand:
    """``flux housekeeping`` with its environment injectable."""

    def __init__(self, env=None, clock=time.time):
        self.env = env or CommandEnv()
        self.clock = clock

    def build_parser(self):
        """:returns: the argument parser."""
        parser = self.env.parser(prog=PROG)
        sub = parser.add_subparsers(title="subcommands", dest="subcommand",
                                    metavar="COMMAND")
        sub.required = True
        p = sub.add_parser("list", help="List active housekeeping")
        p.add_argument("-i", "--include", metavar="HOSTS|RANKS",
                       help="Limit output to housekeeping jobs on"
                       " HOSTS|RANKS")
        p.add_argument("-n", "--no-header", action="store_true",
                       help="Suppress printing of header line")
        p.add_argument("-o", "--format", default="default", metavar="FORMAT",
                       help="Specify output format using Python's string"
                       " format syntax or a defined format by name (use"
                       " 'help' to get a list of names)")
        p = sub.add_parser("kill", help="Kill active housekeeping")
        p.add_argument("-s", "--signal", metavar="SIGNUM", type=int,
                       default=15, help="Specify signal number to send to"
                       " housekeeping task")
        p.add_argument("-t", "--targets", metavar="RANKS|HOSTS",
                       help="Only target specific ranks or hostnames")
        p.add_argument("-j", "--jobid", type=ParsedJobID,
                       help="target housekeeping tasks for this jobid")
        p.add_argument("--all", action="store_true",
                       help="kill all active housekeeping tasks")
        return parser

    def run(self, argv):
        """Parse ``argv`` and run the subcommand; returns the exit code."""
        args = self.build_parser().parse_args(argv)
        try:
            return getattr(self, "do_" + args.subcommand)(args) or 0
        except (FluxError, ValueError) as exc:
            log(self.env, PROG, "ERROR", str(exc))
            return 1
        finally:
            self.env.close()

    def _hostlist(self):
        return Hostlist(self.env.handle().rpc(
            "attr.get", {"name": "hostlist"}, nodeid=0)["value"])

    def _ranks(self, text, hostlist, strict):
        """``text``, an idset or a hostlist, as a set of ranks."""
        try:
            return set(IDset(text))
        except InvalidArgument:
            pass
        try:
            hosts = Hostlist(text)
        except InvalidArgument:
            raise InvalidArgument("--targets must be a valid Idset or"
                                  " Hostlist") from None
        ranks = set()
        for host in hosts:
            found = [i for i, name in enumerate(hostlist) if name == host]
            if not found and strict:
                raise InvalidArgument(f"didn't find {host} in instance"
                                      " hostlist")
            ranks.update(found)
        return ranks

    def do_list(self, args):
        """``flux housekeeping list``."""
        from fluxd.cli._format_config import FormatConfig
        from fluxd.cli.formatting import Deduplicator, Formatter
        config = FormatConfig(PROG, FORMATS, environ=self.env.environ).load()
        text = config.describe(args.format)
        if text is not None:
            self.env.stdout.write(text)
            return
        formatter = Formatter(config.get_format_string(args.format),
                              headings=HEADINGS)
        hostlist = self._hostlist()
        stats = self.env.handle().rpc("job-manager.stats-get", {}, nodeid=0)
        include = (self._ranks(args.include, hostlist, strict=False)
                   if args.include else None)
        jobs = Deduplicator(
            formatter, except_fields=[
                "nodelist", "ranks", "nnodes", "pending.nodelist",
                "pending.ranks", "pending.nnodes"],
            combine=_combine)
        now = self.clock()
        running = (stats.get("housekeeping") or {}).get("running") or {}
        for f58, info in running.items():
            job = HousekeepingJob(f58, info, hostlist, now)
            if include is not None:
                job.keep_only(include)
            if job.nnodes > 0:
                jobs.append(job)
        formatter.print_items(jobs, no_header=args.no_header,
                              out=self.env.stdout)

    def do_kill(self, args):
        """``flux housekeeping kill``."""
        if args.jobid is None and args.targets is None and not args.all:
            raise InvalidArgument("specify at least one of --targets,"
                                  " --jobid, or --all")
        if args.all and args.jobid is not None:
            raise InvalidArgument("do not specify --jobid with --all")
        payload = {"signum": args.signal}
        if args.jobid is not None:
            payload["jobid"] = int(args.jobid)
        if args.targets:
            ranks = self._ranks(args.targets, self._hostlist(), strict=True)
            payload["ranks"] = IDset(sorted(ranks)).encode() if ranks \
                else ""
        self.env.handle().rpc("job-manager.housekeeping-kill", payload,
                              nodeid=0)


def _combine(job, other):
    job.pending.ids |= other.pending.ids
    job.allocated.ids |= other.allocated.ids


def main(argv):
    """``flux housekeeping`` entry point."""
    return HousekeepingCommand().run(argv)
