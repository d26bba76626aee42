# -*- test-case-name: tests.integration.test_exec_shells -*-
"""The exec service's shells on one broker: the shell server process.

:class:`ShellServerProcess` starts ``python -m flux_shell.server`` once,
for the first job (the interpreter and the shell code are loaded then,
not per job) and speaks its line protocol (see
:mod:`flux_shell.server`): ``launch``, ``kill``, ``input`` and
``terminate`` orders on its stdin, the shells' events on its stdout,
handed to the callback registered for each job.  When the server dies,
every job it held hears ``{"ev": "lost"}``; the next launch starts a
new server.
"""

import json
import os
import sys

from twisted.internet import defer, protocol
from twisted.internet.interfaces import IReactorProcess
from twisted.logger import Logger

from fluxd.errors import FluxError

__all__ = ["ShellServerProcess"]


class ShellServerProcess(protocol.ProcessProtocol):
    """The broker's end of its shell server.

    :param reactor: IReactorProcess.
    :param python: the interpreter that runs the server.
    :param env: the server's environment (the shells' own come from the
        jobspec).
    """

    log = Logger()

    def __init__(self, reactor, python=sys.executable, env=None):
        self.reactor = reactor
        self.python = python
        self.env = dict(os.environ if env is None else env)
        self.handlers = {}
        self.buf = b""
        self.running = False
        self.stopping = False
        self.ended = None

    def can_start(self):
        """Whether the reactor can start processes (a unit test's Clock
        cannot: its jobs' shells fail to start)."""
        return IReactorProcess.providedBy(self.reactor)

    def start(self):
        """Start the server (once, or again after it died).

        :raises FluxError: the reactor cannot start processes.
        """
        if self.running:
            return
        if not self.can_start():
            raise FluxError("this broker's reactor cannot start processes")
        self.running = True
        self.buf = b""
        self.ended = defer.Deferred()
        self.reactor.spawnProcess(
            self, self.python, [self.python, "-m", "flux_shell.server"],
            env=self.env, childFDs={0: "w", 1: "r", 2: 2})

    def stop(self):
        """Close the server's stdin: its shells kill their tasks, it
        exits.  :returns: a Deferred firing once it has."""
        self.stopping = True
        if not self.running or self.transport is None:
            return defer.succeed(None)
        self.transport.closeStdin()
        return self.ended

    def _send(self, obj):
        self.start()
        self.transport.write(json.dumps(obj, separators=(",", ":"))
                             .encode() + b"\n")

    def launch(self, jobid, spec, on_event):
        """Fork a shell for ``jobid``; its events go to ``on_event``
        (at once ``{"ev": "lost", "error"}`` when no server can start)."""
        try:
            self.start()
        except FluxError as exc:
            on_event({"id": jobid, "ev": "lost",
                      "error": f"cannot start the shell server: {exc}"})
            return
        self.handlers[jobid] = on_event
        self._send({"op": "launch", "id": jobid, "spec": spec})

    def kill(self, jobid, signum):
        """The shell of ``jobid`` sends ``signum`` to its tasks."""
        if jobid in self.handlers:
            self._send({"op": "kill", "id": jobid, "signum": signum})

    def input(self, jobid, data, eof):
        """Data (and the end) of the stdin of the tasks of ``jobid``."""
        if jobid in self.handlers:
            self._send({"op": "input", "id": jobid, "data": data,
                        "eof": eof})

    def order(self, jobid, order):
        """Pass ``order`` (``{"op": ...}``) on to the shell of ``jobid``."""
        if jobid in self.handlers:
            self._send(dict(order, id=jobid))

    def terminate(self, jobid):
        """SIGKILL the shell of ``jobid`` itself."""
        if jobid in self.handlers:
            self._send({"op": "terminate", "id": jobid})

    # -- ProcessProtocol ----------------------------------------------------

    def outReceived(self, data):
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                self.log.warn("shell server: bad line {line!r}", line=line)
                continue
            handler = self.handlers.get(event.get("id"))
            if handler is None:
                continue
            if event.get("ev") == "shell-exit":
                del self.handlers[event["id"]]
            try:
                handler(event)
            except Exception:
                self.log.failure("shell event of job {id}",
                                 id=event.get("id"))

    def processEnded(self, reason):
        self.running = False
        handlers, self.handlers = self.handlers, {}
        if not self.stopping:
            self.log.warn("shell server exited: {why}",
                          why=reason.getErrorMessage())
        lost = {"ev": "lost"}
        if self.stopping:
            lost["error"] = ("the broker stopped: job shells do not outlive"
                             " it")
        for jobid, handler in handlers.items():
            try:
                handler(dict(lost, id=jobid))
            except Exception:
                self.log.failure("shell event of job {id}", id=jobid)
        ended, self.ended = self.ended, None
        if ended is not None:
            ended.callback(None)
