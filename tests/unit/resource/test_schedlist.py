"""Tests for the scheduler view of resources (fluxd.resource._schedlist,
re-exported by fluxd.resource.status).

Every ``flux-resource/list`` vector is rendered as the vectors README
says (list with its format, info, R); queue handling follows flux-core's
``t2350-resource-list.t`` with ``fluke.config``.
"""

import glob
import json
import os

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.formatting import Formatter
from fluxd.errors import InvalidArgument
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import Rv1
from fluxd.resource.status import (
    LIST_HEADINGS, InvalidState, ListLine, SchedResourceList, list_lines,
    sched_R,
)
from tests import VECTORS as ALL_VECTORS

VECTORS = os.path.join(ALL_VECTORS, "flux-resource", "list")
FORMAT = "{state:>10} {properties:<10} {nnodes:>6} {ncores:>8} {ngpus:>8}"
INFO = "{nnodes} Nodes, {ncores} Cores, {ngpus} GPUs"
NAMES = ["fluke", "fluxion", "missing", "normal-input", "normal-new",
         "null"]


def load(name):
    with open(os.path.join(VECTORS, name + ".json")) as f:
        return SchedResourceList(json.load(f))


def expected(name):
    with open(os.path.join(VECTORS, name)) as f:
        return f.read()


def fluke_config():
    with open(os.path.join(VECTORS, "fluke.config")) as f:
        return json.load(f)


def render(resources, fmt=FORMAT, no_header=False, **kw):
    formatter = Formatter(fmt, LIST_HEADINGS)
    return formatter.render(list_lines(resources, formatter, **kw),
                            no_header=no_header)


def text(lines):
    return "".join(line + "\n" for line in lines)


class VectorTests(SynchronousTestCase):

    def test_names(self):
        self.assertEqual(sorted(os.path.basename(p)[:-5] for p in
                                glob.glob(os.path.join(VECTORS, "*.json"))),
                         NAMES)

    def test_list(self):
        for name in NAMES:
            self.assertEqual(text(render(load(name))),
                             expected(name + ".expected"), name)

    def test_info(self):
        for name in NAMES:
            self.assertEqual(text(render(load(name), INFO, no_header=True,
                                         states=["all"])),
                             expected(name + "-info.expected"), name)

    def test_R(self):
        for name in NAMES:
            self.assertEqual(sched_R(load(name)).dumps() + "\n",
                             expected(name + ".R"), name)


class ModelTests(SynchronousTestCase):

    def test_partial_allocation(self):
        res = load("fluxion")
        self.assertEqual(res.up.dumps_short(), "rank[0-2]/core[0-3]")
        self.assertEqual(res.free.dumps_short(),
                         "rank[0-1]/core[0-1] rank2/core[0-3]")
        self.assertEqual(res["allocated"].count("core"), 4)

    def test_missing_and_null_sets_are_empty(self):
        for name in ("missing", "null"):
            res = load(name)
            self.assertFalse(res.down)
            self.assertFalse(res.allocated)
            self.assertEqual(res.free, res.all)

    def test_bad_input(self):
        self.assertRaises(InvalidArgument, SchedResourceList, [1])
        with self.assertRaises(InvalidArgument) as cm:
            SchedResourceList({"all": {"version": 1}})
        self.assertIn("all: ", str(cm.exception))
        self.assertRaises(InvalidArgument, load("null").__getitem__, "bogus")

    def test_filter(self):
        res = load("fluke")
        res.filter("fluke[3-4],fluke17,nosuchhost")
        self.assertEqual(res.all.ranks(), IDset("0-1,14"))
        self.assertEqual(res.down.ranks(), IDset("14"))
        self.assertEqual(res.free.ranks(), IDset("0-1"))
        res = load("fluke")
        res.filter("93-94")
        self.assertEqual(res.up.ranks(), IDset("93"))

    def test_line_fields(self):
        res = load("normal-new")
        line = ListLine(res.all.copy_ranks("0-1"), "free")
        self.assertEqual((line.state, line.nnodes, line.ncores, line.ngpus,
                          line.ranks, line.nodelist, line.rlist,
                          line.properties, line.propertiesx, line.queue),
                         ("free", 2, 8, 0, "0-1", "pi[3,0]",
                          "rank[0-1]/core[0-3]", "8g", "8g", ""))
        line.add(ListLine(res.all.copy_ranks("4"), "free"))
        self.assertEqual((line.nnodes, line.nodelist), (3, "pi[3,0,4]"))

    def test_line_without_hostnames(self):
        line = ListLine(load("fluxion").all, "all")
        self.assertEqual((line.nodelist, line.nnodes), ("", 4))


class LineTests(SynchronousTestCase):

    def test_states_order_and_invalid(self):
        lines = render(load("fluxion"), "{state} {nnodes}", no_header=True,
                       states=["down", "up", "all"])
        self.assertEqual(lines, ["down 1", "up 3", "all 4"])
        with self.assertRaises(InvalidState) as cm:
            render(load("fluxion"), states=["free", "bogus"])
        self.assertEqual(str(cm.exception),
                         "Invalid resource state bogus specified")

    def test_lone_field_merges_everything(self):
        self.assertEqual(render(load("fluke"), "{nnodes}", no_header=True),
                         ["101"])
        self.assertEqual(render(load("fluke"), "{properties}",
                                no_header=True), ["batch,debug"])
        self.assertEqual(render(load("fluke"), "{state}", no_header=True),
                         ["free", "allocated", "down"])

    def test_queue_column_with_config(self):
        lines = render(load("fluke"), "{state:>10} {queue:<6} "
                       "{propertiesx:<5}|{nnodes:>4}", config=fluke_config())
        self.assertEqual(lines, [
            "     STATE QUEUE  PROPERTIES|NNODES",
            "      free batch       |  83",
            "      free debug       |   5",
            " allocated batch       |   0",
            " allocated debug       |   0",
            "      down batch       |  10",
            "      down debug       |   3",
        ])

    def test_queue_listed_for_empty_state(self):
        lines = render(load("fluke"), "{queue} {state} {nnodes}",
                       no_header=True, states=["allocated"],
                       config=fluke_config())
        self.assertEqual(lines, ["batch allocated 0", "debug allocated 0"])
        lines = render(load("fluke"), "{queue} {state} {nnodes}",
                       no_header=True, states=["allocated"],
                       config=fluke_config(), queues=["debug"])
        self.assertEqual(lines, ["debug allocated 0"])

    def test_skip_empty(self):
        lines = render(load("fluke"), "{state} {nnodes}", no_header=True,
                       skip_empty=True)
        self.assertEqual(lines, ["free 88", "down 13"])

    def test_properties_beyond_queues(self):
        all_ = Rv1.decode({"version": 1, "execution": {
            "R_lite": [{"rank": "0-3", "children": {"core": "0-3"}}],
            "nodelist": ["fluke[100-103]"],
            "properties": {"batch": "0-1", "debug": "2-3",
                           "testprop": "3"}}})
        res = SchedResourceList({"all": all_.encode()})
        config = {"queues": {"batch": {"requires": ["batch"]},
                             "debug": {"requires": ["debug"]},
                             "every": {}}}
        lines = render(res, "{state:>5} {queue:<18} {propertiesx:<8} "
                       "{nnodes} {nodelist}", config=config,
                       states=["free"])
        self.assertEqual(lines, [
            "STATE QUEUE              PROPERTIES NNODES NODELIST",
            " free batch,every                 2 fluke[100-101]",
            " free debug,every                 1 fluke102",
            " free debug,every        testprop 1 fluke103",
        ])

    def test_spec_default_list_layout(self):
        # spec/cli.md section 1's example data, reduced: one property-only
        # node and a down queue, rendered with the default list format.
        all_ = Rv1.decode({"version": 1, "execution": {
            "R_lite": [{"rank": "0-3", "children": {"core": "0-3"}}],
            "nodelist": ["fluke[100-103]"],
            "properties": {"batch": "0-1", "debug": "2-3",
                           "testprop": "3"}}})
        down = all_.copy_ranks("1")
        res = SchedResourceList({"all": all_.encode(),
                                 "down": down.encode()})
        fmt = ("{state:>10} ?+:{queue:<5} ?:{propertiesx:<10.10+} "
               "{nnodes:>6} +:{ncores:>6} ?+:{ngpus:>5} {nodelist}")
        config = {"queues": {"batch": {"requires": ["batch"]},
                             "debug": {"requires": ["debug"]}}}
        self.assertEqual(render(res, fmt, config=config, queues=None), [
            "     STATE QUEUE PROPERTIES NNODES NCORES NGPUS NODELIST",
            "      free batch                 1      4     0 fluke100",
            "      free debug                 1      4     0 fluke102",
            "      free debug testprop        1      4     0 fluke103",
            " allocated batch                 0      0     0 ",
            " allocated debug                 0      0     0 ",
            "      down batch                 1      4     0 fluke101",
        ])


class RTests(SynchronousTestCase):

    def test_states_union(self):
        res = load("fluxion")
        self.assertEqual(sched_R(res, ["down", "allocated"]).dumps_short(),
                         "rank[0-1]/core[2-3] rank3/core[0-3]")
        self.assertEqual(sched_R(res, ["free"]).count("core"), 8)
        self.assertRaises(InvalidState, sched_R, res, ["nope"])
