"""Jobspecs as requests: the fast path must agree with the jj reader."""

import copy

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats.jobspec import counts, from_command
from fluxd.sched import request as R
from fluxd.sched.policy import InvalidRequest
from fluxd.sched.request import request_of


def shape(r):
    return (r.nnodes, r.nslots, r.slot_size, r.slot_gpus, r.exclusive,
            r.duration)


def reader(jobspec):
    jj = counts(jobspec)
    return (jj.nnodes, jj.nslots, jj.slot_size, jj.slot_gpus, jj.exclusive,
            jj.duration)


class RequestTests(SynchronousTestCase):
    @settings(max_examples=150, deadline=None)
    @given(st.integers(1, 64), st.one_of(st.none(), st.integers(1, 8)),
           st.integers(1, 4), st.one_of(st.none(), st.integers(0, 3)),
           st.booleans(), st.sampled_from([0, 60, 2.5]))
    def test_fast_path_agrees_with_the_reader(self, ntasks, nodes, cores,
                                              gpus, exclusive, duration):
        if nodes is not None and nodes > ntasks:
            nodes = ntasks
        spec = from_command(["true"], ntasks=ntasks, nodes=nodes,
                            cores_per_task=cores, gpus_per_task=gpus,
                            exclusive=exclusive and nodes is not None,
                            duration=duration, environment={}, cwd="/")
        self.assertIsNotNone(R._fast(spec))
        self.assertEqual(shape(request_of(spec)), reader(spec))

    def test_other_shapes_use_the_reader(self):
        spec = from_command(["true"], ntasks=2, environment={}, cwd="/")
        odd = copy.deepcopy(spec)
        odd["resources"][0]["count"] = {"min": 2, "max": 4}
        self.assertIsNone(R._fast(odd))
        self.assertEqual(shape(request_of(odd)), reader(odd))
        bad = copy.deepcopy(spec)
        bad["resources"][0]["count"] = 0
        self.assertIsNone(R._fast(bad))
        exc = self.assertRaises(InvalidRequest, request_of, bad)
        self.assertIn("count must be >= 1", str(exc))
        for broken in ({}, {"version": 1, "resources": "x"}, []):
            self.assertRaises(InvalidRequest, request_of, broken)

    def test_constraints_are_kept(self):
        spec = from_command(["true"], environment={}, cwd="/")
        spec["attributes"]["system"]["constraints"] = {"properties": ["a"]}
        self.assertEqual(request_of(spec).constraint, {"properties": ["a"]})
