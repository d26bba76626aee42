# -*- test-case-name: tests.unit.exec.test_shell -*-
"""The shell server: one per broker, started by the exec service.

It has imported the job shell once; each ``launch`` order forks a child
that becomes that job's shell (:func:`flux_shell.shell.run`) in a
session of its own, so a job costs a ``fork`` and no interpreter start.
Orders come on stdin, one JSON object per line:

- ``{"op": "launch", "id": ID, "spec": {...}}``: fork a shell;
- ``{"op": "kill", "id": ID, "signum": N}``: the shell sends N to its
  tasks;
- ``{"op": "input", "id": ID, "data": TEXT, "eof": BOOL}``: for the
  tasks' stdin;
- ``{"op": "pmi", "id": ID, "seq": N, "kvs": {...}}``: the end of a PMI
  barrier, for the shell's ``pmi`` plugin; ``pty-input {data}`` and
  ``pty-resize {rows, cols}`` for its ``pty`` plugin;
- ``{"op": "terminate", "id": ID}``: SIGKILL the shell itself and its
  tasks' process group (known from the shell's ``start`` event).

On stdout it relays each shell's event lines whole (never interleaved),
adds ``{"id", "ev": "spawned", "pid"}`` after a fork and, once a shell
has exited and its event pipe is drained, ``{"id", "ev": "shell-exit",
"status": WAITSTATUS}``.  At the end of stdin (the broker is gone) it
closes every shell's order pipe, which makes the shells kill their tasks,
and exits once they have.
"""

import gc
import json
import os
import select
import signal
import sys

import flux_shell.shell as shell_mod

__all__ = ["ShellServer", "main"]


#: orders passed on to the shell (``pmi``: a PMI barrier's exchange,
#: ``pty-input``, ``pty-resize``: for an interactive pty; see
#: flux_shell.plugins)
_SHELL_ORDERS = ("kill", "input", "pmi", "pty-input", "pty-resize")


class _Child:
    __slots__ = ("id", "pid", "ev_fd", "ctl_fd", "buf", "status", "pgid")

    def __init__(self, jobid, pid, ev_fd, ctl_fd):
        self.id, self.pid = jobid, pid
        self.pgid = None
        self.ev_fd, self.ctl_fd = ev_fd, ctl_fd
        self.buf = b""
        self.status = None


class ShellServer:
    """The server's loop over its stdin and the shells' event pipes."""

    def __init__(self, in_fd=0, out_fd=1):
        self.in_fd, self.out_fd = in_fd, out_fd
        self.inbuf = b""
        self.by_fd = {}
        self.by_pid = {}
        self.by_id = {}
        self.closing = False
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def send(self, obj):
        """One line to the broker."""
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        self.write(data)

    def write(self, data):
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.out_fd, view):]
            except InterruptedError:
                continue
            except BrokenPipeError:
                self.closing = True
                return

    # -- orders -------------------------------------------------------------

    def launch(self, jobid, spec):
        ev_r, ev_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            self._become_shell(spec, ev_w, ctl_r, (ev_r, ctl_w))
        os.close(ev_w)
        os.close(ctl_r)
        child = _Child(jobid, pid, ev_r, ctl_w)
        self.by_fd[ev_r] = child
        self.by_pid[pid] = child
        self.by_id[jobid] = child
        self.send({"id": jobid, "ev": "spawned", "pid": pid})

    def _become_shell(self, spec, ev_w, ctl_r, mine):
        code = 1
        gc.disable()     # a shell lives briefly: no collection
        try:
            os.setsid()
            keep = {ev_w, ctl_r, 2}
            for fd in [self.in_fd, self.out_fd, self.wake_r, self.wake_w,
                       *mine, *self.by_fd,
                       *(c.ctl_fd for c in self.by_fd.values())]:
                if fd not in keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1):
                if fd != null:
                    os.dup2(null, fd)
            if null > 2:
                os.close(null)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            code = shell_mod.run(spec, ev_w, ctl_r)
        finally:
            os._exit(code)

    def order(self, obj):
        op, jobid = obj.get("op"), obj.get("id")
        if op == "launch":
            self.launch(jobid, obj.get("spec") or {})
            return
        child = self.by_id.get(jobid)
        if child is None:
            return
        if op in _SHELL_ORDERS and child.ctl_fd is not None:
            # orders are small and the shell reads them at once: a
            # blocking write is short
            obj.pop("id", None)
            line = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
            view = memoryview(line)
            try:
                while view:
                    view = view[os.write(child.ctl_fd, view):]
            except OSError:
                pass
        elif op == "terminate":
            # the shell, and its tasks (a stopped or hung shell passes
            # on no signal)
            for kill, target in ((os.kill, child.pid),
                                 (os.killpg, child.pgid)):
                if target is None:
                    continue
                try:
                    kill(target, signal.SIGKILL)
                except OSError:
                    pass

    # -- the loop -------------------------------------------------------------

    def _stdin(self):
        data = os.read(self.in_fd, 65536)
        if not data:
            self.closing = True
            for child in self.by_pid.values():
                if child.ctl_fd is not None:
                    os.close(child.ctl_fd)
                    child.ctl_fd = None
                try:
                    # a stopped shell must run to see the end of its orders
                    os.kill(child.pid, signal.SIGCONT)
                except OSError:
                    pass
            return
        self.inbuf += data
        *lines, self.inbuf = self.inbuf.split(b"\n")
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                self.order(obj)

    def _events(self, child):
        data = os.read(child.ev_fd, 65536)
        if data:
            child.buf += data
            cut = child.buf.rfind(b"\n") + 1
            if cut:
                lines = child.buf[:cut]
                if child.pgid is None and b'"ev":"start"' in lines:
                    self._note_pgid(child, lines)
                self.write(lines)
                child.buf = child.buf[cut:]
            return
        del self.by_fd[child.ev_fd]
        os.close(child.ev_fd)
        child.ev_fd = None
        self._maybe_done(child)

    @staticmethod
    def _note_pgid(child, lines):
        """The tasks' process group: their first pid (``start`` event)."""
        for line in lines.splitlines():
            if b'"ev":"start"' not in line:
                continue
            try:
                pids = json.loads(line).get("pids") or []
            except ValueError:
                return
            if pids:
                child.pgid = int(pids[0])
            return

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.by_pid.get(pid)
            if child is not None:
                child.status = status
                self._maybe_done(child)

    def _maybe_done(self, child):
        if child.status is None or child.ev_fd is not None:
            return
        del self.by_pid[child.pid]
        if self.by_id.get(child.id) is child:
            del self.by_id[child.id]
        if child.ctl_fd is not None:
            os.close(child.ctl_fd)
        if not self.closing:
            self.send({"id": child.id, "ev": "shell-exit",
                       "status": child.status})

    def serve(self):
        """Run until stdin ends and every shell is gone."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        while not self.closing or self.by_pid:
            fds = [self.wake_r, *self.by_fd]
            if not self.closing:
                fds.append(self.in_fd)
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            for fd in ready:
                if fd == self.wake_r:
                    try:
                        os.read(fd, 4096)
                    except BlockingIOError:
                        pass
                elif fd == self.in_fd:
                    self._stdin()
                elif fd in self.by_fd:
                    self._events(self.by_fd[fd])
            self._reap()


def main():
    """``python -m flux_shell.server``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # what is loaded now stays shared with the shells: the collector
    # must not touch (and so copy) those pages in every forked shell
    gc.freeze()
    ShellServer().serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
