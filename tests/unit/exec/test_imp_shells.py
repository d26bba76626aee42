"""ImpShells: the relays' connections (whose job, by SO_PEERCRED), the
records a restarted broker takes its jobs up from, and stop (a fake
reactor: Clock, recorded spawns and ports; fake connections)."""

import json
import os
import shutil
import tempfile

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.exec._imp import ImpShells, _Job


class _Port:
    def __init__(self):
        self.listening = True

    def stopListening(self):
        self.listening = False


class _Reactor(Clock):
    def __init__(self):
        super().__init__()
        self.spawned = []

    def spawnProcess(self, proto, executable, args, env=None, path=None):
        self.spawned.append(args)

    def adoptStreamPort(self, fileno, family, factory):
        return _Port()


class _Transport:
    def __init__(self, link):
        self.link = link
        self.closed = False

    def loseConnection(self):
        if not self.closed:
            self.closed = True
            self.link.owner.link_lost(self.link)


class _Link:
    """A relay's connection as ImpShells sees it."""

    def __init__(self, owner, uid):
        self.owner, self.uid = owner, uid
        self.job = None
        self.sent = []
        self.transport = _Transport(self)

    def send(self, obj):
        self.sent.append(obj)

    def peer_uid(self):
        return self.uid

    def say(self, obj):
        self.owner.line(self, json.dumps(obj).encode())


class Base(SynchronousTestCase):
    def setUp(self):
        self.reactor = _Reactor()
        self.rundir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.rundir, True)
        self.shells = ImpShells(self.reactor, "/x/flux-imp", "/x/flux-shell",
                                env={}, rundir=self.rundir)

    def running(self, jobid, userid, pid):
        """A job whose shell outlived the last broker (recorded)."""
        job = _Job(jobid, userid, pid)
        self.shells.jobs[jobid] = job
        self.shells._save(job)
        return job

    def link(self, uid, jobid):
        link = _Link(self.shells, uid)
        link.say({"op": "hello", "id": jobid, "pid": os.getpid(),
                  "start": None})
        return link


class LinkTests(Base):
    def test_another_users_hello_is_refused(self):
        self.running(7, 1001, os.getpid())
        bob = self.link(1002, 7)
        self.assertEqual(bob.sent, [{"op": "refused",
                                     "error": "that job is not yours"}])
        self.assertTrue(bob.transport.closed)
        self.assertIsNone(self.shells.jobs[7].link)

    def test_bad_hellos_are_refused(self):
        self.running(7, 1001, os.getpid())
        for hello in ({"op": "hello", "id": [7]}, {"op": "hi", "id": 7},
                      ["hello"]):
            link = _Link(self.shells, 1001)
            link.say(hello)
            if isinstance(hello, dict):
                self.assertEqual(link.sent, [{
                    "op": "refused", "error": "no such job shell here"}])
            self.assertIsNone(self.shells.jobs[7].link)

    def test_unknown_job_and_second_connection_refused(self):
        self.running(7, 1001, os.getpid())
        self.assertEqual(self.link(1001, 8).sent, [
            {"op": "refused", "error": "no such job shell here"}])
        alice = self.link(1001, 7)
        self.assertEqual(alice.sent, [])      # held until rank 0 attaches
        self.assertEqual(self.link(1001, 7).sent, [
            {"op": "refused",
             "error": "that job's shell is already connected"}])
        self.assertIs(self.shells.jobs[7].link, alice)

    def test_attach_then_reconnect_resumes(self):
        self.running(7, 1001, os.getpid())
        events = []
        self.shells.attach(7, events.append)
        self.assertEqual(events, [])
        alice = self.link(1001, 7)
        self.assertEqual(events, [{"id": 7, "ev": "attached",
                                   "start": None}])
        self.assertEqual(alice.sent, [{"op": "resume"}])
        alice.say({"seq": 1, "id": 7, "ev": "output", "data": []})
        self.assertEqual(events[-1]["ev"], "output")
        # the relay's pid is recorded for the next broker
        with open(os.path.join(self.rundir, "imp-shells-0.d", "7")) as f:
            self.assertEqual(json.load(f)["relay"], os.getpid())

    def test_relay_gone_is_lost(self):
        self.running(7, 1001, 0)
        events = []
        self.shells.attach(7, events.append)
        self.reactor.advance(1)
        self.assertEqual(events, [{"id": 7, "ev": "lost", "error":
                                   "its job shell is gone (not found after"
                                   " the restart)"}])
        self.assertNotIn(7, self.shells)
        self.assertEqual(os.listdir(os.path.join(self.rundir,
                                                 "imp-shells-0.d")), [])

    def test_forget_drops_the_record(self):
        self.running(7, 1001, os.getpid())
        self.shells.attach(7, lambda ev: None)
        alice = self.link(1001, 7)
        alice.say({"seq": 2, "id": 7, "ev": "shell-exit", "status": 0})
        self.shells.ack(7, 0, forget=True)
        self.assertEqual(alice.sent[-1], {"op": "ack", "seq": 0,
                                          "forget": True})
        alice.transport.loseConnection()
        self.assertNotIn(7, self.shells)


class RecordTests(Base):
    def test_listen_takes_up_live_records_only(self):
        self.running(7, 1001, os.getpid())
        self.running(8, 1001, 0)
        self.shells.jobs.clear()
        restarted = ImpShells(self.reactor, "/x/flux-imp", "/x/flux-shell",
                              env={}, rundir=self.rundir)
        restarted.listen()
        self.assertEqual(sorted(restarted.jobs), [7])
        self.assertEqual(restarted.jobs[7].userid, 1001)
        self.assertEqual(os.listdir(os.path.join(self.rundir,
                                                 "imp-shells-0.d")), ["7"])


class StopTests(Base):
    def test_restart_leaves_the_shells(self):
        self.running(7, 1001, os.getpid())
        alice = self.link(1001, 7)
        self.successResultOf(self.shells.stop(kill=False))
        self.assertTrue(alice.transport.closed)
        self.assertNotIn({"op": "shutdown"}, alice.sent)
        self.reactor.advance(60)
        self.assertEqual(self.reactor.spawned, [])
        self.assertIn(7, self.shells)

    def test_late_shell_killed_after_grace(self):
        self.running(1, 1001, os.getpid())
        self.running(2, 1001, 102)
        self.shells.jobs[2].relay = os.getpid()
        quick, late = self.link(1001, 1), self.link(1001, 2)
        d = self.shells.stop(grace=5)
        self.assertEqual(quick.sent, [{"op": "shutdown"}])
        self.assertEqual(late.sent, [{"op": "shutdown"}])
        quick.transport.loseConnection()
        self.reactor.advance(4.9)
        self.assertEqual(self.reactor.spawned, [])
        self.assertNoResult(d)
        self.reactor.advance(0.1)
        self.assertEqual(self.reactor.spawned,
                         [["/x/flux-imp", "kill", "9", "102"]])
        self.successResultOf(d)

    def test_unlinked_shell_of_the_last_broker_killed_at_once(self):
        self.running(3, 1001, 103)
        self.successResultOf(self.shells.stop(grace=5))
        self.assertEqual(self.reactor.spawned,
                         [["/x/flux-imp", "kill", "9", "103"]])

    def test_nothing_running(self):
        self.successResultOf(self.shells.stop())
        self.assertEqual(self.reactor.getDelayedCalls(), [])
