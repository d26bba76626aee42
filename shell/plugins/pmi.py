# -*- test-case-name: tests.unit.exec.test_shell_pmi -*-
"""Builtin ``pmi`` plugin: a PMI-1 simple wire-protocol server.

Each task gets one end of a socket pair and ``PMI_FD``, ``PMI_RANK``,
``PMI_SIZE``, ``PMI_SPAWNED=0`` in its environment; the shell answers
``init``, ``get_maxes``, ``get_appnum``, ``get_universe_size``,
``get_my_kvsname``, ``put``, ``get``, ``barrier_in``, ``finalize`` and
``abort`` on the other end.  Puts stay in the shell until a barrier:
once every local task entered it, the shell sends the puts made since
the last barrier, in one ``pmi-barrier {barrier, kvs}`` event, to the exec
service of rank 0, which waits for every shell of the job, merges their
batches and sends the whole to each shell (``pmi`` order); the shell
then answers ``barrier_out`` to its tasks, and their ``get``s see every
rank's puts.

``-o pmi=off`` (or ``none``) disables it; ``simple``, ``pmi1`` and
``pmi2`` (flux's names, a comma list) select this server.  A client that
sends what the protocol does not have, or calls ``PMI_Abort``, ends the
job with the reason logged.
"""

import _socket

__all__ = ["NAME", "flux_plugin_init", "PMIServer"]

NAME = "pmi"
KVSNAME_MAX, KEYLEN_MAX, VALLEN_MAX = 256, 256, 1024
_LINE_MAX = 4 * (KEYLEN_MAX + VALLEN_MAX)
_NAMES = {"simple", "pmi1", "pmi2"}


class PMIServer:
    """The PMI server of one shell (its local tasks)."""

    def __init__(self, shell):
        self.shell = shell
        self.kvsname = f"kvs_{shell.jobid}"
        self.kvs = {}
        self.puts = {}
        self.conns = {}          # fd -> [task rank, socket, buffer]
        self.child_ends = {}     # task rank -> socket (the task's end)
        self.waiting = []        # sockets in barrier_in
        self.seq = 0

    # -- tasks ------------------------------------------------------------

    def task_init(self, shell, topic, task):
        # (_socket's: no Python-level socket class to run in the shell)
        mine, theirs = _socket.socketpair(_socket.AF_UNIX,
                                          _socket.SOCK_STREAM)
        mine.setblocking(False)
        task.pass_fds.append(theirs.fileno())
        self.child_ends[task.rank] = theirs
        self.conns[mine.fileno()] = [task.rank, mine, b""]
        task.env.update(PMI_FD=str(theirs.fileno()),
                        PMI_RANK=str(task.rank),
                        PMI_SIZE=str(shell.size), PMI_SPAWNED="0")
        shell.watch(mine.fileno(), self.readable)

    def task_fork(self, shell, topic, task):
        theirs = self.child_ends.pop(task.rank, None)
        if theirs is not None:
            theirs.close()

    # -- the protocol -------------------------------------------------------

    def readable(self, fd):
        conn = self.conns.get(fd)
        if conn is None:
            return
        rank, sock, buf = conn
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(fd)
            return
        buf += data
        *lines, buf = buf.split(b"\n")
        if len(buf) > _LINE_MAX:
            self._garbage(rank, buf[:60])
        conn[2] = buf
        for line in lines:
            if line.strip():
                self.command(fd, rank, sock, line)

    def _close(self, fd):
        conn = self.conns.pop(fd)
        self.shell.unwatch(fd)
        if conn[1] in self.waiting:
            self.waiting.remove(conn[1])
        conn[1].close()

    def _garbage(self, rank, line):
        self.shell.die(1, f"pmi: task {rank}: protocol error: {line[:60]!r}")

    def command(self, fd, rank, sock, line):
        """Answer one request line of task ``rank``."""
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self._garbage(rank, line)
        fields = {}
        for token in text.strip().split(" "):
            key, sep, value = token.partition("=")
            if not sep:
                self._garbage(rank, line)
            fields[key] = value
        cmd = fields.get("cmd")
        handler = getattr(self, "cmd_" + str(cmd), None) \
            if isinstance(cmd, str) and cmd.isidentifier() else None
        if handler is None:
            self._garbage(rank, line)
        reply = handler(rank, sock, fields)
        if reply is not None:
            self._send(sock, reply)

    @staticmethod
    def _send(sock, text):
        data = (text + "\n").encode("ascii")
        sock.setblocking(True)
        try:
            sock.sendall(data)
        except OSError:
            pass                  # the task is gone; its exit says why
        finally:
            sock.setblocking(False)

    def cmd_init(self, rank, sock, f):
        ok = f.get("pmi_version") == "1"
        return (f"cmd=response_to_init rc={0 if ok else -1} pmi_version=1"
                " pmi_subversion=1")

    def cmd_get_maxes(self, rank, sock, f):
        return (f"cmd=maxes rc=0 kvsname_max={KVSNAME_MAX}"
                f" keylen_max={KEYLEN_MAX} vallen_max={VALLEN_MAX}")

    def cmd_get_appnum(self, rank, sock, f):
        return "cmd=appnum rc=0 appnum=0"

    def cmd_get_universe_size(self, rank, sock, f):
        return f"cmd=universe_size rc=0 size={self.shell.size}"

    def cmd_get_my_kvsname(self, rank, sock, f):
        return f"cmd=my_kvsname rc=0 kvsname={self.kvsname}"

    def _check(self, f, result):
        if f.get("kvsname") != self.kvsname:
            return f"cmd={result} rc=-1 msg=unknown_kvsname"
        key = f.get("key", "")
        if not key or len(key) > KEYLEN_MAX:
            return f"cmd={result} rc=-1 msg=invalid_key"
        return None

    def cmd_put(self, rank, sock, f):
        bad = self._check(f, "put_result")
        if bad:
            return bad
        value = f.get("value", "")
        if len(value) > VALLEN_MAX:
            return "cmd=put_result rc=-1 msg=value_too_long"
        self.kvs[f["key"]] = value
        self.puts[f["key"]] = value
        return "cmd=put_result rc=0 msg=success"

    def cmd_get(self, rank, sock, f):
        bad = self._check(f, "get_result")
        if bad:
            return bad
        value = self.kvs.get(f["key"])
        if value is None:
            return "cmd=get_result rc=-1 msg=key_not_found"
        return f"cmd=get_result rc=0 msg=success value={value}"

    def cmd_barrier_in(self, rank, sock, f):
        if sock not in self.waiting:
            self.waiting.append(sock)
        if len(self.waiting) == len(self.shell.local_ranks):
            self.seq += 1
            puts, self.puts = self.puts, {}
            self.shell.emit("pmi-barrier", barrier=self.seq, kvs=puts)
        return None

    def barrier_done(self, order):
        """The ``pmi`` order: every shell's puts of this barrier."""
        kvs = order.get("kvs")
        if isinstance(kvs, dict):
            self.kvs.update({str(k): str(v) for k, v in kvs.items()})
        waiting, self.waiting = self.waiting, []
        for sock in waiting:
            self._send(sock, "cmd=barrier_out rc=0")

    def cmd_finalize(self, rank, sock, f):
        return "cmd=finalize_ack rc=0"

    def cmd_abort(self, rank, sock, f):
        try:
            code = int(f.get("exitcode", "1"))
        except ValueError:
            code = 1
        msg = f.get("error_msg") or f.get("msg") or "(no message)"
        self.shell.die(code or 1, f"task {rank}: PMI_Abort: {msg}")


def _names(value):
    if value is None or value == 1:
        return {"simple"}
    names = {n.strip() for n in str(value).split(",") if n.strip()}
    if names & {"off", "none"}:
        return set()
    unknown = names - _NAMES
    if unknown:
        raise ValueError(f"pmi: unsupported PMI implementation"
                         f" {sorted(unknown)[0]!r} (this shell has simple,"
                         " also named pmi1 and pmi2)")
    return names


def flux_plugin_init(p):
    """Register ``shell.init``; the task handlers unless ``pmi=off``."""

    def init(shell, topic, task):
        if not _names(p.getopt("pmi")):
            return
        server = PMIServer(shell)
        p.add_handler("task.init", server.task_init)
        p.add_handler("task.fork", server.task_fork)
        shell.on_order("pmi", server.barrier_done)

    p.add_handler("shell.init", init)

