"""``flux jobs`` against the real job-list service over a fake job table
(in-process): formats, every selection option, ordering, JOBIDs, JSON,
stats, and one-line errors."""

import io
import json

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.cmd_jobs import JobsCommand, parse_when
from fluxd.errors import FluxError
from fluxd.formats.fsd import fsd_brief
from fluxd.testing.cli import run_flux
from tests.unit.cli.jobs_instance import NOW, OWNER, R2, Instance, J

HEADER = "       JOBID USER     NAME       ST NTASKS NNODES     TIME INFO"


class _TTY(io.StringIO):
    def isatty(self):
        return True


class JobsTestCase(SynchronousTestCase):
    def setUp(self):
        self.inst = Instance(self)
        make = self.inst.make
        self.sched = make(J.SCHED, cmd=("sleep", "60"), duration=60.0)
        self.held = make(J.SCHED, urgency=0)
        self.run = make(J.RUN, cmd=("hostname",), R=R2)
        self.done = make(J.INACTIVE, cmd=("true",), R=R2, status=0,
                         queue="batch")
        self.failed = make(J.INACTIVE, cmd=("false",), R=R2, status=256)
        self.canceled = make(J.INACTIVE, exception=("cancel", "by me"))
        self.timeout = make(J.INACTIVE, R=R2, exception=("timeout", "x"),
                            status=36352)
        self.other = make(J.SCHED, cmd=("theirs",), userid=4242)

    def flux_jobs(self, *argv, stdin="", tty=False, userid=OWNER):
        out = _TTY() if tty else io.StringIO()
        err = io.StringIO()
        cmd = JobsCommand(stdin=io.StringIO(stdin), stdout=out, stderr=err,
                          environ={"XDG_CONFIG_HOME": "/nonexistent",
                                   "XDG_CONFIG_DIRS": "/nonexistent"},
                          connect=lambda: self.inst.handle(userid),
                          now=lambda: NOW, getuid=lambda: userid)
        try:
            rc = cmd.run(list(argv))
        except FluxError as exc:
            rc, err = 1, io.StringIO(f"flux-jobs: ERROR: {exc}\n")
        return rc, out.getvalue(), err.getvalue()

    def ids(self, *argv):
        rc, out, err = self.flux_jobs("-no", "{id}", *argv)
        self.assertEqual(rc, 0, err)
        return [int(line) for line in out.splitlines()]

    def f58(self, job):
        from fluxd.formats import fluid
        return fluid.encode(job.id, "f58")


class FormatTests(JobsTestCase):
    def test_default_format(self):
        rc, out, err = self.flux_jobs()
        self.assertEqual((rc, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0], HEADER)
        user = lines[1].split()[1]
        self.assertEqual(lines[1:], [
            f"{self.f58(self.sched):>12} {user:<8} sleep       S      1"
            "      -       1m ",
            f"{self.f58(self.held):>12} {user:<8} sleep       S      1"
            "      -        - held",
            f"{self.f58(self.run):>12} {user:<8} hostname    R      1"
            f"      2 {fsd_brief(NOW - self.run.t_run):>8} node[0-1]"])

    def test_queue_column_appears_when_a_job_has_a_queue(self):
        rc, out, _ = self.flux_jobs("-f", "run,completed")
        self.assertEqual(out.splitlines()[0].split()[:3],
                         ["JOBID", "QUEUE", "USER"])
        rc, out, _ = self.flux_jobs("-f", "sched")
        self.assertNotIn("QUEUE", out)

    def test_named_formats(self):
        rc, out, _ = self.flux_jobs("-a", "-o", "endreason")
        lines = out.splitlines()
        self.assertIn("INACTIVE-REASON", lines[0])
        reasons = {line.split()[0]: line for line in lines[1:]}
        self.assertTrue(reasons[self.f58(self.done)].endswith("Exit 0"))
        self.assertTrue(reasons[self.f58(self.failed)].endswith("Exit 1"))
        self.assertTrue(reasons[self.f58(self.canceled)].endswith(
            "Canceled: by me"))
        self.assertTrue(reasons[self.f58(self.timeout)].endswith("Timeout"))
        rc, out, _ = self.flux_jobs("-o", "long")
        self.assertIn("T_SUBMIT", out.splitlines()[0])
        self.assertIn("    SCHED ", out)
        rc, out, _ = self.flux_jobs("-f", "pending", "-o", "deps")
        self.assertEqual(out.splitlines()[0].split(),
                         ["JOBID", "NAME", "URG", "PRI", "STATE",
                          "DEPENDENCIES"])
        rc, out, _ = self.flux_jobs("-o", "cute")
        self.assertIn("\U0001F4C5", out)

    def test_format_help_and_get_config(self):
        rc, out, _ = self.flux_jobs("--format=help")
        self.assertEqual(rc, 0)
        for name in ("default", "cute", "long", "deps", "endreason"):
            self.assertIn(f"  {name:<12} ", out)
        rc, out, _ = self.flux_jobs("-o", "get-config=deps")
        self.assertTrue(out.startswith("[formats.deps]\n"))

    def test_every_result_in_a_custom_format(self):
        rc, out, _ = self.flux_jobs(
            "-a", "-no", "{name}:{status},{result_abbrev:h},{returncode:h},"
            "{exception.type:h},{success:h},{nnodes:h},{ranks:h}")
        self.assertEqual(sorted(out.splitlines()), sorted([
            "sleep:SCHED,-,-,-,-,-,-", "sleep:SCHED,-,-,-,-,-,-",
            "hostname:RUN,-,-,-,-,2,0-1",
            "false:FAILED,F,1,-,False,2,0-1",
            "true:COMPLETED,CD,0,-,True,2,0-1",
            "sleep:CANCELED,CA,-128,cancel,False,-,-",
            "sleep:TIMEOUT,TO,142,timeout,False,2,0-1"]))

    def test_sort(self):
        self.assertEqual(self.ids("-a", "--sort=-t_submit")[:2],
                         [self.timeout.id, self.canceled.id])
        rc, out, _ = self.flux_jobs("-ano", "sort:name {name}")
        self.assertEqual(out.splitlines()[0], "false")
        rc, _, err = self.flux_jobs("-a", "--sort=foo")
        self.assertEqual((rc, err), (1, "flux-jobs: ERROR: Invalid sort key:"
                                        " foo\n"))

    def test_width_and_color(self):
        rc, out, _ = self.flux_jobs("-a", "-w", "10")
        self.assertTrue(all(len(line) <= 10 for line in out.splitlines()))
        self.assertTrue(out.splitlines()[0].endswith("+"))
        rc, out, _ = self.flux_jobs("-a", "--color=always", "-n")
        self.assertEqual(out.count("\033[01;32m"), 1)
        self.assertEqual(out.count("\033[01;31m"), 2)
        self.assertEqual(out.count("\033[37m"), 1)
        rc, out, _ = self.flux_jobs("-a", "-n")
        self.assertNotIn("\033", out)
        rc, out, _ = self.flux_jobs("-a", "-n", tty=True)
        self.assertIn("\033", out)

    def test_bad_formats(self):
        for fmt, message in (("{runtime", "Error in user format: "),
                             ("{footime}", "Unknown format field: footime"),
                             ("{runtime:garbage}",
                              "Invalid format specifier")):
            rc, out, err = self.flux_jobs("-o", fmt)
            self.assertEqual(rc, 1)
            self.assertIn(message, err)
            self.assertEqual(err.count("\n"), 1)


class SelectionTests(JobsTestCase):
    def test_default_is_my_pending_and_running_jobs(self):
        self.assertEqual(self.ids(), [self.sched.id, self.held.id,
                                      self.run.id])

    def test_all_states_and_users(self):
        self.assertEqual(len(self.ids("-a")), 7)
        self.assertEqual(len(self.ids("-A")), 4)
        self.assertEqual(len(self.ids("-a", "-A")), 8)
        self.assertEqual(self.ids("-u", "4242"), [self.other.id])
        self.assertIn(self.other.id, self.ids("-u", "all", "-f", "sched"))
        self.assertEqual(len(self.ids("-u", str(OWNER))), 3)

    def test_invalid_user(self):
        rc, _, err = self.flux_jobs("-u", "nosuchuserfoo")
        self.assertEqual((rc, err), (1, "flux-jobs: ERROR: Invalid user"
                                        " nosuchuserfoo specified\n"))

    def test_filters(self):
        cases = {"pending": [self.sched, self.held],
                 "running": [self.run], "run": [self.run],
                 "depend": [], "cleanup": [],
                 "inactive": [self.timeout, self.canceled, self.failed,
                              self.done],
                 "completed": [self.done], "failed": [self.failed],
                 "canceled": [self.canceled], "timeout": [self.timeout],
                 "pending,failed": [self.sched, self.held, self.failed],
                 "COMPLETED,TIMEOUT": [self.timeout, self.done]}
        for text, jobs in cases.items():
            self.assertEqual(self.ids("-f", text), [j.id for j in jobs],
                             text)
        rc, _, err = self.flux_jobs("--filter=foobar")
        self.assertEqual((rc, err), (1, "flux-jobs: ERROR: Invalid filter"
                                        " specified: foobar\n"))

    def test_a_with_filter_warns(self):
        rc, out, err = self.flux_jobs("-a", "-f", "pending", "-n")
        self.assertEqual(len(out.splitlines()), 2)
        self.assertEqual(err, "flux-jobs: WARNING: Both -a and --filter"
                              " specified, ignoring -a\n")

    def test_name_queue_include(self):
        self.assertEqual(self.ids("-a", "--name", "false"),
                         [self.failed.id])
        self.assertEqual(self.ids("-a", "-q", "batch,other"),
                         [self.done.id])
        self.assertEqual(self.ids("-a", "--queue=nosuch"), [])
        self.assertEqual(self.ids("-a", "-i", "1"),
                         [self.run.id, self.timeout.id, self.failed.id,
                          self.done.id])
        self.assertEqual(self.ids("-a", "-i", "node0"),
                         self.ids("-a", "-i", "0"))
        rc, _, err = self.flux_jobs("-a", "-i", "foo[")
        self.assertEqual(rc, 1)
        self.assertIn("-i/--include: invalid targets: foo[", err)

    def test_since(self):
        since = self.done.t_inactive
        self.assertEqual(self.ids("-f", "inactive", "--since", str(since)),
                         [self.timeout.id, self.canceled.id, self.failed.id])
        # --since implies -a
        self.assertEqual(len(self.ids("--since=-1d")), 7)
        self.assertEqual(len(self.ids("--since", "2000-01-01")), 7)
        rc, _, err = self.flux_jobs("--since=+1m")
        self.assertEqual(rc, 1)
        self.assertIn("appears to be in the future", err)
        rc, _, err = self.flux_jobs("--since=blah")
        self.assertEqual(err, "flux-jobs: ERROR: --since: invalid datetime"
                              " 'blah'\n")

    def test_parse_when(self):
        self.assertEqual(parse_when("-1h", 10000.0), 6400.0)
        self.assertEqual(parse_when("now", 5.0), 5.0)
        self.assertEqual(parse_when("1.5", 5.0), 1.5)
        self.assertLess(parse_when("yesterday", NOW), parse_when("today",
                                                                 NOW))

    def test_count(self):
        rc, out, err = self.flux_jobs("-a", "-c", "2")
        self.assertEqual(len(out.splitlines()), 3)
        self.assertIn("warning: output truncated at 2 jobs.", err)
        self.assertEqual(err.count("\n"), 2)
        rc, out, err = self.flux_jobs("-a", "-c", "7")
        self.assertEqual(err, "")
        self.assertEqual(len(self.ids("-a", "-c", "0")), 7)
        rc, out, err = self.flux_jobs("-c", "-1")
        self.assertEqual(rc, 1)
        self.assertIn("max_entries", err)


class JobidTests(JobsTestCase):
    def test_specific_ids_in_any_encoding(self):
        from fluxd.formats import fluid
        forms = [fluid.encode(self.done.id, to)
                 for to in ("f58", "hex", "dothex", "kvs", "words")]
        self.assertEqual(self.ids(*forms), [self.done.id] * 5)

    def test_unknown_and_illegal_ids(self):
        rc, out, err = self.flux_jobs("-n", "0", "1", "2")
        self.assertEqual((rc, out), (1, ""))
        self.assertEqual(err, "JobID 0 unknown\nJobID 1 unknown\n"
                              "JobID 2 unknown\n")
        rc, out, err = self.flux_jobs("-n", "f1", str(self.run.id))
        self.assertEqual((rc, len(out.splitlines())), (0, 1))
        self.assertEqual(err, "JobID f1 unknown\n")
        rc, out, err = self.flux_jobs("IllegalID")
        self.assertEqual(rc, 1)
        self.assertIn("invalid JobID value: 'IllegalID'", err)

    def test_filters_ignored_with_ids(self):
        rc, out, err = self.flux_jobs("-n", "-A", str(self.done.id))
        self.assertEqual(len(out.splitlines()), 1)
        self.assertEqual(err, "flux-jobs: WARNING: Filtering options"
                              " ignored with jobid list\n")


class JsonTests(JobsTestCase):
    def test_list_and_single(self):
        rc, out, _ = self.flux_jobs("--json")
        jobs = json.loads(out)["jobs"]
        self.assertEqual([j["id"] for j in jobs],
                         [self.sched.id, self.held.id, self.run.id])
        self.assertNotIn("result", jobs[0])
        self.assertEqual(jobs[0]["exception"], {"occurred": False})
        rc, out, _ = self.flux_jobs("--json", str(self.failed.id))
        job = json.loads(out)
        self.assertEqual((job["id"], job["result"], job["state"],
                          job["success"]), (self.failed.id, "FAILED",
                                            "INACTIVE", False))
        self.assertGreater(job["runtime"], 0)
        rc, out, _ = self.flux_jobs("--json", "123")
        self.assertEqual((rc, out), (1, ""))

    def test_json_and_stats_conflict(self):
        for opt in ("--stats", "--stats-only"):
            rc, _, err = self.flux_jobs("--json", opt)
            self.assertEqual(rc, 1)
            self.assertIn("--json incompatible with", err)


class StatsTests(JobsTestCase):
    def test_stats(self):
        rc, out, _ = self.flux_jobs("--stats", "-a")
        self.assertEqual(out.splitlines()[0],
                         "1 running, 1 completed, 3 failed, 3 pending,"
                         " 0 inactive purged")
        self.assertEqual(out.splitlines()[1].split()[0], "JOBID")
        rc, out, _ = self.flux_jobs("--stats-only", "-q", "batch")
        self.assertEqual((rc, out), (1, "0 running, 1 completed, 0 failed,"
                                        " 0 pending, 0 inactive purged\n"))
        rc, _, err = self.flux_jobs("--stats-only", "-q", "nope")
        self.assertEqual(err, "flux-jobs: ERROR: error retrieving job stats:"
                              " no stats available for queue nope\n")

    def test_stats_only_exit_code(self):
        self.assertEqual(self.flux_jobs("--stats-only")[0], 0)
        for job in (self.sched, self.held, self.other):
            self.inst.table.post(job, "exception",
                                 {"type": "cancel", "severity": 0,
                                  "note": ""}, NOW)
            self.inst.table.post(job, "clean", None, NOW)
        for name, context in (("finish", {"status": 0}), ("free", None),
                              ("clean", None)):
            self.inst.table.post(self.run, name, context, NOW)
        rc, out, _ = self.flux_jobs("--stats-only")
        self.assertEqual(rc, 1)
        self.assertTrue(out.startswith("0 running, 2 completed, 6 failed,"))


class DispatchTests(SynchronousTestCase):
    def test_errors_are_one_flux_jobs_error_line(self):
        r = run_flux(["jobs", "-f", "bogus"])
        self.assertEqual((r.rc, r.out, r.err),
                         (1, "", "flux-jobs: ERROR: Invalid filter"
                                 " specified: bogus\n"))
        r = run_flux(["jobs", "--bogus"])
        self.assertEqual(r.rc, 1)
        self.assertEqual(r.err.count("\n"), 1)
        self.assertTrue(r.err.startswith("flux-jobs: ERROR: unrecognized"))

    def test_from_stdin_errors(self):
        r = run_flux(["jobs", "--from-stdin"], stdin="foo\n")
        self.assertEqual(r.rc, 1)
        self.assertTrue(r.err.startswith("flux-jobs: ERROR: JSON input"
                                         " error: line 1:"))
        r = run_flux(["jobs", "--from-stdin"], stdin="")
        self.assertEqual((r.rc, r.out.split()[0]), (0, "JOBID"))


class AnnotationSortTests(JobsTestCase):
    def test_sort_by_an_annotation(self):
        self.sched.annotations = {"sched": {"t_estimate": 5.0}}
        self.held.annotations = {"sched": {"t_estimate": 1.0}}
        rc, out, err = self.flux_jobs("-f", "sched", "-no",
                                      "sort:sched.t_estimate {id}")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out.split(), [str(self.held.id), str(self.sched.id)])
        rc, out, err = self.flux_jobs("-f", "sched", "-no", "{id}",
                                      "--sort=-annotations.sched.t_estimate")
        self.assertEqual(out.split(), [str(self.sched.id), str(self.held.id)])


class LeanImportTests(SynchronousTestCase):
    def test_flux_jobs_loads_the_formatter_only_to_print_rows(self):
        from tests.unit.test_fences import loaded_after_import
        loaded = loaded_after_import(
            ["fluxd.cli.cmd_jobs", "fluxd.cli._job_info"],
            "m for m in sys.modules if m.startswith(('twisted',"
            " 'fluxd.cli.formatting', 'fluxd.client', 'fluxd.kvs',"
            " 'fluxd.message.router'))")
        self.assertEqual(loaded, [])
