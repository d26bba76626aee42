"""The ``job-exec`` service's test execution through its RFC 32 handlers,
with real KVS services and a fake job manager side (tests/unit/exec/fakejm)
on a Clock: flux-core's t2400-job-exec-test.t behaviours."""

import errno
import signal

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.errors import FluxError
from fluxd.exec._deadlines import Deadlines
from fluxd.exec.service import GUESTS_REFUSED, IMP_NEEDED
from fluxd.message.types import ROLE_USER
from fluxd.testing.kvs import GatedStore
from tests.unit.exec.fakejm import OWNER, R, Bench, jobspec

EXC = "exception"


def exc(type, note):
    return {"severity": 0, "type": type, "note": note}


class RunTests(SynchronousTestCase):
    def setUp(self):
        self.bench = Bench(self)

    def test_hello(self):
        self.assertEqual(self.bench.jm.hellos, [{"service": "job-exec"}])

    def test_job_runs_for_run_duration(self):
        bench = self.bench
        s = bench.start(1, jobspec(run_duration="2s"))
        self.assertEqual(s.kinds(), ["start"])
        bench.advance(1.9)
        self.assertEqual(s.kinds(), ["start"])
        bench.advance(0.1)
        self.assertEqual(s.kinds(), ["start", "finish", "release"])
        self.assertEqual(s.data("finish"), [{"status": 0}])
        self.assertEqual(s.data("release"), [{"ranks": "all", "final": True}])
        self.assertEqual(s.ended, [None])
        self.assertEqual(bench.exec_log(1), [
            ("init", None), ("starting", None), ("complete", {"status": 0}),
            ("done", None)])
        self.assertEqual(bench.exec.jobs, {})
        self.assertEqual(len(bench.exec.deadlines), 0)

    def test_zero_run_duration_ends_at_once(self):
        # even with no time limit (duration 0 would run until canceled)
        for text in ("0", "0s", "0.0m", 0, 0.0):
            bench = Bench(self)
            s = bench.start(1, jobspec(run_duration=text))
            bench.advance(0.001)
            self.assertEqual(s.kinds(), ["start", "finish", "release"], text)
            self.assertEqual(s.data("finish"), [{"status": 0}])
            self.assertEqual(len(bench.exec.deadlines), 0)

    def test_run_duration_in_seconds(self):
        s = self.bench.start(1, jobspec(run_duration=1.5))
        self.bench.advance(1.4)
        self.assertEqual(s.kinds(), ["start"])
        self.bench.advance(0.1)
        self.assertEqual(s.kinds(), ["start", "finish", "release"])

    def test_run_duration_defaults_to_the_duration(self):
        s = self.bench.start(1, jobspec(duration=5, wait_status=256))
        self.bench.advance(5)
        self.assertEqual(s.data("finish"), [{"status": 256}])

    def test_start_waits_for_init_to_be_durable(self):
        store = GatedStore()
        store.gate = False
        bench = Bench(self, store=store)
        store.gate = True
        s = bench.start(1, jobspec(run_duration="1s"))
        self.assertEqual(s.kinds(), [])
        store.release()
        bench.settle()
        self.assertEqual(s.kinds(), ["start"])

    def test_unlimited_job_runs_until_canceled(self):
        bench = self.bench
        s = bench.start(1, jobspec())
        bench.advance(10000)
        self.assertEqual(s.kinds(), ["start"])
        bench.jm.exception(1, "cancel")
        bench.settle()
        # the job manager raised it: no exception response from exec
        self.assertEqual(s.kinds(), ["start", "finish", "release"])
        self.assertEqual(s.data("finish"), [{"status": signal.SIGTERM}])
        self.assertIn(("complete", {"status": 15}), bench.exec_log(1))

    def test_non_fatal_and_other_jobs_exceptions_are_ignored(self):
        bench = self.bench
        s = bench.start(1, jobspec())
        bench.jm.exception(1, "other", severity=3)
        bench.jm.exception(2, "cancel")
        bench.settle()
        self.assertEqual(s.kinds(), ["start"])

    def test_guest_events_are_not_trusted(self):
        bench = self.bench
        s = bench.start(1, jobspec())
        bench.kvs.events.publish("job-exception", {"id": 1, "type": "cancel",
                                                   "severity": 0},
                                 cred=(4242, ROLE_USER))
        bench.settle()
        self.assertEqual(s.kinds(), ["start"])

    def test_term_signal_from_config(self):
        bench = Bench(self, Config({"exec": {"term-signal": "SIGUSR1"}}))
        s = bench.start(1, jobspec())
        bench.jm.exception(1, "cancel")
        bench.settle()
        self.assertEqual(s.data("finish"), [{"status": signal.SIGUSR1}])

    def test_cancel_before_start(self):
        store = GatedStore()
        store.gate = False
        bench = Bench(self, store=store)
        store.gate = True
        s = bench.start(1, jobspec(run_duration="1s"))
        bench.jm.exception(1, "cancel")
        bench.settle()
        store.gate = False
        store.release()
        bench.settle()
        self.assertEqual(s.kinds(), ["release"])
        self.assertEqual(bench.exec_log(1), [("init", None), ("done", None)])

    def test_mock_exception_init(self):
        s = self.bench.start(1, jobspec(mock_exception="init"))
        self.assertEqual(s.responses[0]["data"],
                         exc("exec", "mock initialization exception generated"))
        self.assertEqual(s.kinds(), [EXC, "release"])
        self.assertEqual(self.bench.exec_log(1),
                         [("init", None), ("done", None)])

    def test_mock_exception_run(self):
        s = self.bench.start(1, jobspec(mock_exception="run"))
        self.assertEqual(s.kinds(), ["start", EXC, "finish", "release"])
        self.assertEqual(s.data(EXC), [exc("exec",
                                           "mock run exception generated")])
        self.assertEqual(s.data("finish"), [{"status": 15}])

    def test_not_a_test_job_without_processes(self):
        # a job shell's job; this reactor (a Clock) cannot start one
        self.bench.store_J(1, jobspec(test=None))
        s = self.bench.start(1, jobspec(test=None))
        self.assertEqual(s.data(EXC), [exc(
            "exec", "rank 0: cannot start the shell server: this broker's"
            " reactor cannot start processes")])
        self.assertEqual(s.kinds(), [EXC, "finish", "release"])
        self.assertEqual(s.data("finish"), [{"status": 9}])

    def test_a_shell_job_without_its_J_fails_clearly(self):
        s = self.bench.start(1, jobspec(test=None))
        self.assertEqual(s.data(EXC), [exc(
            "exec", "cannot read the job's J: No such file or directory")])

    def test_invalid_test_settings(self):
        for test, note in [
                ({"run_duration": -1}, "run_duration must be an FSD"
                 " string or seconds >= 0, not -1"),
                ({"run_duration": True}, "run_duration must be an FSD"
                 " string or seconds >= 0, not True"),
                ({"run_duration": "1x"}, "run_duration: invalid Flux"
                 " standard duration '1x': bad unit 'x'"),
                ({"mock_exception": "exit"},
                 "mock_exception must be init or run, not 'exit'"),
                ({"wait_status": "9"}, "wait_status must be an integer >= 0"),
                ({"override": "yes"},
                 "override must be an integer or a boolean")]:
            s = self.bench.start(1, jobspec(**test))
            self.assertEqual(s.data(EXC), [exc(
                "exec", f"failed to initialize testconf: {note}")])
            self.assertEqual(s.kinds(), [EXC, "release"])

    def test_guests_need_allow_guests(self):
        bench = self.bench
        s = bench.start(1, jobspec(run_duration="1s"), userid=OWNER + 1)
        self.assertEqual(s.data(EXC), [exc("exec", GUESTS_REFUSED)])
        bench.exec.reconfigure(Config({"exec": {"testexec": {
            "allow-guests": True}}}))
        s = bench.start(2, jobspec(run_duration="1s"), userid=OWNER + 1)
        self.assertEqual(s.kinds(), ["start"])

    def test_other_users_jobs_need_the_imp(self):
        s = self.bench.start(1, jobspec(test=None), userid=OWNER + 1)
        self.assertEqual(s.data(EXC), [exc("exec", IMP_NEEDED)])
        self.assertEqual(s.kinds(), [EXC, "release"])

    def test_bad_start_requests(self):
        bench = self.bench
        d = bench.call("job-exec.start", {})
        self.assertEqual(self.failureResultOf(d).value.errno, errno.EPROTO)
        bench.start(1, jobspec())
        again = bench.start(1, jobspec())
        self.assertEqual(str(again.ended[0].value),
                         "job 1 is already running")
        bad = bench.start(2, jobspec(), R_={"execution": {"expiration": "x"}})
        self.assertEqual(str(bad.ended[0].value), "R expiration must be a number")

    def test_abandoned_stream(self):
        bench = self.bench
        s = bench.start(1, jobspec(run_duration="1s"))
        s.stream.cancel()
        self.assertEqual(bench.exec.jobs, {})
        self.assertEqual(len(bench.exec.deadlines), 0)

    def test_eventlog_writes_are_batched(self):
        bench = self.bench
        before = bench.exec.writer.commits
        starts = [bench.jm.start(i, jobspec(run_duration="1s"), R())
                  for i in range(1, 101)]
        bench.settle()
        bench.advance(1)
        self.assertTrue(all(s.ended == [None] for s in starts))
        # init, then starting+complete+done... for all hundred: a handful
        self.assertLessEqual(bench.exec.writer.commits - before, 4)
        self.assertEqual(bench.exec.stats["finished"], 100)


class TimeLimitTests(SynchronousTestCase):
    def setUp(self):
        self.bench = Bench(self)
        self.now = self.bench.clock.seconds()

    def test_timeout(self):
        bench = self.bench
        s = bench.start(1, jobspec(run_duration="10s"),
                        R(self.now, self.now + 1))
        bench.advance(1)
        self.assertEqual(s.kinds(), ["start", EXC, "finish", "release"])
        self.assertEqual(s.data(EXC), [exc("timeout",
                                           "resource allocation expired")])
        self.assertEqual(s.data("finish"), [{"status": signal.SIGALRM}])

    def test_short_run_beats_the_limit(self):
        s = self.bench.start(1, jobspec(run_duration="1s"),
                             R(self.now, self.now + 60))
        self.bench.advance(60)
        self.assertEqual(s.kinds(), ["start", "finish", "release"])

    def test_long_start_delay_moves_the_limit(self):
        # allocated 100 s ago with 10 s: a delay over 25 % of the limit
        s = self.bench.start(1, jobspec(), R(self.now - 100, self.now - 90))
        self.bench.advance(9.9)
        self.assertEqual(s.kinds(), ["start"])
        self.bench.advance(0.1)
        self.assertEqual(s.kinds(), ["start", EXC, "finish", "release"])

    def test_short_start_delay_counts(self):
        # allocated 2 s ago with 10 s: 20 %, within the allowance
        s = self.bench.start(1, jobspec(), R(self.now - 2, self.now + 8))
        self.bench.advance(8)
        self.assertEqual(s.data(EXC), [exc("timeout",
                                           "resource allocation expired")])


class OverrideTests(SynchronousTestCase):
    def setUp(self):
        self.bench = Bench(self)

    def override(self, payload, userid=OWNER):
        return self.bench.call("job-exec.override", payload, userid=userid,
                               rolemask=ROLE_USER)

    def error(self, payload, userid=OWNER):
        value = self.failureResultOf(self.override(payload, userid)).value
        self.assertIsInstance(value, FluxError)
        return value.errno, str(value)

    def test_start_and_finish(self):
        s = self.bench.start(1, jobspec(override=1))
        self.assertEqual(s.kinds(), [])
        self.assertEqual(self.error({"jobid": 1, "event": "finish"}),
                         (errno.EINVAL, "Job not running"))
        self.assertEqual(self.error({"jobid": 1, "event": "start"},
                                    userid=OWNER + 1),
                         (errno.EPERM, "Permission denied"))
        self.successResultOf(self.override({"jobid": 1, "event": "start"}))
        self.assertEqual(s.kinds(), ["start"])
        self.assertEqual(self.error({"jobid": 1, "event": "start"}),
                         (errno.EINVAL, "Job already running"))
        self.assertEqual(self.error({"jobid": 1, "event": "foo"}),
                         (errno.EINVAL, "Invalid event"))
        self.successResultOf(self.override({"jobid": 1, "event": "finish",
                                            "status": 3}))
        self.assertEqual(s.data("finish"), [{"status": 3}])
        self.assertEqual(s.ended, [None])

    def test_errors(self):
        self.assertEqual(self.error({"jobid": 9, "event": "start"}),
                         (errno.ENOENT, "Job not found"))
        self.assertEqual(self.error({}), (errno.EPROTO, "job-exec.override:"
                                          " expected {jobid, event, status?}"))
        self.bench.start(1, jobspec())
        self.assertEqual(self.error({"jobid": 1, "event": "start"}),
                         (errno.EINVAL, "Job not in exec override mode"))


class ReattachTests(SynchronousTestCase):
    def setUp(self):
        self.bench = Bench(self)
        self.now = self.bench.clock.seconds()

    def test_finishes_after_the_remaining_time(self):
        bench = self.bench
        bench.post_job_event(1, "start", self.now - 3)
        s = bench.start(1, jobspec(run_duration="5s"), reattach=True)
        self.assertEqual(s.kinds(), ["reattached"])
        bench.advance(1.9)
        self.assertEqual(s.kinds(), ["reattached"])
        bench.advance(0.1)
        self.assertEqual(s.kinds(), ["reattached", "finish", "release"])
        self.assertEqual([name for name, _ in bench.exec_log(1)],
                         ["reattach", "re-starting", "complete", "done"])

    def test_reattach_finish(self):
        bench = self.bench
        bench.post_job_event(1, "start", self.now - 1)
        s = bench.start(1, jobspec(run_duration="1h", reattach_finish=True),
                        reattach=True)
        bench.advance(0.001)
        self.assertEqual(s.kinds(), ["reattached", "finish", "release"])

    def test_overdue_job_finishes_at_once(self):
        bench = self.bench
        bench.post_job_event(1, "start", self.now - 60)
        s = bench.start(1, jobspec(run_duration="5s"), reattach=True)
        bench.advance(0.001)
        self.assertEqual(s.kinds(), ["reattached", "finish", "release"])


class DeadlineTests(SynchronousTestCase):
    def test_one_timer_for_many_deadlines(self):
        clock, fired = Clock(), []
        deadlines = Deadlines(clock, fired.append)
        handles = [deadlines.add(t, t) for t in (5, 3, 9, 3, 7)]
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        deadlines.cancel(handles[2])
        deadlines.cancel(handles[2])
        clock.advance(3)
        self.assertEqual(fired, [3, 3])
        clock.advance(10)
        self.assertEqual(fired, [3, 3, 5, 7])
        self.assertEqual((len(deadlines), clock.getDelayedCalls()), (0, []))

    def test_sweep_and_rearm(self):
        clock, fired = Clock(), []
        deadlines = Deadlines(clock, fired.append)
        handles = [deadlines.add(100 + i, i) for i in range(500)]
        for h in handles[:-1]:
            deadlines.cancel(h)
        self.assertLess(len(deadlines._heap), 100)
        deadlines.add(1, "soon")
        clock.advance(1)
        self.assertEqual(fired, ["soon"])
        clock.advance(1000)
        self.assertEqual(fired, ["soon", 499])
