# -*- test-case-name: tests.integration.test_exec_imp -*-
"""The exec service's shells of other users' jobs: run through the IMP.

:class:`ImpShells` starts ``<[exec] imp> exec <job-shell> <jobid>`` as a
child process of the broker (the IMP must run from the instance owner's
side).  The IMP reads its input (``{"J": ...}``) through
``FLUX_IMP_EXEC_HELPER`` (``printf`` of a ``FLUX_IMP_EXEC_INPUT``
variable) and execs the shell as the user who signed J, in a session of
its own; the shell reads its spec as the first line of stdin and runs
under its relay (:mod:`flux_shell.relay`), which connects back to this
broker's socket for IMP shells (:data:`SOCKET_NAME` in the rundir, open
to every user).  The broker takes a connection for a job only from that
job's user (SO_PEERCRED) and only once at a time; anything else is
answered ``refused`` and closed.  Orders (``kill``, ``input``, ``pmi``,
``pty-*``, ``ack``) go on that connection and the shell's numbered events
come back on it.  ``terminate`` goes through ``flux-imp kill 9 PID``.  The
IMP's stderr is kept: a refusal (one ``flux-imp: Fatal:`` line) becomes
a fatal ``log`` event, then ``shell-exit``.

These shells outlive their broker, as the shell server's do: each job has
a record (``imp-shells-RANK.d/ID`` in the rundir: its user, the IMP's
launcher pid and the relay's pid), so that a broker started again finds
them; their relays hold their events and connect again, and rank 0's
``attach`` resumes the stream (``attached {start}``, then every event not
acknowledged).  A stop of the whole instance ends them: ``shutdown`` on
each connection (the shell kills its tasks), and those still there
:data:`STOP_GRACE` seconds later are killed with their whole tree by
``flux-imp kill``.
"""

import json
import os
import shutil
import socket
import struct
import tempfile

from twisted.internet import defer, protocol
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver

from fluxd.security import sign
from flux_imp import api
from flux_shell.server import group_alive

__all__ = ["ImpShells", "SOCKET_NAME"]

#: the shell command the IMP runs to read its input
_HELPER = 'printf %s "$FLUX_IMP_EXEC_INPUT"'
#: bytes of the IMP's stderr kept for the refusal message
_STDERR_MAX = 4096
#: seconds a stopping broker waits for a shell before ``flux-imp kill``
STOP_GRACE = 5.0
#: seconds a restarted broker waits for a shell to connect again
RECONNECT_GRACE = 30.0
#: the socket the relays connect to, in the rundir (records beside it)
SOCKET_NAME = "imp-shells-{rank}.sock"
_CRED = struct.calcsize("3i")


def _alive(pid):
    if not pid:
        return False
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError, ValueError):
        return False


class _Job:
    """One job's shell here: its user, processes, link and reader."""

    def __init__(self, jobid, userid, pid=None, relay=None):
        self.id, self.userid = jobid, userid
        self.pid, self.relay = pid, relay   # the launcher's, the relay's
        self.child = None          # the IMP (this broker started it)
        self.link = None           # the relay's connection
        self.handler = None        # rank 0's stream
        self.attaching = False     # rank 0 waits for "attached"
        self.status = None         # the IMP's wait status, once it ended
        self.ended = None          # the IMP's process protocol, ended
        self.start = None
        self.queue = []            # orders before the relay connected
        self.exited = False        # shell-exit was relayed
        self.forgotten = False
        self.ending = False        # the instance stops
        self.check = None          # the reconnection watch
        self.done = defer.Deferred()


class _Link(LineOnlyReceiver):
    delimiter = b"\n"
    #: a hello's most (an accepted relay's event lines may be long)
    MAX_LENGTH = 65536

    def __init__(self, owner):
        self.owner = owner
        self.job = None

    def lineReceived(self, line):
        self.owner.line(self, line)

    def send(self, obj):
        self.transport.write(
            json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def peer_uid(self):
        sock = self.transport.getHandle()
        return struct.unpack("3i", sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED))[1]

    def connectionLost(self, reason):
        self.owner.link_lost(self)


class _Factory(protocol.Factory):
    def __init__(self, owner):
        self.owner = owner

    def buildProtocol(self, addr):
        return _Link(self.owner)


class _ImpProcess(protocol.ProcessProtocol):
    """The IMP this broker started for one job (until its relay links
    up, its stderr says why it could not)."""

    def __init__(self, owner, job):
        self.owner, self.job = owner, job
        self.err = b""
        self.status = None

    def errReceived(self, data):
        if len(self.err) < _STDERR_MAX:
            self.err += data[:_STDERR_MAX - len(self.err)]

    def processEnded(self, reason):
        self.status = getattr(reason.value, "status", None) or 0
        self.owner.process_ended(self.job, self)

    def refusal(self):
        text = self.err.decode("utf-8", "replace")
        fatal = [ln for ln in text.splitlines()
                 if ln.startswith("flux-imp: Fatal:")]
        return fatal[0] if fatal else (
            text.strip().splitlines()
            or [f"flux-imp exited with wait status {self.status}"])[-1]


class ImpShells:
    """The shells this broker runs through the IMP, by job id.

    :param reactor: IReactorProcess, IReactorSocket, IReactorTime.
    :param imp: the IMP launcher (``[exec] imp``).
    :param shell: the job shell program (in the IMP's allowed-shells).
    :param env: the environment of the IMP (and of its shells).
    :param rundir: where the relays' socket and the records are (None: a
        private directory, removed at stop).
    :param rank: this broker's rank (the socket's name).
    """

    log = Logger()

    def __init__(self, reactor, imp, shell, env=None, rundir=None, rank=0):
        self.reactor = reactor
        self.imp = imp
        self.shell = shell
        self.env = dict(os.environ if env is None else env)
        self.rundir = rundir
        self._private = rundir is None
        self.rank = rank
        self.jobs = {}
        self.port = None
        self.stopped = False

    def __contains__(self, jobid):
        return jobid in self.jobs

    # -- the socket and the records -------------------------------------------

    @property
    def path(self):
        """The relays' socket."""
        if self.rundir is None:
            self.rundir = tempfile.mkdtemp(prefix="fluxd-imp-")
            os.chmod(self.rundir, 0o755)
        return os.path.join(self.rundir, SOCKET_NAME.format(rank=self.rank))

    def _record_path(self, jobid):
        return os.path.join(self.path[:-len(".sock")] + ".d", str(jobid))

    def _save(self, job):
        path = self._record_path(job.id)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path + ".new", "w") as f:
            json.dump({"userid": job.userid, "pid": job.pid,
                       "relay": job.relay}, f)
        os.replace(path + ".new", path)

    def _unsave(self, jobid):
        try:
            os.unlink(self._record_path(jobid))
        except FileNotFoundError:
            pass

    def listen(self):
        """Listen for the relays, and take up the jobs recorded by the
        last broker of this rundir whose shells still run (once)."""
        if self.port is not None:
            return
        directory, name = os.path.split(self.path)
        records = self._record_path(0)[:-2]
        for entry in (os.listdir(records) if os.path.isdir(records) else ()):
            if not entry.isdigit():
                continue
            try:
                with open(os.path.join(records, entry)) as f:
                    rec = json.load(f)
                job = _Job(int(entry), int(rec["userid"]), rec.get("pid"),
                           rec.get("relay"))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if _alive(job.pid) or _alive(job.relay):
                self.jobs[job.id] = job
            else:
                self._unsave(job.id)
        dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            short = f"/proc/self/fd/{dirfd}/{name}"
            try:
                os.unlink(short)
            except FileNotFoundError:
                pass
            sock.bind(short)
            # every user's relay connects; SO_PEERCRED says whose it is
            os.chmod(short, 0o666)
            sock.listen(64)
            sock.setblocking(False)
            self.port = self.reactor.adoptStreamPort(
                sock.fileno(), socket.AF_UNIX, _Factory(self))
        finally:
            sock.close()
            os.close(dirfd)

    # -- the relays' connections ----------------------------------------------

    def line(self, link, line):
        """One line of a relay: its hello first, then its events."""
        try:
            obj = json.loads(line)
        except ValueError:
            self.log.warn("IMP shell: bad line {line!r}", line=line[:200])
            return
        if not isinstance(obj, dict):
            return
        if link.job is None:
            self._hello(link, obj)
            return
        job = link.job
        if job.handler is None:
            return      # sent again on the next resume
        if obj.get("ev") == "start" and job.start is None:
            job.start = obj
        if obj.get("ev") == "shell-exit":
            job.exited = True
        handler = job.handler
        if obj.get("ev") == "shell-exit":
            job.handler = None
        try:
            handler(dict(obj, id=job.id))
        except Exception:
            self.log.failure("shell event of job {id}", id=job.id)

    def _hello(self, link, obj):
        jobid, uid = obj.get("id"), link.peer_uid()
        job = self.jobs.get(jobid) if obj.get("op") == "hello" \
            and isinstance(jobid, int) else None
        why = None
        if job is None:
            why = "no such job shell here"
        elif uid != job.userid:
            why = "that job is not yours"
        elif job.link is not None:
            why = "that job's shell is already connected"
        if why is not None:
            self.log.warn("IMP shell: refused a connection (uid {uid}) for"
                          " job {id}: {why}", uid=uid, id=jobid, why=why)
            link.send({"op": "refused", "error": why})
            link.transport.loseConnection()
            return
        link.job, job.link = job, link
        link.MAX_LENGTH = 1 << 30
        if isinstance(obj.get("start"), dict):
            job.start = obj["start"]
        if isinstance(obj.get("pid"), int) and obj["pid"] != job.relay:
            job.relay = obj["pid"]
            self._save(job)
        self._stop_check(job)
        queue, job.queue = job.queue, []
        if job.ending:
            link.send({"op": "shutdown"})
            return
        if job.handler is None:
            return      # rank 0 has not come back for it yet
        if job.attaching:
            job.attaching = False
            job.handler({"id": job.id, "ev": "attached", "start": job.start})
        link.send({"op": "resume"})
        for order in queue:
            link.send(order)

    def link_lost(self, link):
        """A relay's connection ended."""
        job = link.job
        if job is None or job.link is not link:
            return
        job.link = None
        self._check_end(job)

    def _check_end(self, job):
        """Neither link nor IMP: the job's shell ended (or, after a
        restart, its relay is to connect again)."""
        if job.link is not None:
            return
        if job.exited or job.forgotten or job.ending:
            self._maybe_drop(job)
        elif job.child is not None or self.stopped:
            return
        elif job.ended is not None:
            # the IMP this broker started ended without the shell's exit
            # (refused, or killed with its relay)
            handler, job.handler = job.handler, None
            job.exited = True
            if handler is not None:
                child = job.ended
                if job.relay is None and child.status:
                    handler({"id": job.id, "ev": "log", "level": 2,
                             "message": child.refusal()})
                elif child.err:
                    self.log.warn("job {id}: flux-imp: {err}", id=job.id,
                                  err=child.err.decode("utf-8", "replace"))
                handler({"id": job.id, "ev": "shell-exit",
                         "status": child.status})
            self._maybe_drop(job)
        elif job.handler is not None:
            self._watch(job)

    def _watch(self, job):
        """Wait for the relay to connect again; lost once its processes
        are gone or :data:`RECONNECT_GRACE` passed."""
        if job.check is not None:
            return
        deadline = self.reactor.seconds() + RECONNECT_GRACE

        def check():
            job.check = None
            if job.link is not None or job.handler is None or self.stopped:
                return
            if (_alive(job.pid) or _alive(job.relay)) \
                    and self.reactor.seconds() < deadline:
                job.check = self.reactor.callLater(0.5, check)
                return
            if _alive(job.pid) or _alive(job.relay):
                self._lost(job, "its job shell did not connect again after"
                           " the restart")
                self.terminate(job.id)
            else:
                self._lost(job, "its job shell is gone (not found after"
                           " the restart)")
            job.exited = True
            self._maybe_drop(job)
        job.check = self.reactor.callLater(0.5, check)

    def _stop_check(self, job):
        if job.check is not None and job.check.active():
            job.check.cancel()
        job.check = None

    def _lost(self, job, error):
        handler, job.handler = job.handler, None
        if handler is not None:
            handler({"id": job.id, "ev": "lost", "error": error})

    def process_ended(self, job, child):
        """The IMP this broker started for ``job`` exited."""
        job.child, job.ended = None, child
        self._check_end(job)

    def _maybe_drop(self, job):
        if job.link is not None or job.child is not None:
            return
        if not (job.forgotten or job.ending or job.exited):
            return
        self._stop_check(job)
        if self.jobs.get(job.id) is job:
            del self.jobs[job.id]
        self._unsave(job.id)
        if not job.done.called:
            job.done.callback(None)

    # -- orders ---------------------------------------------------------------

    def after_read(self, callback):
        """The IMP's relays hand events over one at a time: never
        (:meth:`~fluxd.exec._shells.ShellServerProcess.after_read`)."""
        return False

    def launch(self, jobid, spec, on_event):
        """Start the IMP for ``jobid``, whose ``spec`` carries ``J``."""
        spec = dict(spec)
        signed = spec.pop("J", None)
        try:
            userid = int(sign.unwrap(signed)[1])
        except (sign.SignError, TypeError, ValueError):
            on_event({"id": jobid, "ev": "log", "level": 2,
                      "message": "no valid J for the IMP"})
            on_event({"id": jobid, "ev": "shell-exit", "status": 256})
            return
        try:
            self.listen()
        except OSError as exc:
            on_event({"id": jobid, "ev": "log", "level": 2, "message":
                      f"cannot listen on {self.path}: {exc.strerror}"})
            on_event({"id": jobid, "ev": "shell-exit", "status": 256})
            return
        env = dict(self.env, FLUX_IMP_EXEC_HELPER=_HELPER,
                   FLUX_IMP_EXEC_INPUT=api.exec_input(signed).decode())
        job = _Job(jobid, userid)
        job.handler = on_event
        child = _ImpProcess(self, job)
        argv = api.exec_argv(self.imp, self.shell, jobid)
        try:
            self.reactor.spawnProcess(child, argv[0], argv, env=env,
                                      path="/")
        except OSError as exc:
            on_event({"id": jobid, "ev": "log", "level": 2,
                      "message": f"cannot run {self.imp}: {exc.strerror}"})
            on_event({"id": jobid, "ev": "shell-exit", "status": 256})
            return
        job.child, job.pid = child, child.transport.pid
        self.jobs[jobid] = job
        try:
            self._save(job)
        except OSError as exc:
            self.log.warn("job {id}: cannot record its IMP shell (it will"
                          " not be found after a restart): {why}",
                          id=jobid, why=exc.strerror)
        on_event({"id": jobid, "ev": "spawned", "pid": job.pid})
        child.transport.write(json.dumps(
            dict(spec, link=self.path), separators=(",", ":")).encode()
            + b"\n")
        child.transport.closeStdin()

    def attach(self, jobid, on_event):
        """Take up the shell of ``jobid`` again (after a restart): its
        events, first ``attached`` (or ``lost``), go to ``on_event``."""
        job = self.jobs.get(jobid)
        if job is None or job.exited and job.link is None:
            on_event({"id": jobid, "ev": "lost", "error": "its job shell"
                      " is gone (not found after the restart)"})
            return
        job.handler = on_event
        if job.link is not None:
            on_event({"id": jobid, "ev": "attached", "start": job.start})
            job.link.send({"op": "resume"})
            return
        job.attaching = True
        if job.child is None:
            self._watch(job)

    def ack(self, jobid, seq=0, forget=False):
        """The events of ``jobid`` up to ``seq`` are durable (``forget``:
        its job is over: the relay exits)."""
        job = self.jobs.get(jobid)
        if job is None:
            return
        self._send(job, {"op": "ack", "seq": seq, "forget": forget})
        if forget:
            job.forgotten = True
            job.handler = None
            self._maybe_drop(job)

    def detach(self, jobid):
        """Rank 0 went away: stop relaying (the relay holds the events
        until the next ``attach``)."""
        job = self.jobs.get(jobid)
        if job is not None:
            job.handler = None

    def kill(self, jobid, signum):
        """The shell sends ``signum`` to its tasks."""
        self.order(jobid, {"op": "kill", "signum": int(signum)})

    def input(self, jobid, data, eof):
        """Data (and the end) of the tasks' stdin."""
        self.order(jobid, {"op": "input", "data": data, "eof": eof})

    def order(self, jobid, order):
        """Pass ``order`` on to the shell."""
        job = self.jobs.get(jobid)
        if job is not None:
            self._send(job, order)

    def _send(self, job, order):
        if job.link is not None:
            job.link.send(order)
        elif job.child is not None and order.get("op") != "ack":
            job.queue.append(order)

    def terminate(self, jobid, tasks=False):
        """SIGKILL the shell and its whole tree (``flux-imp kill``;
        ``tasks``: only while its tasks' process group has a process)."""
        job = self.jobs.get(jobid)
        if job is None or job.pid is None:
            return
        pids = (job.start or {}).get("pids") or [None]
        if tasks and isinstance(pids[0], int) \
                and not group_alive(pids[0]):
            return      # the shell is only slow to end
        argv = api.kill_argv(self.imp, 9, job.pid)
        self.reactor.spawnProcess(_Quiet(self, argv), argv[0], argv,
                                  env=self.env, path="/")

    def stop(self, kill=True, grace=STOP_GRACE):
        """The broker stops.  With ``kill`` (the whole instance stops)
        each shell is told to end (it kills its tasks); those still
        running ``grace`` seconds later are killed (:meth:`terminate`).
        Without, the shells go on and their relays wait for the next
        broker.  :returns: a Deferred firing once done."""
        if self.port is not None:
            self.port.stopListening()
            self.port = None
        jobs = list(self.jobs.values())
        if not kill and not self._private:
            # (a private rundir goes with this broker: no other finds them)
            self.stopped = True
            for job in jobs:
                self._stop_check(job)
                if job.link is not None:
                    job.link.transport.loseConnection()
            return defer.succeed(None)
        for job in jobs:
            job.ending = True
            if job.link is not None:
                job.link.send({"op": "shutdown"})
            elif job.child is None:
                self.terminate(job.id)
            self._maybe_drop(job)
        ended = defer.gatherResults([job.done for job in jobs])
        if jobs:
            late = self.reactor.callLater(grace, self._kill_late, jobs,
                                          grace)

            def done(result):
                if late.active():
                    late.cancel()
                return result
            ended.addBoth(done)
        if self._private:
            ended.addBoth(self._cleanup)
        return ended

    def _cleanup(self, result):
        if self.rundir is not None:
            shutil.rmtree(self.rundir, ignore_errors=True)
        return result

    def _kill_late(self, jobs, grace):
        for job in jobs:
            if self.jobs.get(job.id) is job:
                self.log.warn("job {id}: shell still running {grace}s after"
                              " the instance stopped: killed", id=job.id,
                              grace=grace)
                self.terminate(job.id)
                if job.child is None:
                    # not this broker's child: nothing else tells its end
                    job.link = None
                    self._maybe_drop(job)


class _Quiet(protocol.ProcessProtocol):
    def __init__(self, owner, argv):
        self.owner, self.argv, self.err = owner, argv, b""

    def errReceived(self, data):
        self.err += data[:_STDERR_MAX]

    def processEnded(self, reason):
        if getattr(reason.value, "exitCode", 0):
            self.owner.log.warn("{argv}: {err}", argv=" ".join(self.argv),
                                err=self.err.decode("utf-8", "replace"))
