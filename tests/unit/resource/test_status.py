"""Tests for the system view of resources (fluxd.resource.status).

Every ``flux-resource/status`` vector is rendered with the format of the
vectors README; the other cases follow flux-core's
``t2354-resource-status.t`` (merging, skip-empty, --include, --queue) and
spec/cli.md section 1.
"""

import glob
import json
import os
import time

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.formatting import Formatter
from fluxd.errors import InvalidArgument
from fluxd.formats.idset import IDset
from fluxd.resource.status import (
    DEFAULT_STATUS_STATES, STATUS_HEADINGS, STATUS_STATES, InvalidState,
    ResourceStatus, StatusLine, check_states, queue_ranks, status_lines,
)
from tests import VECTORS as ALL_VECTORS

VECTORS = os.path.join(ALL_VECTORS, "flux-resource", "status")
FORMAT = "{state:>10} {nnodes:>6} {ranks:<15} {nodelist}"


def load(name):
    with open(os.path.join(VECTORS, name + ".json")) as f:
        return json.load(f)


def fluke_config():
    with open(os.path.join(VECTORS, "fluke.config")) as f:
        return json.load(f)


def render(rstatus, fmt=FORMAT, states=None, skip_empty=False,
           no_header=False):
    formatter = Formatter(fmt, STATUS_HEADINGS)
    lines = status_lines(rstatus, formatter, states=states,
                         skip_empty=skip_empty)
    return formatter.render(lines, no_header=no_header)


class VectorTests(SynchronousTestCase):

    def test_every_status_vector(self):
        names = sorted(os.path.basename(p)[:-5]
                       for p in glob.glob(os.path.join(VECTORS, "*.json")))
        self.assertEqual(names, ["drain", "example", "exclude", "fluke",
                                 "offline", "simple", "torpid"])
        for name in names:
            with open(os.path.join(VECTORS, name + ".expected")) as f:
                expected = f.read()
            got = "".join(line + "\n"
                          for line in render(ResourceStatus(load(name))))
            self.assertEqual(got, expected, name)

    def test_include_rank_zero_on_every_vector(self):
        for path in glob.glob(os.path.join(VECTORS, "*.json")):
            rstatus = ResourceStatus(load(os.path.basename(path)[:-5]))
            rstatus.filter("0")
            lines = render(rstatus, "{ranks} {nodelist}", no_header=True)
            self.assertTrue(lines, path)
            for line in lines:
                self.assertRegex(line, r"^0[^,-]", path)


class ModelTests(SynchronousTestCase):

    def test_example_sets(self):
        rs = ResourceStatus(load("example"))
        self.assertEqual(rs.all, IDset("0-3"))
        self.assertEqual(rs.avail, IDset("2-3"))
        self.assertEqual(rs.exclude, IDset("0"))
        self.assertEqual(rs.drained, IDset("0-1"))
        self.assertEqual(rs.draining, IDset())
        self.assertEqual(rs.offline, IDset("1"))
        self.assertEqual(rs.get_idset("exclude", "offline"), IDset("0-1"))
        self.assertEqual(rs.get_drain_info(1).reason, "testing drain")
        self.assertIsNone(rs.get_drain_info(2))
        self.assertEqual(str(rs.nodelist(IDset("1-2"))), "foo[2-3]")

    def test_allocated_drained_node_is_draining(self):
        rs = ResourceStatus(load("drain"), allocated="1-2")
        self.assertEqual(rs.draining, IDset("1"))
        self.assertEqual(rs.drained, IDset("0"))
        self.assertEqual(rs.avail, IDset("2-3"))
        self.assertEqual(render(rs), [
            "     STATE NNODES RANKS           NODELIST",
            "     avail      2 2-3             foo[3-4]",
            "  draining      1 1               foo2",
            "   drained      1 0               foo1",
        ])

    def test_torpid_not_avail_and_not_shown_when_drained(self):
        rs = ResourceStatus(load("torpid"))
        self.assertEqual(rs.avail, IDset("2"))
        self.assertEqual(rs.torpid, IDset("1,3"))
        # Without drain states in the list, rank 1 shows as torpid.
        self.assertEqual(render(rs, states=["torpid"]), [
            "     STATE NNODES RANKS           NODELIST",
            "    torpid      2 1,3             foo[2,4]",
        ])

    def test_allocated_and_housekeeping_states(self):
        rs = ResourceStatus(load("simple"), allocated="0-1",
                            housekeeping="1")
        self.assertEqual(render(rs, states=["allocated", "housekeeping"]), [
            "     STATE NNODES RANKS           NODELIST",
            " allocated      2 0-1             foo[1-2]",
            "housekeeping      1 1               foo2",
        ])
        # housekeeping is a default state, allocated is not.
        self.assertIn("housekeeping", DEFAULT_STATUS_STATES)
        self.assertEqual(len(render(rs)), 3)

    def test_empty_input(self):
        rs = ResourceStatus(None)
        self.assertEqual(rs.all, IDset())
        self.assertEqual(render(rs), [
            "     STATE NNODES RANKS           NODELIST"])

    def test_malformed_input(self):
        self.assertRaises(InvalidArgument, ResourceStatus, [])
        self.assertRaises(InvalidArgument, ResourceStatus,
                          dict(load("simple"), online="0-x"))
        self.assertRaises(InvalidArgument, ResourceStatus,
                          dict(load("simple"), offline=5))
        self.assertRaises(InvalidArgument, ResourceStatus,
                          dict(load("simple"), drain=["0"]))
        self.assertRaises(InvalidArgument, ResourceStatus,
                          dict(load("simple"), R={"version": 1}))

    def test_status_line_fields(self):
        line = StatusLine("drained", False, "1", "foo2", reason="r",
                          timestamp=1.5)
        self.assertEqual((line.state, line.statex, line.status, str(line.up),
                          line.up.ascii, line.offline, line.nnodes,
                          line.ranks, line.nodelist),
                         ("drained*", "drained", "offline", "✗", "n", True,
                          1, "1", "foo2"))
        self.assertEqual(line.color_up, "\033[01;31m")
        self.assertEqual(line.color_off, "\033[0;0m")
        line.update("0", "foo1")
        self.assertEqual((line.nnodes, line.ranks, line.nodelist),
                         (2, "0-1", "foo[1-2]"))


class StatesTests(SynchronousTestCase):

    def test_check_states(self):
        check_states(["avail", "drain"], STATUS_STATES)
        with self.assertRaises(InvalidState) as cm:
            check_states(["avail", "frelled"], STATUS_STATES)
        self.assertEqual(str(cm.exception),
                         "Invalid resource state frelled specified")
        self.assertRaises(InvalidState, render,
                          ResourceStatus(load("simple")), states=["up"])

    def test_explicit_state_shows_empty_line(self):
        rs = ResourceStatus(load("simple"))
        self.assertEqual(render(rs, "{state}", states=["exclude"],
                                no_header=True), ["exclude"])
        self.assertEqual(render(rs, "{state}", states=["exclude"],
                                skip_empty=True, no_header=True), [])

    def test_drain_states_one_empty_line_each(self):
        rs = ResourceStatus(load("simple"))
        self.assertEqual(render(rs, "{state}", states=["drain"],
                                no_header=True), ["draining", "drained"])

    def test_all(self):
        rs = ResourceStatus(load("example"))
        self.assertEqual(render(rs, "{state} {nnodes}", states=["all"],
                                no_header=True), [
            "avail 2", "exclude 1", "allocated 0", "torpid 0",
            "housekeeping 0", "draining 0", "drained 1", "drained* 1"])
        self.assertEqual(render(rs, "{nodelist}", states=["all"],
                                no_header=True),
                         ["foo[1,1-4]"])

    def test_online_offline_selection(self):
        rs = ResourceStatus(load("example"))
        self.assertEqual(render(rs, "{state} {nnodes}", states=["offline"],
                                no_header=True),
                         ["avail* 0", "exclude* 0", "torpid* 0",
                          "housekeeping* 0", "drained* 1"])
        self.assertEqual(render(rs, "{state} {nnodes}", states=["online"],
                                skip_empty=True, no_header=True),
                         ["avail 2", "exclude 1", "drained 1"])
        # Naming offline (or online) alone restricts every state to it.
        self.assertEqual(render(rs, "{state} {nnodes}",
                                states=["avail", "offline"], no_header=True),
                         ["avail* 0"])
        self.assertEqual(render(rs, "{state} {nnodes}",
                                states=["avail", "online", "offline"],
                                no_header=True), ["avail 2", "avail* 0"])

    def test_offline_empty_lines_hidden_unless_offline_asked(self):
        rs = ResourceStatus(load("simple"))
        self.assertEqual(render(rs, "{state}", states=["avail"],
                                no_header=True), ["avail"])


class MergeTests(SynchronousTestCase):

    def setUp(self):
        old = os.environ.get("TZ")
        os.environ["TZ"] = "UTC"
        time.tzset()
        self.addCleanup(self._restore_tz, old)

    @staticmethod
    def _restore_tz(old):
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()

    def drain_lines(self, fmt):
        return render(ResourceStatus(load("drain")), fmt, states=["drain"],
                      skip_empty=True, no_header=True)

    def test_similar_lines_combined(self):
        self.assertEqual(self.drain_lines("{state:>8} {nnodes}"),
                         [" drained 2"])
        self.assertEqual(len(self.drain_lines(
            "{state:>8} {nnodes:>6} {reason}")), 2)

    def test_lines_combined_based_on_format(self):
        self.assertEqual(len(self.drain_lines(
            "{timestamp} {state:>8} {nnodes}")), 2)
        self.assertEqual(self.drain_lines(
            "{timestamp!d:%F::<12} {state:>8} {nnodes}"),
            ["2020-12-09    drained 2"])

    def test_reason_lines(self):
        self.assertEqual(self.drain_lines("{reason}"),
                         ["bad node", "testing drain"])

    def test_status_up_fields(self):
        rs = ResourceStatus(load("example"))
        self.assertEqual(render(rs, "{status:>8} {nnodes}"),
                         ["  STATUS NNODES", "  online 4", " offline 1"])
        self.assertEqual(render(rs, "{up:>2} {nnodes}"),
                         ["UP NNODES", " ✔ 4", " ✗ 1"])
        self.assertEqual(render(rs, "{up.ascii:>2} {nnodes}"),
                         ["UP NNODES", " y 4", " n 1"])

    def test_headers_of_all_fields(self):
        fmt = ("state=={state}\nstatus=={status}\nnnodes=={nnodes}\n"
               "ranks=={ranks}\nnodelist=={nodelist}\nreason=={reason}\n"
               "timestamp=={timestamp}")
        self.assertEqual(render(ResourceStatus(None), fmt), [
            "state==STATE\nstatus==STATUS\nnnodes==NNODES\nranks==RANKS\n"
            "nodelist==NODELIST\nreason==REASON\ntimestamp==TIME"])


class FilterTests(SynchronousTestCase):

    def test_include_ranks(self):
        rs = ResourceStatus(load("drain"))
        rs.filter("1,3")
        self.assertEqual(render(rs, "{nnodes}", no_header=True), ["2"])

    def test_include_hosts(self):
        rs = ResourceStatus(load("drain"))
        rs.filter("foo[1,3]")
        self.assertEqual(render(rs, "{nodelist}", no_header=True),
                         ["foo[1,3]"])

    def test_include_unknown_host_is_empty(self):
        rs = ResourceStatus(load("drain"))
        rs.filter("foo7")
        self.assertEqual(render(rs, "{nodelist}", no_header=True), [])

    def test_include_garbage(self):
        rs = ResourceStatus(load("drain"))
        self.assertRaises(InvalidArgument, rs.filter, "foo[")

    def queue_lines(self, queue):
        rs = ResourceStatus(load("fluke"))
        rs.filter_ranks(queue_ranks(rs.rset, fluke_config(), [queue]))
        return render(rs)

    def test_queue_debug(self):
        self.assertEqual(self.queue_lines("debug"), [
            "     STATE NNODES RANKS           NODELIST",
            "     avail      5 93,96-99        fluke[96,99-102]",
            "    avail*      3 94-95,100       fluke[97-98,103]",
        ])

    def test_queue_batch(self):
        self.assertEqual(self.queue_lines("batch"), [
            "     STATE NNODES RANKS           NODELIST",
            "     avail     80 3-13,16-20,22-39,41-57,59-61,63-72,75,77-88,"
            "90-92 fluke[6-16,19-23,25-42,44-60,62-64,66-75,78,80-91,93-95]",
            "    avail*      8 14,21,58,62,73-74,76,89 "
            "fluke[17,24,61,65,76-77,79,92]",
            "   drained      2 15,40           fluke[18,43]",
        ])

    def test_queue_errors(self):
        rs = ResourceStatus(load("fluke"))
        with self.assertRaises(InvalidArgument) as cm:
            queue_ranks(rs.rset, fluke_config(), ["foo"])
        self.assertEqual(str(cm.exception), "foo: no such queue")
        self.assertRaises(InvalidArgument, queue_ranks, rs.rset, None,
                          ["batch"])

    def test_queue_without_requires_is_everything(self):
        rs = ResourceStatus(load("fluke"))
        config = {"queues": {"all": {}, "batch": {"requires": ["batch"]}}}
        self.assertEqual(queue_ranks(rs.rset, config, ["all"]), rs.all)
        self.assertEqual(queue_ranks(rs.rset, config, ["all", "batch"]),
                         rs.all)
