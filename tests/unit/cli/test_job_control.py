"""``flux job urgency|raise|raiseall|kill|killall|purge|wait`` against the
fake job broker, with flux-job's messages and exit codes."""

import io
import signal
from contextlib import redirect_stderr, redirect_stdout

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli import _job_control as jc
from fluxd.cli._jobid import JobID, parse_jobid
from fluxd.cli.main import run_command
from fluxd.errors import InvalidArgument

from tests.unit.cli.fakejobs import GUEST, FakeJobBroker, run_ok
from tests.unit.cli.test_submit import f58, run as submit


def job(name, argv, broker=None):
    """Run ``flux job NAME ARGV`` as main.py would, against ``broker``."""
    func = getattr(jc, f"cmd_{name}")

    def connect():
        if broker is None:
            raise AssertionError("must not connect")
        return broker

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = run_command("flux-job", lambda a: func(a, connect), argv)
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def new_jobs(broker, count=1, *argv):
    ids = "1" if count == 1 else f"1-{count}"
    submit([f"--cc={ids}", *argv, "true"], broker)
    return sorted(broker.jobs)


def events(broker, jobid, name):
    return [e["context"] for e in broker.jobs[jobid].eventlog
            if e["name"] == name]


class UrgencyTests(SynchronousTestCase):
    def test_names_and_verbose(self):
        broker = FakeJobBroker()
        [jobid] = new_jobs(broker)
        self.assertEqual(job("urgency", [f58(jobid), "HOLD"], broker),
                         (0, "", ""))
        self.assertEqual(job("urgency", ["-v", f58(jobid), "expedite"],
                             broker), (0, "", "old urgency: job held\n"))
        self.assertEqual(job("urgency", ["-v", str(jobid), "Default"],
                             broker), (0, "", "old urgency: job expedited\n"))
        self.assertEqual(job("urgency", ["-v", f58(jobid), "7"], broker),
                         (0, "", "old urgency: 16\n"))
        self.assertEqual([e["urgency"] for e in events(broker, jobid,
                                                        "urgency")],
                         [0, 31, 16, 7])

    def test_refusals(self):
        broker = FakeJobBroker()
        [jobid] = new_jobs(broker)
        text = f58(jobid)
        self.assertEqual(job("urgency", [text, "32"], broker),
                         (1, "", f"flux-job: {text}: urgency value is out of"
                          " range\n"))
        self.assertEqual(job("urgency", [text, "-1"], broker)[0], 1)
        self.assertEqual(job("urgency", [text, "soon"], broker),
                         (1, "", 'flux-job: error parsing urgency: "soon"\n'))
        self.assertEqual(job("urgency", ["123", "1"], broker),
                         (1, "", "flux-job: 123: unknown job id\n"))
        self.assertEqual(job("urgency", ["nojob", "1"], broker),
                         (1, "", 'flux-job: error parsing jobid: "nojob"\n'))
        rc, out, err = job("urgency", [text], broker)
        self.assertEqual(rc, 1)
        self.assertIn("Usage: flux-job urgency [OPTIONS] id urgency", err)
        guest = FakeJobBroker(userid=GUEST, owner=False)
        [mine] = new_jobs(guest)
        self.assertEqual(job("urgency", [f58(mine), "expedite"], guest),
                         (1, "", f"flux-job: {f58(mine)}: guests can only"
                          " adjust urgency <= default\n"))
        guest.userid = GUEST + 1
        self.assertEqual(job("urgency", [f58(mine), "hold"], guest),
                         (1, "", f"flux-job: {f58(mine)}: guests can only"
                          " reprioritize their own jobs\n"))


class RaiseKillTests(SynchronousTestCase):
    def test_raise(self):
        broker = FakeJobBroker()
        ids = new_jobs(broker, 2, "--urgency=hold")
        rc, out, err = job("raise", ["-s", "3", "-t", "test", *map(f58, ids),
                                     "--", "a", "note"], broker)
        self.assertEqual((rc, err), (0, ""))
        for jobid in ids:
            self.assertEqual(events(broker, jobid, "exception"), [
                {"type": "test", "severity": 3, "note": "a note",
                 "userid": broker.userid}])
        self.assertEqual(job("raise", ["-m", "x", f58(ids[0]), "y"], broker),
                         (1, "", "flux-job: Do not set note on command line"
                          " and with --message\n"))
        rc, out, err = job("raise", [f58(ids[0]), "42"], broker)
        self.assertEqual((rc, err), (1, "flux-job: raise 42: unknown job"
                                     " id\n"))

    def test_raiseall(self):
        broker = FakeJobBroker()
        new_jobs(broker, 3, "--urgency=hold")
        self.assertEqual(job("raiseall", ["test"], broker),
                         (0, "", "flux-job: Command matched 3 jobs (-f to"
                          " confirm)\n"))
        self.assertEqual(job("raiseall", ["-f", "-s", "0", "cancel", "bye"],
                             broker),
                         (0, "", "flux-job: Raised exception on 3 jobs (0"
                          " errors)\n"))
        self.assertEqual(job("raiseall", ["-f", "test"], broker),
                         (0, "", "flux-job: Command matched 0 jobs\n"))
        self.assertEqual(job("raiseall", ["-S", "inactive", "x"], broker),
                         (1, "", "flux-job: Exceptions cannot be raised on"
                          " inactive jobs\n"))
        self.assertEqual(job("raiseall", ["-S", "nope", "x"], broker),
                         (1, "", "flux-job: error parsing --states: nope is"
                          " unknown\n"))
        self.assertEqual(job("raiseall", ["-u", "nobody-here", "x"], broker),
                         (1, "", "flux-job: unknown user nobody-here\n"))

    def test_kill(self):
        broker = FakeJobBroker(script=lambda js: [("alloc", {}),
                                                  ("start", {})])
        [jobid] = new_jobs(broker)
        self.assertEqual(job("kill", [f58(jobid)], broker),
                         (1, "", f"flux-job: kill {f58(jobid)}: job is not"
                          " running\n"))
        broker._advance()
        broker._advance()
        self.assertEqual(job("kill", ["-s", "HUP", f58(jobid)], broker),
                         (0, "", ""))
        kills = [p for t, p in broker.calls if t == "job-manager.kill"]
        self.assertEqual(kills[-1], {"id": jobid, "signum": signal.SIGHUP})
        self.assertEqual(job("kill", ["-s", "NOPE", f58(jobid)], broker),
                         (1, "", "flux-job: kill: Invalid signal NOPE\n"))
        self.assertEqual(job("kill", [f58(jobid), "extra"], broker),
                         (1, "", "flux-job: invalid jobid: extra\n"))
        self.assertEqual(job("killall", [], broker),
                         (0, "", "flux-job: Command matched 1 jobs (-f to"
                          " confirm)\n"))
        self.assertEqual(job("killall", ["-f", "-s", "9"], broker),
                         (0, "", "flux-job: Killed 1 jobs (0 errors)\n"))


class PurgeWaitTests(SynchronousTestCase):
    def test_purge(self):
        broker = FakeJobBroker()
        ids = new_jobs(broker, 3, "--wait")
        self.assertEqual(job("purge", [], broker),
                         (0, "use --force to purge 0 of 3 inactive jobs\n",
                          ""))
        self.assertEqual(len(broker.jobs), 3)
        self.assertEqual(job("purge", ["-f", "--num-limit=1"], broker),
                         (0, "purged 2 inactive jobs, 1 remaining\n", ""))
        self.assertEqual(job("purge", ["-f", f58(ids[2])], broker),
                         (0, "purged 1 inactive jobs, 0 remaining\n", ""))
        self.assertEqual(job("purge", ["--age-limit=x"], broker),
                         (1, "", "flux-job: invalid value for --age-limit:"
                          " x\n"))

    def test_wait(self):
        statuses = iter([0, 256, 0])
        broker = FakeJobBroker(script=lambda js: run_ok(next(statuses)))
        ids = new_jobs(broker, 3, "--flags=waitable")
        self.assertEqual(job("wait", [f58(ids[0])], broker), (0, "", ""))
        rc, out, err = job("wait", ["-a", "-v"], broker)
        self.assertEqual(rc, 1)
        self.assertEqual(err, f"{f58(ids[1])}: task(s) exited with exit code"
                         f" 1\n{f58(ids[2])}: job completed successfully\n")
        self.assertEqual(job("wait", [], broker),
                         (2, "", "flux-job: there are no more waitable"
                          " jobs\n"))
        self.assertEqual(job("wait", [f58(ids[0])], broker),
                         (2, "", "flux-job: invalid job id, or job may be"
                          " inactive and not waitable\n"))
        self.assertEqual(job("wait", ["-a", f58(ids[0])], broker),
                         (1, "", "flux-job: jobid not supported with"
                          " --all\n"))


class JobIDTests(SynchronousTestCase):
    def test_parse(self):
        self.assertEqual(parse_jobid("ƒ2"), 1)
        self.assertEqual(int(JobID("0x10")), 16)
        with self.assertRaises(InvalidArgument):
            parse_jobid("x")
        with self.assertRaises(ValueError):
            JobID("x")
