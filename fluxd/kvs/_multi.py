# -*- test-case-name: tests.unit.kvs.test_multi -*-
"""Commits that span namespaces: one batch, one durable write (rank 0).

The job services write a job's events to ``primary`` and its exec
eventlog and output to the job's guest namespace ``job-<id>``, which
they create at the job's start and fold back into ``primary`` at its
end.  :meth:`KVSService.commit_batch <fluxd.kvs.service.KVSService.
commit_batch>` takes all of that as one ordered list of *steps*:

- ``{"op": "create", "namespace": N, "owner": UID}``: a namespace with
  an empty root (nothing happens when it exists: a reattached job
  creates its namespace again);
- ``{"op": "commit", "namespace": N, "ops": [...]}``: a transaction, as
  ``kvs.commit`` takes it;
- ``{"op": "copy", "from": N, "namespace": M, "key": K}``: ``K`` in
  ``M`` becomes a ``dirref`` to ``N``'s root as it stands at that point
  of the batch (the same blobs: nothing is copied);
- ``{"op": "remove", "namespace": N}``: the namespace goes away.

The steps are applied in order to working copies of the roots, and
every namespace changed gets its new root in the same
:meth:`~fluxd.kvs.content_service.ContentService.write` as the blobs,
so the batch is atomic: after a crash either all of it or none is
there.  Only then do the roots move (all of them before any listener
hears of one: a watcher reading through the job's symlink never finds
it pointing to a namespace already removed), then the ``setroot`` and
``removed`` events go out, the guest namespaces' first.  Those of a
namespace other than ``primary`` go out only once it is
:attr:`~fluxd.kvs.namespaces.Namespace.followed`: a follower fetches a
namespace (``kvs.getroot``) before it reads it, so a broker that never
read a job's namespace hears nothing of it, and one that did hears of
every change after that.  Without this, every broker received three
events more for every job.

A ``primary`` step that fails fails the whole batch (the caller keeps
its operations and tries again, as for a plain commit).  A step on
another namespace that cannot be applied (the namespace is gone, or its
owner wrote something in the way) is skipped with a warning: a guest
must not be able to hold up every job's writes.

The batch runs in ``primary``'s commit queue as a commit of its own;
the other namespaces it touches are claimed (their own commit queues
paused) while it is applied.
"""

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.errors import FluxError, InvalidArgument, PermissionDenied, ProtocolError
from fluxd.kvs.namespaces import PRIMARY, Namespace, check_name
from fluxd.message.types import ROLE_OWNER
from fluxd.storage import treeobj as T
from fluxd.storage.errors import MissingRef, NoNamespace
from fluxd.storage.sqlitedb import root_record
from fluxd.storage.txn import (NO_MERGE, Op, Transaction, check_ops,
                               check_sizes, unroll)

__all__ = ["MultiPending", "check_steps", "check_own_steps", "apply_multi",
           "descend", "STEP_OPS"]

log = Logger(namespace="fluxd.kvs.service")

STEP_OPS = frozenset(("create", "commit", "copy", "remove"))


class MultiPending:
    """A multi-namespace batch waiting in ``primary``'s queue (never
    merged with other commits)."""

    __slots__ = ("steps", "flags", "d")

    def __init__(self, steps):
        self.steps = steps
        self.flags = NO_MERGE
        self.d = defer.Deferred()


def check_steps(steps, cred, blob_limit):
    """Validate a batch: ``[(op, namespace, arg)]`` ready to apply.

    ``arg`` is the owner (create), the checked :class:`~fluxd.storage.
    txn.Op` list (commit), ``(from, key)`` (copy) or None (remove).

    :raises PermissionDenied: unless ``cred`` is the instance owner's.
    :raises ProtocolError: for a malformed step.
    :raises InvalidArgument: for a bad name, key, owner or operation.
    """
    if not cred[1] & ROLE_OWNER:
        raise PermissionDenied("only the instance owner may commit batches")
    if not isinstance(steps, list):
        raise ProtocolError("commit batch steps must be an array")
    out = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or step.get("op") not in STEP_OPS:
            raise ProtocolError(f"batch step {index} must be an object with"
                                " op create, commit, copy or remove")
        op, name = step["op"], check_name(step.get("namespace"))
        if op == "create":
            owner = step.get("owner")
            if not isinstance(owner, int) or isinstance(owner, bool) \
                    or owner < 0:
                raise InvalidArgument(f"batch step {index}: namespace owner"
                                      " must be an integer >= 0")
            arg = owner
        elif op == "commit":
            arg = check_ops(step.get("ops"), blob_limit)
        elif op == "copy":
            source = check_name(step.get("from"))
            parts, _ = T.split_key(step.get("key"))
            if not parts:
                raise InvalidArgument(f"batch step {index}: cannot replace"
                                      " the root directory")
            arg = (source, Op(T.join_key(parts), parts, 0, None))
        else:
            if name == PRIMARY:
                raise InvalidArgument("the primary namespace cannot be removed")
            arg = None
        out.append((op, name, arg))
    return out


def check_own_steps(steps, blob_limit):
    """The checked form of a batch that rank 0's own services built in
    this process (the job services' :class:`~fluxd.job.kvsbatch.
    KVSBatcher`), given as ``[(op, namespace, arg)]`` with ``arg`` the
    owner (create), ``[(key, flags, dirent)]`` (commit), ``(from, key)``
    (copy) or None (remove).

    Their keys are split and sizes counted as :func:`check_steps` does,
    but their tree objects, made by :func:`~fluxd.storage.treeobj.
    create_val` a moment ago, are not decoded again to be checked (one
    base64 decoding less per value, and no JSON-shaped copy of the
    batch to build and take apart: 9 instead of 21 us a job for a batch
    of 50 jobs' start-to-end steps).

    :raises InvalidArgument: for a bad key or an oversized value.
    """
    out = []
    for op, name, arg in steps:
        if op == "commit":
            ops = []
            for key, flags, dirent in arg:
                parts, _ = T.split_key(key)
                if not parts:
                    raise InvalidArgument(f"key {key!r}: cannot replace the"
                                          " root directory")
                key = T.join_key(parts)
                if dirent is not None and blob_limit is not None:
                    check_sizes(dirent, key, blob_limit)
                ops.append(Op(key, parts, flags, dirent))
            arg = ops
        elif op == "copy":
            source, key = arg
            parts, _ = T.split_key(key)
            if not parts:
                raise InvalidArgument("cannot replace the root directory")
            arg = (source, Op(T.join_key(parts), parts, 0, None))
        out.append((op, name, arg))
    return out


def descend(top, parts, have, below):
    """Walk ``parts`` down from the directory ``top`` through what
    ``have(ref)`` gives; where a ``dirref`` is not loaded, note the rest
    of the walk under its ref in ``below``."""
    current = top
    for i, name in enumerate(parts):
        if current.get("type") != T.DIR:
            return
        entry = current["data"].get(name)
        kind = entry["type"] if entry is not None else None
        if kind == T.DIR:
            current = entry
        elif kind == T.DIRREF:
            ref = entry["data"][0]
            obj = have(ref)
            if obj is None:
                below.setdefault(ref, set()).add(parts[i + 1:])
                return
            current = obj
        else:
            return


#: a namespace keeps its directories decoded (:attr:`~fluxd.kvs.
#: namespaces.Namespace.kept`) while it has at most this many, of at most
#: :data:`KEEP_ENTRIES` entries each (a job's: its root and ``exec``)
KEEP_DIRS, KEEP_ENTRIES = 8, 64


def _kept(rootref, pool):
    """The directories of the tree at ``rootref`` taken from ``pool``
    (``{blobref: dir}``), or none if it is larger than the limits."""
    out, todo = {}, [rootref]
    while todo:
        ref = todo.pop()
        obj = pool.get(ref)
        if obj is None or ref in out:
            continue
        if len(out) == KEEP_DIRS or len(obj["data"]) > KEEP_ENTRIES:
            return {}
        out[ref] = obj
        todo.extend(entry["data"][0] for entry in obj["data"].values()
                    if entry["type"] == T.DIRREF)
    return out


def _first_error(failure):
    failure.trap(defer.FirstError)
    return failure.value.subFailure


class _StepFailed(Exception):
    """A ``primary`` step could not be applied: the batch fails."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


class _Work:
    """One namespace's working copy during a batch; ``segments``: the
    operation lists given to it and not applied yet."""

    __slots__ = ("name", "ns", "owner", "current", "rootref", "changed",
                 "created", "removed", "keys", "segments", "objects")

    def __init__(self, name, ns, owner, current, rootref, created=False):
        self.name, self.ns, self.owner = name, ns, owner
        self.current, self.rootref = current, rootref
        self.changed = created
        self.created = created
        self.removed = False
        self.keys = {}
        self.segments = []
        self.objects = {}


class _Batch:
    """Applying one :class:`MultiPending` (see :func:`apply_multi`).

    The cost of a batch must not grow faster than its size: the
    directories its operations walk through are loaded before anything
    is applied, one level of the trees at a time and each level at once
    (:meth:`_prefetch`), and a namespace's operations wait in
    :attr:`_Work.segments` until they are needed (the namespace is a
    copy's source, or the batch ends): ``primary``'s, however many
    copies cut them into steps, are then applied in one
    :class:`~fluxd.storage.txn.Transaction`, as a plain commit's are.
    """

    def __init__(self, svc):
        self.svc = svc
        self.work = {}
        self.claimed = []
        self.blobs = {}
        self.objects = {}
        self.loaded = {}
        #: blobrefs of stored directories the batch made new versions of
        self.replaced = set()

    def _have(self, ref):
        """The decoded object ``ref`` if loaded or cached (then kept for
        the rest of the batch), else None."""
        obj = self.loaded.get(ref)
        if obj is None:
            obj = self.svc._objects.get(ref)
            if obj is not None:
                self.loaded[ref] = obj
        return obj

    async def _load(self, refs):
        """Load the objects ``refs`` at once into :attr:`loaded`."""
        refs = [ref for ref in refs if self._have(ref) is None]
        if not refs:
            return
        objs = await defer.gatherResults(
            [defer.Deferred.fromCoroutine(self.svc._load_object(ref))
             for ref in refs], consumeErrors=True).addErrback(_first_error)
        self.loaded.update(zip(refs, objs))

    async def _prefetch(self, steps):
        """Load every stored directory the steps' keys go through."""
        walks = {}
        for op, name, arg in steps:
            if op == "commit":
                walks.setdefault(name, set()).update(o.parts[:-1] for o in arg)
            elif op == "copy":
                walks.setdefault(name, set()).add(arg[1].parts[:-1])
                walks.setdefault(arg[0], set())
        frontier = {}
        for name, paths in walks.items():
            ns = self.svc._ns.get(name)
            if ns is not None and not ns.removed:
                self.loaded.update(ns.kept)
                frontier.setdefault(ns.rootref, set()).update(paths)
        while frontier:
            await self._load(frontier)
            below = {}
            for ref, paths in frontier.items():
                top = self.loaded[ref]
                for parts in paths:
                    descend(top, parts, self._have, below)
            frontier = below

    async def _state(self, name):
        """The working copy of ``name`` (claimed), or None if it is gone."""
        work = self.work.get(name)
        if work is not None:
            return None if work.removed else work
        svc = self.svc
        ns = svc._ns.get(name)
        if ns is None or ns.removed:
            return None
        if name != PRIMARY:
            while ns.running:
                await ns.when_idle()
            if ns.removed or svc._ns.get(name) is not ns:
                return None
            ns.running = True
            self.claimed.append(ns)
        self.loaded.update(ns.kept)
        current = self._have(ns.rootref)
        if current is None:
            await self._load([ns.rootref])
            current = self.loaded[ns.rootref]
        work = self.work[name] = _Work(name, ns, ns.owner, current, ns.rootref)
        return work

    def _skip(self, name, what, why):
        if name == PRIMARY:
            raise _StepFailed(why)
        log.warn("kvs: batch: {what} in namespace {ns} skipped: {why}",
                 what=what, ns=name, why=why)

    async def _flush(self, work):
        """Apply ``work``'s waiting operations: ``primary``'s in one
        transaction (one failure fails the batch anyway), another
        namespace's one step at a time (a step that fails is skipped)."""
        segments, work.segments = work.segments, []
        if not segments:
            return
        if work.name == PRIMARY:
            segments = [[op for segment in segments for op in segment]]
        for ops in segments:
            await self._apply_ops(work, ops)

    async def _apply_ops(self, work, ops):
        svc = self.svc
        txn = Transaction(svc._getter(self.loaded), svc.content.hash, work.name)
        step = txn.apply, work.current, ops
        while True:
            try:
                new = step[0](*step[1:])
                break
            except MissingRef as missing:
                # what the prefetch could not see (made by this batch)
                await self._load(txn.missing(self._have) | {missing.ref})
                step = (txn.resume,)
            except FluxError as error:
                self._skip(work.name, "a commit", error)
                return
        work.current = new
        work.changed = True
        self.blobs.update(txn.blobs)
        self.replaced |= txn.replaced
        if work.rootref is not None:
            self.replaced.add(work.rootref)
        for op in ops:
            work.keys[op.key] = None

    async def _root_of(self, work):
        """``work``'s root as it stands: its waiting operations applied,
        unrolled now if changed."""
        await self._flush(work)
        if work.changed:
            rootref, blobs, objects = unroll(work.current, self.svc.content.hash)
            self.blobs.update(blobs)
            self.objects.update(objects)
            work.objects.update(objects)
            # not stored until the batch ends: later steps find them here
            self.loaded.update(objects)
            work.current, work.rootref = objects[rootref], rootref
        return work.rootref

    async def run(self, steps):
        await self._prefetch(steps)
        for op, name, arg in steps:
            if op == "create":
                existing = self.work.get(name)
                if existing is not None or (name in self.svc._ns
                                            and not self.svc._ns[name].removed):
                    continue
                empty = T.create_dir()
                self.work[name] = _Work(name, None, arg, empty, None,
                                        created=True)
            elif op == "remove":
                work = await self._state(name)
                if work is not None:
                    # what it was still to get goes with it
                    work.removed, work.segments = True, []
            else:
                work = await self._state(name)
                if work is None:
                    self._skip(name, f"a {op}", NoNamespace(
                        f"namespace {name!r} does not exist"))
                    continue
                if op == "commit":
                    work.segments.append(arg)
                    continue
                source = await self._state(arg[0])
                if source is None:
                    self._skip(name, "a copy", NoNamespace(
                        f"namespace {arg[0]!r} does not exist"))
                    continue
                link = arg[1]
                dirent = T.create_dirref(await self._root_of(source))
                work.segments.append([Op(link.key, link.parts, 0, dirent)])
        for work in list(self.work.values()):
            if not work.removed:
                await self._flush(work)
        await self._commit()

    async def _commit(self):
        svc = self.svc
        roots, changed = {}, []
        for name, work in self.work.items():
            if work.removed:
                if work.ns is not None:
                    roots[name] = None
                continue
            if not work.changed:
                continue
            rootref = await self._root_of(work)
            seq = 0 if work.created else work.ns.seq + 1
            flags = 0 if work.ns is None else work.ns.flags
            roots[name] = root_record(rootref, seq, work.owner, flags)
            changed.append((name, work, rootref, seq))
        if not roots:
            return None
        await svc.content.write(self.blobs, roots)
        svc.cache_objects(self.objects, self.blobs, self.replaced)
        # every root moves before any listener hears of one
        for name, work, rootref, seq in changed:
            if work.created:
                ns = svc._ns[name] = Namespace(name, rootref, seq, work.owner)
            else:
                ns = work.ns
                ns.advance(rootref, seq)
            if name != PRIMARY:
                ns.kept = _kept(rootref, {**ns.kept, **work.objects})
        removed = [name for name, work in self.work.items()
                   if work.removed and work.ns is not None]
        for name in removed:
            ns = svc._ns.pop(name, None)
            if ns is not None:
                ns.removed = True
        # guest namespaces first: a reader woken by primary's new root
        # finds their final state
        changed.sort(key=lambda item: item[0] == PRIMARY)
        for name, work, rootref, seq in changed:
            svc._notify(name, rootref, seq, list(work.keys))
        for name in removed:
            self.work[name].ns.fail_waiters(
                NoNamespace(f"namespace {name!r} was removed"))
            svc._notify(name, None, self.work[name].ns.seq, [])
        # the other brokers hear of a namespace only once one reads it
        # (a job's guest namespace is mostly read by none of them)
        for name, work, rootref, seq in changed:
            if name == PRIMARY or work.ns is not None and work.ns.followed:
                svc.publish_setroot(name, rootref, seq, work.owner,
                                    list(work.keys))
        for name in removed:
            if self.work[name].ns.followed:
                svc.publish_removed(name)
        primary = self.work.get(PRIMARY)
        if primary is not None and primary.changed:
            return {"rootref": primary.rootref, "rootseq": primary.ns.seq}
        return None

    def release(self):
        """Let the claimed namespaces' own commits go on (or fail them,
        for the namespaces removed)."""
        for ns in self.claimed:
            ns.running = False
            ns.fire_idle()
            if ns.removed:
                error = NoNamespace(f"namespace {ns.name!r} was removed")
                while ns.queue:
                    ns.queue.pop(0).d.errback(error)
            elif ns.queue:
                self.svc._kick(ns)
        self.claimed = []


async def apply_multi(svc, pending):
    """Apply a :class:`MultiPending` (from ``primary``'s commit loop) and
    answer it with ``{rootref, rootseq}`` of ``primary``."""
    batch = _Batch(svc)
    try:
        answer = await batch.run(pending.steps)
    except _StepFailed as failed:
        svc.stats["commit-errors"] += 1
        log.warn("kvs: batch refused: {why}", why=failed.error)
        pending.d.errback(failed.error)
        return
    finally:
        batch.release()
    svc.stats["batches"] += 1
    svc.stats["commits"] += 1
    if answer is None:
        primary = svc._ns[PRIMARY]
        answer = {"rootref": primary.rootref, "rootseq": primary.seq}
    pending.d.callback(answer)
