# -*- test-case-name: tests.unit.exec.test_shell -*-
"""The shell server: one per broker, started by the exec service.

It has imported the job shell once, and warmed it by running a few
sample jobs itself (:mod:`flux_shell.rehearsal`) before it says ready;
a ``launch`` order forks a child that becomes that job's shell
(:func:`flux_shell.shell.run_shell`) in a session of its own, so a job
costs at most a ``fork`` and no interpreter start.  A shell process whose
job is over may take a later job's shell (:mod:`flux_shell.worker`): the
server keeps as many free processes as the cpus (at least 4) or, once
more shells ran at once, as that many (at most :data:`POOL_MAX`), and
gives them the next ``launch`` orders instead of forking: first to the
one whose last job had the same cores here, still bound to them.

It runs in a session of its own too and listens on a UNIX socket in the
broker's rundir (``python -m flux_shell.server SOCKET``), so that it and
its shells outlive the broker: a broker stopped or killed, then started
again with the same rundir, connects to it again and finds its jobs.
Only a connection from the server's own user is served, one at a time
(a new one replaces the old).  Orders come one JSON object per line:

- ``{"op": "launch", "id": ID, "spec": {...}}``: fork a shell;
- ``{"op": "attach", "id": ID}``: the broker came back for the job:
  ``{"id", "ev": "attached", "start": EVENT|null}`` (the shell's ``start``
  event, null before it), then every event held while it was away
  (``{"id", "ev": "lost", "error"}`` when there is no such shell here);
- ``{"op": "kill", "id": ID, "signum": N}``: the shell sends N to its
  tasks;
- ``{"op": "input", "id": ID, "data": TEXT, "eof": BOOL}``: for the
  tasks' stdin;
- ``{"op": "pmi", "id": ID, "barrier": N, "kvs": {...}}``: the end of a PMI
  barrier, for the shell's ``pmi`` plugin; ``pty-input {data}`` and
  ``pty-resize {rows, cols}`` for its ``pty`` plugin;
- ``{"op": "terminate", "id": ID, "tasks": BOOL}``: SIGKILL the shell
  itself and its tasks' process group (known from the shell's ``start``
  event); with ``tasks``, only while that group has a process (else the
  shell is only slow to end: SIGCONT);
- ``{"op": "shutdown"}``: the instance stops: close every shell's order
  pipe (the shells kill their tasks), exit once they are gone.

Back come each shell's event lines whole (never interleaved) and, once
a shell has exited and its event pipe is drained, ``{"id", "ev":
"shell-exit", "status": WAITSTATUS, "pid"}`` (the process that ran it;
nothing is sent at the launch itself: the broker has no use for it, and
a line less is a read and a wake-up less for the broker a job).  While
no broker is connected (or before it attached again) a shell's events
are held, at most ``HOLD_LIMIT`` bytes of them: past that the server
stops reading the shell, whose writes then block (and so do its
tasks').  The server exits when no broker is
connected and it has no shell, and kills its shells and exits when its
rundir is removed (the instance is gone for good).
"""

import _signal
import gc
import json
import os
import select
import signal
import socket
import struct
import sys

import flux_shell.worker as worker_mod
from flux_shell import jobtmp
from flux_shell.held import HeldEvents, read_orders
from flux_shell.plugins import affinity
from flux_shell.rehearsal import rehearse
from fluxd.formats.jsonenc import dumps

__all__ = ["ShellServer", "main", "socket_path", "group_alive"]

#: bytes of a shell's events held while no broker takes them
HOLD_LIMIT = 4 * 1024 * 1024
#: seconds between checks that the rundir is still there (no broker)
_POLL = 1.0
#: free shell processes kept for the next jobs at most
POOL_MAX = 64
#: past the highest fd (os.closerange's end)
_FD_END = 0x7fffffff


def socket_path(dirfd, name):
    """A short path to ``name`` in the directory open as ``dirfd`` (a
    UNIX socket's path is limited to 108 bytes; a rundir's is not)."""
    return f"/proc/self/fd/{dirfd}/{name}"


#: orders passed on to the shell (``barrier``: every shell of the job
#: reached init, start the tasks; ``pmi``: a PMI barrier's exchange,
#: ``pty-input``, ``pty-resize``: for an interactive pty; see
#: flux_shell.plugins)
_SHELL_ORDERS = ("kill", "input", "barrier", "pmi", "pty-input",
                 "pty-resize")


class _Worker:
    """A forked shell process (:mod:`flux_shell.worker`) and the job whose
    shell it runs (None: free)."""

    __slots__ = ("pid", "ev_fd", "ctl_fd", "buf", "status", "job", "cpus")

    def __init__(self, pid, ev_fd, ctl_fd):
        self.pid = pid
        self.ev_fd, self.ctl_fd = ev_fd, ctl_fd
        self.buf = b""
        self.status = None      # its wait status, once reaped
        self.job = None
        self.cpus = None        # the cores of its last job here


class _Child:
    """One job's shell."""

    __slots__ = ("id", "worker", "pgid", "events", "attached", "start",
                 "exited")

    def __init__(self, jobid, worker):
        self.id = jobid
        self.worker = worker    # None once the shell is over
        self.pgid = None
        self.events = HeldEvents()
        self.attached = True
        self.start = None       # the shell's start event
        self.exited = False     # shell-exit is queued


class ShellServer:
    """The server's loop over its socket and the shells' event pipes.

    :param listen: the listening UNIX socket.
    :param rundir: the directory to watch (None: never gone).
    """

    def __init__(self, listen, rundir=None):
        self.listen = listen
        self.rundir = rundir
        self.conn = None
        self.inbuf = b""
        self.by_fd = {}         # event pipe -> _Worker
        self.by_pid = {}        # pid -> _Worker
        self.by_id = {}         # job id -> _Child
        self.free = []          # _Workers waiting for a job
        self.tmp_dirs = set()   # where the jobs' FLUX_JOB_TMPDIR went
        # free processes kept at most: the cpus, at least 4, more once
        # more shells ran at once
        self.pool = min(max(os.cpu_count() or 1, 4), POOL_MAX)
        self.closing = False
        self.served = False
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    # -- the broker's connection ------------------------------------------

    def _accept(self):
        try:
            conn, _ = self.listen.accept()
        except OSError:
            return
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != os.getuid():
            conn.close()
            return
        self._disconnect()
        conn.setblocking(True)
        self.conn, self.inbuf, self.served = conn, b"", True

    def _disconnect(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        for child in self.by_id.values():
            child.attached = False
            # what the broker did not acknowledge may be lost with it
            child.events.resend()

    def send(self, obj):
        """One line to the broker (dropped when none is connected)."""
        self._write((dumps(obj) + "\n").encode())

    def _write(self, data):
        if self.conn is None:
            return False
        try:
            self.conn.sendall(data)
        except OSError:
            self._disconnect()
            return False
        return True

    def _flush(self, child):
        if child.attached:
            child.events.send(self._write)

    def _hold(self, child, lines, final=False):
        """Number the shell's event lines (``seq``) and hold them until
        the broker acknowledges them (``final``: the shell's exit, kept
        until the job is over)."""
        child.events.add(lines, final)
        self._flush(child)

    def ack(self, child, seq, forget):
        """The broker made the events up to ``seq`` durable (never the
        shell's exit: its job may need it again until it is over); with
        ``forget``, the job is over."""
        if forget:
            if self.by_id.get(child.id) is child and child.exited:
                del self.by_id[child.id]
            return
        child.events.ack(seq)

    # -- orders -------------------------------------------------------------

    def launch(self, jobid, spec):
        worker = None
        cpus = _cores(spec)
        self._note_tmp(spec)
        while self.free and worker is None:
            worker = self._free_worker(cpus)
            if worker.ev_fd is None:
                worker = None         # it is gone: reaped soon
            elif select.select([worker.ev_fd], [], [], 0)[0]:
                # a free process says nothing: it is gone (its pipe's end)
                self._events(worker)
                worker = None
            elif not self._tell(worker, {"op": "launch", "spec": spec}):
                worker = None         # gone too: reaped soon
        if worker is None:
            worker = self._fork(spec)
        worker.cpus = cpus
        child = _Child(jobid, worker)
        worker.job = child
        # as many free processes as shells ran at once (at most POOL_MAX)
        busy = len(self.by_pid) - len(self.free)
        if busy > self.pool:
            self.pool = min(busy, POOL_MAX)
        self.by_id[jobid] = child

    def _note_tmp(self, spec):
        """Remember where the job's FLUX_JOB_TMPDIR goes: a process
        reaped there may have left a spare (:mod:`flux_shell.jobtmp`)."""
        try:
            env = spec["jobspec"]["attributes"]["system"].get("environment")
        except (KeyError, TypeError, AttributeError):
            env = None
        where = jobtmp.where(env)
        if where not in self.tmp_dirs and len(self.tmp_dirs) < 64:
            self.tmp_dirs.add(where)

    def _free_worker(self, cpus):
        """A free process, the one that last ran a job on ``cpus`` if
        any: still bound to them, its shell need not move it
        (:data:`flux_shell.plugins.affinity.base_cpus`)."""
        for i in range(len(self.free) - 1, -1, -1):
            if self.free[i].cpus == cpus:
                return self.free.pop(i)
        return self.free.pop()

    def _fork(self, spec):
        ev_r, ev_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            self._become_shell(spec, ev_w, ctl_r)
        os.close(ev_w)
        os.close(ctl_r)
        worker = _Worker(pid, ev_r, ctl_w)
        self.by_fd[ev_r] = worker
        self.by_pid[pid] = worker
        return worker

    @staticmethod
    def _tell(worker, obj):
        """Write one order line to a shell process (orders are small
        and it reads them at once: a blocking write is short);
        False when it is gone."""
        if worker.ctl_fd is None:
            return False
        view = memoryview(dumps(obj).encode() + b"\n")
        try:
            while view:
                view = view[os.write(worker.ctl_fd, view):]
        except OSError:
            return False
        return True

    @staticmethod
    def _become_shell(spec, ev_w, ctl_r):
        code = 1
        gc.disable()     # a shell lives briefly: no collection
        try:
            os.setsid()
            # every fd of the server but stderr and the shell's two
            # pipes, in three close_range calls (walking the server's
            # tables would touch, and so copy, their pages)
            low = 3
            for fd in sorted((ev_w, ctl_r)):
                os.closerange(low, fd)
                low = fd + 1
            os.closerange(low, _FD_END)
            # (stdin and stdout are the server's: /dev/null, see main)
            _signal.set_wakeup_fd(-1)
            # (_signal: its plain ints, without signal's enum members
            # and conversions)
            _signal.signal(_signal.SIGPIPE, _signal.SIG_IGN)
            _signal.signal(_signal.SIGHUP, _signal.SIG_DFL)
            _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
            code = worker_mod.serve(spec, ev_w, ctl_r)
        finally:
            os._exit(code)

    def order(self, obj):
        op, jobid = obj.get("op"), obj.get("id")
        if op == "launch":
            self.launch(jobid, obj.get("spec") or {})
            return
        if op == "shutdown":
            self.shutdown()
            return
        child = self.by_id.get(jobid)
        if op == "attach":
            if child is None:
                self.send({"id": jobid, "ev": "lost", "error": "its job"
                           " shell is gone (not found after the restart)"})
                return
            child.attached = True
            # a new reader: what the last one did not acknowledge again
            child.events.resend()
            self.send({"id": jobid, "ev": "attached", "start": child.start})
            self._flush(child)
            return
        if child is None:
            return
        if op == "ack":
            seq = obj.get("seq", 0)
            self.ack(child, seq if isinstance(seq, int) else 0,
                     bool(obj.get("forget")))
            return
        worker = child.worker
        if op in _SHELL_ORDERS:
            if worker is not None:
                obj.pop("id", None)
                self._tell(worker, obj)
        elif op == "terminate":
            pid = None if worker is None else worker.pid
            if obj.get("tasks") and not group_alive(child.pgid):
                if pid is not None:
                    try:
                        os.kill(pid, signal.SIGCONT)
                    except OSError:
                        pass
                return
            # the shell, and its tasks (a stopped or hung shell passes
            # on no signal)
            for kill, target in ((os.kill, pid), (os.killpg, child.pgid)):
                if target is None:
                    continue
                try:
                    kill(target, signal.SIGKILL)
                except OSError:
                    pass

    def shutdown(self):
        """End every shell (closing its order pipe makes it kill its
        tasks) and exit once they are gone."""
        self.closing = True
        self.free = []
        for worker in self.by_pid.values():
            if worker.ctl_fd is not None:
                os.close(worker.ctl_fd)
                worker.ctl_fd = None
            try:
                # a stopped shell must run to see the end of its orders
                os.kill(worker.pid, signal.SIGCONT)
            except OSError:
                pass

    # -- the loop -------------------------------------------------------------

    def _orders(self):
        orders, self.inbuf = read_orders(self.conn, self.inbuf)
        if orders is None:
            self._disconnect()
            return
        for obj in orders:
            self.order(obj)

    def _events(self, worker):
        data = os.read(worker.ev_fd, 65536)
        if not data:
            del self.by_fd[worker.ev_fd]
            os.close(worker.ev_fd)
            worker.ev_fd = None
            if worker in self.free:
                self.free.remove(worker)      # it is gone
            self._maybe_done(worker)
            return
        worker.buf += data
        cut = worker.buf.rfind(b"\n") + 1
        if not cut:
            return
        lines = worker.buf[:cut]
        worker.buf = worker.buf[cut:]
        # the process's "!CODE" after its job's last event: the shell is
        # over, the process free (nothing follows until the next launch)
        last = lines.rfind(b"\n", 0, cut - 1) + 1
        over = None
        if lines[last:last + 1] == b"!":
            over = int(lines[last + 1:cut - 1] or 0)
            lines = lines[:last]
        child = worker.job
        if child is not None and lines:
            if child.start is None and b'"ev":"start"' in lines:
                self._note_start(child, lines)
            # (with the shell's end, in the same write)
            child.events.add(lines)
            if over is None:
                self._flush(child)
        if over is not None:
            worker.job = None
            if child is not None:
                self._over(child, (over & 0xff) << 8)
            if not self.closing and len(self.free) < self.pool:
                self.free.append(worker)
            elif worker.ctl_fd is not None:
                os.close(worker.ctl_fd)      # it exits
                worker.ctl_fd = None

    @staticmethod
    def _note_start(child, lines):
        """The shell's ``start`` event; the tasks' process group is their
        first pid."""
        for line in lines.splitlines():
            if b'"ev":"start"' not in line:
                continue
            try:
                child.start = json.loads(line)
            except ValueError:
                return
            pids = child.start.get("pids") or []
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
            worker = self.by_pid.get(pid)
            if worker is not None:
                worker.status = status
                self._maybe_done(worker)
                for where in self.tmp_dirs:
                    jobtmp.remove_spare_of(where, pid)

    def _maybe_done(self, worker):
        """A shell process is gone once reaped and its event pipe
        drained; so is the shell of the job it ran."""
        if worker.status is None or worker.ev_fd is not None:
            return
        del self.by_pid[worker.pid]
        if worker.ctl_fd is not None:
            os.close(worker.ctl_fd)
            worker.ctl_fd = None
        if worker in self.free:
            self.free.remove(worker)
        child, worker.job = worker.job, None
        if child is not None:
            self._over(child, worker.status)

    def _over(self, child, status):
        """``child``'s shell is over with wait status ``status``."""
        pid = child.worker.pid if child.worker is not None else None
        child.worker = None
        child.exited = True
        self._hold(child, dumps(
            {"id": child.id, "ev": "shell-exit", "status": status,
             "pid": pid}).encode() + b"\n", final=True)

    def _rundir_gone(self):
        return self.rundir is not None and not os.path.isdir(self.rundir)

    def _done(self):
        if self.closing:
            return not self.by_pid
        # no broker and nothing held: a broker starts another when needed
        return self.served and self.conn is None and not self.by_id

    def serve(self):
        """Run until told to shut down (and the shells are gone), or
        until no broker is connected and no shell is left."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        while not self._done():
            fds = [self.wake_r, self.listen]
            fds += [fd for fd, w in self.by_fd.items()
                    if w.job is None or w.job.events.size < HOLD_LIMIT]
            if self.conn is not None:
                fds.append(self.conn)
            try:
                ready, _, _ = select.select(
                    fds, [], [], None if self.conn is not None else _POLL)
            except InterruptedError:
                continue
            for fd in ready:
                if fd == self.wake_r:
                    try:
                        os.read(fd, 4096)
                    except BlockingIOError:
                        pass
                elif fd is self.listen:
                    self._accept()
                elif fd is self.conn:
                    if self.conn is not None:
                        self._orders()
                elif fd in self.by_fd:
                    self._events(self.by_fd[fd])
            self._reap()
            if self.conn is None and not self.closing and self._rundir_gone():
                self.shutdown()


def group_alive(pgid):
    """Whether process group ``pgid`` has a live (not zombie) process
    (None: unknown, so yes)."""
    if pgid is None:
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid:
            return True
    return False


def listen(path):
    """Bind and listen on the UNIX socket ``path`` (its directory's, mode
    0600); a stale socket there is replaced."""
    directory, name = os.path.split(os.path.abspath(path))
    dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        short = socket_path(dirfd, name)
        try:
            os.unlink(short)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(short)
        finally:
            os.umask(old)
        sock.listen(4)
    finally:
        os.close(dirfd)
    return sock


def main(argv=None):
    """``python -m flux_shell.server SOCKET``: listen on SOCKET, say
    ``ready`` on stdout and serve (in a session of its own, so that it
    outlives the broker that started it)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("Usage: python -m flux_shell.server SOCKET\n")
        return 1
    try:
        os.setsid()
    except OSError:
        pass
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        # the broker's signals are not the server's: its own session
        signal.signal(signum, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        sock = listen(argv[0])
    except OSError as exc:
        sys.stderr.write(f"flux_shell.server: {argv[0]}: {exc.strerror}\n")
        return 1
    rundir = os.path.dirname(os.path.abspath(argv[0]))
    # warm the shell's code here, once, for every shell forked later (a
    # failure only leaves it cold)
    try:
        rehearse(rundir)
    except Exception as exc:
        sys.stderr.write(f"flux_shell.server: rehearsal: {exc}\n")
    os.write(1, b"ready\n")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    # what is loaded now stays shared with the shells: the collector
    # must not touch (and so copy) those pages in every forked shell
    gc.freeze()
    ShellServer(sock, rundir).serve()
    return 0


def _cores(spec):
    """The cores of the job of ``spec`` on this broker (a hint: None
    when R does not say)."""
    try:
        return tuple(affinity.local_ids(spec["R"], spec.get("broker_rank", 0),
                                        "core"))
    except (KeyError, TypeError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
