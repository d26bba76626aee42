# -*- test-case-name: tests.unit.job.test_perilog -*-
"""``perilog.so``: the job manager's prolog and epilog
(``[job-manager] plugins = [{load = "perilog.so"}]``).

``[job-manager.prolog]`` and ``[job-manager.epilog]`` give ``command``
(default ``[exec.imp, "run", NAME]`` when ``exec.imp`` is set),
``per-rank`` (run it on every rank of the job, else on rank 0),
``timeout`` (FSD; prolog 30m, epilog none; 0 or inf: none),
``kill-timeout`` (seconds from SIGTERM to SIGKILL, 60) and
``cancel-on-exception`` (prolog true, epilog false: a fatal exception
kills the running command) and ``exit-on-first-error`` (the first rank
that fails terminates the command on the others).  Commands run through each rank's ``rexec``
service with ``FLUX_JOB_ID`` (f58), ``FLUX_JOB_USERID`` and ``FLUX_URI``
(their broker's) in their environment.  Each non-blank line of their
output is logged as flux-core's plugin logs it (``JOBID: NAME: HOST (rank
R): STREAM: LINE``, standard error at the error level) unless it matches
a regex of ``[job-manager.perilog] log-ignore``.

The prolog starts when the job enters RUN (``prolog-start
{description: "job-manager.prolog"}``) and holds the start request
until ``prolog-finish {description, status}``; a failure raises a fatal
``prolog`` exception first, worded as flux-core's: ``prolog exited with
code=N on HOSTS (rank IDSET)``, ``prolog killed by signal N on ...``
(also for an exit code above 128) or ``prolog timed out on ...`` (past
its timeout it gets SIGTERM).  With ``per-rank`` the failed ranks are
drained ``prolog failed for job JOBID`` (``prolog timed out for job
JOBID`` after a timeout).  A command still running ``kill-timeout``
seconds after its SIGTERM gets SIGKILL, and with ``per-rank`` its ranks
are drained ``... timed out for job JOBID`` (``... canceled then timed out
for job JOBID`` when a fatal exception had canceled it); a command
canceled by an exception drains nothing else.  The epilog starts once
the job's shells are gone (``job.epilog-ready``, the job manager's topic)
and holds the ``free`` until ``epilog-finish``; it fails the same way,
with a severity-2 ``epilog`` exception (flux-core 0.88 raises none; the
guide's admin sees the failure in ``flux jobs``).
"""

import json
import re

from twisted.logger import Logger

from fluxd.formats import fluid
from fluxd.formats.fsd import FSDError, parse_fsd
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import RError, Rv1
from fluxd.job import jobs as J
from fluxd.job._rankcmd import RankCommands
from fluxd.job.jobtap import JobtapError

DESCRIPTION = "job-manager.{}"
_DEFAULTS = {"prolog": ("30m", True), "epilog": ("0", False)}


class _Settings:
    """One of ``[job-manager.prolog]`` / ``[job-manager.epilog]``."""

    def __init__(self, name, table, imp):
        timeout, cancel = _DEFAULTS[name]
        self.name = name
        self.command = table.get("command")
        if self.command is None and imp:
            self.command = [imp, "run", name]
        self.per_rank = bool(table.get("per-rank", False))
        try:
            self.timeout = parse_fsd(str(table.get("timeout", timeout)))
        except (FSDError, ValueError) as exc:
            raise JobtapError(f"perilog: {name}.timeout: {exc}") from None
        if self.timeout in (0, float("inf")):
            self.timeout = None
        self.kill_timeout = table.get("kill-timeout", 60)
        if not isinstance(self.kill_timeout, (int, float)) \
                or self.kill_timeout < 0:
            raise JobtapError(f"perilog: {name}.kill-timeout must be a"
                              " number of seconds >= 0")
        self.cancel = bool(table.get("cancel-on-exception", cancel))
        self.exit_on_first_error = bool(table.get("exit-on-first-error",
                                                  False))
        if self.command is not None and (
                not isinstance(self.command, list) or not self.command
                or not all(isinstance(a, str) for a in self.command)):
            raise JobtapError(f"perilog: {name}.command must be a"
                              " non-empty array of strings")


class _Run:
    """One prolog or epilog of one job."""

    def __init__(self, plugin, settings, job):
        self.plugin = plugin
        self.s = settings
        self.job = job
        self.f58 = fluid.encode(job.id, "f58")
        #: the timeout passed (the command got SIGTERM)
        self.timed_out = False
        self.canceled = False
        #: the ranks still running kill-timeout after the SIGTERM
        self.stuck = IDset()
        self.timer = None
        manager = plugin.p.host.manager
        ranks = IDset()
        self.R = None
        if job.R:
            self.R = Rv1.decode(json.dumps(job.R))
            if settings.per_rank:
                ranks = self.R.ranks()
        self.cmds = RankCommands(
            manager.router, plugin.p.clock, settings.command,
            list(ranks) if settings.per_rank else [0],
            {"FLUX_JOB_ID": self.f58, "FLUX_JOB_USERID": str(job.userid)},
            on_line=self.line, on_done=self.done,
            kill_timeout=settings.kill_timeout,
            exit_on_first_error=settings.exit_on_first_error,
            on_kill_timeout=self.kill_timed_out)

    def host(self, rank):
        """The host name of ``rank`` (its rexec service's, else R's)."""
        name = self.cmds.hosts.get(rank)
        if name is None and self.R is not None and rank in self.R.ranks():
            try:
                name = self.R.hostname(rank)
            except RError:
                name = None         # an R without a nodelist
        return name or "unknown"

    def hosts(self, ranks):
        """The host names of ``ranks`` as a hostlist."""
        return Hostlist([self.host(r) for r in ranks]).encode()

    def start(self):
        p = self.plugin.p
        p.post_event(self.job.id, f"{self.s.name}-start",
                     {"description": DESCRIPTION.format(self.s.name)})
        if self.s.timeout is not None:
            self.timer = p.clock.callLater(self.s.timeout, self.expire)
        self.cmds.start()

    def line(self, rank, stream, text):
        if not text.strip():
            return
        for pattern in self.plugin.ignore:
            if pattern.search(text):
                return
        log = self.plugin.log.error if stream == "stderr" \
            else self.plugin.log.info
        log("{id}: {name}: {host} (rank {rank}): {stream}: {line}",
            id=self.f58, name=self.s.name, host=self.host(rank), rank=rank,
            stream=stream, line=text)

    def expire(self):
        self.timer = None
        self.timed_out = True
        self.cmds.terminate()

    def describe(self):
        """``{name, state, total, active, active_ranks}`` (query)."""
        running = self.cmds.running
        state = ("canceled" if self.canceled else
                 "timeout" if self.timed_out else "running")
        return {"name": self.s.name, "state": state,
                "total": len(self.cmds.ranks), "active": len(running),
                "active_ranks": str(IDset(running))}

    def kill_timed_out(self, ranks):
        """Still running kill-timeout after the SIGTERM: SIGKILL comes,
        the ranks are drained."""
        self.plugin.log.error("{id}: timed out waiting for SIGTERM to"
                              " terminate {name}", id=self.f58,
                              name=self.s.name)
        self.stuck = IDset(ranks)

    def cancel(self):
        """A fatal exception: stop the command (cancel-on-exception)."""
        if not self.canceled:
            self.canceled = True
            self.cmds.terminate()

    def done(self, statuses):
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.plugin.running.pop((self.job.id, self.s.name), None)
        manager = self.plugin.p.host.manager
        name, job = self.s.name, self.job
        status = max(statuses.values(), default=0)
        failed = IDset([r for r, s in statuses.items() if s])
        if self.canceled:
            self._drain(self.stuck, f"{name} canceled then timed out for"
                                    f" job {self.f58}")
        elif self.timed_out:
            self._drain(failed, f"{name} timed out for job {self.f58}")
        elif status:
            self._drain(failed, f"{name} failed for job {self.f58}")
        if status and not self.canceled and job.state in _ACTIVE:
            where = f"on {self.hosts(failed)} (rank {failed})"
            code = status >> 8 if not status & 0x7f else -1
            if self.timed_out:
                note = f"{name} timed out {where}"
            elif status & 0x7f or code > 128:
                signum = status & 0x7f or code - 128
                note = f"{name} killed by signal {signum} {where}"
            else:
                note = f"{name} exited with code={code} {where}"
            manager.raise_exception(job, name, 0 if name == "prolog" else 2,
                                    note)
        manager.post(job, f"{name}-finish", {
            "description": DESCRIPTION.format(name), "status": status})

    def _drain(self, ranks, reason):
        if not self.s.per_rank or not ranks:
            return
        router = self.plugin.p.host.manager.router
        router.call("resource.drain", {"targets": str(ranks),
                                       "reason": reason, "mode": "update"},
                    cred=router.instance_cred, nodeid=0).addErrback(
            lambda f: self.plugin.log.error(
                "perilog: drain {ranks}: {why}", ranks=str(ranks),
                why=f.getErrorMessage()))


class Perilog:
    """The plugin's state: its settings and the commands running."""

    def __init__(self, p):
        self.p = p
        self.settings = {}
        self.ignore = []
        self.running = {}
        #: the job manager's log (dmesg): output lines, drain failures
        self.log = Logger(namespace="fluxd.job.perilog",
                          source=p.host.manager)

    def configure(self, p, topic, args):
        conf = args.get("conf") or {}
        jm = conf.get("job-manager") or {}
        imp = (conf.get("exec") or {}).get("imp")
        settings = {}
        for name in ("prolog", "epilog"):
            table = jm.get(name)
            if isinstance(table, dict):
                found = _Settings(name, table, imp)
                if found.command is not None:
                    settings[name] = found
        ignore = []
        for pattern in (jm.get("perilog") or {}).get("log-ignore") or ():
            try:
                ignore.append(re.compile(pattern))
            except (re.error, TypeError) as exc:
                raise JobtapError(f"perilog: log-ignore: {pattern!r}:"
                                  f" {exc}") from None
        self.settings, self.ignore = settings, ignore

    def _start(self, name, args):
        settings = self.settings.get(name)
        if settings is None:
            return
        job = self.p.job(args["id"])
        run = _Run(self, settings, job)
        self.running[(job.id, name)] = run
        self.p.job_subscribe(job.id)
        run.start()

    def run(self, p, topic, args):
        self._start("prolog", args)

    def epilog(self, p, topic, args):
        self._start("epilog", args)

    def exception(self, p, topic, args):
        entry = args.get("entry") or {}
        if (entry.get("context") or {}).get("severity", 0) != 0:
            return
        for name in ("prolog", "epilog"):
            run = self.running.get((args["id"], name))
            if run is not None and run.s.cancel:
                run.cancel()

    def query(self, p, topic, args):
        """``flux jobtap query perilog.so``, shaped as flux-core's:
        ``conf.{prolog,epilog}`` (``{}`` when not configured) and the
        running commands by job."""
        conf = {}
        for name in ("prolog", "epilog"):
            s = self.settings.get(name)
            conf[name] = {} if s is None else {
                "command": s.command, "per_rank": s.per_rank,
                "cancel_on_exception": s.cancel,
                "timeout": float(s.timeout or 0.0),
                "kill-timeout": float(s.kill_timeout)}
        return {"conf": conf,
                "procs": {run.f58: run.describe()
                          for run in self.running.values()}}


_ACTIVE = (J.DEPEND, J.PRIORITY, J.SCHED, J.RUN, J.CLEANUP)


def plugin_init(p):
    """Register the prolog (``job.state.run``), the epilog
    (``job.epilog-ready``), cancel-on-exception and ``conf.update``."""
    state = Perilog(p)
    p.register("conf.update", state.configure)
    p.register("job.state.run", state.run)
    p.register("job.epilog-ready", state.epilog)
    p.register("job.event.exception", state.exception)
    p.register("plugin.query", state.query)
