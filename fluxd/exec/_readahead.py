# -*- test-case-name: tests.unit.exec.test_readahead -*-
"""The J of the jobs next in line, read before they start.

A job's shells need its J (the submitter's environment is kept only
there, as in flux), so rank 0's exec service reads ``job.<id>.J`` when
the job starts.  A job queued for a while has its J out of the KVS
caches by then, and the read waits for ``content.sqlite`` on the job's
way from ``alloc`` to its shells.  The scheduler names the jobs at the
head of its queues after each pass (:meth:`JReadAhead.expect`), those
that run shells (:meth:`JReadAhead.wants`, asked at alloc); their J is
read then, and the start takes it from here.  At most
:data:`READ_AHEAD` are kept (the oldest go first): a job that does not
start soon costs nothing but its place.

Most jobs need no read at all: the job manager hands each job's J to
:meth:`JReadAhead.remember` once it is durable at submission, and the
start takes it from there.  Those texts are kept within
:data:`KNOWN_BUDGET` bytes, a text shared by several jobs (the copies of
``flux submit --cc``, or the same job submitted again) kept and
counted once; a job submitted while the budget is
full is read from the KVS as before, and so is every job after a
restart.  The job manager forgets a job that ends without starting.
"""

from collections import OrderedDict

from twisted.internet import defer

from fluxd.exec.testconf import ExecTestError, read_conf
from fluxd.formats import fluid
from fluxd.storage import treeobj as T

__all__ = ["JReadAhead", "READ_AHEAD", "KNOWN_BUDGET"]

#: J texts (or reads under way) kept at most
READ_AHEAD = 64
#: bytes of J texts kept from submission to start (each text once)
KNOWN_BUDGET = 4 << 20


class JReadAhead:
    """Reads of ``job.<id>.J`` ahead of the jobs' start.

    :param kvs: IKVS (``lookup``).
    :param cred: the credential of the reads (the instance's).
    :param running: the running jobs by id (not read again).
    :param stats: where to count the reads ahead (``J-read-ahead``), the
        starts that found their J so (``J-ahead-hits``) and those that
        found it remembered from the submission (``J-known-hits``).
    :param budget: bytes of remembered J texts at most.
    """

    def __init__(self, kvs, cred, running=None, stats=None,
                 budget=KNOWN_BUDGET):
        self.kvs = kvs
        self.cred = cred
        self.running = {} if running is None else running
        self._ahead = OrderedDict()    # id -> J text, or its Deferred
        self.budget = budget
        self._known = {}               # id -> J text
        self._texts = {}               # text -> [text, jobs holding it]
        self.known_bytes = 0
        self.stats = {} if stats is None else stats
        self.stats.update({"J-read-ahead": 0, "J-ahead-hits": 0,
                           "J-known-hits": 0})

    def remember(self, jobid, J):
        """Job ``jobid`` was submitted with ``J`` (durable): keep it for
        the start, unless it would not fit the budget."""
        if jobid in self._known:
            return
        held = self._texts.get(J)
        if held is None:
            if self.known_bytes + len(J) > self.budget:
                return
            held = self._texts[J] = [J, 0]
            self.known_bytes += len(J)
        held[1] += 1
        self._known[jobid] = held[0]

    def forget(self, jobid):
        """Drop the J kept for ``jobid`` (its start took it, or it ended
        without starting)."""
        J = self._known.pop(jobid, None)
        if J is None:
            return
        held = self._texts[J]
        held[1] -= 1
        if not held[1]:
            del self._texts[J]
            self.known_bytes -= len(J)

    def _lookup(self, key):
        d = self.kvs.lookup("primary", f"{key}.J", cred=self.cred)
        return d.addCallback(lambda obj: T.decode_val(obj).decode())

    @staticmethod
    def wants(jobspec):
        """Whether the job runs shells, and so needs its J (a test job,
        ``system.exec.test``, does not)."""
        try:
            return read_conf(jobspec) is None
        except ExecTestError:
            return False

    def expect(self, jobids):
        """The jobs ``jobids`` are next in line: read their J now."""
        for jobid in jobids:
            if jobid in self._ahead or jobid in self.running \
                    or jobid in self._known:
                continue
            d = self._lookup(fluid.encode(jobid, "kvs"))
            self._ahead[jobid] = d
            self.stats["J-read-ahead"] += 1
            d.addCallbacks(self._read, self._failed,
                           callbackArgs=(jobid, d), errbackArgs=(jobid, d))
            while len(self._ahead) > READ_AHEAD:
                self._ahead.popitem(last=False)

    def _read(self, J, jobid, d):
        if self._ahead.get(jobid) is d:
            self._ahead[jobid] = J
        return J

    def _failed(self, failure, jobid, d):
        # (the start reads it again and reports what fails then)
        if self._ahead.get(jobid) is d:
            del self._ahead[jobid]
        return None

    async def read(self, jobid, key):
        """The J text of job ``jobid`` (KVS key ``key``): read ahead, or
        now.  :raises FluxError: from the KVS."""
        J = self._known.get(jobid)
        if J is not None:
            self.forget(jobid)
            self.stats["J-known-hits"] += 1
            return J
        ahead = self._ahead.pop(jobid, None)
        if isinstance(ahead, defer.Deferred):
            ahead = await ahead
        if ahead is not None:
            self.stats["J-ahead-hits"] += 1
            return ahead
        return await self._lookup(key)
