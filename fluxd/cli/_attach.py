# -*- test-case-name: tests.unit.cli.test_run -*-
"""Follow one job to its end as ``flux job attach`` does (``flux run``).

:class:`Attach` follows the job's eventlog until the wait event (``clean``
by default) and its exec eventlog, prints each exception
(``0.123s: job.exception ƒID type=T severity=N NOTE``), with
``show_events`` every job event and with ``show_exec`` every exec event,
and writes the job's output once its shell announces it.  The exit code
is the job's (``flux_job_waitstatus_to_exitcode``: the exit code, or
128+N when the job shell was killed by signal N), 1 if the job never
finished or ended with a fatal exception; a non-zero code is explained on
stderr (``flux-job: task(s) exited with exit code 3``).

Interaction as flux's: Ctrl-C once warns, twice within 2 s cancels the
job; Ctrl-C then Ctrl-Z within 2 s detaches; SIGTERM, SIGHUP, SIGALRM,
SIGUSR1 and SIGUSR2 are forwarded to the job.  On a terminal a status
line tells what a job that has not started after 2 s is waiting for.
"""

import codecs
import errno
import os
import signal
import threading
import time

from fluxd.cli._follow import WAITCREATE, context_string, render_output
from fluxd.errors import FluxError

__all__ = ["Attach", "StdinForwarder", "waitstatus_to_exitcode"]

PROG = "flux-job"
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM, signal.SIGUSR1,
             signal.SIGUSR2)

#: status line text after each event (attach_notify_msg)
_NOTIFY = {"submit": "submitted", "validate": "resolving dependencies",
           "depend": "waiting for priority assignment",
           "priority": "waiting for resources", "alloc": "starting",
           "start": "started"}


def waitstatus_to_exitcode(status):
    """A ``finish`` wait status as an exit code and its explanation.

    :returns: ``(code, message)``; message is None for success.
    """
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, f"job shell {signal.strsignal(sig)}"
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        if code > 128:
            return code, f"task(s) {signal.strsignal(code - 128)}"
        if code > 0:
            return code, f"task(s) exited with exit code {code}"
        return 0, None
    return 1, f"unexpected wait(2) status {status}"


class StdinForwarder:
    """Send the command's standard input to a job (``job-exec.input``)
    from a daemon thread with a connection of its own: the data read
    before the job's exec service holds the job waits for :meth:`ready`;
    the end of input is sent as ``eof``.  A job that is not run by job
    shells (a test job) takes no input: forwarding stops quietly.

    :param connect: opens a broker handle.
    :param fd: the file descriptor read.
    """

    def __init__(self, connect, jobid, fd):
        self.connect, self.jobid, self.fd = connect, jobid, fd
        self.ready_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name="stdin")

    def start(self):
        """Start reading."""
        self.thread.start()

    def ready(self):
        """The job's exec service has the job: input may be sent."""
        self.ready_event.set()

    def _run(self):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        handle = None
        try:
            while True:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                text = decoder.decode(data, final=not data)
                self.ready_event.wait()
                if handle is None:
                    handle = self.connect()
                handle.rpc("job-exec.input", {"id": self.jobid,
                                              "data": text,
                                              "eof": not data})
                if not data:
                    return
        except FluxError:
            return      # not a shell job, or it ended: input is moot
        finally:
            if handle is not None:
                handle.close()


class Attach:
    """Follow one job.

    :param env: the command's :class:`~fluxd.cli._submit.CommandEnv`.
    :param follower: an :class:`~fluxd.cli._follow.EventFollower`.
    :param jobid: the job id (int); ``label`` its text (f58).
    :param wait_event: stop at this main eventlog event.
    :param quiet: leave out the shell's log and redirect messages.
    :param clock: ``time.monotonic`` (Ctrl-C timing, status line).
    """

    def __init__(self, env, follower, jobid, label, wait_event="clean",
                 show_events=False, show_exec=False, label_io=False,
                 quiet=False, statusline=None, clock=time.monotonic):
        self.env = env
        self.follower = follower
        self.jobid, self.label = jobid, label
        self.wait_event = wait_event or "clean"
        self.show_events, self.show_exec = show_events, show_exec
        self.label_io = label_io
        self.quiet = quiet
        self.clock = clock
        self.exit_code = 1
        self.fatal_exception = False
        self.t0 = 0.0
        self.main = self.exec = self.output = None
        self.t_sigint = None
        self.signals = []
        self.status_msg = None
        self.status_shown = False
        self.stdin = None
        self.pty = None           # a PtyClient (-o pty.interactive)
        self.t_attach = clock()
        self.running = False      # the job started: its exec log ends
        self.exec_done = False    # with "done"; wait for it at the end
        self.ending = False
        if statusline is None:
            statusline = (not show_events and all(
                env.isatty(s) for s in (env.stdin, env.stdout, env.stderr)))
        self.statusline = statusline

    def _msg(self, text):
        self.env.stderr.write(f"{PROG}: {text}\n")

    # -- eventlogs ------------------------------------------------------------

    def _event(self, entry, error):
        if entry is None:
            if error is not None:
                if error.errno == errno.ENOENT:
                    self._msg(f"Failed to attach to {self.label}: No such"
                              " job")
                elif error.errno == errno.EPERM:
                    self._msg(f"Failed to attach to {self.label}: that is"
                              " not your job")
                else:
                    self._msg(f"flux_job_event_watch_get: {error}")
                self._detach()
            else:
                self._end()
            return
        name, context = entry["name"], entry.get("context") or {}
        ts = entry["timestamp"]
        if not self.t0:
            self.t0 = ts
        if name == "exception":
            self._clear_status()
            self.env.stderr.write(
                f"{ts - self.t0:.3f}s: job.exception {self.label}"
                f" type={context.get('type')}"
                f" severity={context.get('severity')}"
                f" {context.get('note', '')}\n")
            self.fatal_exception = context.get("severity") == 0
        elif name == "submit":
            self.exec = self.follower.watch(self.jobid, "guest.exec.eventlog",
                                            self._exec_event, WAITCREATE)
        elif name in ("alloc", "start"):
            # exec runs the job from its alloc on: its log ends with done
            self.running = True
        elif name == "finish":
            self.exit_code, message = waitstatus_to_exitcode(
                context.get("status", 0))
            if message:
                self._msg(message)
        if self.show_events and name != "exception":
            self._print_entry("job", entry)
        self._notify(name, context)
        if name == self.wait_event:
            if name == "clean":
                self._end()
            else:
                self._detach()

    def _print_entry(self, prefix, entry):
        context = context_string(entry.get("context"))
        self.env.stderr.write(f"{entry['timestamp'] - self.t0:.3f}s:"
                              f" {prefix}.{entry['name']}"
                              f"{' ' + context if context else ''}\n")

    def _exec_event(self, entry, error):
        if entry is None:
            return
        name = entry["name"]
        self.running = True
        if self.stdin is not None:
            self.stdin.ready()
        if self.pty is not None:
            self.pty.ready()
        if name == "shell.init" or (name == "complete"
                                    and self.output is None):
            self._watch_output()
        if name == "log":
            rendered = render_output(entry)
            if rendered is not None and not self.quiet:
                self.env.stderr.write(
                    f"{entry['timestamp'] - self.t0:.3f}s: {rendered[1]}")
        elif self.show_exec:
            self._print_entry("exec", entry)
        if name == "done":
            self.exec_done = True
            if self.ending:
                self._detach(keep_output=True)

    def _watch_output(self):
        if self.output is None:
            self.output = self.follower.watch(self.jobid, "guest.output",
                                              self._output)

    def _output(self, entry, error):
        # no guest.output (ENOENT) means the job wrote none: nothing to say
        if entry is None:
            self.env.stdout.flush()
            return
        if self.quiet and entry.get("name") in ("redirect", "log"):
            return
        rendered = render_output(entry, self.label_io)
        if rendered is not None:
            stream, text = rendered
            if entry.get("name") == "log":
                text = f"{entry['timestamp'] - self.t0:.3f}s: {text}"
            (self.env.stdout if stream == "stdout"
             else self.env.stderr).write(text)

    def _end(self):
        """The job is over: stop following it once its exec eventlog,
        which other services write in their own time, has its last
        event too."""
        self.ending = True
        if self.running and not self.exec_done and self.exec is not None:
            self.follower.stop(self.main)
            self.main = None
            return
        self._detach(keep_output=True)

    def _detach(self, keep_output=False):
        """Stop following the job; with ``keep_output`` its output log
        is read to its end (the stream ends once the job is inactive)."""
        for token in (self.main, self.exec,
                      None if keep_output else self.output):
            if token is not None:
                self.follower.stop(token)

    # -- status line and signals ------------------------------------------------

    def _notify(self, name, context):
        if self.fatal_exception:
            return
        if name == "exception" and context.get("severity") == 0:
            self.status_msg = "canceling due to exception"
        elif name in _NOTIFY:
            self.status_msg = _NOTIFY[name]
        if name in ("start", "clean"):
            self._clear_status(newline=True)
            self.statusline = False

    def _clear_status(self, newline=False):
        if self.status_shown:
            self.env.stderr.write("\n" if newline else "\r\033[K")
            self.status_shown = False

    def _draw_status(self):
        dt = int(self.clock() - self.t_attach)
        if not self.statusline or dt < 2 or not self.status_msg:
            return
        width = 80 - 10 - len(self.label) - 10
        self.env.stderr.write(
            f"\r{PROG}: {self.label} {self.status_msg:<{width}}"
            f" {dt // 3600:02d}:{dt // 60 % 60:02d}:{dt % 60:02d}\r")
        self.env.stderr.flush()
        self.status_shown = True

    def _on_signal(self, signum, frame):
        self.signals.append(signum)

    def _rpc(self, what, topic, payload):
        try:
            self.follower.h.rpc(topic, payload)
        except FluxError as exc:
            self._msg(f"{what}: {exc}")

    def tick(self):
        """Handle pending signals and redraw the status line."""
        while self.signals:
            signum = self.signals.pop(0)
            now = self.clock()
            recent = (self.t_sigint is not None
                      and now - self.t_sigint <= 2.0)
            if signum == signal.SIGINT:
                if not recent:
                    self.t_sigint = now
                    signal.signal(signal.SIGTSTP, self._on_signal)
                    self._msg("one more ctrl-C within 2s to cancel or"
                              " ctrl-Z to detach")
                else:
                    self._rpc("cancel", "job-manager.raise", {
                        "id": self.jobid, "severity": 0, "type": "cancel",
                        "note": "interrupted by ctrl-C"})
            elif signum == signal.SIGTSTP:
                if recent:
                    self._detach()
                    self._msg("detaching...")
                else:
                    signal.signal(signal.SIGTSTP, signal.SIG_DFL)
                    self._msg("one more ctrl-Z to suspend")
            else:
                self._rpc("kill", "job-manager.kill",
                          {"id": self.jobid, "signum": signum})
        self._draw_status()

    def forward_stdin(self, connect):
        """Send this command's standard input to the job (when it is a
        real file descriptor)."""
        try:
            fd = self.env.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return
        self.stdin = StdinForwarder(connect, self.jobid, fd)
        self.stdin.start()

    def use_pty(self, connect):
        """Drive the job's interactive pty from this command's stdin and
        stdout (:class:`~fluxd.cli._pty.PtyClient`) instead of sending
        stdin to every task."""
        from fluxd.cli._pty import PtyClient
        try:
            fd_in, fd_out = self.env.stdin.fileno(), self.env.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            return False
        self.pty = PtyClient(connect, self.jobid, fd_in, fd_out)
        return True

    def run(self, handle_signals=True):
        """Follow the job to its end; returns the exit code."""
        saved = {}
        if handle_signals:
            for signum in (signal.SIGINT, *FORWARDED):
                saved[signum] = signal.signal(signum, self._on_signal)
            saved[signal.SIGTSTP] = signal.getsignal(signal.SIGTSTP)
        if self.pty is not None:
            from fluxd.cli._pty import install_winch
            saved[signal.SIGWINCH] = install_winch(self.pty)
            self.env.stdout.flush()
            self.pty.start()
        try:
            self.main = self.follower.watch(self.jobid, "eventlog",
                                            self._event)
            self.follower.run(tick=self.tick)
        finally:
            if self.pty is not None:
                self.pty.stop()
                if self.pty.error:
                    self._msg(f"pty: {self.pty.error}")
            for signum, handler in saved.items():
                signal.signal(signum, handler)
            self._clear_status()
        if self.fatal_exception and self.exit_code == 0:
            self.exit_code = 1
        return self.exit_code
