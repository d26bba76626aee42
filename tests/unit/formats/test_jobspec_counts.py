"""Tests for :func:`fluxd.formats.jobspec.counts` (libjob ``jj``/``jjc``).

The expected lines are those of flux-core's ``t/t0022-jj-reader.t``
(:meth:`JobspecCounts.summary`) and ``t/t0024-jjc-reader.t``
(:meth:`JobspecCounts.range_summary`), for the same ``flux run`` options
and the same vector files.
"""

import copy
import os
import shlex

from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats.jobspec import (
    JobspecError, build_from_argv, counts, from_command, from_nodes_and_cores,
    load,
)
from tests import VECTORS as ALL_VECTORS

VECTORS = os.path.join(ALL_VECTORS, "jobspec")


def vector(kind, name):
    with open(os.path.join(VECTORS, kind, name), encoding="utf-8") as stream:
        return load(stream.read())


def run(args=""):
    """What ``flux run ARGS --dry-run hostname`` would submit."""
    jobspec, _, _ = build_from_argv(shlex.split(args) + ["hostname"],
                                    prog="flux-run", environ={}, cwd="/")
    return jobspec


#: flux run options -> (jj-reader line, jjc-reader line)
RUN_CASES = [
    ("", "nnodes=0 nslots=1 slot_size=1 slot_gpus=0 exclusive=false "
         "duration=0.0",
     "nodefactor=0 nnodes=0 nslots=1 slot_size=1 slot_gpus=0 "
     "exclusive=false duration=0.0"),
    ("-N1 -n1", "nnodes=1 nslots=1 slot_size=1 slot_gpus=0 exclusive=false "
                "duration=0.0",
     "nodefactor=1 nnodes=1 nslots=1 slot_size=1 slot_gpus=0 "
     "exclusive=false duration=0.0"),
    ("-N1 -n4", "nnodes=1 nslots=4 slot_size=1 slot_gpus=0 exclusive=false "
                "duration=0.0",
     "nodefactor=1 nnodes=1 nslots=4 slot_size=1 slot_gpus=0 "
     "exclusive=false duration=0.0"),
    ("-N1 -n4 -c4", "nnodes=1 nslots=4 slot_size=4 slot_gpus=0 "
                    "exclusive=false duration=0.0",
     "nodefactor=1 nnodes=1 nslots=4 slot_size=4 slot_gpus=0 "
     "exclusive=false duration=0.0"),
    ("-n4 -c4", "nnodes=0 nslots=4 slot_size=4 slot_gpus=0 exclusive=false "
                "duration=0.0",
     "nodefactor=0 nnodes=0 nslots=4 slot_size=4 slot_gpus=0 "
     "exclusive=false duration=0.0"),
    ("-n4 -c1", "nnodes=0 nslots=4 slot_size=1 slot_gpus=0 exclusive=false "
                "duration=0.0",
     "nodefactor=0 nnodes=0 nslots=4 slot_size=1 slot_gpus=0 "
     "exclusive=false duration=0.0"),
    ("-N4 -n4 -c4", "nnodes=4 nslots=4 slot_size=4 slot_gpus=0 "
                    "exclusive=false duration=0.0",
     "nodefactor=1 nnodes=4 nslots=1 slot_size=4 slot_gpus=0 "
     "exclusive=false duration=0.0"),
    ("-t 1m -N4 -n4", "nnodes=4 nslots=4 slot_size=1 slot_gpus=0 "
                      "exclusive=false duration=60.0",
     "nodefactor=1 nnodes=4 nslots=1 slot_size=1 slot_gpus=0 "
     "exclusive=false duration=60.0"),
    ("-t 5s -N4 -n4", "nnodes=4 nslots=4 slot_size=1 slot_gpus=0 "
                      "exclusive=false duration=5.0",
     "nodefactor=1 nnodes=4 nslots=1 slot_size=1 slot_gpus=0 "
     "exclusive=false duration=5.0"),
    ("-t 1h -N4 -n4", "nnodes=4 nslots=4 slot_size=1 slot_gpus=0 "
                      "exclusive=false duration=3600.0",
     "nodefactor=1 nnodes=4 nslots=1 slot_size=1 slot_gpus=0 "
     "exclusive=false duration=3600.0"),
    ("-g1", "nnodes=0 nslots=1 slot_size=1 slot_gpus=1 exclusive=false "
            "duration=0.0",
     "nodefactor=0 nnodes=0 nslots=1 slot_size=1 slot_gpus=1 "
     "exclusive=false duration=0.0"),
    ("-N1 -n2 -c2 -g1", "nnodes=1 nslots=2 slot_size=2 slot_gpus=1 "
                        "exclusive=false duration=0.0",
     "nodefactor=1 nnodes=1 nslots=2 slot_size=2 slot_gpus=1 "
     "exclusive=false duration=0.0"),
]

#: valid/use_case_X.yaml -> (jj-reader line or None, jjc-reader line)
USE_CASES = [
    ("1.3", "nnodes=4 nslots=16 slot_size=4 slot_gpus=0 exclusive=false "
            "duration=3600.0",
     "nodefactor=4 nnodes=1 nslots=4 slot_size=4+ slot_gpus=0 "
     "exclusive=false duration=3600.0"),
    ("1.4", "nnodes=4 nslots=16 slot_size=4 slot_gpus=0 exclusive=false "
            "duration=3600.0",
     "nodefactor=4 nnodes=1 nslots=4 slot_size=4 slot_gpus=0 "
     "exclusive=false duration=3600.0"),
    ("1.5", "nnodes=2 nslots=4 slot_size=2 slot_gpus=0 exclusive=false "
            "duration=14400.0",
     "nodefactor=2 nnodes=1 nslots=2 slot_size=2 slot_gpus=0 "
     "exclusive=false duration=14400.0"),
    ("1.6", "nnodes=2 nslots=2 slot_size=30 slot_gpus=0 exclusive=false "
            "duration=3600.0",
     "nodefactor=2 nnodes=1+ nslots=1 slot_size=30 slot_gpus=0 "
     "exclusive=false duration=3600.0"),
    ("1.7", "nnodes=3 nslots=3 slot_size=1 slot_gpus=0 exclusive=false "
            "duration=3600.0",
     "nodefactor=3 nnodes=1+ nslots=1 slot_size=1 slot_gpus=0 "
     "exclusive=false duration=3600.0"),
    ("1.9", "nnodes=1 nslots=1 slot_size=1 slot_gpus=0 exclusive=false "
            "duration=3600.0",
     "nodefactor=1 nnodes=1 nslots=1 slot_size=1 slot_gpus=0 "
     "exclusive=false duration=3600.0"),
    ("1.10", "nnodes=10 nslots=10 slot_size=2 slot_gpus=0 exclusive=true "
             "duration=3600.0",
     "nodefactor=10 nnodes=1 nslots=1 slot_size=2 slot_gpus=0 "
     "exclusive=true duration=3600.0"),
    ("1.11", "nnodes=2 nslots=2 slot_size=5 slot_gpus=7 exclusive=true "
             "duration=3600.0",
     "nodefactor=2 nnodes=1 nslots=1 slot_size=5 slot_gpus=7 "
     "exclusive=true duration=3600.0"),
    ("2.5", "nnodes=0 nslots=10 slot_size=1 slot_gpus=0 exclusive=false "
            "duration=3600.0",
     "nodefactor=0 nnodes=0 nslots=10 slot_size=1 slot_gpus=0 "
     "exclusive=false duration=3600.0"),
]

#: valid/NAME.yaml that the readers reject, with jjc-reader's message.
VECTOR_ERRORS = [
    ("basic",
     "at top level: getting duration: Object item not found: system"),
    ("example2", "Unable to determine slot size"),
    ("use_case_1.2", "Non-integer count not allowed above node"),
    ("use_case_2.1", "Unable to determine slot size"),
    ("use_case_2.2", "Unable to determine slot size"),
    ("use_case_2.6", "Unable to determine slot size"),
]


class ReaderCompatibilityTests(SynchronousTestCase):
    """The t0022/t0024 tables."""

    def test_run_options(self):
        for args, jj_line, jjc_line in RUN_CASES:
            summary = counts(run(args))
            self.assertEqual(summary.summary(), jj_line, args)
            self.assertEqual(summary.range_summary(), jjc_line, args)

    def test_use_cases(self):
        for case, jj_line, jjc_line in USE_CASES:
            summary = counts(vector("valid", f"use_case_{case}.yaml"))
            self.assertEqual(summary.summary(), jj_line, case)
            self.assertEqual(summary.range_summary(), jjc_line, case)

    def test_vector_errors(self):
        for name, message in VECTOR_ERRORS:
            exc = self.assertRaises(JobspecError, counts,
                                    vector("valid", f"{name}.yaml"))
            self.assertEqual(str(exc), message, name)

    def test_unexpected_version_is_ignored(self):
        jobspec = run()
        jobspec["version"] = 2
        self.assertEqual(counts(jobspec).range_summary(), RUN_CASES[0][2])

    def test_unexpected_type_is_ignored(self):
        jobspec = run("-N1 -n1")
        jobspec["resources"][0]["type"] = "beans"
        self.assertEqual(counts(jobspec).range_summary(), RUN_CASES[0][2])
        self.assertEqual(counts(jobspec).summary(), RUN_CASES[0][1])

    def assertMessage(self, jobspec, message):
        exc = self.assertRaises(JobspecError, counts, jobspec)
        self.assertEqual(str(exc), message)

    def test_errors(self):
        jobspec = run()
        del jobspec["version"]
        self.assertMessage(jobspec,
                           "at top level: Object item not found: version")
        jobspec = run()
        jobspec["resources"][0]["with"][0]["count"] = -1
        self.assertMessage(jobspec,
                           "level 1: create_count: integer count must be >= 1")
        jobspec = run()
        jobspec["resources"][0]["type"] = "beans"
        self.assertMessage(jobspec, "Unable to determine slot count")
        jobspec = run()
        del jobspec["resources"][0]["with"][0]["count"]
        self.assertMessage(jobspec, "level 1: Object item not found: count")
        jobspec = run()
        jobspec["resources"][0]["with"][0]["count"] = 1.5
        self.assertMessage(
            jobspec, "level 1: create_count: Malformed jobspec resource count")
        self.assertMessage(
            {"resources": {}, "attributes": {"system": {"duration": 0}},
             "version": 1}, "level 0: must be an array")
        self.assertMessage([], "at top level: Expected object, got array")


class CountsTests(SynchronousTestCase):
    """Other behaviour of counts() and JobspecCounts."""

    def test_rfc25_example1(self):
        summary = counts(vector("valid_v1", "example1.yaml"))
        self.assertEqual((summary.nnodes, summary.nslots, summary.slot_size,
                          summary.slot_gpus, summary.ntasks),
                         (4, 4, 2, 0, 4))
        self.assertEqual(summary.ncores, 8)
        self.assertEqual(summary.duration, 3600.0)
        self.assertEqual(summary.cwd, "/home/flux")
        self.assertEqual(summary.environment, {"HOME": "/home/flux"})
        self.assertIsNone(summary.queue)
        self.assertFalse(summary.exclusive)

    def test_rfc25_use_case_2_1_total_tasks(self):
        summary = counts(vector("valid_v1", "use_case_2.1.yaml"))
        self.assertEqual((summary.nnodes, summary.nslots, summary.ntasks),
                         (4, 4, 5))

    def test_gpus(self):
        summary = counts(vector("valid_v1", "use_case_2.4.yaml"))
        self.assertEqual((summary.nnodes, summary.nslots, summary.slot_gpus,
                          summary.ngpus), (4, 16, 1, 16))
        summary = counts(vector("valid_v1", "gpu_count_zero.yaml"))
        self.assertEqual(summary.slot_gpus, 0)
        self.assertEqual(summary.range_summary().split()[4], "slot_gpus=0")

    def test_exclusive_nodes(self):
        summary = counts(run("-N2"))
        self.assertEqual((summary.nnodes, summary.ntasks, summary.exclusive),
                         (2, 2, True))

    def test_queue(self):
        summary = counts(run("-q batch -n3"))
        self.assertEqual((summary.queue, summary.ntasks), ("batch", 3))

    def test_per_slot_tasks(self):
        jobspec = run("-N2 -n4")
        jobspec["tasks"][0]["count"] = {"per_slot": 3}
        self.assertEqual(counts(jobspec).ntasks, 12)

    def test_per_resource_tasks(self):
        jobspec = run("-N2 -n4 -c2")
        jobspec["version"] = 2
        for kind, each, expected in (("node", 3, 6), ("core", 1, 8),
                                     ("slot", 2, 8)):
            jobspec["tasks"][0]["count"] = {
                "per_resource": {"type": kind, "count": each}}
            self.assertEqual(counts(jobspec).ntasks, expected, kind)

    def test_shell_per_resource_option(self):
        jobspec = from_nodes_and_cores(["a"], nnodes=3, exclusive=True,
                                       per_resource_type="node",
                                       per_resource_count=4, environment={})
        self.assertEqual(counts(jobspec).ntasks, 12)
        jobspec = from_nodes_and_cores(["a"], ncores=6,
                                       per_resource_type="core",
                                       per_resource_count=2, environment={})
        self.assertEqual(counts(jobspec).ntasks, 12)

    def test_ranges_use_their_smallest_value(self):
        jobspec = run("-N2 -n4")
        slot = jobspec["resources"][0]["with"][0]
        slot["count"] = "2-8:2:*"
        slot["with"][0]["count"] = {"min": 3, "max": 6}
        summary = counts(jobspec)
        self.assertEqual((summary.nslots, summary.slot_size), (4, 3))
        self.assertEqual(summary.nslots_count.encode(), "2-8:2:*")
        self.assertEqual(summary.slot_size_count.encode(), "3-6")

    def test_non_integer_above_node(self):
        jobspec = run("-N2 -n4")
        jobspec["resources"] = [{"type": "rack", "count": "1,3", "with":
                                 jobspec["resources"]}]
        exc = self.assertRaises(JobspecError, counts, jobspec)
        self.assertEqual(str(exc), "Non-integer count not allowed above node")
        jobspec["resources"][0]["count"] = "3"
        self.assertEqual(counts(jobspec).nnodes, 6)

    def test_range_errors(self):
        jobspec = run()
        cases = [
            ({"max": 3}, "level 0: Object item not found: min"),
            ({"min": "2"}, "level 0: Expected integer, got string"),
            ({"min": 0}, "level 0: create_count: min, max, and operand must "
                         "be >= 1"),
            ({"min": 1, "operator": "^", "operand": 2},
             "level 0: create_count: min must be >= 2 for '^' operator"),
            ({"min": 2, "operator": "*"},
             "level 0: create_count: operand must be >= 2 for '*' or '^' "
             "operators"),
            ({"min": 2, "operator": "-"},
             "level 0: create_count: unknown operator '-'"),
            ({"min": 5, "max": 2},
             "level 0: create_count: max must be >= min"),
            ({}, "level 0: create_count: Malformed jobspec resource count"),
            ("0-x", "level 0: create_count: Failed to decode '0-x' as idset "
                    "or range"),
        ]
        for count, message in cases:
            broken = copy.deepcopy(jobspec)
            broken["resources"][0]["count"] = count
            exc = self.assertRaises(JobspecError, counts, broken)
            self.assertEqual(str(exc), message, count)

    def test_vertex_errors(self):
        jobspec = run()
        jobspec["resources"][0]["exclusive"] = "yes"
        exc = self.assertRaises(JobspecError, counts, jobspec)
        self.assertEqual(str(exc),
                         "level 0: Expected true or false, got string")
        jobspec = run()
        jobspec["attributes"]["system"]["duration"] = "1h"
        exc = self.assertRaises(JobspecError, counts, jobspec)
        self.assertEqual(str(exc), "at top level: getting duration: Expected "
                                   "real or integer, got string")

    def test_deep_nesting(self):
        jobspec = run()
        for _ in range(5000):
            jobspec["resources"] = [{"type": "rack", "count": 1,
                                     "with": jobspec["resources"]}]
        exc = self.assertRaises(JobspecError, counts, jobspec)
        self.assertEqual(str(exc), "resources are nested too deeply")

    def test_from_command_counts(self):
        summary = counts(from_command(["a"], ntasks=7, nodes=3, environment={},
                                      cores_per_task=2, gpus_per_task=1))
        self.assertEqual((summary.nnodes, summary.nslots, summary.slot_size,
                          summary.slot_gpus, summary.ntasks),
                         (3, 9, 2, 1, 7))
