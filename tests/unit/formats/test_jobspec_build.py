"""Tests for the jobspec builders (``JobspecV1.from_command()`` and
``JobspecV1.per_resource()``) and the ``--setattr``/``--setopt`` helpers.

Shapes follow the formats spec section 6.3.
"""

import datetime
import json
import os
import tempfile
import pathlib

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats.jobspec import (
    JobspecError, counts, duration_seconds, from_command,
    from_nodes_and_cores, parse_keyval, set_attribute, validate,
    validate_v1_strict,
)


def temp_path(case):
    """A file name in a private directory removed after the test."""
    directory = tempfile.TemporaryDirectory()
    case.addCleanup(directory.cleanup)
    return os.path.join(directory.name, "file")


def core(n):
    return {"type": "core", "count": n}


def slot(n, children):
    return {"type": "slot", "count": n, "with": children, "label": "task"}


def build(**kwargs):
    kwargs.setdefault("environment", {})
    kwargs.setdefault("cwd", "/work")
    return from_command(["app", "arg"], **kwargs)


class FromCommandShapeTests(SynchronousTestCase):
    """The resource graphs of ``-n``, ``-N``, ``-c``, ``-g``, ``-x``."""

    def test_default(self):
        jobspec = build()
        self.assertEqual(jobspec, {
            "resources": [slot(1, [core(1)])],
            "tasks": [{"command": ["app", "arg"], "slot": "task",
                       "count": {"per_slot": 1}}],
            "attributes": {"system": {"duration": 0, "environment": {},
                                      "cwd": "/work"}},
            "version": 1,
        })
        self.assertEqual(list(jobspec), ["resources", "tasks", "attributes",
                                         "version"])

    def test_ntasks_cores_gpus(self):
        jobspec = build(ntasks=4, cores_per_task=2, gpus_per_task=1)
        self.assertEqual(jobspec["resources"], [
            slot(4, [core(2), {"type": "gpu", "count": 1}])])
        self.assertEqual(jobspec["tasks"][0]["count"], {"per_slot": 1})

    def test_zero_gpus_adds_no_gpu_vertex(self):
        self.assertEqual(build(gpus_per_task=0)["resources"],
                         [slot(1, [core(1)])])

    def test_nodes_even(self):
        jobspec = build(ntasks=8, nodes=2, cores_per_task=3)
        self.assertEqual(jobspec["resources"], [
            {"type": "node", "count": 2, "with": [slot(4, [core(3)])]}])
        self.assertEqual(jobspec["tasks"][0]["count"], {"per_slot": 1})

    def test_nodes_uneven(self):
        jobspec = build(ntasks=5, nodes=4)
        self.assertEqual(jobspec["resources"], [
            {"type": "node", "count": 4, "with": [slot(2, [core(1)])]}])
        self.assertEqual(jobspec["tasks"][0]["count"], {"total": 5})

    def test_exclusive(self):
        jobspec = build(ntasks=2, nodes=2, exclusive=True)
        self.assertEqual(jobspec["resources"], [
            {"type": "node", "count": 2, "exclusive": True,
             "with": [slot(1, [core(1)])]}])
        validate(jobspec, version=1)
        # RFC 25's schema and the C validator allow exclusive only on slots
        exc = self.assertRaises(JobspecError, validate_v1_strict, jobspec)
        self.assertEqual(str(exc), "node vertex: 1 object item(s) left "
                                   "unpacked: exclusive")

    def test_errors(self):
        cases = [
            (dict(ntasks=0), "task count must be a integer >= 1"),
            (dict(ntasks=True), "task count must be a integer >= 1"),
            (dict(cores_per_task=0), "cores per task must be an integer >= 1"),
            (dict(gpus_per_task=-1), "gpus per task must be an integer >= 0"),
            (dict(nodes=0), "node count must be an integer >= 1 (if set)"),
            (dict(nodes=3, ntasks=2),
             "node count must not be greater than task count"),
            (dict(exclusive=True),
             "exclusive can only be set with a node count"),
            (dict(duration=-1), "duration must not be negative"),
            (dict(duration="forever"),
             "invalid Flux standard duration 'forever'"),
            (dict(duration=[]),
             "duration must be an int, float, string, or timedelta"),
            (dict(duration=float("inf")),
             "duration must be a normal, finite value"),
            (dict(queue=3), "queue must be a string"),
            (dict(cwd=3), "cwd must be a string"),
            (dict(environment=["A=1"]), "environment must be a mapping"),
        ]
        for kwargs, message in cases:
            exc = self.assertRaises(JobspecError, build, **kwargs)
            self.assertEqual(str(exc), message, kwargs)

    def test_command_errors(self):
        for command, message in (
                ("hostname", "command must be a list of strings"),
                ([], "command array cannot have length of zero"),
                (["a", 1], "command must be a list of strings")):
            exc = self.assertRaises(JobspecError, from_command, command,
                                    environment={})
            self.assertEqual(str(exc), message)
        self.assertEqual(
            from_command(("a", "b"), environment={})["tasks"][0]["command"],
            ["a", "b"])


class FromCommandAttributeTests(SynchronousTestCase):
    """Duration, environment, cwd, queue, name, setattr, setopt."""

    def test_defaults_come_from_the_process(self):
        jobspec = from_command(["app"])
        system = jobspec["attributes"]["system"]
        self.assertEqual(system["environment"], dict(os.environ))
        self.assertEqual(system["cwd"], os.getcwd())
        self.assertEqual(system["duration"], 0)

    def test_environment_is_copied(self):
        environ = {"A": "1"}
        jobspec = build(environment=environ)
        environ["B"] = "2"
        self.assertEqual(jobspec["attributes"]["system"]["environment"],
                         {"A": "1"})

    def test_duration_forms(self):
        for value, seconds in ((90, 90.0), (1.5, 1.5), ("2m", 120.0),
                               ("30", 30.0),
                               (datetime.timedelta(minutes=1), 60.0)):
            system = build(duration=value)["attributes"]["system"]
            self.assertEqual(system["duration"], seconds)
            self.assertIsInstance(system["duration"], float)

    def test_cwd_pathlike(self):
        system = build(cwd=pathlib.Path("/tmp"))["attributes"]["system"]
        self.assertEqual(system["cwd"], "/tmp")

    def test_queue_and_name(self):
        system = build(queue="batch", job_name="myjob")["attributes"]["system"]
        self.assertEqual(system["queue"], "batch")
        self.assertEqual(system["job"], {"name": "myjob"})

    def test_setattr_strings(self):
        jobspec = build(setattr=["foo=bar", "user.n=42", "system.a.b=[1]",
                                 ".user.note=hi", "flag",
                                 "attributes.system.x={\"y\": null}"])
        attributes = jobspec["attributes"]
        self.assertEqual(attributes["system"]["foo"], "bar")
        self.assertEqual(attributes["system"]["a"], {"b": [1]})
        self.assertEqual(attributes["system"]["flag"], 1)
        self.assertEqual(attributes["system"]["x"], {"y": None})
        self.assertEqual(attributes["user"], {"n": 42, "note": "hi"})
        validate(jobspec, version=1)

    def test_setattr_mapping_and_pairs(self):
        jobspec = build(setattr={"queue": "debug"},
                        setopt=[("output.stdout.type", "kvs")])
        system = jobspec["attributes"]["system"]
        self.assertEqual(system["queue"], "debug")
        self.assertEqual(system["shell"]["options"],
                         {"output": {"stdout": {"type": "kvs"}}})

    def test_single_string(self):
        jobspec = build(setattr="user.a=1", setopt="verbose")
        self.assertEqual(jobspec["attributes"]["user"], {"a": 1})
        self.assertEqual(jobspec["attributes"]["system"]["shell"],
                         {"options": {"verbose": 1}})

    def test_setattr_overrides_queue(self):
        system = build(queue="a", setattr=["queue=b"])["attributes"]["system"]
        self.assertEqual(system["queue"], "b")

    def test_setopt(self):
        jobspec = build(setopt=["verbose", "cpu-affinity=off", "pmi=simple,x",
                                "signal={\"signum\": 10}"])
        self.assertEqual(jobspec["attributes"]["system"]["shell"]["options"], {
            "verbose": 1, "cpu-affinity": "off", "pmi": "simple,x",
            "signal": {"signum": 10}})

    def test_setattr_into_non_dict(self):
        exc = self.assertRaises(JobspecError, build,
                                setattr=["duration.x=1"])
        self.assertEqual(str(exc), "failed to set system.duration.x to 1: "
                                   "duration is not a dictionary")
        exc = self.assertRaises(JobspecError, build, setattr=["a..b=1"])
        self.assertEqual(str(exc), "invalid attribute key 'system.a..b'")


class KeyvalTests(SynchronousTestCase):
    """parse_keyval() and set_attribute() on their own."""

    def test_parse(self):
        self.assertEqual(parse_keyval("--setattr", "a"), ("a", 1))
        self.assertEqual(parse_keyval("--setattr", "a="), ("a", ""))
        self.assertEqual(parse_keyval("--setattr", "a=1.5"), ("a", 1.5))
        self.assertEqual(parse_keyval("--setattr", "a=true"), ("a", True))
        self.assertEqual(parse_keyval("--setattr", "a=b=c"), ("a", "b=c"))
        self.assertEqual(parse_keyval("--setattr", "a=[1"), ("a", "[1"))

    def test_file(self):
        path = temp_path(self)
        with open(path, "w", encoding="utf-8") as stream:
            json.dump({"k": [1, 2]}, stream)
        self.assertEqual(parse_keyval("--setattr", f"^a.b={path}"),
                         ("a.b", {"k": [1, 2]}))
        with open(path, "w", encoding="utf-8") as stream:
            stream.write("{nope")
        exc = self.assertRaises(JobspecError, parse_keyval, "--setattr",
                                f"^a={path}")
        self.assertTrue(str(exc).startswith(f"--setattr: {path}: Expecting"))
        exc = self.assertRaises(JobspecError, parse_keyval, "--setopt",
                                "^a=/nonexistent/x.json")
        self.assertEqual(str(exc), "--setopt: /nonexistent/x.json: "
                                   "No such file or directory")

    def test_set_attribute_prefixes(self):
        jobspec = {}
        set_attribute(jobspec, "x", 1)
        set_attribute(jobspec, "system.y", 2)
        set_attribute(jobspec, "user.z", 3)
        set_attribute(jobspec, ".system.w", 4)
        set_attribute(jobspec, "attributes.user.v", 5)
        self.assertEqual(jobspec, {"attributes": {
            "system": {"x": 1, "y": 2, "w": 4}, "user": {"z": 3, "v": 5}}})


class FromNodesAndCoresTests(SynchronousTestCase):
    """``--cores``/``--tasks-per-node``/``--tasks-per-core``/
    ``--gpus-per-node`` (JobspecV1.per_resource())."""

    def shape(self, **kwargs):
        kwargs.setdefault("environment", {})
        jobspec = from_nodes_and_cores(["app"], **kwargs)
        validate(jobspec, version=1)
        return jobspec

    def test_nodes_and_cores(self):
        jobspec = self.shape(nnodes=2, ncores=8, per_resource_type="core",
                             per_resource_count=1)
        self.assertEqual(jobspec["resources"], [
            {"type": "node", "count": 2, "with": [slot(1, [core(4)])]}])
        self.assertEqual(
            jobspec["attributes"]["system"]["shell"]["options"],
            {"per-resource": {"type": "core", "count": 1}})
        self.assertEqual(jobspec["tasks"][0]["count"], {"per_slot": 1})

    def test_cores_only(self):
        jobspec = self.shape(ncores=6)
        self.assertEqual(jobspec["resources"], [slot(6, [core(1)])])
        self.assertNotIn("shell", jobspec["attributes"]["system"])

    def test_nodes_only_exclusive_with_gpus(self):
        jobspec = self.shape(nnodes=3, exclusive=True, gpus_per_node=2,
                             per_resource_type="node", per_resource_count=4)
        self.assertEqual(jobspec["resources"], [
            {"type": "node", "count": 3, "exclusive": True, "with": [
                slot(1, [core(1), {"type": "gpu", "count": 2}])]}])
        self.assertEqual(counts(jobspec).ntasks, 12)

    def test_errors(self):
        cases = [
            (dict(ncores=4, per_resource_type="socket", per_resource_count=1),
             "Invalid per_resource_type='socket' specified"),
            (dict(ncores=4, per_resource_type="node", per_resource_count=0),
             "per_resource_count must be >= 1"),
            (dict(ncores=4, per_resource_type="node", per_resource_count="2"),
             "per_resource_count must be an integer"),
            (dict(ncores=4, per_resource_type="node"),
             "must specify a per_resource_count with per_resource_type"),
            (dict(ncores=4, per_resource_count=2),
             "must specify a per_resource_type with per_resource_count"),
            (dict(ncores=0), "ncores must be an integer >= 1"),
            (dict(ncores=4, gpus_per_node=1),
             "gpus_per_node must be specified with nnodes"),
            (dict(nnodes=1, exclusive=True, gpus_per_node=-1),
             "gpus_per_node must be an integer >= 0"),
            (dict(nnodes=0, ncores=2), "nnodes must be an integer >= 1"),
            (dict(ncores=2, exclusive=True),
             "exclusive can only be set with a node count"),
            (dict(nnodes=4, ncores=2),
             "number of cores cannot be less than nnodes"),
            (dict(nnodes=2, ncores=5),
             "number of cores must be evenly divisible by node count"),
            (dict(nnodes=2),
             "Specifying nnodes also requires ncores or exclusive"),
            (dict(), "must specify node or core count with per_resource"),
        ]
        for kwargs, message in cases:
            exc = self.assertRaises(JobspecError, self.shape, **kwargs)
            self.assertEqual(str(exc), message, kwargs)


class DurationTests(SynchronousTestCase):
    """duration_seconds() is the Jobspec.duration setter."""

    def test_values(self):
        self.assertEqual(duration_seconds(0), 0.0)
        self.assertEqual(duration_seconds("1.5h"), 5400.0)
        self.assertEqual(duration_seconds(datetime.timedelta(0, 5)), 5.0)

    def test_rejects(self):
        for value in (True, None, "inf", float("nan"), -0.5):
            self.assertRaises(JobspecError, duration_seconds, value)


class FromCommandPropertyTests(SynchronousTestCase):
    """from_command() output is always valid V1 with the requested size."""

    @given(data=st.data(),
           ntasks=st.integers(1, 200),
           cores=st.integers(1, 16),
           gpus=st.one_of(st.none(), st.integers(0, 8)),
           duration=st.one_of(st.just(0),
                              st.floats(0, 1e7, allow_nan=False)),
           environment=st.dictionaries(st.text(min_size=1, max_size=8),
                                       st.text(max_size=8), max_size=4))
    def test_valid_and_counted(self, data, ntasks, cores, gpus, duration,
                               environment):
        nodes = data.draw(st.one_of(st.none(), st.integers(1, ntasks)))
        exclusive = nodes is not None and data.draw(st.booleans())
        jobspec = from_command(["app"], ntasks=ntasks, nodes=nodes,
                               cores_per_task=cores, gpus_per_task=gpus,
                               duration=duration, environment=environment,
                               cwd="/", exclusive=exclusive)
        validate(jobspec)
        validate(jobspec, version=1)
        if not exclusive:
            validate_v1_strict(jobspec)
        summary = counts(jobspec)
        self.assertEqual(summary.ntasks, ntasks)
        self.assertEqual(summary.nnodes, nodes or 0)
        self.assertEqual(summary.slot_size, cores)
        self.assertEqual(summary.slot_gpus, gpus or 0)
        self.assertEqual(summary.exclusive, exclusive)
        self.assertGreaterEqual(summary.nslots, ntasks)
        self.assertEqual(summary.environment, environment)
        self.assertEqual(summary.duration, float(duration))
