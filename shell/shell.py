# -*- test-case-name: tests.unit.exec.test_shell -*-
"""The job shell: one per job per rank (spec/jobs.md 5.1).

:func:`run` is the whole life of one shell, given the job's description
from the exec service (``spec``: id, rank, jobspec, R, hostname, uri) and
two pipes: ``ev_fd`` where it writes its events, one JSON object per
line, and ``ctl_fd`` where it reads orders (``{"op": "kill", "signum"}``).
When the spec says ``barrier`` (the exec service launches every shell of
a job so), the shell waits after ``init`` for the start barrier's
``{"op": "barrier"}`` order before it starts any task; a signal meanwhile
ends it (128 + the signal).  It lays out the tasks
(:mod:`flux_shell.taskmap`), changes to the job's ``cwd`` (``/tmp`` with
an error when that fails, as flux does), applies the jobspec's rlimits,
opens ``--output``/``--error``/``--input`` files, starts its tasks with
``posix_spawn`` in one process group of their own, feeds the tasks'
stdin from ``input`` orders (``{"op": "input", "data", "eof"}``, the
job's ``guest.input``) unless ``--input`` names a file, forwards SIGINT,
SIGTERM, SIGALRM, SIGHUP, SIGUSR1, SIGUSR2 and ``kill`` orders to them,
and sends their output in batches (at most one event per
``output.batch-timeout``, 50 ms by default, whatever the number of
lines), cut at ``output.limit``.  Its exit code is the highest task exit
code, 128+N for a task killed by signal N.  A shell without a start
barrier writes its ``init`` and ``start`` events in one write, and every
shell its last output with its ``exit`` (once its tasks are gone and
their output ended): fewer reads, lines and wake-ups for the exec
service, whose writes for the events of one read share a KVS commit.

Plugins (:mod:`flux_shell.plugins`) are called at each point of that
life (``shell.init``, ``task.init``, ``task.exec``, ...); they may watch
fds of their own in the loop and take orders of their own (``pmi``,
``pty-input``, ``pty-resize``).

Events: ``init``, ``start {taskmap, pids}``, ``output {data: [[stream,
taskrank, text]...]}``, ``eof {stream, rank}``, ``redirect {stream,
rank, path}``, ``log {level, message}`` (level 0-2 fatal, 3 error, 4
warning), ``exit {code}``; the plugins' ``pmi-barrier {barrier, kvs}`` and
``pty {data}`` / ``pty {eof, status}``.
"""

import _signal
import codecs
import fcntl
import json
import os
import resource
import select
import signal
import time

from fluxd.formats.jsonenc import dumps

from flux_shell import jobtmp
from flux_shell import plugins as P
from flux_shell import taskmap as TM
from flux_shell.forkexec import fork_exec
from flux_shell.options import OptionError, output_options, rlimits

__all__ = ["run", "run_shell", "Shell", "FORWARDED"]

# (_signal's plain ints: a forked shell touches no enum member)
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGALRM,
             _signal.SIGHUP, _signal.SIGUSR1, _signal.SIGUSR2)
#: what a task started by posix_spawn gets back to its default
_SPAWN_SIGDEF = FORWARDED + (_signal.SIGCHLD, _signal.SIGPIPE)
_FATAL, _ERROR, _WARN = 2, 3, 4
_utf8_decode = codecs.utf_8_decode
_LINE_MAX = 8192


class ShellExit(Exception):
    """The shell must stop now with ``code`` (a fatal error was logged)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class Shell:
    """One job shell (see the module docstring)."""

    def __init__(self, spec, ev_fd, ctl_fd):
        self.spec = spec
        self.ev_fd, self.ctl_fd = ev_fd, ctl_fd
        self.jobid = spec["id"]
        self.rank = spec.get("shell_rank", 0)
        self.hostname = spec.get("hostname", "")
        self.pgid = None
        self.tasks = {}          # pid -> task rank
        self.status = {}         # task rank -> exit code
        self.readers = {}        # fd -> [stream, task rank, undecoded, text]
        self.pending = []
        self.sent = 0
        self.limit = None
        self.limited = False
        self.batch_timeout = 0.05
        self.ctl_buf = b""
        self.label = False
        self.unbuffered = set()
        self.writers = {}        # fd -> bytes waiting for a task's stdin
        self.input_eof = False
        self.files = {}          # stream -> fd of a labelled output file
        self.task_objs = {}      # task rank -> flux_shell.plugins.Task
        self.sessions = set()    # pids of tasks in a session of their own
        # plugins (flux_shell.plugins)
        self.broker_rank = spec.get("broker_rank", 0)
        self.options = {}
        self.local_ranks = range(0)
        self.plugins = None
        self.watchers = {}       # fd -> callback(fd)
        self.order_handlers = {}  # op -> callback(order)
        self.signalled = None     # the last signal for the tasks
        self.exit_code = None
        self.tmpdir = None        # FLUX_JOB_TMPDIR, once made
        self.held = None          # event lines written together later
        self.rlimits_before = []  # (RLIMIT_*, (soft, hard)) replaced
        self.foreign = False      # code of the site's (initrc, plugins) ran
        self.clean = False        # ended without a shell bug

    # -- what plugins use ----------------------------------------------------

    def getopt(self, name, default=None):
        """The shell option ``name`` (dotted: ``pty.interactive``)."""
        value = _getopt(self.options, name)
        return default if value is None else value

    def watch(self, fd, callback):
        """Call ``callback(fd)`` when ``fd`` is readable."""
        self.watchers[fd] = callback

    def unwatch(self, fd):
        """Stop watching ``fd``."""
        self.watchers.pop(fd, None)

    def on_order(self, op, callback):
        """Call ``callback(order)`` for the exec service's ``op`` orders."""
        self.order_handlers[op] = callback

    def hook(self, topic, task=None):
        """Call the plugins of ``topic``; one that raises ends the job."""
        if self.plugins is None:
            return
        try:
            self.plugins.call(topic, task)
        except P.PluginError as exc:
            self.kill(signal.SIGKILL)
            self.die(1, str(exc))

    # -- events ---------------------------------------------------------------

    def emit(self, ev, **fields):
        """Write one event line to the exec service."""
        fields["ev"] = ev
        fields["id"] = self.jobid
        line = (dumps(fields) + "\n").encode()
        if self.held is not None:
            self.held += line
            return
        _write_all(self.ev_fd, line)

    def hold_events(self):
        """Keep the next event lines, to write them in one go at
        :meth:`release_events` (one read for the exec service, not
        one per event)."""
        if self.held is None:
            self.held = bytearray()

    def release_events(self):
        """Write the event lines kept since :meth:`hold_events`."""
        held, self.held = self.held, None
        if held:
            _write_all(self.ev_fd, held)

    def log(self, level, message):
        """A shell log line (``flux-shell[RANK]: LEVEL: message``)."""
        self.emit("log", level=level, message=message)

    def die(self, code, message):
        """Log a fatal error and stop with ``code``."""
        self.log(_FATAL, message)
        raise ShellExit(code)

    # -- set-up ---------------------------------------------------------------

    def layout(self):
        """This shell's task ranks and the job's task map."""
        jobspec, R = self.spec["jobspec"], self.spec["R"]
        try:
            counts = TM.tasks_per_rank(jobspec, R)
        except TM.TaskmapError as exc:
            self.die(1, f"taskmap: {exc}")
        ids = TM.task_ids(counts)
        broker_rank = self.spec.get("broker_rank", 0)
        if broker_rank not in ids:
            self.die(1, f"rank {broker_rank} is not in R")
        self.size = sum(counts.values())
        self.nnodes = len(counts)
        self.local_ranks = ids[broker_rank]
        return ids[broker_rank], TM.taskmap(counts)

    def environment(self, system):
        env = system.get("environment")
        env = dict(env) if isinstance(env, dict) else {}
        env = {str(k): str(v) for k, v in env.items()}
        f58 = self.spec.get("f58", str(self.jobid))
        env.update(FLUX_JOB_ID=f58, FLUX_JOB_SIZE=str(self.size),
                   FLUX_JOB_NNODES=str(self.nnodes),
                   FLUX_JOB_TMPDIR=self.make_tmpdir(env, f58),
                   # flux kvs in a task reads the job's guest namespace
                   FLUX_KVS_NAMESPACE=f"job-{self.jobid}")
        if self.spec.get("uri"):
            env["FLUX_URI"] = self.spec["uri"]
        return env

    def make_tmpdir(self, env, f58):
        """The job's own temporary directory on this node, as flux's
        shell makes it: ``$TMPDIR/jobtmp-SHELLRANK-JOBID`` (mode 0700),
        removed when the shell exits; ``$TMPDIR`` itself when it cannot
        be made."""
        base = env.get("TMPDIR") or "/tmp"
        # (where the shell server looks for a killed process's spare)
        path = os.path.join(jobtmp.where(env), f"jobtmp-{self.rank}-{f58}")
        try:
            jobtmp.make(path)
        except FileExistsError:
            pass                    # a reattached or restarted shell
        except OSError as exc:
            self.log(_WARN, f"cannot create {path}: {exc.strerror}")
            return base
        self.tmpdir = path
        return path

    def remove_tmpdir(self):
        """Remove the job's temporary directory (shell exit)."""
        if self.tmpdir is None:
            return
        jobtmp.remove(self.tmpdir)

    def chdir(self, system):
        cwd = system.get("cwd")
        if not isinstance(cwd, str) or not cwd:
            return
        try:
            os.chdir(cwd)
        except OSError as exc:
            self.log(_ERROR, f"Couldn't change dir to {cwd}:"
                     f" {exc.strerror}: going to /tmp instead")
            os.chdir("/tmp")

    def set_rlimits(self, options):
        for name, value in rlimits(options):
            which = getattr(resource, "RLIMIT_" + name.upper(), None)
            if which is None:
                continue
            soft, hard = resource.getrlimit(which)
            value = resource.RLIM_INFINITY if value < 0 else value
            if hard != resource.RLIM_INFINITY and (
                    value == resource.RLIM_INFINITY or value > hard):
                value = hard
            # (only the soft limit changes: the process can put it back)
            self.rlimits_before.append((which, (soft, hard)))
            try:
                resource.setrlimit(which, (value, hard))
            except (ValueError, OSError) as exc:
                self.log(_ERROR, f"rlimit: {name}: {exc}")

    def open_files(self, options, ranks):
        """``--input``/``--output``/``--error``: the fds of each stream
        (None: piped to the exec service)."""
        try:
            out = output_options(options, self.spec.get("f58", ""),
                                 self.jobid)
        except OptionError as exc:
            self.die(1, str(exc))
        self.limit = out.limit
        self.batch_timeout = out.batch_timeout
        self.label = out.label
        self.unbuffered = out.unbuffered
        fds = {}
        for stream in ("stdout", "stderr"):
            path = out.paths.get(stream)
            if path is None:
                fds[stream] = None
                continue
            if stream == "stderr" and path == out.paths.get("stdout"):
                fds[stream] = fds["stdout"]
                if "stdout" in self.files:
                    self.files[stream] = self.files["stdout"]
                continue
            try:
                fds[stream] = _high(os.open(path, os.O_WRONLY | os.O_CREAT
                                            | os.O_APPEND, 0o666))
            except OSError as exc:
                self.die(1, f"output: error opening {path}:"
                         f" {exc.strerror}")
            if self.label:
                # labelled: the shell writes the lines itself
                self.files[stream] = fds.pop(stream)
                fds[stream] = None
            if self.rank == 0:
                self.emit("redirect", stream=stream, path=path,
                          ranks="0" if self.size == 1
                          else f"0-{self.size - 1}")
        if out.input_path is None:
            fds["stdin"] = None      # a pipe each, fed by input orders
            return fds
        try:
            fds["stdin"] = _high(os.open(out.input_path, os.O_RDONLY))
        except OSError as exc:
            self.die(1, f"input: error opening {out.input_path}:"
                     f" {exc.strerror}")
        return fds

    # -- tasks ----------------------------------------------------------------

    def spawn(self, task, fds):
        taskrank, argv, env = task.rank, task.argv, task.env
        fds = dict(fds, **task.stdio)      # a plugin's (pty) first
        mine = []
        stdin_w = None
        if fds["stdin"] is None:
            r, w = os.pipe()
            r, stdin_w = _high(r), _high(w)
            actions = [(os.POSIX_SPAWN_DUP2, r, 0),
                       (os.POSIX_SPAWN_CLOSE, stdin_w)]
            mine.append((r, None, None))
        else:
            actions = [(os.POSIX_SPAWN_DUP2, fds["stdin"], 0)]
        for fileno, stream in ((1, "stdout"), (2, "stderr")):
            if fds[stream] is not None:
                actions.append((os.POSIX_SPAWN_DUP2, fds[stream], fileno))
                continue
            r, w = os.pipe()
            r, w = _high(r), _high(w)
            mine.append((r, w, stream))
            actions.append((os.POSIX_SPAWN_DUP2, w, fileno))
            actions.append((os.POSIX_SPAWN_CLOSE, r))
        for fd in task.pass_fds:
            os.set_inheritable(fd, True)
        try:
            if self.plugins is not None and self.plugins.has("task.exec"):
                pid = fork_exec(self, task, actions, FORWARDED)
            else:
                pid = os.posix_spawnp(
                    argv[0], argv, env, file_actions=actions,
                    setpgroup=0 if self.pgid is None else self.pgid,
                    setsigdef=_SPAWN_SIGDEF,
                    setsigmask=())
        except P.PluginError as exc:
            for r, w, _ in mine:
                os.close(r)
                if w is not None:
                    os.close(w)
            if stdin_w is not None:
                os.close(stdin_w)
            self.kill(signal.SIGKILL)
            self.die(1, f"task {taskrank} (host {self.hostname}): {exc}")
        except OSError as exc:
            for r, w, _ in mine:
                os.close(r)
                if w is not None:
                    os.close(w)
            if stdin_w is not None:
                os.close(stdin_w)
            code = 126 if exc.errno in (1, 13) else 127
            self.kill(signal.SIGKILL)
            self.die(code, f"task {taskrank} (host {self.hostname}): start"
                     f" failed: {argv[0]}: {exc.strerror}")
        if task.setsid:
            self.sessions.add(pid)
        elif self.pgid is None:
            self.pgid = pid
        if stdin_w is not None:
            os.set_blocking(stdin_w, False)
            self.writers[stdin_w] = bytearray()
        for r, w, stream in mine:
            if stream is None:
                os.close(r)          # the task's end of its stdin
                continue
            os.close(w)
            os.set_blocking(r, False)
            self.readers[r] = [stream, taskrank, b"", ""]
        self.tasks[pid] = taskrank
        task.pid = pid

    def kill(self, signum):
        """Send ``signum`` to every task (their process group, and the
        sessions of tasks with a terminal of their own)."""
        self.signalled = signum
        if not self.tasks:
            return
        for pgid in {self.pgid, *self.sessions} - {None}:
            try:
                os.killpg(pgid, signum)
            except OSError:
                pass      # all gone already

    def add_output(self, fd, stream, taskrank):
        """Read ``fd`` as ``stream`` of task ``taskrank`` (a plugin's
        pty); its end (or EIO) is that stream's end."""
        os.set_blocking(fd, False)
        self.readers[fd] = [stream, taskrank, b"", ""]

    # -- the loop -------------------------------------------------------------

    def _queue(self, stream, taskrank, text):
        if not text:
            return
        if stream in self.files:
            lines = text.splitlines(keepends=True)
            _write_all(self.files[stream], "".join(
                f"{taskrank}: {line}" for line in lines).encode())
            return
        if self.limit is not None:
            room = self.limit - self.sent
            if room <= 0:
                if not self.limited:
                    self.limited = True
                    self.log(_WARN, f"{stream}: output limit of"
                             f" {self.limit} bytes exceeded, the rest of"
                             " the job's output is discarded")
                return
            if len(text) > room:
                text = text[:room]
        self.sent += len(text)
        self.pending.append([stream, taskrank, text])

    def _read(self, fd):
        reader = self.readers[fd]
        stream, taskrank, head, buf = reader
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""         # EIO: a pty whose tasks all closed it
        # (an incremental utf-8 decoder's work, without its objects)
        head += data
        text, used = _utf8_decode(head, "replace", not data)
        reader[2] = head[used:]
        if stream == "stderr" or stream in self.unbuffered:
            self._queue(stream, taskrank, buf + text)
            buf = ""
        else:
            buf += text
            cut = buf.rfind("\n") + 1
            if cut == 0 and len(buf) > _LINE_MAX:
                cut = len(buf)
            if cut or not data:
                self._queue(stream, taskrank, buf[:cut] if data else buf)
                buf = buf[cut:] if data else ""
        reader[3] = buf
        if not data:
            os.close(fd)
            del self.readers[fd]
            if stream not in self.files:
                self.pending.append([stream, taskrank, None])

    def _flush(self):
        if not self.pending:
            return
        data, eofs = [], []
        for stream, taskrank, text in self.pending:
            if text is None:
                eofs.append([stream, taskrank])
            else:
                data.append([stream, taskrank, text])
        self.pending = []
        self.emit("output", data=data, eof=eofs)

    def _control(self):
        try:
            data = os.read(self.ctl_fd, 4096)
        except BlockingIOError:
            return
        if not data:
            # the exec service is gone: the job ends with it
            os.close(self.ctl_fd)
            self.ctl_fd = None
            self.kill(signal.SIGKILL)
            return
        self.ctl_buf += data
        self._orders()

    def _orders(self):
        """Carry out the complete order lines in :attr:`ctl_buf`."""
        *lines, self.ctl_buf = self.ctl_buf.split(b"\n")
        for line in lines:
            try:
                order = json.loads(line)
            except ValueError:
                continue
            if order.get("op") == "kill":
                self.kill(int(order.get("signum", signal.SIGTERM)))
            elif order.get("op") == "input":
                self.input(order.get("data") or "", bool(order.get("eof")))
            elif order.get("op") in self.order_handlers:
                self.order_handlers[order["op"]](order)

    def input(self, text, eof):
        """Data for every task's stdin; ``eof`` closes them once written."""
        data = text.encode("utf-8")
        for buf in self.writers.values():
            buf += data
        self.input_eof = self.input_eof or eof
        for fd in list(self.writers):
            self._write_input(fd)

    def _write_input(self, fd):
        buf = self.writers[fd]
        try:
            while buf:
                del buf[:os.write(fd, buf)]
        except BlockingIOError:
            return
        except OSError:
            buf.clear()          # the task closed its stdin or exited
            self._close_input(fd)
            return
        if self.input_eof:
            self._close_input(fd)

    def _close_input(self, fd):
        del self.writers[fd]
        os.close(fd)

    def _reap(self):
        while self.tasks:
            try:
                pid, ws = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            taskrank = self.tasks.pop(pid, None)
            if taskrank is None:
                continue
            code = os.waitstatus_to_exitcode(ws)
            self.status[taskrank] = 128 - code if code < 0 else code
            task = self.task_objs.get(taskrank)
            if task is not None:
                task.status = self.status[taskrank]
                self.hook("task.exit", task)

    def loop(self, wake_fd):
        """Pump output and orders until every task exited and every
        output pipe reached its end."""
        last_flush = time.monotonic()
        if b"\n" in self.ctl_buf:
            self._orders()     # read with the launch (a reused process)
        while self.tasks or self.readers:
            fds = list(self.readers) + [wake_fd] + list(self.watchers)
            if self.ctl_fd is not None:
                fds.append(self.ctl_fd)
            wfds = [fd for fd, buf in self.writers.items() if buf]
            timeout = None
            if self.pending:
                timeout = max(0.0, last_flush + self.batch_timeout
                              - time.monotonic())
            try:
                ready, writable, _ = select.select(fds, wfds, [], timeout)
            except InterruptedError:
                ready = writable = []
            for fd in writable:
                if fd in self.writers:
                    self._write_input(fd)
            for fd in ready:
                if fd == wake_fd:
                    try:
                        os.read(wake_fd, 4096)
                    except BlockingIOError:
                        pass
                elif fd == self.ctl_fd:
                    self._control()
                elif fd in self.readers:
                    self._read(fd)
                elif fd in self.watchers:
                    self.watchers[fd](fd)
            self._reap()
            if not self.tasks:
                for fd in list(self.writers):
                    self._close_input(fd)
            now = time.monotonic()
            if self.pending and now - last_flush >= self.batch_timeout \
                    and (self.tasks or self.readers):
                self._flush()
                last_flush = now
        # the last output goes with the exit event (see run)
        self.hold_events()
        self._flush()

    def main(self):
        """The shell's life; returns its exit code."""
        ranks, tmap = self.layout()
        jobspec = self.spec["jobspec"]
        system = (jobspec.get("attributes") or {}).get("system") or {}
        options = (system.get("shell") or {}).get("options") or {}
        try:
            argv = [str(a) for a in jobspec["tasks"][0]["command"]]
        except (KeyError, IndexError, TypeError):
            self.die(1, "jobspec has no command")
        if not argv:
            self.die(1, "jobspec command is empty")
        env = self.environment(system)
        self.chdir(system)
        self.set_rlimits(options)
        fds = self.open_files(options, ranks)
        self.options = options if isinstance(options, dict) else {}
        try:
            self.plugins = P.setup(self, self.spec)
        except P.PluginError as exc:
            self.die(1, str(exc))
        self.hook("shell.init")
        if not self.spec.get("barrier"):
            # a lone shell's init goes with its start, in one write
            self.hold_events()
        self.emit("init")
        self.hook("shell.post-init")
        if self.spec.get("barrier"):
            self.start_barrier()
        if "PATH" in env:
            os.environ["PATH"] = env["PATH"]
        for localid, taskrank in enumerate(ranks):
            task = P.Task(taskrank, localid, argv, dict(
                env, FLUX_TASK_RANK=str(taskrank),
                FLUX_TASK_LOCAL_ID=str(localid)))
            self.task_objs[taskrank] = task
            self.hook("task.init", task)
            self.spawn(task, fds)
            self.hook("task.fork", task)
        self.emit("start", taskmap=tmap, pids=sorted(self.tasks))
        self.release_events()
        self.hook("shell.start")
        return self.code_after_loop()

    def start_barrier(self):
        """Wait for rank 0's ``barrier`` order (every shell of the job
        reached init) before starting the tasks; a signal meanwhile (a
        kill order, or one the shell forwards) ends the shell with 128 +
        its number, and so does the end of the orders (SIGKILL: the exec
        service is gone)."""
        passed = []
        self.order_handlers["barrier"] = lambda order: passed.append(True)
        if b"\n" in self.ctl_buf:
            self._orders()     # read with the launch (a reused process)
        while not passed:
            if self.signalled is not None:
                raise ShellExit(128 + self.signalled)
            if self.ctl_fd is None:
                raise ShellExit(128 + signal.SIGKILL)
            try:
                # (a signal's handler does not end select: look again
                # every half second)
                ready, _, _ = select.select([self.ctl_fd], [], [], 0.5)
            except InterruptedError:
                continue
            if ready:
                self._control()

    def reusable(self):
        """Whether the process may run another job's shell once this one
        is over: the shell ended without a bug of its own, its tasks are
        reaped, none had a session of its own (a pty), and no code of
        the site's (an initrc, plugins) ran in it."""
        return (self.clean and not self.tasks and not self.sessions
                and not self.foreign)

    def code_after_loop(self):
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        signal.set_wakeup_fd(w)
        try:
            self.loop(r)
        finally:
            # (a shell exits next; the server's rehearsal goes on)
            signal.set_wakeup_fd(-1)
            os.close(r)
            os.close(w)
        return max(self.status.values(), default=0)


def _getopt(options, dotted):
    node = options
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return options.get(dotted) if isinstance(options, dict) else None
        node = node[part]
    return node


def _high(fd):
    """``fd`` moved above the standard descriptors (it is dup2'ed onto
    them in the tasks)."""
    if fd > 2:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return new


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


def _ignore(signum, frame):
    """SIGCHLD's handler: the wakeup fd is what the loop waits for."""


def _forward(shell):
    def handler(signum, frame):
        shell.kill(signum)
    return handler


def run(spec, ev_fd, ctl_fd):
    """Run one job shell; returns its exit code."""
    return run_shell(spec, ev_fd, ctl_fd)[0]


def run_shell(spec, ev_fd, ctl_fd, orders=b""):
    """Run one job shell (``orders``: the start of what ``ctl_fd``
    says, read already); returns its exit code and the :class:`Shell`,
    over."""
    shell = Shell(spec, ev_fd, ctl_fd)
    shell.ctl_buf = orders
    # (_signal: signal.signal's enum conversions cost more than the call
    # in a freshly forked shell)
    forward = _forward(shell)
    for signum in FORWARDED:
        _signal.signal(signum, forward)
    _signal.signal(_signal.SIGCHLD, _ignore)
    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
    if ctl_fd is not None:
        os.set_blocking(ctl_fd, False)
    try:
        code = shell.main()
        shell.clean = True
    except ShellExit as exc:
        code = exc.code
        shell.clean = True
        # tasks already started go with the shell
        shell.kill(signal.SIGKILL)
        shell._flush()
    except Exception as exc:          # the shell's own bug: say it, end
        shell.kill(signal.SIGKILL)
        shell.log(_FATAL, f"shell failed: {type(exc).__name__}: {exc}")
        code = 1
    shell.exit_code = code
    try:
        shell.hook("shell.exit")
    except ShellExit as exc:
        code = code or exc.code
    shell.remove_tmpdir()
    shell.emit("exit", code=code)
    shell.release_events()
    return code, shell
