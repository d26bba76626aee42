"""The scheduler and test exec services with the real job manager, ingest
and resource service, in one process on a Clock: jobs go from submit to
INACTIVE through every RFC 21 state."""

import json

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.exec.service import ExecService
from fluxd.formats.jobspec import from_command
from fluxd.formats.rv1 import from_config
from fluxd.job import jobs as J
from fluxd.resource.service import ResourceService
from fluxd.sched.service import FeasibilityService, SchedulerService
from fluxd.security.sign import wrap_none
from fluxd.testing.overlay import FakeOverlayStatus
from tests.unit.job.fakes import OWNER_UID, Instance

PRE = ["submit", "validate", "depend", "priority"]
CONFIG = [{"hosts": "test[0-1]", "cores": "0-1"}]


def test_attr(**test):
    return {"exec": {"test": test}}


class JobCoreTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self, sched=False, exec_=False)
        clock, router = self.i.clock, self.i.router
        rset = from_config(CONFIG)
        self.resource = ResourceService(
            clock, 0, 2, router, ["test0", "test1"], rset=rset,
            local=rset.copy_ranks([0]), overlay=FakeOverlayStatus("0-1"))
        self.successResultOf(defer.maybeDeferred(
            self.resource.startService))
        router.add_module(self.resource)
        kvs = self.i.broker.kvs
        self.sched = SchedulerService(clock, router, kvs)
        self.exec = ExecService(clock, router, kvs, self.i.broker.events,
                                Config({}))
        for module in (self.sched, FeasibilityService(self.sched),
                       self.exec):
            module.startService()
            router.add_module(module)
        self.i.settle()

    def run_for(self, seconds):
        self.i.clock.advance(seconds)
        self.i.settle()

    def job(self, jobid):
        return self.i.manager.get(jobid)

    def test_jobs_run_to_completion(self):
        ids = self.i.submit(5, **test_attr(run_duration="1s"))
        self.assertEqual([self.job(j).state for j in ids],
                         [J.RUN] * 4 + [J.SCHED])
        # first: the highest rank first, its highest core first
        self.assertEqual(
            self.job(ids[0]).annotations["sched"]["resource_summary"],
            "rank1/core1")
        self.run_for(1)
        self.run_for(1)
        for jobid in ids:
            job = self.job(jobid)
            self.assertEqual((job.state, job.result),
                             (J.INACTIVE, J.COMPLETED))
            self.assertEqual(self.i.events(jobid), PRE + [
                "alloc", "start", "finish", "release", "free", "clean"])
        self.assertEqual(self.sched.policy.totals(), (4, 4))
        self.assertEqual((self.sched.queue.jobs(), self.exec.jobs), ([], {}))

    def test_cancel_a_running_job(self):
        [jobid] = self.i.submit(**test_attr())
        self.assertEqual(self.job(jobid).state, J.RUN)
        self.i.ok("job-manager.raise", {"id": jobid, "severity": 0,
                                        "type": "cancel", "note": ""})
        job = self.job(jobid)
        self.assertEqual((job.state, job.result, job.waitstatus),
                         (J.INACTIVE, J.CANCELED, 15))
        self.assertEqual(self.sched.policy.totals(), (4, 4))

    def test_timeout(self):
        [jobid] = self.i.submit(duration=2.0, **test_attr(run_duration="1h"))
        self.run_for(2)
        job = self.job(jobid)
        self.assertEqual((job.state, job.result, job.exception_type,
                          job.waitstatus),
                         (J.INACTIVE, J.TIMEOUT, "timeout", 14))

    def test_unsatisfiable_job_is_denied(self):
        spec = from_command(["true"], ntasks=5, environment={}, cwd="/")
        answer = self.i.ok("job-ingest.submit", {
            "J": wrap_none(json.dumps(spec).encode(), OWNER_UID),
            "urgency": 16, "flags": 0})
        job = self.job(answer["id"])
        self.assertEqual((job.state, job.result, job.exception_type,
                          job.exception_note),
                         (J.INACTIVE, J.FAILED, "alloc",
                          "unsatisfiable request"))

    def test_not_a_test_job(self):
        # on rank 0, this broker's rank: a real shell, whose server the
        # test instance cannot start
        [plain] = self.i.submit(constraints={"ranks": ["0"]})
        job = self.job(plain)
        self.assertEqual((job.state, job.result, job.exception_type),
                         (J.INACTIVE, J.FAILED, "exec"))
        self.assertIn("cannot start the shell server",
                      job.exception_note)
