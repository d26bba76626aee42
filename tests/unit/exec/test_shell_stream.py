"""The ``job-exec.shell-launch`` stream of a rank's shells: the events of
one read of the shell server go to rank 0 as one response."""

import json

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from fluxd.exec._shells import ShellServerProcess, _Conn
from tests.unit.exec.fakejm import Bench, R, jobspec


class ShellStreamTests(SynchronousTestCase):
    def setUp(self):
        self.bench = Bench(self)
        # the server's end of the connection is ours: no process
        self.proc = ShellServerProcess(self.bench.clock)
        self.conn = _Conn(self.proc)
        self.conn.makeConnection(StringTransport())
        self.proc.conn = self.conn
        self.bench.exec.shells = self.proc
        self.responses = []
        router = self.bench.router
        self.stream = router.stream(
            "job-exec.shell-launch",
            {"id": 5, "f58": "f5", "shell_rank": 0, "jobspec": jobspec(),
             "R": R()}, cred=router.instance_cred, nodeid=0,
            on_response=self.responses.append)
        self.bench.settle()
        order = json.loads(self.conn.transport.value().splitlines()[0])
        self.assertEqual((order["op"], order["id"]), ("launch", 5))

    def read(self, *events):
        """One read of the server's connection holding ``events``."""
        self.conn.dataReceived(b"".join(
            json.dumps(dict(ev, id=5)).encode() + b"\n" for ev in events))
        self.bench.settle()

    def test_the_events_of_one_read_go_together(self):
        # spawned is the server's own business: not relayed
        self.read({"ev": "spawned", "pid": 1}, {"ev": "init", "seq": 1},
                  {"ev": "start", "seq": 2, "pids": [2]})
        self.assertEqual(len(self.responses), 1)
        events = self.responses[0]["events"]
        self.assertEqual([e["ev"] for e in events], ["init", "start"])
        self.assertEqual(events[1]["host"], self.bench.exec.hostname)
        # a lone event goes as itself
        self.read({"ev": "output", "seq": 3, "data": [["stdout", 0, "x\n"]]})
        self.assertEqual(self.responses[1]["ev"], "output")
        self.assertNoResult(self.stream.done)
        # the end: its last events together, then the stream ends
        self.read({"ev": "output", "seq": 4, "data": [["stdout", 0, "y\n"]]},
                  {"ev": "exit", "seq": 5, "code": 0},
                  {"ev": "shell-exit", "status": 0})
        self.assertEqual([e["ev"] for e in self.responses[2]["events"]],
                         ["output", "shell-exit"])
        self.assertEqual(len(self.responses), 3)
        self.successResultOf(self.stream.done)
