"""The job manager with a scheduler and exec service driven by the test."""

import errno
import json

from twisted.trial.unittest import SynchronousTestCase

from fluxd.admin.startlog import SafeMode
from fluxd.config import Config
from fluxd.formats.jobspec import from_command
from fluxd.job import jobs as J
from fluxd.security.sign import wrap_none
from tests.unit.job.fakes import GUEST, OWNER, OWNER_UID, Instance

PRE = ["submit", "validate", "depend", "priority"]


class LifecycleTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self)

    def test_job_waits_in_sched_without_a_scheduler(self):
        [jobid] = self.i.submit()
        job = self.i.manager.get(jobid)
        self.assertEqual(job.state, J.SCHED)
        self.assertEqual(self.i.events(jobid), PRE)
        status = self.i.ok("job-manager.queue-status")
        self.assertEqual((status["start"], status["stop_reason"]),
                         (False, "Scheduler is offline"))

    def test_job_runs_to_completion(self):
        self.i.hello()
        [jobid] = self.i.submit()
        self.i.sched.grant(jobid)
        self.i.settle()
        self.assertEqual(self.i.manager.get(jobid).state, J.RUN)
        self.i.exec.run(jobid, 0)
        self.i.settle()
        job = self.i.manager.get(jobid)
        self.assertEqual((job.state, job.result), (J.INACTIVE, J.COMPLETED))
        self.assertEqual(self.i.events(jobid), PRE + [
            "alloc", "start", "finish", "release", "free", "clean"])
        self.assertEqual(self.i.sched.frees, [jobid])
        self.assertEqual((job.ranks, job.nodelist, job.nnodes),
                         ("0", "node0", 1))

    def test_failed_job(self):
        self.i.hello()
        [jobid] = self.i.submit()
        self.i.sched.grant(jobid)
        self.i.settle()
        self.i.exec.run(jobid, 256)
        self.i.settle()
        self.assertEqual(self.i.manager.get(jobid).result, J.FAILED)

    def test_cancel_pending_withdraws_the_alloc(self):
        self.i.hello()
        [jobid] = self.i.submit()
        self.i.ok("job-manager.raise", {"id": jobid, "severity": 0,
                                        "type": "cancel", "note": "no"})
        self.i.settle()
        self.assertEqual(self.i.sched.cancels, [jobid])
        job = self.i.manager.get(jobid)
        self.assertEqual((job.state, job.result), (J.INACTIVE, J.CANCELED))
        self.assertEqual(self.i.events(jobid)[-2:], ["exception", "clean"])

    def test_J_is_handed_over_at_admission_and_forgotten_at_the_end(self):
        class Known:
            def __init__(self):
                self.held = {}

            def remember(self, jobid, J):
                self.held[jobid] = J

            def forget(self, jobid):
                self.held.pop(jobid, None)
        known = self.i.manager.known_J = Known()
        self.i.hello()
        first, second = self.i.submit(count=2)
        from fluxd.job.manager import job_key
        from fluxd.storage import treeobj as T
        stored = T.decode_val(self.successResultOf(self.i.broker.kvs.lookup(
            "primary", f"{job_key(first)}.J"))).decode()
        self.assertEqual(known.held, {first: stored, second: stored})
        self.i.ok("job-manager.raise", {"id": second, "severity": 0,
                                        "type": "cancel"})
        self.i.settle()
        self.assertEqual(list(known.held), [first])

    def test_cancel_running_waits_for_exec(self):
        self.i.hello()
        [jobid] = self.i.submit()
        self.i.sched.grant(jobid)
        self.i.settle()
        self.i.exec.send(jobid, "start")
        self.i.ok("job-manager.raise", {"id": jobid, "severity": 0,
                                        "type": "cancel"})
        job = self.i.manager.get(jobid)
        self.assertEqual(job.state, J.CLEANUP)
        self.i.exec.finish(jobid, 15)
        self.i.settle()
        self.assertEqual((job.state, job.result), (J.INACTIVE, J.CANCELED))

    def test_deny_fails_the_job(self):
        self.i.hello()
        [jobid] = self.i.submit()
        self.i.sched.answer(jobid, 2, note="unsatisfiable request")
        self.i.settle()
        job = self.i.manager.get(jobid)
        self.assertEqual((job.state, job.result, job.exception_type,
                          job.exception_note),
                         (J.INACTIVE, J.FAILED, "alloc", "unsatisfiable request"))

    def test_priority_order_in_limited_mode(self):
        low = self.i.submit(urgency=10)[0]
        held = self.i.submit(urgency=0)[0]
        fast = self.i.submit(urgency=31)[0]
        normal = self.i.submit()[0]
        self.assertEqual(self.i.hello("limited", 1), {"count": 4})
        self.assertEqual(self.i.sched.order, [fast])
        self.i.sched.answer(fast, 3)   # canceled: goes back to the queue
        self.i.settle()
        self.i.sched.grant(self.i.sched.order[-1])
        self.i.settle()
        self.assertEqual(self.i.sched.order, [fast, fast, normal])
        self.i.sched.grant(normal)
        self.i.settle()
        self.assertEqual(self.i.sched.order[-1], low)
        self.i.sched.grant(low)
        self.i.settle()
        self.assertNotIn(held, self.i.sched.allocs)
        self.assertEqual(self.i.manager.get(held).priority, 0)

    def test_urgency_rules(self):
        [jobid] = self.i.submit()
        self.assertEqual(self.i.ok("job-manager.urgency",
                                   {"id": jobid, "urgency": 0}),
                         {"old_urgency": 16})
        self.assertEqual(self.i.manager.get(jobid).priority, 0)
        err = self.i.fail("job-manager.urgency", {"id": jobid, "urgency": 32})
        self.assertEqual(str(err), "urgency value is out of range")
        err = self.i.fail("job-manager.urgency", {"id": 1, "urgency": 3})
        self.assertEqual(err.errno, errno.ENOENT)
        err = self.i.fail("job-manager.urgency", {"id": jobid, "urgency": 3},
                          GUEST)
        self.assertEqual((err.errno, str(err)),
                         (errno.EPERM, "guests can only reprioritize their"
                          " own jobs"))

    def test_queue_stop_withdraws_allocs_and_start_resends(self):
        self.i.hello()
        [jobid] = self.i.submit()
        self.i.ok("job-manager.queue-start", {"start": False,
                                              "reason": "maintenance"})
        self.assertEqual(self.i.sched.cancels, [jobid])
        self.assertNotIn(jobid, self.i.sched.allocs)
        status = self.i.ok("job-manager.queue-status")
        self.assertEqual((status["start"], status["stop_reason"]),
                         (False, "maintenance"))
        self.i.ok("job-manager.queue-start", {"start": True})
        self.assertIn(jobid, self.i.sched.allocs)

    def test_disabled_queue_refuses_submission(self):
        self.i.ok("job-manager.queue-enable", {"enable": False})
        err = self.i.fail("job-ingest.submit", {"J": self.i.J(), "urgency": 16,
                                                "flags": 0})
        self.assertEqual(str(err), "job submission is disabled: disabled by"
                         " administrator")

    def test_wait_for_a_waitable_job(self):
        self.i.hello()
        [jobid] = self.i.submit(flags=J.FLAG_WAITABLE)
        d = self.i.call("job-manager.wait", {"id": jobid})
        self.assertNoResult(d)
        self.i.sched.grant(jobid)
        self.i.settle()
        self.i.exec.run(jobid, 0)
        self.i.settle()
        self.assertEqual(self.successResultOf(d),
                         {"id": jobid, "success": True, "errstr": ""})
        err = self.i.fail("job-manager.wait", {"id": J.ANY_JOB})
        self.assertEqual(err.errno, errno.ECHILD)

    def test_purge(self):
        self.i.hello()
        ids = self.i.submit(3)
        for jobid in ids:
            self.i.ok("job-manager.raise", {"id": jobid, "severity": 0,
                                            "type": "cancel"})
        self.assertEqual(self.i.ok("job-manager.purge", {"num_limit": 1}),
                         {"count": 2, "remaining": 3})
        self.assertEqual(self.i.ok("job-manager.purge", {"num_limit": 1,
                                                         "force": True}),
                         {"count": 2, "remaining": 1})
        self.assertIsNone(self.i.manager.get(ids[0]))
        self.assertIsNotNone(self.i.manager.get(ids[2]))


class BatchTests(SynchronousTestCase):
    def test_commits_are_batched(self):
        i = Instance(self)
        i.hello()
        before = i.manager.batcher.commits
        ids = i.submit(200)
        for jobid in ids:
            i.sched.grant(jobid)
        i.settle()
        for jobid in ids:
            i.exec.run(jobid)
        i.settle()
        self.assertTrue(all(i.manager.get(j).state == J.INACTIVE for j in ids))
        commits = i.manager.batcher.commits - before
        self.assertLessEqual(commits, 10, commits)

    def test_commits_keep_their_interval_under_load(self):
        i = Instance(self)
        batcher = i.manager.batcher
        batcher.interval = 0.01
        for n in range(batcher.busy_ops):
            batcher.put_value(f"a{n}", b"1")
        first = batcher.flush()
        i.settle()
        self.successResultOf(first)
        before = batcher.commits
        batcher.put_value("b", b"2")
        batcher.put_value("c", b"3")
        second = batcher.flush()
        i.settle()
        self.assertNoResult(second)     # 10 ms after the last one began
        i.clock.advance(0.01)
        i.settle()
        self.successResultOf(second)
        self.assertEqual(batcher.commits - before, 1)

    def test_small_batch_is_not_delayed(self):
        # a lone job's batches are small: the next commit goes as soon as
        # the previous one is durable, without waiting for the interval
        i = Instance(self)
        batcher = i.manager.batcher
        batcher.interval = 0.01
        batcher.put_value("a", b"1")
        first = batcher.flush()
        i.settle()
        self.successResultOf(first)
        before = batcher.commits
        batcher.put_value("b", b"2")
        second = batcher.flush()
        i.settle()
        self.successResultOf(second)    # the clock has not moved
        self.assertEqual(batcher.commits - before, 1)


class SafeModeTests(SynchronousTestCase):
    def test_safe_mode_disables_until_enabled(self):
        safe = SafeMode()
        safe.enter()
        i = Instance(self, safe_mode=safe)
        err = i.fail("job-ingest.submit", {"J": i.J(), "urgency": 16,
                                           "flags": 0})
        self.assertIn("job submission is disabled: Flux is in safe mode", str(err))
        i.ok("job-manager.queue-enable", {"enable": True})
        i.ok("job-manager.queue-start", {"start": True})
        self.assertTrue(safe.submit_enabled and safe.sched_started)
        [jobid] = i.submit()
        self.assertEqual(i.manager.get(jobid).state, J.SCHED)


class RestartTests(SynchronousTestCase):
    def test_jobs_survive_a_new_manager(self):
        i = Instance(self)
        i.hello()
        pending = i.submit(2)
        held = i.submit(urgency=0)[0]
        i.sched.grant(pending[0])
        i.settle()
        i.exec.run(pending[0])
        i.settle()
        i.stop()
        again = Instance(self, broker=i.broker)
        done = again.manager.get(pending[0])
        self.assertEqual((done.state, done.result, done.name),
                         (J.INACTIVE, J.COMPLETED, "true"))
        waiting = again.manager.get(pending[1])
        self.assertEqual(waiting.state, J.SCHED)
        self.assertEqual(again.events(pending[1])[-3:],
                         ["priority", "flux-restart", "priority"])
        self.assertEqual(again.manager.get(held).urgency, 0)
        [new] = again.submit()
        self.assertGreater(new, max(pending + [held]))


class BadInputTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self)

    def test_ingest_refusals(self):
        i = self.i
        cases = [
            ({"J": "x.y", "urgency": 16}, errno.EINVAL, "three parts"),
            ({"J": i.J(), "urgency": 32}, errno.EINVAL, "urgency range is [0:31]"),
            ({"J": i.J(userid=4), "urgency": 16}, errno.EPERM,
             "signer=4 != requestor=1000"),
            ({"J": i.J(), "urgency": 16, "flags": 64}, errno.EINVAL,
             "invalid submit flags"),
        ]
        for payload, code, text in cases:
            err = i.fail("job-ingest.submit", dict({"flags": 0}, **payload))
            self.assertEqual(err.errno, code, text)
            self.assertIn(text, str(err))
        guest = [
            ({"J": i.J(userid=GUEST.userid), "urgency": 17},
             "only the instance owner can submit with urgency >16"),
            ({"J": i.J(userid=GUEST.userid), "urgency": 16,
              "flags": J.FLAG_WAITABLE},
             "only the instance owner can submit with flags=waitable"),
            ({"J": i.J(userid=GUEST.userid), "urgency": 16},
             "only instance owner can use sign-type=none"),
        ]
        for payload, text in guest:
            err = i.fail("job-ingest.submit", dict({"flags": 0}, **payload),
                         GUEST)
            self.assertEqual((err.errno, str(err)), (errno.EPERM, text))
        self.assertEqual(list(i.manager.jobs()), [])

    def test_copies_of_one_J_are_each_checked(self):
        i = self.i
        shared = i.J()
        # the same J again: decoded once, its signer checked every time
        answer = i.ok("job-ingest.submit", {"jobs": [
            {"J": shared, "urgency": 16, "flags": J.FLAG_NOVALIDATE},
            {"J": shared, "urgency": 16, "flags": 0},
            {"J": shared, "urgency": 16, "flags": 0}]})
        self.assertEqual([sorted(a) for a in answer["jobs"]], [["id"]] * 3)
        err = i.fail("job-ingest.submit", {"J": shared, "urgency": 16,
                                           "flags": 0}, GUEST)
        self.assertEqual(str(err), f"signer={OWNER_UID} !="
                         f" requestor={GUEST.userid}")
        # an invalid J accepted with novalidate is still refused without
        bad = json.loads(json.dumps(from_command(["true"])))
        del bad["tasks"]
        J_bad = wrap_none(json.dumps(bad).encode(), OWNER_UID)
        i.ok("job-ingest.submit", {"J": J_bad, "urgency": 16,
                                   "flags": J.FLAG_NOVALIDATE})
        err = i.fail("job-ingest.submit", {"J": J_bad, "urgency": 16,
                                           "flags": 0})
        self.assertEqual(err.errno, errno.EINVAL)
        self.assertEqual(len(list(i.manager.jobs())), 4)

    def test_invalid_jobspec_written_nowhere(self):
        bad = self.i.J()
        import base64
        import json
        header, payload, sig = bad.split(".")
        spec = json.loads(base64.b64decode(payload))
        del spec["tasks"]
        broken = ".".join([header, base64.b64encode(
            json.dumps(spec).encode()).decode(), sig])
        err = self.i.fail("job-ingest.submit", {"J": broken, "urgency": 16,
                                                "flags": 0})
        self.assertIn("tasks", str(err))
        self.assertEqual(self.i.manager.batcher.commits, 0)

    def test_guest_may_not_touch_others_jobs(self):
        [jobid] = self.i.submit()
        err = self.i.fail("job-manager.raise", {"id": jobid, "severity": 0,
                                                "type": "cancel"}, GUEST)
        self.assertEqual(str(err), "guests can only raise exceptions on their"
                         " own jobs")
        err = self.i.fail("job-manager.raiseall", {"userid": 0xFFFFFFFF,
                                                   "severity": 0,
                                                   "type": "cancel"}, GUEST)
        self.assertEqual(err.errno, errno.EPERM)
        self.assertEqual(self.i.manager.get(jobid).state, J.SCHED)

    def test_raiseall_dry_run_counts(self):
        self.i.submit(3)
        self.assertEqual(self.i.ok("job-manager.raiseall", {
            "dry_run": True, "userid": 0xFFFFFFFF, "states": J.PENDING,
            "severity": 0, "type": "cancel"}), {"count": 3, "errors": 0})
        self.assertTrue(all(j.state == J.SCHED for j in self.i.manager.jobs()))

    def test_bad_exception_fields(self):
        [jobid] = self.i.submit()
        err = self.i.fail("job-manager.raise", {"id": jobid, "severity": 9,
                                                "type": "cancel"})
        self.assertEqual(str(err), "invalid exception severity")
        err = self.i.fail("job-manager.raise", {"id": jobid, "severity": 0,
                                                "type": "a b"})
        self.assertEqual(str(err), "invalid exception type")

    def test_kill_needs_a_running_job(self):
        [jobid] = self.i.submit()
        err = self.i.fail("job-manager.kill", {"id": jobid, "signum": 15})
        self.assertEqual(str(err), "job is not running")


class ConfigTests(SynchronousTestCase):
    def test_num_limit_purges_by_policy(self):
        i = Instance(self, config=Config({"job-manager": {
            "inactive-num-limit": 1}}))
        for jobid in i.submit(3):
            i.ok("job-manager.raise", {"id": jobid, "severity": 0,
                                       "type": "cancel"})
        i.clock.advance(5)
        i.settle()
        self.assertEqual(len(list(i.manager.jobs())), 1)


class FinalizeTests(SynchronousTestCase):
    """rc3: the checkpoint is durable before the KVS dump of --gc."""

    def setUp(self):
        self.i = Instance(self)

    def checkpoint(self):
        from fluxd.job.manager import CHECKPOINT_KEY
        from fluxd.storage import treeobj as T
        obj = self.successResultOf(self.i.broker.kvs.lookup(
            "primary", CHECKPOINT_KEY))
        return T.decode_val(obj)

    def test_checkpoint_committed_in_rc3(self):
        from fluxd.interfaces import IFinalizeStep
        self.assertTrue(IFinalizeStep.providedBy(self.i.manager))
        self.i.submit(3)
        self.i.settle()
        d = self.i.manager.finalize()
        self.i.settle()
        self.assertEqual(self.successResultOf(d), 0)
        self.assertIn(b'"max_jobid": ', self.checkpoint())
        self.assertFalse(self.i.clock.getDelayedCalls())

    def test_rc3_goes_on_when_the_kvs_refuses_writes(self):
        from fluxd.errors import NoSpace
        from twisted.internet import defer
        from fluxd.job.manager import _FINALIZE_WAIT
        self.i.manager.batcher._kvs.commit = \
            lambda *a, **kw: defer.fail(NoSpace("KVS is read-only"))
        d = self.i.manager.finalize()
        self.i.clock.advance(0)
        self.assertNoResult(d)
        self.i.clock.advance(_FINALIZE_WAIT)
        self.assertEqual(self.successResultOf(d), 0)
