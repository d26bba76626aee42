"""The first-fit policy, alone: sched-simple's allocations and messages,
and its indexes checked against a plain model after random operations."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats import jobspec as J
from fluxd.sched.firstfit import FirstFit
from fluxd.sched.policy import (
    ISchedPolicy, InvalidRequest, NoSpace, Request, Unsatisfiable)
from fluxd.sched.rbuild import policy_nodes, summary
from fluxd.sched.request import request_of
from fluxd.formats.rv1 import Rv1
from zope.interface.verify import verifyObject


def pool(spec, up="all"):
    """``spec``: list of (cores, gpus[, props]) per rank 0..n-1."""
    nodes = []
    for rank, item in enumerate(spec):
        cores, gpus = item[0], item[1]
        props = item[2] if len(item) > 2 else ()
        nodes.append((rank, f"n{rank}", props, (1 << cores) - 1,
                      (1 << gpus) - 1))
    policy = FirstFit(nodes)
    policy.mark_up(range(len(spec)) if up == "all" else up)
    return policy


def req(nslots=1, size=1, **kw):
    return Request(nslots, size, **kw)


class FirstFitTests(SynchronousTestCase):
    def test_provides_the_interface(self):
        self.assertTrue(verifyObject(ISchedPolicy, pool([(2, 0)])))

    def test_t2300_first_fit(self):
        # rank0/core[0-1] rank1/core0 (t2300's R.test.first_fit)
        policy = pool([(2, 0), (1, 0)])
        got = [summary(policy.alloc(req()).shares) for _ in range(3)]
        self.assertEqual(got, ["rank0/core0", "rank0/core1", "rank1/core0"])
        self.assertRaises(NoSpace, policy.alloc, req())
        exc = self.assertRaises(Unsatisfiable, policy.alloc, req(1, 3))
        self.assertEqual(str(exc), "unsatisfiable request")
        self.assertEqual(policy.totals(), (0, 3))

    def test_slots_fill_a_rank_before_the_next(self):
        policy = pool([(4, 0), (4, 0), (4, 0)])
        policy.alloc(req(1, 3))
        alloc = policy.alloc(req(3, 2))
        self.assertEqual(summary(alloc.shares), "rank1/core[0-3] rank2/core[0-1]")
        self.assertEqual(alloc.nslots, 3)

    def test_busy_ranks_are_skipped_and_freed_ranks_reused(self):
        policy = pool([(2, 0)] * 100)
        allocs = [policy.alloc(req(1, 2)) for _ in range(99)]
        self.assertEqual(summary(policy.alloc(req()).shares), "rank99/core0")
        policy.free(allocs[42].shares)
        self.assertEqual(summary(policy.alloc(req(1, 2)).shares),
                         "rank42/core[0-1]")

    def test_nnodes_take_the_least_used_ranks_and_deal_slots(self):
        policy = pool([(4, 0)] * 4)
        policy.alloc(req())            # rank0/core0
        policy.alloc(req(1, 2, nnodes=1))  # most free: rank1
        alloc = policy.alloc(req(4, 1, nnodes=2))
        self.assertEqual(summary(alloc.shares), "rank[2-3]/core[0-1]")
        alloc = policy.alloc(req(3, 1, nnodes=2))
        # rank0 has 3 free, rank1 2, rank[2-3] 2: rank0 then rank1
        self.assertEqual(summary(alloc.shares),
                         "rank0/core[1-2] rank1/core2")

    def test_nnodes_waits_for_enough_up_ranks(self):
        policy = pool([(2, 0)] * 3, up=[0])
        self.assertRaises(NoSpace, policy.alloc, req(2, 1, nnodes=2))
        policy.mark_up([2])
        self.assertEqual(summary(policy.alloc(req(2, 1, nnodes=2)).shares),
                         "rank[0,2]/core0")

    def test_exclusive(self):
        policy = pool([(2, 0), (2, 0)])
        policy.alloc(req())
        alloc = policy.alloc(req(1, 1, nnodes=1, exclusive=True))
        self.assertEqual(summary(alloc.shares), "rank1/core[0-1]")
        self.assertRaises(NoSpace, policy.alloc,
                          req(1, 1, nnodes=1, exclusive=True))
        exc = self.assertRaises(InvalidRequest, policy.alloc,
                                req(1, 1, exclusive=True))
        self.assertEqual(str(exc),
                         "exclusive allocation only supported with nnodes")
        exc = self.assertRaises(Unsatisfiable, policy.alloc,
                                req(3, 1, nnodes=3, exclusive=True))

    def test_gpus_go_with_their_slot(self):
        policy = pool([(4, 0), (4, 2)])
        alloc = policy.alloc(req(2, 1, slot_gpus=1))
        self.assertEqual(summary(alloc.shares), "rank1/core[0-1],gpu[0-1]")
        self.assertRaises(NoSpace, policy.alloc, req(1, 1, slot_gpus=1))
        self.assertRaises(Unsatisfiable, policy.alloc, req(3, 1, slot_gpus=1))

    def test_down_and_drained_ranks_are_skipped(self):
        policy = pool([(1, 0)] * 3, up=[0, 2])
        self.assertEqual([summary(policy.alloc(req()).shares)
                          for _ in range(2)], ["rank0/core0", "rank2/core0"])
        # a down rank still counts for feasibility: wait, don't deny
        self.assertRaises(NoSpace, policy.alloc, req())
        policy.mark_up([1])
        self.assertEqual(summary(policy.alloc(req()).shares), "rank1/core0")
        policy.mark_down([0])
        self.assertEqual(policy.totals(), (0, 3))

    def test_constraints(self):
        policy = pool([(2, 0), (2, 0, ["batch"]), (2, 0, ["batch"])])
        batch = {"properties": ["batch"]}
        alloc = policy.alloc(req(3, 1, constraint=batch))
        self.assertEqual(summary(alloc.shares),
                         "rank1/core[0-1] rank2/core0")
        exc = self.assertRaises(Unsatisfiable, policy.check,
                                req(5, 1, constraint=batch))
        self.assertEqual(str(exc), "unsatisfiable constrained request")
        exc = self.assertRaises(Unsatisfiable, policy.check,
                                req(1, 1, constraint={"properties": ["x"]}))
        self.assertEqual(str(exc), "no resources satisfy provided constraints")
        exc = self.assertRaises(InvalidRequest, policy.alloc,
                                req(1, 1, constraint={"foo": []}))
        self.assertEqual(str(exc), "unknown constraint operator: foo")
        self.assertEqual(summary(policy.alloc(
            req(1, 1, constraint={"ranks": ["0"]})).shares), "rank0/core0")

    def test_feasibility(self):
        policy = pool([(2, 0), (2, 0)])
        policy.alloc(req(2, 2))
        self.assertIsNone(policy.check(req(2, 2)))
        self.assertRaises(Unsatisfiable, policy.check, req(1, 3))
        self.assertRaises(Unsatisfiable, policy.check, req(3, 1, nnodes=3))
        self.assertIsNone(policy.check(req(2, 1, nnodes=2, exclusive=True)))
        self.assertRaises(InvalidRequest, policy.check, req(0, 1))

    def test_free_and_set_allocated_report_mismatches(self):
        policy = pool([(2, 0)])
        alloc = policy.alloc(req())
        self.assertTrue(policy.free(alloc.shares))
        self.assertFalse(policy.free(alloc.shares))  # not allocated
        self.assertTrue(policy.set_allocated(alloc.shares))
        self.assertFalse(policy.set_allocated(alloc.shares))
        self.assertEqual(policy.totals(), (1, 2))

    def test_snapshot(self):
        policy = pool([(2, 0), (2, 0)], up=[0])
        policy.alloc(req())
        every, used, down = policy.snapshot()
        self.assertEqual((summary(every), summary(used), summary(down)),
                         ("rank[0-1]/core[0-1]", "rank0/core0",
                          "rank1/core[0-1]"))

    def test_request_of_jobspec(self):
        spec = J.from_command(["true"], ntasks=4, nodes=2, exclusive=True,
                              gpus_per_task=1, duration=60, environment={},
                              cwd="/")
        r = request_of(spec)
        self.assertEqual((r.nnodes, r.nslots, r.slot_size, r.slot_gpus,
                          r.exclusive, r.duration), (2, 4, 1, 1, True, 60.0))
        del spec["resources"][0]["with"][0]["with"][0]
        exc = self.assertRaises(InvalidRequest, request_of, spec)
        self.assertEqual(str(exc), "Unable to determine slot size")

    def test_policy_nodes_from_R(self):
        R = Rv1().add_rank(0, "a", cores="0-3", gpus="1").add_rank(
            2, "c", cores="4-5").set_property("big", "0")
        self.assertEqual(policy_nodes(R.encode()), [
            (0, "a", {"big"}, 0b1111, 0b10), (2, "c", set(), 0b110000, 0)])


# -- the indexes against a plain model ------------------------------------------

def naive(policy, request):
    """What the policy should allocate, found by walking every rank."""
    nodes = [n for n in policy._nodes if n.up]
    if request.nslots * request.slot_size > policy.avail:
        return None  # as alloc_info_check(): not enough free cores at all
    if request.exclusive:
        idle = sorted((n for n in nodes if n.idle()),
                      key=lambda n: (-n.nfree_c, n.rank))
        return None if len(idle) < request.nnodes else \
            sorted(n.rank for n in idle[:request.nnodes])
    if request.nnodes:
        best = sorted(nodes, key=lambda n: (-n.nfree_c, n.rank))
        if len(best) < request.nnodes:
            return None
        chosen = best[:request.nnodes]
        dealt = FirstFit._deal(request, [[n.nfree_c, n.nfree_g]
                                         for n in chosen])
        return None if dealt is None else \
            sorted(n.rank for n, k in zip(chosen, dealt) if k)
    ranks, left = [], request.nslots
    for n in nodes:
        fit = n.nfree_c // request.slot_size
        if request.slot_gpus:
            fit = min(fit, n.nfree_g // request.slot_gpus)
        if fit:
            ranks.append(n.rank)
            left -= min(fit, left)
            if not left:
                return ranks
    return None


def check_indexes(test, policy):
    up = [n for n in policy._nodes if n.up]
    for k, mask in enumerate(policy._core_ge):
        test.assertEqual(mask, sum(n.bit for n in up if n.nfree_c >= k))
    for k, mask in enumerate(policy._gpu_ge):
        test.assertEqual(mask, sum(n.bit for n in up if n.nfree_g >= k))
    test.assertEqual(policy._idle, sum(n.bit for n in up if n.idle()))
    test.assertEqual(policy.avail, sum(n.nfree_c for n in up))


requests = st.builds(
    lambda nslots, size, gpus, nnodes, excl: Request(
        nslots, size, slot_gpus=gpus, nnodes=nnodes if excl is None or nnodes
        else 0, exclusive=bool(excl) and nnodes > 0),
    st.integers(1, 6), st.integers(1, 4), st.integers(0, 1),
    st.integers(0, 3), st.one_of(st.none(), st.booleans()))
operations = st.lists(st.one_of(
    st.tuples(st.just("alloc"), requests),
    st.tuples(st.just("free"), st.integers(0, 20)),
    st.tuples(st.just("down"), st.integers(0, 5)),
    st.tuples(st.just("up"), st.integers(0, 5))), max_size=40)


class IndexTests(SynchronousTestCase):
    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.integers(1, 8), st.integers(0, 2)),
                    min_size=1, max_size=6), operations)
    def test_random_operations(self, spec, ops):
        policy = pool(spec)
        held = []
        for op, arg in ops:
            if op == "alloc" and arg.nslots >= max(arg.nnodes, 1):
                expected = naive(policy, arg)
                try:
                    alloc = policy.alloc(arg)
                except (NoSpace, Unsatisfiable, InvalidRequest):
                    self.assertIsNone(expected)
                else:
                    self.assertEqual([s.rank for s in alloc.shares],
                                     expected)
                    held.append(alloc)
            elif op == "free" and held:
                self.assertTrue(policy.free(held.pop(arg % len(held)).shares))
            elif op == "down":
                policy.mark_down([arg])
            elif op == "up":
                policy.mark_up([arg])
            check_indexes(self, policy)
