"""Each job's guest namespace ``job-<id>``: created with the job, owned by
its user, linked from ``job.<id>.guest``, folded back into ``primary``
before ``done``; kept across a restart, recovered when the job ended
while the broker was down."""

import errno

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.errors import FluxError
from fluxd.exec._guest import GuestNamespaces
from fluxd.formats import eventlog, fluid
from fluxd.job.kvsbatch import KVSBatcher
from fluxd.kvs.content import MemoryContentStore
from fluxd.kvs.service import OWNER_CRED
from fluxd.message.types import ROLE_USER
from fluxd.storage import treeobj as T
from fluxd.storage.lookup import TREEOBJ
from fluxd.testing.kvs import GatedStore, KVSBroker
from tests.unit.exec.fakejm import Bench, jobspec

GUEST = 4242
KEY = fluid.encode(1, "kvs")


class Disk(GatedStore):
    """A store that outlives the broker (a memory store is gone once
    closed): the next broker opens it again."""

    def __init__(self):
        super().__init__(MemoryContentStore())
        self.gate = False

    def close(self):
        return defer.succeed(None)


class GuestNamespaceTests(SynchronousTestCase):
    def setUp(self):
        self.store = Disk()
        self.bench = Bench(self, Config({"exec": {"testexec": {
            "allow-guests": True}}}), store=self.store)

    def stop(self, bench):
        """The broker stops, jobs running (their writes flushed)."""
        self.successResultOf(bench.exec.stopService())
        self.successResultOf(bench.kvs.stop())

    def names(self, bench=None):
        kvs = (bench or self.bench).kvs.kvs
        return sorted(n["namespace"] for n in kvs.namespaces())

    def read(self, ns, key, cred=None, bench=None):
        kvs = (bench or self.bench).kvs.kvs
        kw = {} if cred is None else {"cred": cred}
        return kvs.lookup(ns, key, **kw)

    def events(self, d):
        data = T.decode_val(self.successResultOf(d)).decode()
        return [e["name"] for e in eventlog.decode(data)]

    def test_life_cycle(self):
        bench = self.bench
        s = bench.start(1, jobspec(run_duration="2s"), userid=GUEST)
        self.assertEqual(s.kinds(), ["start"])
        self.assertEqual(self.names(), ["job-1", "primary"])
        info = self.successResultOf(bench.kvs.kvs.getroot("job-1"))
        self.assertEqual(info["owner"], GUEST)
        link = self.successResultOf(bench.kvs.kvs.lookup(
            "primary", KEY + ".guest", TREEOBJ))
        self.assertEqual(link["type"], T.SYMLINK)
        self.assertEqual(link["data"], {"namespace": "job-1", "target": "."})
        # the job's user reads its own namespace, another guest may not
        mine = (GUEST, ROLE_USER)
        self.assertEqual(self.events(self.read("job-1", "exec.eventlog", mine)),
                         ["init", "starting"])
        d = self.read("job-1", "exec.eventlog", (GUEST + 1, ROLE_USER))
        self.assertEqual(self.failureResultOf(d, FluxError).value.errno,
                         errno.EPERM)
        # the instance reads it through primary
        self.assertEqual([n for n, _ in bench.exec_log(1)], ["init", "starting"])
        bench.advance(2)
        self.assertEqual(s.kinds(), ["start", "finish", "release"])
        self.assertEqual(self.names(), ["primary"])
        self.assertEqual([n for n, _ in bench.exec_log(1)],
                         ["init", "starting", "complete", "done"])
        moved = self.successResultOf(bench.kvs.kvs.lookup(
            "primary", KEY + ".guest", TREEOBJ))
        self.assertEqual(moved["type"], T.DIRREF)
        # no namespace is left in the store either
        self.assertNotIn("job-1", self.successResultOf(
            bench.kvs.content.roots()))

    def test_failing_job_still_folds_its_namespace_back(self):
        bench = self.bench
        s = bench.start(1, jobspec(mock_exception="init"))
        self.assertEqual(s.kinds(), ["exception", "release"])
        self.assertEqual(self.names(), ["primary"])
        self.assertEqual([n for n, _ in bench.exec_log(1)], ["init", "done"])

    def test_namespace_kept_across_a_restart_and_reattached(self):
        bench = self.bench
        bench.post_job_event(1, "start", bench.clock.seconds())
        s = bench.start(1, jobspec(run_duration="1h"))
        self.assertEqual(s.kinds(), ["start"])
        # the broker goes away with the job running
        self.stop(bench)
        again = Bench(self, store=self.store)
        self.assertEqual(self.names(again), ["job-1", "primary"])
        s = again.start(1, jobspec(run_duration="1h", reattach_finish=True),
                        reattach=True)
        again.advance(0.001)
        self.assertEqual(s.kinds(), ["reattached", "finish", "release"])
        self.assertEqual(self.names(again), ["primary"])
        self.assertEqual([n for n, _ in again.exec_log(1)], [
            "init", "starting", "reattach", "re-starting", "complete", "done"])

    def test_jobs_that_ended_while_the_broker_was_down_are_recovered(self):
        bench = self.bench
        for jobid in (1, 2, 3):
            bench.post_job_event(jobid, "start", bench.clock.seconds())
            bench.start(jobid, jobspec(run_duration="1h"))
        # job 1 finished, job 2 is still running, job 3 was purged: the
        # broker stopped before exec wrote done for any of them
        bench.post_job_event(1, "finish", bench.clock.seconds())
        self.successResultOf(bench.kvs.kvs.commit("primary", [{
            "key": fluid.encode(3, "kvs"), "flags": 0, "dirent": None}]))
        self.stop(bench)
        again = Bench(self, store=self.store)
        self.assertEqual(self.names(again), ["job-2", "primary"])
        self.assertEqual([n for n, _ in again.exec_log(1)],
                         ["init", "starting", "done"])
        self.assertEqual(again.jm.hellos, [{"service": "job-exec"}])


class _Job:
    """What GuestNamespaces needs of a job."""

    def __init__(self, jobid, userid=GUEST):
        self.key = fluid.encode(jobid, "kvs")
        self.guest = f"job-{jobid}"
        self.userid = userid
        self.moved = False


class FoldTests(SynchronousTestCase):
    """A job whose whole life is queued in one batch gets no namespace:
    its writes land straight in ``job.<id>.guest``, as the copy of its
    namespace would have put them."""

    def setUp(self):
        self.store = Disk()
        self.b = KVSBroker(0, self.store)
        self.successResultOf(self.b.start())
        self.clock = Clock()
        self.w = KVSBatcher(self.clock, self.b.kvs, OWNER_CRED)
        self.g = GuestNamespaces(self.clock, self.b.kvs, self.w, OWNER_CRED)
        # what the batcher sends: the namespaces its steps name
        self.sent = []
        batch = self.b.kvs.commit_batch

        def commit_batch(steps, **kw):
            self.sent.append([(step[0], step[1]) for step in steps])
            return batch(steps, **kw)
        self.b.kvs.commit_batch = commit_batch

    def life(self, job, commit_between):
        """Open, write, (commit,) write, close, write after the move."""
        g = self.g
        g.open(job)
        g.append(job, "exec.eventlog", b"init\n")
        g.append(job, "output", b"a\n")
        g.put_value(job, "exec.seq.0", b"1")
        if commit_between:
            self.clock.advance(0)
        # another job's namespace in between: a step of its own
        other = _Job(99)
        g.open(other)
        g.append(job, "output", b"b\n")
        g.append(job, "exec.eventlog", b"complete\n")
        g.close(job)
        g.append(job, "exec.eventlog", b"done\n")
        writes = len(self.store.writes)
        self.clock.advance(0)
        self.assertEqual(len(self.store.writes), writes + 1)
        return self.store.writes[-1][1]

    def read(self, key):
        return self.successResultOf(self.b.kvs.lookup("primary", key))

    def check_values(self, job):
        base = job.key + ".guest."
        self.assertEqual(T.decode_val(self.read(base + "exec.eventlog")),
                         b"init\ncomplete\ndone\n")
        self.assertEqual(T.decode_val(self.read(base + "output")), b"a\nb\n")
        self.assertEqual(T.decode_val(self.read(base + "exec.seq.0")), b"1")
        names = sorted(n["namespace"] for n in self.b.kvs.namespaces())
        self.assertEqual(names, ["job-99", "primary"])

    def test_whole_life_in_one_batch_makes_no_namespace(self):
        job = _Job(1)
        roots = self.life(job, commit_between=False)
        # no step names job-1: it is made, copied and removed nowhere
        self.assertEqual(self.sent[-1], [
            ("commit", "primary"), ("create", "job-99")])
        self.assertNotIn("job-1", roots)
        self.check_values(job)

    def test_namespace_already_sent_is_copied_and_removed(self):
        job = _Job(2)
        roots = self.life(job, commit_between=True)
        self.assertIsNone(roots["job-2"])          # removed in this write
        self.assertEqual(self.sent[-1], [
            ("create", "job-99"), ("commit", "primary"), ("commit", "job-2"),
            ("copy", "primary"), ("remove", "job-2"), ("commit", "primary")])
        self.check_values(job)
