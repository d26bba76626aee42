"""IJobTable contract: what job-list and job-info rely on.

``make_ijobtable_tests(factory)`` runs against a driver made by
``factory(test)``: ``driver.table`` is the IJobTable, ``driver.kvs`` the
KVS it writes (or None), ``driver.submit()`` a Deferred firing with a new
job once its ``submit`` is durable, ``driver.advance(job)`` a Deferred
firing once the job's ``validate`` event has been observed.  It runs against :class:`FakeJobTable`.
"""

import json

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from fluxd.interfaces import IJobTable
from fluxd.job import jobs as J
from fluxd.testing.jobs import FakeJobTable, job_kvs_key
from fluxd.testing.kvs import KVSBroker
from tests.unit.job.test_listquery import jobspec

_DOCUMENTED = (
    "id", "userid", "urgency", "priority", "state", "flags", "t_submit",
    "t_depend", "t_priority", "t_sched", "t_run", "t_cleanup", "t_inactive",
    "name", "queue", "cwd", "project", "bank", "ntasks", "ncores", "nnodes",
    "duration", "expiration", "R", "ranks", "nodelist", "result",
    "waitstatus", "exception_occurred", "exception_severity",
    "exception_type", "exception_note", "annotations", "dependencies",
    "success", "waitable")


def make_ijobtable_tests(factory):
    """A TestCase class for :class:`IJobTable` providers."""

    class Tests(SynchronousTestCase):
        def setUp(self):
            self.driver = factory(self)
            self.table = self.driver.table

        def test_interface(self):
            self.assertTrue(verifyObject(IJobTable, self.table))

        def test_get_and_jobs(self):
            job = self.successResultOf(self.driver.submit())
            self.assertIs(self.table.get(job.id), job)
            self.assertIsNone(self.table.get(job.id + 1))
            self.assertIn(job, list(self.table.jobs()))
            for name in _DOCUMENTED:
                self.assertTrue(hasattr(job, name), name)
            self.assertTrue(job.state & (J.NEW | J.ACTIVE))

        def eventlog(self, job):
            d = self.driver.kvs.lookup("primary",
                                       f"{job_kvs_key(job.id)}.eventlog")
            return [json.loads(text) for text in
                    _text(self.successResultOf(d)).splitlines()]

        def test_observers_see_durable_events_in_order(self):
            seen = []

            def observe(job, entry):
                self.assertIsInstance(entry["name"], str)
                self.assertIsInstance(entry["timestamp"], float)
                # durable: already in the job's eventlog
                self.assertIn(entry, self.eventlog(job))
                seen.append((job.id, entry))
            remove = self.table.add_observer(observe)
            job = self.successResultOf(self.driver.submit())
            self.successResultOf(self.driver.advance(job))
            mine = [entry for jobid, entry in seen if jobid == job.id]
            self.assertEqual(mine[0]["name"], "submit")
            self.assertIn("validate", [e["name"] for e in mine])
            self.assertEqual(mine, self.eventlog(job)[:len(mine)])
            remove()
            count = len(seen)
            job2 = self.successResultOf(self.driver.submit())
            self.successResultOf(self.driver.advance(job2))
            self.assertEqual(len(seen), count)

        def test_durable_fires_once_what_records_show_is_durable(self):
            job = self.successResultOf(self.driver.submit())
            self.successResultOf(self.driver.advance(job))
            self.successResultOf(self.table.durable())
            self.assertEqual(len(self.eventlog(job)), job.eventlog_seq)

    return Tests


def _text(obj):
    from fluxd.storage import treeobj as T
    return T.decode_val(obj).decode()


class _FakeDriver:
    def __init__(self, test):
        self.broker = KVSBroker(owner=1000)
        test.successResultOf(self.broker.start())
        test.addCleanup(self.broker.stop)
        self.kvs = self.broker.kvs
        self.table = FakeJobTable(self.kvs)
        self.next = 1

    def submit(self):
        self.next += 1
        return self.table.submit(self.next << 24, 1000, jobspec(), 10.0)

    def advance(self, job):
        return self.table.post(job, "validate", None, 11.0)


FakeJobTableContract = make_ijobtable_tests(_FakeDriver)


class _ManagerDriver:
    """The real job manager (with ingest, no scheduler) of the job
    manager's unit tests."""

    def __init__(self, test):
        from tests.unit.job.fakes import Instance
        self.instance = Instance(test)
        self.table = self.instance.manager
        self.kvs = self.instance.broker.kvs

    def submit(self):
        from twisted.internet import defer
        jobid = self.instance.submit()[0]
        return defer.succeed(self.table.get(jobid))

    def advance(self, job):
        from twisted.internet import defer
        self.instance.settle()      # the manager validates on its own
        return defer.succeed(None)


JobManagerContract = make_ijobtable_tests(_ManagerDriver)
