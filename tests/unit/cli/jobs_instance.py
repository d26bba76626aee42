"""An in-process instance for the job command tests: a memory KVS, a fake
job table and the real job-list and job-info services on one router,
reached through :class:`fluxd.testing.jobs.RouterHandle`."""

from fluxd.job import jobs as J
from fluxd.job.info import JobInfoService
from fluxd.job.list import JobListService
from fluxd.job.plugins import history
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module
from fluxd.testing.jobs import FakeJobTable, RouterHandle
from fluxd.testing.kvs import KVSBroker
from tests.unit.job.test_listquery import R2, jobspec

OWNER = 1000
NOW = 1700000100.0

__all__ = ["Instance", "OWNER", "NOW", "R2", "J"]


class HistoryService(Module):
    """``job-manager.history.get`` answered by the ``.history`` plugin's
    callback over the fake table (``flux job last``)."""

    name = "job-manager"

    def __init__(self, table):
        super().__init__(0)
        self.manager = table

    @method("history.get", roles=ROLE_USER)
    def rpc_history_get(self, request):
        """The plugin's answer."""
        return history._get(self, request)

    @property
    def host(self):
        return self


class Instance:
    """The services, their jobs, and handles for CLI commands.

    :param test: the SynchronousTestCase (cleanups, results).
    """

    def __init__(self, test):
        self.test = test
        self.broker = KVSBroker(owner=OWNER)
        test.successResultOf(self.broker.start())
        test.addCleanup(self.broker.stop)
        self.table = FakeJobTable(self.broker.kvs)
        for service in (JobListService(self.table),
                        JobInfoService(self.broker.router, self.table),
                        HistoryService(self.table)):
            service.startService()
            self.broker.router.add_module(service)
            test.addCleanup(service.stopService)
        self.next_id = 1
        self.on_idle = None

    def make(self, state, cmd=("sleep", "1"), userid=OWNER, t_submit=None,
             urgency=16, R=None, **kw):
        """A job taken to ``state`` (see FakeJobTable.run_to)."""
        system = {k: kw.pop(k) for k in list(kw)
                  if k in ("queue", "duration")}
        jobid = self.next_id << 24
        if t_submit is None:
            # each job's events after the previous job's, as in a real
            # instance (job-list orders inactive jobs as they ended)
            t_submit = 1700000000.0 + 20 * self.next_id
        self.next_id += 1
        job = self.test.successResultOf(self.table.submit(
            jobid, userid, jobspec(cmd, **system), t_submit,
            urgency=urgency))
        if state != J.NEW:
            self.test.successResultOf(self.table.run_to(job, state, R=R,
                                                        **kw))
        return job

    def handle(self, userid=OWNER, rolemask=None):
        """A new client connection as ``userid``."""
        return RouterHandle(self.broker.router, userid, rolemask,
                            on_idle=self.on_idle)
