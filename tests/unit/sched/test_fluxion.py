"""The Fluxion-style policy alone: hand-checked schedules of the queue
policies (after flux-sched's t1001/t1003/t1006), feasibility, drains,
partial release, recovery and the settings."""

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from fluxd.sched._queue import QueueSet
from fluxd.sched.fluxion import REASON, Fluxion
from fluxd.sched.match import MatchPolicy
from fluxd.sched.policy import (
    ISchedPolicy, InvalidRequest, Request, Share, Unsatisfiable)
from fluxd.sched.rbuild import build_R, summary_of
from fluxd.sched.schedconf import (
    QueueSettings, SchedSettings, SettingsError, sched_settings)

RES = {"fcfs": 0, "easy": 1, "hybrid": 2, "conservative": 100000}


class Job:
    def __init__(self, jobid, req, priority=16, queue=None):
        self.id, self.req, self.priority, self.queue = (jobid, req,
                                                        priority, queue)


def cluster(n=4, cores=4, gpus=0, policy="fcfs", match="first", props=None,
            per_queue=None, depth=32):
    nodes = [(r, f"node{r}", (props or {}).get(r, ()), (1 << cores) - 1,
              (1 << gpus) - 1) for r in range(n)]
    settings = SchedSettings(QueueSettings(policy, depth, RES[policy]),
                             per_queue or {}, MatchPolicy(match))
    f = Fluxion(nodes, 0.0, settings)
    f.mark_up(range(n))
    return f


def nodes(n, duration):
    """``-N n`` whole-node-sized (4 cores per node) for ``duration``."""
    return Request(n, 4, nnodes=n, duration=duration)


class Sim:
    """A queue set and a clock around a policy; records what happens."""

    def __init__(self, policy):
        self.policy, self.queues, self.now = policy, QueueSet(), 0.0
        self.started, self.notes, self.denied, self.R = {}, {}, {}, {}

    def submit(self, *jobs):
        for job in jobs:
            self.queues.push(job)
            self.policy.queued(job)
        return self.run()

    def run(self):
        for kind, job, value in self.policy.schedule(self.queues, self.now):
            if kind == "alloc":
                self.started[job.id] = self.now
                self.R[job.id] = value[0]
            elif kind == "deny":
                self.denied[job.id] = value
            else:
                self.notes.setdefault(job.id, {}).update(value)
        return self

    def finish(self, jobid, at=None):
        self.now = at if at is not None else self.now
        self.policy.free(self.R.pop(jobid), jobid, True, self.now)
        return self.run()

    def summary(self, jobid):
        return summary_of(build_R(self.R[jobid], 1, 0, 0))


class QueuePolicyTests(SynchronousTestCase):
    def wide_and_short(self, policy):
        """job 1: 3 nodes 100 s; job 2: 4 nodes 10 s (blocked); job 3:
        1 node 50 s (fits before job 2's start); job 4: 1 node 200 s (would
        delay job 2)."""
        sim = Sim(cluster(policy=policy))
        sim.submit(Job(1, nodes(3, 100)), Job(2, nodes(4, 10)),
                   Job(3, nodes(1, 50)), Job(4, nodes(1, 200)))
        return sim

    def test_fcfs_blocks_behind_the_first_job_that_does_not_fit(self):
        sim = self.wide_and_short("fcfs")
        self.assertEqual(sim.started, {1: 0.0})
        self.assertEqual(sim.notes[2], {"t_estimate": None,
                                        "reason_pending": REASON})
        self.assertNotIn(3, sim.notes)  # never considered: fcfs stops
        sim.finish(1, at=100.0)
        self.assertEqual(sim.started, {1: 0.0, 2: 100.0})
        self.assertNotIn(3, sim.started)  # behind job 2 (10 s, 4 nodes)

    def test_easy_backfills_without_delaying_the_reservation(self):
        sim = self.wide_and_short("easy")
        self.assertEqual(sim.started, {1: 0.0, 3: 0.0})
        # first: job 1 took the highest ranks, job 3 the one left
        self.assertEqual(sim.summary(1), "rank[1-3]/core[0-3]")
        self.assertEqual(sim.summary(3), "rank0/core[0-3]")
        self.assertEqual(sim.notes[2]["t_estimate"], 100.0)
        # job 4 (200 s) would hold rank0 past 100: it waits, no estimate
        self.assertEqual(sim.notes[4], {"t_estimate": None,
                                        "reason_pending": REASON})
        sim.finish(3, at=50.0)
        self.assertNotIn(4, sim.started)  # still would delay job 2
        sim.finish(1, at=100.0)
        self.assertEqual(sim.started[2], 100.0)  # on time
        sim.finish(2, at=110.0)
        self.assertEqual(sim.started[4], 110.0)

    def test_conservative_reserves_for_every_blocked_job(self):
        sim = self.wide_and_short("conservative")
        self.assertEqual(sim.notes[2]["t_estimate"], 100.0)
        self.assertEqual(sim.notes[4]["t_estimate"], 110.0)
        # a later 1-node 40 s job backfills now: it ends before 100
        sim.submit(Job(5, nodes(1, 40)))
        self.assertNotIn(5, sim.started)  # rank0 busy with job 3 until 50
        sim.finish(3, at=50.0)
        self.assertEqual(sim.started[5], 50.0)
        sim.finish(5, at=90.0)
        sim.finish(1, at=100.0)
        self.assertEqual(sim.started[2], 100.0)
        sim.finish(2, at=110.0)
        self.assertEqual(sim.started[4], 110.0)

    def test_hybrid_reserves_up_to_its_depth(self):
        sim = Sim(cluster(policy="hybrid"))  # reservation-depth 2 here
        sim.submit(Job(1, nodes(4, 100)), Job(2, nodes(4, 10)),
                   Job(3, nodes(4, 10)), Job(4, nodes(4, 10)))
        self.assertEqual(sim.notes[2]["t_estimate"], 100.0)
        self.assertEqual(sim.notes[3]["t_estimate"], 110.0)
        self.assertIsNone(sim.notes[4]["t_estimate"])

    def test_unlimited_jobs_block_reservations(self):
        sim = Sim(cluster(policy="easy"))
        sim.submit(Job(1, nodes(3, 0)), Job(2, nodes(4, 10)),
                   Job(3, nodes(1, 5)))
        # job 1 never ends: no estimate for job 2; job 3 backfills
        self.assertIsNone(sim.notes[2]["t_estimate"])
        self.assertIn(3, sim.started)

    def test_early_finish_moves_the_reservation_sooner(self):
        sim = self.wide_and_short("easy")
        sim.finish(1, at=20.0)  # expected at 100
        self.assertEqual(sim.notes[2]["t_estimate"], 50.0)  # job 3's end

    def test_priority_orders_the_queue(self):
        sim = Sim(cluster(policy="fcfs"))
        sim.submit(Job(1, nodes(4, 10)))
        sim.submit(Job(2, nodes(4, 10), priority=1),
                   Job(3, nodes(4, 10), priority=20))
        sim.finish(1, at=10.0)
        self.assertEqual(set(sim.started), {1, 3})

    def test_queue_depth_bounds_a_pass(self):
        sim = Sim(cluster(policy="easy", depth=2))
        sim.submit(Job(1, nodes(4, 10)), Job(2, nodes(4, 10)),
                   Job(3, Request(1, 1, duration=1)))
        self.assertNotIn(3, sim.notes)  # third in line: not looked at
        self.assertNotIn(3, sim.started)

    def test_per_queue_policies_schedule_each_queue_alone(self):
        props = {0: ("batch",), 1: ("batch",), 2: ("debug",), 3: ("debug",)}
        sim = Sim(cluster(policy="fcfs", props=props, per_queue={
            "batch": QueueSettings("easy", 32, 1)}))
        sim.queues.set_names(["batch", "debug"])
        batch = {"properties": ["batch"]}
        debug = {"properties": ["debug"]}
        sim.submit(
            Job(1, Request(1, 4, nnodes=1, duration=100, constraint=batch),
                queue="batch"),
            Job(2, Request(2, 4, nnodes=2, duration=10, constraint=batch),
                queue="batch"),
            Job(3, Request(1, 4, nnodes=1, duration=50, constraint=batch),
                queue="batch"),
            Job(4, Request(2, 4, nnodes=2, duration=10, constraint=debug),
                queue="debug"),
            Job(5, Request(1, 1, duration=10, constraint=debug),
                queue="debug"))
        # batch (easy): 1 runs (first: the higher batch node), 2 is
        # reserved at 100, 3 (50 s) backfills on the other batch node: it
        # ends before 100
        self.assertEqual(sim.summary(1), "rank1/core[0-3]")
        self.assertEqual(sim.summary(3), "rank0/core[0-3]")
        self.assertEqual(sim.notes[2]["t_estimate"], 100.0)
        # debug (fcfs): its own nodes; 4 takes both, 5 waits
        self.assertEqual(sim.summary(4), "rank[2-3]/core[0-3]")
        self.assertEqual(sim.notes[5]["reason_pending"], REASON)


class ResourceTests(SynchronousTestCase):
    def test_provides_the_interface(self):
        self.assertTrue(verifyObject(ISchedPolicy, cluster()))

    def test_drained_ranks_are_never_allocated(self):
        f = cluster(policy="easy")
        f.mark_down([1, 2])
        sim = Sim(f).submit(Job(1, nodes(2, 10)), Job(2, nodes(1, 10)))
        self.assertEqual(sim.summary(1), "rank[0,3]/core[0-3]")
        self.assertEqual(sim.notes[2]["reason_pending"], REASON)
        f.mark_up([2])
        sim.run()
        self.assertEqual(sim.summary(2), "rank2/core[0-3]")

    def test_lost_rank_while_running(self):
        f = cluster(n=2)
        sim = Sim(f).submit(Job(1, nodes(1, 10)))
        f.mark_down([0])  # the job keeps it
        sim.finish(1, at=10.0)
        sim.submit(Job(2, nodes(2, 10)))
        self.assertNotIn(2, sim.started)
        self.assertEqual(f.totals(), (4, 8))

    def test_partial_release(self):
        sim = Sim(cluster(policy="easy"))
        sim.submit(Job(1, nodes(4, 100)), Job(2, nodes(2, 10)))
        shares = sim.R[1]
        self.assertTrue(sim.policy.free(shares[:2], 1, False, 5.0))
        sim.run()
        self.assertEqual(sim.summary(2), "rank[0-1]/core[0-3]")
        self.assertTrue(sim.policy.free(shares[2:], 1, True, 6.0))
        self.assertNotIn(1, sim.policy.planner.running)

    def test_recovery_reclaims_and_never_double_allocates(self):
        f = cluster()
        held = [Share(0, None, 0b1111), Share(1, None, 0b0011)]
        self.assertTrue(f.set_allocated(held, 7, 100.0))
        self.assertFalse(f.set_allocated([Share(1, None, 0b0001)], 8, 0.0))
        sim = Sim(f).submit(Job(1, Request(8, 1, duration=10)))
        # first: the free ranks from the highest, then rank1's free half;
        # what job 7 holds is never taken
        self.assertEqual(sim.summary(1), "rank[2-3]/core[0-3]")
        sim.submit(Job(2, Request(2, 1, duration=10)),
                   Job(3, Request(1, 1, duration=10)))
        self.assertEqual(sim.summary(2), "rank1/core[2-3]")
        self.assertNotIn(3, sim.started)
        self.assertEqual(f.planner.running[7].end, 100.0)

    def test_gpus_and_exclusive(self):
        f = cluster(gpus=2)
        sim = Sim(f).submit(Job(1, Request(3, 1, slot_gpus=1, duration=1)),
                            Job(2, Request(1, 1, nnodes=1, exclusive=True,
                                           duration=1)))
        # first: the highest ranks, ids in a rank highest first (as
        # Fluxion's high_first_t scores cores and GPUs alike)
        self.assertEqual(sim.summary(1), "rank2/core3,gpu1"
                                         " rank3/core[2-3],gpu[0-1]")
        self.assertEqual(sim.summary(2), "rank1/core[0-3],gpu[0-1]")


class FeasibilityTests(SynchronousTestCase):
    def test_reasons(self):
        f = cluster(props={0: ("big",)})
        for req, why in [
                (nodes(5, 1), "unsatisfiable request"),
                (Request(1, 1, slot_gpus=1), "unsatisfiable request"),
                (Request(1, 1, constraint={"properties": ["nosuch"]}),
                 "no resources satisfy provided constraints"),
                (Request(2, 4, nnodes=2, constraint={"properties": ["big"]}),
                 "unsatisfiable constrained request")]:
            exc = self.assertRaises(Unsatisfiable, f.check, req)
            self.assertEqual(str(exc), why)
        exc = self.assertRaises(InvalidRequest, f.check, Request(
            1, 1, constraint={"frob": []}))
        self.assertIn("frob", str(exc))
        self.assertIsNone(f.check(nodes(4, 1)))

    def test_unsatisfiable_is_denied_in_a_pass(self):
        sim = Sim(cluster()).submit(Job(1, nodes(9, 1)),
                                    Job(2, nodes(1, 1)))
        self.assertEqual(sim.denied, {1: "unsatisfiable request"})
        self.assertIn(2, sim.started)


class SettingsTests(SynchronousTestCase):
    def test_defaults(self):
        s = sched_settings(None)
        self.assertEqual((s.default.policy, s.default.queue_depth,
                          s.default.reservations, s.match.name,
                          s.match_format), ("fcfs", 32, 0, "first",
                                            "rv1_nosched"))

    def test_guide_and_params(self):
        table = {"sched-fluxion-qmanager": {
            "queue-policy": "hybrid",
            "queue-policy-per-queue": "batch:easy debug:conservative",
            "queue-params": "queue-depth=8,max-queue-depth=4",
            "policy-params": {"reservation-depth": 5}},
            "sched-fluxion-resource": {"match-policy": "lonodex",
                                       "match-format": "rv1"}}
        s = sched_settings(FakeConfig(table))
        self.assertEqual((s.default.policy, s.default.queue_depth,
                          s.default.reservations), ("hybrid", 4, 5))
        self.assertEqual(s.queue("batch").reservations, 1)
        self.assertEqual(s.queue("debug").reservations, 100000)
        self.assertTrue(s.match.node_exclusive)
        self.assertEqual(s.match_format, "rv1")

    def test_unknown_names_name_the_key(self):
        for table, key in [
                ({"sched-fluxion-qmanager": {"queue-policy": "lifo"}},
                 "sched-fluxion-qmanager.queue-policy"),
                ({"sched-fluxion-qmanager": {
                    "queue-policy-per-queue": "batch:lifo"}},
                 "sched-fluxion-qmanager.queue-policy-per-queue"),
                ({"sched-fluxion-resource": {"match-policy": "best"}},
                 "sched-fluxion-resource.match-policy"),
                ({"sched-fluxion-resource": {
                    "match-format": "rv1_compact"}},
                 "sched-fluxion-resource.match-format")]:
            exc = self.assertRaises(SettingsError, sched_settings,
                                    FakeConfig(table))
            self.assertTrue(str(exc).startswith(key + ":"), str(exc))


class FakeConfig:
    """``get(dotted, default)`` over a dict, as Config answers."""

    def __init__(self, table):
        self.table = table

    def get(self, dotted, default=None):
        node = self.table
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


class BadRequestTests(SynchronousTestCase):
    def test_malformed_requests_are_denied_in_a_pass(self):
        sim = Sim(cluster()).submit(
            Job(1, Request(0, 1)), Job(2, Request(1, 1, exclusive=True)),
            Job(3, Request(1, 1, constraint={"frob": 1})),
            Job(4, Request(1, 1)))
        self.assertEqual(sim.denied[1], "unable to allocate provided"
                                        " jobspec: Invalid argument")
        self.assertEqual(sim.denied[2], "unable to allocate provided"
                                        " jobspec: exclusive allocation only"
                                        " supported with nnodes")
        self.assertTrue(sim.denied[3].startswith(
            "unable to allocate provided jobspec: "), sim.denied[3])
        self.assertIn(4, sim.started)
