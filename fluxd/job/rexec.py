# -*- test-case-name: tests.unit.job.test_rexec -*-
"""``rexec``: run a command on this broker (every rank), as the broker's
subprocess server does for ``flux exec``.

It serves the instance owner only; the job manager's prolog, epilog and
housekeeping and ``flux perilog-run`` use it to run commands on the
ranks of a job.  ``rexec.exec {cmd, env?}`` (streaming) starts ``cmd`` in
a process group of its own (through ``setsid(1)``, else a Python
launcher 6 times slower to start) and answers ``{type: "started", pid, rank,
hostname}``,
then ``{type: "output", stream, data}`` per chunk of its standard output
or error, then ``{type: "finished", status}`` (a wait status) and the
end of the stream.  A command that cannot be executed exits 127 (126
when not executable) after one line ending ``CMD: REASON`` on its
standard error.  ``rexec.kill {pid, signum}`` signals a command's process group;
a canceled or disconnected request SIGKILLs it.
"""

import os
import shutil
import signal
import sys

from twisted.internet import defer, protocol
from twisted.logger import Logger

from fluxd.errors import InvalidArgument, NotFound, ProtocolError
from fluxd.message.router import method
from fluxd.module import Module

__all__ = ["RexecService"]

#: the child: a process group of its own, then the command (or one line
#: and 126/127 when it cannot be executed)
_LAUNCH = (
    "import os,sys\n"
    "os.setsid()\n"
    "try:\n"
    "    os.execvp(sys.argv[1], sys.argv[1:])\n"
    "except OSError as e:\n"
    "    sys.stderr.write(f'{sys.argv[1]}: {e.strerror}\\n')\n"
    "    os._exit(126 if e.errno == 13 else 127)\n")


class _Command(protocol.ProcessProtocol):
    """One running command: its output and end go to ``request``."""

    def __init__(self, request, rank, hostname):
        self.request = request
        self.rank = rank
        self.hostname = hostname
        self.done = defer.Deferred()
        self.pid = None

    def connectionMade(self):
        self.pid = self.transport.pid
        self.transport.closeStdin()
        self.request.respond({"type": "started", "pid": self.pid,
                              "rank": self.rank, "hostname": self.hostname})

    def childDataReceived(self, fd, data):
        self.request.respond({"type": "output",
                              "stream": "stdout" if fd == 1 else "stderr",
                              "data": data.decode("utf-8", "replace")})

    def processEnded(self, reason):
        status = getattr(reason.value, "status", None) or 0
        self.request.respond({"type": "finished", "status": status})
        self.done.callback(None)

    def signal(self, signum):
        """Signal the command's process group (gone already: nothing)."""
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError, TypeError):
            pass


class RexecService(Module):
    """The ``rexec`` service of one broker (owner only).

    :param reactor: IReactorProcess.
    :param rank: this broker's rank.
    :param env: the base environment of the commands (default: the
        broker's).
    :param local_uri: this broker's URI, the commands' ``FLUX_URI``.
    :param hostname: this broker's host name (the ``hostname`` attribute),
        told to the requester with the pid.
    """

    name = "rexec"
    log = Logger()

    def __init__(self, reactor, rank=0, env=None, local_uri=None,
                 hostname=None):
        super().__init__(rank)
        self.hostname = hostname or f"rank{rank}"
        self.reactor = reactor
        self.env = dict(os.environ if env is None else env)
        if local_uri:
            self.env["FLUX_URI"] = local_uri
        setsid = shutil.which("setsid", path=self.env.get("PATH"))
        #: the argv before the command's own
        self.launcher = [setsid] if setsid else [sys.executable, "-c",
                                                 _LAUNCH]
        self.commands = {}
        self.stats.update(started=0)

    @method("exec", streaming=True)
    def rpc_exec(self, request):
        """``rexec.exec {cmd, env?}``: run ``cmd`` here (see the module
        doc for the responses)."""
        body = request.json()
        cmd, env = body.get("cmd"), body.get("env") or {}
        if not isinstance(cmd, list) or not cmd or not all(
                isinstance(a, str) and a for a in cmd):
            raise ProtocolError("rexec.exec: cmd must be a non-empty list"
                                " of non-empty strings")
        if not isinstance(env, dict) or not all(
                isinstance(k, str) and isinstance(v, str)
                for k, v in env.items()):
            raise ProtocolError("rexec.exec: env must map strings to"
                                " strings")
        child = _Command(request, self.rank, self.hostname)
        self.reactor.spawnProcess(
            child, self.launcher[0], [*self.launcher, *cmd],
            env=dict(self.env, **env), childFDs={0: "w", 1: "r", 2: "r"})
        self.stats["started"] += 1
        self.commands[child.pid] = child
        request.on_cancel(lambda: child.signal(signal.SIGKILL))
        child.done.addCallback(lambda _: self.commands.pop(child.pid, None))
        return child.done

    @method("kill")
    def rpc_kill(self, request):
        """``rexec.kill {pid, signum}``: signal a command started here."""
        body = request.json()
        pid, signum = body.get("pid"), body.get("signum")
        if not isinstance(pid, int) or not isinstance(signum, int):
            raise ProtocolError("rexec.kill: expected {pid, signum}")
        child = self.commands.get(pid)
        if child is None:
            raise NotFound(f"rexec: no command with pid {pid}")
        if not 0 < signum < signal.NSIG:
            raise InvalidArgument(f"rexec: invalid signal {signum}")
        child.signal(signum)
        return {}

    def stopService(self):
        for child in list(self.commands.values()):
            child.signal(signal.SIGKILL)
        return super().stopService()
