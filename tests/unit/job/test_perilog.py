"""perilog.so and housekeeping in the job manager, with the ranks'
``rexec`` services played by the test (:class:`FakeRexec`): what holds
the start and the free, exceptions, drains, timeouts, partial release,
and no command at all when none is configured."""

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.job import jobs as J
from fluxd.message.router import method
from fluxd.module import Module
from tests.unit.job.fakes import GUEST, OWNER, Instance


def R(ranks):
    return {"version": 1, "execution": {
        "R_lite": [{"rank": str(r), "children": {"core": "0"}}
                   for r in ranks],
        "nodelist": [f"node{r}" for r in ranks], "starttime": 0.0,
        "expiration": 0.0}}


class FakeRexec(Module):
    """``rexec`` (all ranks in one): commands finished by the test."""

    name = "rexec"

    def __init__(self):
        super().__init__(0)
        self.cmds = []
        self.kills = []

    @method("exec", streaming=True)
    def exec_(self, request):
        done = defer.Deferred()
        body = request.json()
        pid = 100 + len(self.cmds)
        self.cmds.append([request, done, body, request.message.nodeid, pid])
        request.respond({"type": "started", "pid": pid, "rank": 0})
        return done

    @method("kill")
    def kill(self, request):
        self.kills.append(request.json())
        return {}

    def end(self, index, status=0, output=None):
        request, done, _, _, _ = self.cmds[index]
        if output:
            request.respond({"type": "output", "stream": "stderr",
                             "data": output})
        request.respond({"type": "finished", "status": status})
        done.callback(None)


class FakeResource(Module):
    name = "resource"

    def __init__(self):
        super().__init__(0)
        self.drains = []

    @method("drain")
    def drain(self, request):
        self.drains.append(request.json())
        return {}


class Base(SynchronousTestCase):
    conf = {}

    def setUp(self):
        self.i = Instance(self, config=Config(self.conf))
        self.rexec, self.res = FakeRexec(), FakeResource()
        self.i.router.add_module(self.rexec)
        self.i.router.add_module(self.res)
        self.i.manager.jobtap.load("perilog.so")
        self.i.hello()

    def run_to_alloc(self, ranks=(0,)):
        jobid = self.i.submit()[0]
        self.i.sched.answer(jobid, 0, R=R(ranks))
        self.i.settle()
        return jobid

    def state(self, jobid):
        return self.i.manager.get(jobid).state


class NoCommandTests(Base):
    def test_nothing_runs_when_nothing_is_configured(self):
        jobid = self.run_to_alloc()
        self.assertIn(jobid, self.i.exec.starts)
        self.i.exec.run(jobid)
        self.i.settle()
        self.assertEqual(self.state(jobid), J.INACTIVE)
        self.assertEqual(self.rexec.cmds, [])
        self.assertEqual(self.i.sched.frees, [jobid])


class PrologTests(Base):
    conf = {"job-manager": {
        "prolog": {"command": ["pro"], "per-rank": True, "timeout": "10s",
                   "kill-timeout": 2},
        "epilog": {"command": ["epi"]}}}

    def test_prolog_holds_the_start(self):
        jobid = self.run_to_alloc((0,))
        self.assertNotIn(jobid, self.i.exec.starts)
        self.assertEqual(self.rexec.cmds[0][2]["cmd"], ["pro"])
        env = self.rexec.cmds[0][2]["env"]
        self.assertEqual(env, {"FLUX_JOB_ID": _f58(jobid),
                               "FLUX_JOB_USERID": "1000"})
        self.rexec.end(0)
        self.i.settle()
        self.assertIn(jobid, self.i.exec.starts)
        self.i.exec.run(jobid)
        self.i.settle()
        # the epilog (rank 0 only) holds the free
        self.assertEqual(self.state(jobid), J.CLEANUP)
        self.assertEqual(self.rexec.cmds[1][2]["cmd"], ["epi"])
        self.assertEqual(self.i.sched.frees, [])
        self.rexec.end(1)
        self.i.settle()
        self.assertEqual(self.i.sched.frees, [jobid])
        names = self.i.events(jobid)
        self.assertEqual(names[names.index("alloc"):], [
            "alloc", "prolog-start", "prolog-finish", "start", "finish",
            "release", "epilog-start", "epilog-finish", "free", "clean"])

    def test_prolog_failure_on_one_rank(self):
        # rank 1 cannot be reached (no such broker): it fails
        jobid = self.run_to_alloc((0, 1))
        self.rexec.end(0)
        self.i.settle()
        job = self.i.manager.get(jobid)
        self.assertEqual(job.exception_type, "prolog")
        self.assertEqual(job.exception_note,
                         "prolog exited with code=1 on node1 (rank 1)")
        self.assertEqual(self.res.drains, [{
            "targets": "1", "mode": "update",
            "reason": "prolog failed for job " + _f58(jobid)}])
        names = self.i.events(jobid)
        self.assertLess(names.index("exception"),
                        names.index("prolog-finish"))
        self.assertNotIn(jobid, self.i.exec.starts)
        # the epilog still runs, then the free
        self.rexec.end(1)
        self.i.settle()
        self.assertEqual(self.state(jobid), J.INACTIVE)

    def test_prolog_timeout_terminates_then_kills(self):
        jobid = self.run_to_alloc((0,))
        self.i.clock.advance(10)
        self.i.settle()
        self.assertEqual(self.rexec.kills, [{"pid": 100, "signum": 15}])
        self.i.clock.advance(2)
        self.i.settle()
        self.assertEqual(self.rexec.kills[-1], {"pid": 100, "signum": 9})
        self.rexec.end(0, 9)
        self.i.settle()
        job = self.i.manager.get(jobid)
        self.assertEqual(job.exception_note,
                         "prolog timed out on node0 (rank 0)")
        self.assertEqual(self.res.drains[0]["targets"], "0")
        self.assertEqual(self.res.drains[0]["reason"],
                         "prolog timed out for job " + _f58(jobid))

    def test_cancel_kills_the_prolog(self):
        jobid = self.run_to_alloc((0,))
        self.i.ok("job-manager.raise", {"id": jobid, "type": "cancel",
                                        "severity": 0, "note": ""})
        self.i.settle()
        self.assertEqual(self.rexec.kills, [{"pid": 100, "signum": 15}])
        self.rexec.end(0, 15)
        self.i.settle()
        job = self.i.manager.get(jobid)
        self.assertEqual(job.exception_type, "cancel")   # no prolog one
        self.assertEqual(self.res.drains, [])

    def test_a_canceled_prolog_that_ignores_sigterm_is_drained(self):
        jobid = self.run_to_alloc((0,))
        self.i.ok("job-manager.raise", {"id": jobid, "type": "cancel",
                                        "severity": 0, "note": ""})
        self.i.clock.advance(2)         # kill-timeout
        self.i.settle()
        self.assertEqual(self.rexec.kills[-1], {"pid": 100, "signum": 9})
        self.rexec.end(0, 9)
        self.i.settle()
        self.assertEqual(self.res.drains, [{
            "targets": "0", "mode": "update",
            "reason": "prolog canceled then timed out for job "
                      + _f58(jobid)}])
        self.assertEqual(self.i.manager.get(jobid).exception_type, "cancel")

    def test_signals_and_codes_above_128_are_killed_by_signal(self):
        for status, note in ((15, "prolog killed by signal 15"),
                             (137 << 8, "prolog killed by signal 9"),
                             (2 << 8, "prolog exited with code=2")):
            jobid = self.run_to_alloc((0,))
            self.rexec.end(len(self.rexec.cmds) - 1, status)
            self.i.settle()
            self.assertEqual(self.i.manager.get(jobid).exception_note,
                             note + " on node0 (rank 0)")
            self.rexec.end(len(self.rexec.cmds) - 1)     # the epilog
            self.i.settle()

    def test_output_lines_are_logged_as_flux_does(self):
        from twisted.logger import globalLogPublisher
        seen = []
        globalLogPublisher.addObserver(seen.append)
        self.addCleanup(globalLogPublisher.removeObserver, seen.append)
        jobid = self.run_to_alloc((0,))
        self.rexec.end(0, 0, "oops\n\n   \n")
        self.i.settle()
        from twisted.logger import formatEvent
        lines = [formatEvent(e) for e in seen if "prolog:" in
                 formatEvent(e)]
        self.assertEqual(lines, [f"{_f58(jobid)}: prolog: node0 (rank 0):"
                                 " stderr: oops"])
        self.assertEqual([e["log_level"].name for e in seen
                          if "prolog:" in formatEvent(e)], ["error"])


class EpilogTests(Base):
    conf = {"job-manager": {"epilog": {"command": ["epi"],
                                       "per-rank": True}}}

    def test_failed_epilog_is_severity_2(self):
        jobid = self.run_to_alloc((0,))
        self.i.exec.run(jobid)
        self.i.settle()
        self.rexec.end(0, 127 << 8, "epi: No such file or directory\n")
        self.i.settle()
        job = self.i.manager.get(jobid)
        self.assertEqual((job.exception_type, job.exception_severity,
                          job.exception_note),
                         ("epilog", 2, "epilog exited with code=127 on"
                                       " node0 (rank 0)"))
        self.assertEqual(job.result, J.COMPLETED)
        self.assertEqual(self.res.drains[0]["targets"], "0")
        self.assertEqual(self.state(jobid), J.INACTIVE)


class HousekeepingTests(Base):
    conf = {"job-manager": {"housekeeping": {"command": ["hk"],
                                             "release-after": "5s"}}}

    def frees(self):
        return [(f["R"]["execution"]["R_lite"][0]["rank"], f["final"])
                for f in self.i.sched.free_bodies]

    def test_release_after(self):
        # rank 1 cannot be reached: it ends (failed) at once
        jobid = self.run_to_alloc((0, 1))
        self.i.exec.run(jobid)
        self.i.settle()
        # the job is done; its resources are housekeeping's
        self.assertEqual(self.state(jobid), J.INACTIVE)
        self.assertEqual(self.rexec.cmds[0][2]["env"]["FLUX_JOB_ID"],
                         str(jobid))
        stats = self.i.ok("job-manager.stats-get")["housekeeping"]
        self.assertEqual(stats["running"][_f58(jobid)]["pending"], "0")
        self.assertEqual(stats["running"][_f58(jobid)]["allocated"], "0-1")
        self.assertEqual(self.frees(), [])      # 5s not passed
        self.i.clock.advance(5)
        self.i.settle()
        self.assertEqual(self.frees(), [("1", False)])
        self.rexec.end(0)
        self.i.settle()
        self.assertEqual(self.frees(), [("1", False), ("0", True)])
        stats = self.i.ok("job-manager.stats-get")["housekeeping"]
        self.assertEqual(stats, {"running": {}})

    def test_a_new_scheduler_hears_of_housekept_jobs(self):
        jobid = self.run_to_alloc((0,))
        self.i.exec.run(jobid)
        self.i.settle()
        said = []
        stream = self.i.router.stream(
            "job-manager.sched-hello", {"partial-ok": False},
            cred=OWNER, on_response=said.append)
        self.i.settle()
        self.successResultOf(stream.done)
        self.assertEqual([s["id"] for s in said], [jobid])

    def test_resource_status_counts_housekeeping(self):
        jobid = self.run_to_alloc((0,))
        self.i.exec.run(jobid)
        self.i.settle()
        allocated = self.i.ok("job-manager.resource-status")["allocated"]
        self.assertEqual([e["rank"] for e in
                          allocated["execution"]["R_lite"]], ["0"])
        self.rexec.end(0)
        self.i.settle()
        self.assertEqual(self.frees(), [("0", True)])
        self.assertIsNone(
            self.i.ok("job-manager.resource-status")["allocated"])

    def test_housekeeping_kill_by_job_by_rank_and_all(self):
        first = self.run_to_alloc((0,))
        self.i.exec.run(first)
        second = self.run_to_alloc((0,))
        self.i.exec.run(second)
        self.i.settle()
        pids = {body["env"]["FLUX_JOB_ID"]: pid
                for _, _, body, _, pid in self.rexec.cmds}
        self.i.ok("job-manager.housekeeping-kill",
                  {"signum": 10, "jobid": second})
        self.assertEqual(self.rexec.kills,
                         [{"pid": pids[str(second)], "signum": 10}])
        # no housekeeping runs on rank 5
        self.i.ok("job-manager.housekeeping-kill",
                  {"signum": 15, "ranks": "5"})
        self.assertEqual(len(self.rexec.kills), 1)
        self.i.ok("job-manager.housekeeping-kill",
                  {"signum": 9, "ranks": "0"})
        self.assertEqual(sorted(k["pid"] for k in self.rexec.kills[1:]),
                         sorted(pids.values()))

    def test_housekeeping_kill_refuses_bad_requests_and_guests(self):
        self.assertIn("invalid signal number", str(self.i.fail(
            "job-manager.housekeeping-kill", {"signum": 0})))
        self.assertIn("invalid idset", str(self.i.fail(
            "job-manager.housekeeping-kill", {"signum": 15,
                                              "ranks": "x-"})))
        self.assertIn("requires owner credentials", str(self.i.fail(
            "job-manager.housekeeping-kill", {"signum": 15}, cred=GUEST)))
        self.assertEqual(self.rexec.kills, [])


def _f58(jobid):
    from fluxd.formats import fluid
    return fluid.encode(jobid, "f58")


class RestartTests(SynchronousTestCase):
    conf = {"job-manager": {"plugins": [{"load": "perilog.so"}],
                            "prolog": {"command": ["pro"]},
                            "epilog": {"command": ["epi"]}}}

    def test_a_prolog_lost_with_the_broker_fails_the_job(self):
        i = Instance(self, config=Config(self.conf))
        rexec = FakeRexec()
        i.router.add_module(rexec)
        i.hello()
        jobid = i.submit()[0]
        i.sched.answer(jobid, 0, R=R((0,)))
        i.settle()
        self.assertEqual(len(rexec.cmds), 1)
        i.stop()
        again = Instance(self, broker=i.broker, config=Config(self.conf))
        job = again.manager.get(jobid)
        self.assertEqual((job.exception_type, job.exception_note),
                         ("prolog", "prolog lost when the job manager"
                                    " restarted"))
        names = again.events(jobid)
        self.assertEqual(names[names.index("prolog-start"):], [
            "prolog-start", "exception", "prolog-finish", "epilog-start"])
        # the epilog runs once, then the free
        rexec.end(1)
        again.settle()
        self.assertEqual(again.events(jobid)[-3:],
                         ["epilog-finish", "free", "clean"])


class QueryTests(Base):
    conf = {"job-manager": {"prolog": {"command": ["pro"],
                                       "per-rank": True}}}

    def test_query_shows_the_config_and_what_runs(self):
        jobid = self.run_to_alloc((0,))
        answer = self.i.manager.jobtap.query("perilog")
        self.assertEqual(answer["conf"], {"epilog": {}, "prolog": {
            "command": ["pro"], "per_rank": True,
            "cancel_on_exception": True, "timeout": 1800.0,
            "kill-timeout": 60.0}})
        self.assertEqual(answer["procs"], {_f58(jobid): {
            "name": "prolog", "state": "running", "total": 1,
            "active": 1, "active_ranks": "0"}})
        self.i.ok("job-manager.raise", {"id": jobid, "type": "cancel",
                                        "severity": 0, "note": ""})
        answer = self.i.manager.jobtap.query("perilog")
        self.assertEqual(answer["procs"][_f58(jobid)]["state"], "canceled")
        self.rexec.end(0, 15)
        self.i.settle()
        self.assertEqual(self.i.manager.jobtap.query("perilog")["procs"],
                         {})


class FirstErrorTests(Base):
    conf = {"job-manager": {
        "prolog": {"command": ["pro"], "per-rank": True,
                   "exit-on-first-error": True},
        "housekeeping": {"command": ["hk"], "exit-on-first-error": True}}}

    def test_the_first_failure_terminates_the_others(self):
        # rank 1 cannot be reached: it fails at once, rank 0 is terminated
        jobid = self.run_to_alloc((0, 1))
        self.assertEqual(self.rexec.kills, [{"pid": 100, "signum": 15}])
        self.rexec.end(0, 15)
        self.i.settle()
        job = self.i.manager.get(jobid)
        self.assertEqual(job.exception_note,
                         "prolog exited with code=1 on node[0-1]"
                         " (rank 0-1)")
        self.assertEqual(self.i.sched.free_bodies, [])
        # housekeeping likewise: rank 1 fails, rank 0 is terminated
        self.assertEqual(self.rexec.kills[-1], {"pid": 101, "signum": 15})
        self.rexec.end(1, 15)
        self.i.settle()
        self.assertEqual(len(self.i.sched.free_bodies), 1)


class HousekeepingStopTests(Base):
    conf = {"job-manager": {"housekeeping": {"command": ["hk"]}}}

    def test_stop_cancels_quietly(self):
        jobid = self.run_to_alloc((0,))
        self.i.exec.run(jobid)
        self.i.settle()
        request = self.rexec.cmds[0][0]
        self.i.manager.housekeeping.stop()
        self.i.settle()
        self.assertTrue(request.cancelled)
        self.assertEqual(self.i.sched.free_bodies, [])
