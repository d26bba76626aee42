# -*- test-case-name: tests.integration.test_shell_pty -*-
"""Builtin ``pty`` plugin: tasks on a terminal.

- ``-o pty``: every task runs on a pty of its own (stdin, stdout and
  stderr, a session whose controlling terminal it is); what it writes
  is captured as its stdout (``-o pty.capture``, implied);
- ``-o pty.ranks=all|IDSET``: only those task ranks get a pty;
- ``-o pty.interactive``: task 0 gets a pty for ``flux job attach`` (and
  ``flux run``) to drive from a terminal, not captured unless
  ``pty.capture`` is set too.  The shell sends what the task writes in
  ``pty {data}`` events (base64) to rank 0's exec service, which hands
  them to the attached client (``job-exec.pty-attach``, holding what
  came before the client attached); the client's keystrokes and window
  size come back as ``pty-input {data}`` and ``pty-resize {rows,
  cols}`` orders.  ``pty {eof, status}`` ends the session.

A pty task's standard input is its terminal: the job's stdin
(``job-exec.input``) does not reach it.  Tasks get ``FLUX_TERMINUS_
SESSION`` (their rank), as under flux's terminus server.
"""

import base64
import fcntl
import os
import struct
import termios

__all__ = ["NAME", "flux_plugin_init", "pty_ranks"]

NAME = "pty"


def pty_ranks(opt, size):
    """``(ranks, capture, interactive)`` of the ``pty`` option (None:
    no pty).  :raises ValueError: for a bad option."""
    if opt is None or opt == 0:
        return None
    if not isinstance(opt, dict):
        if opt in (1, "1", True):
            return set(range(size)), True, False
        raise ValueError(f"pty: invalid option {opt!r}")
    unknown = set(opt) - {"ranks", "capture", "interactive"}
    if unknown:
        raise ValueError(f"pty: unknown option pty.{sorted(unknown)[0]}")
    interactive = bool(opt.get("interactive"))
    ranks = opt.get("ranks")
    if ranks is None:
        ranks = {0} if interactive else set(range(size))
    elif ranks == "all":
        ranks = set(range(size))
    else:
        from flux_shell.plugins.affinity import parse_cpus
        try:
            ranks = set(parse_cpus(str(ranks)))
        except ValueError:
            raise ValueError(f"pty.ranks: invalid idset {ranks!r}") from None
    capture = bool(opt.get("capture", not interactive))
    return ranks, capture, interactive


class Terminals:
    """The ptys of one shell's tasks."""

    def __init__(self, shell, ranks, capture, interactive):
        self.shell = shell
        self.ranks, self.capture = ranks, capture
        self.interactive = interactive
        self.masters = {}       # task rank -> master fd
        self.slaves = {}
        self.session = None     # the interactive master
        # input and size that came before the terminal did (the tasks
        # start after the job's start barrier)
        self.early_input = []
        self.early_size = None
        if interactive and 0 in ranks and 0 in shell.local_ranks:
            shell.on_order("pty-input", self.input)
            shell.on_order("pty-resize", self.resize)

    def task_init(self, shell, topic, task):
        if task.rank not in self.ranks:
            return
        master, slave = os.openpty()
        self.masters[task.rank], self.slaves[task.rank] = master, slave
        task.stdio.update(stdin=slave, stdout=slave, stderr=slave)
        task.setsid = True
        task.env["FLUX_TERMINUS_SESSION"] = str(task.rank)

    def task_exec(self, shell, topic, task):
        if task.rank in self.ranks:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    def task_fork(self, shell, topic, task):
        slave = self.slaves.pop(task.rank, None)
        if slave is None:
            return
        os.close(slave)
        master = self.masters[task.rank]
        if self.interactive and task.rank == 0:
            self.session = master
            os.set_blocking(master, False)
            shell.watch(master, self.readable)
            if self.early_size is not None:
                self.resize(self.early_size)
            for order in self.early_input:
                self.input(order)
            self.early_input = []
        if self.capture:
            if self.session == master:
                raise ValueError("pty: an interactive pty cannot be"
                                 " captured too")
            shell.add_output(master, "stdout", task.rank)
            # the terminal merges stderr into stdout
            shell.pending.append(["stderr", task.rank, None])

    def readable(self, fd):
        """Send what the interactive task wrote; at its end, ``eof``."""
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.shell.unwatch(fd)
                return
            self.shell.emit("pty", data=base64.b64encode(data).decode())

    def task_exit(self, shell, topic, task):
        if self.session is not None and task.rank == 0:
            self.readable(self.session)
            shell.unwatch(self.session)
            os.close(self.session)
            self.session = None
            shell.emit("pty", eof=True, status=task.status)

    def input(self, order):
        if self.session is None:
            if len(self.early_input) < 1024:
                self.early_input.append(order)
            return
        try:
            data = base64.b64decode(order.get("data") or "")
        except ValueError:
            return
        view = memoryview(data)
        os.set_blocking(self.session, True)
        try:
            while view:
                view = view[os.write(self.session, view):]
        except OSError:
            pass              # the task closed its terminal
        finally:
            os.set_blocking(self.session, False)

    def resize(self, order):
        rows, cols = order.get("rows"), order.get("cols")
        if not isinstance(rows, int) or not isinstance(cols, int):
            return
        if self.session is None:
            self.early_size = order
            return
        fcntl.ioctl(self.session, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))


def flux_plugin_init(p):
    """Register ``shell.init``; the task handlers when ``pty`` is set."""

    def init(shell, topic, task):
        found = pty_ranks(p.getopt("pty"), shell.size)
        if found is None:
            return
        ranks, capture, interactive = found
        if not ranks & set(shell.local_ranks):
            return
        terms = Terminals(shell, ranks, capture, interactive)
        p.add_handler("task.init", terms.task_init)
        p.add_handler("task.exec", terms.task_exec)
        p.add_handler("task.fork", terms.task_fork)
        p.add_handler("task.exit", terms.task_exit)

    p.add_handler("shell.init", init)
