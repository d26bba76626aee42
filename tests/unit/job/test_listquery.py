"""job-list's answers computed from job records: attributes in every state,
selection, order, limits, stats and the ``flux job last`` history."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError
from fluxd.formats.jobspec import from_command
from fluxd.job import _listquery as Q
from fluxd.job import jobs as J
from fluxd.job._listindex import JobIndex
from fluxd.testing.jobs import FakeJobTable

R2 = {"version": 1, "execution": {
    "R_lite": [{"rank": "0-1", "children": {"core": "0"}}],
    "nodelist": ["node[0-1]"], "starttime": 10.0, "expiration": 70.0}}


def jobspec(cmd=("sleep", "1"), **system):
    spec = from_command(list(cmd))
    spec["attributes"]["system"].pop("environment", None)
    spec["attributes"]["system"].update(system)
    return spec


class Jobs:
    """Jobs in a memory-only fake table, made by test helpers."""

    def __init__(self):
        self.table = FakeJobTable()
        self.next_id = 1

    def make(self, state, t_submit=100.0, userid=1000, urgency=16, R=None,
             cmd=("sleep", "1"), **kw):
        system = {k: kw.pop(k) for k in list(kw)
                  if k in ("queue", "duration", "cwd")}
        jobid = self.next_id * 16777216
        self.next_id += 1
        job = self.table.submit(jobid, userid, jobspec(cmd, **system),
                                t_submit, urgency=urgency).result
        if state != J.NEW:
            self.table.run_to(job, state, R=R, **kw)
        return job


def query(**body):
    body.setdefault("attrs", ["all"])
    return Q.Query(body)


def ids(answer):
    return [job["id"] for job in answer]


def indexed(table):
    """A JobIndex following ``table`` from now on, loaded."""
    index = JobIndex(table)
    index.load()
    table.add_observer(index.observe)
    return index


class AttributeTests(SynchronousTestCase):
    def setUp(self):
        self.jobs = Jobs()

    def attrs(self, job, names=("all",)):
        return Q.job_attrs(job, Q.check_attrs(list(names)))

    def test_new_and_invalidated_jobs_are_not_listed(self):
        new = self.jobs.make(J.NEW)
        bad = self.jobs.make(J.NEW)
        self.jobs.table.post(bad, "invalidate", None, 101.0)
        self.assertFalse(Q.listed(new))
        self.assertFalse(Q.listed(bad))
        self.assertEqual(Q.list_jobs(indexed(self.jobs.table), query()), [])

    def test_depend(self):
        job = self.jobs.make(J.DEPEND)
        got = self.attrs(job)
        self.assertEqual(got["state"], J.DEPEND)
        self.assertEqual((got["t_submit"], got["t_depend"]), (100.0, 101.0))
        for absent in ("priority", "t_run", "t_cleanup", "t_inactive",
                       "nnodes", "ranks", "nodelist", "expiration",
                       "success", "result", "exception_occurred",
                       "waitstatus", "annotations", "dependencies"):
            self.assertNotIn(absent, got)
        self.assertEqual((got["name"], got["ntasks"], got["ncores"],
                          got["duration"]), ("sleep", 1, 1, 0.0))

    def test_sched_has_priority(self):
        got = self.attrs(self.jobs.make(J.SCHED, urgency=20))
        self.assertEqual((got["state"], got["priority"], got["urgency"]),
                         (J.SCHED, 20, 20))

    def test_run_has_resources(self):
        got = self.attrs(self.jobs.make(J.RUN, R=R2))
        self.assertEqual(got["t_run"], 104.0)
        self.assertEqual((got["nnodes"], got["ranks"], got["nodelist"],
                          got["expiration"]), (2, "0-1", "node[0-1]", 70.0))
        self.assertNotIn("t_cleanup", got)

    def test_completed(self):
        got = self.attrs(self.jobs.make(J.INACTIVE, R=R2, status=0))
        self.assertEqual((got["state"], got["result"], got["success"],
                          got["exception_occurred"], got["waitstatus"]),
                         (J.INACTIVE, J.COMPLETED, True, False, 0))
        self.assertNotIn("exception_type", got)
        self.assertEqual((got["t_cleanup"], got["t_inactive"]),
                         (106.0, 108.0))

    def test_failed(self):
        got = self.attrs(self.jobs.make(J.INACTIVE, R=R2, status=256))
        self.assertEqual((got["result"], got["success"], got["waitstatus"]),
                         (J.FAILED, False, 256))

    def test_canceled_before_running(self):
        got = self.attrs(self.jobs.make(J.INACTIVE,
                                        exception=("cancel", "no")))
        self.assertEqual((got["result"], got["exception_occurred"],
                          got["exception_type"], got["exception_severity"],
                          got["exception_note"]),
                         (J.CANCELED, True, "cancel", 0, "no"))
        for absent in ("t_run", "ranks", "nodelist", "waitstatus"):
            self.assertNotIn(absent, got)

    def test_timeout(self):
        got = self.attrs(self.jobs.make(
            J.INACTIVE, R=R2, exception=("timeout", "expired"),
            status=36352))
        self.assertEqual((got["result"], got["exception_type"]),
                         (J.TIMEOUT, "timeout"))

    def test_all_keeps_job_list_order_and_only_asked_attrs(self):
        job = self.jobs.make(J.INACTIVE, R=R2, status=0, queue="batch")
        got = self.attrs(job)
        self.assertEqual(list(got)[0], "id")
        order = [k for k in got if k != "id"]
        self.assertEqual(order, [a for a in Q.ALL_ATTRS if a in got])
        self.assertEqual(self.attrs(job, ["queue", "t_sched"]),
                         {"id": job.id, "queue": "batch", "t_sched": 103.0})

    def test_bad_attrs(self):
        with self.assertRaises(FluxError) as ctx:
            Q.check_attrs(["state", "bogus"])
        self.assertEqual((ctx.exception.errno, str(ctx.exception)),
                         (errno.EINVAL, "bogus is not a valid attribute"))
        with self.assertRaises(FluxError) as ctx:
            Q.check_attrs("all")
        self.assertEqual(ctx.exception.errno, errno.EPROTO)
        self.assertRaises(FluxError, Q.check_attrs, [3])


class SelectionTests(SynchronousTestCase):
    def setUp(self):
        self.jobs = Jobs()
        # half the jobs indexed at load, half as they are observed
        self.index = JobIndex(self.jobs.table)
        make = self.jobs.make
        self.low = make(J.SCHED, t_submit=100.0, urgency=10)
        self.high = make(J.SCHED, t_submit=101.0, urgency=20)
        self.high2 = make(J.SCHED, t_submit=102.0, urgency=20)
        self.dep = make(J.DEPEND, t_submit=103.0)
        self.run1 = make(J.RUN, t_submit=100.0, R=R2, queue="batch")
        self.run2 = make(J.RUN, t_submit=200.0, R=R2, queue="debug")
        self.index.load()
        self.jobs.table.add_observer(self.index.observe)
        self.done = make(J.INACTIVE, t_submit=100.0, status=0, R=R2,
                         queue="batch")
        self.fail = make(J.INACTIVE, t_submit=300.0, status=256,
                         cmd=("false",), R=R2, userid=2000)
        self.cancel = make(J.INACTIVE, t_submit=400.0,
                           exception=("cancel", ""))

    def listing(self, **body):
        return ids(Q.list_jobs(self.index, query(**body)))

    def test_order(self):
        self.assertEqual(self.listing(), [
            self.high.id, self.high2.id, self.low.id, self.dep.id,
            self.run2.id, self.run1.id,
            self.cancel.id, self.fail.id, self.done.id])

    def test_max_entries(self):
        self.assertEqual(self.listing(max_entries=4),
                         [self.high.id, self.high2.id, self.low.id,
                          self.dep.id])
        self.assertEqual(self.listing(max_entries=6)[-2:],
                         [self.run2.id, self.run1.id])
        self.assertEqual(len(self.listing(max_entries=0)), 9)

    def test_states_results_and_their_union(self):
        self.assertEqual(self.listing(states=J.RUNNING),
                         [self.run2.id, self.run1.id])
        self.assertEqual(self.listing(results=J.FAILED | J.CANCELED),
                         [self.cancel.id, self.fail.id])
        self.assertEqual(self.listing(states=J.DEPEND, results=J.COMPLETED),
                         [self.dep.id, self.done.id])
        self.assertEqual(len(self.listing(states=J.INACTIVE)), 3)

    def test_user_name_queue_ids(self):
        self.assertEqual(self.listing(userid=2000), [self.fail.id])
        self.assertEqual(self.listing(name="false"), [self.fail.id])
        self.assertEqual(self.listing(queue="batch"),
                         [self.run1.id, self.done.id])
        self.assertEqual(self.listing(queue=["debug", "batch"]),
                         [self.run2.id, self.run1.id, self.done.id])
        self.assertEqual(self.listing(ids=[self.done.id, self.low.id, 7]),
                         [self.low.id, self.done.id])

    def test_since_is_strictly_after(self):
        since = self.done.t_inactive
        got = self.listing(states=J.INACTIVE, since=since)
        self.assertEqual(got, [self.cancel.id, self.fail.id])
        self.assertEqual(len(self.listing(since=since)), 8)
        self.assertEqual(self.listing(since=self.cancel.t_inactive,
                                      states=J.INACTIVE), [])

    def test_ranks_and_hosts(self):
        self.assertEqual(self.listing(ranks="1", states=J.RUNNING),
                         [self.run2.id, self.run1.id])
        self.assertEqual(self.listing(ranks="5"), [])
        self.assertEqual(self.listing(hosts="node1", states=J.INACTIVE),
                         [self.fail.id, self.done.id])
        self.assertRaises(FluxError, query, ranks="x[")

    def test_bad_payloads(self):
        for body in ({"max_entries": -1}, {"max_entries": "3"},
                     {"userid": -1}, {"states": 1 << 9}, {"since": -1.0},
                     {"since": "x"}, {"ids": "1"}, {"queue": 3},
                     {"name": [1]}):
            with self.assertRaises(FluxError, msg=repr(body)) as ctx:
                query(**body)
            self.assertEqual(ctx.exception.errno, errno.EPROTO, body)
        self.assertRaises(FluxError, Q.Query, [])


class StatsTests(SynchronousTestCase):
    def test_counts_queues_and_purged(self):
        jobs = Jobs()
        jobs.make(J.SCHED, queue="a")
        jobs.make(J.RUN, R=R2, queue="a")
        jobs.make(J.DEPEND)
        done = jobs.make(J.INACTIVE, status=0, R=R2, queue="a")
        jobs.make(J.INACTIVE, status=256, R=R2, queue="b")
        jobs.make(J.INACTIVE, exception=("cancel", ""))
        jobs.make(J.INACTIVE, exception=("timeout", "x"), status=9, R=R2)
        jobs.make(J.NEW)
        seen = Q.count_inactive(jobs.table.jobs())
        self.assertEqual(seen, {None: 4, "a": 1, "b": 1})
        jobs.table.purge(done.id)
        stats = Q.job_stats(jobs.table.jobs(), seen)
        self.assertEqual(stats["job_states"], {
            "depend": 1, "priority": 0, "sched": 1, "run": 1, "cleanup": 0,
            "inactive": 3, "total": 6})
        self.assertEqual((stats["successful"], stats["failed"],
                          stats["canceled"], stats["timeout"],
                          stats["inactive_purged"]), (0, 1, 1, 1, 1))
        by_name = {q["name"]: q for q in stats["queues"]}
        self.assertEqual(sorted(by_name), ["a", "b"])
        self.assertEqual(by_name["a"]["inactive_purged"], 1)
        self.assertEqual(by_name["a"]["job_states"]["total"], 2)
        self.assertEqual(by_name["b"]["failed"], 1)


class HistoryTests(SynchronousTestCase):
    def setUp(self):
        self.jobs = Jobs()
        self.a = self.jobs.make(J.INACTIVE, t_submit=1.0, status=0)
        self.b = self.jobs.make(J.SCHED, t_submit=2.0)
        self.other = self.jobs.make(J.SCHED, t_submit=3.0, userid=2000)
        self.c = self.jobs.make(J.NEW, t_submit=4.0)

    def history(self, text, userid=1000):
        return Q.history(self.jobs.table.jobs(), userid, text)

    def test_slices(self):
        a, b, c = self.a.id, self.b.id, self.c.id
        self.assertEqual(self.history("[:1]"), [c])
        self.assertEqual(self.history("[:]"), [c, b, a])
        self.assertEqual(self.history("[::-1]"), [a, b, c])
        self.assertEqual(self.history("[1:]"), [b, a])
        self.assertEqual(self.history("[-1]"), [a])
        self.assertEqual(self.history("[1]"), [b])
        self.assertEqual(self.history("[:5]", userid=2000), [self.other.id])
        self.assertEqual(self.history("[:1]", userid=3000), [])

    def test_bad_slices(self):
        for text in ("1", "[", "[a]", "[::0]", "[1:2:3:4]", "[]", 3):
            with self.assertRaises(FluxError, msg=repr(text)) as ctx:
                self.history(text)
            self.assertEqual(ctx.exception.errno, errno.EINVAL)


class JobIndexTests(SynchronousTestCase):
    def test_order_purges_and_compaction(self):
        from fluxd.job import _listindex
        jobs = Jobs()
        old = [jobs.make(J.INACTIVE, t_submit=10.0 * i, status=0)
               for i in range(3)]
        index = indexed(jobs.table)
        pending = jobs.make(J.SCHED, t_submit=100.0)
        new = jobs.make(J.INACTIVE, t_submit=200.0, exception=("x", ""))
        self.assertEqual([j.id for j in index.inactive()],
                         [new.id] + [j.id for j in reversed(old)])
        self.assertEqual([j.id for j in index.active()], [pending.id])
        jobs.table.purge(old[1].id)
        self.assertEqual([j.id for j in index.inactive()],
                         [new.id, old[2].id, old[0].id])
        self.assertEqual(len(index), 5)
        self.patch(_listindex, "_COMPACT_EVERY", 2)
        jobs.make(J.INACTIVE, t_submit=300.0, exception=("x", ""))
        self.assertEqual(len(index), 5)     # old[1]'s id dropped

    def test_submitted_job_not_yet_in_the_table(self):
        jobs = Jobs()
        index = indexed(jobs.table)
        job = J.Job(99, 1000, 16, 1.0)
        index.observe(job, {"name": "submit", "timestamp": 1.0})
        self.assertEqual(list(index.active()), [])
