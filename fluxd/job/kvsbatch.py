# -*- test-case-name: tests.unit.job.test_manager -*-
"""Group commit of the job services' KVS writes.

Every job event is an append to ``job.<id>.eventlog``; a thousand jobs a
second make ten thousand of them.  One KVS commit each would cost a
transaction, a new root and a ``setroot`` event apiece, so the job
services share one :class:`KVSBatcher`: operations queued during one
reactor turn, and all those queued while a commit is in flight, go out
together as the next commit.  Appends to the same key within a batch are
joined into one (one blob for the lines of several events).

Whoever must not answer before its writes are durable waits for
:meth:`KVSBatcher.flush`; whoever must act once a batch is durable passes
a ``note`` with the operation and receives it through ``on_durable``.
Under load, :attr:`KVSBatcher.interval` spaces commits out (the job
manager's batch timer in flux, 10 ms): each commit re-encodes the large
``job.*`` directories on its keys' paths, so a few bigger commits cost
far less than many small ones, for a few milliseconds more before an
acknowledgement.  Load is told by the size of the previous batch: after
one of fewer than :attr:`KVSBatcher.busy_ops` operations (a lone job's
carry one to six on four nodes: J and jobspec, then its eventlog lines
joined into one append, its exec eventlog, output and one
acknowledgement key per rank) the next commit goes as soon as the
previous one is durable, so that a job on an idle instance does not
wait for the interval at each of its steps (10 ms of a lone ``flux
run``'s wall time, at its ``clean``).
A commit that fails (the KVS turned read-only on a full disk) is retried
with a growing delay, its operations kept in order: the job services
cannot take back events they already acted on.
"""

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.interfaces import IKVS, provide
from fluxd.storage import treeobj as T
from fluxd.storage.txn import APPEND

__all__ = ["KVSBatcher"]

_RETRY_FIRST, _RETRY_MAX = 0.1, 5.0


class KVSBatcher:
    """Batches of operations on one namespace, committed one at a time.

    :param clock: IReactorTime (the batch is cut on the next turn).
    :param kvs: the broker's :class:`~fluxd.interfaces.IKVS`.
    :param cred: the credential the commits are made with.
    :param on_durable: ``on_durable(notes)`` with the notes of each batch
        once it is durable, in order.
    :param namespace: the namespace written (``primary``).
    :ivar interval: seconds from the start of one commit to the start of
        the next at the soonest (0: as soon as the previous one is
        durable), when the previous one carried at least ``busy_ops``
        operations.
    """

    log = Logger()

    def __init__(self, clock, kvs, cred, on_durable=None, namespace="primary"):
        self._clock = clock
        self._kvs = provide(IKVS, kvs)
        self._cred = cred
        self._on_durable = on_durable
        self._namespace = namespace
        self._ops = []
        self._append_at = {}
        self._notes = []
        self._waiters = []
        self._turn = None
        self._inflight = False
        self._retry = _RETRY_FIRST
        self._last_start = None
        self._last_ops = 0
        self.interval = 0.0
        self.busy_ops = 16
        self.commits = 0
        self.ops_committed = 0

    # -- queueing ----------------------------------------------------------

    def put(self, key, dirent, note=None):
        """Set ``key`` to the tree object ``dirent``."""
        self._append_at.pop(key, None)
        self._ops.append([key, 0, dirent])
        self._queued(note)

    def put_value(self, key, data, note=None):
        """Set ``key`` to the bytes ``data``."""
        self.put(key, T.create_val(data), note)

    def unlink(self, key, note=None):
        """Remove ``key`` (a directory with all it holds)."""
        self._append_at.pop(key, None)
        self._ops.append([key, 0, None])
        self._queued(note)

    def append(self, key, data, note=None):
        """Append the bytes ``data`` to ``key``'s value (created if absent)."""
        index = self._append_at.get(key)
        if index is not None:
            self._ops[index][2] += data
        else:
            self._append_at[key] = len(self._ops)
            self._ops.append([key, APPEND, data])
        self._queued(note)

    def _queued(self, note):
        if note is not None:
            self._notes.append(note)
        self._schedule()

    def flush(self):
        """A new Deferred firing once every operation queued so far is
        durable (at once when nothing is queued or in flight)."""
        if not self._ops and not self._inflight:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append(d)
        self._schedule()
        return d

    @property
    def pending(self):
        """Operations queued and not yet sent."""
        return len(self._ops)

    # -- committing ----------------------------------------------------------

    def _schedule(self, delay=0):
        if self._turn is None and not self._inflight and (
                self._ops or self._waiters):
            if self.interval and self._last_start is not None \
                    and self._last_ops >= self.busy_ops:
                delay = max(delay, self._last_start + self.interval
                            - self._clock.seconds())
            self._turn = self._clock.callLater(delay, self._commit)

    def _commit(self):
        self._turn = None
        self._last_start = self._clock.seconds()
        ops, self._ops, self._append_at = self._ops, [], {}
        notes, self._notes = self._notes, []
        waiters, self._waiters = self._waiters, []
        if not ops:
            for d in waiters:
                d.callback(None)
            return
        self._last_ops = len(ops)
        raw = [{"key": key, "flags": flags,
                "dirent": T.create_val(value) if flags & APPEND else value}
               for key, flags, value in ops]
        self._inflight = True
        d = self._kvs.commit(self._namespace, raw, 0, cred=self._cred)
        d.addCallbacks(self._committed, self._failed,
                       callbackArgs=(len(ops), notes, waiters),
                       errbackArgs=(ops, notes, waiters))

    def _committed(self, _result, count, notes, waiters):
        self._inflight = False
        self._retry = _RETRY_FIRST
        self.commits += 1
        self.ops_committed += count
        if notes and self._on_durable is not None:
            try:
                self._on_durable(notes)
            except Exception:
                self.log.failure("job KVS batch: durable callback failed")
        for d in waiters:
            d.callback(None)
        self._schedule()

    def _failed(self, failure, ops, notes, waiters):
        self._inflight = False
        self.log.warn("job KVS batch of {n} operations not committed, retry"
                      " in {delay}s: {why}", n=len(ops), delay=self._retry,
                      why=failure.getErrorMessage())
        # put them back in front, in order, merged with what came since
        later, self._ops = self._ops, []
        self._append_at = {}
        for key, flags, value in ops + later:
            if flags & APPEND:
                self.append(key, value)
            else:
                self._ops.append([key, flags, value])
                self._append_at.pop(key, None)
        self._notes = notes + self._notes
        self._waiters = waiters + self._waiters
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None
        delay, self._retry = self._retry, min(self._retry * 2, _RETRY_MAX)
        self._schedule(delay)
