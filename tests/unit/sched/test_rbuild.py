"""R for allocations: the fast builder must encode exactly what Rv1 (and so
flux-core's rlist_to_R) encodes for the same resources."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import RError, Rv1
from fluxd.sched.policy import Share
from fluxd.sched.rbuild import (
    build_R, encode_mask, nodelist, shares_of, summary_of)


def mask(ids):
    return sum(1 << i for i in set(ids))


shares_st = st.lists(
    st.tuples(st.integers(0, 40), st.lists(st.integers(0, 12), min_size=1),
              st.lists(st.integers(0, 3)), st.booleans(),
              st.sampled_from([(), ("batch",), ("batch", "big")])),
    min_size=1, max_size=8, unique_by=lambda t: t[0])


def as_shares(items):
    return sorted((Share(rank, f"node{rank}" if named else None, mask(cores),
                         mask(gpus), frozenset(props))
                   for rank, cores, gpus, named, props in items),
                  key=lambda s: s.rank)


def as_rv1(shares, start, end, nslots):
    r = Rv1(starttime=start, expiration=end, nslots=nslots)
    for s in shares:
        r.add_rank(s.rank, s.hostname, cores=IDset(_ids(s.cores)),
                   gpus=IDset(_ids(s.gpus)))
    for s in shares:
        for name in s.properties:
            r.set_property(name, [s.rank])
    return r


def _ids(m):
    return [i for i in range(m.bit_length()) if m >> i & 1]


class BuildTests(SynchronousTestCase):
    def test_encode_mask(self):
        self.assertEqual(encode_mask(0), "")
        self.assertEqual(encode_mask(0b1), "0")
        self.assertEqual(encode_mask(0b1011_0111), "0-2,4-5,7")
        self.assertEqual(encode_mask(0b110, brackets=True), "[1-2]")
        self.assertEqual(encode_mask(1 << 100, brackets=True), "100")

    def test_one_rank(self):
        R = build_R([Share(3, "test4", 0b11, 0b1, frozenset({"fat"}))], 2,
                    100.0, 160.0)
        self.assertEqual(R, {"version": 1, "execution": {
            "R_lite": [{"rank": "3", "children": {"core": "0-1",
                                                  "gpu": "0"}}],
            "nslots": 2, "starttime": 100.0, "expiration": 160.0,
            "nodelist": ["test4"], "properties": {"fat": "3"}}})

    @settings(max_examples=200, deadline=None)
    @given(shares_st, st.integers(1, 9))
    def test_same_as_rv1(self, items, nslots):
        shares = as_shares(items)
        R = build_R(shares, nslots, 5.0, 65.5)
        expected = as_rv1(shares, 5.0, 65.5, nslots)
        self.assertEqual(R, expected.encode())
        self.assertEqual(summary_of(R), expected.dumps_short())
        back = {s.rank: (s.cores, s.gpus) for s in shares_of(R)}
        self.assertEqual(back, {s.rank: (s.cores, s.gpus) for s in shares})

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(
        st.sampled_from(["node", "n", "rack1-n", "a0b", "x.", "", "é", "1"]),
        st.sampled_from(["", "0", "00", "07"]),
        st.integers(0, 40)), min_size=1, max_size=30),
        st.booleans())
    def test_nodelist_is_the_hostlist_encoding(self, parts, runs):
        hosts = [f"{p}{z}{n}" for p, z, n in parts]
        if runs:  # one prefix, consecutive numbers (a whole-node job's)
            p, z, n = parts[0]
            hosts = [f"{p}{z}{n + i}" for i in range(len(parts) + 8)]
        self.assertEqual(nodelist(hosts), Hostlist(hosts).encode())

    def test_shares_of_skips_released_ranks(self):
        R = build_R([Share(0, None, 1), Share(1, None, 1)], 2, 0, 0)
        self.assertEqual([s.rank for s in shares_of(R, skip_ranks={0})], [1])

    def test_shares_of_bad_R(self):
        for bad in ({}, {"execution": {"R_lite": [{"rank": "x"}]}},
                    {"execution": {"R_lite": [{"children": {}}]}},
                    {"execution": {"R_lite": [{"rank": [1]}]}}):
            self.assertRaises(RError, shares_of, bad)
