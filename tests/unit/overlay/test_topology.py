"""Tests for :mod:`fluxd.overlay.topology`.

Every check of flux-core's ``src/common/libutil/test/kary.c`` and
``src/modules/overlay/test/topology.c`` (including its internal-ranks
table) is a row here; where flux answers "none" or -1 for a rank outside
the instance we raise :class:`TopologyError` instead.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument
from fluxd.formats.idset import IDset
from fluxd.overlay.topology import Topology, TopologyError

NONE = None


class KaryVectorTests(SynchronousTestCase):
    """libutil/test/kary.c: a size=6 k=2 tree, then k=1."""

    def setUp(self):
        self.t = Topology("kary:2", 6)

    def test_parentof(self):
        for rank, parent in ((0, NONE), (1, 0), (2, 0), (3, 1), (4, 1),
                             (5, 2)):
            self.assertEqual(self.t.parent(rank), parent, rank)

    def test_childof(self):
        rows = [(0, 0, 1), (0, 1, 2), (0, 2, NONE), (1, 0, 3), (1, 1, 4),
                (2, 0, 5), (2, 1, NONE), (3, 0, NONE), (3, 1, NONE),
                (4, 0, NONE), (4, 1, NONE), (5, 0, NONE), (5, 1, NONE)]
        for rank, i, child in rows:
            children = self.t.children(rank)
            got = children[i] if i < len(children) else NONE
            self.assertEqual(got, child, (rank, i))
        # "rank 0 has no child -1": there is no negative child index
        self.assertEqual(len(self.t.children(0)), 2)
        # "rank 6 has no child 0": rank 6 is outside a size=6 instance
        self.assertRaises(TopologyError, self.t.children, 6)

    def test_sum_descendants(self):
        for rank, count in ((0, 5), (1, 2), (2, 1), (3, 0), (4, 0), (5, 0)):
            self.assertEqual(self.t.descendants(rank), count, rank)
        self.assertRaises(TopologyError, self.t.descendants, 6)

    def test_parent_route(self):
        """kary_parent_route(from, to): the upward hop when to is above."""
        rows = [(0, 0, NONE), (0, 1, NONE), (1, 0, 0), (2, 0, 0), (3, 0, 1),
                (4, 0, 1), (5, 0, 2), (1, 1, NONE), (2, 1, NONE),
                (3, 1, 1), (4, 1, 1), (5, 1, NONE), (5, 2, 2)]
        for frm, to, via in rows:
            if via is NONE:
                self.assertFalse(frm != to and self.t.is_ancestor(to, frm),
                                 (frm, to))
            else:
                self.assertTrue(self.t.is_ancestor(to, frm), (frm, to))
                self.assertEqual(self.t.route(frm, to), via, (frm, to))
        # "route up 6>0: none": rank 6 is not in the instance
        self.assertRaises(TopologyError, self.t.route, 6, 0)

    def test_child_route(self):
        rows = [(0, 0, NONE), (1, 0, NONE), (0, 1, 1), (0, 2, 2), (0, 3, 1),
                (0, 4, 1), (0, 5, 2), (1, 3, 3), (1, 4, 4), (2, 3, NONE),
                (2, 4, NONE), (2, 5, 5), (3, 4, NONE)]
        for frm, to, via in rows:
            self.assertEqual(self.t.child_route(frm, to), via, (frm, to))
            if via is not NONE:
                self.assertEqual(self.t.route(frm, to), via)
        for frm in (0, 2):   # "route down 0>6, 2>6: none"
            self.assertRaises(TopologyError, self.t.child_route, frm, 6)

    def test_levelof(self):
        t = Topology("kary:2", 8)
        for rank, level in ((0, 0), (1, 1), (2, 1), (3, 2), (4, 2), (5, 2),
                            (6, 2), (7, 3)):
            self.assertEqual(t.level(rank), level, rank)

    def test_k1_boundary(self):
        t = Topology("kary:1", 6)
        for rank, parent in ((0, NONE), (1, 0), (2, 1), (3, 2)):
            self.assertEqual(t.parent(rank), parent)
        self.assertEqual(t.children(0), [1])
        self.assertEqual(t.children(1), [2])
        self.assertEqual(t.children(2), [3])
        self.assertEqual(t.children(5), [])


def _check_subtree(test, topo, rank, size, count):
    obj = topo.to_json(rank)
    test.assertEqual((obj["rank"], obj["size"], len(obj["children"])),
                     (rank, size, count))


class TopologyVectorTests(SynchronousTestCase):
    """modules/overlay/test/topology.c."""

    def test_flat(self):
        t = Topology(None, 16)
        self.assertEqual(t.size, 16)
        self.assertIsNone(t.parent(0))
        self.assertEqual(t.children(0), list(range(1, 16)))
        self.assertEqual(t.level(0), 0)
        self.assertEqual(t.maxlevel, 1)
        self.assertEqual(t.descendants(0), 15)
        self.assertEqual(t.child_route(0, 5), 5)
        _check_subtree(self, t, 0, 16, 15)
        _check_subtree(self, t, 15, 1, 0)
        self.assertEqual(Topology("kary:0", 16).parents(), t.parents())

    def test_k1(self):
        t = Topology("kary:1", 16)
        self.assertEqual(t.size, 16)
        self.assertIsNone(t.parent(0))
        self.assertEqual(t.children(0), [1])
        self.assertEqual(t.level(0), 0)
        self.assertEqual(t.maxlevel, 15)
        self.assertEqual(t.descendants(0), 15)
        self.assertEqual(t.child_route(0, 5), 1)
        _check_subtree(self, t, 0, 16, 1)
        _check_subtree(self, t, 1, 15, 1)
        _check_subtree(self, t, 15, 1, 0)

    def test_k2(self):
        t = Topology("kary:2", 16)
        self.assertIsNone(t.parent(0))
        self.assertEqual(t.children(0), [1, 2])
        self.assertEqual(t.level(0), 0)
        self.assertEqual(t.maxlevel, 4)
        self.assertEqual(t.descendants(0), 15)
        self.assertEqual(t.child_route(0, 5), 2)
        for rank, size, count in ((0, 16, 2), (1, 8, 2), (2, 7, 2),
                                  (3, 4, 2), (4, 3, 2), (15, 1, 0)):
            _check_subtree(self, t, rank, size, count)

    def test_k2_router(self):
        t = Topology("kary:2", 16)
        self.assertEqual(t.parent(1), 0)
        self.assertEqual(t.children(1), [3, 4])
        self.assertEqual(t.level(1), 1)
        self.assertEqual(t.maxlevel, 4)
        self.assertEqual(t.descendants(1), 7)
        self.assertEqual(t.child_route(1, 10), 4)
        _check_subtree(self, t, 1, 8, 2)

    def test_invalid(self):
        t = Topology(None, 16)
        with self.assertRaises(TopologyError) as cm:
            Topology(None, 0)
        self.assertEqual(str(cm.exception), "invalid topology size 0")
        self.assertIsInstance(cm.exception, InvalidArgument)
        for bad in (-1, 16, 99):
            for query in (t.parent, t.children, t.level, t.descendants,
                          t.subtree, t.to_json):
                with self.assertRaises(TopologyError) as cm:
                    query(bad)
                self.assertEqual(str(cm.exception),
                                 f"{bad} is not a valid rank in this instance")
        # topology_get_child_route (topo, 0 | 99) == -1
        self.assertIsNone(t.child_route(0, 0))
        self.assertRaises(TopologyError, t.child_route, 0, 99)

    INTERNAL_RANKS = [
        (1, "kary:2", ""),
        (2, "kary:2", "0"),
        (4, "kary:2", "0-1"),
        (4, "kary:0", "0"),
        (16, "kary:2", "0-7"),
        (48, "kary:2", "0-23"),
        (48, "kary:0", "0"),
        (48, "kary:16", "0-2"),
        (4, "binomial", "0,2"),
        (8, "binomial", "0,2,4,6"),
        (16, "binomial", "0,2,4,6,8,10,12,14"),
        (4096, "mincrit:0", "0"),
        (1, "mincrit:2", ""),
        (2, "mincrit:2", "0"),
        (3, "mincrit:2", "0"),
        (4, "mincrit:2", "0-1"),
        (5, "mincrit:2", "0-2"),
        (6, "mincrit:2", "0-2"),
        (7, "mincrit:2", "0-2"),
        (1024, "mincrit:2", "0-2"),
        (512, "mincrit", "0"),
        (1025, "mincrit", "0"),        # leader has 1024 children
        (1026, "mincrit", "0-2"),
        (2051, "mincrit", "0-2"),      # 2 routers with 1024 children each
        (2052, "mincrit", "0-3"),
        (10800, "mincrit", "0-11"),    # a large El Capitan run
    ]

    def test_internal_ranks(self):
        self.assertEqual(len(self.INTERNAL_RANKS), 26)
        for size, uri, expected in self.INTERNAL_RANKS:
            t = Topology(uri, size)
            self.assertEqual(t.internal_ranks(), list(IDset.decode(expected)),
                             (size, uri))
            self.assertEqual(t.critical_ranks(),
                             sorted({0, *IDset.decode(expected)}))

    @staticmethod
    def pmap(rows, size):
        """topology.c's pmap_hosts(): host names test<rank> + parent names."""
        hosts = [f"test{r}" for r in range(size)]
        parents = {}
        for parent, children in rows:
            for child in IDset.decode(children):
                parents[child] = f"test{parent}"
        return hosts, parents

    CUST1 = [(0, "1,2,64,128,192"), (1, "3-63"), (64, "65-127"),
             (128, "129-191"), (192, "193-255")]

    def assertTopologyError(self, message, *args, **kwargs):
        with self.assertRaises(TopologyError) as cm:
            Topology(*args, **kwargs)
        self.assertEqual(str(cm.exception), message)

    def test_custom(self):
        self.assertTopologyError(
            "unknown custom topology directive: 'zzz'", "custom:zzz", 256)
        t = Topology("custom:", 256)
        self.assertEqual(t.children(0), list(range(1, 256)))
        self.assertTopologyError(
            "custom topology parents must map rank to parent",
            "custom:", 2, parents=[("x", "y")])

    def test_custom_rank0_parent(self):
        hosts, parents = self.pmap([(1, "0")], 2)
        self.assertTopologyError(
            "rank 0 (test0) may not have a parent in a tree topology",
            "custom:", 2, parents=parents, hosts=hosts)

    def test_custom_cycle(self):
        hosts, parents = self.pmap([(1, "2"), (2, "3"), (3, "1")], 16)
        self.assertTopologyError(
            'parent "test2" for test3 (rank 3) violates rule against cycles',
            "custom:", 16, parents=parents, hosts=hosts)

    def test_custom_self_parent(self):
        hosts, parents = self.pmap([(1, "1")], 16)
        self.assertTopologyError(
            'parent "test1" for test1 (rank 1) violates rule against cycles',
            "custom:", 16, parents=parents, hosts=hosts)

    def test_custom_size_mismatch(self):
        hosts, parents = self.pmap(self.CUST1, 256)
        self.assertTopologyError(
            "topology size does not match host array size",
            "custom:", 2, parents=parents, hosts=hosts)
        # without names: a parent entry beyond the size is the same error
        self.assertTopologyError(
            "topology size does not match host array size",
            "custom", 2, parents={3: 0})

    def test_custom_256(self):
        hosts, parents = self.pmap(self.CUST1, 256)
        t = Topology("custom:", 256, parents=parents, hosts=hosts)
        self.assertEqual(t.parent(1), 0)
        self.assertEqual(t.level(1), 1)
        self.assertEqual(t.descendants(1), 61)
        self.assertEqual(t.internal_ranks(), list(IDset.decode("0-1,64,128,192")))
        self.assertEqual(t.maxlevel, 2)

    def test_custom_by_rank(self):
        t = Topology("custom", 5, parents={2: 1, 3: 1, 4: 3})
        self.assertEqual(t.parents(), [None, 0, 1, 1, 3])
        self.assertEqual(t.route(4, 2), 3)
        self.assertEqual(t.route(0, 4), 1)
        self.assertTopologyError('invalid parent "7" for rank 2',
                                 "custom", 5, parents={2: 7})
        self.assertTopologyError("rank 0 may not have a parent in a tree "
                                 "topology", "custom", 5, parents={0: 1})
        self.assertTopologyError('parent "1" for rank 2 violates rule '
                                 'against cycles', "custom", 5,
                                 parents={1: 2, 2: 1})
        self.assertTopologyError('invalid parent "nosuch" for test1 (rank 1)',
                                 "custom", 2, parents={1: "nosuch"},
                                 hosts=["test0", "test1"])
        self.assertTopologyError("invalid rank -1 in custom topology",
                                 "custom", 2, parents={-1: 0})
        # a named parent needs the host names
        self.assertTopologyError('invalid parent "test0" for rank 1',
                                 "custom", 2, parents={1: "test0"})

    def test_custom_parents_ignored_by_other_schemes(self):
        t = Topology("kary:2", 4, parents={1: 3})
        self.assertEqual(t.parents(), [None, 0, 0, 1])

    def test_binomial5(self):
        self.assertTopologyError("unknown binomial topology directive: 'zz'",
                                 "binomial:zz", 5)
        t = Topology("binomial", 5)
        self.assertEqual((t.parent(1), t.children(1), t.level(1)), (0, [], 1))
        self.assertEqual((t.parent(2), t.children(2), t.level(2)), (0, [3], 1))
        self.assertEqual((t.parent(3), t.children(3), t.level(3)), (2, [], 2))
        self.assertEqual((t.parent(4), t.children(4), t.level(4)), (0, [], 1))
        self.assertEqual(Topology("binomial:", 5).parents(), t.parents())

    def test_mincrit5(self):
        self.assertTopologyError("mincrit k value must be an integer >= 0",
                                 "mincrit:zz", 5)
        t = Topology("mincrit:2", 5)
        self.assertEqual((t.parent(1), len(t.children(1)), t.level(1)),
                         (0, 1, 1))
        self.assertEqual((t.parent(2), len(t.children(2)), t.level(2)),
                         (0, 1, 1))
        self.assertEqual((t.parent(3), len(t.children(3)), t.level(3)),
                         (1, 0, 2))
        self.assertEqual((t.parent(4), len(t.children(4)), t.level(4)),
                         (2, 0, 2))


class UriErrorTests(SynchronousTestCase):

    def test_bad_uris(self):
        for uri, message in (
                ("foo", "unknown topology scheme 'foo'"),
                ("", "unknown topology scheme ''"),
                ("karY:2", "unknown topology scheme 'karY'"),
                ("kary", "kary k value must be an integer >= 0"),
                ("kary:", "kary k value must be an integer >= 0"),
                ("kary:x", "kary k value must be an integer >= 0"),
                ("kary:-1", "kary k value must be an integer >= 0"),
                ("kary:+2", "kary k value must be an integer >= 0"),
                ("kary:2 ", "kary k value must be an integer >= 0"),
                ("mincrit:-2", "mincrit k value must be an integer >= 0"),
                ("custom:x", "unknown custom topology directive: 'x'")):
            with self.assertRaises(TopologyError) as cm:
                Topology(uri, 4)
            self.assertEqual(str(cm.exception), message, uri)

    def test_bad_sizes(self):
        for size in (0, -1, 1.5, "4", True):
            self.assertRaises(TopologyError, Topology, "kary:2", size)

    def test_mincrit_without_k(self):
        self.assertEqual(Topology("mincrit:", 10).internal_ranks(), [0])
        self.assertEqual(Topology("mincrit", 1).internal_ranks(), [])

    def test_huge_k_is_flat(self):
        t = Topology("kary:1000000", 5)
        self.assertEqual(t.parents(), [None, 0, 0, 0, 0])


class QueryTests(SynchronousTestCase):

    def test_single_broker(self):
        t = Topology("kary:32", 1)
        self.assertEqual((t.parent(0), t.children(0), t.level(0), t.maxlevel,
                          t.descendants(0), t.subtree(0)),
                         (None, [], 0, 0, 0, []))
        self.assertEqual(t.critical_ranks(), [0])
        self.assertEqual(t.route(0, 0), 0)

    def test_subtree_and_ancestors(self):
        t = Topology("kary:2", 16)
        self.assertEqual(t.subtree(1), [3, 4, 7, 8, 9, 10, 15])
        self.assertEqual(t.subtree(15), [])
        self.assertEqual(t.ancestors(15), [7, 3, 1, 0])
        self.assertEqual(t.ancestors(0), [])
        self.assertTrue(t.is_ancestor(1, 15))
        self.assertFalse(t.is_ancestor(2, 15))
        self.assertFalse(t.is_ancestor(15, 15))

    def test_route_up_then_down(self):
        t = Topology("kary:2", 16)
        hops, at = [], 15
        while at != 10:
            at = t.next_hop(at, 10)
            hops.append(at)
        self.assertEqual(hops, [7, 3, 1, 4, 10])

    def test_deep_tree_json(self):
        t = Topology("kary:1", 5000)
        obj = t.to_json()
        depth = 0
        while obj["children"]:
            obj = obj["children"][0]
            depth += 1
        self.assertEqual((depth, t.maxlevel), (4999, 4999))

    def test_returned_lists_are_copies(self):
        t = Topology("kary:2", 4)
        t.children(0).append(99)
        t.parents()[1] = 99
        self.assertEqual(t.children(0), [1, 2])
        self.assertEqual(t.parent(1), 0)


_URIS = st.sampled_from(["kary:0", "kary:1", "kary:2", "kary:3", "kary:32",
                         "mincrit", "mincrit:2", "mincrit:5", "binomial",
                         "custom", None])


class PropertyTests(SynchronousTestCase):

    @settings(max_examples=80, deadline=None)
    @given(_URIS, st.integers(1, 300), st.data())
    def test_routes_reach_their_target(self, uri, size, data):
        t = Topology(uri, size)
        frm = data.draw(st.integers(0, size - 1))
        to = data.draw(st.integers(0, size - 1))
        at, hops = frm, 0
        while at != to:
            at = t.route(at, to)
            hops += 1
            self.assertLessEqual(hops, 2 * t.maxlevel)
        # the tree is consistent with itself
        self.assertEqual(sum(len(t.children(r)) for r in range(size)),
                         size - 1)
        self.assertEqual(t.descendants(0), size - 1)
        self.assertEqual(len(t.subtree(frm)), t.descendants(frm))
        self.assertEqual(len(t.ancestors(frm)), t.level(frm))
        for child in t.children(frm):
            self.assertEqual(t.parent(child), frm)
