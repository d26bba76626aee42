# -*- test-case-name: tests.integration.test_exec_imp -*-
"""The exec service's shells of other users' jobs: run through the IMP.

:class:`ImpShells` starts ``<[exec] imp> exec <job-shell> <jobid>`` as a
child process of the broker (not of the shell server: the IMP must run
from the instance owner's side, and its sudo cannot be forked from a
process that outlives the broker).  The IMP reads its input
(``{"J": ...}``) through ``FLUX_IMP_EXEC_HELPER`` (``printf`` of a
``FLUX_IMP_EXEC_INPUT`` variable), so that the shell it execs as the
job's user inherits the child's stdin and stdout: the shell
(``flux-shell JOBID``) reads its spec as the first line of stdin, then
the orders the shell server would pass it (``kill``, ``input``, ``pmi``,
``pty-*``); its event lines come on stdout.  ``terminate`` goes through
``flux-imp kill 9 PID``.  The IMP's stderr is kept: a refusal (one
``flux-imp: Fatal:`` line) becomes a fatal ``log`` event, then
``shell-exit``.  These shells end with their broker (their stdin closes,
the shell kills its tasks; a shell still there :data:`STOP_GRACE`
seconds later, e.g. waiting on a task that escaped its process group,
is killed with its whole tree by ``flux-imp kill``): ``attach`` finds
none.
"""

import json
import os

from twisted.internet import defer, protocol
from twisted.logger import Logger

from flux_imp import api

__all__ = ["ImpShells"]

#: the shell command the IMP runs to read its input
_HELPER = 'printf %s "$FLUX_IMP_EXEC_INPUT"'
#: bytes of the IMP's stderr kept for the refusal message
_STDERR_MAX = 4096
#: seconds a stopping broker waits for a shell before ``flux-imp kill``
STOP_GRACE = 5.0


class _ImpShell(protocol.ProcessProtocol):
    """One IMP child: its event lines go to ``on_event``."""

    def __init__(self, owner, jobid, on_event):
        self.owner = owner
        self.id = jobid
        self.on_event = on_event
        self.buf = b""
        self.err = b""
        self.events = 0
        self.pid = None
        self.ended = defer.Deferred()

    def connectionMade(self):
        self.pid = self.transport.pid
        self.on_event({"id": self.id, "ev": "spawned", "pid": self.pid})

    def outReceived(self, data):
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            self._line(line)

    def _line(self, line):
        try:
            event = json.loads(line)
        except ValueError:
            self.owner.log.warn("job {id}: bad shell line {line!r}",
                                id=self.id, line=line)
            return
        if isinstance(event, dict):
            self.events += 1
            self.on_event(dict(event, id=self.id))

    def errReceived(self, data):
        if len(self.err) < _STDERR_MAX:
            self.err += data[:_STDERR_MAX - len(self.err)]

    def write(self, obj):
        if self.transport is not None:
            self.transport.write(
                json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def processEnded(self, reason):
        self.owner.jobs.pop(self.id, None)
        if self.buf:
            self._line(self.buf)
        status = getattr(reason.value, "status", None) or 0
        fatal = [ln for ln in self.err.decode("utf-8", "replace").splitlines()
                 if ln.startswith("flux-imp: Fatal:")]
        if status and self.events == 0:
            message = fatal[0] if fatal else (
                self.err.decode("utf-8", "replace").strip().splitlines()
                or [f"flux-imp exited with wait status {status}"])[-1]
            self.on_event({"id": self.id, "ev": "log", "level": 2,
                           "message": message})
        elif self.err:
            self.owner.log.warn("job {id}: flux-imp: {err}", id=self.id,
                                err=self.err.decode("utf-8", "replace"))
        try:
            self.on_event({"id": self.id, "ev": "shell-exit",
                           "status": status})
        finally:
            self.ended.callback(None)


class ImpShells:
    """The shells this broker runs through the IMP, by job id.

    :param reactor: IReactorProcess.
    :param imp: the IMP launcher (``[exec] imp``).
    :param shell: the job shell program (in the IMP's allowed-shells).
    :param env: the environment of the IMP (and of its shells).
    """

    log = Logger()

    def __init__(self, reactor, imp, shell, env=None):
        self.reactor = reactor
        self.imp = imp
        self.shell = shell
        self.env = dict(os.environ if env is None else env)
        self.jobs = {}

    def __contains__(self, jobid):
        return jobid in self.jobs

    def launch(self, jobid, spec, on_event):
        """Start the IMP for ``jobid``, whose ``spec`` carries ``J``."""
        spec = dict(spec)
        signed = spec.pop("J", None)
        if not isinstance(signed, str):
            on_event({"id": jobid, "ev": "log", "level": 2,
                      "message": "no J for the IMP"})
            on_event({"id": jobid, "ev": "shell-exit", "status": 256})
            return
        env = dict(self.env, FLUX_IMP_EXEC_HELPER=_HELPER,
                   FLUX_IMP_EXEC_INPUT=api.exec_input(signed).decode())
        child = _ImpShell(self, jobid, on_event)
        self.jobs[jobid] = child
        argv = api.exec_argv(self.imp, self.shell, jobid)
        try:
            self.reactor.spawnProcess(child, argv[0], argv, env=env,
                                      path="/")
        except OSError as exc:
            del self.jobs[jobid]
            on_event({"id": jobid, "ev": "log", "level": 2,
                      "message": f"cannot run {self.imp}: {exc.strerror}"})
            on_event({"id": jobid, "ev": "shell-exit", "status": 256})
            return
        child.write(spec)

    def attach(self, jobid, on_event):
        """After a restart: these shells ended with the broker."""
        on_event({"id": jobid, "ev": "lost", "error": "the job shell ran"
                  " through the IMP and ended with its broker"})

    def ack(self, jobid, seq=0, forget=False):
        """Nothing is held: the events came straight from the shell."""

    def detach(self, jobid):
        """Rank 0 went away: the shell goes on until this broker stops."""

    def kill(self, jobid, signum):
        """The shell sends ``signum`` to its tasks."""
        self.order(jobid, {"op": "kill", "signum": int(signum)})

    def input(self, jobid, data, eof):
        """Data (and the end) of the tasks' stdin."""
        self.order(jobid, {"op": "input", "data": data, "eof": eof})

    def order(self, jobid, order):
        """Pass ``order`` on to the shell on its stdin."""
        child = self.jobs.get(jobid)
        if child is not None:
            child.write(order)

    def terminate(self, jobid):
        """SIGKILL the shell's process group (``flux-imp kill``)."""
        child = self.jobs.get(jobid)
        if child is None or child.pid is None:
            return
        argv = api.kill_argv(self.imp, 9, child.pid)
        self.reactor.spawnProcess(_Quiet(self, argv), argv[0], argv,
                                  env=self.env, path="/")

    def stop(self, grace=STOP_GRACE):
        """The broker stops: close each shell's stdin (it ends its
        tasks, then itself); those still running ``grace`` seconds later
        are killed (:meth:`terminate`).  :returns: a Deferred firing
        once every IMP has exited."""
        children = list(self.jobs.values())
        for child in children:
            if child.transport is not None:
                child.transport.closeStdin()
        ended = defer.gatherResults([c.ended for c in children])
        if children:
            late = self.reactor.callLater(grace, self._kill_late, children,
                                          grace)

            def done(result):
                if late.active():
                    late.cancel()
                return result
            ended.addBoth(done)
        return ended

    def _kill_late(self, children, grace):
        for child in children:
            if self.jobs.get(child.id) is child:
                self.log.warn("job {id}: shell still running {grace}s after"
                              " its stdin closed: killed", id=child.id,
                              grace=grace)
                self.terminate(child.id)


class _Quiet(protocol.ProcessProtocol):
    def __init__(self, owner, argv):
        self.owner, self.argv, self.err = owner, argv, b""

    def errReceived(self, data):
        self.err += data[:_STDERR_MAX]

    def processEnded(self, reason):
        if getattr(reason.value, "exitCode", 0):
            self.owner.log.warn("{argv}: {err}", argv=" ".join(self.argv),
                                err=self.err.decode("utf-8", "replace"))
