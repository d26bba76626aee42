"""The ``sched`` service through its RFC 27 handlers, with real KVS and
resource services and a fake job manager side (tests/unit/sched/fakejm)."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError
from fluxd.exec._readahead import JReadAhead
from fluxd.sched._queue import AllocQueue, QueueSet
from fluxd.config import config_from_object
from fluxd.sched.service import ANNOTATE, CANCEL, DENY, SUCCESS
from fluxd.testing.kvs import GatedStore
from tests.unit.sched.fakejm import Bench, jobspec
from tests.unit.sched.test_fluxion import FakeConfig

# t2300's R.test.first_fit: rank0/core[0-1] rank1/core0
FIRST_FIT = [{"hosts": "test0", "cores": "0-1"},
             {"hosts": "test1", "cores": "0"}]
FOUR = [{"hosts": "test[0-3]", "cores": "0-3"}]


class StartTests(SynchronousTestCase):
    def test_hello_and_ready_limited(self):
        bench = Bench(self, FOUR)
        self.assertEqual(bench.jm.ready, [{"mode": "limited", "limit": 8}])
        self.assertTrue(bench.sched.ready)
        self.assertEqual(bench.sched.policy.totals(), (16, 16))

    def test_unlimited(self):
        bench = Bench(self, FOUR, limit=None)
        self.assertEqual(bench.jm.ready, [{"mode": "unlimited"}])

    def test_offline_ranks_start_down(self):
        bench = Bench(self, FOUR, online="0,2")
        self.assertEqual(bench.sched.policy.totals(), (8, 16))

    def test_hello_marks_held_jobs_allocated(self):
        first = Bench(self, FOUR)
        a = first.alloc(7, jobspec(ntasks=2, cores=2))
        first.settle()
        held = [{"id": 7, "priority": 16, "userid": 1000, "t_submit": 1.0}]
        # a new scheduler on the same KVS, told job 7 holds resources
        bench = Bench(self, FOUR, store=first.kvs.store, held=held)
        self.assertEqual(bench.sched.policy.totals(), (12, 16))
        status = bench.ok("sched.resource-status")
        self.assertEqual(status["allocated"]["execution"]["R_lite"],
                         a.answer["R"]["execution"]["R_lite"])

    def test_without_a_job_manager_it_stays_idle(self):
        bench = Bench(self, FOUR, start=False)
        bench.router.remove_module("job-manager")
        bench.start()
        self.assertFalse(bench.sched.ready)
        self.assertEqual(self.flushLoggedErrors(), [])


class Told:
    """An ``expect`` hook: the jobs it hears of, and the exec service's
    choice of the jobs it wants (those that run shells)."""

    wants = staticmethod(JReadAhead.wants)

    def __init__(self):
        self.told = []

    def expect(self, jobids):
        self.told.append(jobids)


class ExpectTests(SynchronousTestCase):
    """After each pass the scheduler names the jobs next in line (rank
    0's exec service reads their J then)."""

    def test_the_pending_heads_are_named_after_each_pass(self):
        hook = Told()
        told = hook.told
        bench = Bench(self, FIRST_FIT, limit=None, expect=hook)
        # three cores: 9 (the highest priority), 1 and 2 run, 3-8 wait
        allocs = [bench.alloc(i, priority=20 if i == 9 else 16)
                  for i in range(1, 10)]
        bench.settle()
        self.assertEqual([a.id for a in allocs if a.answer is not None],
                         [1, 2, 9])
        self.assertEqual(told[-1], [3, 4, 5, 6])
        bench.free(allocs[8])
        self.assertEqual(allocs[2].answer["type"], SUCCESS)
        self.assertEqual(told[-1], [4, 5, 6, 7])

    def test_nothing_pending_names_nothing(self):
        hook = Told()
        bench = Bench(self, FIRST_FIT, limit=None, expect=hook)
        bench.alloc(1)
        bench.settle()
        self.assertEqual(hook.told, [])

    def test_test_jobs_are_not_named(self):
        # (their start reads no J: system.exec.test)
        hook = Told()
        bench = Bench(self, FIRST_FIT, limit=None, expect=hook)
        test_job = jobspec()
        test_job["attributes"]["system"]["exec"] = {"test": {}}
        for i in range(1, 7):
            bench.alloc(i, test_job if i == 5 else None)
        bench.settle()
        self.assertEqual(hook.told[-1], [4, 6])


class AllocTests(SynchronousTestCase):
    def setUp(self):
        self.bench = Bench(self, FIRST_FIT)

    def test_t2300_first_fit_and_free(self):
        bench = self.bench
        allocs = [bench.alloc(i, jobspec(duration=60)) for i in range(1, 5)]
        bench.settle()
        # first (Fluxion's, not sched-simple's first fit): the highest
        # rank first, ids in a rank highest first
        self.assertEqual([bench.summary(a) for a in allocs[:3]],
                         ["rank1/core0", "rank0/core1", "rank0/core0"])
        self.assertEqual(allocs[0].answer["annotations"], {"sched": {
            "resource_summary": "rank1/core0", "reason_pending": None,
            "jobs_ahead": None}})
        self.assertIsNone(allocs[3].answer)
        R = bench.kvs_R(1)
        self.assertEqual(R, allocs[0].answer["R"])
        self.assertEqual((R["execution"]["starttime"],
                          R["execution"]["expiration"]), (1000.0, 1060.0))
        self.assertEqual(allocs[0].ended, [None])  # the stream ended
        bench.free(allocs[1])
        bench.settle()
        self.assertEqual(bench.summary(allocs[3]), "rank0/core1")

    def test_unlimited_duration_has_no_expiration(self):
        a = self.bench.alloc(1)
        self.bench.settle()
        self.assertEqual(a.answer["R"]["execution"]["expiration"], 0.0)

    def test_unsatisfiable_is_denied(self):
        a = self.bench.alloc(1, jobspec(cores=3))
        self.bench.settle()
        self.assertEqual(a.answer, {"id": 1, "type": DENY,
                                    "note": "unsatisfiable request"})
        self.assertEqual(self.bench.sched.stats["denied"], 1)

    def test_bad_jobspec_is_denied_with_the_reason(self):
        spec = jobspec()
        del spec["resources"][0]["with"]
        a = self.bench.alloc(1, spec)
        self.assertEqual(a.answer["type"], DENY)
        self.assertEqual(a.answer["note"], "Unable to determine slot size")

    def test_R_is_durable_before_success(self):
        store = GatedStore()
        store.gate = False
        bench = Bench(self, FIRST_FIT, store=store)
        store.gate = True
        a = bench.alloc(1)
        bench.settle()
        self.assertIsNone(a.answer)
        store.release()
        bench.settle()
        self.assertEqual(a.answer["type"], SUCCESS)

    def test_one_commit_carries_many_R(self):
        bench = Bench(self, FOUR)
        before = bench.sched.writer.commits
        allocs = [bench.alloc(i) for i in range(1, 9)]
        bench.settle()
        self.assertTrue(all(a.answer["type"] == SUCCESS for a in allocs))
        self.assertEqual(bench.sched.writer.commits - before, 1)

    def test_cancel_and_prioritize(self):
        bench = self.bench
        running = [bench.alloc(i) for i in range(1, 4)]
        low, high, gone = bench.alloc(10), bench.alloc(11), bench.alloc(12)
        bench.settle()
        self.assertEqual(bench.ok("sched.cancel", {"id": 12}), {})
        self.assertEqual(gone.answer, {"id": 12, "type": CANCEL})
        self.assertEqual(gone.ended, [None])
        self.assertEqual(bench.ok("sched.cancel", {"id": 99}), {})
        bench.ok("sched.prioritize", {"jobs": [[11, 20]]})
        bench.free(running[0])
        self.assertIsNone(low.answer)
        self.assertEqual(bench.summary(high), "rank1/core0")

    def test_free_without_R_reads_it(self):
        bench = self.bench
        a = bench.alloc(1, jobspec(ntasks=2))
        bench.settle()
        bench.ok("sched.free", {"id": 1, "final": True})
        self.assertEqual(bench.sched.policy.totals(), (3, 3))

    def test_drained_ranks_are_skipped_until_undrained(self):
        bench = self.bench
        bench.ok("resource.drain", {"targets": "0"})
        a = bench.alloc(1, jobspec(ntasks=2))
        bench.settle()
        self.assertIsNone(a.answer)  # waits: rank0 drained
        bench.ok("resource.undrain", {"targets": "0"})
        bench.settle()
        self.assertEqual(bench.summary(a), "rank0/core1 rank1/core0")

    def test_abandoned_stream_frees_the_queue(self):
        bench = self.bench
        running = [bench.alloc(i) for i in range(1, 4)]
        waiting = bench.alloc(4)
        bench.settle()
        waiting.stream.cancel()
        self.assertEqual(len(bench.sched.queue), 0)
        bench.free(running[0])
        self.assertIsNone(waiting.answer)

    def test_queued_alloc_keeps_no_jobspec(self):
        bench = self.bench
        running = [bench.alloc(i) for i in range(1, 4)]
        waiting = bench.alloc(4, jobspec(duration=60))
        bench.settle()
        job = bench.sched.queue.get(4)
        # a pending job's open request holds neither the payload bytes
        # nor the decoded jobspec: only the parsed request
        self.assertIsNone(job.request.message.payload)
        self.assertEqual(job.request.json(), {})
        self.assertEqual((job.req.nslots, job.req.duration), (1, 60.0))
        self.assertIsNone(waiting.answer)
        # and it is still answered in full once resources free up
        bench.free(running[0])
        bench.settle()
        self.assertEqual(waiting.answer["type"], SUCCESS)
        self.assertEqual(bench.kvs_R(4), waiting.answer["R"])
        self.assertEqual(waiting.ended, [None])

    def test_stop_answers_queued_allocs(self):
        bench = self.bench
        [bench.alloc(i) for i in range(1, 4)]
        waiting = bench.alloc(4)
        bench.settle()
        bench.sched.stopService()
        [failure] = waiting.ended
        self.assertEqual((failure.value.errno, str(failure.value)),
                         (errno.ENOSYS, "simple sched exiting"))


class BadRequestTests(SynchronousTestCase):
    def setUp(self):
        self.bench = Bench(self, FIRST_FIT, limit=2)

    def test_malformed(self):
        for topic, payload, message in [
                ("sched.cancel", {}, "id must be a non-negative integer"),
                ("sched.free", {"id": 1, "R": {"x": 1}},
                 "free: job 1: malformed R: 'execution'"),
                ("sched.prioritize", {"jobs": [[1]]},
                 "malformed sched.prioritize request"),
                ("sched.expiration", {"id": 1, "expiration": -1},
                 "expiration must be a number >= 0")]:
            exc = self.bench.fail(topic, payload)
            self.assertEqual(str(exc), message)

    def test_alloc_errors_end_the_stream(self):
        bench = self.bench
        bad = bench.jm.alloc(1, "not a jobspec")
        self.assertEqual(str(bad.ended[0].value), "jobspec must be an object")
        bench.alloc(2), bench.alloc(3)
        over = bench.alloc(4)
        self.assertEqual(str(over.ended[0].value),
                         "alloc received above max concurrency: 2")
        self.assertEqual(bench.ok("sched.expiration",
                                  {"id": 2, "expiration": 5.0}), {})


class FeasibilityTests(SynchronousTestCase):
    def test_check(self):
        bench = Bench(self, FIRST_FIT)
        self.assertEqual(bench.ok("feasibility.check",
                                  {"jobspec": jobspec(ntasks=3)}), {})
        exc = bench.fail("feasibility.check", {"jobspec": jobspec(cores=3)})
        self.assertEqual((exc.errno, str(exc)),
                         (errno.EOVERFLOW, "unsatisfiable request"))
        spec = jobspec()
        spec["attributes"]["system"]["constraints"] = {"properties": ["x"]}
        exc = bench.fail("feasibility.check", {"jobspec": spec})
        self.assertEqual(str(exc), "no resources satisfy provided constraints")
        exc = bench.fail("feasibility.check", {"jobspec": {"version": 1}})
        self.assertIsInstance(exc, FluxError)
        self.assertEqual(exc.errno, errno.EINVAL)


class QueueTests(SynchronousTestCase):
    class Job:
        def __init__(self, id, priority):
            self.id, self.priority = id, priority

    def test_order_and_lazy_removal(self):
        queue = AllocQueue()
        for jobid, prio in [(3, 16), (1, 16), (2, 20), (4, 0)]:
            queue.push(self.Job(jobid, prio))
        queue.reprioritize(4, 16)
        queue.reprioritize(4, 16)  # same key twice: no comparison of jobs
        self.assertIsNone(queue.remove(99))
        queue.remove(1)
        self.assertEqual([queue.pop().id for _ in range(3)], [2, 3, 4])
        self.assertIsNone(queue.pop())

    def test_head_reads_the_first_jobs_in_order(self):
        queue = AllocQueue()
        for i in range(1000):
            queue.push(self.Job(i, 16 + i % 3))
        for i in range(0, 999, 2):
            queue.remove(i)
        self.assertEqual(len(queue), 500)
        self.assertEqual([j.id for j in queue.head(4)], [5, 11, 17, 23])
        self.assertEqual(queue.peek().id, 5)

    def test_queue_set_keeps_one_queue_per_name(self):
        queues = QueueSet(["batch", "debug"])
        for jobid, name in [(1, "batch"), (2, "debug"), (3, None),
                            (4, "nosuch")]:
            job = self.Job(jobid, 16)
            job.queue = name
            queues.push(job)
        self.assertEqual([(n, [j.id for j in q.head(9)])
                          for n, q in queues.items()],
                         [(None, [3, 4]), ("batch", [1]), ("debug", [2])])
        self.assertEqual(queues.remove(2).id, 2)
        self.assertIsNone(queues.remove(2))
        queues.set_names(["debug"])  # batch's jobs move to the anonymous
        self.assertEqual(sorted(j.id for j in queues.items()[0][1].jobs()),
                         [1, 3, 4])
        self.assertTrue(queues.reprioritize(1, 30))
        self.assertEqual(queues.get(1).priority, 30)
        self.assertEqual(len(queues), 3)



class FluxionServiceTests(SynchronousTestCase):
    """The policies through the RFC 27 handlers: annotations, R formats,
    partial release, configuration."""

    def bench(self, table, config=FOUR, **kw):
        bench = Bench(self, config, limit=None, start=False, **kw)
        bench.sched.reconfigure(config_from_object(table))
        bench.start()
        return bench

    def test_easy_annotates_the_estimate_and_clears_it(self):
        bench = self.bench({"sched-fluxion-qmanager": {
            "queue-policy": "easy"}})
        wide = bench.alloc(1, jobspec(ntasks=3, cores=4, nodes=3,
                                      duration=100))
        blocked = bench.alloc(2, jobspec(ntasks=4, cores=4, nodes=4,
                                         duration=10))
        short = bench.alloc(3, jobspec(ntasks=1, cores=4, nodes=1,
                                       duration=50))
        bench.settle()
        # first: wide took the highest ranks
        self.assertEqual(bench.summary(wide), "rank[1-3]/core[0-3]")
        self.assertEqual(bench.summary(short), "rank0/core[0-3]")
        self.assertEqual(blocked.responses, [{
            "id": 2, "type": ANNOTATE, "annotations": {"sched": {
                "t_estimate": 1100.0,
                "reason_pending": "insufficient resources"}}}])
        bench.clock.advance(100)
        bench.free(wide)
        bench.free(short)
        self.assertEqual(blocked.answer["annotations"]["sched"], {
            "resource_summary": "rank[0-3]/core[0-3]",
            "reason_pending": None, "jobs_ahead": None,
            "t_estimate": None})
        self.assertEqual(blocked.answer["R"]["execution"]["starttime"],
                         1100.0)

    def test_rv1_match_format_adds_the_graph(self):
        for fmt in ("rv1", "rv1_shorthand"):
            self._graph(fmt)

    def _graph(self, fmt):
        bench = self.bench({"sched-fluxion-resource": {
            "match-format": fmt, "match-policy": "lonodex"}})
        a = bench.alloc(1, jobspec())
        bench.settle()
        graph = a.answer["R"]["scheduling"]["graph"]
        names = [v["metadata"]["name"] for v in graph["nodes"]]
        self.assertEqual(names, ["cluster0", "node0", "core0", "core1",
                                 "core2", "core3"])
        self.assertEqual(len(graph["edges"]), 5)
        self.assertEqual(bench.kvs_R(1), a.answer["R"])

    def test_partial_release(self):
        bench = self.bench({})
        a = bench.alloc(1, jobspec(ntasks=4, cores=4, nodes=4))
        b = bench.alloc(2, jobspec(ntasks=2, cores=4, nodes=2))
        bench.settle()
        R = a.answer["R"]
        part = {"version": 1, "execution": {"R_lite": [
            {"rank": "2-3", "children": {"core": "0-3"}}]}}
        bench.ok("sched.free", {"id": 1, "R": part, "final": False})
        self.assertEqual(bench.summary(b), "rank[2-3]/core[0-3]")
        self.assertEqual(bench.sched.policy.totals(), (0, 16))
        rest = {"version": 1, "execution": {"R_lite": [
            {"rank": "0-1", "children": {"core": "0-3"}}]}}
        bench.ok("sched.free", {"id": 1, "R": rest, "final": True})
        self.assertEqual(bench.sched.policy.totals(), (8, 16))
        # the whole R again: ranks 2-3 are job 2's now, not freed twice
        bench.ok("sched.free", {"id": 1, "R": R, "final": True})
        self.assertEqual(bench.sched.policy.totals(), (8, 16))

    def test_reload_refuses_an_unknown_policy_naming_the_key(self):
        bench = self.bench({})
        exc = self.assertRaises(
            FluxError, bench.sched.reconfigure, FakeConfig(
                {"sched-fluxion-qmanager": {"queue-policy": "lifo"}}))
        self.assertEqual(str(exc), "sched-fluxion-qmanager.queue-policy:"
                                   " unknown queue policy 'lifo'")
        self.assertEqual(bench.sched.settings.default.policy, "fcfs")

    def test_queues_from_config(self):
        bench = self.bench({
            "queues": {"batch": {}, "debug": {}},
            "sched-fluxion-qmanager": {
                "queue-policy-per-queue": "batch:easy"}})
        self.assertEqual([name for name, _ in bench.sched.queue.items()],
                         [None, "batch", "debug"])
        self.assertEqual(bench.sched.settings.queue("batch").policy, "easy")
        self.assertEqual(bench.sched.settings.queue("debug").policy, "fcfs")

    def test_resource_sched_status_is_the_schedulers_view(self):
        bench = self.bench({})
        a = bench.alloc(1, jobspec(ntasks=2))
        bench.settle()
        status = bench.ok("resource.sched-status")
        self.assertEqual(status["allocated"]["execution"]["R_lite"],
                         a.answer["R"]["execution"]["R_lite"])

    def test_passes_repeat_past_the_queue_depth(self):
        bench = self.bench({"sched-fluxion-qmanager": {
            "queue-params": "queue-depth=2"}})
        allocs = [bench.alloc(i, jobspec()) for i in range(1, 6)]
        bench.settle()
        self.assertEqual([a.answer["type"] for a in allocs], [SUCCESS] * 5)

    def test_passes_past_the_queue_depth_write_R_in_one_commit(self):
        bench = self.bench({"sched-fluxion-qmanager": {
            "queue-params": "queue-depth=2"}})
        before = bench.sched.writer.commits
        allocs = [bench.alloc(i, jobspec()) for i in range(1, 6)]
        bench.settle()
        self.assertEqual([a.answer["type"] for a in allocs], [SUCCESS] * 5)
        self.assertEqual([bench.kvs_R(a.answer["id"]) for a in allocs],
                         [a.answer["R"] for a in allocs])
        # three passes (two, two and one job), one commit
        self.assertEqual(bench.sched.writer.commits - before, 1)

    def test_stop_between_passes_writes_the_held_R(self):
        bench = self.bench({"sched-fluxion-qmanager": {
            "queue-params": "queue-depth=2"}}, config=FIRST_FIT)
        allocs = [bench.alloc(i, jobspec()) for i in range(1, 6)]
        sched = bench.sched
        # run one pass by hand: two jobs allocated, another pass due
        sched._turn.cancel()
        sched._turn = None
        sched._schedule()
        self.assertIsNotNone(sched._turn)
        self.assertEqual([a.answer for a in allocs], [None] * 5)
        sched.stopService()
        bench.settle()
        self.assertEqual([a.answer and a.answer["type"] for a in allocs],
                         [SUCCESS, SUCCESS, None, None, None])
        self.assertEqual(bench.kvs_R(1), allocs[0].answer["R"])
        self.assertEqual([f.value.errno for a in allocs[2:]
                          for f in a.ended], [errno.ENOSYS] * 3)

    def test_a_pass_runs_when_a_reservation_is_due(self):
        bench = self.bench({"sched-fluxion-qmanager": {
            "queue-policy": "easy"}})
        wide = bench.alloc(1, jobspec(ntasks=4, cores=4, nodes=4,
                                      duration=100))
        blocked = bench.alloc(2, jobspec(ntasks=4, cores=4, nodes=4,
                                         duration=10))
        bench.settle()
        self.assertEqual([c.getTime() for c in bench.clock.getDelayedCalls()],
                         [1100.0])
        # job 1 runs late: at 1100 a pass finds it still there
        bench.clock.advance(100)
        bench.settle()
        self.assertIsNone(blocked.answer)
        bench.clock.advance(50)
        bench.free(wide)
        self.assertEqual(blocked.answer["R"]["execution"]["starttime"],
                         1150.0)
        self.assertEqual(bench.clock.getDelayedCalls(), [])
