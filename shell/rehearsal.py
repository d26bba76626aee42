# -*- test-case-name: tests.unit.exec.test_shell -*-
"""The shell server's rehearsal: a few real one-task jobs run by the
server itself, in its own process, before it forks any shell.

CPython (3.11) runs a function's first calls on generic bytecode,
quickens it at the eighth and specializes it later; it also makes some
of its caches (a class's shared instance keys, the codec and method
caches) at first use.  A forked shell calls most of its code once, so it
would run all of it cold, and every page that the warming writes (code
objects, caches) is one more copy-on-write fault in every shell.
Warmed once in the server, the code is inherited quickened and
specialized: ``bench/shellserver.py`` measured about 90 faults and
0.8 ms of CPU less per job for a warmup of ~20 ms at the server's start.

The rehearsal is an ordinary job (:func:`flux_shell.shell.run`) whose
task echoes a word, with the server's own working directory, cpus and
``PATH``, and its ``FLUX_JOB_TMPDIR`` in a directory of the server's
choosing; what ``run`` changes in the process (signal handlers, the
wakeup fd) is put back after each run.  It must run while the server
has no child (the shell reaps any).
"""

import gc
import os
import signal

from flux_shell import shell as shell_mod

__all__ = ["RUNS", "rehearse", "sample_spec"]

#: rehearsals: past the quickening (8 calls) and the first
#: specializations
RUNS = 8

_SIGNALS = shell_mod.FORWARDED + (signal.SIGCHLD, signal.SIGPIPE)


def sample_spec(jobid, tmpdir):
    """A one-task job's shell spec, as the exec service sends it, on
    this process's cpus, its task ``echo``-ing one word."""
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    env = {"TMPDIR": tmpdir}
    if "PATH" in os.environ:
        env["PATH"] = os.environ["PATH"]
    return {"id": jobid, "f58": f"rehearsal{jobid}", "barrier": False,
            "shell_rank": 0, "broker_rank": 0, "hostname": "rehearsal",
            "R": {"version": 1, "execution": {"R_lite": [
                {"rank": "0", "children": {"core": cpus}}]}},
            "jobspec": {
                "version": 1,
                "resources": [{"type": "slot", "count": 1, "label": "task",
                               "with": [{"type": "core", "count": 1}]}],
                "tasks": [{"command": ["echo", "rehearsal"], "slot": "task",
                           "count": {"per_slot": 1}}],
                "attributes": {"system": {"duration": 0,
                                          "environment": env}}}}


def rehearse(tmpdir, runs=RUNS):
    """Run ``runs`` sample jobs here (their events dropped); the
    process's signal handlers and wakeup fd are as before.  :returns:
    the exit codes."""
    handlers = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    wakeup = signal.set_wakeup_fd(-1)
    codes = []
    try:
        for n in range(runs):
            ev_r, ev_w = os.pipe()
            ctl_r, ctl_w = os.pipe()
            try:
                # (a run's events are a few hundred bytes: the pipe
                # holds them unread)
                codes.append(shell_mod.run(sample_spec(n + 1, tmpdir),
                                           ev_w, ctl_r))
            finally:
                for fd in (ev_r, ev_w, ctl_r, ctl_w):
                    os.close(fd)
    finally:
        signal.set_wakeup_fd(wakeup)
        for signum, handler in handlers.items():
            if handler is not None:
                signal.signal(signum, handler)
        gc.collect()          # the runs' cycles (and sockets) go now
    return codes
