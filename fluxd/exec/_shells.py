# -*- test-case-name: tests.integration.test_exec_shells -*-
"""The exec service's shells on one broker: the shell server.

:class:`ShellServerProcess` connects to this broker's shell server
(``python -m flux_shell.server``, see :mod:`flux_shell.server`) on its
UNIX socket in the rundir, starting the server first when none answers
(once, for the first job: the interpreter and the shell code are loaded
then, not per job).  The server runs in a session of its own and outlives
the broker: a broker started again with the same rundir connects to it
again and ``attach``-es to the jobs it holds.  Orders (``launch``,
``attach``, ``kill``, ``input``, ``terminate``, ``shutdown``) go on the
connection, the shells' events come back on it, handed to the callback
registered for each job.  When the connection is lost without the broker
stopping (the server died), every job it held hears ``{"ev": "lost"}``;
the next order starts a new server.
"""

import json
import os
import shutil
import socket
import sys
import tempfile

from twisted.internet import defer, protocol
from twisted.internet.interfaces import IReactorProcess
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver

from fluxd.errors import FluxError
from fluxd.formats.jsonenc import dumps

__all__ = ["ShellServerProcess", "SOCKET_NAME"]

#: the server's socket in the rundir (one per rank), its log beside it
#: (``shells-{rank}.log``)
SOCKET_NAME = "shells-{rank}.sock"


class _Starter(protocol.ProcessProtocol):
    """Waits for a new server's ``ready`` line (or its early exit)."""

    def __init__(self):
        self.ready = defer.Deferred()
        self.out = b""

    def outReceived(self, data):
        self.out += data
        if b"ready\n" in self.out and not self.ready.called:
            self.ready.callback(None)

    def processEnded(self, reason):
        if not self.ready.called:
            self.ready.errback(FluxError(
                f"the shell server did not start: {reason.getErrorMessage()}"))


class _Conn(LineOnlyReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 1 << 30

    def __init__(self, owner):
        self.owner = owner

    def lineReceived(self, line):
        self.owner.line(line)

    def dataReceived(self, data):
        self.owner.reading = []
        try:
            super().dataReceived(data)
        finally:
            self.owner.read_done()

    def connectionLost(self, reason):
        self.owner.lost(self, reason)


class ShellServerProcess:
    """The broker's end of its shell server.

    :param reactor: IReactorProcess, IReactorSocket.
    :param python: the interpreter that runs the server.
    :param env: the server's environment (the shells' own come from the
        jobspec).
    :param rundir: where the server's socket is (None: a private
        directory, removed at stop, which ends the server).
    :param rank: this broker's rank (the socket's name).
    """

    log = Logger()

    def __init__(self, reactor, python=sys.executable, env=None, rundir=None,
                 rank=0):
        self.reactor = reactor
        self.python = python
        self.env = dict(os.environ if env is None else env)
        self.rundir = rundir
        self._private = rundir is None
        self.rank = rank
        self.handlers = {}
        self.conn = None
        self.queue = None       # orders waiting for the connection
        self.stopping = False
        self.ended = None
        # while the server's data is read: what to call at the end of it
        self.reading = None

    @property
    def path(self):
        """The server's socket."""
        if self.rundir is None:
            self.rundir = tempfile.mkdtemp(prefix="fluxd-shells-")
        return os.path.join(self.rundir, SOCKET_NAME.format(rank=self.rank))

    def can_start(self):
        """Whether the reactor can start processes (a unit test's Clock
        cannot: its jobs' shells fail to start)."""
        return IReactorProcess.providedBy(self.reactor)

    # -- the connection -----------------------------------------------------

    def _try_connect(self):
        directory, name = os.path.split(self.path)
        try:
            dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(f"/proc/self/fd/{dirfd}/{name}")
        except OSError:
            sock.close()
            return False
        finally:
            os.close(dirfd)
        sock.setblocking(False)
        conn = _Conn(self)
        self.reactor.adoptStreamConnection(
            sock.fileno(), socket.AF_UNIX, _Factory(conn))
        sock.close()
        self.conn = conn
        self.ended = defer.Deferred()
        return True

    def start(self):
        """Connect to the server, starting it when none answers; orders
        given meanwhile wait.

        :raises FluxError: the reactor cannot start processes.
        """
        if self.conn is not None or self.queue is not None:
            return
        if not self.can_start():
            raise FluxError("this broker's reactor cannot start processes")
        if self._try_connect():
            return
        self.queue = []
        starter = _Starter()
        # its errors (and its shells') go to a file beside the socket: it
        # outlives the broker, and must not hold the broker's stderr open
        log = os.open(self.path[:-len(".sock")] + ".log",
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.reactor.spawnProcess(
                starter, self.python,
                [self.python, "-m", "flux_shell.server", self.path],
                env=self.env, childFDs={0: "w", 1: "r", 2: log})
        finally:
            os.close(log)
        starter.ready.addCallback(lambda _: self._started())
        starter.ready.addErrback(self._start_failed)

    def _started(self):
        queue, self.queue = self.queue, None
        if not self._try_connect():
            self._start_failed(FluxError("cannot connect to the shell"
                                         " server"))
            return
        for data in queue:
            self.conn.transport.write(data)

    def _start_failed(self, failure):
        self.queue = None
        why = failure.getErrorMessage() if hasattr(
            failure, "getErrorMessage") else str(failure)
        self.log.error("shell server: {why}", why=why)
        self._lose_all(f"cannot start the shell server: {why}")

    def stop(self, kill=True):
        """Leave the server: with ``kill`` (the instance stops) tell it to
        end its shells, which kill their tasks; else its shells go on
        for the next broker.  :returns: a Deferred firing once the
        connection is closed (with ``kill``: once the shells are gone)."""
        self.stopping = True
        if self.conn is None:
            self._cleanup()
            return defer.succeed(None)
        ended = self.ended
        if kill:
            self._send({"op": "shutdown"})
        else:
            self.conn.transport.loseConnection()
        return ended.addCallback(lambda _: self._cleanup())

    def _cleanup(self):
        if self._private and self.rundir is not None:
            shutil.rmtree(self.rundir, ignore_errors=True)

    def _send(self, obj):
        data = dumps(obj).encode() + b"\n"
        self.start()
        if self.queue is not None:
            self.queue.append(data)
        else:
            self.conn.transport.write(data)

    # -- orders --------------------------------------------------------------

    def launch(self, jobid, spec, on_event):
        """Fork a shell for ``jobid``; its events go to ``on_event``
        (at once ``{"ev": "lost", "error"}`` when no server can start)."""
        self._order(jobid, on_event, {"op": "launch", "id": jobid,
                                      "spec": spec})

    def attach(self, jobid, on_event):
        """Take up the shell of ``jobid`` again (after a restart): its
        events, first ``attached`` (or ``lost``), go to ``on_event``."""
        self._order(jobid, on_event, {"op": "attach", "id": jobid})

    def _order(self, jobid, on_event, order):
        try:
            self.start()
        except FluxError as exc:
            on_event({"id": jobid, "ev": "lost",
                      "error": f"cannot start the shell server: {exc}"})
            return
        self.handlers[jobid] = on_event
        self._send(order)

    def ack(self, jobid, seq=0, forget=False):
        """The events of ``jobid`` up to ``seq`` are durable (``forget``:
        its job is over): the server may drop them."""
        if self.conn is not None or self.queue is not None:
            self._send({"op": "ack", "id": jobid, "seq": seq,
                        "forget": forget})

    def detach(self, jobid):
        """Stop relaying the events of ``jobid`` (its shell goes on)."""
        self.handlers.pop(jobid, None)

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

    def terminate(self, jobid, tasks=False):
        """SIGKILL the shell of ``jobid`` itself (``tasks``: only while
        its tasks run; else it is woken, SIGCONT, to end by itself)."""
        if jobid in self.handlers:
            self._send({"op": "terminate", "id": jobid, "tasks": tasks})

    # -- the server's lines ----------------------------------------------------

    def after_read(self, callback):
        """Call ``callback()`` once the data being read now is handled
        (the events of one read relayed together): False when no read
        is under way (the caller acts at once)."""
        if self.reading is None:
            return False
        self.reading.append(callback)
        return True

    def read_done(self):
        """The server's data read is handled: the callbacks it left."""
        callbacks, self.reading = self.reading, None
        for callback in callbacks or ():
            try:
                callback()
            except Exception:
                self.log.failure("shell server: after a read")

    def line(self, line):
        """One event line of the server."""
        try:
            event = json.loads(line)
        except ValueError:
            self.log.warn("shell server: bad line {line!r}", line=line)
            return
        handler = self.handlers.get(event.get("id"))
        if handler is None:
            return
        if event.get("ev") in ("shell-exit", "lost"):
            del self.handlers[event["id"]]
        try:
            handler(event)
        except Exception:
            self.log.failure("shell event of job {id}", id=event.get("id"))

    def lost(self, conn, reason):
        """The connection ended."""
        if conn is not self.conn:
            return
        self.conn = None
        if not self.stopping:
            self.log.warn("shell server connection lost: {why}",
                          why=reason.getErrorMessage())
            self._lose_all("the shell server exited: job shell lost")
        ended, self.ended = self.ended, None
        if ended is not None:
            ended.callback(None)

    def _lose_all(self, error):
        handlers, self.handlers = self.handlers, {}
        for jobid, handler in handlers.items():
            try:
                handler({"id": jobid, "ev": "lost", "error": error})
            except Exception:
                self.log.failure("shell event of job {id}", id=jobid)


class _Factory(protocol.Factory):
    def __init__(self, conn):
        self.conn = conn

    def buildProtocol(self, addr):
        return self.conn
