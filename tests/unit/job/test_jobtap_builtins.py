"""The builtin jobtap plugins: priority-default, dependency-after,
begin-time, submit-hold."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.formats import fluid
from fluxd.job import jobs as J
from tests.unit.job.fakes import GUEST, Instance


def f58(jobid):
    return fluid.encode(jobid, "f58")


class PriorityDefaultTests(SynchronousTestCase):
    def test_priority_is_urgency_hold_and_expedite(self):
        i = Instance(self)
        ids = [i.submit(urgency=u)[0] for u in (7, 0, 31)]
        self.assertEqual([i.manager.get(j).priority for j in ids],
                         [7, 0, J.PRIORITY_MAX])

    def test_urgency_change_reprioritizes(self):
        i = Instance(self)
        [jobid] = i.submit(urgency=7)
        i.ok("job-manager.urgency", {"id": jobid, "urgency": 20})
        self.assertEqual(i.manager.get(jobid).priority, 20)


class DependencyAfterTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self)
        self.i.hello()

    def submit_dep(self, scheme, target):
        [jobid] = self.i.submit(dependencies=[
            {"scheme": scheme, "value": f58(target)}])
        return jobid

    def run_job(self, jobid, status=0):
        self.i.sched.grant(jobid)
        self.i.settle()
        self.i.exec.run(jobid, status)
        self.i.settle()

    def test_afterok_waits_in_depend_then_runs(self):
        i = self.i
        [first] = i.submit()
        second = self.submit_dep("afterok", first)
        job = i.manager.get(second)
        self.assertEqual(job.state, J.DEPEND)
        self.assertEqual(job.dependencies, [f"after-success={f58(first)}"])
        self.assertEqual(i.events(second), ["submit", "dependency-add",
                                            "validate"])
        self.run_job(first)
        self.assertEqual(job.state, J.SCHED)
        self.assertEqual(i.events(second), [
            "submit", "dependency-add", "validate", "dependency-remove",
            "depend", "priority"])

    def test_afterok_on_failure_raises_dependency_exception(self):
        i = self.i
        [first] = i.submit()
        ok = self.submit_dep("afterok", first)
        notok = self.submit_dep("afternotok", first)
        anyj = self.submit_dep("afterany", first)
        self.run_job(first, 256)
        job = i.manager.get(ok)
        self.assertEqual((job.state, job.exception_type, job.exception_note),
                         (J.INACTIVE, "dependency",
                          f"dependency after-success={f58(first)} can never"
                          " be satisfied"))
        self.assertEqual(i.manager.get(notok).state, J.SCHED)
        self.assertEqual(i.manager.get(anyj).state, J.SCHED)

    def test_afternotok_on_success_raises(self):
        i = self.i
        [first] = i.submit()
        notok = self.submit_dep("afternotok", first)
        self.run_job(first, 0)
        self.assertEqual(i.manager.get(notok).exception_type, "dependency")

    def test_canceled_before_start_satisfies_only_afterany(self):
        i = self.i
        [first] = i.submit()
        anyj = self.submit_dep("afterany", first)
        notok = self.submit_dep("afternotok", first)
        i.ok("job-manager.raise", {"id": first, "severity": 0,
                                   "type": "cancel", "note": ""})
        self.assertEqual(i.manager.get(anyj).state, J.SCHED)
        job = i.manager.get(notok)
        self.assertEqual(job.exception_note, f"dependency after-failure="
                         f"{f58(first)} job never started")

    def test_afterstart(self):
        i = self.i
        [first] = i.submit()
        after = self.submit_dep("afterstart", first)
        i.sched.grant(first)
        i.settle()
        self.assertEqual(i.manager.get(after).state, J.DEPEND)
        i.exec.send(first, "start")
        i.settle()
        self.assertEqual(i.manager.get(after).state, J.SCHED)
        # the target has started: a new afterstart is satisfied at once
        late = self.submit_dep("afterstart", first)
        self.assertEqual(i.manager.get(late).state, J.SCHED)

    def test_inactive_targets(self):
        i = self.i
        [good] = i.submit()
        self.run_job(good, 0)
        [bad] = i.submit()
        self.run_job(bad, 256)
        self.assertEqual(i.manager.get(self.submit_dep("afterok", good)).state,
                         J.SCHED)
        self.assertEqual(i.manager.get(self.submit_dep("afternotok",
                                                       bad)).state, J.SCHED)
        for scheme, target, msg in (
                ("afterok", bad, f"dependency: afterok: job {f58(bad)} failed"
                 " or was canceled"),
                ("afternotok", good, f"dependency: afternotok: job"
                 f" {f58(good)} succeeded")):
            err = i.fail("job-ingest.submit", {"J": i.J(dependencies=[
                {"scheme": scheme, "value": f58(target)}]), "urgency": 16,
                "flags": 0})
            self.assertEqual(str(err), msg)
        [canceled] = i.submit()
        i.ok("job-manager.raise", {"id": canceled, "severity": 0,
                                   "type": "cancel", "note": ""})
        err = i.fail("job-ingest.submit", {"J": i.J(dependencies=[
            {"scheme": "afterok", "value": f58(canceled)}]), "urgency": 16,
            "flags": 0})
        self.assertEqual(str(err), f"dependency: after: {f58(canceled)}"
                         " never started")

    def test_bad_ids(self):
        i = self.i
        for value, msg in (
                ("bogus", 'dependency: afterok: "bogus" is not a valid'
                 ' jobid'),
                ("f1234", "dependency: afterok: id f1234: job not found")):
            err = i.fail("job-ingest.submit", {"J": i.J(dependencies=[
                {"scheme": "afterok", "value": value}]), "urgency": 16,
                "flags": 0})
            self.assertEqual(str(err), msg)

    def test_other_users_job(self):
        i = self.i
        [first] = i.submit()
        # (guests cannot sign with "none" here: the target changes hands)
        i.manager.get(first).userid = GUEST.userid
        err = i.fail("job-ingest.submit", {"J": i.J(dependencies=[
            {"scheme": "afterany", "value": f58(first)}]), "urgency": 16,
            "flags": 0})
        self.assertEqual(str(err), f"afterany: Permission denied for job"
                         f" {f58(first)}")

    def test_canceled_dependent_is_forgotten_and_query(self):
        i = self.i
        [first] = i.submit()
        dep = self.submit_dep("afterok", first)
        answer = i.ok("job-manager.jobtap-query",
                      {"name": ".dependency-after"})
        self.assertEqual(answer["dependencies"], [{
            "id": first, "depid": dep, "type": "after-success",
            "description": f"after-success={f58(first)}"}])
        i.ok("job-manager.raise", {"id": dep, "severity": 0,
                                   "type": "cancel", "note": ""})
        self.assertEqual(i.manager.get(dep).state, J.INACTIVE)
        answer = i.ok("job-manager.jobtap-query",
                      {"name": ".dependency-after"})
        self.assertEqual(answer["dependencies"], [])
        self.run_job(first)
        self.assertEqual(i.events(dep)[-1], "clean")


class BeginTimeTests(SynchronousTestCase):
    def test_job_waits_until_begin_time(self):
        i = Instance(self)
        when = i.clock.seconds() + 60
        [jobid] = i.submit(dependencies=[{"scheme": "begin-time",
                                          "value": str(when)}])
        job = i.manager.get(jobid)
        self.assertEqual((job.state, job.dependencies),
                         (J.DEPEND, [f"begin-time={when:.3f}"]))
        i.clock.advance(59)
        self.assertEqual(job.state, J.DEPEND)
        i.clock.advance(1)
        i.settle()
        self.assertEqual(job.state, J.SCHED)

    def test_past_time_and_bad_value(self):
        i = Instance(self)
        [jobid] = i.submit(dependencies=[{"scheme": "begin-time",
                                          "value": "1.0"}])
        self.assertEqual(i.manager.get(jobid).state, J.SCHED)
        err = i.fail("job-ingest.submit", {"J": i.J(dependencies=[
            {"scheme": "begin-time", "value": "soon"}]), "urgency": 16,
            "flags": 0})
        self.assertEqual(str(err), "begin-time: invalid value: soon")

    def test_canceled_job_timer_is_cancelled(self):
        i = Instance(self)
        [jobid] = i.submit(dependencies=[{"scheme": "begin-time",
                                          "value": str(i.clock.seconds()
                                                       + 60)}])
        i.ok("job-manager.raise", {"id": jobid, "severity": 0,
                                   "type": "cancel", "note": ""})
        self.assertEqual(i.manager.get(jobid).state, J.INACTIVE)
        self.assertEqual([c for c in i.clock.getDelayedCalls()
                          if c.getTime() >= i.clock.seconds() + 59], [])


class SubmitHoldTests(SynchronousTestCase):
    def test_jobs_are_held(self):
        i = Instance(self, config=Config({"job-manager": {
            "plugins": [{"load": ".submit-hold"}]}}))
        [jobid] = i.submit()
        job = i.manager.get(jobid)
        self.assertEqual((job.state, job.urgency, job.priority),
                         (J.SCHED, 0, 0))
        i.ok("job-manager.urgency", {"id": jobid, "urgency": 16})
        self.assertEqual(job.priority, 16)
