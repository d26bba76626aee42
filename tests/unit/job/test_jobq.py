"""Named queues (RFC 33): their flags, checkpoint, submission checks and
config reloads, on the job manager with a fake scheduler."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.errors import InvalidArgument
from fluxd.job import jobs as J
from fluxd.job._jobq import (
    QueueSet, RESTART_REASON, with_queue_requires)
from tests.unit.job.fakes import GUEST, Instance

GUIDE = {
    "policy": {"jobspec": {"defaults": {"system": {
        "duration": "1m", "queue": "debug"}}}},
    "queues": {"debug": {"requires": ["debug"],
                         "policy": {"limits": {"duration": "30m"}}},
               "batch": {"requires": ["batch"],
                         "policy": {"limits": {"duration": "4h"}}}},
}
NO_DEFAULT = {"queues": {"debug": {}, "batch": {}}}


class QueueSetTests(SynchronousTestCase):
    def test_anonymous_queue_without_queues(self):
        qs = QueueSet(Config({}))
        self.assertEqual(qs.names(), [])
        self.assertEqual(qs.lookup(None).status(),
                         {"enable": True, "start": True})
        with self.assertRaises(InvalidArgument) as cm:
            qs.lookup("batch")
        self.assertEqual(str(cm.exception), "'batch' is not a valid queue")

    def test_named_queues_start_stopped(self):
        qs = QueueSet(Config(GUIDE))
        self.assertEqual(qs.names(), ["batch", "debug"])
        self.assertEqual(qs.lookup("debug").status(),
                         {"enable": True, "start": False})
        self.assertEqual(qs.lookup("batch").requires, ["batch"])
        with self.assertRaises(InvalidArgument) as cm:
            qs.lookup(None)
        self.assertEqual(str(cm.exception), "a named queue is required")

    def test_select_needs_a_name_or_all(self):
        qs = QueueSet(Config(GUIDE))
        with self.assertRaises(InvalidArgument) as cm:
            qs.select(None, False)
        self.assertIn("--all", str(cm.exception))
        self.assertEqual(len(qs.select(None, True)), 2)

    def test_checkpoint_keeps_flags_but_not_nocheckpoint_changes(self):
        qs = QueueSet(Config(GUIDE))
        debug, batch = qs.lookup("debug"), qs.lookup("batch")
        qs.set_start([debug, batch], True)
        qs.set_enable([batch], False, "full")
        qs.set_start([debug], False, "maint", nocheckpoint=True)
        saved = qs.checkpoint()
        again = QueueSet(Config(GUIDE))
        again.restore(saved)
        self.assertEqual(again.lookup("debug").status(),
                         {"enable": True, "start": True})
        self.assertEqual(again.lookup("batch").status(),
                         {"enable": False, "disable_reason": "full",
                          "start": True})

    def test_stop_queues_on_restart(self):
        qs = QueueSet(Config(GUIDE))
        qs.set_start(qs.queues(), True)
        again = QueueSet(Config(GUIDE))
        again.restore(qs.checkpoint(), stop_on_restart=True)
        self.assertEqual(again.lookup("debug").status(),
                         {"enable": True, "start": False,
                          "stop_reason": RESTART_REASON})

    def test_reload_refuses_to_remove_a_queue_with_jobs(self):
        qs = QueueSet(Config(GUIDE))

        class Job:
            queue = "batch"
        smaller = {"queues": {"debug": {}}}
        with self.assertRaises(InvalidArgument) as cm:
            qs.reconfigure(Config(smaller), [Job()])
        self.assertIn("queue batch cannot be removed", str(cm.exception))
        self.assertEqual(qs.names(), ["batch", "debug"])   # unchanged
        qs.reconfigure(Config(smaller), [])
        self.assertEqual(qs.names(), ["debug"])


class ManagerQueueTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self, config=Config(GUIDE))
        self.i.hello()

    def submit_one(self, **attrs):
        answer = self.i.ok("job-ingest.submit", {"jobs": [
            {"J": self.i.J(**attrs), "urgency": 16, "flags": 0}]})
        return answer["jobs"][0]

    def test_default_queue_applied_and_job_waits_for_start(self):
        jobid = self.submit_one()["id"]
        job = self.i.manager.get(jobid)
        self.assertEqual((job.queue, job.state), ("debug", J.SCHED))
        self.assertNotIn(jobid, self.i.sched.allocs)
        status = self.i.ok("job-manager.queue-status", {"name": "debug"})
        self.assertEqual((status["start"], status["alloc_queued"]), (False, 0))
        self.i.ok("job-manager.queue-start", {"name": "debug", "start": True,
                                              "all": False})
        self.assertIn(jobid, self.i.sched.allocs)

    def test_unknown_and_disabled_queues_refused(self):
        # the job manager's own check (ingest's validators refuse first)
        self.i = Instance(self, config=Config(GUIDE), ingest_config=False)
        self.assertEqual(self.submit_one(queue="express"),
                         {"errnum": errno.EINVAL,
                          "errstr": "'express' is not a valid queue"})
        self.i.ok("job-manager.queue-enable", {"name": "batch",
                                               "enable": False, "all": False,
                                               "reason": "closed"})
        self.assertEqual(self.submit_one(queue="batch")["errstr"],
                         "job submission to batch is disabled: closed")
        self.assertIn("id", self.submit_one(queue="debug", duration=60))

    def test_stopping_a_queue_withdraws_only_its_allocs(self):
        self.i.ok("job-manager.queue-start", {"start": True, "all": True})
        debug = self.submit_one()["id"]
        batch = self.submit_one(queue="batch")["id"]
        self.assertIn(debug, self.i.sched.allocs)
        self.i.ok("job-manager.queue-start", {"name": "debug", "start": False,
                                              "all": False})
        self.assertEqual(self.i.sched.cancels, [debug])
        self.assertIn(batch, self.i.sched.allocs)
        counts = self.i.ok("job-manager.alloc-query")
        self.assertEqual((counts["queue_length"], counts["alloc_pending"]),
                         (0, 1))
        self.i.ok("job-manager.queue-start", {"name": "debug", "start": True,
                                              "all": False})
        self.assertIn(debug, self.i.sched.allocs)

    def test_guest_may_not_control_queues(self):
        err = self.i.fail("job-manager.queue-start", {"start": True,
                                                      "all": True}, GUEST)
        self.assertEqual((err.errno, str(err)),
                         (errno.EPERM, "Request requires owner credentials"))
        status = self.i.ok("job-manager.queue-status", {"name": "debug"},
                           GUEST)
        self.assertFalse(status["start"])

    def test_bad_requests_refused(self):
        for body, text in (
                ({"start": True, "all": False}, "Use --all"),
                ({"name": "x", "start": True, "all": False},
                 "'x' is not a valid queue"),
                ({"name": 3, "start": True}, "name must be a string"),
                ({"name": "debug", "start": "yes"}, "start must be a boolean")):
            err = self.i.fail("job-manager.queue-start", body)
            self.assertIn(text, str(err))

    def test_state_kept_across_restart(self):
        self.i.ok("job-manager.queue-start", {"name": "batch", "start": True,
                                              "all": False})
        self.i.ok("job-manager.queue-enable", {"name": "debug",
                                               "enable": False, "all": False,
                                               "reason": "later"})
        self.i.stop()
        again = Instance(self, broker=self.i.broker, config=Config(GUIDE))
        again.hello()
        self.assertEqual(again.ok("job-manager.queue-status",
                                  {"name": "batch"})["start"], True)
        debug = again.ok("job-manager.queue-status", {"name": "debug"})
        self.assertEqual((debug["enable"], debug["disable_reason"],
                          debug["start"]), (False, "later", False))

    def test_reload_removing_a_busy_queue_is_refused(self):
        self.submit_one(queue="batch")
        with self.assertRaises(InvalidArgument) as cm:
            self.i.manager.reconfigure(Config({"queues": {"debug": {}}}))
        self.assertIn("batch", str(cm.exception))
        self.assertEqual(self.i.ok("job-manager.queue-list")["queues"],
                         ["batch", "debug"])


class NoDefaultTests(SynchronousTestCase):
    def test_job_without_queue_refused(self):
        i = Instance(self, config=Config(NO_DEFAULT), ingest_config=False)
        answer = i.ok("job-ingest.submit", {"jobs": [
            {"J": i.J(), "urgency": 16, "flags": 0}]})
        self.assertEqual(answer["jobs"][0]["errstr"],
                         "a named queue is required")


class QueueRequiresTests(SynchronousTestCase):
    def test_requires_reach_the_scheduler(self):
        i = Instance(self, config=Config(GUIDE))
        i.hello()
        i.ok("job-manager.queue-start", {"start": True, "all": True})
        i.ok("job-ingest.submit", {"J": i.J(queue="batch"), "urgency": 16,
                                   "flags": 0})
        [(_, _, body)] = i.sched.allocs.values()
        system = body["jobspec"]["attributes"]["system"]
        self.assertEqual(system["constraints"], {"properties": ["batch"]})

    def test_existing_constraints_kept(self):
        spec = {"attributes": {"system": {
            "constraints": {"hostlist": ["test1"]}}}}
        out = with_queue_requires(spec, ["debug"])
        self.assertEqual(out["attributes"]["system"]["constraints"],
                         {"and": [{"hostlist": ["test1"]},
                                  {"properties": ["debug"]}]})
        self.assertNotIn("and", spec["attributes"]["system"]["constraints"])
        done = {"attributes": {"system": {
            "constraints": {"properties": ["debug", "x"]}}}}
        self.assertIs(with_queue_requires(done, ["debug"]), done)


VIRTUAL = {"queues": {"batch": {"requires": ["batch"]},
                      "short": {"parent": "batch"}},
           "policy": {"jobspec": {"defaults": {"system": {
               "queue": "batch"}}}}}


class VirtualQueueTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self, config=Config(VIRTUAL))
        self.i.hello()

    def start(self, name, start=True):
        self.i.ok("job-manager.queue-start", {"name": name, "start": start,
                                              "all": False})

    def submit(self, queue):
        answer = self.i.ok("job-ingest.submit", {"jobs": [
            {"J": self.i.J(queue=queue, duration=60), "urgency": 16,
             "flags": 0}]})
        return answer["jobs"][0]

    def test_blocked_while_the_parent_is_stopped(self):
        self.start("short")
        status = self.i.ok("job-manager.queue-status", {"name": "short"})
        self.assertEqual((status["start"], status["parent"],
                          status["blocked"]), (True, "batch", "parent"))
        jobid = self.submit("short")["id"]
        self.assertNotIn(jobid, self.i.sched.allocs)
        self.start("batch")
        self.assertIn(jobid, self.i.sched.allocs)
        # the parent's requires reach the scheduler for the virtual queue
        body = self.i.sched.allocs[jobid][2]
        self.assertEqual(body["jobspec"]["attributes"]["system"][
            "constraints"], {"properties": ["batch"]})
        self.assertNotIn("blocked", self.i.ok("job-manager.queue-status",
                                              {"name": "short"}))
        # stopping the parent withdraws the virtual queue's allocs too
        self.start("batch", False)
        self.assertEqual(self.i.sched.cancels, [jobid])

    def test_parent_disabled_refuses_submission(self):
        self.i.ok("job-manager.queue-enable", {"name": "batch",
                                               "enable": False, "all": False,
                                               "reason": "maintenance"})
        self.assertEqual(self.submit("short")["errstr"],
                         "job submission to short is disabled: maintenance")
