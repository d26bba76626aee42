# -*- test-case-name: tests.unit.job.test_perilog -*-
"""Housekeeping (``[job-manager.housekeeping]``): a command run on every
rank of a job once the job is done with its resources, before the
scheduler gets them back (flux-core 0.88's job-manager housekeeping).

The job posts ``free`` and goes on to INACTIVE at once; its R stays
allocated to the scheduler while ``command`` (default ``[exec.imp, "run",
"housekeeping"]`` when ``exec.imp`` is set) runs on each rank through
the ranks' ``rexec`` services, as the instance owner, with
``FLUX_JOB_ID`` (decimal) and ``FLUX_JOB_USERID``.  ``release-after``:
unset, the resources go back (``sched.free``) when every rank is done;
``0``, each rank as it is done; a duration, those done when it has
passed since the first rank finished, then each as it is done.  With
``exit-on-first-error``, the first rank that fails terminates the
command on the others (SIGTERM, SIGKILL 60 s later).  A rank
whose command fails is logged ``housekeeping: HOST (rank R) JOBID:
nonzero exit code`` (or the signal's description) and released all the same.  Output
lines are logged at info (stdout) and error (stderr).  ``job-manager.
stats-get`` shows ``housekeeping.running``: ``{JOBID: {pending,
allocated, t_start}}`` (``flux resource status`` shows the pending ranks
as ``housekeeping``).
"""

import json
import signal

from twisted.logger import Logger

from fluxd.config import parse_duration_key
from fluxd.errors import FluxError, InvalidArgument
from fluxd.formats import fluid
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import Rv1
from fluxd.job._rankcmd import RankCommands
from fluxd.message.router import method

__all__ = ["Housekeeping", "HousekeepingMethods"]


class _Allocation:
    """The resources of one job in housekeeping."""

    def __init__(self, hk, job, R):
        self.hk = hk
        self.job = job
        self.f58 = fluid.encode(job.id, "f58")
        self.R = Rv1.decode(json.dumps(R))
        self.hosts = {r: self.R.hostname(r) for r in self.R.ranks()}
        self.pending = self.R.ranks()
        self.t_start = hk.clock.seconds()
        self.timer = None
        self.expired = False
        self.released = False
        self.cmds = RankCommands(
            hk.manager.router, hk.clock, hk.command, list(self.pending),
            {"FLUX_JOB_ID": str(job.id), "FLUX_JOB_USERID": str(job.userid)},
            on_line=self.line, on_rank=self.rank_done,
            exit_on_first_error=hk.exit_on_first_error)

    def line(self, rank, stream, text):
        if self.hk.stopping:
            return
        log = self.hk.log.error if stream == "stderr" else self.hk.log.info
        log("housekeeping: {host} (rank {rank}) {id}: {line}",
            host=self.hosts.get(rank, rank), rank=rank, id=self.f58,
            line=text)

    def rank_done(self, rank, status):
        if self.hk.stopping:
            return      # killed with the broker: nothing to give back
        if status:
            signum = status & 0x7f
            why = (signal.strsignal(signum) or f"signal {signum}"
                   if signum else "nonzero exit code")
            self.hk.log.error("housekeeping: {host} (rank {rank}) {id}:"
                              " {why}", host=self.hosts.get(rank, rank),
                              rank=rank, id=self.f58, why=why)
        self.pending.discard(rank)
        after = self.hk.release_after
        if not self.pending or after == 0 or self.expired:
            self.release()
        if self.timer is None and after and self.pending:
            self.timer = self.hk.clock.callLater(after, self.expire)

    def expire(self):
        self.expired = True
        self.release()

    def release(self):
        """Give the scheduler the ranks done and not released yet."""
        done = self.R.ranks() - self.pending
        if not done:
            return
        final = not self.pending
        self.hk.manager.sched.free(self.job, self.R.copy_ranks(done).encode(),
                                   final=final)
        self.R = self.R.exclude_ranks(done)
        self.released = True
        if final:
            if self.timer is not None and self.timer.active():
                self.timer.cancel()
            self.hk.allocations.pop(self.job.id, None)

    def info(self):
        """``{pending, allocated, t_start}`` of ``stats-get``."""
        return {"pending": str(self.pending),
                "allocated": str(self.R.ranks()), "t_start": self.t_start}


class Housekeeping:
    """The job manager's housekeeping.

    :param manager: the job manager (its router and ``sched`` link).
    :param clock: IReactorTime.
    :param config: the broker's :class:`fluxd.config.Config`.
    """

    def __init__(self, manager, clock, config):
        #: the job manager's log (dmesg shows ``job-manager``)
        self.log = Logger(namespace="fluxd.job.housekeeping", source=manager)
        self.manager = manager
        self.clock = clock
        self.allocations = {}
        self.stopping = False
        self.configure(config)

    def configure(self, config):
        """Follow ``[job-manager.housekeeping]`` (running ones go on)."""
        self.command = None
        self.release_after = None
        self.exit_on_first_error = bool(config.get(
            "job-manager.housekeeping.exit-on-first-error", False))
        if not config.is_set("job-manager.housekeeping"):
            return
        self.command = config.get("job-manager.housekeeping.command", None)
        if config.is_set("job-manager.housekeeping.release-after"):
            self.release_after = parse_duration_key(
                config, "job-manager.housekeeping.release-after")

    def start(self, job, R):
        """Housekeep ``job``'s resources ``R``.

        :returns: False when housekeeping is not configured (the caller
            frees R itself).
        """
        if not self.command or not R:
            return False
        alloc = _Allocation(self, job, R)
        self.allocations[job.id] = alloc
        alloc.cmds.start()
        return True

    def held(self):
        """The R (:class:`~fluxd.formats.rv1.Rv1`) not given back yet."""
        return [alloc.R for alloc in self.allocations.values()]

    def hello_jobs(self):
        """The jobs whose whole R housekeeping holds, for a scheduler's
        hello (one that got part of a job's R back cannot be told of the
        rest: its R in the KVS is the whole; that part stays lost to the
        restarted scheduler, as flux-core's does without ``partial-ok``,
        and is logged)."""
        jobs = []
        for alloc in self.allocations.values():
            if alloc.released:
                self.log.error("housekeeping: {id}: ranks {ranks} not"
                               " given to the restarted scheduler (partly"
                               " released)", id=alloc.f58,
                               ranks=str(alloc.R.ranks()))
            else:
                jobs.append(alloc.job)
        return jobs

    def stats(self):
        """``{running: {JOBID: {pending, allocated, t_start}}}``."""
        return {"running": {a.f58: a.info()
                            for a in self.allocations.values()}}

    def kill(self, signum, jobid=None, ranks=None):
        """Signal the running commands: of job ``jobid`` (None: of every
        job), on ``ranks`` (a set of ints; None: on every rank)."""
        for alloc in list(self.allocations.values()):
            if jobid is None or alloc.job.id == jobid:
                alloc.cmds.signal(signum, ranks)

    def stop(self):
        """The broker stops: kill what still runs, quietly (the
        resources are not housekept across a restart)."""
        self.stopping = True
        for alloc in self.allocations.values():
            alloc.cmds.cancel()


class HousekeepingMethods:
    """Mixin of :class:`~fluxd.job.manager.JobManagerService`:
    ``job-manager.housekeeping-kill`` (flux-housekeeping(1) ``kill``)."""

    @method("housekeeping-kill")
    def rpc_housekeeping_kill(self, request):
        """``{signum, jobid?, ranks?}``: signal the housekeeping commands
        of one job (or all), on some ranks (an idset; or all)."""
        body = request.json()
        signum, jobid, ranks = (body.get("signum"), body.get("jobid"),
                                body.get("ranks"))
        if not isinstance(signum, int) or isinstance(signum, bool) \
                or not 0 < signum < 65:
            raise InvalidArgument("invalid signal number")
        if jobid is not None and (not isinstance(jobid, int)
                                  or isinstance(jobid, bool)):
            raise InvalidArgument("jobid must be an integer")
        chosen = None
        if ranks is not None:
            try:
                chosen = set(IDset(ranks))
            except (FluxError, ValueError, TypeError):
                raise InvalidArgument(f"invalid idset: {ranks!r}") from None
        self.housekeeping.kill(signum, jobid, chosen)
        return None
