"""The planner: starts now that leave reservations intact, earliest
starts from the running jobs' ends, and no rank ever over-committed in
time (random running jobs and reservations, checked at every instant)."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.sched.match import MatchPolicy
from fluxd.sched.planner import INF, Planner, Reservation
from fluxd.sched.policy import Request
from fluxd.sched.pool import Pool

ALL = (1 << 4) - 1


def planner(n=4, cores=4):
    """A planner over ``n`` ranks that picks the lowest ranks first
    (``lonode``: these tests are about times, the ranks they name follow
    from that order)."""
    pool = Pool([(r, f"n{r}", (), (1 << cores) - 1, 0) for r in range(n)])
    pool.mark(range(n), True)
    return Planner(pool, MatchPolicy("lonode"))


def run(p, jobid, plan, end):
    """Start a job as the policy does (the pool, then the views)."""
    taken = p.pool.take(plan)
    assert all(c.bit_count() == n for (c, _), (_, n, _) in zip(taken, plan))
    counts = {node.pos: (c, g) for node, c, g in plan}
    p.changed(counts, -1)
    p.add_running(jobid, end, counts,
                  {node.pos: ids for (node, _, _), ids in zip(plan, taken)})


def ranks(plan):
    return [(node.rank, c) for node, c, _ in plan]


class PlannerTests(SynchronousTestCase):
    def test_fit_now_leaves_the_reservation(self):
        p = planner()
        nodes = p.pool.nodes
        run(p, 1, [(nodes[0], 4, 0), (nodes[1], 4, 0)], 100.0)
        p.reserve(Reservation(9, 100.0, 110.0, {2: (4, 0), 3: (2, 0)}))
        one = p.shape(Request(1, 2, nnodes=1))
        # ends before 100: may use the reserved ranks
        self.assertEqual(ranks(p.fit_now(one, ALL, 0.0, 50.0)), [(2, 2)])
        # runs past 100: only rank 3's two spare cores
        self.assertEqual(ranks(p.fit_now(one, ALL, 0.0, 500.0)), [(3, 2)])
        big = p.shape(Request(1, 3, nnodes=1))
        self.assertIsNone(p.fit_now(big, ALL, 0.0, 0))
        self.assertEqual(ranks(p.fit_now(big, ALL, 0.0, 100.0)), [(2, 3)])

    def test_earliest_walks_the_ends(self):
        p = planner()
        nodes = p.pool.nodes
        run(p, 1, [(nodes[0], 4, 0)], 30.0)
        run(p, 2, [(nodes[1], 4, 0), (nodes[2], 4, 0)], 60.0)
        run(p, 3, [(nodes[3], 4, 0)], 0)  # unlimited
        two = p.shape(Request(2, 4, nnodes=2))
        start, plan = p.earliest(two, ALL, 0.0, 10.0)
        self.assertEqual((start, ranks(plan)), (60.0, [(0, 4), (1, 4)]))
        p.reserve(Reservation(9, start, start + 10.0,
                              {n.pos: (c, g) for n, c, g in plan}))
        # a second 2-node job: at 60 only rank 2 is left, at 30 only
        # rank 0: once the first reservation ends
        start, plan = p.earliest(two, ALL, 0.0, 10.0)
        self.assertEqual((start, ranks(plan)), (70.0, [(0, 4), (1, 4)]))
        # a 1-node job short enough to end before 60 goes on rank 0 at 30
        one = p.shape(Request(1, 4, nnodes=1))
        start, plan = p.earliest(one, ALL, 0.0, 20.0)
        self.assertEqual((start, ranks(plan)), (30.0, [(0, 4)]))
        four = p.shape(Request(4, 4, nnodes=4))
        self.assertIsNone(p.earliest(four, ALL, 0.0, 10.0))  # rank 3: never

    def test_earliest_a_rank_freed_whole_meets_a_reservation(self):
        # rank 0, held whole until 30, is counted idle from then on by
        # mask; a reservation starting at 50 still takes 3 of its cores
        p = planner()
        nodes = p.pool.nodes
        run(p, 1, [(nodes[0], 4, 0)], 30.0)
        run(p, 2, [(n, 4, 0) for n in nodes[1:]], 100.0)
        p.reserve(Reservation(9, 50.0, 60.0, {0: (3, 0)}))
        one, two = p.shape(Request(1, 1)), p.shape(Request(1, 2))
        start, plan = p.earliest(one, ALL, 0.0, 30.0)
        self.assertEqual((start, ranks(plan)), (30.0, [(0, 1)]))
        start, plan = p.earliest(two, ALL, 0.0, 30.0)
        self.assertEqual((start, ranks(plan)), (60.0, [(0, 2)]))
        start, plan = p.earliest(two, ALL, 0.0, 10.0)
        self.assertEqual((start, ranks(plan)), (30.0, [(0, 2)]))
        # a whole-node request waits for an idle rank past the reservation
        node = p.shape(Request(1, 4, nnodes=1))
        start, plan = p.earliest(node, ALL, 0.0, 30.0)
        self.assertEqual((start, ranks(plan)), (60.0, [(0, 4)]))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4),
                              st.integers(1, 50)), max_size=6),
           st.lists(st.tuples(st.integers(0, 4), st.integers(1, 4),
                              st.integers(0, 40)), min_size=1, max_size=8))
    def test_never_over_committed_in_time(self, running, requests):
        p = planner()
        nodes = p.pool.nodes
        for i, (rank, cores, end) in enumerate(running):
            node = nodes[rank]
            if node.nfree_c >= cores:
                run(p, i + 1, [(node, cores, 0)], float(end))
        spans = [(0.0, r.end, r.counts) for r in p.running.values()]
        for j, (nnodes, size, duration) in enumerate(requests):
            req = Request(max(nnodes, 1), size, nnodes=nnodes,
                          duration=float(duration))
            shape = p.shape(req)
            end = float(duration) if duration else INF
            found = p.fit_now(shape, ALL, 0.0, float(duration))
            if found is not None:
                start, counts = 0.0, {n.pos: (c, g) for n, c, g in found}
                run(p, 100 + j, found, end)
            else:
                found = p.earliest(shape, ALL, 0.0, float(duration))
                if found is None:
                    continue
                start, plan = found
                end = start + duration if duration else INF
                counts = {n.pos: (c, g) for n, c, g in plan}
                p.reserve(Reservation(100 + j, start, end, counts))
            spans.append((start, end, counts))
            instants = {s for s, _, _ in spans}
            for t in instants:
                for pos in range(4):
                    used = sum(c.get(pos, (0, 0))[0] for s, e, c in spans
                               if s <= t < e)
                    self.assertLessEqual(used, 4, (t, pos, spans))
