"""ImpShells.stop: shells still running after their grace are killed
through ``flux-imp kill`` (a fake reactor: Clock and recorded spawns)."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.exec._imp import ImpShells, _ImpShell


class _Transport:
    def __init__(self, pid):
        self.pid = pid
        self.stdin_closed = False

    def closeStdin(self):
        self.stdin_closed = True

    def write(self, data):
        pass


class _Reactor(Clock):
    def __init__(self):
        super().__init__()
        self.spawned = []

    def spawnProcess(self, proto, executable, args, env=None, path=None):
        self.spawned.append(args)


def _running(shells, jobid, pid):
    child = _ImpShell(shells, jobid, lambda event: None)
    child.transport = _Transport(pid)
    child.connectionMade()
    shells.jobs[jobid] = child
    return child


class StopTests(SynchronousTestCase):
    def setUp(self):
        self.reactor = _Reactor()
        self.shells = ImpShells(self.reactor, "/x/flux-imp", "/x/flux-shell",
                                env={})

    def test_late_shell_killed_after_grace(self):
        quick = _running(self.shells, 1, 101)
        late = _running(self.shells, 2, 102)
        d = self.shells.stop(grace=5)
        self.assertTrue(quick.transport.stdin_closed)
        self.assertTrue(late.transport.stdin_closed)
        self.shells.jobs.pop(1)
        quick.ended.callback(None)
        self.reactor.advance(4.9)
        self.assertEqual(self.reactor.spawned, [])
        self.reactor.advance(0.1)
        self.assertEqual(self.reactor.spawned,
                         [["/x/flux-imp", "kill", "9", "102"]])
        self.assertNoResult(d)
        self.shells.jobs.pop(2)
        late.ended.callback(None)
        self.successResultOf(d)

    def test_no_kill_when_all_ended_in_time(self):
        child = _running(self.shells, 1, 101)
        d = self.shells.stop(grace=5)
        self.shells.jobs.pop(1)
        child.ended.callback(None)
        self.successResultOf(d)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.reactor.advance(10)
        self.assertEqual(self.reactor.spawned, [])

    def test_nothing_running(self):
        self.successResultOf(self.shells.stop())
        self.assertEqual(self.reactor.getDelayedCalls(), [])
