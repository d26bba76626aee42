"""The job manager's side of RFC 32, driven by the test (JOBS.md).

:class:`FakeJobManager` registers ``job-manager`` with ``exec-hello``;
the test sends ``job-exec.start`` streams as the job manager would and
publishes ``job-exception`` events as it does (owner role, private).
:class:`Bench` puts it next to the real exec service on in-memory KVS
services under a Clock.
"""

from twisted.internet.task import Clock

from fluxd.config import Config
from fluxd.exec.service import ExecService
from fluxd.formats import eventlog, fluid
from fluxd.formats.jobspec import from_command
from fluxd.storage import treeobj as T
from fluxd.storage.txn import APPEND
from fluxd.message.router import Credential, method
from fluxd.message.types import ROLE_OWNER
from fluxd.module import Module
from fluxd.testing.kvs import KVSBroker

OWNER = 1000


class Start:
    """One ``job-exec.start`` stream and its responses."""

    def __init__(self, router, payload):
        self.id = payload["id"]
        self.responses = []
        self.ended = []
        self.stream = router.stream("job-exec.start", payload,
                                    cred=router.instance_cred,
                                    on_response=self.responses.append)
        self.stream.done.addBoth(self.ended.append)

    def kinds(self):
        return [r["type"] for r in self.responses]

    def data(self, kind):
        return [r["data"] for r in self.responses if r["type"] == kind]


class FakeJobManager(Module):
    """``job-manager``: exec-hello, starts and exceptions sent by the test."""

    name = "job-manager"

    def __init__(self, router, events):
        super().__init__(0)
        self.router = router
        self.events = events
        self.hellos = []

    @method("exec-hello")
    def rpc_exec_hello(self, request):
        self.hellos.append(request.json())
        return None

    def start(self, jobid, jobspec, R, userid=OWNER, reattach=False):
        return Start(self.router, {"id": jobid, "userid": userid,
                                   "jobspec": jobspec, "R": R,
                                   "reattach": reattach})

    def exception(self, jobid, type="cancel", severity=0, userid=OWNER):
        self.events.publish("job-exception", {"id": jobid, "type": type,
                                              "severity": severity},
                            cred=Credential(userid, ROLE_OWNER), private=True)


def jobspec(duration=0, **test):
    """A jobspec; ``test`` keys go to attributes.system.exec.test (pass
    ``test=None`` for a job that is not a test job)."""
    spec = from_command(["true"], duration=duration, environment={},
                        cwd="/")
    if test.get("test", True) is not None:
        test.pop("test", None)
        spec["attributes"]["system"]["exec"] = {"test": test}
    return spec


def R(start=0.0, expiration=0.0):
    return {"version": 1, "execution": {
        "R_lite": [{"rank": "0", "children": {"core": "0"}}],
        "starttime": start, "expiration": expiration, "nodelist": ["n0"]}}


class Bench:
    """KVS services, the fake job manager and the exec service."""

    def __init__(self, test, config=None, store=None):
        self.test = test
        self.clock = Clock()
        self.clock.advance(1000.0)
        self.kvs = KVSBroker(0, store=store, owner=OWNER)
        test.successResultOf(self.kvs.start())
        self.router = self.kvs.router
        self.jm = FakeJobManager(self.router, self.kvs.events)
        self.router.add_module(self.jm)
        self.exec = ExecService(self.clock, self.router, self.kvs.kvs,
                                self.kvs.events, config or Config({}))
        self.exec.startService()
        self.router.add_module(self.exec)
        self.settle()

    def settle(self):
        for _ in range(100):
            due = [c for c in self.clock.getDelayedCalls()
                   if c.getTime() <= self.clock.seconds()]
            if not due:
                return
            self.clock.advance(0)

    def advance(self, seconds):
        self.clock.advance(seconds)
        self.settle()

    def start(self, jobid=1, spec=None, R_=None, **kw):
        s = self.jm.start(jobid, spec if spec is not None else jobspec(),
                          R_ if R_ is not None else R(), **kw)
        self.settle()
        return s

    def call(self, topic, payload, userid=OWNER, rolemask=ROLE_OWNER):
        d = self.router.call(topic, payload,
                             cred=Credential(userid, rolemask))
        self.settle()
        return d

    def exec_log(self, jobid):
        return self.log(jobid, "guest.exec.eventlog")

    def log(self, jobid, name):
        d = self.kvs.kvs.lookup("primary",
                                f"{fluid.encode(jobid, 'kvs')}.{name}")
        data = T.decode_val(self.test.successResultOf(d)).decode()
        return [(e["name"], e.get("context")) for e in eventlog.decode(data)]

    def post_job_event(self, jobid, name, timestamp):
        line = eventlog.encode_entry(name, None, timestamp)
        d = self.kvs.kvs.commit("primary", [{
            "key": f"{fluid.encode(jobid, 'kvs')}.eventlog", "flags": APPEND,
            "dirent": T.create_val(line.encode())}])
        self.test.successResultOf(d)

    def store_J(self, jobid, spec, userid=OWNER):
        """Write the job's J (the jobspec signed with ``none``), which
        the exec service reads the environment from."""
        import json
        from fluxd.security.sign import wrap_none
        J = wrap_none(json.dumps(spec).encode(), userid)
        d = self.kvs.kvs.commit("primary", [{
            "key": f"{fluid.encode(jobid, 'kvs')}.J", "flags": 0,
            "dirent": T.create_val(J.encode())}])
        self.test.successResultOf(d)
