"""Tests for ``flux resource`` (fluxd.cli.cmd_resource), run in-process.

Every ``flux-resource`` vector goes through the command with the formats
the vectors README gives (``--from-stdin``), then through the default
formats of spec/cli.md section 1 (status, drain listing, list, info).
The cases of flux-core's t2350/t2354 that need no live instance follow.
The live data source is exercised against a fake broker handle; talking
to a real resource service is left to the integration tests of the
resource service.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli._resource_source import LiveSource, load_queue_config
from fluxd.cli.cmd_resource import ResourceCommand
from fluxd.errors import AlreadyExists, InvalidArgument, NoSuchService
from fluxd.testing.cli import run_flux
from tests import VECTORS as ALL_VECTORS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
VECTORS = os.path.join(ALL_VECTORS, "flux-resource")
STATUS_FORMAT = "{state:>10} {nnodes:>6} {ranks:<15} {nodelist}"
LIST_FORMAT = "{state:>10} {properties:<10} {nnodes:>6} {ncores:>8} {ngpus:>8}"
STATUS_NAMES = ["drain", "example", "exclude", "fluke", "offline", "simple",
                "torpid"]
LIST_NAMES = ["fluke", "fluxion", "missing", "normal-input", "normal-new",
              "null"]


def vector(kind, name):
    with open(os.path.join(VECTORS, kind, name)) as f:
        return f.read()


class Env:
    """Mixin: UTC, private XDG config directories, no format overrides."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fluxd-test-resource-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.confdir = os.path.join(self.tmp, "home", "flux")
        os.makedirs(self.confdir)
        self.setenv("TZ", "UTC")
        self.setenv("XDG_CONFIG_HOME", os.path.dirname(self.confdir))
        self.setenv("XDG_CONFIG_DIRS", os.path.join(self.tmp, "none"))
        self.setenv("FLUX_URI", "local://" + os.path.join(self.tmp, "nosock"))
        for sub in ("STATUS", "LIST", "DRAIN"):
            self.setenv(f"FLUX_RESOURCE_{sub}_FORMAT_DEFAULT", None)

    def setenv(self, name, value):
        old = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
        if name == "TZ":
            time.tzset()

        def restore():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
            if name == "TZ":
                time.tzset()
        self.addCleanup(restore)

    def ok(self, *argv, stdin=""):
        result = run_flux(["resource", *argv], stdin=stdin)
        self.assertEqual((result.rc, result.err), (0, ""), argv)
        return result.out

    def fails(self, *argv, stdin=""):
        result = run_flux(["resource", *argv], stdin=stdin)
        self.assertEqual(result.rc, 1, argv)
        self.assertEqual(result.out, "")
        self.assertEqual(result.err.count("\n"), 1, result.err)
        self.assertTrue(result.err.startswith("flux-resource: "))
        return result.err


class VectorTests(Env, SynchronousTestCase):

    def test_status_vectors(self):
        for name in STATUS_NAMES:
            out = self.ok("status", "-o", STATUS_FORMAT, "--from-stdin",
                          stdin=vector("status", name + ".json"))
            self.assertEqual(out, vector("status", name + ".expected"), name)

    def test_list_vectors(self):
        for name in LIST_NAMES:
            out = self.ok("list", "-o", LIST_FORMAT, "--from-stdin",
                          stdin=vector("list", name + ".json"))
            self.assertEqual(out, vector("list", name + ".expected"), name)

    def test_info_vectors(self):
        for name in LIST_NAMES:
            out = self.ok("info", "--from-stdin",
                          stdin=vector("list", name + ".json"))
            self.assertEqual(out, vector("list", name + "-info.expected"))

    def test_R_vectors(self):
        for name in LIST_NAMES:
            out = self.ok("R", "--from-stdin",
                          stdin=vector("list", name + ".json"))
            self.assertEqual(out, vector("list", name + ".R"), name)


def default_status_from_expected(text):
    """The default-format rendering of a vector's README-format output."""
    lines = ["       STATE UP NNODES NODELIST"]
    for line in text.splitlines()[1:]:
        state, nnodes, _, nodelist = line.split()
        up = "✗" if state.endswith("*") else "✔"
        lines.append(f"{state:>12} {up:>2} {nnodes:>6} {nodelist}")
    return "".join(line + "\n" for line in lines)


class DefaultFormatTests(Env, SynchronousTestCase):

    def test_status_default_layout(self):
        self.assertEqual(
            self.ok("status", "--from-stdin",
                    stdin=vector("status", "example.json")),
            "       STATE UP NNODES NODELIST\n"
            "       avail  ✔      2 foo[3-4]\n"
            "     exclude  ✔      1 foo1\n"
            "     drained  ✔      1 foo1\n"
            "    drained*  ✗      1 foo2\n")

    def test_status_default_on_every_vector(self):
        for name in STATUS_NAMES:
            out = self.ok("status", "--from-stdin",
                          stdin=vector("status", name + ".json"))
            self.assertEqual(out, default_status_from_expected(
                vector("status", name + ".expected")), name)

    def test_status_long(self):
        out = self.ok("status", "-o", "long", "--from-stdin",
                      stdin=vector("status", "drain.json"))
        self.assertEqual(out,
                         "       STATE UP NNODES REASON"
                         "                         NODELIST\n"
                         "       avail  ✔      2 "
                         "                               foo[3-4]\n"
                         "     drained  ✔      1 bad node"
                         "                       foo1\n"
                         "     drained  ✔      1 testing drain"
                         "                  foo2\n")

    def test_color(self):
        out = self.ok("status", "--color=always", "-n", "--from-stdin",
                      stdin=vector("status", "offline.json"))
        self.assertEqual(out,
                         "       avail \033[01;32m ✔\033[0;0m      3"
                         " foo[1,3-4]\n"
                         "      avail* \033[01;31m ✗\033[0;0m      1 foo2\n")
        out = self.ok("status", "-L", "never", "-n", "--from-stdin",
                      stdin=vector("status", "offline.json"))
        self.assertNotIn("\033", out)

    def test_drain_listing_default(self):
        self.assertEqual(
            self.ok("drain", "--from-stdin",
                    stdin=vector("status", "example.json")),
            "TIME         STATE    REASON                         NODELIST\n"
            "Dec09 20:00  drained  bad node                       foo1\n"
            "Dec09 20:00  drained* testing drain                  foo2\n")
        self.assertEqual(
            self.ok("drain", "--from-stdin",
                    stdin=vector("status", "fluke.json")),
            "TIME         STATE    REASON                         NODELIST\n"
            "Mar05 21:16  drained  broker was unresponsive        fluke18\n"
            "Mar28 22:10  drained  broker was unresponsive        fluke43\n")
        for name in ("simple", "offline", "exclude"):
            self.assertEqual(
                self.ok("drain", "--from-stdin",
                        stdin=vector("status", name + ".json")),
                "TIME         STATE    REASON"
                "                         NODELIST\n")

    def test_drain_listing_long_and_options(self):
        self.assertEqual(
            self.ok("drain", "-o", "long", "-i", "foo2", "--from-stdin",
                    stdin=vector("status", "drain.json")),
            "TIME         STATE    RANKS    REASON"
            "                         NODELIST\n"
            "Dec09 20:00  drained  1        testing drain"
            "                  foo2\n")
        self.assertEqual(
            self.ok("drain", "-n", "-o", "{nodelist}", "--from-stdin",
                    stdin=vector("status", "torpid.json")), "foo[1-2]\n")

    def test_list_default(self):
        self.assertEqual(
            self.ok("list", "--from-stdin",
                    stdin=vector("list", "fluke.json")),
            "     STATE PROPERTIES NNODES NCORES NGPUS NODELIST\n"
            "      free batch          83    332     0 fluke[3-16,19-23,"
            "25-42,44-60,62-64,66-75,78,80-91,93-95]\n"
            "      free debug           5     20     0 fluke[96,99-102]\n"
            " allocated                 0      0     0 \n"
            "      down batch          10     40     0 fluke[17-18,24,43,61,"
            "65,76-77,79,92]\n"
            "      down debug           3     12     0 fluke[97-98,103]\n")
        self.assertEqual(
            self.ok("list", "--from-stdin",
                    stdin=vector("list", "fluxion.json")),
            "     STATE NNODES NCORES NGPUS NODELIST\n"
            "      free      3      8     0 \n"
            " allocated      2      4     0 \n"
            "      down      1      4     0 \n")

    def test_list_default_with_queues(self):
        config = os.path.join(VECTORS, "list", "fluke.config")
        self.assertEqual(
            self.ok("list", "--from-stdin", "--config-file", config,
                    stdin=vector("list", "fluke.json")),
            "     STATE QUEUE NNODES NCORES NGPUS NODELIST\n"
            "      free batch     83    332     0 fluke[3-16,19-23,25-42,"
            "44-60,62-64,66-75,78,80-91,93-95]\n"
            "      free debug      5     20     0 fluke[96,99-102]\n"
            " allocated batch      0      0     0 \n"
            " allocated debug      0      0     0 \n"
            "      down batch     10     40     0 fluke[17-18,24,43,61,65,"
            "76-77,79,92]\n"
            "      down debug      3     12     0 fluke[97-98,103]\n")

    def test_list_rlist(self):
        out = self.ok("list", "-o", "rlist", "-s", "down", "--from-stdin",
                      stdin=vector("list", "fluke.json"))
        self.assertEqual(out,
                         "     STATE PROPERTIES NNODES NCORES NGPUS LIST\n"
                         "      down batch          10     40     0 "
                         "rank[14-15,21,40,58,62,73-74,76,89]/core[0-3]\n"
                         "      down debug           3     12     0 "
                         "rank[94-95,100]/core[0-3]\n")

    def test_info_states(self):
        self.assertEqual(self.ok("info", "-s", "free", "--from-stdin",
                                 stdin=vector("list", "fluxion.json")),
                         "3 Nodes, 8 Cores, 0 GPUs\n")


class StatusOptionTests(Env, SynchronousTestCase):

    def test_states_help(self):
        result = run_flux(["resource", "status", "-s", "help",
                           "--from-stdin"])
        self.assertEqual(result.rc, 0)
        self.assertEqual(result.err,
                         "flux-resource: valid states: all,online,avail,"
                         "offline,exclude,drain,draining,drained,torpid,"
                         "allocated,housekeeping\n")

    def test_invalid_state(self):
        self.assertEqual(self.fails("status", "--from-stdin", "-s",
                                    "frelled"),
                         "flux-resource: Invalid resource state frelled"
                         " specified\n")
        self.assertEqual(self.fails("list", "--from-stdin", "-s", "avail"),
                         "flux-resource: Invalid resource state avail"
                         " specified\n")
        self.fails("info", "--from-stdin", "-s", "x")
        self.fails("R", "--from-stdin", "-s", "free,x")

    def test_no_header(self):
        out = self.ok("status", "-s", "exclude", "--no-header",
                      "--from-stdin", stdin=vector("status", "example.json"))
        self.assertEqual(out.count("\n"), 1)

    def test_reason_lines(self):
        out = self.ok("status", "--from-stdin", "-s", "drain", "-no",
                      "{reason}", stdin=vector("status", "drain.json"))
        self.assertEqual(out, "bad node\ntesting drain\n")

    def test_long_shows_reason(self):
        default = self.ok("status", "--from-stdin",
                          stdin=vector("status", "drain.json"))
        long = self.ok("status", "-o", "long", "--from-stdin",
                       stdin=vector("status", "drain.json"))
        self.assertNotIn("REASON", default)
        self.assertIn("REASON", long)
        self.assertEqual((default.count("drained"), long.count("drained")),
                         (1, 2))

    def test_explicit_state_and_skip_empty(self):
        simple = vector("status", "simple.json")
        self.assertEqual(self.ok("status", "--from-stdin", "-s", "exclude",
                                 "-o", "{state}", "--no-header",
                                 stdin=simple), "exclude\n")
        self.assertEqual(self.ok("status", "--from-stdin", "--skip-empty",
                                 "-s", "exclude", "-o", "{state}",
                                 "--no-header", stdin=simple), "")

    def test_include(self):
        drain = vector("status", "drain.json")
        self.assertEqual(self.ok("status", "--include=1,3", "--from-stdin",
                                 "-no", "{nnodes}", stdin=drain), "2\n")
        self.assertEqual(self.ok("status", "--include=foo[1,3]",
                                 "--from-stdin", "-no", "{nodelist}",
                                 stdin=drain), "foo[1,3]\n")
        self.assertEqual(self.ok("status", "--include=foo7", "--from-stdin",
                                 "-no", "{nodelist}", stdin=drain), "")
        self.assertIn("--include: ",
                      self.fails("status", "-i", "foo[", "--from-stdin",
                                 stdin=drain))

    def test_include_implies_skip_empty(self):
        drain = vector("status", "drain.json")
        self.assertEqual(self.ok("status", "-s", "exclude,avail", "-i", "3",
                                 "-no", "{state}", "--from-stdin",
                                 stdin=drain), "avail\n")
        self.assertEqual(self.ok("status", "-s", "exclude,avail", "-i", "3",
                                 "--no-skip-empty", "-no", "{state}",
                                 "--from-stdin", stdin=drain),
                         "avail\nexclude\n")

    def test_queue(self):
        config = os.path.join(VECTORS, "status", "fluke.config")
        out = self.ok("status", "--queue=debug", "-o", STATUS_FORMAT,
                      "--from-stdin", "--config-file=" + config,
                      stdin=vector("status", "fluke.json"))
        self.assertEqual(out,
                         "     STATE NNODES RANKS           NODELIST\n"
                         "     avail      5 93,96-99        fluke[96,99-102]\n"
                         "    avail*      3 94-95,100       "
                         "fluke[97-98,103]\n")
        err = self.fails("status", "--queue=foo", "--from-stdin",
                         "--config-file=" + config,
                         stdin=vector("status", "fluke.json"))
        self.assertEqual(err, "flux-resource: --queue: foo: no such queue\n")

    def test_queue_and_include_intersect(self):
        config = os.path.join(VECTORS, "status", "fluke.config")
        out = self.ok("status", "-q", "debug", "-i", "fluke[96-97,6]",
                      "-o", "{state} {nodelist}", "-n", "--from-stdin",
                      "--config-file", config,
                      stdin=vector("status", "fluke.json"))
        self.assertEqual(out, "avail fluke96\navail* fluke97\n")

    def test_env_default_format(self):
        self.setenv("FLUX_RESOURCE_STATUS_FORMAT_DEFAULT",
                    "{nodelist} {nodelist}")
        self.assertIn("NODELIST NODELIST", self.ok("status", "--from-stdin"))
        self.setenv("FLUX_RESOURCE_STATUS_FORMAT_DEFAULT", "long")
        self.assertIn("REASON", self.ok("status", "--from-stdin"))

    def test_format_help_and_get_config(self):
        out = self.ok("status", "-o", "help")
        self.assertEqual(out,
                         "\nConfigured flux-resource output formats:\n\n"
                         "  default      Default flux-resource status format"
                         " string\n"
                         "  long         Long flux-resource status format"
                         " string\n")
        out = self.ok("drain", "-o", "get-config=long")
        self.assertEqual(out,
                         '[drain.formats.long]\n'
                         'description = "Long flux-resource drain format'
                         ' string"\n'
                         'format = "{timestamp!d:%b%d %R::<12}'
                         ' {state:<8.8} {ranks:<8.8+} +:{reason:<30.30}'
                         ' {nodelist}"\n')
        self.assertIn("rlist", self.ok("list", "-o", "help"))
        self.assertEqual(self.fails("list", "-o", "nope", "--from-stdin"),
                         "flux-resource: --format: No such format nope\n")

    def test_user_config_format(self):
        with open(os.path.join(self.confdir, "flux-resource.toml"), "w") as f:
            f.write('[list.formats.mine]\ndescription = "Mine"\n'
                    'format = "{state}:{nnodes}"\n')
        self.assertEqual(self.ok("list", "-o", "mine", "-n", "--from-stdin",
                                 stdin=vector("list", "fluxion.json")),
                         "free:3\nallocated:2\ndown:1\n")
        self.assertIn("  mine         Mine\n", self.ok("list", "-o", "help"))

    def test_unknown_field(self):
        self.assertEqual(self.fails("status", "-o", "{bogus}",
                                    "--from-stdin"),
                         "flux-resource: Unknown format field: bogus\n")

    def test_bad_input(self):
        self.assertIn("invalid resource status on stdin",
                      self.fails("status", "--from-stdin", stdin="{"))
        self.fails("list", "--from-stdin", stdin="[1, 2]")

    def test_empty_input(self):
        self.assertEqual(self.ok("status", "--from-stdin"),
                         "       STATE UP NNODES NODELIST\n")


class ListOptionTests(Env, SynchronousTestCase):

    def test_queue_filter(self):
        config = os.path.join(VECTORS, "list", "fluke.config")
        debug = self.ok("list", "--queue=debug", "--from-stdin",
                        "--config-file", config,
                        stdin=vector("list", "fluke.json"))
        self.assertNotIn("batch", debug)
        self.assertIn("debug", debug)
        both = self.ok("list", "-q", "debug,batch", "--from-stdin",
                       "--config-file", config,
                       stdin=vector("list", "fluke.json"))
        self.assertIn("debug", both)
        self.assertIn("batch", both)
        r = self.ok("R", "-q", "debug", "--from-stdin", "--config-file",
                    config, stdin=vector("list", "fluke.json"))
        self.assertEqual(json.loads(r)["execution"]["nodelist"],
                         ["fluke[96-103]"])
        self.assertEqual(self.ok("info", "-q", "debug", "--from-stdin",
                                 "--config-file", config,
                                 stdin=vector("list", "fluke.json")),
                         "8 Nodes, 32 Cores, 0 GPUs\n")
        self.assertEqual(self.fails("list", "-q", "foo", "--from-stdin",
                                    stdin=vector("list", "fluke.json")),
                         "flux-resource: --queue: foo: no such queue\n")

    def test_include_skips_empty_lines(self):
        out = self.ok("list", "-i", "fluke3", "-o", "{state} {nnodes}",
                      "--from-stdin", stdin=vector("list", "fluke.json"))
        self.assertEqual(out, "STATE NNODES\nfree 1\n")
        out = self.ok("list", "-i", "0", "--no-skip-empty", "-o",
                      "{state} {nnodes}", "-n", "--from-stdin",
                      stdin=vector("list", "fluke.json"))
        self.assertEqual(out, "free 1\nallocated 0\ndown 0\n")
        out = self.ok("list", "--skip-empty", "-o", "{state} {nnodes}", "-n",
                      "--from-stdin", stdin=vector("list", "fluke.json"))
        self.assertEqual(out, "free 88\ndown 13\n")

    def test_R_states(self):
        out = self.ok("R", "-s", "down", "--from-stdin",
                      stdin=vector("list", "fluxion.json"))
        self.assertEqual(json.loads(out)["execution"]["R_lite"],
                         [{"rank": "3", "children": {"core": "0-3"}}])

    def test_toml_config_file(self):
        path = os.path.join(self.tmp, "queues.toml")
        with open(path, "w") as f:
            f.write('[queues.debug]\nrequires = ["debug"]\n')
        self.assertEqual(load_queue_config(path),
                         {"queues": {"debug": {"requires": ["debug"]}}})
        self.assertRaises(InvalidArgument, load_queue_config,
                          os.path.join(self.tmp, "missing.config"))


class UsageTests(Env, SynchronousTestCase):

    def test_no_subcommand(self):
        result = run_flux(["resource"])
        self.assertEqual(result.rc, 1)
        self.assertIn("usage: flux-resource", result.err)

    def test_registered_in_help(self):
        self.assertIn("resource", run_flux(["help"]).out)

    def test_no_broker(self):
        err = self.fails("status")
        self.assertIn("Unable to connect to Flux", err)
        self.assertIn("Unable to connect to Flux", self.fails("list"))

    def test_drain_targets_refuse_stdin(self):
        self.assertIn("--from-stdin", self.fails("drain", "--from-stdin",
                                                 "foo1", "bad"))

    def test_imports_no_twisted(self):
        code = ("import sys, fluxd.cli.cmd_resource; "
                "print(any(m == 'twisted' or m.startswith('twisted.') "
                "for m in sys.modules))")
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO,
                             capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout.strip(), "False")


class FakeHandle:
    """A broker handle answering RPCs from a table (exceptions raised)."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []
        self.closed = False

    def rpc(self, topic, payload=None, nodeid=None, **kw):
        self.calls.append((topic, payload, nodeid))
        answer = self.answers[topic]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self):
        self.closed = True


def status_answers(**extra):
    answers = {
        "resource.status": json.loads(vector("status", "drain.json")),
        "resource.sched-status": {
            "all": {"version": 1, "execution": {"R_lite": [
                {"rank": "0-3", "children": {"core": "0-3"}}]}},
            "allocated": {"version": 1, "execution": {"R_lite": [
                {"rank": "1-2", "children": {"core": "0"}}]}},
        },
        "job-manager.stats-get": {"housekeeping": {"running": {
            "f1": {"pending": "2", "allocated": "2-3", "t_start": 1.0}}}},
        "config.get": {},
    }
    answers.update(extra)
    return answers


class LiveSourceTests(Env, SynchronousTestCase):

    def command(self, handle):
        out, err = io.StringIO(), io.StringIO()
        cmd = ResourceCommand(stdin=io.StringIO(), stdout=out, stderr=err,
                              environ={}, connect=lambda: handle)
        return cmd, out, err

    def test_status_from_broker(self):
        handle = FakeHandle(status_answers())
        cmd, out, err = self.command(handle)
        self.assertEqual(cmd.run(["status", "-s", "all", "-n", "-o",
                                  "{state} {ranks}", "--skip-empty"]), 0)
        self.assertEqual(out.getvalue(),
                         "avail 2-3\nallocated 1-2\nhousekeeping 2\n"
                         "draining 1\ndrained 0\n")
        self.assertEqual([c[0] for c in handle.calls],
                         ["resource.status", "resource.sched-status",
                          "job-manager.stats-get"])
        self.assertEqual(handle.calls[0][2], 0)
        self.assertTrue(handle.closed)

    def test_status_without_scheduler_or_job_manager(self):
        handle = FakeHandle(status_answers(**{
            "resource.sched-status": NoSuchService(),
            "job-manager.stats-get": NoSuchService()}))
        cmd, out, _ = self.command(handle)
        cmd.run(["drain", "-n", "-o", "{state} {ranks}"])
        self.assertEqual(out.getvalue(), "drained 0-1\n")

    def test_list_from_broker_with_config(self):
        answers = {"resource.sched-status": json.loads(
            vector("list", "fluke.json")),
            "config.get": json.loads(vector("list", "fluke.config"))}
        handle = FakeHandle(answers)
        cmd, out, _ = self.command(handle)
        cmd.run(["list", "-n", "-o", "{state} {queue} {nnodes}", "-s",
                 "free"])
        self.assertEqual(out.getvalue(), "free batch 83\nfree debug 5\n")
        self.assertEqual([c[0] for c in handle.calls],
                         ["resource.sched-status", "config.get"])

    def test_config_unavailable_is_a_warning(self):
        handle = FakeHandle({"resource.sched-status": {},
                             "config.get": NoSuchService("no config")})
        cmd, out, err = self.command(handle)
        self.assertEqual(cmd.run(["info"]), 0)
        self.assertEqual(out.getvalue(), "0 Nodes, 0 Cores, 0 GPUs\n")
        self.assertEqual(err.getvalue(), "flux-resource: Could not get flux"
                         " config: no config\n")

    def test_drain_targets_payloads(self):
        cases = [
            (["drain", "foo1"], {"targets": "foo1"}),
            (["drain", "0-1", "node", "is", "fubar"],
             {"targets": "0-1", "reason": "node is fubar"}),
            (["drain", "-f", "1", "x"],
             {"targets": "1", "mode": "overwrite", "reason": "x"}),
            (["drain", "-ff", "1"],
             {"targets": "1", "mode": "force-overwrite"}),
            (["drain", "-u", "1"], {"targets": "1", "mode": "update"}),
        ]
        for argv, payload in cases:
            handle = FakeHandle({"resource.drain": {}})
            cmd, out, _ = self.command(handle)
            self.assertEqual(cmd.run(argv), 0)
            self.assertEqual(handle.calls, [("resource.drain", payload, 0)])
            self.assertEqual(out.getvalue(), "")

    def test_drain_already_drained(self):
        handle = FakeHandle({"resource.drain":
                             AlreadyExists("rank 1 already drained")})
        cmd, _, err = self.command(handle)
        self.assertEqual(cmd.run(["drain", "1"]), 1)
        self.assertEqual(err.getvalue(),
                         "flux-resource: rank 1 already drained\n"
                         "flux-resource: Use --force to overwrite existing"
                         " drain reason\n")

    def test_drain_force_and_update_conflict(self):
        cmd, _, _ = self.command(FakeHandle({}))
        with self.assertRaises(InvalidArgument) as cm:
            cmd.run(["drain", "-f", "-u", "1"])
        self.assertEqual(str(cm.exception),
                         "Only one of --force and --update may be specified")

    def test_live_source_connects_lazily(self):
        made = []
        source = LiveSource(connect=lambda: made.append(1))
        source.close()
        self.assertEqual(made, [])
