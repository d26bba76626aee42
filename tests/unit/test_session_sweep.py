"""tests/conftest.py's end-of-session sweep finds only its own leftovers."""

import os
import subprocess
import sys
import uuid

from twisted.trial.unittest import SynchronousTestCase

from tests import conftest

SLEEPER = "import sys, time; sys.stdout.write('up\\n'); sys.stdout.flush(); time.sleep(60)"


class SweepTests(SynchronousTestCase):
    """A leftover broker or ``flux start`` of this session is killed, one
    of another session (another token) is left alone."""

    def spawn(self, token, *argv):
        env = dict(os.environ, **{conftest._TOKEN_NAME: token})
        proc = subprocess.Popen([sys.executable, "-c", SLEEPER, *argv],
                                env=env, stdout=subprocess.PIPE)
        self.addCleanup(proc.wait)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.assertEqual(proc.stdout.readline(), b"up\n")
        proc.stdout.close()
        return proc

    def test_own_leftover_instances_are_killed_others_kept(self):
        mine, theirs = uuid.uuid4().hex, uuid.uuid4().hex
        broker = self.spawn(mine, "twistd", "-n", "fluxd")
        start = self.spawn(mine, "/x/bin/flux", "start")
        other = self.spawn(theirs, "twistd", "-n", "fluxd")
        # "fluxd" in a path (a clone in .../fluxd) makes no broker
        unrelated = self.spawn(mine, "/src/fluxd/bin/twistd", "web",
                               "--path=/src/fluxd")
        starting = self.spawn(mine, "/src/fluxd/bin/flux", "run", "start")
        found = conftest.instances(mine)
        self.assertEqual(found, {broker.pid, start.pid})
        conftest.kill_trees(found)
        self.assertEqual(broker.wait(timeout=10), -9)
        self.assertEqual(start.wait(timeout=10), -9)
        self.assertIsNone(other.poll())
        self.assertIsNone(unrelated.poll())
        self.assertIsNone(starting.poll())
