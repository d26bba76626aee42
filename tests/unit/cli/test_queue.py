"""``flux queue`` against the fake job broker (spec/cli.md section 2)."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.cmd_queue import QueueCommand
from fluxd.errors import TimedOut

from tests.unit.cli.fakejobs import GUEST, FakeJobBroker
from tests.unit.cli.test_submit import make_env, run as submit


def queue(argv, broker=None):
    env = make_env(broker)
    try:
        rc = QueueCommand(env).run(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, env.stdout.getvalue(), env.stderr.getvalue()


class QueueTests(SynchronousTestCase):
    def test_status_and_verbose(self):
        broker = FakeJobBroker()
        self.assertEqual(queue(["status"], broker),
                         (0, "Job submission is enabled\nScheduling is"
                          " started\n", ""))
        submit(["--urgency=hold", "true"], broker)
        rc, out, err = queue(["status", "-v"], broker)
        self.assertEqual(out.splitlines()[2:], [
            "1 alloc requests queued", "0 alloc requests pending to"
            " scheduler", "0 running jobs"])

    def test_disable_enable(self):
        broker = FakeJobBroker()
        self.assertEqual(queue(["disable"], broker),
                         (0, "Job submission is disabled: disabled by"
                          " administrator\n", ""))
        rc, out, err = submit(["true"], broker)
        self.assertEqual((rc, err), (1, "[Errno 22] job submission is"
                                     " disabled: disabled by"
                                     " administrator\n"))
        self.assertEqual(queue(["disable", "-m", "maintenance", "--quiet",
                                "--nocheckpoint"], broker), (0, "", ""))
        payload = [p for t, p in broker.calls
                   if t == "job-manager.queue-enable"][-1]
        self.assertEqual(payload, {"enable": False, "all": False,
                                   "reason": "maintenance",
                                   "nocheckpoint": True})
        self.assertEqual(queue(["enable"], broker),
                         (0, "Job submission is enabled\n", ""))

    def test_stop_start(self):
        broker = FakeJobBroker()
        self.assertEqual(queue(["stop"], broker),
                         (0, "Scheduling is stopped\n", ""))
        self.assertEqual(queue(["stop", "-m", "fixing things"], broker),
                         (0, "Scheduling is stopped: fixing things\n", ""))
        rc, out, err = queue(["start", "-v"], broker)
        self.assertEqual(out.splitlines(), [
            "Scheduling is started", "0 alloc requests queued",
            "0 alloc requests pending to scheduler", "0 running jobs"])

    def test_named_queue_when_none_exist(self):
        broker = FakeJobBroker()
        self.assertEqual(queue(["status", "batch"], broker),
                         (1, "", "flux-queue: ERROR: status: 'batch' is not"
                          " a valid queue\n"))
        self.assertEqual(queue(["status", "-q", "a", "b"], broker),
                         (1, "", "flux-queue: ERROR: Conflicting queues"
                          " specified as --queue=a and b\n"))

    def test_guest_refused(self):
        broker = FakeJobBroker(userid=GUEST, owner=False)
        self.assertEqual(queue(["stop"], broker),
                         (1, "", "flux-queue: ERROR: start: Request requires"
                          " owner credentials\n"))
        self.assertEqual(queue(["disable"], broker),
                         (1, "", "flux-queue: ERROR: enable: Request"
                          " requires owner credentials\n"))

    def test_drain_and_idle(self):
        broker = FakeJobBroker()
        submit(["--cc=1-2", "true"], broker)
        self.assertEqual(queue(["drain"], broker), (0, "", ""))
        self.assertTrue(all(j.inactive for j in broker.jobs.values()))
        self.assertEqual(queue(["idle"], broker), (0, "0 jobs\n", ""))
        self.assertEqual(queue(["idle", "--quiet"], broker), (0, "", ""))
        submit(["--urgency=hold", "true"], broker)
        self.assertEqual(queue(["idle", "--quiet"], broker),
                         (0, "1 jobs\n", ""))
        self.assertEqual(queue(["drain", "--timeout=0.1"], broker),
                         (1, "", "flux-queue: ERROR: drain: timeout\n"))

    def test_timeout_passed_to_rpc(self):
        broker = FakeJobBroker()
        seen = []

        def rpc(topic, payload=None, nodeid=None, timeout=None, **kw):
            seen.append(timeout)
            raise TimedOut()

        broker.rpc = rpc
        self.assertEqual(queue(["idle", "-t", "1m"], broker),
                         (1, "", "flux-queue: ERROR: idle: timeout\n"))
        self.assertEqual(seen, [60.0])

    def test_usage_errors(self):
        rc, out, err = queue([])
        self.assertEqual(rc, 2)
        self.assertIn("the following arguments are required: COMMAND", err)
        rc, out, err = queue(["drain", "--timeout=x"], FakeJobBroker())
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("flux-queue: ERROR: invalid Flux standard duration", err)
