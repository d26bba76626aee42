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
(their broker's) in their environment.  Each line of their output is logged
(``JOBID: NAME: rank R: LINE``) unless it matches a regex of
``[job-manager.perilog] log-ignore``.

The prolog starts when the job enters RUN (``prolog-start
{description: "job-manager.prolog"}``) and holds the start request
until ``prolog-finish {description, status}``; a failure raises a fatal
``prolog`` exception first (``prolog failed with status=N``; per rank:
``... on rank(s) IDSET``, those ranks drained ``prolog failed for jobid
JOBID``); past its timeout it is terminated (``prolog timed out after
FSD``; per rank: the ranks still running drained ``prolog timed out for
jobid JOBID``).  The epilog starts once the job's shells are gone
(``job.epilog-ready``, the job manager's topic) and holds the ``free``
until ``epilog-finish``; it fails the same way, with a severity-2
``epilog`` exception.
"""

import json
import re

from twisted.logger import Logger

from fluxd.formats import fluid
from fluxd.formats.fsd import FSDError, format_fsd, parse_fsd
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import Rv1
from fluxd.job import jobs as J
from fluxd.job._rankcmd import RankCommands, wait_status_text
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
        #: the ranks still running at the timeout (None: not passed)
        self.timed_out = None
        self.canceled = False
        self.timer = None
        manager = plugin.p.host.manager
        ranks = IDset()
        if settings.per_rank and job.R:
            ranks = Rv1.decode(json.dumps(job.R)).ranks()
        self.cmds = RankCommands(
            manager.router, plugin.p.clock, settings.command,
            list(ranks) if settings.per_rank else [0],
            {"FLUX_JOB_ID": self.f58, "FLUX_JOB_USERID": str(job.userid)},
            on_line=self.line, on_done=self.done,
            kill_timeout=settings.kill_timeout,
            exit_on_first_error=settings.exit_on_first_error)

    def start(self):
        p = self.plugin.p
        p.post_event(self.job.id, f"{self.s.name}-start",
                     {"description": DESCRIPTION.format(self.s.name)})
        if self.s.timeout is not None:
            self.timer = p.clock.callLater(self.s.timeout, self.expire)
        self.cmds.start()

    def line(self, rank, stream, text):
        for pattern in self.plugin.ignore:
            if pattern.search(text):
                return
        where = f"rank {rank}: " if self.s.per_rank else ""
        self.plugin.log.info("{id}: {name}: {where}{line}", id=self.f58,
                             name=self.s.name, where=where, line=text)

    def expire(self):
        self.timer = None
        self.timed_out = IDset(self.cmds.running)
        self.cmds.terminate()

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
        severity = 0 if name == "prolog" else 2
        if self.timed_out is not None:
            note = f"{name} timed out after {format_fsd(self.s.timeout)}"
            self._drain(self.timed_out,
                        f"{name} timed out for jobid {self.f58}")
            self._drain(failed - self.timed_out,
                        f"{name} failed for jobid {self.f58}")
        elif status and not self.canceled:
            note = f"{name} failed with {wait_status_text(status)}"
            if self.s.per_rank:
                note += f" on rank(s) {failed}"
                self._drain(failed, f"{name} failed for jobid {self.f58}")
        else:
            note = None
        if note is not None and job.state in _ACTIVE:
            manager.raise_exception(job, name, severity, note)
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
        return {"conf": {name: {"command": s.command, "per-rank": s.per_rank}
                         for name, s in self.settings.items()},
                "procs": {fluid.encode(jobid, "f58"): name
                          for jobid, name in self.running}}


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
