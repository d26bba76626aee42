"""Tests for :func:`fluxd.formats.jobspec.build_from_argv` and the
``--env`` rules (flux-core ``flux.cli.base``)."""

import argparse
import os
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats.jobspec import (
    JobspecError, add_arguments, build_from_argv, filter_environment,
    jobspec_from_args, parse_urgency, validate,
)

ENV = {"HOME": "/home/u", "PATH": "/bin", "SLURM_A": "1", "SLURM_B": "2",
       "LANG": "C"}


def temp_path(case):
    """A file name in a private directory removed after the test."""
    directory = tempfile.TemporaryDirectory()
    case.addCleanup(directory.cleanup)
    return os.path.join(directory.name, "file")


def fake_getrlimit(resource_id):
    """Every soft limit is 1024 (hard 4096), whatever this host says."""
    return (1024, 4096)


#: the rlimit shell option every job gets from fake_getrlimit
RLIMITS = {name: 1024 for name in ("cpu", "fsize", "data", "stack", "core",
                                   "rss", "nproc", "nofile", "as")}


def build(*argv, environ=None):
    return build_from_argv(list(argv), environ=dict(ENV) if environ is None
                           else environ, cwd="/work",
                           getrlimit=fake_getrlimit)


def system(jobspec):
    return jobspec["attributes"]["system"]


class ResourceOptionTests(SynchronousTestCase):
    """-n -N -c -g -x and the per-resource options."""

    def test_plain_command(self):
        jobspec, urgency, command = build("hostname", "-x", "--foo")
        self.assertEqual(command, ["hostname", "-x", "--foo"])
        self.assertEqual(jobspec["tasks"][0]["command"], command)
        self.assertEqual(urgency, 16)
        self.assertEqual(jobspec["resources"], [
            {"type": "slot", "count": 1, "with": [{"type": "core",
                                                   "count": 1}],
             "label": "task"}])
        self.assertEqual(system(jobspec), {
            "duration": 0, "environment": ENV, "cwd": "/work",
            "shell": {"options": {"rlimit": RLIMITS}}})
        validate(jobspec, version=1)

    def test_double_dash(self):
        self.assertEqual(build("-n2", "--", "ls", "-l")[2], ["ls", "-l"])

    def test_per_task_options(self):
        jobspec, _, _ = build("-N2", "-n4", "-c2", "-g1", "-x", "app")
        self.assertEqual(jobspec["resources"], [
            {"type": "node", "count": 2, "exclusive": True, "with": [
                {"type": "slot", "count": 2, "with": [
                    {"type": "core", "count": 2},
                    {"type": "gpu", "count": 1}], "label": "task"}]}])
        self.assertEqual(jobspec["tasks"][0]["count"], {"per_slot": 1})

    def test_long_options(self):
        jobspec, _, _ = build("--nodes=2", "--ntasks=3", "--cores-per-task=4",
                              "--gpus-per-task=2", "--exclusive", "app")
        node = jobspec["resources"][0]
        self.assertEqual((node["count"], node["exclusive"]), (2, True))
        self.assertEqual(node["with"][0]["count"], 2)
        self.assertEqual(jobspec["tasks"][0]["count"], {"total": 3})

    def test_nodes_without_ntasks(self):
        jobspec, _, _ = build("-N3", "app")
        node = jobspec["resources"][0]
        self.assertEqual((node["count"], node["exclusive"]), (3, True))
        self.assertEqual(node["with"][0]["count"], 1)

    def test_zero_means_unset(self):
        # flux-core tests "not args.ntasks": -n0 and -c0 fall back to 1
        jobspec, _, _ = build("-n0", "-c0", "app")
        self.assertEqual(jobspec["resources"][0]["count"], 1)
        self.assertEqual(jobspec["resources"][0]["with"][0]["count"], 1)

    def test_per_resource(self):
        jobspec, _, _ = build("-N2", "--cores=8", "--tasks-per-core=2", "app")
        self.assertEqual(jobspec["resources"][0]["with"][0]["with"],
                         [{"type": "core", "count": 4}])
        self.assertNotIn("exclusive", jobspec["resources"][0])
        self.assertEqual(system(jobspec)["shell"]["options"]["per-resource"],
                         {"type": "core", "count": 2})
        jobspec, _, _ = build("-N2", "--tasks-per-node=3", "app")
        self.assertTrue(jobspec["resources"][0]["exclusive"])
        jobspec, _, _ = build("-N1", "--gpus-per-node=2", "app")
        self.assertEqual(jobspec["resources"][0]["with"][0]["with"][1],
                         {"type": "gpu", "count": 2})
        jobspec, _, _ = build("--cores=3", "app")
        self.assertEqual(jobspec["resources"][0]["count"], 3)

    def test_errors(self):
        cases = [
            ((), "job command and arguments are missing"),
            (("-n", "x", "a"), "--ntasks: invalid int value 'x'"),
            (("--cores-per-task=1.5", "a"),
             "--cores-per-task: invalid int value '1.5'"),
            (("-N0", "a"), "node count must be an integer >= 1 (if set)"),
            (("-N3", "-n2", "a"),
             "node count must not be greater than task count"),
            (("-x", "a"), "exclusive can only be set with a node count"),
            (("-n", "-2", "a"), "task count must be a integer >= 1"),
            (("--tasks-per-node=1", "--tasks-per-core=1", "a"),
             "Do not specify both the number of tasks per node and per core"),
            (("--tasks-per-node=0", "-N1", "a"),
             "--tasks-per-node must be >= 1"),
            (("--tasks-per-core=0", "--cores=1", "a"),
             "--tasks-per-core must be >= 1"),
            (("--gpus-per-node=1", "a"), "--gpus-per-node requires --nodes"),
            (("--cores=2", "-n2", "a"),
             "Per-resource options can't be used with per-task options. "
             "(See --help for details)"),
            (("--urgency=high", "a"), "--urgency: invalid int value 'high'"),
            (("-n",), "argument -n/--ntasks: expected one argument"),
            (("--bogus", "a"), "unrecognized arguments: --bogus"),
            (("-t", "soon", "a"), "invalid Flux standard duration 'soon'"),
            (("-t", "-1", "a"), "duration must not be negative"),
            (("-t", "inf", "a"), "duration must be a normal, finite value"),
        ]
        for argv, message in cases:
            exc = self.assertRaises(JobspecError, build, *argv)
            self.assertEqual(str(exc), message, argv)


class OtherOptionTests(SynchronousTestCase):
    """-t, --urgency, --queue, --bank, --job-name, --cwd, -S, -o."""

    def test_time_limit(self):
        for arg, seconds in (("30", 1800.0), ("1.5", 90.0), ("2h", 7200.0),
                             ("90s", 90.0), ("0", 0.0)):
            jobspec, _, _ = build("-t", arg, "a")
            self.assertEqual(system(jobspec)["duration"], seconds, arg)

    def test_urgency(self):
        for arg, value in (("hold", 0), ("default", 16), ("expedite", 31),
                           ("7", 7)):
            self.assertEqual(build("--urgency", arg, "a")[1], value)
        self.assertEqual(parse_urgency("31"), 31)

    def test_attributes(self):
        jobspec, _, _ = build("-q", "batch", "-B", "acct", "--job-name=j",
                              "--cwd=/elsewhere", "-S", "user.x=1",
                              "--setattr=foo=[1]", "-o", "verbose=2",
                              "--setopt=pty", "a")
        self.assertEqual(system(jobspec)["queue"], "batch")
        self.assertEqual(system(jobspec)["bank"], "acct")
        self.assertEqual(system(jobspec)["job"], {"name": "j"})
        self.assertEqual(system(jobspec)["cwd"], "/elsewhere")
        self.assertEqual(system(jobspec)["foo"], [1])
        self.assertEqual(system(jobspec)["shell"]["options"],
                         {"rlimit": RLIMITS, "verbose": 2, "pty": 1})
        self.assertEqual(jobspec["attributes"]["user"], {"x": 1})
        validate(jobspec, version=1)

    def test_setattr_can_override_queue(self):
        jobspec, _, _ = build("-q", "a", "-S", "queue=b", "a")
        self.assertEqual(system(jobspec)["queue"], "b")

    def test_own_parser(self):
        parser = add_arguments(argparse.ArgumentParser(prog="flux-run"))
        parser.add_argument("--wait", action="store_true")
        args = parser.parse_args(["--wait", "-n2", "true"])
        jobspec, urgency, command = jobspec_from_args(args, environ={},
                                                      cwd="/")
        self.assertTrue(args.wait)
        self.assertEqual((jobspec["resources"][0]["count"], urgency, command),
                         (2, 16, ["true"]))

    def test_default_environment_and_cwd(self):
        jobspec, _, _ = build_from_argv(["a"])
        self.assertEqual(system(jobspec)["environment"], dict(os.environ))
        self.assertEqual(system(jobspec)["cwd"], os.getcwd())


class EnvironmentRuleTests(SynchronousTestCase):
    """--env, --env-remove, --env-file in command-line order."""

    def env(self, *argv):
        jobspec, _, _ = build(*argv, "a")
        return system(jobspec)["environment"]

    def test_remove_and_import(self):
        self.assertEqual(self.env("--env=-*"), {})
        self.assertEqual(self.env("--env=-*", "--env=SLURM_*"),
                         {"SLURM_A": "1", "SLURM_B": "2"})
        self.assertEqual(self.env("--env-remove=SLURM_*", "--env=-HOME"),
                         {"PATH": "/bin", "LANG": "C"})
        self.assertEqual(self.env("--env=-/^(HOME|PATH)$/", "--env=-L*"),
                         {"SLURM_A": "1", "SLURM_B": "2"})

    def test_import_keeps_values_already_set(self):
        self.assertEqual(self.env("--env=-*", "--env=PATH=/x", "--env=PATH"),
                         {"PATH": "/x"})

    def test_set_and_expand(self):
        env = self.env("--env=-*", "--env=PATH=/usr/bin",
                       "--env=PATH=$PATH:/opt", "--env=H=${HOME}/x",
                       "--env=COST=$$5")
        self.assertEqual(env, {"PATH": "/usr/bin:/opt", "H": "/home/u/x",
                               "COST": "$5"})

    def test_order_matters(self):
        self.assertEqual(self.env("--env=A=1", "--env=-*"), {})
        self.assertEqual(self.env("--env=-*", "--env=A=1"), {"A": "1"})

    def test_mustache_is_left_to_the_shell(self):
        jobspec, _, _ = build("--env=-*", "--env=RANK={{rank}}", "a")
        self.assertEqual(system(jobspec)["environment"], {})
        self.assertEqual(system(jobspec)["shell"]["options"]["env-expand"],
                         {"RANK": "{{rank}}"})

    def test_env_file(self):
        path = temp_path(self)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write("-*\n\n  LANG  \nX=$HOME/y\n")
        self.assertEqual(self.env(f"--env-file={path}"),
                         {"LANG": "C", "X": "/home/u/y"})
        self.assertEqual(self.env("--env=Z=1", f"--env=^{path}", "--env=-X"),
                         {"LANG": "C"})

    def test_errors(self):
        cases = [
            (("--env=A=$NOPE",), "--env: Variable 'NOPE' not found in "
                                 "A=$NOPE"),
            (("--env=A=$",), "--env: Unable to substitute A=$"),
            (("--env-file=/nonexistent",),
             "--env: /nonexistent: No such file or directory"),
            (("--env=-/(/",), "--env: invalid pattern '/(/': missing ), "
                              "unterminated subpattern at position 0"),
        ]
        for argv, message in cases:
            exc = self.assertRaises(JobspecError, build, *argv, "a")
            self.assertEqual(str(exc), message, argv)

    def test_filter_environment(self):
        self.assertEqual(filter_environment(None, {"A": "1"}),
                         ({"A": "1"}, {}))
        self.assertEqual(filter_environment(["-A", "B=x{{id}}"], {"A": "1"}),
                         ({}, {"B": "x{{id}}"}))
