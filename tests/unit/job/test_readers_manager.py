"""job-list and job-info over the real job manager (in-process, with the
job manager's test scheduler and exec service): what they answer follows
the jobs as the manager runs them."""

import json

from twisted.trial.unittest import SynchronousTestCase

from fluxd.job import jobs as J
from fluxd.job.info import JobInfoService
from fluxd.job.list import JobListService
from tests.unit.job.fakes import GUEST, OWNER, Instance

ALL = {"max_entries": 0, "attrs": ["state", "result", "nodelist",
                                   "exception_type"],
       "userid": 0xFFFFFFFF, "states": 0, "results": 0, "since": 0.0}


class ReadersTests(SynchronousTestCase):
    def setUp(self):
        self.inst = Instance(self)
        for service in (JobInfoService(self.inst.router, self.inst.manager),
                        JobListService(self.inst.manager)):
            service.startService()
            self.inst.router.add_module(service)
            self.addCleanup(service.stopService)
        self.inst.hello()

    def listing(self):
        return {j["id"]: j for j in self.inst.ok("job-list.list",
                                                 ALL)["jobs"]}

    def test_jobs_through_their_lives(self):
        done, failed, canceled, pending = self.inst.submit(4)
        self.inst.settle()
        got = self.listing()
        self.assertEqual({j["state"] for j in got.values()}, {J.SCHED})
        self.inst.sched.grant(done, rank=0)
        self.inst.sched.grant(failed, rank=1)
        self.inst.settle()
        self.assertEqual(self.listing()[done]["nodelist"], "node0")
        self.inst.exec.run(done, 0)
        self.inst.exec.run(failed, 256)
        self.inst.ok("job-manager.raise", {"id": canceled, "severity": 0,
                                           "type": "cancel", "note": "x"})
        self.inst.settle()
        got = self.listing()
        self.assertEqual((got[done]["state"], got[done]["result"]),
                         (J.INACTIVE, J.COMPLETED))
        self.assertEqual(got[failed]["result"], J.FAILED)
        self.assertEqual((got[canceled]["result"],
                          got[canceled]["exception_type"]),
                         (J.CANCELED, "cancel"))
        self.assertEqual(got[pending]["state"], J.SCHED)
        ids = [j["id"] for j in self.inst.ok("job-list.list", ALL)["jobs"]]
        self.assertEqual(ids[0], pending)
        stats = self.inst.ok("job-list.job-stats", {})
        self.assertEqual((stats["successful"], stats["failed"],
                          stats["canceled"]), (1, 1, 1))

    def test_watch_ends_when_the_manager_cleans_up(self):
        jobid, = self.inst.submit(1)
        got = []
        stream = self.inst.router.stream(
            "job-info.eventlog-watch", {"id": jobid, "path": "eventlog",
                                        "flags": 0},
            cred=OWNER, on_response=got.append)
        self.inst.settle()
        self.inst.sched.grant(jobid)
        self.inst.settle()
        self.assertNoResult(stream.done)
        self.inst.exec.run(jobid, 0)
        self.inst.settle()
        self.successResultOf(stream.done)
        names = [json.loads(r["event"])["name"] for r in got]
        self.assertEqual(names, self.inst.events(jobid))
        self.assertEqual(names[-1], "clean")

    def test_guest_reads_only_own_jobs(self):
        mine, theirs = self.inst.submit(2)
        self.inst.settle()
        # guests cannot sign jobs yet (no munge): hand one over
        self.inst.manager.get(theirs).userid = GUEST.userid
        answer = self.inst.ok("job-info.lookup", {"id": theirs,
                                                  "keys": ["jobspec"],
                                                  "flags": 0}, GUEST)
        self.assertIn("tasks", json.loads(answer["jobspec"]))
        err = self.inst.fail("job-info.lookup", {"id": mine,
                                                 "keys": ["eventlog"],
                                                 "flags": 0}, GUEST)
        self.assertEqual(str(err), "access is restricted to job/instance"
                                   " owner")
        listed = self.inst.ok("job-list.list", ALL, GUEST)["jobs"]
        self.assertEqual({j["id"] for j in listed}, {mine, theirs})

    def test_purged_jobs_are_counted(self):
        ids = self.inst.submit(2)
        self.inst.settle()
        for jobid in ids:
            self.inst.ok("job-manager.raise", {"id": jobid, "severity": 0,
                                               "type": "cancel", "note": ""})
        self.inst.settle()
        self.inst.ok("job-manager.purge", {"num_limit": 0, "force": True})
        self.inst.settle()
        stats = self.inst.ok("job-list.job-stats", {})
        self.assertEqual((stats["job_states"]["total"],
                          stats["inactive_purged"]), (0, 2))
