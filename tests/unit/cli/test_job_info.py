"""``flux job info|eventlog|wait-event|status|last`` against the real
job-info and job-list services over a fake job table (in-process)."""

import io
import json
import signal

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli._job_info import JobInfoCommands, event_matches, job_result
from fluxd.errors import FluxError, TimedOut
from fluxd.formats import fluid
from fluxd.testing.cli import run_flux
from fluxd.testing.jobs import job_kvs_key
from fluxd.storage import treeobj as T
from fluxd.storage.txn import APPEND
from tests.unit.cli.jobs_instance import OWNER, R2, Instance, J

GUEST = 4242


class JobCommandTestCase(SynchronousTestCase):
    def setUp(self):
        self.inst = Instance(self)
        self.job = self.inst.make(J.RUN, R=R2)
        self.f58 = fluid.encode(self.job.id, "f58")

    def flux_job(self, sub, *argv, userid=OWNER):
        out, err = io.StringIO(), io.StringIO()
        from fluxd.message.types import ROLE_USER
        rolemask = None if userid == OWNER else ROLE_USER
        cmds = JobInfoCommands(stdout=out, stderr=err,
                               connect=lambda: self.inst.handle(userid,
                                                                rolemask),
                               getuid=lambda: userid)
        try:
            rc = getattr(cmds, sub.replace("-", "_"))(list(argv))
        except FluxError as exc:
            rc = 1
            err.write(f"flux-job: {exc}\n")
        return rc, out.getvalue(), err.getvalue()

    def finish(self, job, status=0, t=500.0):
        for name, context in (("finish", {"status": status}),
                              ("free", None), ("clean", None)):
            self.inst.table.post(job, name, context, t)


class InfoTests(JobCommandTestCase):
    def test_keys(self):
        rc, out, _ = self.flux_job("info", self.f58, "eventlog")
        self.assertEqual(rc, 0)
        # the value, then a newline (as flux prints it)
        self.assertEqual(len(out.splitlines()), 7)
        self.assertTrue(out.endswith("}\n\n"))
        rc, out, _ = self.flux_job("info", self.f58, "jobspec")
        self.assertEqual(json.loads(out)["tasks"][0]["command"],
                         ["sleep", "1"])

    def test_original_and_base(self):
        job = self.inst.make(J.SCHED)
        self.inst.table.post(job, "jobspec-update",
                             {"attributes.system.duration": 9.0}, 300.0)
        jobid = str(job.id)
        rc, out, _ = self.flux_job("info", jobid, "jobspec")
        self.assertEqual(json.loads(out)["attributes"]["system"]["duration"],
                         9.0)
        rc, out, _ = self.flux_job("info", "--base", jobid, "jobspec")
        self.assertEqual(json.loads(out)["attributes"]["system"]["duration"],
                         0)
        rc, _, err = self.flux_job("info", "-o", jobid, "jobspec")
        self.assertEqual((rc, err), (1, "flux-job: J: key not found\n"))

    def test_errors(self):
        rc, _, err = self.flux_job("info", self.f58)
        self.assertEqual(rc, 1)
        self.assertTrue(err.startswith("Usage: flux job info id key\n"))
        rc, _, err = self.flux_job("info", "nojob", "R")
        self.assertEqual(err, 'flux-job: error parsing jobid: "nojob"\n')
        rc, _, err = self.flux_job("info", "f1", "R")
        self.assertEqual(err, "flux-job: invalid job id\n")
        rc, _, err = self.flux_job("info", self.f58, "nokey")
        self.assertEqual(err, "flux-job: nokey: key not found\n")
        rc, _, err = self.flux_job("info", self.f58, "eventlog",
                                   userid=GUEST)
        self.assertEqual(err, "flux-job: access is restricted to"
                              " job/instance owner\n")


class EventlogTests(JobCommandTestCase):
    def test_text_json_and_time_formats(self):
        rc, out, _ = self.flux_job("eventlog", self.f58)
        lines = out.splitlines()
        self.assertEqual(lines[0], f"{self.job.t_submit:f} submit userid=1000"
                                   " urgency=16 flags=0 version=1")
        self.assertEqual(lines[3].split()[1:], ["priority", "priority=16"])
        rc, out, _ = self.flux_job("eventlog", "-f", "json", self.f58)
        self.assertEqual(json.loads(out.splitlines()[1])["name"],
                         "validate")
        rc, out, _ = self.flux_job("eventlog", "-T", "offset", self.f58)
        self.assertEqual(out.splitlines()[1].split()[0], "1.000000")

    def test_color_option_takes_only_an_attached_value(self):
        rc, out, _ = self.flux_job("eventlog", "-L", self.f58)
        self.assertEqual(rc, 0)
        self.assertIn("\033[", out)
        rc, out, _ = self.flux_job("eventlog", "-Lnever", self.f58)
        self.assertNotIn("\033[", out)
        rc, out, _ = self.flux_job("eventlog", "--color", self.f58)
        self.assertIn("\033[", out)
        rc, out, _ = self.flux_job("eventlog", "--color=never", self.f58)
        self.assertNotIn("\033[", out)

    def test_bad_options(self):
        for argv, message in ((("-f", "xml"), "invalid format type 'xml'"),
                              (("-T", "when"),
                               "invalid time-format type 'when'"),
                              (("-Lmaybe",),
                               "invalid value: --color=maybe")):
            rc, _, err = self.flux_job("eventlog", *argv, self.f58)
            self.assertEqual((rc, err), (1, f"flux-job: {message}\n"))

    def test_not_found(self):
        rc, _, err = self.flux_job("eventlog", "f1")
        self.assertEqual(err, "flux-job: job f1 not found\n")
        rc, _, err = self.flux_job("eventlog", "-p", "exec", self.f58)
        self.assertEqual(err, "flux-job: eventlog path guest.exec.eventlog"
                              " not found\n")
        rc, _, err = self.flux_job("eventlog", "-F", "f1")
        self.assertEqual(err, "flux-job: job f1 not found\n")

    def test_follow_until_inactive(self):
        self.inst.on_idle = lambda: self.finish(self.job)
        rc, out, _ = self.flux_job("eventlog", "-F", self.f58)
        self.assertEqual(rc, 0)
        self.assertEqual([line.split()[1] for line in out.splitlines()],
                         ["submit", "validate", "depend", "priority",
                          "alloc", "start", "finish", "free", "clean"])


class WaitEventTests(JobCommandTestCase):
    def test_waits_for_a_later_event(self):
        self.inst.on_idle = lambda: self.finish(self.job, status=256)
        rc, out, _ = self.flux_job("wait-event", self.f58, "finish")
        self.assertEqual(rc, 0)
        self.assertEqual(out.split()[1:], ["finish", "status=256"])

    def test_match_context_count_quiet_verbose(self):
        rc, out, _ = self.flux_job("wait-event", "-m", "priority=16",
                                   self.f58, "priority")
        self.assertIn("priority=16", out)
        rc, out, _ = self.flux_job("wait-event", "-q", self.f58, "start")
        self.assertEqual((rc, out), (0, ""))
        rc, out, _ = self.flux_job("wait-event", "-v", self.f58, "depend")
        self.assertEqual([line.split()[1] for line in out.splitlines()],
                         ["submit", "validate", "depend"])
        self.inst.on_idle = lambda: self.finish(self.job)
        rc, _, err = self.flux_job("wait-event", "-c", "2", self.f58,
                                   "alloc")
        self.assertEqual((rc, err), (1, "flux-job: event 'alloc' never"
                                        " received\n"))

    def test_exec_eventlog_waitcreate(self):
        key = f"{job_kvs_key(self.job.id)}.guest.exec.eventlog"

        def write():
            line = '{"timestamp":1.0,"name":"init"}\n'
            self.successResultOf(self.inst.table.write(self.job.id, [
                {"key": key, "flags": APPEND,
                 "dirent": T.create_val(line.encode())}]))
        self.inst.on_idle = write
        rc, out, _ = self.flux_job("wait-event", "-W", "-p", "exec",
                                   self.f58, "init")
        self.assertEqual(out, "1.000000 init\n")
        rc, _, err = self.flux_job("wait-event", "-p", "output", self.f58,
                                   "data")
        self.assertEqual(err, "flux-job: eventlog path guest.output not"
                              " found\n")

    def test_bad_input(self):
        for argv, message in ((("-c", "0", self.f58, "x"),
                               "count must be > 0"),
                              (("-m", "novalue", self.f58, "x"),
                               "must specify a context test as key=value"),
                              (("-t", "soon", self.f58, "x"), None)):
            rc, _, err = self.flux_job("wait-event", *argv)
            self.assertEqual(rc, 1)
            self.assertEqual(err.count("\n"), 1)
            if message:
                self.assertEqual(err, f"flux-job: {message}\n")

    def test_timeout(self):
        # the job never ends: only the alarm can stop the wait
        before = signal.getsignal(signal.SIGALRM)
        self.inst.on_idle = signal.pause
        rc, _, err = self.flux_job("wait-event", "-t", "0.05", self.f58,
                                   "clean")
        self.assertEqual(err, "flux-job: wait-event timeout on event"
                              " 'clean'\n")
        self.assertIs(signal.getsignal(signal.SIGALRM), before)
        self.assertEqual(signal.getitimer(signal.ITIMER_REAL), (0.0, 0.0))

    def test_event_matches(self):
        entry = {"name": "x", "context": {"a": 1, "s": "v", "o": {"k": 2}}}
        self.assertTrue(event_matches(entry, "x"))
        self.assertTrue(event_matches(entry, "x", "a", "1"))
        self.assertTrue(event_matches(entry, "x", "s", "v"))
        self.assertTrue(event_matches(entry, "x", "s", '"v"'))
        self.assertTrue(event_matches(entry, "x", "o", '{"k":2}'))
        self.assertFalse(event_matches(entry, "x", "a", "2"))
        self.assertFalse(event_matches(entry, "y"))
        self.assertFalse(event_matches({"name": "x"}, "x", "a", "1"))


class StatusTests(JobCommandTestCase):
    def test_exit_codes_and_messages(self):
        ok = self.inst.make(J.INACTIVE, R=R2, status=0)
        bad = self.inst.make(J.INACTIVE, R=R2, status=3 << 8)
        killed = self.inst.make(J.INACTIVE, R=R2, status=signal.SIGKILL)
        canceled = self.inst.make(J.INACTIVE, exception=("cancel", ""))
        self.assertEqual(self.flux_job("status", str(ok.id))[0], 0)
        rc, _, err = self.flux_job("status", "-v", str(ok.id), str(bad.id))
        self.assertEqual(rc, 3)
        self.assertEqual(err, f"flux-job: fetching status for 2 jobs\n"
                              f"flux-job: all done.\n"
                              f"flux-job: {bad.id}: exited with exit code"
                              " 3\n")
        rc, _, err = self.flux_job("status", "-v", str(killed.id))
        self.assertEqual((rc, err), (137, f"flux-job: {killed.id}: job"
                                          " shell died by signal 9\n"))
        rc, _, err = self.flux_job("status", "-v", str(canceled.id))
        self.assertEqual((rc, err), (1, ""))
        rc, _, err = self.flux_job("status", "-vv", str(canceled.id))
        self.assertEqual((rc, err), (1, f"flux-job: {canceled.id}:"
                                        " exception type=cancel\n"))
        self.assertEqual(self.flux_job("status", "-e", "9",
                                       str(canceled.id))[0], 9)
        rc, _, err = self.flux_job("status", "f1")
        self.assertEqual((rc, err), (1, "flux-job: f1: No such job\n"))

    def test_waits_and_json(self):
        self.inst.on_idle = lambda: self.finish(self.job, status=0)
        rc, out, _ = self.flux_job("status", "-j", self.f58)
        self.assertEqual(rc, 0)
        res = json.loads(out)
        self.assertEqual(list(res), ["id", "exception_occurred", "t_submit",
                                     "t_run", "t_cleanup", "waitstatus",
                                     "result"])
        self.assertEqual((res["id"], res["result"], res["waitstatus"]),
                         (self.job.id, J.COMPLETED, 0))
        self.assertNotIn(" ", out.strip())

    def test_job_result(self):
        entries = [{"name": "submit", "timestamp": 1.0},
                   {"name": "exception", "timestamp": 2.0,
                    "context": {"type": "other", "severity": 3,
                                "note": ""}},
                   {"name": "exception", "timestamp": 3.0,
                    "context": {"type": "timeout", "severity": 0,
                                "note": "expired"}},
                   {"name": "exception", "timestamp": 4.0,
                    "context": {"type": "late", "severity": 0,
                                "note": ""}}]
        res = job_result(7, entries)
        self.assertEqual((res["exception_type"], res["result"]),
                         ("timeout", J.TIMEOUT))


class LastTests(JobCommandTestCase):
    def test_last(self):
        second = self.inst.make(J.NEW)
        rc, out, _ = self.flux_job("last")
        self.assertEqual(out, fluid.encode(second.id, "f58") + "\n")
        rc, out, _ = self.flux_job("last", "2")
        self.assertEqual(out.split(), [fluid.encode(second.id, "f58"),
                                       self.f58])
        rc, out, _ = self.flux_job("last", "[::-1]")
        self.assertEqual(out.split()[0], self.f58)

    def test_errors(self):
        rc, _, err = self.flux_job("last", userid=GUEST)
        self.assertEqual((rc, err), (1, "flux-job: job history is empty\n"))
        rc, _, err = self.flux_job("last", "x")
        self.assertEqual(rc, 1)
        self.assertIn("expected N or [SLICE]", err)
        rc, _, err = self.flux_job("last", "[a:b]")
        self.assertEqual(err, "flux-job: invalid slice '[a:b]'\n")


class DispatchTests(SynchronousTestCase):
    def test_subcommands_are_listed_and_dispatched(self):
        r = run_flux(["job", "--help"])
        for name in ("info", "eventlog", "wait-event", "status", "last"):
            self.assertIn(f"   {name:<15} ", r.out)
        r = run_flux(["job", "status"])
        self.assertEqual(r.rc, 1)
        self.assertTrue(r.err.startswith("flux-job: "))
        self.assertEqual(r.err.count("\n"), 1)
        r = run_flux(["job", "eventlog", "bad id"])
        self.assertEqual((r.rc, r.err),
                         (1, 'flux-job: error parsing jobid: "bad id"\n'))

    def test_timeout_error_is_flux_timed_out(self):
        self.assertTrue(issubclass(TimedOut, FluxError))
