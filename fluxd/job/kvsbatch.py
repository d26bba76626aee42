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
manager's batch timer in flux, 10 ms; the job services' here, 20 ms:
:data:`fluxd.job.setup.BATCH_INTERVAL`): each commit re-encodes the large
``job.*`` directories on its keys' paths, so a few bigger commits cost
far less than many small ones, for a few milliseconds more before an
acknowledgement.  Load is told by the size of the previous batch: after
one of fewer than :attr:`KVSBatcher.busy_ops` operations (a lone job's
carry one to six on four nodes: J and jobspec, then its eventlog lines
joined into one append, its exec eventlog, output and one
acknowledgement key per rank) the next commit goes as soon as the
previous one is durable, so that a job on an idle instance does not
wait for the interval at each of its steps (once 10 ms of a lone
``flux run``'s wall time, at its ``clean``; the interval is 20 ms now).
A commit that fails (the KVS turned read-only on a full disk) is retried
with a growing delay, its operations kept in order: the job services
cannot take back events they already acted on.

Operations may name another namespace than the batcher's own (a job's
guest namespace ``job-<id>``), and namespaces may be created, copied
into a key and removed in the same stream (:meth:`KVSBatcher.
create_namespace`, :meth:`~KVSBatcher.copy_namespace`, :meth:`~KVSBatcher.
remove_namespace`): a batch that holds more than operations on one
namespace goes to rank 0's KVS as one
:meth:`~fluxd.kvs.service.KVSService.commit_batch`, its steps in the
order they were queued, all of it landing in one durable write.
"""

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.interfaces import IKVS, provide
from fluxd.kvs.namespaces import PRIMARY
from fluxd.storage import treeobj as T
from fluxd.storage.txn import APPEND

__all__ = ["KVSBatcher"]

_RETRY_FIRST, _RETRY_MAX = 0.1, 5.0


class KVSBatcher:
    """Batches of operations, committed one batch at a time.

    :param clock: IReactorTime (the batch is cut on the next turn).
    :param kvs: the broker's :class:`~fluxd.interfaces.IKVS`.
    :param cred: the credential the commits are made with.
    :param on_durable: ``on_durable(notes)`` with the notes of each batch
        once it is durable, in order.
    :param namespace: the namespace written when an operation names none
        (``primary``).
    :ivar interval: seconds from the start of one commit to the start of
        the next at the soonest (0: as soon as the previous one is
        durable), when the previous one carried at least ``busy_ops``
        operations.
    """

    log = Logger()

    def __init__(self, clock, kvs, cred, on_durable=None, namespace=PRIMARY):
        self._clock = clock
        self._kvs = provide(IKVS, kvs)
        self._cred = cred
        self._on_durable = on_durable
        self._namespace = namespace
        # [kind, namespace, arg]: ("ops", ns, [[key, flags, value]...]),
        # ("create", ns, owner), ("copy", ns, (from, key)), ("remove", ns, None)
        self._steps = []
        self._open = {}         # namespace -> (ops list, {key: index})
        # namespace created in the queued steps -> its create and ops steps
        self._fresh = {}
        self._count = 0
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

    def _ops_of(self, namespace):
        namespace = namespace or self._namespace
        entry = self._open.get(namespace)
        if entry is None:
            ops = []
            step = ["ops", namespace, ops]
            self._steps.append(step)
            entry = self._open[namespace] = (ops, {})
            fresh = self._fresh.get(namespace)
            if fresh is not None:
                fresh.append(step)
        self._count += 1
        return entry

    def put(self, key, dirent, note=None, namespace=None):
        """Set ``key`` (of ``namespace``) to the tree object ``dirent``."""
        ops, append_at = self._ops_of(namespace)
        append_at.pop(key, None)
        ops.append([key, 0, dirent])
        self._queued(note)

    def put_value(self, key, data, note=None, namespace=None):
        """Set ``key`` to the bytes ``data``."""
        self.put(key, T.create_val(data), note, namespace)

    def unlink(self, key, note=None, namespace=None):
        """Remove ``key`` (a directory with all it holds)."""
        ops, append_at = self._ops_of(namespace)
        append_at.pop(key, None)
        ops.append([key, 0, None])
        self._queued(note)

    def append(self, key, data, note=None, namespace=None):
        """Append the bytes ``data`` to ``key``'s value (created if absent)."""
        ops, append_at = self._ops_of(namespace)
        index = append_at.get(key)
        if index is not None:
            ops[index][2] += data
        else:
            append_at[key] = len(ops)
            ops.append([key, APPEND, data])
        self._queued(note)

    def _control(self, kind, namespace, arg, touched, note):
        # operations queued later on the namespaces involved must follow
        # this step: they go to a new step of their own
        for name in touched:
            self._open.pop(name, None)
        step = [kind, namespace, arg]
        self._steps.append(step)
        self._count += 1
        self._queued(note)
        return step

    def create_namespace(self, name, owner, note=None):
        """Create namespace ``name`` for user ``owner`` (nothing happens
        if it exists)."""
        step = self._control("create", name, owner, (name,), note)
        self._fresh[name] = [step]

    def copy_namespace(self, name, key, note=None, namespace=None):
        """Make ``key`` (of ``namespace``) a ``dirref`` to the root of
        namespace ``name`` as the operations queued so far leave it."""
        namespace = namespace or self._namespace
        self._control("copy", namespace, (name, key), (name, namespace), note)

    def remove_namespace(self, name, note=None):
        """Remove namespace ``name``."""
        self._fresh.pop(name, None)
        self._control("remove", name, None, (name,), note)

    def fold_namespace(self, name, key, namespace=None):
        """:meth:`copy_namespace` then :meth:`remove_namespace`, made
        cheaper when the namespace's create is still queued (not sent),
        so that it exists nowhere yet: a short job's whole life in one
        batch.  Then its create and operations are dropped and ``key``
        (of ``namespace``) becomes a directory holding what they wrote,
        in their order: the same values at the same keys, in one
        transaction, without a namespace made, copied and removed.

        :returns: whether the namespace was folded so.
        """
        steps = self._fresh.pop(name, None)
        if steps is None:
            self.copy_namespace(name, key, namespace=namespace)
            self.remove_namespace(name)
            return False
        self._open.pop(name, None)
        moved = []
        for step in steps:
            if step[0] == "ops":
                moved += step[2]
                self._count -= len(step[2])
            else:
                self._count -= 1
            step[0] = "skip"
        self.put(key, T.create_dir(), namespace=namespace)
        for sub, flags, value in moved:
            sub = f"{key}.{sub}"
            if flags & APPEND:
                self.append(sub, value, namespace=namespace)
            elif value is None:
                self.unlink(sub, namespace=namespace)
            else:
                self.put(sub, value, namespace=namespace)
        return True

    def _queued(self, note):
        if note is not None:
            self._notes.append(note)
        self._schedule()

    def flush(self):
        """A new Deferred firing once every operation queued so far is
        durable (at once when nothing is queued or in flight)."""
        if not self._steps and not self._inflight:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append(d)
        self._schedule()
        return d

    @property
    def pending(self):
        """Operations queued and not yet sent."""
        return self._count

    # -- committing ----------------------------------------------------------

    def _schedule(self, delay=0):
        if self._turn is None and not self._inflight and (
                self._steps or self._waiters):
            if self.interval and self._last_start is not None \
                    and self._last_ops >= self.busy_ops:
                delay = max(delay, self._last_start + self.interval
                            - self._clock.seconds())
            self._turn = self._clock.callLater(delay, self._commit)

    @staticmethod
    def _raw(ops):
        return [{"key": key, "flags": flags,
                 "dirent": T.create_val(value) if flags & APPEND else value}
                for key, flags, value in ops]

    def _commit(self):
        self._turn = None
        self._last_start = self._clock.seconds()
        steps, self._steps, self._open = self._steps, [], {}
        self._fresh = {}
        steps = [step for step in steps if step[0] != "skip"]
        count, self._count = self._count, 0
        notes, self._notes = self._notes, []
        waiters, self._waiters = self._waiters, []
        if not steps:
            for d in waiters:
                d.callback(None)
            return
        self._last_ops = count
        self._inflight = True
        steps = _joined(steps)
        if len(steps) == 1 and steps[0][0] == "ops":
            d = self._kvs.commit(steps[0][1], self._raw(steps[0][2]), 0,
                                 cred=self._cred)
        else:
            d = self._kvs.commit_batch(self._batch(steps), cred=self._cred,
                                       own=True)
        d.addCallbacks(self._committed, self._failed,
                       callbackArgs=(count, notes, waiters),
                       errbackArgs=(steps, count, notes, waiters))

    @staticmethod
    def _batch(steps):
        """The steps in the form of :func:`fluxd.kvs._multi.
        check_own_steps` (this process's own: not checked again)."""
        out = []
        for kind, namespace, arg in steps:
            if kind == "ops":
                out.append(("commit", namespace, [
                    (key, flags, T.create_val(value) if flags & APPEND
                     else value) for key, flags, value in arg]))
            else:
                out.append((kind, namespace, arg))
        return out

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

    def _failed(self, failure, steps, count, notes, waiters):
        self._inflight = False
        self.log.warn("job KVS batch of {n} operations not committed, retry"
                      " in {delay}s: {why}", n=count, delay=self._retry,
                      why=failure.getErrorMessage())
        # put them back in front, in order; what came since follows them
        # (a later append to the same key is not joined to an earlier one)
        self._steps = steps + self._steps
        self._open = {}
        self._count += count
        self._notes = notes + self._notes
        self._waiters = waiters + self._waiters
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None
        delay, self._retry = self._retry, min(self._retry * 2, _RETRY_MAX)
        self._schedule(delay)


def _joined(steps):
    """``steps`` with neighbouring operations on one namespace joined
    (a batch put back after a failure and the operations queued since)."""
    out = []
    for step in steps:
        if out and step[0] == "ops" and out[-1][0] == "ops" \
                and out[-1][1] == step[1]:
            out[-1] = ["ops", step[1], out[-1][2] + step[2]]
        else:
            out.append(step)
    return out
