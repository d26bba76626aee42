"""``flux run`` against the fake job broker: exit codes and messages as
flux job attach prints them, events, Ctrl-C, forwarded signals."""

import json
import signal

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli._attach import Attach, waitstatus_to_exitcode
from fluxd.cli._follow import EventFollower, render_output
from fluxd.cli.cmd_run import RunCommand

from tests.unit.cli.fakejobs import (
    OWNER, FakeJobBroker, fails_before_start, run_ok, run_with_output)
from tests.unit.cli.test_submit import f58, make_env, submitted


class Command(RunCommand):
    def __init__(self, env):
        super().__init__(env, handle_signals=False)


def run(argv, broker=None, **kw):
    env = make_env(broker, **kw)
    try:
        rc = Command(env).run(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, env.stdout.getvalue(), env.stderr.getvalue()


class RunTests(SynchronousTestCase):
    def test_exit_codes_and_messages(self):
        cases = [
            (0, 0, ""),
            (3 << 8, 3, "flux-job: task(s) exited with exit code 3\n"),
            ((128 + 15) << 8, 143, "flux-job: task(s) Terminated\n"),
            (9, 137, "flux-job: job shell Killed\n"),
        ]
        for status, code, message in cases:
            broker = FakeJobBroker(script=lambda js, s=status: run_ok(s))
            self.assertEqual(run(["-n1", "true"], broker),
                             (code, "", message), status)
            [job] = broker.jobs.values()
            self.assertTrue(job.inactive)

    def test_exception_before_running(self):
        broker = FakeJobBroker(script=lambda js: fails_before_start())
        rc, out, err = run(["true"], broker)
        label = f58(min(broker.jobs))
        self.assertEqual((rc, out), (1, ""))
        self.assertEqual(err, f"4.000s: job.exception {label} type=alloc"
                         " severity=0 unsatisfiable request\n")

    def test_refused_submission(self):
        self.assertEqual(run(["--urgency=40", "true"], FakeJobBroker()),
                         (1, "", "flux-run: ERROR: urgency range is"
                          " [0:31]\n"))
        self.assertEqual(run(["--flags=bad", "true"], FakeJobBroker()),
                         (1, "", "flux-run: ERROR: --flags: Unknown flag"
                          " bad\n"))

    def test_verbose_levels(self):
        broker = FakeJobBroker()
        rc, out, err = run(["-vv", "--setattr=system.exec.test={}", "true"],
                           broker)
        label = f58(min(broker.jobs))
        lines = err.splitlines()
        self.assertEqual(rc, 0)
        self.assertEqual(lines[0], f"jobid: {label}")
        self.assertEqual(lines[1], '0.000s: job.submit {"urgency":16,'
                         f'"userid":{OWNER},"flags":0,"version":1}}')
        self.assertEqual(lines[-1], "13.000s: job.clean")
        [(jobspec, _, _)] = submitted(broker)
        self.assertEqual(jobspec["attributes"]["system"]["exec"],
                         {"test": {}})

    def test_exec_events_and_wait_event(self):
        def script(jobspec):
            # the exec log may end after the main log: it is awaited
            return [("alloc", {}), ("exec.init", {}), ("start", {}),
                    ("exec.starting", {}), ("finish", {"status": 0}),
                    ("exec.complete", {"status": 0}), ("clean", {}),
                    ("exec.done", {})]
        broker = FakeJobBroker(script=script)
        rc, out, err = run(["-vvv", "true"], broker)
        self.assertEqual(rc, 0)
        self.assertIn('0.000s: exec.init', err.replace("5.000s", "0.000s"))
        self.assertIn("exec.complete {\"status\":0}", err)
        self.assertEqual(err.splitlines()[-1], "11.000s: exec.done")
        broker = FakeJobBroker()
        rc, out, err = run(["--wait-event=start", "true"], broker)
        self.assertEqual((rc, err), (1, ""))   # never saw finish
        [job] = broker.jobs.values()
        self.assertFalse(job.inactive)

    def test_output(self):
        lines = [("stdout", "0", "hello\nworld\n"), ("stderr", "1", "oops\n")]
        broker = FakeJobBroker(script=lambda js: run_with_output(lines))
        self.assertEqual(run(["-n2", "true"], broker),
                         (0, "hello\nworld\n", "oops\n"))
        broker = FakeJobBroker(script=lambda js: run_with_output(lines, 256))
        self.assertEqual(run(["-l", "-n2", "true"], broker),
                         (1, "0: hello\n0: world\n",
                          "1: oops\nflux-job: task(s) exited with exit code"
                          " 1\n"))

    def test_dry_run(self):
        rc, out, err = run(["--dry-run", "-N1", "hostname"])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(json.loads(out)["resources"][0]["type"], "node")


class AttachTests(SynchronousTestCase):
    def attach(self, broker, clock, statusline=False):
        env = make_env(broker)
        jobid = broker._ingest({"J": broker_J(broker), "urgency": 16,
                                "flags": 0})
        return env, Attach(env, EventFollower(broker), jobid, f58(jobid),
                           clock=clock, statusline=statusline)

    def test_ctrl_c_twice_cancels(self):
        now = [0.0]
        # the job never ends by itself
        broker = FakeJobBroker(script=lambda js: [])
        env, attach = self.attach(broker, lambda: now[0])
        attach._on_signal(signal.SIGINT, None)
        attach.tick()
        self.assertEqual(env.stderr.getvalue(), "flux-job: one more ctrl-C"
                         " within 2s to cancel or ctrl-Z to detach\n")
        now[0] = 1.5
        attach._on_signal(signal.SIGINT, None)
        rc = attach.run(handle_signals=False)
        [job] = broker.jobs.values()
        self.assertEqual([c for c in broker.calls
                          if c[0] == "job-manager.raise"][0][1],
                         {"id": job.id, "severity": 0, "type": "cancel",
                          "note": "interrupted by ctrl-C"})
        self.assertEqual(rc, 1)
        self.assertIn("job.exception", env.stderr.getvalue())
        self.assertIn("type=cancel severity=0 interrupted by ctrl-C",
                      env.stderr.getvalue())
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)

    def test_forwarded_signal_and_detach(self):
        now = [0.0]
        broker = FakeJobBroker(script=lambda js: [("alloc", {}),
                                                  ("start", {})])
        env, attach = self.attach(broker, lambda: now[0])
        attach._on_signal(signal.SIGUSR1, None)
        attach._on_signal(signal.SIGINT, None)
        attach._on_signal(signal.SIGTSTP, None)
        rc = attach.run(handle_signals=False)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        [job] = broker.jobs.values()
        kills = [p for t, p in broker.calls if t == "job-manager.kill"]
        self.assertEqual(kills, [{"id": job.id, "signum": signal.SIGUSR1}])
        self.assertIn("flux-job: detaching...", env.stderr.getvalue())
        self.assertEqual(rc, 1)

    def test_status_line(self):
        now = [0.0]
        broker = FakeJobBroker(script=lambda js: [])
        env, attach = self.attach(broker, lambda: now[0], statusline=True)
        attach.status_msg = "waiting for resources"
        now[0] = 3.0
        attach.tick()
        self.assertEqual(env.stderr.getvalue(), f"\rflux-job: {attach.label}"
                         f" {'waiting for resources':<{60 - len(attach.label)}}"
                         " 00:00:03\r")


def broker_J(broker):
    from fluxd.cli._submit import encode_job
    from fluxd.formats.jobspec import build_from_argv
    jobspec, _, _ = build_from_argv(["true"], environ={}, cwd="/")
    return encode_job(jobspec, broker.userid)


class HelperTests(SynchronousTestCase):
    def test_waitstatus(self):
        self.assertEqual(waitstatus_to_exitcode(0), (0, None))
        self.assertEqual(waitstatus_to_exitcode(2 << 8),
                         (2, "task(s) exited with exit code 2"))
        self.assertEqual(waitstatus_to_exitcode(6),
                         (134, "job shell Aborted"))

    def test_render_output(self):
        self.assertEqual(render_output({"name": "data", "context": {
            "stream": "stdout", "rank": "0", "data": "a\nb\n"}}, True),
            ("stdout", "0: a\n0: b\n"))
        self.assertEqual(render_output({"name": "data", "context": {
            "stream": "stderr", "rank": "1", "data": "eA==",
            "encoding": "base64", "repeat": 2}}), ("stderr", "xx"))
        self.assertEqual(render_output({"name": "redirect", "context": {
            "stream": "stdout", "rank": "0", "path": "/o"}}),
            ("stderr", "0: stdout redirected to /o\n"))
        self.assertEqual(render_output({"name": "log", "context": {
            "rank": 0, "level": 3, "component": "pmi", "message": "bad"}}),
            ("stderr", "flux-shell[0]: ERROR: pmi: bad\n"))
        self.assertIsNone(render_output({"name": "header", "context": {}}))
