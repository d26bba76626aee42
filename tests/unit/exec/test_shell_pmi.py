"""The job shell's PMI-1 simple server, driven over real socket pairs
by hand (its shell a fake that records events), and the ``pmi`` and
``pty`` option parsing."""

import socket

from twisted.trial.unittest import SynchronousTestCase

from flux_shell.plugins import Task
from flux_shell.plugins import pmi as PMI
from flux_shell.plugins.pty import pty_ranks


class Died(Exception):
    pass


class FakeShell:
    """What PMIServer uses of a shell."""

    def __init__(self, ranks, size):
        self.jobid, self.size = 42, size
        self.local_ranks = ranks
        self.events, self.watched, self.orders = [], {}, {}

    def emit(self, ev, **fields):
        self.events.append(dict(fields, ev=ev))

    def die(self, code, message):
        raise Died(code, message)

    def watch(self, fd, callback):
        self.watched[fd] = callback

    def unwatch(self, fd):
        self.watched.pop(fd, None)

    def on_order(self, op, callback):
        self.orders[op] = callback


class PMIServerTests(SynchronousTestCase):

    def setUp(self):
        self.shell = FakeShell(range(2, 4), 4)
        self.server = PMI.PMIServer(self.shell)
        self.shell.on_order("pmi", self.server.barrier_done)
        self.clients = {}
        for localid, rank in enumerate(self.shell.local_ranks):
            task = Task(rank, localid, ["x"], {})
            self.server.task_init(self.shell, "task.init", task)
            self.assertEqual(
                {k: task.env[k] for k in ("PMI_RANK", "PMI_SIZE",
                                          "PMI_SPAWNED")},
                {"PMI_RANK": str(rank), "PMI_SIZE": "4", "PMI_SPAWNED": "0"})
            fd = int(task.env["PMI_FD"])
            self.assertEqual(task.pass_fds, [fd])
            self.clients[rank] = socket.socket(fileno=socket.dup(fd))
            self.server.task_fork(self.shell, "task.fork", task)
            self.clients[rank].setblocking(False)
        self.addCleanup(lambda: [c.close() for c in self.clients.values()])

    def send(self, rank, line):
        """Send ``line``; the server's answer (or None)."""
        self.clients[rank].sendall(line.encode() + b"\n")
        for fd, callback in list(self.shell.watched.items()):
            callback(fd)
        try:
            return self.clients[rank].recv(4096).decode()
        except BlockingIOError:
            return None

    def test_session(self):
        self.assertEqual(self.send(2, "cmd=init pmi_version=1"
                                      " pmi_subversion=1"),
                         "cmd=response_to_init rc=0 pmi_version=1"
                         " pmi_subversion=1\n")
        self.assertIn("vallen_max=1024", self.send(2, "cmd=get_maxes"))
        self.assertEqual(self.send(3, "cmd=get_appnum"),
                         "cmd=appnum rc=0 appnum=0\n")
        self.assertEqual(self.send(3, "cmd=get_universe_size"),
                         "cmd=universe_size rc=0 size=4\n")
        self.assertEqual(self.send(2, "cmd=get_my_kvsname"),
                         "cmd=my_kvsname rc=0 kvsname=kvs_42\n")
        self.assertEqual(self.send(2, "cmd=put kvsname=kvs_42 key=a"
                                      " value=1"),
                         "cmd=put_result rc=0 msg=success\n")
        self.assertIn("rc=-1 msg=unknown_kvsname",
                      self.send(2, "cmd=put kvsname=other key=a value=1"))
        self.assertIn("rc=-1 msg=value_too_long", self.send(
            2, "cmd=put kvsname=kvs_42 key=b value=" + "v" * 1025))
        # the barrier waits for both local tasks, then one batch goes out
        self.assertIsNone(self.send(2, "cmd=barrier_in"))
        self.assertEqual(self.shell.events, [])
        self.assertIsNone(self.send(3, "cmd=barrier_in"))
        self.assertEqual(self.shell.events, [
            {"ev": "pmi-barrier", "barrier": 1, "kvs": {"a": "1"}}])
        self.shell.orders["pmi"]({"op": "pmi", "barrier": 1,
                                  "kvs": {"a": "1", "z": "from-rank-0"}})
        for rank in (2, 3):
            self.assertEqual(self.clients[rank].recv(4096),
                             b"cmd=barrier_out rc=0\n")
        self.assertEqual(self.send(3, "cmd=get kvsname=kvs_42 key=z"),
                         "cmd=get_result rc=0 msg=success"
                         " value=from-rank-0\n")
        self.assertIn("rc=-1 msg=key_not_found",
                      self.send(3, "cmd=get kvsname=kvs_42 key=nope"))
        self.assertEqual(self.send(3, "cmd=finalize"),
                         "cmd=finalize_ack rc=0\n")
        # a closed client is forgotten
        self.clients[3].close()
        for fd, callback in list(self.shell.watched.items()):
            callback(fd)
        self.assertEqual(len(self.shell.watched), 1)

    def test_garbage_and_abort_end_the_shell(self):
        for line, why in (("cmd=spawn_me", "protocol error: b'cmd=spawn_me'"),
                          ("no equals here", "protocol error"),
                          ("cmd=__init__", "protocol error"),
                          ("\xff\xfe", "protocol error")):
            with self.assertRaises(Died) as caught:
                self.send(2, line)
            self.assertEqual(caught.exception.args[0], 1)
            self.assertIn(f"pmi: task 2: {why}", caught.exception.args[1])
        with self.assertRaises(Died) as caught:
            self.send(3, "cmd=abort exitcode=9 error_msg=bye")
        self.assertEqual(caught.exception.args,
                         (9, "task 3: PMI_Abort: bye"))
        with self.assertRaises(Died):
            self.send(3, "x" * 10000)      # a line without end


class OptionTests(SynchronousTestCase):

    def test_pmi_names(self):
        self.assertEqual(PMI._names(None), {"simple"})
        self.assertEqual(PMI._names("pmi1,pmi2"), {"pmi1", "pmi2"})
        self.assertEqual(PMI._names("off"), set())
        with self.assertRaises(ValueError):
            PMI._names("pmix")

    def test_pty_options(self):
        self.assertIsNone(pty_ranks(None, 4))
        self.assertEqual(pty_ranks(1, 3), ({0, 1, 2}, True, False))
        self.assertEqual(pty_ranks({"interactive": 1}, 3),
                         ({0}, False, True))
        self.assertEqual(pty_ranks({"ranks": "1-2"}, 3),
                         ({1, 2}, True, False))
        self.assertEqual(pty_ranks({"ranks": "all", "capture": 0}, 2),
                         ({0, 1}, False, False))
        for bad in ("yes", {"ranks": "x"}, {"size": 1}):
            with self.assertRaises(ValueError):
                pty_ranks(bad, 2)
