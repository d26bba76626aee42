"""Match policies: the ranks and ids each one picks (after flux-sched's
t1021/t3033 node-exclusive and t3037/t4010 custom policy tests; ids in a
rank as t3001's expected outputs for ``high``, ``first`` and ``hinode``,
``t/data/resource/expected/basics/001, 041, 057.R.out``, and the
node-locality test's ``expected/node_locality/002.R.out``: the highest
first under every ``policy=high`` one)."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.sched.match import MatchError, MatchPolicy
from fluxd.sched.policy import Request
from tests.unit.sched.test_fluxion import Job, Sim, cluster, nodes


def picks(match, *reqs, busy=(), n=4, cores=4, props=None):
    """Summaries of ``reqs`` allocated in turn after ``busy`` ones."""
    sim = Sim(cluster(n=n, cores=cores, match=match, props=props))
    jobs = [Job(i, r) for i, r in enumerate(busy + reqs, 1)]
    sim.submit(*jobs)
    return [sim.summary(j.id) if j.id in sim.R else None
            for j in jobs[len(busy):]]


ONE = Request(1, 1, duration=10)
TWO = Request(2, 1, duration=10)


class BuiltinTests(SynchronousTestCase):
    def test_first_fills_high_ranks_high_ids(self):
        # Fluxion's first: policy=high node_centric=true
        # stop_on_1_matches=true (basics/041.R.out: socket1's cores
        # 18-35 of node1 first)
        self.assertEqual(picks("first", ONE, TWO),
                         ["rank3/core3", "rank3/core[1-2]"])
        self.assertEqual(picks("first", Request(6, 1, duration=1)),
                         ["rank2/core[2-3] rank3/core[0-3]"])
        self.assertEqual(picks("first", ONE, busy=(nodes(1, 99),)),
                         ["rank2/core3"])

    def test_low_fills_low_ranks(self):
        self.assertEqual(picks("low", ONE), ["rank0/core0"])

    def test_high_takes_high_ranks_and_ids(self):
        self.assertEqual(picks("high", ONE, TWO),
                         ["rank3/core3", "rank3/core[1-2]"])

    def test_hinode_high_ranks_high_ids_lonode_low_ones(self):
        # basics/057.R.out: hinode's 8-core slots take node1's cores
        # 28-35, then 20-27; node_locality/002.R.out: 37 one-core slots
        # on 36-core nodes take node7 whole and node6's core35;
        # node_locality/012.R.out (lonode): node0 whole, node1's core0
        self.assertEqual(picks("hinode", ONE, TWO),
                         ["rank3/core3", "rank3/core[1-2]"])
        self.assertEqual(picks("hinode", Request(5, 1, duration=1)),
                         ["rank2/core3 rank3/core[0-3]"])
        self.assertEqual(picks("lonode", ONE), ["rank0/core0"])
        self.assertEqual(picks("lonode", Request(5, 1, duration=1)),
                         ["rank0/core[0-3] rank1/core0"])

    def test_nodex_policies_take_whole_nodes(self):
        self.assertEqual(picks("lonodex", ONE, TWO),
                         ["rank0/core[0-3]", "rank1/core[0-3]"])
        self.assertEqual(picks("hinodex", ONE), ["rank3/core[0-3]"])
        self.assertEqual(picks("firstnodex", ONE, TWO),
                         ["rank3/core[0-3]", "rank2/core[0-3]"])
        # 6 one-core slots on 4-core nodes: two whole nodes
        self.assertEqual(picks("lonodex", Request(6, 1, duration=1)),
                         ["rank[0-1]/core[0-3]"])

    def test_lonodex_packing_leaves_no_node_shared(self):
        sim = Sim(cluster(match="lonodex"))
        sim.submit(*[Job(i, ONE) for i in range(1, 6)])
        self.assertEqual(sorted(sim.summary(i) for i in range(1, 5)),
                         [f"rank{r}/core[0-3]" for r in range(4)])
        self.assertNotIn(5, sim.started)

    def test_locality_packs_partly_used_nodes_first(self):
        busy = (Request(1, 3, nnodes=1, duration=99),)  # rank0: 1 free
        self.assertEqual(picks("locality", ONE, busy=busy), ["rank0/core3"])
        self.assertEqual(picks("locality", TWO, busy=busy),
                         ["rank0/core3 rank1/core0"])

    def test_variation_keeps_a_job_in_one_class(self):
        props = {0: ("slow",), 1: ("fast",), 2: ("fast",), 3: ("slow",)}
        got = picks("variation", Request(8, 1, duration=1), props=props)
        self.assertEqual(got, ["rank[0,3]/core[0-3]"])


class CustomTests(SynchronousTestCase):
    def test_custom_strings(self):
        policy = MatchPolicy("policy=low node_centric=true"
                             " node_exclusive=true")
        self.assertEqual((policy.high, policy.node_exclusive),
                         (False, True))
        # node_centric orders the nodes, not the ids within one
        self.assertEqual(picks("policy=high node_centric=true", ONE),
                         ["rank3/core3"])
        self.assertEqual(picks("policy=low node_centric=true", ONE),
                         ["rank0/core0"])
        self.assertEqual(picks("policy=high", ONE), ["rank3/core3"])
        self.assertTrue(MatchPolicy("set_stop_on_1_matches=true").high)

    def test_unknown(self):
        for name in ("best", "policy=middle", "node_exclusive", ""):
            exc = self.assertRaises(MatchError, MatchPolicy, name)
            self.assertEqual(str(exc), f"unknown match policy '{name}'")
