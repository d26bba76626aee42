"""The job manager, the scheduler and test exec sharing one KVS batcher,
as in the broker: jobs go through without waiting for the disk, and
every state the disk can be caught in is one the jobs really went
through (R before the alloc event, the exec eventlog's init before the
start event, the free event before the next alloc of the same core)."""

import json

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.errors import NotFound
from fluxd.exec.service import ExecService
from fluxd.formats.rv1 import from_config
from fluxd.job import jobs as J
from fluxd.job.manager import job_key
from fluxd.kvs.content import MemoryContentStore
from fluxd.resource.service import ResourceService
from fluxd.sched.service import SchedulerService
from fluxd.storage import treeobj as T
from fluxd.testing.kvs import GatedStore, KVSBroker
from fluxd.testing.overlay import FakeOverlayStatus
from tests.unit.job.fakes import OWNER_UID, Instance

# one node with one core: every job runs on core 0 after the previous one
CONFIG = [{"hosts": "test0", "cores": "0"}]


class SharedWriterTests(SynchronousTestCase):
    def setUp(self):
        self.store = GatedStore(MemoryContentStore())
        self.store.gate = False
        broker = KVSBroker(0, store=self.store, owner=OWNER_UID)
        self.successResultOf(broker.start())
        self.i = Instance(self, broker=broker, sched=False, exec_=False)
        clock, router = self.i.clock, self.i.router
        rset = from_config(CONFIG)
        resource = ResourceService(
            clock, 0, 1, router, ["test0"], rset=rset,
            local=rset.copy_ranks([0]), overlay=FakeOverlayStatus("0"))
        self.successResultOf(defer.maybeDeferred(resource.startService))
        router.add_module(resource)
        writer = self.i.manager.batcher
        self.sched = SchedulerService(clock, router, broker.kvs,
                                      writer=writer)
        self.exec = ExecService(clock, router, broker.kvs,
                                broker.events, Config({}), writer=writer)
        for module in (self.sched, self.exec):
            module.startService()
            router.add_module(module)
        self.i.settle()

    def lookup(self, key):
        try:
            obj = self.successResultOf(self.i.broker.kvs.lookup("primary",
                                                                key))
        except Exception:
            failure = self.failureResultOf(
                self.i.broker.kvs.lookup("primary", key))
            failure.trap(NotFound)
            return None
        return T.decode_val(obj).decode()

    def names(self, key):
        text = self.lookup(key)
        return [json.loads(line)["name"]
                for line in (text or "").splitlines()]

    def record(self):
        """Log every operation queued on the shared batcher, in order:
        commits are atomic and in this order, so whatever is on disk at
        any time is a prefix of it."""
        log, writer = [], self.i.manager.batcher
        put, append = writer.put, writer.append

        def full(key, namespace):
            # a job's guest namespace job-<id> is job.<id>.guest
            if namespace is None or namespace == "primary":
                return key
            return f"{job_key(int(namespace[len('job-'):]))}.guest.{key}"

        def logged_put(key, dirent, note=None, namespace=None):
            log.append((full(key, namespace), None))
            put(key, dirent, note, namespace)

        def logged_append(key, data, note=None, namespace=None):
            for line in data.decode().splitlines():
                log.append((full(key, namespace), json.loads(line)["name"]))
            append(key, data, note, namespace)
        writer.put, writer.append = logged_put, logged_append
        return log

    def check_order(self, log, ids):
        """Every prefix of ``log`` is a state the jobs went through."""
        done, holder = set(), None
        for key, name in log:
            jobid = next((j for j in ids if key.startswith(job_key(j))),
                         None)
            if jobid is None:
                continue
            kind = key[len(job_key(jobid)) + 1:]
            done.add((jobid, kind, name))
            if (kind, name) == ("eventlog", "alloc"):
                self.assertIn((jobid, "R", None), done)
                self.assertIsNone(holder, f"{holder} and {jobid} both"
                                  " hold core 0")
                holder = jobid
            elif (kind, name) == ("eventlog", "free"):
                holder = None
            elif (kind, name) == ("eventlog", "start"):
                self.assertIn((jobid, "guest.exec.eventlog", "init"), done)
            elif (kind, name) == ("eventlog", "release"):
                self.assertIn((jobid, "guest.exec.eventlog", "done"), done)
        return done

    def test_jobs_run_through_while_the_disk_waits(self):
        self.i.ok("job-manager.queue-start", {"start": False})
        ids = self.i.submit(3, **{"exec": {"test": {"run_duration": "1s"}}})
        self.store.gate = True
        writes = len(self.store.writes)
        log = self.record()
        self.i.ok("job-manager.queue-start", {"start": True,
                                              "nocheckpoint": True})
        for _ in range(3):
            self.i.clock.advance(1)
            self.i.settle()
        # every job ran on the one core and is done in memory...
        self.assertEqual([self.i.manager.get(j).state for j in ids],
                         [J.INACTIVE] * 3)
        self.assertEqual(self.sched.policy.totals(), (1, 1))
        # ...while nothing of it is on disk yet
        self.assertTrue(self.store.gated)
        self.assertEqual(len(self.store.writes) - writes,
                         len(self.store.gated))
        self.assertEqual(self.names(f"{job_key(ids[0])}.eventlog"),
                         ["submit", "validate", "depend", "priority"])
        # whatever part of it reaches the disk, in order, is a state the
        # jobs went through
        # R, the guest symlink, 6 job events and 4 exec events per job
        self.assertEqual(len(self.check_order(log, ids)), 3 * 12)
        self.store.gate = False
        self.store.release()
        self.i.settle()
        for jobid in ids:
            self.assertEqual(self.names(f"{job_key(jobid)}.eventlog")[-6:],
                             ["alloc", "start", "finish", "release", "free",
                              "clean"])

    def test_a_free_schedules_the_next_job_at_once(self):
        ids = self.i.submit(2, **{"exec": {"test": {"run_duration": "1s"}}})
        self.assertEqual([self.i.manager.get(j).state for j in ids],
                         [J.RUN, J.SCHED])
        self.i.clock.advance(1)
        # no reactor turn in between: the second job got the core as the
        # first one gave it back
        self.assertEqual([self.i.manager.get(j).state for j in ids],
                         [J.INACTIVE, J.RUN])
