# -*- test-case-name: tests.integration.test_shell_pty -*-
"""The client end of an interactive pty job (``-o pty.interactive``).

``flux run`` and ``flux job attach`` use :class:`PtyClient` for such a
job: task 0's terminal output comes from the streaming
``job-exec.pty-attach`` and is written to this command's stdout as is;
what is read from its stdin goes to ``job-exec.pty-write``, and the
terminal's size to ``job-exec.pty-resize`` (at start and on SIGWINCH).
When stdin is a terminal it is put in raw mode for the session (so that
Ctrl-C, Ctrl-D, Ctrl-Z reach the job's terminal) and restored after.
Each direction runs in a daemon thread with a broker connection of its
own.  Stdlib only (no Twisted).
"""

import base64
import errno
import fcntl
import json
import os
import select
import signal
import struct
import termios
import threading
import tty

from fluxd.errors import FluxError

__all__ = ["PtyClient", "interactive"]


def interactive(jobspec):
    """Whether ``jobspec`` (a dict or its JSON) asks for ``-o
    pty.interactive``."""
    if isinstance(jobspec, str):
        try:
            jobspec = json.loads(jobspec)
        except ValueError:
            return False
    try:
        opt = jobspec["attributes"]["system"]["shell"]["options"]["pty"]
    except (KeyError, TypeError):
        return False
    return isinstance(opt, dict) and bool(opt.get("interactive"))


class PtyClient:
    """Drive the interactive pty of job ``jobid``.

    :param connect: opens a broker handle.
    :param fd_in: read for keystrokes; ``fd_out``: the task's output.
    """

    def __init__(self, connect, jobid, fd_in, fd_out):
        self.connect, self.jobid = connect, jobid
        self.fd_in, self.fd_out = fd_in, fd_out
        self.ready_event = threading.Event()
        self.ended = threading.Event()
        self.winch = threading.Event()
        self.saved = None
        self.status = None
        self.error = None
        self.threads = [
            threading.Thread(target=self._output, daemon=True, name="pty"),
            threading.Thread(target=self._input, daemon=True,
                             name="pty-in")]

    def start(self):
        """Raw mode (on a terminal) and the two threads."""
        if os.isatty(self.fd_in):
            self.saved = termios.tcgetattr(self.fd_in)
            tty.setraw(self.fd_in, termios.TCSANOW)    # keep typed input
            self.winch.set()
        for thread in self.threads:
            thread.start()

    def ready(self):
        """The exec service holds the job: attach."""
        self.ready_event.set()

    def on_winch(self, signum=None, frame=None):
        """SIGWINCH: send the new size."""
        self.winch.set()

    def stop(self, timeout=2.0):
        """Wait (a little) for the session's end; restore the terminal."""
        self.ended.wait(timeout)
        if self.saved is not None:
            termios.tcsetattr(self.fd_in, termios.TCSAFLUSH, self.saved)
            self.saved = None

    def _output(self):
        self.ready_event.wait()
        handle = None
        try:
            handle = self.connect()
            for reply in handle.stream("job-exec.pty-attach",
                                       {"id": self.jobid}):
                if reply.get("eof"):
                    self.status = reply.get("status")
                    break
                data = base64.b64decode(reply.get("data") or "")
                view = memoryview(data)
                while view:
                    view = view[os.write(self.fd_out, view):]
        except FluxError as exc:
            self.error = ("the job's terminal session has ended"
                          if exc.errno == errno.ENOENT else str(exc))
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                self.error = exc.strerror
        finally:
            self.ended.set()
            if handle is not None:
                handle.close()

    def _size(self):
        try:
            packed = fcntl.ioctl(self.fd_in, termios.TIOCGWINSZ, b"\0" * 8)
        except OSError:
            return None
        rows, cols = struct.unpack("HHHH", packed)[:2]
        return (rows, cols) if rows and cols else None

    def _input(self):
        self.ready_event.wait()
        handle = None
        try:
            handle = self.connect()
            while not self.ended.is_set():
                if self.winch.is_set():
                    self.winch.clear()
                    size = self._size()
                    if size:
                        handle.rpc("job-exec.pty-resize", {
                            "id": self.jobid, "rows": size[0],
                            "cols": size[1]})
                ready, _, _ = select.select([self.fd_in], [], [], 0.2)
                if not ready:
                    continue
                try:
                    data = os.read(self.fd_in, 4096)
                except OSError:
                    data = b""
                if not data:
                    return
                handle.rpc("job-exec.pty-write", {
                    "id": self.jobid,
                    "data": base64.b64encode(data).decode()})
        except FluxError:
            return      # the job ended: keystrokes are moot
        finally:
            if handle is not None:
                handle.close()


def install_winch(client):
    """Forward SIGWINCH to ``client``; returns the previous handler."""
    return signal.signal(signal.SIGWINCH, client.on_winch)
