# -*- test-case-name: tests.unit.cli.test_submit -*-
"""``flux submit --wait/--wait-event/--watch/--progress`` (flux-core
``flux.job.watcher``).

:class:`JobWatcher` follows the eventlog of every submitted job until its
wait event (``clean`` by default) and computes the command's exit code:
the largest exit status of the jobs (128+N... as flux: ``127 + signal``
for a signaled job shell), 1 for a job that failed before it started.
It prints each fatal exception (``job.exception: type=T severity=0
NOTE``), with ``-v`` each job's end (``ƒID: 1.234s: complete:
status=0``), with ``-vv`` every event, and with ``--watch`` the jobs'
output.  :class:`JobProgress` is the ``PD: R: CD: F:`` progress bar.
"""

import os
import time

from fluxd.cli._follow import context_string, render_output
from fluxd.cli._progress import ProgressBar

__all__ = ["JobWatcher", "JobProgress", "SubmitProgress", "status_exitcode"]


def status_exitcode(status):
    """A wait status as ``flux submit --wait`` turns it into an exit code."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 127 + os.WTERMSIG(status)
    return status


class JobProgress(ProgressBar):
    """Counts of pending, running, complete and failed jobs with a bar."""

    def __init__(self, stream, jps=False, clock=time.time):
        after = ("{percent:5.1f}% {jps:4.1f} job/s" if jps
                 else "{percent:5.1f}% {elapsed.dt}")
        super().__init__(stream, 0, before=(
            "PD:{pending:<{width}} R:{running:<{width}} "
            "CD:{complete:<{width}} F:{failed:<{width}} "), after=after,
            clock=clock, width=3, pending=0, running=0, complete=0,
            failed=0, jps=0.0)

    def jobs_per_sec(self):
        """Finished jobs per second so far."""
        return (self.count + 1) / max(self.elapsed, 1e-6)

    def move(self, old, new):
        """One job changed from status ``old`` (None: new job) to ``new``."""
        fields = self.fields
        if old is not None:
            fields[old] -= 1
        fields[new] += 1
        self.update(advance=0)


class SubmitProgress(ProgressBar):
    """``Submitting N jobs: │███  │ 42.0% 0:00:01``."""

    def __init__(self, stream, total, jps=False, clock=time.time):
        after = ("{percent:5.1f}% {jps:4.1f} job/s" if jps
                 else "{percent:5.1f}% {elapsed.dt}")
        super().__init__(stream, total, before="Submitting {total} jobs: ",
                         after=after, clock=clock, pending=0, fail=0,
                         jps=0.0)

    def submitted(self, ok):
        """One submission answered."""
        jps = (self.count + 1) / max(self.elapsed, 1e-6)
        if ok:
            self.update(jps=jps)
        else:
            self.update(fail=self.fields["fail"] + 1, jps=jps)


class _Job:
    __slots__ = ("id", "label", "status", "events", "stdout", "stderr",
                 "wait", "main", "exec", "output", "done", "exec_done",
                 "ending")

    def __init__(self, jobid, label, stdout, stderr, wait):
        self.id, self.label = jobid, label
        self.status = "pending"
        self.events = set()
        self.stdout, self.stderr = stdout, stderr
        self.wait = wait
        self.main = self.exec = self.output = None
        self.done = False
        self.exec_done = self.ending = False


class JobWatcher:
    """Follow many jobs to their wait event.

    :param follower: an :class:`~fluxd.cli._follow.EventFollower`.
    :param wait: the event that ends each job's watch (``clean``; an
        ``exec.NAME`` event waits in the exec eventlog).
    :param watch: print the jobs' output (``--watch``).
    :param log_events: log every event (``-vv``).
    :param log_status: log each job's end (``-v``).
    :param labelio: prefix output lines with the job id.
    :param progress: a :class:`JobProgress`, or None.
    :param stderr: where job errors go when a job has no stream of its own.
    """

    def __init__(self, follower, wait="clean", watch=False, log_events=False,
                 log_status=False, labelio=False, progress=None):
        self.follower = follower
        self.wait = wait or "clean"
        self.watch = watch
        self.log_events = log_events
        self.log_status = log_status
        self.labelio = labelio
        self.progress = progress
        self.exitcode = 0
        self.t0 = None

    def add(self, jobid, label, stdout, stderr, t_submit=None):
        """Start following job ``jobid`` (``label`` is its f58 text)."""
        now = time.time() if t_submit is None else t_submit
        if self.t0 is None or now < self.t0:
            self.t0 = now
        job = _Job(jobid, label, stdout, stderr, self.wait)
        if self.progress is not None:
            self.progress.total += 1
            self.progress.move(None, "pending")
        job.main = self.follower.watch(
            jobid, "eventlog", lambda entry, error: self._event(job, entry,
                                                                error))
        return job

    def _set_status(self, job, status):
        if self.progress is not None and status != job.status:
            self.progress.move(job.status, status)
        job.status = status

    def _end(self, job):
        # with --watch the exec log (and the output it announces) may
        # still be arriving after the job's clean: follow it to "done"
        if self.watch and job.exec is not None and not job.exec_done:
            job.ending = True
            self.follower.stop(job.main)
            job.main = None
            return
        self._finish(job)

    def _finish(self, job):
        if job.done:
            return
        job.done = True
        if self.progress is not None:
            self.progress.update(advance=1, jps=self.progress.jobs_per_sec())
        for token in (job.main, job.exec, job.output):
            if token is not None:
                self.follower.stop(token)

    def _log(self, job, timestamp, message):
        job.stderr.write(f"{job.label}: {timestamp - self.t0:4.3f}s:"
                         f" {message}\n")

    def _event(self, job, entry, error):
        if entry is None:
            if error is not None:
                job.stderr.write(f"{job.label}: {error}\n")
                self.exitcode = max(self.exitcode, 1)
                self._finish(job)
            else:
                self._end(job)
            return
        name, context = entry["name"], entry.get("context") or {}
        job.events.add(name)
        self.t0 = min(self.t0, entry["timestamp"])
        if self.log_events:
            self._log(job, entry["timestamp"],
                      f"{name} {context_string(context)}")
        if name == "exception" and context.get("severity") == 0:
            if "start" not in job.events:
                self.exitcode = max(self.exitcode, 1)
                self._set_status(job, "failed")
            note = context.get("note")
            job.stderr.write(f"job.exception: type={context.get('type')}"
                             f" severity=0{' ' + note if note else ''}\n")
        elif name == "alloc" and job.status == "pending":
            self._set_status(job, "running")
        elif name == "start":
            if self.watch or job.wait.startswith("exec."):
                job.exec = self.follower.watch(
                    job.id, "guest.exec.eventlog",
                    lambda entry, error: self._exec_event(job, entry))
        elif name == "finish":
            status = context.get("status", 0)
            self.exitcode = max(self.exitcode, status_exitcode(status))
            self._set_status(job, "failed" if status else "complete")
            if self.log_status:
                self._log(job, entry["timestamp"],
                          f"{job.status}: status={status}")
        if name == job.wait:
            if name == "clean":
                self._end(job)
            else:
                self._finish(job)

    def _exec_event(self, job, entry):
        if entry is None:
            return
        name = entry["name"]
        if self.log_events:
            self._log(job, entry["timestamp"],
                      f"exec.{name} {context_string(entry.get('context'))}")
        if self.watch and name == "shell.init" and job.output is None:
            job.output = self.follower.watch(
                job.id, "guest.output", lambda e, err: self._output(job, e))
        if name == "done":
            job.exec_done = True
            if job.ending:
                self._finish(job)
        if job.wait == f"exec.{name}":
            self._finish(job)

    def _output(self, job, entry):
        if entry is None:
            job.stdout.flush()
            job.stderr.flush()
            return
        rendered = render_output(entry, f"{job.label}: " if self.labelio
                                 else None)
        if rendered is not None:
            stream, text = rendered
            (job.stdout if stream == "stdout" else job.stderr).write(text)
