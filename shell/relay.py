# -*- test-case-name: tests.unit.exec.test_relay -*-
"""The job shell of another user's job, as the IMP runs it: its relay.

``flux-shell JOBID`` (run by ``flux-imp exec`` as the job's user, see
:mod:`fluxd.exec._imp`) reads its spec on stdin, then becomes this relay:
it connects to its broker's socket for IMP shells (the spec's ``link``,
in the broker's rundir), says ``{"op": "hello", "id", "pid", "start"}``
and, once the broker answers ``{"op": "resume"}``, forks the job shell
(:func:`flux_shell.shell.run`) on two pipes, as the shell server does
for the instance owner's jobs (:mod:`flux_shell.server`).  The broker
knows the relay by the connection's SO_PEERCRED: it takes it only for a
job of that user.

The relay runs in a session of its own (the IMP's child) and outlives
its broker: the shell's event lines are numbered (``seq``) and held
until the broker acknowledges them (``{"op": "ack", "seq", "forget"}``),
at most ``HOLD_LIMIT`` bytes (past that the shell, then its tasks, block
on their writes).  When the connection is lost the relay connects again
every ``RETRY`` seconds and says hello again; the broker's ``resume``
(once rank 0 takes the job up again) makes it send again every event not
acknowledged.  The shell's exit (``shell-exit {status}``) is held until
the job is over (``forget``), then the relay exits.  Orders (``kill``,
``input``, ``barrier``, ``pmi``, ``pty-*``) go on to the shell;
``shutdown`` (the whole instance stops), a ``refused`` answer, or the
broker's rundir removed make it end the shell (which kills its tasks)
and exit.
"""

import json
import os
import select
import signal
import socket
import sys
import time

from flux_shell import shell as shell_mod
from flux_shell.held import HeldEvents, read_orders

__all__ = ["Relay", "main", "HOLD_LIMIT", "RETRY"]

#: bytes of events held while no broker takes them
HOLD_LIMIT = 4 * 1024 * 1024
#: seconds between two attempts to reach a broker that went away
RETRY = 0.25
#: seconds to wait for the broker's first answer
FIRST_ANSWER = 60.0
#: orders passed on to the shell
_SHELL_ORDERS = ("kill", "input", "barrier", "pmi", "pty-input",
                 "pty-resize")
#: signals the IMP forwards: the relay lives on (its orders come from the
#: broker), the shell gets them back as it starts
_IGNORED = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGALRM,
            signal.SIGUSR2, signal.SIGPIPE)


def connect(path):
    """A connected UNIX socket to ``path`` (whatever its length), or None."""
    directory, name = os.path.split(path)
    try:
        dirfd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    except OSError:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/{name}")
    except OSError:
        sock.close()
        return None
    finally:
        os.close(dirfd)
    return sock


class Relay:
    """One job shell and its link to the broker (see the module)."""

    def __init__(self, spec):
        self.spec = spec
        self.id = spec["id"]
        self.path = spec["link"]
        self.sock = None
        self.inbuf = b""
        self.resumed = False
        self.events = HeldEvents()
        self.start = None        # the shell's start event
        self.pid = None
        self.ev_fd = self.ctl_fd = None
        self.buf = b""
        self.status = None       # the shell's wait status
        self.exited = False      # shell-exit is held
        self.forgotten = False
        self.closing = False
        self.early = []          # orders for the shell before its fork
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)

    # -- the link -----------------------------------------------------------

    def hello(self):
        """Connect and say hello; False when the broker is not there."""
        sock = connect(self.path)
        if sock is None:
            return False
        self.sock, self.inbuf, self.resumed = sock, b"", False
        self._send({"op": "hello", "id": self.id, "pid": os.getpid(),
                    "start": self.start})
        return self.sock is not None

    def _send(self, obj):
        self._write((json.dumps(obj, separators=(",", ":")) + "\n").encode())

    def _write(self, data):
        if self.sock is None:
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            self._lost()
            return False
        return True

    def _lost(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.resumed = False
        # what the broker did not acknowledge may be lost with it
        self.events.resend()

    def _flush(self):
        if self.resumed:
            self.events.send(self._write)

    def _orders(self):
        orders, self.inbuf = read_orders(self.sock, self.inbuf)
        if orders is None:
            self._lost()
            return
        for obj in orders:
            self.order(obj)

    def order(self, obj):
        """One order of the broker."""
        op = obj.get("op")
        if op == "resume":
            self.resumed = True
            self.events.resend()
            self._flush()
        elif op == "ack":
            seq = obj.get("seq", 0)
            self.ack(seq if isinstance(seq, int) else 0,
                     bool(obj.get("forget")))
        elif op in ("shutdown", "refused"):
            if op == "refused" and self.pid is None:
                sys.stderr.write(f"flux-shell: job {self.id}: the broker"
                                 f" refused this shell: {obj.get('error')}\n")
            self.shutdown()
        elif op in _SHELL_ORDERS and self.pid is None:
            self.early.append(obj)
        elif op in _SHELL_ORDERS and self.ctl_fd is not None:
            line = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
            view = memoryview(line)
            try:
                while view:
                    view = view[os.write(self.ctl_fd, view):]
            except OSError:
                pass

    def ack(self, seq, forget):
        """Events up to ``seq`` are durable (never the shell's exit);
        ``forget``: the job is over."""
        if forget:
            self.forgotten = self.exited
            return
        self.events.ack(seq)

    def shutdown(self):
        """End the shell (the end of its orders makes it kill its tasks)
        and exit once it is gone."""
        self.closing = True
        if self.ctl_fd is not None:
            os.close(self.ctl_fd)
            self.ctl_fd = None
        if self.pid is not None and self.status is None:
            try:
                os.kill(self.pid, signal.SIGCONT)
            except OSError:
                pass

    # -- the shell ------------------------------------------------------------

    def fork_shell(self):
        """Fork the job shell on two pipes."""
        ev_r, ev_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for fd in (ev_r, ctl_w, self.wake_r, self.wake_w,
                           self.sock.fileno()):
                    os.close(fd)
                signal.set_wakeup_fd(-1)
                for signum in _IGNORED + (signal.SIGCHLD,):
                    signal.signal(signum, signal.SIG_DFL)
                code = shell_mod.run(self.spec, ev_w, ctl_r)
            finally:
                os._exit(code)
        os.close(ev_w)
        os.close(ctl_r)
        self.pid, self.ev_fd, self.ctl_fd = pid, ev_r, ctl_w
        early, self.early = self.early, []
        for order in early:
            self.order(order)

    def _hold(self, lines, final=False):
        self.events.add(lines, final)
        self._flush()

    def _events(self):
        data = os.read(self.ev_fd, 65536)
        if not data:
            os.close(self.ev_fd)
            self.ev_fd = None
            self._maybe_exited()
            return
        self.buf += data
        cut = self.buf.rfind(b"\n") + 1
        if cut:
            lines, self.buf = self.buf[:cut], self.buf[cut:]
            if self.start is None and b'"ev":"start"' in lines:
                for line in lines.splitlines():
                    if b'"ev":"start"' in line:
                        try:
                            self.start = json.loads(line)
                        except ValueError:
                            pass
                        break
            self._hold(lines)

    def _reap(self):
        if self.pid is None or self.status is not None:
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == self.pid:
            self.status = status
            self._maybe_exited()

    def _maybe_exited(self):
        if self.status is None or self.ev_fd is not None or self.exited:
            return
        if self.ctl_fd is not None:
            os.close(self.ctl_fd)
            self.ctl_fd = None
        self.exited = True
        self._hold(json.dumps({"id": self.id, "ev": "shell-exit",
                               "status": self.status},
                              separators=(",", ":")).encode() + b"\n",
                   final=True)

    # -- the loop -------------------------------------------------------------

    def _done(self):
        if self.closing:
            return self.status is not None and (
                self.sock is None or not self.events.held
                or not self.resumed)
        return self.forgotten

    def first_answer(self):
        """Wait for the broker's ``resume`` (or ``refused``)."""
        deadline = time.monotonic() + FIRST_ANSWER
        while self.sock is not None and not self.resumed \
                and not self.closing:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                self._orders()
        return self.resumed

    def serve(self):
        """Relay until the job is over (or the shell ended on orders)."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        next_try = 0.0
        while not self._done():
            fds = [self.wake_r]
            if self.ev_fd is not None and self.events.size < HOLD_LIMIT:
                fds.append(self.ev_fd)
            if self.sock is not None:
                fds.append(self.sock)
            timeout = None if self.sock is not None else RETRY
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except InterruptedError:
                ready = []
            for fd in ready:
                if fd == self.wake_r:
                    try:
                        os.read(fd, 4096)
                    except BlockingIOError:
                        pass
                elif fd == self.ev_fd:
                    self._events()
                elif fd is self.sock and self.sock is not None:
                    self._orders()
            self._reap()
            if self.sock is None and time.monotonic() >= next_try:
                if not os.path.isdir(os.path.dirname(self.path)):
                    # the broker's rundir is gone: the instance is over
                    self.shutdown()
                    self.events.clear()
                elif not self.closing:
                    self.hello()
                next_try = time.monotonic() + RETRY
        return os.waitstatus_to_exitcode(self.status or 0) \
            if self.status is not None else 1


def main(spec):
    """Run the relay of ``spec`` (its ``link``: the broker's socket);
    returns the exit code."""
    path = spec.get("link")
    if not isinstance(path, str) or not path:
        sys.stderr.write(f"flux-shell: job {spec.get('id')}: no link to"
                         " the broker in the spec\n")
        return 1
    for signum in _IGNORED:
        signal.signal(signum, signal.SIG_IGN)
    relay = Relay(spec)
    if not relay.hello():
        sys.stderr.write(f"flux-shell: job {relay.id}: cannot connect to"
                         f" {path}\n")
        return 1
    if not relay.first_answer():
        if relay.closing:
            return 1
        sys.stderr.write(f"flux-shell: job {relay.id}: no answer from the"
                         f" broker at {path}\n")
        return 1
    # from now on nothing is written to the broker's pipes (it may go)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    relay.fork_shell()
    code = relay.serve()
    return code if code >= 0 else 128 - code
