"""Tests for :mod:`fluxd.formats.rv1` (RFC 20 R version 1).

Vectors: the R examples of spec/formats.md section 7 and RFC 20
(``data/spec_20/example1.json``), the ``*.R`` files of
``tests/vectors/flux-resource/list``, flux-core's
``src/common/librlist/test/rlist.c`` and ``t/python/t0022-resource-set.py``.
"""

import glob
import json
import os

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument
from fluxd.formats import _rjson
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import RError, Rv1
from tests import VECTORS as ALL_VECTORS

VECTORS = os.path.join(ALL_VECTORS, "flux-resource", "list")

SPEC_EXAMPLE = {
    "version": 1,
    "execution": {
        "R_lite": [{"rank": "19-22",
                    "children": {"core": "0-47", "gpu": "0-7"}}],
        "nodelist": ["node[186-189]"],
        "properties": {"batch": "19-20", "debug": "21-22"},
        "nslots": 32,
        "starttime": 1676560542,
        "expiration": 1676562342},
    "scheduling": {"writer": "fluxion", "...": "opaque"},
}

RFC20_EXAMPLE1 = """{
  "version": 1,
  "execution": {
    "R_lite": [
      {"rank": "19-22", "children": {"core": "0-47", "gpu": "0-7"}}
    ],
    "nodelist": ["node[186-189]"],
    "nslots": 32,
    "starttime": 1676560542,
    "expiration": 1676562342
  }
}"""


def make_r(ranks, cores=None, gpus=None, hosts=None, properties=None):
    """Build an R like rlist.c's R_create() test helper."""
    children = {"core": cores if cores is not None else ""}
    if gpus is not None:
        children["gpu"] = gpus
    execution = {"R_lite": [{"rank": ranks, "children": children}]}
    if hosts is not None:
        execution["nodelist"] = [hosts]
    if properties is not None:
        execution["properties"] = properties
    return Rv1.decode({"version": 1, "execution": execution})


class SpecExampleTests(SynchronousTestCase):
    """The R examples of the spec and of RFC 20."""

    def test_spec_example_decodes(self):
        r = Rv1.decode(SPEC_EXAMPLE)
        self.assertEqual(r.ranks(), IDset("19-22"))
        self.assertEqual(str(r.nodelist()), "node[186-189]")
        self.assertEqual(r.count("node"), 4)
        self.assertEqual(r.count("core"), 4 * 48)
        self.assertEqual(r.count("gpu"), 32)
        self.assertEqual(r.nslots, 32)
        self.assertEqual(r.starttime, 1676560542.0)
        self.assertEqual(r.expiration, 1676562342.0)
        self.assertEqual(r.hostname(21), "node188")
        self.assertEqual(r.cores(19), IDset("0-47"))
        self.assertEqual(r.gpus(22), IDset("0-7"))
        self.assertEqual(r.rank_properties(20), {"batch"})
        self.assertEqual(r.properties(), {"batch": IDset("19-20"),
                                          "debug": IDset("21-22")})
        self.assertEqual(r.scheduling, {"writer": "fluxion", "...": "opaque"})
        self.assertEqual(r.dumps_short(), "rank[19-22]/core[0-47],gpu[0-7]")

    def test_spec_example_encodes_like_flux(self):
        # flux-core's encoder: nslots, then starttime/expiration as reals,
        # then nodelist and properties; scheduling at the top level.
        encoded = Rv1.decode(SPEC_EXAMPLE).encode()
        self.assertEqual(encoded, {
            "version": 1,
            "execution": {
                "R_lite": [{"rank": "19-22",
                            "children": {"core": "0-47", "gpu": "0-7"}}],
                "nslots": 32,
                "starttime": 1676560542.0,
                "expiration": 1676562342.0,
                "nodelist": ["node[186-189]"],
                "properties": {"batch": "19-20", "debug": "21-22"}},
            "scheduling": {"writer": "fluxion", "...": "opaque"},
        })
        self.assertEqual(list(encoded["execution"]),
                         ["R_lite", "nslots", "starttime", "expiration",
                          "nodelist", "properties"])
        self.assertIsInstance(encoded["execution"]["starttime"], float)

    def test_rfc20_example1_text(self):
        r = Rv1.decode(RFC20_EXAMPLE1)
        self.assertEqual(r.dumps(), (
            '{"version": 1, "execution": {"R_lite": [{"rank": "19-22",'
            ' "children": {"gpu": "0-7", "core": "0-47"}}], "nslots": 32,'
            ' "starttime": 1676560542.0, "expiration": 1676562342.0,'
            ' "nodelist": ["node[186-189]"]}}'))
        self.assertEqual(Rv1.decode(r.dumps()), r)

    def test_rfc20_example2_ignores_slots(self):
        # example2.json carries a per-entry "slots" extension: ignored.
        r = Rv1.decode({"version": 1, "execution": {
            "R_lite": [
                {"rank": "0-1", "children": {"core": "0-7", "gpu": "0"},
                 "slots": {"cpu": {"count": 1, "core": "0-3"}}},
                {"rank": "2-3", "children": {"core": "0-3"}}],
            "nodelist": ["host[0-3]"], "nslots": 6,
            "starttime": 1790596800, "expiration": 1790598600}})
        self.assertEqual(r.dumps_short(),
                         "rank[0-1]/core[0-7],gpu0 rank[2-3]/core[0-3]")
        self.assertEqual(r.count("core"), 24)

    def test_bytes_input(self):
        r = Rv1.decode(json.dumps(SPEC_EXAMPLE).encode())
        self.assertEqual(r, Rv1.decode(SPEC_EXAMPLE))


class VectorTests(SynchronousTestCase):
    """tests/vectors/flux-resource/list/*.R round-trip byte for byte."""

    def test_vectors_exist(self):
        self.assertGreaterEqual(len(glob.glob(os.path.join(VECTORS, "*.R"))),
                                6)

    def test_round_trip(self):
        for path in sorted(glob.glob(os.path.join(VECTORS, "*.R"))):
            with open(path) as fp:
                text = fp.read().strip()
            r = Rv1.decode(text)
            self.assertEqual(r.dumps(), text, path)
            self.assertEqual(Rv1.decode(r.encode()), r, path)

    def test_fluke_contents(self):
        with open(os.path.join(VECTORS, "fluke.R")) as fp:
            r = Rv1.decode(fp.read())
        self.assertEqual(r.count("node"), 101)
        self.assertEqual(r.count("core"), 404)
        self.assertEqual(r.hostname(0), "fluke3")
        self.assertEqual(r.hostname(100), "fluke103")
        self.assertEqual(str(r.filter_properties("debug").nodelist()),
                         "fluke[96-103]")

    def test_normal_new_unordered_nodelist(self):
        with open(os.path.join(VECTORS, "normal-new.R")) as fp:
            r = Rv1.decode(fp.read())
        self.assertEqual([r.hostname(i) for i in range(5)],
                         ["pi3", "pi0", "pi1", "pi2", "pi4"])
        self.assertEqual(str(r.filter_properties("8g").nodelist()),
                         "pi[3,0-1]")


class DecodeErrorTests(SynchronousTestCase):
    """Invalid R is refused with one line naming the problem."""

    R_LITE = [{"rank": "0", "children": {"core": "0"}}]

    def check(self, obj, message):
        with self.assertRaises(RError) as ctx:
            Rv1.decode(obj)
        self.assertEqual(str(ctx.exception), message)
        self.assertNotIn("\n", str(ctx.exception))
        self.assertIsInstance(ctx.exception, InvalidArgument)

    def execution(self, **kw):
        return {"version": 1, "execution": {"R_lite": self.R_LITE, **kw}}

    def test_structure(self):
        self.check("", "invalid JSON: Expecting value: line 1 column 1"
                   " (char 0)")
        self.check("[]", "R must be a JSON object, not an array")
        self.check({}, "R is missing required key 'version'")
        self.check({"version": 1}, "R is missing required key 'execution'")
        self.check({"version": 1, "execution": {}},
                   "execution is missing required key 'R_lite'")
        self.check({"version": "1", "execution": {}},
                   "version must be an integer, not a string")
        self.check({"version": 199}, "invalid version=199")
        self.check({"version": 1, "execution": []},
                   "execution must be an object, not an array")
        self.check({"version": 1, "execution": {"R_lite": 5}},
                   "R_lite must be an array, not an integer")

    def test_r_lite_entries(self):
        def r(*entries):
            return {"version": 1, "execution": {"R_lite": list(entries)}}
        self.check(r("x"), "R_lite[0] must be an object, not a string")
        self.check(r({"children": {}}),
                   "R_lite[0] is missing required key 'rank'")
        self.check(r({"rank": "0"}),
                   "R_lite[0] is missing required key 'children'")
        self.check(r({"rank": 0, "children": {}}),
                   "R_lite[0].rank must be an idset string, not an integer")
        self.check(r({"rank": "0-", "children": {}}),
                   "R_lite[0].rank: invalid idset '0-': error parsing"
                   " range '0-'")
        self.check(r({"rank": "0", "children": []}),
                   "R_lite[0].children must be an object, not an array")
        self.check(r({"rank": "0", "children": {"core": "3,2"}}),
                   "R_lite[0].children.core: invalid idset '3,2': range"
                   " '2' is out of order")
        self.check(r({"rank": "0-1", "children": {"core": "0-3"}},
                     {"rank": "1", "children": {"core": "2-5"}}),
                   "R_lite[1]: rank 1 resources core[2-3] appear twice")

    def test_rank_count_is_bounded(self):
        self.check({"version": 1, "execution": {"R_lite": [
            {"rank": "0-2147483646", "children": {"core": "0"}}]}},
            "R_lite[0].rank: 2147483647 ranks is more than the supported"
            " 1048576")
        self.patch(_rjson, "MAX_RANKS", 4)
        self.check({"version": 1, "execution": {"R_lite": [
            {"rank": "0-3", "children": {"core": "0"}},
            {"rank": "7", "children": {"core": "0"}}]}},
            "R_lite holds more than the supported 4 ranks")
        # huge idsets elsewhere are handled as intervals, not expanded
        self.check({"version": 1, "execution": {
            "R_lite": self.R_LITE, "properties": {"x": "0-2147483646"}}},
            "ranks 1-2147483646 not found in target resource list")

    def test_optional_keys(self):
        self.check(self.execution(nslots="2"),
                   "nslots must be an integer, not a string")
        self.check(self.execution(starttime="now"),
                   "starttime must be a number, not a string")
        self.check(self.execution(expiration=True),
                   "expiration must be a number, not a boolean")
        self.check(self.execution(starttime=-1),
                   "starttime must not be negative (-1)")
        self.check(self.execution(starttime=20, expiration=10),
                   "expiration (10.0) must be greater than starttime (20.0)")

    def test_nodelist(self):
        self.check(self.execution(nodelist="foo"),
                   "nodelist must be an array of strings")
        self.check(self.execution(nodelist=["foo[0-1]"]),
                   "nodelist has 2 hosts but R_lite has 1 ranks")
        with self.assertRaises(RError) as ctx:
            Rv1.decode(self.execution(nodelist=["foo["]))
        self.assertTrue(str(ctx.exception).startswith(
            "nodelist: invalid hostlist 'foo['"), str(ctx.exception))

    def test_properties(self):
        # The decode errors of rlist.c's property_tests.
        def r(props):
            return {"version": 1, "execution": {
                "R_lite": [{"rank": "1-10", "children": {"core": "0-1"}}],
                "nodelist": ["foo[1-10]"], "properties": props}}
        self.check(r("foo"), "properties must be an object")
        self.check(r({"foo": 1}), "properties value '1' not a string")
        self.check(r({"foo": "1-30"}),
                   "ranks 11-30 not found in target resource list")
        self.check(r({"foo": "11"}),
                   "rank 11 not found in target resource list")
        self.check(r({"fo^o": "1-3"}),
                   "invalid character '^' in property \"fo^o\"")
        self.check(r({"foo": "x-y"}),
                   "invalid idset 'x-y' specified for property \"foo\"")
        self.check(r({"a!b": "1"}),
                   "invalid character '!' in property \"a!b\"")


class DecodeSemanticsTests(SynchronousTestCase):
    """What decode accepts and how it models it."""

    def test_empty_r_lite_object(self):
        # t0026: R_lite may be an empty object.
        r = Rv1.decode('{"version": 1, "execution": {"R_lite": {}}}')
        self.assertEqual(r.count("core"), 0)
        self.assertEqual(len(r), 0)
        self.assertEqual(r.dumps_short(), "")
        self.assertEqual(r.encode()["execution"]["nodelist"], [""])

    def test_no_nodelist(self):
        r = make_r("0-1", "0-3")
        self.assertIsNone(r.hostname(0))
        self.assertNotIn("nodelist", r.encode()["execution"])
        with self.assertRaises(RError) as ctx:
            r.nodelist()
        self.assertEqual(str(ctx.exception),
                         "no nodelist: rank 0 has no hostname")

    def test_repeated_rank_merges(self):
        r = Rv1.decode({"version": 1, "execution": {"R_lite": [
            {"rank": "0-1", "children": {"core": "0-1"}},
            {"rank": "1", "children": {"core": "2-3", "gpu": "0"}}]}})
        self.assertEqual(r.dumps_short(), "rank0/core[0-1] rank1/core[0-3],gpu0")

    def test_empty_ranks_dropped_after_checks(self):
        r = Rv1.decode({"version": 1, "execution": {
            "R_lite": [{"rank": "0-1", "children": {"core": "0"}},
                       {"rank": "2", "children": {"core": ""}}],
            "nodelist": ["foo[0-2]"], "properties": {"x": "2"}}})
        self.assertEqual(r.ranks(), IDset("0-1"))
        self.assertEqual(str(r.nodelist()), "foo[0-1]")
        self.assertEqual(r.properties(), {})

    def test_integer_times_and_unset_nslots(self):
        r = Rv1.decode({"version": 1, "execution": {
            "R_lite": [{"rank": "0", "children": {"core": "0"}}],
            "starttime": 0, "expiration": 0, "nslots": 0}})
        self.assertEqual((r.starttime, r.expiration, r.nslots),
                         (0.0, 0.0, None))

    def test_gpu_only_rank(self):
        r = make_r("0", "", "0")
        self.assertEqual(r.count("core"), 0)
        self.assertEqual(r.count("gpu"), 1)
        self.assertEqual(r.encode()["execution"]["R_lite"],
                         [{"rank": "0", "children": {"gpu": "0"}}])
        self.assertEqual(r.dumps_short(), "rank0/gpu0")

    def test_other_child_types_are_carried(self):
        r = Rv1.decode({"version": 1, "execution": {"R_lite": [
            {"rank": "0", "children": {"core": "0", "nic": "0-1"}}]}})
        self.assertEqual(r.count("nic"), 2)
        self.assertEqual(r.dumps_short(), "rank0/core0,nic[0-1]")
        self.assertEqual(Rv1.decode(r.encode()), r)


class ShortFormTests(SynchronousTestCase):
    """``rlist_dumps`` strings (rlist.c test_dumps, issue2202, issue2473)."""

    def test_dumps(self):
        r = Rv1()
        self.assertEqual(r.dumps_short(), "")
        r.add_rank(0, "host", cores="0-3")
        self.assertEqual(r.dumps_short(), "rank0/core[0-3]")
        r.add_rank(1, "host", cores="0-7")
        self.assertEqual(r.dumps_short(), "rank0/core[0-3] rank1/core[0-7]")
        r.add_rank(1234567, "host", cores="0-12345")
        r.add_rank(1234568, "host", cores="0-12346")
        self.assertEqual(r.dumps_short(),
                         "rank0/core[0-3] rank1/core[0-7] "
                         "rank1234567/core[0-12345] rank1234568/core[0-12346]")

    def test_issue2202(self):
        r = Rv1.decode({"version": 1, "execution": {"R_lite": [
            {"rank": str(i), "children": {"core": str(i)}}
            for i in range(4)]}})
        self.assertEqual(r.dumps_short(),
                         "rank0/core0 rank1/core1 rank2/core2 rank3/core3")
        cores = ["0-1", "0,2", "0,3", "3-4"]
        r = Rv1.decode({"version": 1, "execution": {"R_lite": [
            {"rank": str(i), "children": {"core": c}}
            for i, c in enumerate(cores)]}})
        self.assertEqual(
            r.dumps_short(),
            "rank0/core[0-1] rank1/core[0,2] rank2/core[0,3] rank3/core[3-4]")

    def test_issue2473_and_grouping_order(self):
        r = Rv1.decode({"version": 1, "execution": {"R_lite": [
            {"rank": "1-2", "children": {"core": "0-1"}},
            {"rank": "0", "children": {"core": "0-3"}}]}})
        self.assertEqual(r.dumps_short(), "rank0/core[0-3] rank[1-2]/core[0-1]")
        self.assertEqual(r.count("node"), 3)
        # R_lite groups identical ranks, ordered by first rank.
        self.assertEqual(r.encode()["execution"]["R_lite"], [
            {"rank": "0", "children": {"core": "0-3"}},
            {"rank": "1-2", "children": {"core": "0-1"}}])

    def test_non_contiguous_groups(self):
        r = make_r("0-3", "0-1")
        r = r.union(make_r("1", "2-3"))
        self.assertEqual(r.dumps_short(),
                         "rank[0,2-3]/core[0-1] rank1/core[0-3]")
        self.assertEqual([e["rank"] for e in r.encode()["execution"]["R_lite"]],
                         ["0,2-3", "1"])

    def test_t0022_strings(self):
        r = make_r("0-3", "0-3", "0", "fluke[0-3]")
        self.assertEqual(str(r), "rank[0-3]/core[0-3],gpu0")
        self.assertEqual(r.count("core"), 16)
        self.assertEqual(r.count("gpu"), 4)
        self.assertEqual(r.count("node"), 4)
        self.assertEqual(str(Rv1()), "")


class CountTests(SynchronousTestCase):

    def test_count_names(self):
        r = make_r("0-2", "0-3", "0-1", "foo[0-2]")
        for what, expected in (("node", 3), ("nodes", 3), ("ranks", 3),
                               ("core", 12), ("cores", 12), ("gpu", 6),
                               ("gpus", 6), ("nic", 0)):
            self.assertEqual(r.count(what), expected, what)

    def test_rank_queries_on_missing_rank(self):
        r = make_r("0", "0")
        with self.assertRaises(RError) as ctx:
            r.cores(5)
        self.assertEqual(str(ctx.exception),
                         "rank 5 not found in resource set")


class AppendTests(SynchronousTestCase):
    """rlist.c test_append / test_add."""

    CASES = [
        ("1", "0-3", "foo15", "0", "0-3", "foo16", 8, 2, "foo[16,15]"),
        ("0,2-3", "0-3", "foo[0,2-3]", "1", "0-3", "foo1", 16, 4, "foo[0-3]"),
        ("0", "0-3", "foo0", "0", "4-7", "foo0", 8, 1, "foo0"),
        ("0-1023", "0-3", "foo[0-1023]", "1000-1024", "4-7", "foo[1000-1024]",
         4196, 1025, "foo[0-1024]"),
    ]

    def test_append(self):
        for ra, ca, ha, rb, cb, hb, cores, nodes, nodelist in self.CASES:
            a = make_r(ra, ca, hosts=ha)
            b = make_r(rb, cb, hosts=hb)
            self.assertIs(a.append(b), a)
            self.assertEqual(a.count("core"), cores)
            self.assertEqual(a.count("node"), nodes)
            self.assertEqual(str(a.nodelist()), nodelist)
            self.assertEqual(Rv1.decode(a.encode()), a)

    def test_append_overlap_refused(self):
        a = make_r("0-1", "0")
        with self.assertRaises(RError) as ctx:
            a.append(make_r("1-2", "0"))
        self.assertEqual(str(ctx.exception),
                         "R objects 'rank[0-1]/core0' and 'rank[1-2]/core0'"
                         " overlap")
        self.assertEqual(a.dumps_short(), "rank[0-1]/core0")  # unchanged
        a = make_r("0-1", "0-1", "0")
        with self.assertRaises(RError):
            a.append(make_r("1", "2-3", "0"))

    def test_append_t0022(self):
        r = make_r("0-3", "0-3", "0", "fluke[0-3]")
        r.append(Rv1().add_rank(4, cores="0-3", gpus="0"))
        self.assertEqual(str(r), "rank[0-4]/core[0-3],gpu0")

    def test_add_rank_overlap(self):
        r = Rv1().add_rank(0, "foo", cores="0-3")
        with self.assertRaises(RError) as ctx:
            r.add_rank(0, cores="3-4")
        self.assertEqual(str(ctx.exception), "rank 0 already has core3")
        r.add_rank(0, gpus="0")
        self.assertEqual(str(r), "rank0/core[0-3],gpu0")


class SetAlgebraTests(SynchronousTestCase):
    """rlist.c test_diff / test_union / test_intersect / copy / remove."""

    def op_cases(self, cases, op):
        for a_args, b_args, expected in cases:
            a, b = make_r(*a_args), make_r(*b_args)
            self.assertEqual(getattr(a, op)(b).dumps_short(), expected,
                             (a_args, b_args))

    def test_diff(self):
        self.op_cases([
            (("0", "0-3", None, "foo15"), ("0", "0-3", None, "foo15"), ""),
            (("0", "0-3", "0-1", "foo15"), ("0", "0-3", "0-1", "foo15"), ""),
            (("0", "0-3", None, "foo15"), ("0", "0-1", None, "foo15"),
             "rank0/core[2-3]"),
            (("0", "0-3", "0", "foo15"), ("0", "0-3", None, "foo15"),
             "rank0/gpu0"),
        ], "diff")

    def test_union(self):
        self.op_cases([
            (("0", "0-3", None, "foo15"), ("0", "0-3", None, "foo15"),
             "rank0/core[0-3]"),
            (("0", "0-3", "0-1", "foo15"), ("1", "0-3", "0-1", "foo16"),
             "rank[0-1]/core[0-3],gpu[0-1]"),
            (("0", "0-3", None, "foo15"), ("0", None, "0", "foo15"),
             "rank0/core[0-3],gpu0"),
        ], "union")

    def test_intersect(self):
        self.op_cases([
            (("0-10", "0-3", None, "foo[0-10]"), ("9-15", "1", None,
                                                  "foo[9-15]"),
             "rank[9-10]/core1"),
            (("0", "0-3", "0-1", "foo15"), ("1", "0-3", "0-1", "foo16"), ""),
            # same rank, different hosts: not the same node
            (("0", "0-3", None, "foo1"), ("0", "0-3", None, "bar1"), ""),
            # missing hostnames are not compared
            (("0", "0-3", None, None), ("0", "2-5", None, "bar1"),
             "rank0/core[2-3]"),
        ], "intersect")

    def test_t0022_operators(self):
        set1 = make_r("0-3", "0-3", "0", "fluke[0-3]")
        set2 = set1.exclude_ranks("2-3")
        result = set1.diff(set2)
        self.assertEqual(str(result), "rank[2-3]/core[0-3],gpu0")
        self.assertEqual(str(result.union(set1)), "rank[0-3]/core[0-3],gpu0")
        self.assertEqual(str(set1.intersect(set2)), "rank[0-1]/core[0-3],gpu0")

    def test_copy_ranks(self):
        r = make_r("0-5", "0-3", "0", "foo[0-5]")
        self.assertEqual(str(r.copy_ranks("1,3,5")),
                         "rank[1,3,5]/core[0-3],gpu0")
        self.assertEqual(r.copy_ranks(IDset("1,3,5")).count("core"), 12)
        self.assertEqual(str(r.copy_ranks("5-9")), "rank5/core[0-3],gpu0")
        empty = r.copy_ranks([9, 20])
        self.assertEqual((str(empty), len(empty)), ("", 0))
        self.assertEqual(str(r.copy_ranks("1").nodelist()), "foo1")

    def test_exclude_ranks(self):
        r = make_r("0-5", "0-3", "0", "foo[0-5]")
        self.assertEqual(str(r.exclude_ranks("1,3,5")),
                         "rank[0,2,4]/core[0-3],gpu0")
        self.assertEqual(str(r.exclude_ranks("5-9")), "rank[0-4]/core[0-3],gpu0")
        self.assertEqual(str(r.exclude_ranks("9,20")),
                         "rank[0-5]/core[0-3],gpu0")
        self.assertEqual(str(r), "rank[0-5]/core[0-3],gpu0")  # unchanged
        with self.assertRaises(RError):
            r.exclude_ranks("1-")

    def test_times_and_scheduling_carried(self):
        r = Rv1.decode(SPEC_EXAMPLE)
        other = make_r("20", "0-47")
        for result in (r.diff(other), r.union(other), r.intersect(r),
                       r.copy_ranks("19-20"), r.exclude_ranks("19"),
                       r.remap(), r.filter_properties("batch"),
                       r.rerank("node[189,188,187,186]")):
            self.assertEqual(result.scheduling, SPEC_EXAMPLE["scheduling"])
            self.assertEqual(result.starttime, 1676560542.0)
            self.assertEqual(result.expiration, 1676562342.0)
        # nslots describes the original allocation: kept only by renumbering
        self.assertEqual(r.remap().nslots, 32)
        self.assertIsNone(r.diff(other).nslots)
        # an empty result drops the opaque key, as flux-core does
        self.assertIsNone(r.intersect(other.exclude_ranks("20")).scheduling)
        self.assertIsNone(r.copy_ranks("0").scheduling)

    def test_intersect_properties_common(self):
        a = make_r("0-1", "0-3", hosts="foo[0-1]", properties={"x": "0-1",
                                                               "y": "0"})
        b = make_r("0-1", "0", hosts="foo[0-1]", properties={"x": "0"})
        self.assertEqual(a.intersect(b).properties(), {"x": IDset("0")})
        self.assertEqual(a.union(b).properties(),
                         {"x": IDset("0-1"), "y": IDset("0")})
        self.assertEqual(a.diff(b).properties(), a.properties())

    def test_operations_do_not_mutate(self):
        a = make_r("0-3", "0-3", "0", "foo[0-3]")
        before = a.copy()
        a.diff(make_r("0", "0"))
        a.union(make_r("9", "0"))
        a.intersect(make_r("0", "0"))
        a.remap()
        a.rerank("foo[3,2,1,0]")
        a.filter_properties("foo1")
        self.assertEqual(a, before)


class RemapRerankTests(SynchronousTestCase):
    """rlist.c test_remap / test_rerank, t0026 remap/rerank."""

    def test_remap(self):
        r = make_r("1,7,9,53", "0-3", hosts="foo[1,7,9,53]")
        self.assertEqual(r.remap().dumps_short(), "rank[0-3]/core[0-3]")
        r = make_r("1,7,9,53", "1,5,7,9", "1,3", "foo[1,7,9,53]")
        remapped = r.remap()
        self.assertEqual(remapped.dumps_short(), "rank[0-3]/core[0-3],gpu[1,3]")
        self.assertEqual(str(remapped.nodelist()), "foo[1,7,9,53]")
        self.assertEqual(make_r("5,99,1000", "0").remap().dumps_short(),
                         "rank[0-2]/core0")

    def test_rerank(self):
        r = make_r("0-15", "0-3", hosts="foo[0-15]")
        for hosts, message in (
                ("foo[1-15]", "Number of hosts (15) is less than node count"
                              " (16)"),
                ("foo[0-16]", "Number of hosts (17) is greater than node"
                              " count (16)"),
                ("foo[1-16]", "Host foo16 not found in resources")):
            with self.assertRaises(RError) as ctx:
                r.rerank(hosts)
            self.assertEqual(str(ctx.exception), message)
        with self.assertRaises(RError) as ctx:
            r.rerank("foo[0-")
        self.assertTrue(str(ctx.exception).startswith(
            "invalid hostlist 'foo[0-'"))
        self.assertEqual(str(r.nodelist()), "foo[0-15]")
        self.assertEqual(str(r.rerank("foo[1-15,0]").nodelist()),
                         "foo[1-15,0]")

    def test_rerank_moves_resources_and_properties(self):
        r = make_r("0-1", "0", hosts="foo[0-1]", properties={"big": "1"})
        r = r.union(make_r("1", "1-3", hosts="foo1"))
        swapped = r.rerank("foo1,foo0")
        self.assertEqual(swapped.dumps_short(), "rank0/core[0-3] rank1/core0")
        self.assertEqual(swapped.properties(), {"big": IDset("0")})
        self.assertEqual(swapped.hostname(0), "foo1")

    def test_rerank_duplicate_hostnames(self):
        r = make_r("0-2", "0", hosts="foo,foo,bar")
        reranked = r.rerank("bar,foo,foo")
        self.assertEqual(str(reranked.nodelist()), "bar,foo,foo")
        self.assertEqual(reranked.ranks(), IDset("0-2"))


class PropertyTests(SynchronousTestCase):
    """t0022 test_properties, rlist.c property_tests, t0026 -p queries."""

    def setUp(self):
        self.r = make_r("1-10", "0-1", hosts="foo[1-10]",
                        properties={"foo": "1-3", "bar": "7"})

    def test_constraints(self):
        for query, expected in (
                ("na", ""), ("foo", "rank[1-3]/core[0-1]"),
                ("bar", "rank7/core[0-1]"),
                ("^bar", "rank[1-6,8-10]/core[0-1]"),
                ("foo5", "rank5/core[0-1]"),
                ("^foo5", "rank[1-4,6-10]/core[0-1]"),
                ("foo,^foo2", "rank[1,3]/core[0-1]"),
                (["foo", "^foo2"], "rank[1,3]/core[0-1]"),
                ("foo,,", "rank[1-3]/core[0-1]"),
                ("", "rank[1-10]/core[0-1]")):
            self.assertEqual(self.r.filter_properties(query).dumps_short(),
                             expected, query)

    def test_bad_query(self):
        with self.assertRaises(RError) as ctx:
            self.r.filter_properties("a|b")
        self.assertEqual(str(ctx.exception),
                         "invalid character '|' in property \"a|b\"")
        with self.assertRaises(RError) as ctx:
            self.r.filter_properties([42])
        self.assertEqual(str(ctx.exception), "non-string property specified")

    def test_properties_round_trip(self):
        encoded = self.r.encode()["execution"]["properties"]
        self.assertEqual(encoded, {"bar": "7", "foo": "1-3"})
        self.assertEqual(Rv1.decode(self.r.encode()), self.r)

    def test_set_property_t0022(self):
        r = make_r("0-3", "0-3", "0", "fluke[0-3]")
        self.assertIs(r.set_property("xx", "0-1"), r)
        r.set_property("zz", "2-3")
        r.set_property("aa", "1")
        for name, ranks, message in (
                ("x^y", None, "invalid character '^' in property \"x^y\""),
                ("yy", "0-6", "ranks 4-6 not found in target resource list"),
                ("yy", "foo", "Invalid idset string 'foo'"),
                ("", None, "property name must not be empty")):
            with self.assertRaises(RError) as ctx:
                r.set_property(name, ranks)
            self.assertEqual(str(ctx.exception), message)
        self.assertEqual(str(r.filter_properties("foo")), "")
        self.assertEqual(str(r.filter_properties("xx")),
                         "rank[0-1]/core[0-3],gpu0")
        self.assertEqual(str(r.filter_properties("zz")),
                         "rank[2-3]/core[0-3],gpu0")
        aa = r.filter_properties("xx").filter_properties("aa")
        self.assertEqual(str(aa), "rank1/core[0-3],gpu0")
        self.assertEqual(str(r.filter_properties("^aa,^xx")),
                         "rank[2-3]/core[0-3],gpu0")
        self.assertNotIn("yy", r.properties())

    def test_set_property_all_ranks_and_iterables(self):
        r = make_r("0-3", "0")
        r.set_property("all")
        r.set_property("odd", [1, 3])
        r.set_property("two", IDset("2"))
        self.assertEqual(r.properties(), {"all": IDset("0-3"),
                                          "odd": IDset("1,3"),
                                          "two": IDset("2")})
        with self.assertRaises(RError) as ctx:
            r.set_property("x", "0-2147483646")
        self.assertEqual(str(ctx.exception), "ranks 4-2147483646 not found"
                         " in target resource list")
        with self.assertRaises(RError) as ctx:
            r.set_property("x", [7])
        self.assertEqual(str(ctx.exception),
                         "rank 7 not found in target resource list")

    def test_reserved_forms_are_names(self):
        # "@" suffixes and "+" prefixes are ordinary names to the codec.
        r = make_r("0-1", "0", properties={"amd-mi50@gpu": "0", "+batch": "1"})
        self.assertEqual(Rv1.decode(r.encode()), r)
        self.assertEqual(str(r.filter_properties("+batch")), "rank1/core0")


class VerifyTests(SynchronousTestCase):
    """rlist.c verify_tests, plus [resource.verify] modes."""

    CASES = [
        (("0-5", "0-3", "0", "foo[0-5]"), ("1", "0-3", "0", "foo1"), 0, ""),
        (("0-5", "0-3", "0", "foo[0-5]"), ("1", "0-3", "", "foo1"), -1,
         "rank 1 (foo1) missing resources: gpu0"),
        (("0-5", "0-3", "0", "foo[0-5]"), ("5", "0-1", "0", "foo5"), -1,
         "rank 5 (foo5) missing resources: core[2-3]"),
        (("0-5", "0-3", "0", "foo[0-5]"), ("5", "0-3", "0", "foo7"), -1,
         "rank 5 got hostname 'foo7', expected 'foo5'"),
        (("0-5", "0-3", "0", "foo[0-5]"), ("0", "0-7", "0-1", "foo0"), 1,
         "rank 0 (foo0) has extra resources: core[4-7],gpu1"),
        (("0-5", "0-3", "0", "foo[0-5]"), ("7", "0-3", "0", "foo7"), -1,
         "rank 7 not found in expected ranks"),
        (("0-5", "0-3", "0", "foo[0-5]"), ("0", "0-3", "0", None), 0, ""),
        (("0-5", "0-3", "0", None), ("0", "0-3", "0", None), 0, ""),
        (("0-5", "0-3", "0", None), ("0", "0-3", "0", "foo0"), 0, ""),
        (("0-5", "0-3", "0", None), ("0-1", "0-3", "0", None), -1,
         "Verification supported on single rank only"),
    ]

    def test_cases(self):
        for expected_args, actual_args, rc, message in self.CASES:
            expected, actual = make_r(*expected_args), make_r(*actual_args)
            if rc < 0:
                with self.assertRaises(RError) as ctx:
                    expected.verify(actual)
                self.assertEqual(str(ctx.exception), message)
            elif rc == 1:
                self.assertEqual(expected.verify(actual), message)
            else:
                self.assertIsNone(expected.verify(actual))

    def test_modes(self):
        expected = make_r("0", "0-3", "0-1", "foo0")
        fewer = make_r("0", "0-1", None, "foo0")
        more = make_r("0", "0-7", "0-3", "foo0")
        other = make_r("0", "0-3", "0-1", "bar0")
        self.assertIsNone(expected.verify(fewer, {"default":
                                                  "allow-missing"}))
        self.assertIsNone(expected.verify(more, {"core": "allow-extra",
                                                 "gpu": "ignore"}))
        self.assertIsNone(expected.verify(other, {"hostname": "ignore"}))
        with self.assertRaises(RError) as ctx:
            expected.verify(fewer, {"core": "allow-missing"})
        self.assertEqual(str(ctx.exception),
                         "rank 0 (foo0) missing resources: gpu[0-1]")
        self.assertEqual(expected.verify(more, {"core": "allow-extra"}),
                         "rank 0 (foo0) has extra resources: gpu[2-3]")
        with self.assertRaises(RError) as ctx:
            expected.verify(more, {"gpu": "sometimes"})
        self.assertEqual(str(ctx.exception),
                         "invalid verify mode 'sometimes' for gpu")


class EqualityTests(SynchronousTestCase):

    def test_eq(self):
        a = make_r("0-1", "0-3", hosts="foo[0-1]")
        self.assertEqual(a, make_r("0-1", "0-3", hosts="foo[0-1]"))
        self.assertNotEqual(a, make_r("0-1", "0-3", hosts="foo[1-2]"))
        self.assertNotEqual(a, make_r("0-1", "0-3"))
        self.assertNotEqual(a, make_r("0-1", "0-2", hosts="foo[0-1]"))
        b = a.copy()
        b.starttime = 5.0
        self.assertNotEqual(a, b)
        b = a.copy().set_property("x")
        self.assertNotEqual(a, b)
        self.assertNotEqual(a, "rank[0-1]/core[0-3]")
        self.assertEqual(repr(a), "Rv1('rank[0-1]/core[0-3]')")

    def test_copy_is_independent(self):
        a = make_r("0-1", "0-3", hosts="foo[0-1]")
        b = a.copy()
        b.set_property("x")
        b.append(make_r("2", "0", hosts="foo2"))
        self.assertEqual(a.properties(), {})
        self.assertEqual(len(a), 2)


# -- property tests ---------------------------------------------------------

_ids = st.sets(st.integers(0, 15), max_size=8).map(IDset)
_props = st.sets(st.sampled_from(["batch", "debug", "big", "+q", "a@gpu"]),
                 max_size=2)


@st.composite
def resource_sets(draw, with_hosts=None):
    ranks = draw(st.sets(st.integers(0, 40), max_size=10))
    if with_hosts is None:
        with_hosts = draw(st.booleans())
    r = Rv1(starttime=draw(st.sampled_from([0.0, 100.0, 1676560542.25])),
            nslots=draw(st.sampled_from([None, 1, 32])),
            scheduling=draw(st.sampled_from([None, {"writer": "x"}])))
    if r.starttime:
        r.expiration = r.starttime + draw(st.integers(1, 3600))
    for rank in sorted(ranks):
        cores, gpus = draw(_ids), draw(_ids)
        if not cores and not gpus:
            cores = IDset("0")
        r.add_rank(rank, f"node{rank}" if with_hosts else None,
                   cores=cores, gpus=gpus)
        props = draw(_props)
        for name in props:
            r.set_property(name, [rank])
    return r


class HypothesisTests(SynchronousTestCase):

    @given(resource_sets())
    def test_decode_encode_round_trip(self, r):
        self.assertEqual(Rv1.decode(r.encode()), r)
        self.assertEqual(Rv1.decode(r.dumps()), r)
        self.assertEqual(Rv1.decode(r.dumps()).dumps(), r.dumps())

    @given(resource_sets(), resource_sets())
    def test_diff_shares_nothing(self, a, b):
        d = a.diff(b)
        self.assertFalse(d.overlaps(b))
        self.assertFalse(b.overlaps(d))
        self.assertEqual(d.intersect(b).count("core"), 0)
        # and nothing was invented: d is part of a
        self.assertEqual(d.diff(a).dumps_short(), "")

    @given(resource_sets(), resource_sets())
    def test_union_contains_both(self, a, b):
        u = a.union(b)
        self.assertEqual(a.diff(u).dumps_short(), "")
        self.assertEqual(b.diff(u).dumps_short(), "")
        self.assertEqual(u.diff(a).diff(b).dumps_short(), "")
        self.assertEqual(u.ranks(), a.ranks() | b.ranks())
        self.assertEqual(u.intersect(a).dumps_short(), a.dumps_short())

    @given(resource_sets(with_hosts=True))
    def test_rerank_by_own_nodelist_is_identity(self, r):
        same = r.rerank(r.nodelist())
        self.assertEqual(same.ranks(), IDset(range(len(r))))
        for new, old in enumerate(r.ranks()):
            self.assertEqual(same.children(new), r.children(old))
            self.assertEqual(same.hostname(new), r.hostname(old))
        backwards = Hostlist(reversed(list(r.nodelist())))
        self.assertEqual(r.rerank(backwards).rerank(r.nodelist()).nodelist(),
                         r.nodelist())

    @given(resource_sets(), resource_sets())
    def test_intersect_commutative(self, a, b):
        ab, ba = a.intersect(b), b.intersect(a)
        self.assertEqual(ab.dumps_short(), ba.dumps_short())
        self.assertEqual(ab.ranks(), ba.ranks())
        self.assertEqual(ab.properties(), ba.properties())

    @given(resource_sets(), resource_sets())
    def test_append_when_disjoint(self, a, b):
        rest = b.diff(a)
        total = a.copy().append(rest)
        self.assertEqual(total.count("core"),
                         a.count("core") + rest.count("core"))
        if rest.count("core") or rest.count("gpu"):
            self.assertTrue(total.overlaps(rest))

    @given(resource_sets())
    def test_remap_dense(self, r):
        remapped = r.remap()
        self.assertEqual(remapped.ranks(), IDset(range(len(r))))
        self.assertEqual(remapped.count("core"), r.count("core"))
        self.assertEqual(remapped.count("gpu"), r.count("gpu"))
