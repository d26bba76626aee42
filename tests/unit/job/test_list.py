"""The job-list service through a router, over a fake job table: guests
see every job, list-id waits for unvalidated jobs, stats count purges,
history answers the requester's own jobs."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError
from fluxd.job import jobs as J
from fluxd.job.list import JobListService
from fluxd.message.router import Credential, Router
from fluxd.message.types import ROLE_OWNER, ROLE_USER
from tests.unit.job.test_listquery import R2, Jobs

OWNER = Credential(1000, ROLE_OWNER)
GUEST = Credential(2000, ROLE_USER)
LIST_ALL = {"max_entries": 0, "attrs": ["state", "userid"],
            "userid": 0xFFFFFFFF, "states": 0, "results": 0, "since": 0.0}


class JobListServiceTests(SynchronousTestCase):
    def setUp(self):
        self.jobs = Jobs()
        self.mine = self.jobs.make(J.RUN, R=R2)
        self.done = self.jobs.make(J.INACTIVE, status=0, R=R2, queue="q")
        self.router = Router(rank=0, owner=1000)
        self.service = JobListService(self.jobs.table)
        self.service.startService()
        self.router.add_module(self.service)
        self.addCleanup(self.service.stopService)

    def call(self, topic, payload, cred=OWNER):
        return self.router.call(topic, payload, cred=cred)

    def test_guest_sees_every_job(self):
        theirs = self.jobs.make(J.SCHED, userid=3000)
        answer = self.successResultOf(self.call("job-list.list", LIST_ALL,
                                                GUEST))
        self.assertEqual([j["id"] for j in answer["jobs"]],
                         [theirs.id, self.mine.id, self.done.id])
        self.assertEqual(answer["jobs"][0], {"id": theirs.id,
                                             "state": J.SCHED,
                                             "userid": 3000})

    def test_private_mode_guest_sees_only_its_own_jobs(self):
        from fluxd.config import config_from_object
        own = self.jobs.make(J.SCHED, userid=GUEST.userid)
        self.service.reconfigure(config_from_object(
            {"access": {"private-mode": True}}))
        answer = self.successResultOf(self.call("job-list.list", LIST_ALL,
                                                GUEST))
        self.assertEqual([j["id"] for j in answer["jobs"]], [own.id])
        # asking for another user's jobs lists nothing
        answer = self.successResultOf(self.call(
            "job-list.list", dict(LIST_ALL, userid=1000), GUEST))
        self.assertEqual(answer, {"jobs": []})
        f = self.failureResultOf(self.call(
            "job-list.list-id", {"id": self.mine.id, "attrs": []}, GUEST))
        self.assertEqual(f.value.errno, errno.EPERM)
        self.successResultOf(self.call(
            "job-list.list-id", {"id": own.id, "attrs": []}, GUEST))
        f = self.failureResultOf(self.call("job-list.job-stats", {}, GUEST))
        self.assertEqual(f.value.errno, errno.EPERM)
        # the owner still sees everything; a reload turns it off again
        answer = self.successResultOf(self.call("job-list.list", LIST_ALL))
        self.assertEqual(len(answer["jobs"]), 3)
        self.service.reconfigure(config_from_object({}))
        answer = self.successResultOf(self.call("job-list.list", LIST_ALL,
                                                GUEST))
        self.assertEqual(len(answer["jobs"]), 3)

    def test_bad_list_payload_is_an_error_not_a_crash(self):
        f = self.failureResultOf(self.call("job-list.list",
                                           dict(LIST_ALL, max_entries=-1)))
        self.assertEqual(f.value.errno, errno.EPROTO)
        f = self.failureResultOf(self.call("job-list.list",
                                           dict(LIST_ALL, attrs=["x"])))
        self.assertEqual(str(f.value), "x is not a valid attribute")
        answer = self.successResultOf(self.call("job-list.list", LIST_ALL))
        self.assertEqual(len(answer["jobs"]), 2)

    def test_list_id(self):
        answer = self.successResultOf(self.call(
            "job-list.list-id", {"id": self.done.id, "attrs": ["result"]},
            GUEST))
        self.assertEqual(answer, {"job": {"id": self.done.id,
                                          "result": J.COMPLETED}})
        f = self.failureResultOf(self.call("job-list.list-id",
                                           {"id": 12345, "attrs": []}))
        self.assertEqual(f.value.errno, errno.ENOENT)
        f = self.failureResultOf(self.call("job-list.list-id",
                                           {"id": "x", "attrs": []}))
        self.assertEqual(f.value.errno, errno.EPROTO)

    def test_list_id_waits_for_validation(self):
        new = self.jobs.make(J.NEW)
        d = self.call("job-list.list-id", {"id": new.id,
                                           "attrs": ["state"]})
        self.assertNoResult(d)
        self.jobs.table.post(new, "validate", None, 101.0)
        self.assertEqual(self.successResultOf(d),
                         {"job": {"id": new.id, "state": J.DEPEND}})

    def test_list_id_of_an_invalidated_job(self):
        new = self.jobs.make(J.NEW)
        d = self.call("job-list.list-id", {"id": new.id, "attrs": []})
        self.jobs.table.post(new, "invalidate", None, 101.0)
        self.assertEqual(self.failureResultOf(d).value.errno, errno.ENOENT)

    def test_list_id_waits_for_a_state(self):
        job = self.jobs.make(J.SCHED)
        d = self.call("job-list.list-id", {"id": job.id, "attrs": ["state"],
                                           "state": J.RUN | J.CLEANUP})
        self.assertNoResult(d)
        self.jobs.table.post(job, "alloc", None, 200.0)
        self.assertEqual(self.successResultOf(d)["job"]["state"], J.RUN)

    def test_list_id_waiters_end_with_the_service(self):
        new = self.jobs.make(J.NEW)
        d = self.call("job-list.list-id", {"id": new.id, "attrs": []})
        self.service.stopService()
        self.assertEqual(self.failureResultOf(d).value.errno, errno.ENOSYS)

    def test_stats_count_jobs_purged_after_start(self):
        stats = self.successResultOf(self.call("job-list.job-stats", {},
                                               GUEST))
        self.assertEqual((stats["successful"], stats["inactive_purged"]),
                         (1, 0))
        for name, context in (("finish", {"status": 0}), ("free", None),
                              ("clean", None)):
            self.jobs.table.post(self.mine, name, context, 500.0)
        self.jobs.table.purge(self.done.id)
        self.jobs.table.purge(self.mine.id)
        stats = self.successResultOf(self.call("job-list.job-stats", {}))
        self.assertEqual(stats["job_states"]["total"], 0)
        self.assertEqual(stats["inactive_purged"], 2)
        self.assertEqual(stats["queues"][0]["name"], "q")
        self.assertEqual(stats["queues"][0]["inactive_purged"], 1)

    def test_history_is_the_requesters(self):
        guests = self.jobs.make(J.NEW, userid=2000, t_submit=900.0)
        answer = self.successResultOf(self.call(
            "job-list.history", {"slice": "[:]"}, GUEST))
        self.assertEqual(answer, {"jobs": [guests.id]})
        answer = self.successResultOf(self.call("job-list.history", {}))
        self.assertEqual(answer, {"jobs": [self.done.id]})
        f = self.failureResultOf(self.call("job-list.history",
                                           {"slice": "nope"}))
        self.assertIsInstance(f.value, FluxError)
        self.assertEqual(f.value.errno, errno.EINVAL)

    def test_list_attrs(self):
        answer = self.successResultOf(self.call("job-list.list-attrs", {}))
        self.assertIn("dependencies", answer["attrs"])
        self.assertIn("t_sched", answer["attrs"])
