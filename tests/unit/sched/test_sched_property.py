"""A property test of the scheduler service: thousands of submit, finish,
drain, undrain and restart steps on a simulated 6-node cluster, driving
the real ``sched`` service through its RFC 27 handlers (real KVS and
resource services, the in-process job manager of ``fakejm``, simulated
time).  After every step:

- no core is allocated to two running jobs;
- under fcfs, no job waits while the head of its queue fits;
- under easy, a job that got a start estimate starts no later than it,
  unless ranks were drained since (a restart recomputes it, never later).
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.sched.match import MatchPolicy
from fluxd.sched.schedconf import QueueSettings, SchedSettings
from fluxd.sched.service import FeasibilityService, SchedulerService
from fluxd.sched.rbuild import shares_of
from tests.unit.sched.fakejm import OWNER, Bench, jobspec

NODES, CORES = 6, 4
CONFIG = [{"hosts": f"test[0-{NODES - 1}]", "cores": f"0-{CORES - 1}"}]

STEP = st.one_of(
    st.tuples(st.just("submit"), st.integers(0, 3), st.integers(1, 40)),
    st.tuples(st.just("finish"), st.just(0), st.just(0)),
    st.tuples(st.just("drain"), st.integers(0, NODES - 1), st.just(0)),
    st.tuples(st.just("undrain"), st.integers(0, NODES - 1), st.just(0)),
    st.tuples(st.just("restart"), st.just(0), st.just(0)))


class Cluster:
    """The bench plus what the job manager side knows."""

    def __init__(self, test, policy, match):
        self.test = test
        self.settings = SchedSettings(
            QueueSettings(policy, 32, {"fcfs": 0, "easy": 1,
                                    "conservative": 100000}[policy]),
            match=MatchPolicy(match))
        self.bench = Bench(test, CONFIG, online=f"0-{NODES - 1}", limit=None,
                           start=False)
        self.bench.sched.settings = self.settings
        self.bench.start()
        self.policy = policy
        self.next_id = 1
        self.pending = {}    # id -> (Alloc, nodes, duration)
        self.running = {}    # id -> (R, end)
        self.estimate = {}   # id -> first t_estimate
        self.drained = set()
        self.drain_time = -1.0

    @property
    def now(self):
        return self.bench.clock.seconds()

    def submit(self, nodes, minutes):
        jobid, self.next_id = self.next_id, self.next_id + 1
        spec = jobspec(ntasks=nodes, cores=CORES, nodes=nodes,
                       duration=minutes * 60) if nodes else \
            jobspec(duration=minutes * 60)
        self.pending[jobid] = (self.bench.alloc(jobid, spec), nodes,
                               minutes * 60)

    def collect(self):
        for jobid, (alloc, nodes, duration) in list(self.pending.items()):
            for r in alloc.responses:
                t = r.get("annotations", {}).get("sched", {}).get(
                    "t_estimate")
                if t is not None and jobid not in self.estimate:
                    self.estimate[jobid] = (t, self.now)
            answer = alloc.answer
            if answer is None:
                continue
            del self.pending[jobid]
            self.test.assertEqual(answer["type"], 0, answer)
            self.running[jobid] = (answer["R"], self.now + duration)
            if self.policy == "easy" and jobid in self.estimate:
                t, when = self.estimate[jobid]
                if self.drain_time < when:
                    self.test.assertLessEqual(self.now, t + 1e-6)
        self.check()

    def finish(self):
        if not self.running:
            # nothing ends: a reservation's wake-up, if any
            calls = self.bench.clock.getDelayedCalls()
            if calls:
                self.bench.clock.advance(max(0.0, min(
                    c.getTime() for c in calls) - self.now))
            return
        end = min(end for _, end in self.running.values())
        self.bench.clock.advance(max(0.0, end - self.now))
        for jobid, (R, e) in list(self.running.items()):
            if e <= end:
                del self.running[jobid]
                self.bench.ok("sched.free", {"id": jobid, "R": R,
                                             "final": True})

    def drain(self, rank, on):
        topic = "resource.drain" if on else "resource.undrain"
        if on == (rank in self.drained):
            return
        self.bench.ok(topic, {"targets": str(rank)})
        (self.drained.add if on else self.drained.discard)(rank)
        self.drain_time = self.now

    def restart(self):
        bench = self.bench
        bench.sched.stopService()
        bench.router.remove_module("sched")
        bench.router.remove_module("feasibility")
        bench.jm.held = [{"id": jobid, "priority": 16, "userid": OWNER,
                          "t_submit": 1.0} for jobid in self.running]
        bench.sched = SchedulerService(bench.clock, bench.router,
                                       bench.kvs.kvs, limit=None)
        bench.sched.settings = self.settings
        bench.feasibility = FeasibilityService(bench.sched)
        bench.start()
        # the job manager sends its pending allocs again
        for jobid, (_, nodes, duration) in list(self.pending.items()):
            spec = jobspec(ntasks=nodes, cores=CORES, nodes=nodes,
                           duration=duration) if nodes else \
                jobspec(duration=duration)
            self.pending[jobid] = (bench.alloc(jobid, spec), nodes,
                                   duration)

    def check(self):
        used = set()
        free = {r: CORES for r in range(NODES)}
        for R, _ in self.running.values():
            for share in shares_of(R):
                for core in range(CORES):
                    if share.cores >> core & 1:
                        key = (share.rank, core)
                        self.test.assertNotIn(key, used)
                        used.add(key)
                        free[share.rank] -= 1
        if self.policy != "fcfs" or not self.pending:
            return
        head = min(self.pending)
        _, nodes, _ = self.pending[head]
        usable = [r for r in range(NODES) if r not in self.drained]
        if nodes:
            fits = sum(free[r] == CORES for r in usable) >= nodes
        else:
            fits = any(free[r] for r in usable)
        self.test.assertFalse(fits, f"job {head} waits but fits")


class PropertyTests(SynchronousTestCase):
    def run_steps(self, policy, match, steps):
        cluster = Cluster(self, policy, match)
        for op, a, b in steps:
            if op == "submit":
                cluster.submit(a, b)
            elif op == "finish":
                cluster.finish()
            elif op == "restart":
                cluster.restart()
            else:
                cluster.drain(a, op == "drain")
            cluster.bench.settle()
            cluster.collect()
        # drain everything that is left: every job runs in the end
        for rank in list(cluster.drained):
            cluster.drain(rank, False)
            cluster.bench.settle()
            cluster.collect()
        while cluster.running or cluster.pending:
            self.assertTrue(cluster.running or
                            cluster.bench.clock.getDelayedCalls(),
                            "jobs wait on an idle cluster")
            cluster.finish()
            cluster.bench.settle()
            cluster.collect()

    @settings(max_examples=100, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(STEP, min_size=10, max_size=60))
    def test_fcfs(self, steps):
        self.run_steps("fcfs", "first", steps)

    @settings(max_examples=100, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(STEP, min_size=10, max_size=60))
    def test_easy(self, steps):
        self.run_steps("easy", "first", steps)

    @settings(max_examples=50, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(STEP, min_size=10, max_size=60))
    def test_easy_lonodex(self, steps):
        self.run_steps("easy", "lonodex", steps)

    @settings(max_examples=50, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(STEP, min_size=10, max_size=60))
    def test_conservative(self, steps):
        self.run_steps("conservative", "first", steps)
