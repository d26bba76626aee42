"""A scheduler and an exec service driven by the test (RFC 27, RFC 32).

:class:`FakeSched` registers ``sched``: every ``sched.alloc`` waits in
:attr:`FakeSched.allocs` until the test answers it; frees, cancels and
prioritize requests are recorded.  :class:`FakeExec` registers
``job-exec`` likewise.  :func:`make` builds a job manager and ingest on an
in-memory KVS with both fakes, under a :class:`~twisted.internet.task.Clock`.
"""

import json
import os

from twisted.internet import defer
from twisted.internet.task import Clock

from fluxd.config import Config
from fluxd.errors import InvalidArgument
from fluxd.formats.jobspec import from_command
from fluxd.job.ingest import IngestService
from fluxd.job.manager import JobManagerService
from fluxd.message.router import Credential, method
from fluxd.message.types import ROLE_OWNER, ROLE_USER
from fluxd.module import Module
from fluxd.security.sign import wrap_none
from fluxd.testing.kvs import KVSBroker

OWNER_UID = 1000
OWNER = Credential(OWNER_UID, ROLE_OWNER)


class FakeSched(Module):
    """``sched``: allocs answered by the test."""

    name = "sched"

    def __init__(self):
        super().__init__(0)
        self.allocs = {}
        self.order = []
        self.frees = []
        self.free_bodies = []
        self.cancels = []
        self.prioritized = []
        self.expirations = []
        self.refuse_expiration = False

    @method("alloc", streaming=True)
    def alloc(self, request):
        body = request.json()
        done = defer.Deferred()
        self.allocs[body["id"]] = (request, done, body)
        self.order.append(body["id"])
        return done

    def answer(self, jobid, kind=0, **extra):
        request, done, _ = self.allocs.pop(jobid)
        request.respond(dict({"id": jobid, "type": kind}, **extra))
        done.callback(None)

    def grant(self, jobid, rank=0):
        R = {"version": 1, "execution": {
            "R_lite": [{"rank": str(rank), "children": {"core": "0"}}],
            "nodelist": [f"node{rank}"], "starttime": 0.0,
            "expiration": 0.0}}
        self.answer(jobid, 0, R=R)

    @method("cancel")
    def cancel(self, request):
        jobid = request.json()["id"]
        self.cancels.append(jobid)
        if jobid in self.allocs:
            self.answer(jobid, 3)

    @method("free")
    def free(self, request):
        self.frees.append(request.json()["id"])
        self.free_bodies.append(request.json())

    @method("prioritize")
    def prioritize(self, request):
        self.prioritized.append(request.json()["jobs"])

    @method("expiration")
    def expiration(self, request):
        self.expirations.append(request.json())
        if self.refuse_expiration:
            raise InvalidArgument("no")
        return {}


class FakeExec(Module):
    """``job-exec``: starts answered by the test."""

    name = "job-exec"

    def __init__(self):
        super().__init__(0)
        self.starts = {}
        self.expirations = []

    @method("expiration")
    def expiration(self, request):
        self.expirations.append(request.json())
        return {}

    @method("start", streaming=True)
    def start(self, request):
        body = request.json()
        done = defer.Deferred()
        self.starts[body["id"]] = (request, done, body)
        return done

    def send(self, jobid, kind, **data):
        request, _, _ = self.starts[jobid]
        request.respond({"id": jobid, "type": kind, "data": data})

    def run(self, jobid, status=0):
        """Start, finish with ``status``, release everything."""
        self.send(jobid, "start")
        self.finish(jobid, status)

    def finish(self, jobid, status=0):
        self.send(jobid, "finish", status=status)
        self.send(jobid, "release", ranks="all", final=True)
        request, done, _ = self.starts.pop(jobid)
        done.callback(None)


class Instance:
    """A job manager, ingest and the fakes on one in-memory KVS."""

    def __init__(self, test, broker=None, config=None, safe_mode=None,
                 sched=True, exec_=True, ingest_config=True, signing=None,
                 blocking=None):
        self.test = test
        self.clock = Clock()
        self.clock.advance(1000)
        self.broker = broker or KVSBroker(0, owner=OWNER_UID)
        if broker is None:
            test.successResultOf(self.broker.start())
        self.router = self.broker.router
        config = config or Config({})
        self.manager = JobManagerService(self.clock, self.router,
                                         self.broker.kvs, self.broker.events,
                                         config, safe_mode=safe_mode)
        # FLUIDs: a monotonic clock that moves 1 ms per reading, so that a
        # test's thousands of ids never wait for the fake clock to advance
        ticks = iter(range(10 ** 12))
        self.ingest = IngestService(self.manager, wallclock=self.clock.seconds,
                                    monotonic=lambda: next(ticks) / 1000.0,
                                    config=config if ingest_config
                                    else None, signing=signing,
                                    blocking=blocking)
        self.sched = FakeSched() if sched else None
        self.exec = FakeExec() if exec_ else None
        modules = [self.manager, self.ingest]
        for module in modules:
            d = defer.maybeDeferred(module.startService)
            self.settle()
            test.successResultOf(d)
            self.router.add_module(module)
        for module in (self.sched, self.exec):
            if module is not None:
                self.router.add_module(module)

    def stop(self):
        """Stop the job services (as a broker stopping) and unregister them
        and the fakes, leaving the KVS."""
        self.test.successResultOf(self._stop())

    def _stop(self):
        d = defer.maybeDeferred(self.manager.stopService)
        self.settle()
        for module in (self.ingest, self.manager, self.sched, self.exec):
            if module is not None:
                self.router.remove_module(module.name)
        return d

    def settle(self):
        for _ in range(100):
            if not self.clock.getDelayedCalls():
                return
            self.clock.advance(0)

    def call(self, topic, payload=None, cred=OWNER):
        d = self.router.call(topic, payload, cred=cred)
        self.settle()
        return d

    def ok(self, topic, payload=None, cred=OWNER):
        return self.test.successResultOf(self.call(topic, payload, cred))

    def fail(self, topic, payload=None, cred=OWNER):
        return self.test.failureResultOf(self.call(topic, payload, cred)).value

    def hello(self, mode="unlimited", limit=None):
        stream = self.router.stream("job-manager.sched-hello",
                                    {"partial-ok": False}, cred=OWNER,
                                    on_response=lambda body: None)
        self.settle()
        self.test.successResultOf(stream.done)
        payload = {"mode": mode}
        if limit is not None:
            payload["limit"] = limit
        answer = self.ok("job-manager.sched-ready", payload)
        if self.exec is not None:
            self.ok("job-manager.exec-hello", {"service": "job-exec"})
        return answer

    def J(self, command=("true",), userid=OWNER_UID, **attrs):
        jobspec = from_command(list(command))
        for key, value in attrs.items():
            jobspec["attributes"]["system"][key] = value
        return wrap_none(json.dumps(jobspec).encode(), userid)

    def submit(self, count=1, urgency=16, flags=0, cred=OWNER, **kw):
        jobs = [{"J": self.J(userid=cred.userid, **kw), "urgency": urgency,
                 "flags": flags} for _ in range(count)]
        answer = self.ok("job-ingest.submit", {"jobs": jobs}, cred)
        return [a["id"] for a in answer["jobs"]]

    def events(self, jobid):
        from fluxd.job.manager import job_key
        from fluxd.storage import treeobj as T
        obj = self.test.successResultOf(self.broker.kvs.lookup(
            "primary", f"{job_key(jobid)}.eventlog"))
        return [json.loads(line)["name"]
                for line in T.decode_val(obj).decode().splitlines()]


GUEST = Credential(os.getuid() + 4242, ROLE_USER)
