"""Scheduler annotations in the job manager (RFC 27, flux-core's
annotate.c and alloc.c) and in ``flux jobs`` through the real job-list."""

import io
import json

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.cmd_jobs import JobsCommand
from fluxd.job.list import JobListService
from fluxd.job.manager import job_key
from fluxd.storage import treeobj as T
from fluxd.testing.jobs import RouterHandle
from tests.unit.job.fakes import OWNER_UID, Instance

ANNOTATE, DENY, CANCEL = 1, 2, 3


class AnnotationTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self)
        self.i.hello()
        [self.jobid] = self.i.submit()
        self.job = self.i.manager.get(self.jobid)

    def annotate(self, annotations):
        request, _, _ = self.i.sched.allocs[self.jobid]
        request.respond({"id": self.jobid, "type": ANNOTATE,
                         "annotations": annotations})
        self.i.settle()

    def entries(self):
        obj = self.successResultOf(self.i.broker.kvs.lookup(
            "primary", f"{job_key(self.jobid)}.eventlog"))
        return [json.loads(line) for line in
                T.decode_val(obj).decode().splitlines()]

    def test_null_deletes_new_and_old_keys(self):
        self.annotate({"sched": {"reason_pending": None, "jobs_ahead": None},
                       "user": None})
        self.assertIsNone(self.job.annotations)
        self.annotate({"sched": {"reason_pending": "insufficient resources",
                                 "jobs_ahead": 2, "t_estimate": None}})
        self.assertEqual(self.job.annotations, {"sched": {
            "reason_pending": "insufficient resources", "jobs_ahead": 2}})
        self.annotate({"sched": {"jobs_ahead": 1, "extra": {"x": None}}})
        self.assertEqual(self.job.annotations, {"sched": {
            "reason_pending": "insufficient resources", "jobs_ahead": 1}})
        self.annotate({"sched": {"reason_pending": None, "jobs_ahead": None}})
        self.assertIsNone(self.job.annotations)

    def test_alloc_event_carries_the_merged_annotations(self):
        self.annotate({"sched": {"reason_pending": "insufficient resources",
                                 "jobs_ahead": 0, "t_estimate": 2000.0}})
        R = {"version": 1, "execution": {
            "R_lite": [{"rank": "0", "children": {"core": "0"}}],
            "nodelist": ["node0"], "starttime": 0.0, "expiration": 0.0}}
        self.i.sched.answer(self.jobid, 0, R=R, annotations={"sched": {
            "resource_summary": "rank0/core0", "reason_pending": None,
            "jobs_ahead": None}})
        self.i.settle()
        merged = {"sched": {"t_estimate": 2000.0,
                            "resource_summary": "rank0/core0"}}
        [alloc] = [e for e in self.entries() if e["name"] == "alloc"]
        self.assertEqual(alloc["context"], {"annotations": merged})
        self.assertEqual(self.job.annotations, merged)

    def test_alloc_without_annotations_has_no_context(self):
        self.i.sched.grant(self.jobid)
        self.i.settle()
        [alloc] = [e for e in self.entries() if e["name"] == "alloc"]
        self.assertNotIn("context", alloc)

    def test_withdrawn_alloc_clears_sched_annotations(self):
        self.annotate({"sched": {"reason_pending": "insufficient resources"},
                       "user": {"note": "kept"}})
        self.i.ok("job-manager.queue-start", {"start": False})
        self.assertEqual(self.job.annotations, {"user": {"note": "kept"}})

    def test_denied_alloc_clears_every_annotation(self):
        self.annotate({"sched": {"reason_pending": "insufficient resources"},
                       "user": {"note": "gone"}})
        self.i.sched.answer(self.jobid, DENY, note="unsatisfiable request")
        self.i.settle()
        self.assertIsNone(self.job.annotations)

    def test_flux_jobs_shows_sched_annotations(self):
        service = JobListService(self.i.manager)
        service.startService()
        self.addCleanup(service.stopService)
        self.i.router.add_module(service)
        self.annotate({"sched": {"reason_pending": "insufficient resources",
                                 "t_estimate": 1700003600.0,
                                 "jobs_ahead": None}})

        def flux_jobs(*argv):
            out, err = io.StringIO(), io.StringIO()
            cmd = JobsCommand(
                stdin=io.StringIO(), stdout=out, stderr=err,
                environ={"XDG_CONFIG_HOME": "/nonexistent",
                         "XDG_CONFIG_DIRS": "/nonexistent", "TZ": "UTC"},
                connect=lambda: RouterHandle(self.i.router, OWNER_UID),
                now=lambda: 1700000000.0, getuid=lambda: OWNER_UID)
            self.assertEqual(cmd.run(list(argv)), 0, err.getvalue())
            return out.getvalue()

        self.assertEqual(flux_jobs(
            "-no", "{sched.reason_pending}|{sched.jobs_ahead}|"
            "{annotations.sched.t_estimate}"),
            "insufficient resources||1700003600.0\n")
        [listed] = json.loads(flux_jobs("--json"))["jobs"]
        self.assertEqual(listed["annotations"], {
            "sched": {"reason_pending": "insufficient resources",
                      "t_estimate": 1700003600.0}})
