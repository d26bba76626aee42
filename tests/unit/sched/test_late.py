"""Late reservations: a reserved job whose ranks are still held by an
allocation running past its expected end keeps its place; one late for
another reason redoes only the reservations made after its own."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.sched.planner import Reservation
from fluxd.sched.policy import Request

from tests.unit.sched.test_fluxion import Job, Sim, cluster, nodes
from tests.unit.sched.test_planner import planner, ranks, run


class OverdueTests(SynchronousTestCase):
    def test_overdue_allocation_keeps_every_reservation(self):
        policy = cluster(policy="conservative")
        sim = Sim(policy)
        sim.submit(Job(1, nodes(4, 100)), Job(2, nodes(4, 10)),
                   Job(3, nodes(4, 10)))
        made = dict(policy.planner.reservations)
        self.assertEqual({j: r.start for j, r in made.items()},
                         {2: 100.0, 3: 110.0})
        earliest = []
        real = policy.planner.earliest
        policy.planner.earliest = lambda *a: earliest.append(a) or real(*a)
        # job 1 runs past 100: job 2 waits for it, nothing is redone
        sim.now = 100.0
        sim.run()
        self.assertEqual(policy.planner.reservations, made)
        self.assertEqual(earliest, [])
        self.assertNotIn(2, sim.started)
        # a 1-node job that would hold a rank past 100 is not backfilled
        sim.submit(Job(4, nodes(1, 50)))
        self.assertNotIn(4, sim.started)
        sim.finish(1, at=105.0)
        self.assertEqual(sim.started[2], 105.0)
        # job 3's reservation (110) was made around job 2 ending at 110:
        # job 2 now ends at 115, so job 3 waits for it, then starts
        sim.now = 110.0
        sim.run()
        self.assertNotIn(3, sim.started)
        sim.finish(2, at=115.0)
        self.assertEqual(sim.started[3], 115.0)

    def test_late_without_an_overdue_allocation_is_redone(self):
        policy = cluster(policy="conservative")
        sim = Sim(policy)
        sim.submit(Job(1, nodes(2, 100)), Job(2, nodes(4, 10)),
                   Job(3, nodes(4, 10)))
        self.assertEqual(sim.notes[2]["t_estimate"], 100.0)
        self.assertEqual(sim.notes[3]["t_estimate"], 110.0)
        # the planner's idea of job 1 was wrong: it ends at 200 (a
        # running allocation's end as recorded after a restart)
        run = policy.planner.running[1]
        policy.planner.add_running(1, 200.0, run.counts, run.ids)
        sim.now = 100.0
        sim.run()
        self.assertNotIn(2, sim.started)
        # job 2 moved to job 1's new end, job 3 after it
        self.assertEqual(sim.notes[2]["t_estimate"], 200.0)
        self.assertEqual(sim.notes[3]["t_estimate"], 210.0)
        sim.finish(1, at=200.0)
        self.assertEqual(sim.started[2], 200.0)


class UnreserveAfterTests(SynchronousTestCase):
    def check(self, drop_from):
        p = planner(n=4)
        nodes = p.pool.nodes
        made = []
        for jobid, pos in enumerate(range(4), start=1):
            res = Reservation(jobid, 10.0 * jobid, 10.0 * jobid + 100.0,
                              {pos: (4, 0)})
            p.reserve(res)
            made.append(res)
        # a cached view of every reservation, kept current
        self.assertIsNone(p.fit_now(p.shape(Request(1, 1)), 15, 0.0, 0))
        later = p.unreserve_after(made[drop_from].seq)
        self.assertEqual(sorted(later), list(range(drop_from + 2, 5)))
        self.assertEqual(sorted(p.reservations),
                         list(range(1, drop_from + 2)))
        # the dropped ranks are free for a job of any length again
        free = 4 - drop_from - 1
        plan = p.fit_now(p.shape(Request(free, 4, nnodes=free)), 15, 0.0, 0)
        self.assertEqual(ranks(plan),
                         [(r, 4) for r in range(drop_from + 1, 4)])
        run(p, 9, [(nodes[3], 4, 0)], 50.0)
        self.assertEqual(p.earliest(p.shape(Request(1, 4, nnodes=1)), 8,
                                    0.0, 10)[0], 50.0)

    def test_a_few_dropped(self):
        self.check(2)

    def test_most_dropped(self):
        self.check(0)
