# -*- test-case-name: tests.contracts.test_job_table -*-
"""A job table for tests of the job-list and job-info services.

:class:`FakeJobTable` provides :class:`fluxd.interfaces.IJobTable` the way
the job manager does, without a scheduler or exec service: a test submits
jobs and posts their events itself.  Each event is applied to the record
with :func:`fluxd.job.jobs.apply` (the job manager's own rule), appended
to ``job.<id>.eventlog`` in the KVS when one is given, and only then told
to the observers, so readers see what the real table shows them: an
event is observed once it is durable.  Held to the contract of
``tests/contracts/test_job_table.py``.
"""

import json

from twisted.internet import defer
from zope.interface import implementer

from fluxd.formats import fluid
from fluxd.interfaces import IJobTable
from fluxd.job import jobs as J
from fluxd.storage import treeobj as T
from fluxd.storage.txn import APPEND

__all__ = ["FakeJobTable", "RouterHandle", "job_kvs_key", "summarize_R"]


def job_kvs_key(jobid):
    """``job.XXXX.XXXX.XXXX.XXXX``: a job's KVS directory."""
    return fluid.encode(jobid, "kvs")


def summarize_R(job, R):
    """Set ``job``'s R and what job-list shows of it (ranks, nnodes,
    nodelist, expiration), as the job manager does at alloc."""
    from fluxd.formats.idset import IDset
    execution = R.get("execution") or {}
    ranks = IDset()
    for entry in execution.get("R_lite") or []:
        ranks.update(IDset(entry.get("rank", "")))
    job.R = R
    job.ranks = ranks.encode()
    job.nnodes = len(ranks)
    job.nodelist = ",".join(execution.get("nodelist") or [])
    job.expiration = float(execution.get("expiration") or 0.0)


@implementer(IJobTable)
class FakeJobTable:
    """Jobs driven by the test.

    :param kvs: an :class:`fluxd.interfaces.IKVS` to write J, jobspec and
        eventlogs to (rank 0's), or None to keep everything in memory.
    """

    def __init__(self, kvs=None):
        self._kvs = kvs
        self._jobs = {}
        self._observers = []
        self._writes = []

    # -- IJobTable ---------------------------------------------------------

    def get(self, jobid):
        return self._jobs.get(jobid)

    def jobs(self):
        return self._jobs.values()

    def add_observer(self, callback):
        self._observers.append(callback)

        def remove():
            if callback in self._observers:
                self._observers.remove(callback)
        return remove

    def durable(self):
        pending = [d for d in self._writes if not d.called]
        self._writes = pending
        if not pending:
            return defer.succeed(None)
        return defer.DeferredList(pending, consumeErrors=True).addCallback(
            lambda _: None)

    # -- driving jobs ---------------------------------------------------------

    def submit(self, jobid, userid, jobspec, t_submit, urgency=16, flags=0,
               J_text=None):
        """Create a job and post its ``submit`` event.

        :param jobspec: the (redacted) jobspec dict.
        :param J_text: the signed J to store (default: none of it).
        :returns: a Deferred firing with the Job once the event is durable.
        """
        job = J.Job(jobid, userid, urgency, t_submit, flags, jobspec=jobspec)
        self._jobs[jobid] = job
        ops = [_op(jobid, "jobspec", json.dumps(jobspec).encode())]
        if J_text is not None:
            ops.append(_op(jobid, "J", J_text.encode()))
        context = {"userid": userid, "urgency": urgency, "flags": flags,
                   "version": 1}
        d = self.post(job, "submit", context, t_submit, extra_ops=ops)
        return d.addCallback(lambda _: job)

    def post(self, job, name, context=None, timestamp=0.0, extra_ops=()):
        """Apply event ``name`` to ``job``, make it durable, then tell the
        observers.

        :returns: a Deferred firing with the entry once observers are told.
        """
        entry = {"timestamp": timestamp, "name": name}
        if context is not None:
            entry["context"] = context
        J.apply(job, entry)
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        ops = list(extra_ops) + [_op(job.id, "eventlog", line.encode(),
                                     APPEND)]
        d = self.write(job.id, ops)
        d.addCallback(lambda _: self._tell(job, entry))
        return d

    def run_to(self, job, state, t0=None, R=None, **outcome):
        """Post the events that take ``job`` from NEW to ``state`` (a state
        bit), with ``t0`` + 1, 2... as timestamps.

        :param R: the job's R (Rv1 dict), summarized into ``ranks``,
            ``nnodes``, ``nodelist`` and ``expiration`` at alloc as the
            job manager does.
        :param outcome: ``status`` (the finish wait status) and/or
            ``exception=(type, note)`` (a fatal exception; without
            ``status`` the job never runs).
        :returns: a Deferred firing when the last event is observed.
        """
        t = job.t_submit if t0 is None else t0
        steps = [("validate", None), ("depend", None),
                 ("priority", {"priority": job.urgency})]
        if state & (J.RUN | J.CLEANUP | J.INACTIVE) and (
                "status" in outcome or state != J.INACTIVE):
            steps += [("alloc", None), ("start", None)]
        if state & (J.CLEANUP | J.INACTIVE):
            if "exception" in outcome:
                kind, note = outcome["exception"]
                steps.append(("exception", {"type": kind, "severity": 0,
                                            "note": note}))
            if "status" in outcome:
                steps.append(("finish", {"status": outcome["status"]}))
        if state == J.INACTIVE:
            if "status" in outcome:
                steps.append(("free", None))
            steps.append(("clean", None))
        stop = {J.DEPEND: 1, J.PRIORITY: 2, J.SCHED: 3, J.RUN: 5}.get(state)
        if stop is not None:
            steps = steps[:stop]
        d = defer.succeed(None)
        for i, (name, context) in enumerate(steps, 1):
            if name == "alloc" and R is not None:
                d.addCallback(lambda _: summarize_R(job, R))
            d.addCallback(lambda _, n=name, c=context, ts=t + i:
                          self.post(job, n, c, ts))
        return d

    def purge(self, jobid):
        """Forget an inactive job and remove its KVS directory."""
        self._jobs.pop(jobid, None)
        return self.write(jobid, [{"key": job_kvs_key(jobid), "flags": 0,
                                   "dirent": None}])

    def write(self, jobid, ops):
        """Commit ``ops`` (a Deferred; fires at once without a KVS)."""
        if self._kvs is None:
            return defer.succeed(None)
        d = self._kvs.commit("primary", ops)
        self._writes.append(d)
        return d

    def _tell(self, job, entry):
        for callback in list(self._observers):
            callback(job, entry)
        return entry


def _op(jobid, key, data, flags=0):
    return {"key": f"{job_kvs_key(jobid)}.{key}", "flags": flags,
            "dirent": T.create_val(data)}


class RouterHandle:
    """A stand-in for :class:`fluxd.client.sync.Flux` that delivers to an
    in-process :class:`~fluxd.message.router.Router` (services answering
    synchronously, as with the memory KVS), for CLI unit tests.

    :param router: the router.
    :param userid: the requester's userid.
    :param rolemask: the requester's roles (owner by default).
    :param on_idle: called when a stream has no response queued and has
        not ended (the test posts the next event); a stream still idle
        afterwards is a test error.
    """

    def __init__(self, router, userid, rolemask=None, on_idle=None):
        from fluxd.message.router import Credential
        from fluxd.message.types import ROLE_OWNER
        self.router = router
        self.cred = Credential(userid, ROLE_OWNER if rolemask is None
                               else rolemask)
        self.on_idle = on_idle
        self.calls = []
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Mark the handle closed."""
        self.closed = True

    def rpc(self, topic, payload=None, **_):
        """One request; the answer or the raised FluxError."""
        self.calls.append((topic, payload))
        results = []
        d = self.router.call(topic, payload, cred=self.cred)
        d.addBoth(results.append)
        if not results:
            raise AssertionError(f"{topic} did not answer synchronously")
        return _unwrap(results[0])

    def stream(self, topic, payload=None, **_):
        """A streaming request: yields each response, ends on ENODATA."""
        self.calls.append((topic, payload))
        queue, ended = [], []
        stream = self.router.stream(topic, payload, cred=self.cred,
                                    on_response=queue.append)
        stream.done.addBoth(ended.append)
        try:
            while True:
                if queue:
                    yield queue.pop(0)
                    continue
                if ended:
                    _unwrap(ended[0])
                    return
                if self.on_idle is None:
                    raise AssertionError(f"{topic} stream is idle")
                self.on_idle()
                if not queue and not ended:
                    raise AssertionError(f"{topic} stream stayed idle")
        finally:
            if not ended:
                stream.cancel()


def _unwrap(result):
    from twisted.python.failure import Failure
    if isinstance(result, Failure):
        result.raiseException()
    return result
