# -*- test-case-name: tests.unit.exec.test_shell_worker -*-
"""A forked shell's process: one job's shell, then maybe the next ones'.

The shell server (:mod:`flux_shell.server`) forks a process for a job
when it has none free.  The process runs that job's shell
(:func:`flux_shell.shell.run_shell`) in a session of its own, as every
shell does.  When the shell is over and left nothing another job could
see (:meth:`~flux_shell.shell.Shell.reusable`: no task left, no pty, no
code of the site's), the process puts back what a shell changes in it
(working directory, environment, soft rlimits, signal handlers, open
fds; its cpu affinity stays the last job's until a job binds other
cpus or none, :mod:`flux_shell.plugins.affinity`), keeps the job's
``FLUX_JOB_TMPDIR`` for the next one when the job left it empty
(:mod:`flux_shell.jobtmp`), writes ``!CODE`` on its event pipe after
the job's last event, and waits on its order pipe for the server's next
``{"op": "launch", "spec"}``, skipping the orders still queued there for
the job that ended.  Otherwise, and after :data:`MAX_JOBS` jobs, it
exits with the shell's code, as a process forked for one job does.

Each job still gets a shell of its own, in a process forked from the
pre-imported server and never a fresh interpreter; what the next job
saves is the kernel's share of a shell: the ``fork``'s page tables, the
copy-on-write faults of what the shell touches, and the ``exit``
(``bench/shellserver.py``).
"""

import _signal
import gc
import json
import os
import resource

from flux_shell import jobtmp
from flux_shell.plugins import affinity
from flux_shell import shell as shell_mod

__all__ = ["MAX_JOBS", "serve", "next_launch"]

#: jobs one process runs at most (then it exits: whatever a job left in
#: its heap goes with it)
MAX_JOBS = 256
#: past the highest fd (os.closerange's end)
_FD_END = 0x7fffffff
_SIGNALS = shell_mod.FORWARDED + (_signal.SIGCHLD, _signal.SIGPIPE)


class _Process:
    """What a job shell may change in its process, as it was before the
    first job; ``keep``: the fds that stay open (the two pipes)."""

    def __init__(self, keep):
        self.keep = sorted(keep)
        self.cwd = os.getcwd()
        self.environ = dict(os.environ)
        self._environ_data = dict(_environ_data())
        # the cpu-affinity plugin puts the cpus back when a job binds none
        affinity.base_cpus = os.sched_getaffinity(0)
        self.handlers = {signum: _signal.getsignal(signum)
                         for signum in _SIGNALS}

    def restore(self, shell):
        """Put the process back as it was.  :raises OSError:"""
        for which, limits in reversed(shell.rlimits_before):
            resource.setrlimit(which, limits)
        if _environ_data() != self._environ_data:
            os.environ.clear()
            os.environ.update(self.environ)
        os.chdir(self.cwd)
        for signum, handler in self.handlers.items():
            _signal.signal(signum, handler)
        _signal.set_wakeup_fd(-1)
        low = 3
        for fd in self.keep:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, _FD_END)


def _environ_data():
    """The bytes the environment is made of, ``os.environ``'s own dict
    (CPython's, on POSIX): comparing two in C costs 1 us where comparing
    ``os.environ`` as a mapping decodes every variable (50 us a job)."""
    return getattr(os.environ, "_data", os.environ)


def serve(spec, ev_fd, ctl_fd, max_jobs=MAX_JOBS):
    """The life of a forked shell process from its first job's ``spec``:
    returns the exit code of the process (its last shell's, 0 when the
    server ended it between jobs)."""
    process = _Process((ev_fd, ctl_fd))
    # an empty FLUX_JOB_TMPDIR goes to the next job (flux_shell.jobtmp)
    jobtmp.keep_spares()
    try:
        return _jobs(process, spec, ev_fd, ctl_fd, max_jobs)
    finally:
        jobtmp.drop_spares()


def _jobs(process, spec, ev_fd, ctl_fd, max_jobs):
    orders = b""
    jobs = 0
    while True:
        jobs += 1
        code, shell = shell_mod.run_shell(spec, ev_fd, ctl_fd, orders)
        if jobs >= max_jobs or shell.ctl_fd is None \
                or not shell.reusable():
            return code
        try:
            process.restore(shell)
        except (OSError, ValueError):
            return code
        rest = shell.ctl_buf
        del shell
        gc.collect()          # the shell's cycles (its plugins, handlers)
        # the job is over: the server may send the next one
        shell_mod._write_all(ev_fd, b"!%d\n" % (code & 0xff))
        spec, orders = next_launch(ctl_fd, rest)
        if spec is None:
            return 0


def next_launch(ctl_fd, buf=b""):
    """Read ``ctl_fd`` (``buf``: what was read of it already) up to the
    next ``launch`` order, skipping the others (for a job that is over):
    ``(spec, rest)`` with the bytes read past it, or ``(None, b"")`` at
    the end of the orders."""
    os.set_blocking(ctl_fd, True)
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                order = json.loads(line)
            except ValueError:
                continue
            if isinstance(order, dict) and order.get("op") == "launch":
                spec = order.get("spec")
                return (spec if isinstance(spec, dict) else {}), buf
        try:
            data = os.read(ctl_fd, 65536)
        except OSError:
            data = b""
        if not data:
            return None, b""
        buf += data
