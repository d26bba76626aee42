# -*- test-case-name: tests.unit.resource.test_service -*-
"""The resource eventlog and its journal (RFC 44 resource events, RFC 18
eventlog format; flux-core ``reslog.c``).

Rank 0's resource service records every change of resource availability
as an event: ``restart``, ``resource-define``, ``online``, ``offline``,
``torpid``, ``lively`` (availability, known only while the instance runs)
and ``drain``, ``undrain`` (administrative, kept).  The kept events are
appended to the ``resource.eventlog`` KVS key, which outlives the instance
when it has a ``statedir``; the others live in memory only.  (flux-core
also appends each start's ``resource-define``; here it stays in the
journal, so restarting an instance whose resources did not change leaves
its KVS untouched: ``resource.R`` is rewritten only when it differs.)

Every event, kept or not, enters the *journal*: the events of this run in
order, preceded by the kept events of earlier runs (their
``resource-define`` events excepted: they describe old inventories).  The
``resource.journal`` streaming RPC sends the journal, one event per
response ``{"events": [entry]}`` (a ``resource-define`` response also
carries ``R``), then an empty ``{"events": []}`` marking the end of the
backlog, then each new event as it is posted.

Posts are serialized: an event reaches the journal only after every
earlier one did and, if kept, after its KVS commit succeeded, so a
``resource.drain`` answered is a drain on disk.
"""

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.errors import NotFound
from fluxd.formats import eventlog
from fluxd.storage import treeobj as T
from fluxd.kvs.namespaces import PRIMARY
from fluxd.storage.txn import APPEND

__all__ = ["ResourceLog", "RESLOG_KEY", "COMMITTED"]

#: the KVS key of the kept events
RESLOG_KEY = "resource.eventlog"
#: events appended to the KVS (the rest are journal-only)
COMMITTED = frozenset({"drain", "undrain"})


def _cstring(data):
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]


class ResourceLog:
    """The eventlog and journal of rank 0's resource service.

    :param router: the broker router (``kvs.lookup``/``kvs.commit`` RPCs).
    :param clock: IReactorTime giving event timestamps.
    :param get_R: callable returning the instance R (a JSON dict) sent with
        ``resource-define`` journal responses, or None while unknown.
    """

    log = Logger()

    def __init__(self, router, clock, get_R=lambda: None):
        self._router = router
        self._clock = clock
        self._get_R = get_R
        self._lock = defer.DeferredLock()
        #: the journal so far (RFC 18 entry dicts)
        self.journal = []
        #: open journal streams: request -> the Deferred that ends it
        self._consumers = {}

    async def load(self):
        """Read the kept events of earlier runs (rank 0 start).

        They become the head of the journal, ``resource-define`` events
        excepted.

        :returns: the decoded entries (a list, empty when the key is
            absent).
        :raises fluxd.errors.FluxError: when the KVS fails or the eventlog
            does not decode.
        """
        try:
            answer = await self._router.call(
                "kvs.lookup", {"key": RESLOG_KEY, "namespace": PRIMARY,
                               "flags": 0}, cred=self._router.instance_cred)
        except NotFound:
            return []
        entries = eventlog.decode(_cstring(T.decode_val(answer["val"])))
        self.journal.extend(e for e in entries
                            if e["name"] != "resource-define")
        return entries

    def post(self, name, context=None, timestamp=None, commit=None):
        """Post an event.

        :param name: the event name.
        :param context: its context (a dict).
        :param timestamp: epoch seconds (default: now on the clock).
        :param commit: append to ``resource.eventlog`` (default: for the
            names in :data:`COMMITTED`).
        :returns: a Deferred firing with the entry once it is in the
            journal (and committed, if kept); failing if the commit fails.
        """
        if timestamp is None:
            timestamp = self._clock.seconds()
        if commit is None:
            commit = name in COMMITTED
        line = eventlog.encode_entry(name, context or {}, timestamp)
        return defer.Deferred.fromCoroutine(self._post(line, commit))

    async def _post(self, line, commit):
        await self._lock.acquire()
        try:
            if commit:
                await self._router.call("kvs.commit", {
                    "namespace": PRIMARY, "flags": 0,
                    "ops": [{"key": RESLOG_KEY, "flags": APPEND,
                             "dirent": T.create_val(line.encode("utf-8"))}]},
                    cred=self._router.instance_cred)
            entry = eventlog.decode_entry(line)
            self.journal.append(entry)
            for request in list(self._consumers):
                self._send(request, entry)
            return entry
        finally:
            self._lock.release()

    # -- journal consumers ----------------------------------------------------

    def _send(self, request, entry):
        payload = {"events": [entry]}
        if entry["name"] == "resource-define":
            payload["R"] = self._get_R()
        request.respond(payload)

    def add_consumer(self, request):
        """Serve a ``resource.journal`` request: the backlog, the end
        marker, then every new event until it is cancelled or the log is
        closed.

        :returns: a Deferred firing (ending the stream) at :meth:`close`
            or when the client cancels.
        """
        for entry in self.journal:
            self._send(request, entry)
        request.respond({"events": []})
        done = defer.Deferred()
        self._consumers[request] = done

        def cancelled():
            self._consumers.pop(request, None)
            if not done.called:
                done.callback(None)
        request.on_cancel(cancelled)
        return done

    def close(self):
        """End every journal stream (the service stops)."""
        consumers, self._consumers = self._consumers, {}
        for done in consumers.values():
            if not done.called:
                done.callback(None)

    def names(self):
        """:returns: the event names of the journal, in order (tests)."""
        return [entry["name"] for entry in self.journal]
