"""The jobspec fields of flux submit's other options (flux-core
``flux.cli.base`` and t2710-python-cli-submit.t)."""

import base64
import json
import os
import resource
import signal
import stat
import tempfile
from datetime import datetime

from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats._jobspec_options import (
    begin_time_uri, decode_signal, filtered_rlimits, parse_datetime,
    parse_signal_option, uri_entry)
from fluxd.formats.jobspec import JobspecError, build_from_argv, dumps

from tests.unit.formats.test_jobspec_cli import RLIMITS, fake_getrlimit


def build(*argv):
    jobspec, _, _ = build_from_argv(["--env=-*", *argv], environ={},
                                    cwd="/work", getrlimit=fake_getrlimit)
    return jobspec


def options(jobspec):
    return jobspec["attributes"]["system"]["shell"]["options"]


def error(*argv):
    try:
        build(*argv)
    except JobspecError as exc:
        return str(exc)
    raise AssertionError(f"{argv} did not fail")


class IOOptionTests(SynchronousTestCase):
    """t2710: --output/--error/--label-io/--input/--unbuffered."""

    def test_output_and_error(self):
        opts = options(build("--output=my/file", "--error=/my/error", "a"))
        self.assertEqual(opts["output"], {
            "stdout": {"type": "file", "path": "my/file"},
            "stderr": {"type": "file", "path": "/my/error"}})

    def test_label_io_needs_a_file(self):
        opts = options(build("--label-io", "--output=foo", "a"))
        self.assertEqual(opts["output"]["stdout"],
                         {"type": "file", "path": "foo", "label": True})
        self.assertNotIn("output", options(build("-l", "a")))
        # --output=kvs and none keep output in the KVS
        self.assertNotIn("output", options(build("--output=kvs", "a")))

    def test_mustache_passes_through(self):
        opts = options(build("--output=foo.{{id}}", "a"))
        self.assertEqual(opts["output"]["stdout"]["path"], "foo.{{id}}")

    def test_input(self):
        opts = options(build("--input=in.txt", "a"))
        self.assertEqual(opts["input"],
                         {"stdin": {"type": "file", "path": "in.txt"}})
        # an idset names task ranks (flux run), not a file
        self.assertNotIn("input", options(build("--input=0-1", "a")))

    def test_unbuffered(self):
        opts = options(build("-u", "a"))
        self.assertEqual(opts["output"], {
            "stdout": {"buffer": {"type": "none"}},
            "stderr": {"buffer": {"type": "none"}},
            "batch-timeout": 0.05})


class RlimitTests(SynchronousTestCase):
    def test_default_propagates_all_but_the_excluded(self):
        self.assertEqual(options(build("a"))["rlimit"], RLIMITS)
        real = filtered_rlimits()
        self.assertEqual(real["core"],
                         resource.getrlimit(resource.RLIMIT_CORE)[0])
        self.assertNotIn("memlock", real)

    def test_rules(self):
        limits = filtered_rlimits(["-*,core,nofile=100"],
                                  getrlimit=fake_getrlimit)
        self.assertEqual(limits, {"core": 1024, "nofile": 100})
        limits = filtered_rlimits(["-*", "stack=unlimited", "memlock"],
                                  getrlimit=fake_getrlimit)
        self.assertEqual(limits, {"stack": resource.RLIM_INFINITY,
                                  "memlock": 1024})
        # -* removes everything: no rlimit option at all
        self.assertNotIn("shell", build("--rlimit=-*", "a")["attributes"]
                         ["system"])

    def test_errors(self):
        self.assertEqual(error("--rlimit=foo=1", "a"), 'Invalid rlimit "foo"')
        self.assertEqual(error("--rlimit=core=x", "a"),
                         "Invalid value in core=x")
        self.assertEqual(error("--rlimit=bar", "a"),
                         'No corresponding rlimit matching "bar"')


class SignalTaskmapTests(SynchronousTestCase):
    def test_signal(self):
        self.assertEqual(parse_signal_option(None),
                         {"signum": signal.SIGUSR1, "timeleft": 60})
        self.assertEqual(parse_signal_option("SIGINT@5m"),
                         {"signum": signal.SIGINT, "timeleft": 300.0})
        self.assertEqual(parse_signal_option("HUP"),
                         {"signum": signal.SIGHUP, "timeleft": 60})
        self.assertEqual(parse_signal_option("@30"),
                         {"signum": signal.SIGUSR1, "timeleft": 30.0})
        self.assertEqual(decode_signal("15"), 15)
        self.assertEqual(options(build("--signal=USR2@1h", "a"))["signal"],
                         {"signum": signal.SIGUSR2, "timeleft": 3600.0})

    def test_signal_errors(self):
        self.assertEqual(error("--signal=FOO", "a"),
                         "--signal=FOO: signal 'FOO' is invalid")
        self.assertEqual(error("--signal=0", "a"),
                         "--signal=0: signal must be > 0")
        self.assertIn("--signal=@x: invalid Flux standard duration",
                      error("--signal=@x", "a"))

    def test_taskmap(self):
        self.assertEqual(options(build("--taskmap=cyclic:2", "a"))["taskmap"],
                         {"scheme": "cyclic", "value": "2"})
        self.assertEqual(options(build("--taskmap=block", "a"))["taskmap"],
                         {"scheme": "block", "value": ""})
        self.assertEqual(error("--taskmap=:x", "a"),
                         'Invalid taskmap URI ":x"')


class DependencyTests(SynchronousTestCase):
    def test_uris(self):
        self.assertEqual(uri_entry("afterok:ƒ2fg1", "dependency"),
                         {"scheme": "afterok", "value": "ƒ2fg1"})
        self.assertEqual(uri_entry("afterany:1234", "dependency"),
                         {"scheme": "afterany", "value": "1234"})
        self.assertEqual(
            uri_entry("singleton:x?a=1&b=2.5&c=z&c=y", "dependency"),
            {"scheme": "singleton", "value": "x", "a": 1, "b": 2.5,
             "c": ["z", "y"]})
        jobspec = build("--dependency=afterok:12", "--dependency=after:13",
                        "a")
        self.assertEqual(jobspec["attributes"]["system"]["dependencies"],
                         [{"scheme": "afterok", "value": "12"},
                          {"scheme": "after", "value": "13"}])

    def test_begin_time(self):
        now = datetime(2025, 3, 1, 10, 0, 0).astimezone()
        self.assertEqual(parse_datetime("+1h", now).timestamp(),
                         now.timestamp() + 3600)
        self.assertEqual(parse_datetime("-30s", now).timestamp(),
                         now.timestamp() - 30)
        self.assertIs(parse_datetime("now", now), now)
        self.assertEqual(parse_datetime("3pm", now).hour, 15)
        self.assertEqual(parse_datetime("3:30pm", now).minute, 30)
        tomorrow = parse_datetime("tomorrow noon", now)
        self.assertEqual((tomorrow.day, tomorrow.hour), (2, 12))
        self.assertEqual(parse_datetime("tomorrow", now).hour, 0)
        self.assertEqual(parse_datetime("2025-04-02T08:15", now).month, 4)
        scheme, _, value = begin_time_uri("+1h", now).partition(":")
        self.assertEqual(scheme, "begin-time")
        self.assertAlmostEqual(float(value), now.timestamp() + 3600, places=5)
        jobspec = build("--dependency=afterok:1", "--begin-time=+1h", "a")
        deps = jobspec["attributes"]["system"]["dependencies"]
        self.assertEqual(deps[0], {"scheme": "afterok", "value": "1"})
        self.assertEqual(deps[1]["scheme"], "begin-time")
        self.assertLess(abs(float(deps[1]["value"])
                            - datetime.now().timestamp() - 3600), 60)

    def test_bad_begin_time(self):
        self.assertEqual(error("--begin-time=whenever", "a"),
                         'Invalid datetime: "whenever"')
        self.assertEqual(error("--begin-time=13pm", "a"),
                         'Invalid datetime: "13pm"')


class RequiresTests(SynchronousTestCase):
    def test_requires_joined(self):
        jobspec = build("--requires=ib", "--requires=-host:foo1", "a")
        self.assertEqual(jobspec["attributes"]["system"]["constraints"],
                         {"and": [{"properties": ["ib"]},
                                  {"not": [{"hostlist": ["foo1"]}]}]})

    def test_bad_query(self):
        self.assertEqual(error("--requires=a|", "a"),
                         "--requires='a|': Unexpected end of input in 'a|'")


class AddFileTests(SynchronousTestCase):
    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.dir = directory.name

    def test_path_and_content(self):
        text = os.path.join(self.dir, "conf.txt")
        with open(text, "w", encoding="utf-8") as stream:
            stream.write("hello\n")
        binary = os.path.join(self.dir, "blob")
        with open(binary, "wb") as stream:
            stream.write(b"\xff\x00")
        jobspec = build(f"--add-file={text}", f"--add-file=b={binary}",
                        "--add-file=inline=line1\nline2\n", "a")
        files = jobspec["attributes"]["system"]["files"]
        mode = os.stat(text).st_mode
        self.assertEqual(files["conf.txt"], {"mode": mode, "size": 6,
                                             "data": "hello\n",
                                             "encoding": "utf-8"})
        self.assertEqual(files["b"]["data"],
                         base64.b64encode(b"\xff\x00").decode())
        self.assertEqual(files["b"]["encoding"], "base64")
        self.assertEqual(files["inline"], {
            "mode": 0o600 | stat.S_IFREG, "data": "line1\nline2\n",
            "encoding": "utf-8"})

    def test_errors(self):
        self.assertEqual(error("--add-file=a\nb", "a"),
                         "--add-file: file name missing")
        missing = os.path.join(self.dir, "nope")
        self.assertEqual(error(f"--add-file={missing}", "a"),
                         f"--add-file={missing}: [Errno 2] No such file or"
                         f" directory: '{missing}'")


class OrderTests(SynchronousTestCase):
    """--dry-run keys come out in flux-core's order."""

    def test_system_key_order(self):
        jobspec = build("-t", "5", "--job-name=j", "--requires=ib",
                        "--dependency=afterok:1", "-o", "verbose",
                        "-q", "batch", "-S", "user.x=1", "--signal=USR1",
                        "a")
        self.assertEqual(list(jobspec), ["resources", "tasks", "attributes",
                                         "version"])
        self.assertEqual(list(jobspec["attributes"]["system"]), [
            "duration", "environment", "cwd", "shell", "dependencies",
            "constraints", "job", "queue"])
        self.assertEqual(list(options(jobspec)),
                         ["rlimit", "signal", "verbose"])
        self.assertEqual(jobspec["attributes"]["system"]["duration"], 300.0)
        self.assertEqual(json.loads(dumps(jobspec)), jobspec)
