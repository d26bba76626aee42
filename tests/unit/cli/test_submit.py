"""``flux submit`` against the fake job broker: jobspec and J sent,
batching, ids and errors printed, --wait exit codes."""

import io
import json
import os
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli._submit import CommandEnv, Submitter, parse_flags, substitute
from fluxd.cli._watch import status_exitcode
from fluxd.cli.cmd_submit import SubmitCommand
from fluxd.errors import InvalidArgument
from fluxd.formats.fluid import encode
from fluxd.security.sign import unwrap

from tests.unit.cli.fakejobs import (
    OWNER, FakeJobBroker, fails_before_start, run_ok, run_with_output)
from tests.unit.formats.test_jobspec_cli import fake_getrlimit

ENV = {"HOME": "/home/u", "PATH": "/bin", "FLUX_F58_FORCE_ASCII": "1"}


def f58(jobid):
    return encode(jobid, "f58")


def make_env(broker=None, stdin="", tty=False):
    def connect():
        if broker is None:
            raise AssertionError("this command must not connect")
        return broker

    env = CommandEnv(stdin=io.StringIO(stdin), stdout=io.StringIO(),
                     stderr=io.StringIO(), environ=dict(ENV),
                     connect=connect, cwd="/work", getrlimit=fake_getrlimit,
                     userid=OWNER if broker is None else broker.userid)
    if tty:
        env.isatty = lambda stream: True
    return env


def run(argv, broker=None, command=SubmitCommand, **kw):
    env = make_env(broker, **kw)
    try:
        rc = command(env).run(argv)
    except SystemExit as exc:         # argparse usage errors
        rc = exc.code
    return rc, env.stdout.getvalue(), env.stderr.getvalue()


def submitted(broker):
    """The (J-decoded jobspec, urgency, flags) of each submitted job."""
    jobs = []
    for topic, payload in broker.calls:
        if topic != "job-ingest.submit":
            continue
        for entry in payload.get("jobs", [payload]):
            jobspec = json.loads(unwrap(entry["J"])[0])
            jobs.append((jobspec, entry["urgency"], entry["flags"]))
    return jobs


def requests(broker, topic="job-ingest.submit"):
    return [p for t, p in broker.calls if t == topic]


class SubmitTests(SynchronousTestCase):
    def setUp(self):
        if "FLUX_F58_FORCE_ASCII" not in os.environ:
            os.environ["FLUX_F58_FORCE_ASCII"] = "1"
            self.addCleanup(os.environ.pop, "FLUX_F58_FORCE_ASCII", None)

    def test_one_job(self):
        broker = FakeJobBroker()
        rc, out, err = run(["-n2", "--urgency=hold", "--flags=debug,waitable",
                            "hostname"], broker)
        self.assertEqual((rc, err), (0, ""))
        [jobid] = broker.jobs
        self.assertEqual(out, f58(jobid) + "\n")
        [request] = requests(broker)
        self.assertEqual(set(request), {"J", "urgency", "flags"})
        [(jobspec, urgency, flags)] = submitted(broker)
        self.assertEqual((urgency, flags), (0, 6))
        self.assertEqual(jobspec["tasks"][0]["command"], ["hostname"])
        self.assertEqual(jobspec["resources"][0]["count"], 2)
        self.assertEqual(unwrap(request["J"])[1:], (OWNER, "none"))
        self.assertTrue(broker.closed)

    def test_quiet(self):
        broker = FakeJobBroker()
        self.assertEqual(run(["--quiet", "true"], broker), (0, "", ""))
        self.assertEqual(len(broker.jobs), 1)

    def test_cc_batches_and_substitutes(self):
        broker = FakeJobBroker()
        rc, out, err = run(["--cc=1-1000", "--job-name=j{cc}", "echo",
                            "{cc}", "{{id}}"], broker)
        self.assertEqual((rc, err), (0, ""))
        ids = sorted(broker.jobs)
        self.assertEqual(out.split(), [f58(i) for i in ids])
        self.assertLessEqual(len(requests(broker)), 100)
        self.assertEqual(len(requests(broker)), 4)     # 256 jobs per batch
        jobs = submitted(broker)
        self.assertEqual(len(jobs), 1000)
        first, last = jobs[0][0], jobs[-1][0]
        self.assertEqual(first["tasks"][0]["command"],
                         ["echo", "1", "{{id}}"])
        self.assertEqual(last["attributes"]["system"]["job"]["name"],
                         "j1000")
        self.assertEqual(
            last["attributes"]["system"]["environment"]["FLUX_JOB_CC"],
            "1000")

    def test_bcc_sets_no_environment(self):
        broker = FakeJobBroker()
        self.assertEqual(run(["--bcc=0-1", "true"], broker)[0], 0)
        for jobspec, _, _ in submitted(broker):
            self.assertNotIn("FLUX_JOB_CC",
                             jobspec["attributes"]["system"]["environment"])
        self.assertEqual(run(["--cc=1", "--bcc=2", "true"], FakeJobBroker()),
                         (1, "", "flux-submit: ERROR: specify only one of"
                          " --cc or --bcc\n"))

    def test_refused_jobs(self):
        broker = FakeJobBroker()
        rc, out, err = run(["--urgency=32", "true"], broker)
        self.assertEqual((rc, out), (1, ""))
        self.assertEqual(err, "[Errno 22] urgency range is [0:31]\n")
        guest = FakeJobBroker(owner=False)
        rc, out, err = run(["--cc=1-2", "--urgency=expedite", "true"], guest)
        self.assertEqual((rc, out), (1, ""))
        self.assertEqual(err, "cc=1: [Errno 1] only the instance owner can"
                         " submit with urgency >16\ncc=2: [Errno 1] only the"
                         " instance owner can submit with urgency >16\n")

    def test_bad_input(self):
        cases = [
            (["--flags=foo", "true"],
             "flux-submit: ERROR: --flags: Unknown flag foo\n"),
            (["--urgency=x", "true"],
             "flux-submit: ERROR: --urgency: invalid int value 'x'\n"),
            ([], "flux-submit: ERROR: job command and arguments are"
                 " missing\n"),
            (["-n", "x", "true"],
             "flux-submit: ERROR: --ntasks: invalid int value 'x'\n"),
            (["--input=0-1", "true"],
             "flux-submit: ERROR: per-task input not supported for"
             " submit\n"),
            (["--cc=1-2", "echo", "{}"],
             "flux-submit: ERROR: Invalid replacement string in command:"
             " '{}'\n"),
            (["--requires=(a", "true"],
             "flux-submit: ERROR: --requires='(a': Unclosed parenthesis in"
             " position 0\n"),
        ]
        for argv, message in cases:
            broker = FakeJobBroker()
            self.assertEqual(run(argv, broker), (1, "", message), argv)
            self.assertEqual(broker.jobs, {})
        rc, out, err = run(["--nosuch", "true"], FakeJobBroker())
        self.assertEqual(rc, 2)
        self.assertIn("flux submit: error: unrecognized arguments: --nosuch",
                      err)

    def test_dry_run_needs_no_instance(self):
        rc, out, err = run(["--dry-run", "--cc=1-3", "-t", "1", "app"])
        self.assertEqual((rc, err), (0, ""))
        jobspec = json.loads(out)      # only the first copy is printed
        self.assertEqual(jobspec["attributes"]["system"]["duration"], 60.0)
        self.assertEqual(
            jobspec["attributes"]["system"]["environment"]["FLUX_JOB_CC"],
            "1")

    def test_log_files(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        log = os.path.join(directory.name, "log")
        errors = os.path.join(directory.name, "errors")
        broker = FakeJobBroker()
        rc, out, err = run([f"--log={log}", f"--log-stderr={errors}",
                            "--cc=1-2", "--urgency=3{cc}", "true"], broker)
        self.assertEqual((rc, out, err), (1, "", ""))
        with open(log, encoding="utf-8") as stream:
            self.assertEqual(stream.read(), f58(min(broker.jobs)) + "\n")
        with open(errors, encoding="utf-8") as stream:
            self.assertEqual(stream.read(), "cc=2: [Errno 22] urgency range"
                             " is [0:31]\n")

    def test_progress_needs_a_tty(self):
        rc, out, err = run(["--progress", "true"], FakeJobBroker())
        self.assertEqual(rc, 0)
        self.assertEqual(err, "flux-submit: WARNING: stdout is not a tty."
                         " Ignoring --progress option\n")
        rc, out, err = run(["--progress", "--jps", "--cc=1-3", "true"],
                           FakeJobBroker(), tty=True)
        self.assertEqual(rc, 0)
        self.assertIn("Submitting 3 jobs: ", out)
        self.assertIn("100.0%", out)
        self.assertIn("job/s", out)


class WaitTests(SynchronousTestCase):
    def test_wait_exit_codes(self):
        statuses = {"a": 0, "b": 3 << 8, "c": 9}

        def script(jobspec):
            return run_ok(statuses[jobspec["tasks"][0]["command"][0]])

        for name, expected in (("a", 0), ("b", 3), ("c", 136)):
            broker = FakeJobBroker(script=script)
            rc, out, err = run(["--wait", name], broker)
            self.assertEqual((rc, err), (expected, ""), name)
            [job] = broker.jobs.values()
            self.assertTrue(job.inactive)

    def test_wait_exception_before_start(self):
        broker = FakeJobBroker(script=lambda js: fails_before_start())
        rc, out, err = run(["--cc=1-2", "--wait", "true"], broker)
        self.assertEqual(rc, 1)
        self.assertEqual(err, "job.exception: type=alloc severity=0"
                         " unsatisfiable request\n" * 2)

    def test_wait_event_stops_early(self):
        broker = FakeJobBroker()
        rc, out, err = run(["--wait-event=start", "true"], broker)
        self.assertEqual((rc, err), (0, ""))
        [job] = broker.jobs.values()
        names = [e["name"] for e in job.eventlog]
        self.assertIn("start", names)
        self.assertNotIn("clean", names)

    def test_verbose_logs_status_and_events(self):
        broker = FakeJobBroker(script=lambda js: run_ok(256))
        rc, out, err = run(["--wait", "-vv", "true"], broker)
        self.assertEqual(rc, 1)
        label = f58(min(broker.jobs))
        lines = err.splitlines()
        self.assertEqual(lines[0], f"{label}: 0.000s: submit"
                         f' {{"urgency":16,"userid":{OWNER},"flags":0,'
                         '"version":1}')
        self.assertIn(f"{label}: 10.000s: failed: status=256", lines)
        self.assertEqual(lines[-1], f"{label}: 13.000s: clean ")

    def test_watch_prints_output(self):
        lines = [("stdout", "0", "hi\n"), ("stderr", "0", "err\n")]
        broker = FakeJobBroker(script=lambda js: run_with_output(lines))
        rc, out, err = run(["--watch", "--cc=1-2", "true"], broker)
        labels = [f58(i) for i in sorted(broker.jobs)]
        self.assertEqual(rc, 0)
        self.assertEqual(out, "".join(f"{x}\n" for x in labels)
                         + "hi\nhi\n")
        self.assertEqual(err, "err\nerr\n")
        broker = FakeJobBroker(script=lambda js: run_with_output(lines))
        rc, out, err = run(["--watch", "-l", "--quiet", "true"], broker)
        label = f58(min(broker.jobs))
        self.assertEqual((rc, out, err), (0, f"{label}: hi\n",
                                          f"{label}: err\n"))

    def test_progress_with_wait(self):
        rc, out, err = run(["--progress", "--wait", "--cc=1-2", "true"],
                           FakeJobBroker(), tty=True)
        self.assertEqual(rc, 0)
        self.assertIn("PD:0   R:0   CD:2   F:0   ", out)
        self.assertIn("100.0%", out)


class HelperTests(SynchronousTestCase):
    def test_flags(self):
        self.assertEqual(parse_flags(["debug", "waitable,novalidate"]), 14)
        self.assertEqual(parse_flags(None), 0)
        with self.assertRaises(InvalidArgument):
            parse_flags(["wait"])

    def test_status_exitcode(self):
        self.assertEqual([status_exitcode(s) for s in (0, 256, 9, 15)],
                         [0, 1, 136, 142])

    def test_batch_limits(self):
        class Job:
            def __init__(self, n):
                self.J, self.urgency, self.flags = "x" * n, 16, 0

        broker = FakeJobBroker()
        submitter = Submitter(broker, batch_jobs=10, batch_bytes=100,
                              window=2)
        sent = [Job(30) for _ in range(9)]
        broker.do_job_ingest_submit = lambda p: {
            "jobs": [{"id": 7}] * len(p["jobs"])}
        results = list(submitter.submit(sent))
        self.assertEqual([r for _, r in results], [7] * 9)
        # 4 jobs of 30 bytes pass 100 bytes: batches of 4, 4, 1
        self.assertEqual([len(p["jobs"]) for p in requests(broker)],
                         [4, 4, 1])

    def test_substitute_keeps_mustache(self):
        class Args:
            command = ["echo", "{cc}{{x}}"]
            cc = "1-2"
            job_name = "{{name}}"
            setattr = ["a={cc}"]

        args = substitute(Args(), cc=5)
        self.assertEqual(args.command, ["echo", "5{{x}}"])
        self.assertEqual(args.setattr, ["a=5"])
        self.assertEqual(args.job_name, "{{name}}")
        self.assertEqual(args.modified, {"cc", "setattr", "job_name"})


class ImportTests(SynchronousTestCase):
    def test_commands_import_no_twisted(self):
        import subprocess
        import sys
        code = ("import sys; import fluxd.cli.cmd_submit, fluxd.cli.cmd_run,"
                " fluxd.cli.cmd_bulksubmit, fluxd.cli.cmd_cancel,"
                " fluxd.cli.cmd_queue, fluxd.cli._job_control,"
                " fluxd.cli._attach, fluxd.cli._watch, fluxd.cli._follow,"
                " fluxd.cli._progress, fluxd.formats.constraint,"
                " fluxd.formats._jobspec_options, fluxd.security.sign;"
                " print([m for m in sys.modules if m.startswith('twisted')])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, check=True).stdout
        self.assertEqual(out.strip(), "[]")
