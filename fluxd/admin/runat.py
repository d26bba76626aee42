# -*- test-case-name: tests.unit.admin.test_runat -*-
"""The broker's scripts: rc1, rc2 (the initial program), cleanup and rc3.

Like flux-core's ``runat``, each phase is a list of commands run one after
another as real child processes (``reactor.spawnProcess``) with
``FLUX_URI`` set to the broker's local URI; the first failing command ends
the phase with its exit code.  Output lines of rc1/rc3 scripts go to the
broker log as ``rc1.0: <line>`` and each command's end is logged as the
admin guide's journal shows::

    broker.info[0]: rc1.0: running /etc/flux/rc1.d/02-cron
    broker.info[0]: rc1.0: /etc/flux/rc1.d Exited (rc=0) 2.6s

A *script directory* (``broker.rc1_path`` / ``broker.rc3_path`` naming a
directory) is one command that runs every executable regular file in it
in name order (files starting with ``.`` or ending in ``~`` are skipped),
logging ``running PATH`` before each.  A phase may also hold in-process
steps (the startlog on rank 0) that return a Deferred exit code.

The initial program (rc2) inherits the broker's standard input and output,
as the program given to ``flux start`` does.  Aborting a phase (a signal
to the broker, ``flux shutdown``) signals the running process, and the
phase then ends with that process's exit status (129 after SIGHUP).
"""

import os
import shlex

from twisted.internet import defer, error, protocol
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.lifecycle import IRunat


def exit_code_of(reason):
    """The shell-style exit code of a ``processEnded`` reason: the exit
    status, or 128 + the signal number."""
    value = reason.value
    if isinstance(value, error.ProcessDone):
        return 0
    if isinstance(value, error.ProcessTerminated):
        if value.signal is not None:
            return 128 + value.signal
        return value.exitCode if value.exitCode is not None else 1
    return 1


def list_scripts(directory):
    """The scripts a script directory runs, in order (full paths)."""
    found = []
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or name.endswith("~"):
            continue
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            found.append(path)
    return found


class _Collector(protocol.ProcessProtocol):
    """Log a child's output lines; fire ``ended`` with its exit code."""

    def __init__(self, log_line):
        self._log_line = log_line
        self._partial = {1: b"", 2: b""}
        self.signal = None
        self.ended = defer.Deferred()

    def childDataReceived(self, fd, data):
        buf = self._partial.get(fd, b"") + data
        *lines, self._partial[fd] = buf.split(b"\n")
        for line in lines:
            self._log_line(line.decode("utf-8", "replace").rstrip("\r"))

    def processEnded(self, reason):
        for fd, rest in self._partial.items():
            if rest:
                self._log_line(rest.decode("utf-8", "replace"))
        self._partial = {}
        if isinstance(reason.value, error.ProcessTerminated):
            self.signal = reason.value.signal
        self.ended.callback(exit_code_of(reason))


class _Step:
    """One command of a phase."""

    def __init__(self, kind, value, label=None):
        self.kind = kind        # "program", "directory" or "python"
        self.value = value
        self.label = label


@implementer(IRunat)
class Runat:
    """The phases of one broker.

    :param reactor: ``IReactorProcess`` + ``IReactorTime``.
    :param environ: the environment given to every command.
    :param uri: the broker's ``local://`` URI (``FLUX_URI``).
    """

    log = Logger()

    def __init__(self, reactor, environ, uri):
        self._reactor = reactor
        self._environ = dict(environ)
        self._environ["FLUX_URI"] = uri
        # a job's guest namespace (set in its tasks) is not this instance's
        self._environ.pop("FLUX_KVS_NAMESPACE", None)
        self._phases = {}
        self._current = {}
        self._aborted = set()

    # -- definition ---------------------------------------------------------

    def add_program(self, phase, argv, inherit_stdio=False):
        """Run ``argv`` (a list) in ``phase``; ``inherit_stdio`` gives it the
        broker's stdin/stdout/stderr instead of logging its output."""
        step = _Step("program", list(argv), shlex.join(argv))
        step.inherit = inherit_stdio
        self._phases.setdefault(phase, []).append(step)

    def add_path(self, phase, path):
        """Add ``broker.rcN_path``: a script directory or one executable.

        A path that does not exist adds nothing (the phase may stay
        undefined: ``rc1-none``).
        """
        if not path or not os.path.exists(path):
            return
        if os.path.isdir(path):
            self._phases.setdefault(phase, []).append(
                _Step("directory", path, path))
        else:
            self.add_program(phase, [path])

    def push(self, phase, argv):
        """Put a command at the front of ``phase`` (flux-core's
        ``runat_push``: cleanup commands pushed by rc1 run last-in,
        first-out)."""
        step = _Step("program", list(argv), shlex.join(argv))
        self._phases.setdefault(phase, []).insert(0, step)

    def add_step(self, phase, func):
        """Add an in-process step: ``func()`` returns an exit code or a
        Deferred firing with one."""
        self._phases.setdefault(phase, []).append(_Step("python", func))

    def is_defined(self, phase):
        """Whether ``phase`` has anything to run."""
        return bool(self._phases.get(phase))

    # -- IRunat -------------------------------------------------------------

    def run(self, phase):
        """Run a phase; see :meth:`fluxd.lifecycle.IRunat.run`."""
        if not self.is_defined(phase):
            return None
        self._aborted.discard(phase)
        return defer.Deferred.fromCoroutine(self._run(phase))

    def abort(self, phase, signum):
        """Signal the phase's running process; stop the rest of the phase."""
        self._aborted.add(phase)
        transport = self._current.get(phase)
        if transport is None:
            return
        try:
            transport.signalProcess(signum)
        except error.ProcessExitedAlready:
            pass

    async def _run(self, phase):
        index = 0
        for step in list(self._phases[phase]):
            if phase in self._aborted:
                return 128 + 15
            if step.kind == "python":
                rc = await defer.maybeDeferred(step.value)
            else:
                rc = await self._command(phase, index, step)
                index += 1
            if rc:
                return rc
        return 0

    async def _command(self, phase, index, step):
        tag = f"{phase}.{index}"
        start = self._reactor.seconds()
        rc, signum = 0, None
        if step.kind == "directory":
            for script in list_scripts(step.value):
                if phase in self._aborted:
                    rc = 128 + 15
                    break
                self.log.info("{tag}: running {script}", tag=tag, script=script)
                rc, signum = await self._spawn(phase, tag, [script], False)
                if rc:
                    break
        else:
            rc, signum = await self._spawn(phase, tag, step.value,
                                           getattr(step, "inherit", False))
        elapsed = self._reactor.seconds() - start
        how = (f"Exited (rc={rc})" if signum is None
               else f"Killed (signal {signum})")
        self.log.info("{tag}: {label} {how} {elapsed:.1f}s", tag=tag,
                      label=step.label, how=how, elapsed=elapsed)
        return rc

    def _spawn(self, phase, tag, argv, inherit):
        def log_line(line):
            self.log.info("{tag}: {line}", tag=tag, line=line)
        collector = _Collector(log_line)
        fds = {0: 0, 1: 1, 2: 2} if inherit else {0: "w", 1: "r", 2: "r"}
        try:
            transport = self._reactor.spawnProcess(
                collector, argv[0], argv, env=self._environ, childFDs=fds)
        except OSError as exc:
            self.log.error("{tag}: {path}: {why}", tag=tag, path=argv[0],
                           why=exc.strerror or exc)
            return defer.succeed((127, None))
        if not inherit:
            transport.closeStdin()
        self._current[phase] = transport

        def ended(rc):
            if self._current.get(phase) is transport:
                del self._current[phase]
            return rc, collector.signal
        return collector.ended.addCallback(ended)
