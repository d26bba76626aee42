"""``job-manager.drain``, ``job-manager.idle`` and ``job-manager.wait``'s
refusals, with a scheduler and exec service driven by the test."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.job import jobs as J
from tests.unit.job.fakes import GUEST, Instance


def cancel(i, jobid):
    i.ok("job-manager.raise", {"id": jobid, "severity": 0, "type": "cancel"})


class DrainIdleTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self)
        self.i.hello()

    def test_empty_instance_is_drained_and_idle(self):
        self.assertEqual(self.i.ok("job-manager.drain", {}), {})
        self.assertEqual(self.i.ok("job-manager.idle", {}), {"pending": 0})

    def test_drain_waits_for_every_job_to_end(self):
        a, b = self.i.submit(2)
        d = self.i.call("job-manager.drain", {})
        self.assertNoResult(d)
        cancel(self.i, a)
        self.assertNoResult(d)
        self.i.sched.grant(b)
        self.i.settle()
        self.assertNoResult(d)
        self.i.exec.run(b)
        self.i.settle()
        self.assertEqual(self.successResultOf(d), {})
        # answered once the last clean is durable
        self.assertEqual(self.i.events(b)[-1], "clean")

    def test_idle_waits_for_running_jobs_and_outstanding_allocs(self):
        held = self.i.submit(urgency=0)[0]
        running = self.i.submit()[0]
        d = self.i.call("job-manager.idle", {})
        self.assertNoResult(d)          # alloc outstanding
        self.i.sched.grant(running)
        self.i.settle()
        self.assertEqual(self.i.manager.get(running).state, J.RUN)
        self.assertNoResult(d)          # running
        self.i.exec.run(running)
        self.i.settle()
        # only the held job is left, pending
        self.assertEqual(self.successResultOf(d), {"pending": 1})
        self.assertEqual(self.i.manager.get(held).state, J.SCHED)
        self.assertNoResult(self.i.call("job-manager.drain", {}))

    def test_withdrawn_alloc_makes_the_queue_idle(self):
        [jobid] = self.i.submit()
        d = self.i.call("job-manager.idle", {})
        self.assertNoResult(d)
        self.i.ok("job-manager.queue-start", {"start": False})
        self.assertEqual(self.successResultOf(d), {"pending": 1})

    def test_owner_only(self):
        for topic in ("job-manager.drain", "job-manager.idle"):
            err = self.i.fail(topic, {}, GUEST)
            self.assertEqual(err.errno, errno.EPERM)

    def test_waiters_fail_when_the_manager_stops(self):
        self.i.submit()
        d = self.i.call("job-manager.drain", {})
        self.i.stop()
        err = self.failureResultOf(d).value
        self.assertEqual((err.errno, str(err)),
                         (errno.ENOSYS, "job-manager is unloading"))


class WaitRefusalTests(SynchronousTestCase):
    """flux-core's wait.c: every refusal is ECHILD (``flux job wait``
    exits 2), with its wording."""

    def setUp(self):
        self.i = Instance(self)

    def refusal(self, jobid):
        err = self.i.fail("job-manager.wait", {"id": jobid})
        self.assertEqual(err.errno, errno.ECHILD)
        return str(err)

    def test_refusals(self):
        [plain] = self.i.submit()
        [waitable] = self.i.submit(flags=J.FLAG_WAITABLE)
        self.assertEqual(self.refusal(plain), "job was not submitted with"
                         " FLUX_JOB_WAITABLE")
        unknown = "invalid job id, or job may be inactive and not waitable"
        self.assertEqual(self.refusal(12345), unknown)
        d = self.i.call("job-manager.wait", {"id": waitable})
        self.assertEqual(self.refusal(waitable), "job id already has a waiter")
        cancel(self.i, plain)
        cancel(self.i, waitable)
        self.assertFalse(self.successResultOf(d)["success"])
        self.assertEqual(self.refusal(waitable), unknown)   # waited already
        self.assertEqual(self.refusal(plain), unknown)      # inactive
        self.assertEqual(self.refusal(J.ANY_JOB),
                         "there are no more waitable jobs")
