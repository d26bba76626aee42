"""The job manager's side of RFC 27, driven by the test (JOBS.md).

:class:`FakeJobManager` registers ``job-manager`` with ``sched-hello``
(one response per job the test says holds resources, then the end) and
``sched-ready`` (records the mode, answers ``{count}``); the test then
sends ``sched.alloc`` streams, frees, cancels and prioritizes as the job
manager would, and reads the responses.  :class:`Bench` is a broker's
worth of real services around it: KVS, resource service (configured R,
fake overlay), and the scheduler under test, on a Clock.
"""

import json

from twisted.internet import defer
from twisted.internet.task import Clock

from fluxd.formats import fluid
from fluxd.formats.jobspec import from_command
from fluxd.formats.rv1 import from_config
from fluxd.storage import treeobj as T
from fluxd.message.router import method
from fluxd.module import Module
from fluxd.resource.service import ResourceService
from fluxd.sched.service import FeasibilityService, SchedulerService
from fluxd.testing.kvs import KVSBroker
from fluxd.testing.overlay import FakeOverlayStatus

OWNER = 1000


class Alloc:
    """One ``sched.alloc`` stream and what came back on it."""

    def __init__(self, router, payload):
        self.id = payload["id"]
        self.responses = []
        self.stream = router.stream("sched.alloc", payload,
                                    cred=router.instance_cred,
                                    on_response=self.responses.append)
        self.ended = []
        self.stream.done.addBoth(self.ended.append)

    @property
    def answer(self):
        """The final response (success, deny or cancel), or None."""
        final = [r for r in self.responses if r["type"] != 1]
        return final[-1] if final else None


class FakeJobManager(Module):
    """``job-manager``: hello and ready, and allocs sent by the test."""

    name = "job-manager"

    def __init__(self, router):
        super().__init__(0)
        self.router = router
        self.held = []
        self.ready = []
        self.count = 0

    @method("sched-hello", streaming=True)
    def rpc_sched_hello(self, request):
        for body in self.held:
            request.respond(body)
        return None

    @method("sched-ready")
    def rpc_sched_ready(self, request):
        self.ready.append(request.json())
        return {"count": self.count}

    def alloc(self, jobid, jobspec, priority=16):
        return Alloc(self.router, {"id": jobid, "priority": priority,
                                   "userid": OWNER, "t_submit": 1.0,
                                   "jobspec": jobspec})

    def call(self, topic, payload):
        return self.router.call(topic, payload,
                                cred=self.router.instance_cred)


def jobspec(ntasks=1, cores=1, nodes=None, duration=0, **kw):
    return from_command(["true"], ntasks=ntasks, cores_per_task=cores,
                        nodes=nodes, duration=duration, environment={},
                        cwd="/", **kw)


class Bench:
    """KVS + resource service + fake job manager + the scheduler."""

    def __init__(self, test, config, online="0-3", limit=8, store=None,
                 held=(), start=True, expect=None):
        self.test = test
        self.clock = Clock()
        self.clock.advance(1000.0)
        self.kvs = KVSBroker(0, store=store, owner=OWNER)
        test.successResultOf(self.kvs.start())
        self.router = self.kvs.router
        rset = from_config(config)
        hosts = [rset.hostname(r) for r in rset.ranks()]
        self.overlay = FakeOverlayStatus(online)
        self.resource = ResourceService(
            self.clock, 0, len(hosts), self.router, hosts, rset=rset,
            local=rset.copy_ranks([0]), overlay=self.overlay)
        test.successResultOf(defer.maybeDeferred(self.resource.startService))
        self.router.add_module(self.resource)
        self.jm = FakeJobManager(self.router)
        self.jm.held = list(held)
        self.router.add_module(self.jm)
        self.sched = SchedulerService(self.clock, self.router,
                                      self.kvs.kvs, limit=limit,
                                      expect=expect)
        self.feasibility = FeasibilityService(self.sched)
        if start:
            self.start()

    def start(self):
        for module in (self.sched, self.feasibility):
            module.startService()
            self.router.add_module(module)
        self.settle()

    def settle(self):
        """Run what is due now (timers in the future stay)."""
        for _ in range(100):
            if not any(c.getTime() <= self.clock.seconds()
                       for c in self.clock.getDelayedCalls()):
                return
            self.clock.advance(0)

    def alloc(self, jobid, spec=None, priority=16):
        a = self.jm.alloc(jobid, spec or jobspec(), priority)
        return a

    def ok(self, topic, payload=None):
        d = self.jm.call(topic, payload)
        self.settle()
        return self.test.successResultOf(d)

    def fail(self, topic, payload=None):
        d = self.jm.call(topic, payload)
        self.settle()
        return self.test.failureResultOf(d).value

    def free(self, a):
        return self.ok("sched.free", {"id": a.id, "R": a.answer["R"],
                                      "final": True})

    def kvs_R(self, jobid):
        d = self.kvs.kvs.lookup("primary",
                                fluid.encode(jobid, "kvs") + ".R")
        return json.loads(T.decode_val(self.test.successResultOf(d)))

    def summary(self, a):
        return a.answer["annotations"]["sched"]["resource_summary"]
