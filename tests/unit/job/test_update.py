"""``job-manager.update`` and the builtins .update-duration and
.update-queue: allowed keys, limits re-checked, owner bypass and
immutability, running-job expiration, jobspec-update replay."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.job import jobs as J
from tests.unit.job.fakes import GUEST, Instance

LIMITED = {"policy": {"limits": {"duration": "1h"}}}
QUEUES = {"queues": {"debug": {"requires": ["debug"]}, "batch": {}},
          "policy": {"jobspec": {"defaults": {"system": {
              "queue": "debug"}}}}}


class UpdateTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self, config=Config(LIMITED))

    def guest_job(self, **attrs):
        [jobid] = self.i.submit(duration=600, **attrs)
        self.i.manager.get(jobid).userid = GUEST.userid
        return jobid

    def update(self, jobid, updates, cred=GUEST):
        return self.i.call("job-manager.update", {"id": jobid,
                                                  "updates": updates}, cred)

    def error(self, jobid, updates, cred=GUEST):
        return str(self.failureResultOf(self.update(jobid, updates,
                                                    cred)).value)

    def test_guest_duration_within_limits(self):
        jobid = self.guest_job()
        self.successResultOf(self.update(
            jobid, {"attributes.system.duration": 1800.0}))
        job = self.i.manager.get(jobid)
        self.assertEqual(job.duration, 1800.0)
        self.assertEqual(self.i.events(jobid).count("jobspec-update"), 1)
        self.assertEqual(self.error(jobid, {
            "attributes.system.duration": 7200.0}),
            "requested duration (2h) exceeds policy limit of 1h")
        self.assertEqual(job.duration, 1800.0)       # all or nothing
        self.assertEqual(self.error(jobid, {
            "attributes.system.duration": -1}),
            "duration must not be negative")

    def test_unsupported_keys_and_bad_requests(self):
        jobid = self.guest_job()
        self.assertEqual(self.error(jobid, {"attributes.system.foo": 1}),
                         "update of attributes.system.foo not supported")
        # one bad key refuses the whole request
        self.assertEqual(self.error(jobid, {
            "attributes.system.job.name": "x",
            "attributes.system.foo": 1}),
            "update of attributes.system.foo not supported")
        self.assertNotEqual(self.i.manager.get(jobid).name, "x")
        for updates in ({}, {"tasks": 1}, {"attributes.": 1}, []):
            self.assertEqual(self.error(jobid, updates),
                             "one or more jobspec updates are invalid")
        self.assertEqual(self.error(12345, {"attributes.system.job.name":
                                            "x"}), "unknown job id")

    def test_urgency_with_the_updates(self):
        jobid = self.guest_job()
        job = self.i.manager.get(jobid)

        def request(body):
            return self.i.call("job-manager.update", dict(body, id=jobid),
                               GUEST)
        # a guest may not raise urgency above the default: nothing applied
        err = self.failureResultOf(request({
            "updates": {"attributes.system.job.name": "x"},
            "urgency": 20})).value
        self.assertEqual(str(err), "guests can only adjust urgency <= default")
        self.assertNotEqual(job.name, "x")
        self.successResultOf(request({
            "updates": {"attributes.system.job.name": "x"}, "urgency": 4}))
        self.assertEqual((job.name, job.urgency), ("x", 4))
        self.successResultOf(request({"urgency": 2}))
        self.assertEqual(job.urgency, 2)
        self.assertEqual(self.i.events(jobid).count("urgency"), 2)
        err = self.failureResultOf(request({"urgency": "high"})).value
        self.assertEqual(str(err), "urgency value is out of range")

    def test_name_update(self):
        jobid = self.guest_job()
        self.successResultOf(self.update(
            jobid, {"attributes.system.job.name": "renamed"}))
        self.assertEqual(self.i.manager.get(jobid).name, "renamed")
        self.assertEqual(self.error(jobid, {
            "attributes.system.job.name": 5}),
            "invalid value for attributes.system.job.name")

    def test_other_users_job_refused(self):
        [jobid] = self.i.submit(duration=600)
        err = self.failureResultOf(self.update(
            jobid, {"attributes.system.duration": 60.0})).value
        self.assertEqual((err.errno, str(err)), (
            errno.EPERM, "guests may only update their own jobs"))

    def test_owner_bypass_marks_immutable(self):
        jobid = self.guest_job()
        self.successResultOf(self.update(
            jobid, {"attributes.system.duration": 7200.0},
            cred=self.i_owner()))
        self.assertEqual(self.i.manager.get(jobid).duration, 7200.0)
        events = self.i.events(jobid)
        self.assertEqual(events.index("set-flags") + 1,
                         events.index("jobspec-update"))
        err = self.failureResultOf(self.update(
            jobid, {"attributes.system.duration": 60.0})).value
        self.assertEqual((err.errno, str(err)), (
            errno.EPERM,
            "job is immutable due to previous instance owner update"))

    def i_owner(self):
        from tests.unit.job.fakes import OWNER
        return OWNER

    def test_owner_allow_any_off(self):
        self.i.manager.jobtap.load(".update-duration",
                                   {"owner-allow-any": 0})
        jobid = self.guest_job()
        self.assertEqual(self.error(jobid, {
            "attributes.system.duration": 7200.0}, cred=self.i_owner()),
            "requested duration (2h) exceeds policy limit of 1h")

    def test_inactive_job(self):
        jobid = self.guest_job()
        self.i.ok("job-manager.raise", {"id": jobid, "type": "cancel",
                                        "severity": 0, "note": ""})
        self.assertEqual(self.error(jobid, {
            "attributes.system.duration": 60.0}), "job is inactive")

    def test_replayed_at_restart(self):
        jobid = self.guest_job()
        self.successResultOf(self.update(jobid, {
            "attributes.system.duration": 1200.0,
            "attributes.system.job.name": "again"}))
        self.i.stop()
        again = Instance(self, broker=self.i.broker, config=Config(LIMITED))
        job = again.manager.get(jobid)
        self.assertEqual((job.duration, job.name), (1200.0, "again"))
        self.assertEqual(job.jobspec["attributes"]["system"]["duration"],
                         1200.0)


class RunningUpdateTests(SynchronousTestCase):
    def test_owner_moves_the_expiration(self):
        i = Instance(self)
        i.hello()
        [jobid] = i.submit(duration=600)
        start = i.clock.seconds()
        i.sched.answer(jobid, 0, R={"version": 1, "execution": {
            "R_lite": [{"rank": "0", "children": {"core": "0"}}],
            "nodelist": ["node0"], "starttime": start,
            "expiration": start + 600}})
        i.settle()
        job = i.manager.get(jobid)
        self.assertEqual(job.state, J.RUN)
        job.userid = GUEST.userid
        err = i.fail("job-manager.update", {"id": jobid, "updates": {
            "attributes.system.duration": 1200.0}}, GUEST)
        self.assertEqual(str(err), "update of duration for running job"
                         " not supported")
        i.ok("job-manager.update", {"id": jobid, "updates": {
            "attributes.system.duration": 1200.0}})
        self.assertEqual(job.expiration, start + 1200)
        self.assertEqual(job.R["execution"]["expiration"], start + 1200)
        self.assertEqual(i.sched.expirations,
                         [{"id": jobid, "expiration": start + 1200}])
        self.assertEqual(i.exec.expirations,
                         [{"id": jobid, "expiration": start + 1200}])
        self.assertEqual(i.events(jobid)[-3:], ["set-flags",
                                                "jobspec-update",
                                                "resource-update"])
        # in the past: refused; a refusing scheduler: refused
        i.clock.advance(10)
        err = i.fail("job-manager.update", {"id": jobid, "updates": {
            "attributes.system.duration": 0.5}})
        self.assertEqual(str(err), "requested duration places job"
                         " expiration in the past")
        i.sched.refuse_expiration = True
        err = i.fail("job-manager.update", {"id": jobid, "updates": {
            "attributes.system.duration": 3000.0}})
        self.assertEqual(str(err), "scheduler refused expiration update")
        self.assertEqual(job.expiration, start + 1200)
        i.stop()
        again = Instance(self, broker=i.broker)
        self.assertEqual(again.manager.get(jobid).expiration, start + 1200)


class QueueUpdateTests(SynchronousTestCase):
    def test_queue_update(self):
        i = Instance(self, config=Config(QUEUES))
        [jobid] = i.submit(duration=60)
        job = i.manager.get(jobid)
        self.assertEqual(job.queue, "debug")
        spec = {"id": jobid, "updates": {"attributes.system.queue": "batch"}}
        i.ok("job-manager.update", spec)
        self.assertEqual(job.queue, "batch")
        self.assertEqual(job.jobspec["attributes"]["system"]["constraints"],
                         {})
        err = i.fail("job-manager.update", spec)
        self.assertEqual(str(err), "job queue is already set to batch")
        err = i.fail("job-manager.update", {"id": jobid, "updates": {
            "attributes.system.queue": "nope"}})
        self.assertEqual(str(err), "'nope' is not a valid queue")
        i.ok("job-manager.queue-enable", {"name": "debug", "enable": False,
                                          "all": False})
        err = i.fail("job-manager.update", {"id": jobid, "updates": {
            "attributes.system.queue": "debug"}})
        self.assertEqual(str(err), "queue debug is currently disabled")


class BadRequestTests(SynchronousTestCase):
    def test_one_line_errors_and_the_manager_goes_on(self):
        i = Instance(self)
        [jobid] = i.submit(duration=60)
        for payload, text in (
                ({"updates": {"attributes.system.job.name": "x"}},
                 "job id must be an integer"),
                ({"id": jobid, "updates": "x"},
                 "one or more jobspec updates are invalid"),
                ({"id": jobid, "updates": {
                    "attributes.system.duration": "abc"}},
                 "duration must be a number"),
                ({"id": jobid, "updates": {"attributes.system.queue": 5}},
                 "queue must be a string"),
                ({"id": jobid, "updates": {"attributes.system": {}}},
                 "update of attributes.system not supported")):
            err = i.fail("job-manager.update", payload)
            self.assertEqual(str(err), text)
            self.assertNotIn("\n", str(err))
        i.ok("job-manager.update", {"id": jobid, "updates": {
            "attributes.system.job.name": "fine"}})
        self.assertEqual(i.manager.get(jobid).name, "fine")
