"""``alloc-bypass`` and ``alloc-check`` (loaded on request)."""

import json

from twisted.trial.unittest import SynchronousTestCase

from fluxd.job import jobs as J
from fluxd.job.manager import job_key
from fluxd.job.plugins import alloc_bypass
from fluxd.job.jobtap import JobtapError
from fluxd.storage import treeobj as T
from tests.unit.job.fakes import GUEST, Instance

R1 = {"version": 1, "execution": {
    "R_lite": [{"rank": "0", "children": {"core": "0-1"}}],
    "nodelist": ["node0"], "starttime": 0.0, "expiration": 0.0}}


class AllocBypassTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self)
        self.i.hello()
        self.i.manager.jobtap.load("alloc-bypass.so")

    def test_listed_under_its_own_name(self):
        self.assertIn("alloc-bypass", self.i.manager.jobtap.plugins)

    def test_R_given_without_the_scheduler(self):
        i = self.i
        [jobid] = i.submit(**{"alloc-bypass": {"R": R1}})
        job = i.manager.get(jobid)
        self.assertEqual(job.state, J.RUN)
        self.assertEqual(i.sched.order, [])
        self.assertEqual(i.events(jobid)[-2:], ["set-flags", "alloc"])
        stored = self.successResultOf(i.broker.kvs.lookup(
            "primary", f"{job_key(jobid)}.R"))
        self.assertEqual(json.loads(T.decode_val(stored)), R1)
        self.assertEqual(job.nodelist, "node0")
        i.exec.run(jobid)
        i.settle()
        self.assertEqual(job.state, J.INACTIVE)
        self.assertIn("free", i.events(jobid))
        self.assertEqual(i.sched.frees, [])     # never the scheduler's
        # a normal job still goes through the scheduler
        [other] = i.submit()
        self.assertEqual(i.sched.order, [other])

    def test_refusals(self):
        i = self.i
        answer = i.ok("job-ingest.submit", {"jobs": [{"J": i.J(**{
            "alloc-bypass": {"R": {"version": 1}}}), "urgency": 16,
            "flags": 0}]})
        self.assertTrue(answer["jobs"][0]["errstr"].startswith(
            "alloc-bypass: invalid R: "))
        plugin = i.manager.jobtap.plugins["alloc-bypass"]
        with self.assertRaises(JobtapError) as caught:
            alloc_bypass._validate(plugin, "job.validate", {
                "userid": GUEST.userid,
                "jobspec": {"attributes": {"system": {
                    "alloc-bypass": {"R": R1}}}}})
        self.assertEqual(str(caught.exception),
                         "Guest user cannot use alloc bypass")


class AllocCheckTests(SynchronousTestCase):
    def test_double_allocation_raises(self):
        i = Instance(self)
        i.hello()
        i.manager.jobtap.load("alloc-check")
        first, second, third = i.submit(count=3)
        i.sched.grant(first)
        i.settle()
        i.sched.grant(second)       # the same core: a scheduler bug
        i.settle()
        job = i.manager.get(second)
        self.assertEqual((job.exception_type, job.exception_note),
                         ("alloc-check", "resources already allocated"))
        self.assertEqual(i.manager.get(first).state, J.RUN)
        i.exec.run(first)
        i.settle()
        i.sched.grant(third)        # freed: no exception
        i.settle()
        self.assertEqual(i.manager.get(third).state, J.RUN)
        self.assertFalse(i.manager.get(third).exception_occurred)
