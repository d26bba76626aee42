# -*- test-case-name: tests.unit.kvs.test_service -*-
"""The ``kvs`` service (RFC 11): lookups everywhere, commits on rank 0.

Rank 0 is the single writer.  Commits to a namespace queue up; when the
namespace is idle, every queued commit (up to one carrying ``NO_MERGE``)
is applied in turn to the current root, copy-on-write, so a commit that
fails is simply skipped; the survivors become one new root with the next
sequence number.  Its new blobs and the new root go to the backing store
in a single durable transaction (:meth:`ContentService.write`), and only
then does the root move, watchers hear about it, the
``kvs.namespace-<ns>-setroot`` event goes out and the commits are
answered ``{rootref, rootseq}``.  A commit answered is therefore on disk
(with ``content.sqlite``), which is more than Flux promises.

Other ranks serve lookups from their own cache of decoded directories,
fetching blobs through the content service, and follow the setroot
events; they forward commits and namespace changes to rank 0 through the
router and answer a commit only once their own root has caught up with
it (read-your-writes).

Guests may use a namespace they own; ``primary`` and the namespace
methods are the instance owner's.  ``kvs.checkpoint-period`` is accepted
for compatibility: every commit is already a checkpoint.
"""

import copy as _copy

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fluxd.errors import (
    AlreadyExists, FluxError, InvalidArgument, NoSpace, NotFound,
    PermissionDenied, ProtocolError)
from fluxd.interfaces import IEvents, IKVS, IRouter, provide
from fluxd.storage import blobref as _blobref
from fluxd.storage import treeobj as T
from fluxd.kvs._multi import (MultiPending, apply_multi, check_own_steps,
                              check_steps, descend)
from fluxd.kvs.cache import LRUCache
from fluxd.kvs.content import root_record
from fluxd.storage.errors import CorruptStore, MissingRef, NoNamespace
from fluxd.storage.lookup import LOOKUP_FLAGS, TREEOBJ, WATCH_FLAGS, Redirect, walk
from fluxd.kvs.namespaces import (
    PRIMARY, USERID_UNKNOWN, Namespace, check_access, check_name)
from fluxd.storage.txn import (
    COMMIT_FLAGS, NO_MERGE, SYNC, TXN_COMPACT, Transaction, check_ops,
    compact, unroll)
from fluxd.message.router import Credential, method
from fluxd.message.types import ROLE_OWNER, ROLE_USER
from fluxd.module import Module

__all__ = ["KVSService", "OWNER_CRED", "EVENT_PREFIX"]

EVENT_PREFIX = "kvs.namespace-"
#: the credential of in-process callers
OWNER_CRED = Credential(0, ROLE_OWNER)
#: commits applied together at most (bounds one batch's latency)
MAX_BATCH = 4096
#: default budget of the decoded-directory cache (bytes of memory): 8 MiB
#: keeps a deep queue's job directories decoded between their writes
#: (with 1 MiB, bench/sched.py at 10,000 nodes kept reloading and
#: re-decoding evicted job-id directories: 1,051-1,154 against
#: 1,299-1,319 allocations/s with 8 MiB, easy/high, 2,000 jobs)
DEFAULT_CACHE_BYTES = 8 * 1024 * 1024
#: memory of a decoded directory per byte of its JSON (measured: a
#: directory of 500 dirrefs, 45 kB of JSON, takes 250 kB as dicts)
DECODED_PER_BYTE = 6
#: and the entry texts a large directory keeps for its next encoding
#: (:class:`fluxd.storage.treeobj.DirData`), per byte of its JSON
PARTS_PER_BYTE = 3


class _Pending:
    """A commit waiting in a namespace queue."""

    __slots__ = ("ops", "flags", "d")

    def __init__(self, ops, flags):
        self.ops, self.flags = ops, flags
        self.d = defer.Deferred()


@implementer(IKVS)
class KVSService(Module):
    """The KVS of one broker.

    :param rank: this broker's rank (0 is the writer).
    :param router: the router (followers forward through it).
    :param content: the :class:`~fluxd.kvs.content_service.ContentService`.
    :param events: the :class:`~fluxd.events.EventService`.
    :param owner: the instance owner's uid.
    :param blob_limit: the largest value a commit may store.
    :param cache_bytes: budget of the decoded-directory cache, in bytes
        of memory (each object charged :data:`DECODED_PER_BYTE` times its
        encoded size): only the directories on the paths being written
        and read need to stay, the content cache and the store hold the
        rest.
    :param checkpoint_period: ``kvs.checkpoint-period`` in seconds or None.
    """

    name = "kvs"
    log = Logger()

    def __init__(self, rank, router, content, events, owner=0,
                 blob_limit=None, cache_bytes=DEFAULT_CACHE_BYTES,
                 checkpoint_period=None):
        super().__init__(rank)
        self.router = provide(IRouter, router)
        self.content = content
        self.events = provide(IEvents, events)
        self.owner = owner
        self.blob_limit = blob_limit if blob_limit is not None else content.blob_limit
        self.checkpoint_period = checkpoint_period
        self._leader = rank == 0
        self._ns = {}
        self._objects = LRUCache(cache_bytes, overhead=256)
        self._listeners = []
        self._fetching = {}
        self._early = {}
        self._subs = []
        self.stats = {"commits": 0, "batches": 0, "commit-errors": 0,
                      "lookups": 0}

    # -- lifecycle -----------------------------------------------------------

    def startService(self):
        super().startService()
        self._subs = [self.events.subscribe(EVENT_PREFIX, self._on_event),
                      self.events.subscribe("kvs.dropcache", self._on_dropcache)]
        if self._leader:
            return defer.Deferred.fromCoroutine(self._start_leader())
        return None

    async def _start_leader(self):
        self.content.kvs_active = True
        roots = await self.content.roots()
        for name, rec in roots.items():
            self._ns[name] = Namespace(name, rec["rootref"], rec["sequence"],
                                       rec["owner"], rec["flags"])
        if PRIMARY not in self._ns:
            ref = await self._store_empty_root(PRIMARY, self.owner, 0)
            self._ns[PRIMARY] = Namespace(PRIMARY, ref, 0, self.owner)
        primary = self._ns[PRIMARY]
        self.log.info("kvs: primary namespace at version {seq} ({ref});"
                      " {count} namespaces", seq=primary.seq,
                      ref=primary.rootref, count=len(self._ns))
        if self.checkpoint_period is not None:
            self.log.info("kvs: checkpoint-period {p}s accepted: every commit"
                          " is stored durably", p=self.checkpoint_period)

    def stopService(self):
        super().stopService()
        for sub in self._subs:
            sub.cancel()
        self._subs = []
        return defer.Deferred.fromCoroutine(self._stop())

    async def _stop(self):
        for ns in list(self._ns.values()):
            await ns.when_idle()
        for ns in self._ns.values():
            ns.fail_waiters(NoNamespace("the KVS is shutting down"))
        self.content.kvs_active = False

    async def _store_empty_root(self, name, owner, seq, flags=0):
        data = T.encode(T.create_dir())
        ref = self.content.hash(data)
        await self.content.write({ref: data},
                                 {name: root_record(ref, seq, owner, flags)})
        return ref

    # -- tree objects --------------------------------------------------------

    def _getter(self, loaded):
        # Objects loaded for one walk are kept in ``loaded`` too: the cache
        # may have evicted them (or never kept one bigger than its budget)
        # by the time the walk is retried.
        def get(ref):
            obj = loaded.get(ref)
            if obj is None:
                obj = self._objects.get(ref)
                if obj is None:
                    raise MissingRef(ref)
            return obj
        return get

    async def _load_object(self, ref):
        data = await self.content.load(ref)
        obj = T.decode(data, f"blob {ref}")
        self._objects.put(ref, obj, len(data) * DECODED_PER_BYTE)
        return obj

    async def _walk(self, rootref, parts, flags, want_dir, depth):
        loaded = {}
        get = self._getter(loaded)
        while True:
            try:
                return walk(get, rootref, parts, flags, want_dir, depth)
            except MissingRef as missing:
                loaded[missing.ref] = await self._load_object(missing.ref)

    async def read_value(self, obj):
        """The bytes of a ``val`` or ``valref`` tree object."""
        if obj["type"] == T.VAL:
            return T.decode_val(obj)
        refs = obj["data"]
        if len(refs) == 1:
            return await self.content.load(refs[0])
        parts = await defer.gatherResults(
            [self.content.load(ref) for ref in refs], consumeErrors=True
        ).addErrback(_first_error)
        return b"".join(parts)

    # -- namespaces ----------------------------------------------------------

    async def namespace(self, name, cred=OWNER_CRED):
        """The :class:`Namespace` called ``name``, checked for access.

        Followers fetch a namespace they do not know yet from rank 0.

        :raises NoNamespace: when it does not exist (ENOTSUP).
        :raises PermissionDenied: when ``cred`` may not use it.
        """
        ns = self._ns.get(name)
        if ns is None:
            if self._leader:
                raise NoNamespace(f"namespace {name!r} does not exist")
            ns = await self._fetch_namespace(name)
        check_access(ns, *cred)
        return ns

    async def _fetch_namespace(self, name):
        waiters = self._fetching.get(name)
        if waiters is not None:
            d = defer.Deferred()
            waiters.append(d)
            return await d
        self._fetching[name] = []
        try:
            info = await self.router.call("kvs.getroot", {"namespace": name},
                                          nodeid=0,
                                          cred=self.router.instance_cred)
        except Exception:
            failure = Failure()
            self._early.pop(name, None)
            for d in self._fetching.pop(name):
                d.errback(failure)
            raise
        ns = self._ns.get(name)
        if ns is None:
            ns = self._ns[name] = Namespace(name, info["rootref"],
                                            info["rootseq"], info["owner"],
                                            info["flags"])
        else:
            ns.advance(info["rootref"], info["rootseq"])
        early = self._early.pop(name, None)
        if early is not None:
            ns.advance(*early)
        for d in self._fetching.pop(name):
            d.callback(ns)
        return ns

    def add_root_listener(self, callback):
        """Call ``callback(namespace, rootref, rootseq, keys)`` after each
        local root change (``rootref`` None when the namespace is removed).

        :returns: a callable that removes the listener.
        """
        self._listeners.append(callback)

        def remove():
            if callback in self._listeners:
                self._listeners.remove(callback)
        return remove

    def _notify(self, name, rootref, seq, keys):
        for listener in list(self._listeners):
            try:
                listener(name, rootref, seq, keys)
            except Exception:
                self.log.failure("kvs root listener failed")

    def _root_changed(self, ns, rootref, seq, keys):
        if ns.advance(rootref, seq):
            self._notify(ns.name, rootref, seq, keys)

    def _forget(self, name):
        ns = self._ns.pop(name, None)
        if ns is not None:
            ns.removed = True
            ns.fail_waiters(NoNamespace(f"namespace {name!r} was removed"))
            self._notify(name, None, ns.seq, [])

    def _on_event(self, message):
        topic = message.topic[len(EVENT_PREFIX):]
        if topic.endswith("-setroot"):
            name = topic[:-len("-setroot")]
            try:
                body = message.json()
                rootref, seq = body["rootref"], body["rootseq"]
                keys = body.get("keys", [])
            except (FluxError, KeyError, TypeError):
                self.log.warn("kvs: bad setroot event for {ns}", ns=name)
                return
            ns = self._ns.get(name)
            if ns is not None:
                self._root_changed(ns, rootref, seq, keys)
            elif name in self._fetching:
                # a root newer than the one being fetched may overtake it
                early = self._early.get(name)
                if early is None or early[1] < seq:
                    self._early[name] = (rootref, seq)
            # else: not used here yet, fetched on first use
        elif topic.endswith("-removed") and not self._leader:
            self._forget(topic[:-len("-removed")])

    def _on_dropcache(self, message):
        self._objects.clear()

    # -- lookups -------------------------------------------------------------

    def lookup(self, namespace, key, flags=0, rootref=None, cred=OWNER_CRED):
        """Look up ``key``.

        :param rootref: look up in this root (a snapshot) instead of the
            namespace's current one.
        :returns: a Deferred firing with the tree object: ``valref``s are
            resolved into ``val``s unless ``TREEOBJ`` is in ``flags``.
        """
        return defer.Deferred.fromCoroutine(
            self._lookup(namespace, key, flags, rootref, cred))

    async def _lookup(self, namespace, key, flags, rootref, cred, copy=True):
        obj, _ = await self.lookup_at(namespace, key, flags, rootref, cred)
        if obj["type"] == T.VALREF and not flags & TREEOBJ:
            return T.create_val(await self.read_value(obj))
        # cached directories are shared: callers get their own copy
        return _deepcopy(obj) if copy else obj

    async def lookup_at(self, namespace, key, flags=0, rootref=None,
                        cred=OWNER_CRED):
        """Look up without resolving valrefs.

        :returns: ``(treeobj, namespace)`` where the namespace is the one
            the key was finally found in (after symlinks).
        """
        self.stats["lookups"] += 1
        if flags & ~LOOKUP_FLAGS:
            raise ProtocolError(f"invalid lookup flags 0x{flags:x}")
        parts, want_dir = T.split_key(key)
        ns = await self.namespace(namespace, cred)
        root = rootref or ns.rootref
        depth = 0
        while True:
            try:
                obj = await self._walk(root, parts, flags, want_dir, depth)
                return obj, ns
            except NotFound as missing:
                # where a symlink led the walk (a watcher follows it there)
                missing.namespace = ns.name
                raise
            except Redirect as redirect:
                ns = await self.namespace(redirect.namespace, cred)
                root, parts, depth = ns.rootref, redirect.parts, redirect.depth

    def getroot(self, namespace, cred=OWNER_CRED):
        """A Deferred firing with ``{namespace, rootref, rootseq, owner, flags}``."""
        async def get():
            return (await self.namespace(namespace, cred)).info()
        return defer.Deferred.fromCoroutine(get())

    def wait_version(self, namespace, rootseq, cred=OWNER_CRED):
        """A Deferred firing once this broker's root of ``namespace`` has
        reached sequence ``rootseq``."""
        async def wait():
            ns = await self.namespace(namespace, cred)
            return await ns.wait_version(rootseq)
        return defer.Deferred.fromCoroutine(wait())

    # -- commits -------------------------------------------------------------

    def commit(self, namespace, ops, flags=0, cred=OWNER_CRED):
        """Apply a transaction (a list of ``{key, flags, dirent}``).

        :returns: a Deferred firing with ``{rootref, rootseq}`` once the
            new root is durable and this broker has it.
        """
        return defer.Deferred.fromCoroutine(
            self._commit(namespace, ops, flags, cred))

    async def _commit(self, namespace, raw_ops, flags, cred):
        if not isinstance(flags, int) or flags & ~COMMIT_FLAGS:
            raise InvalidArgument(f"invalid commit flags {flags!r}")
        check_name(namespace)
        ops = check_ops(raw_ops, self.blob_limit)
        if not self._leader:
            result = await self.router.call(
                "kvs.commit", {"namespace": namespace, "flags": flags,
                               "ops": raw_ops},
                nodeid=0, cred=cred)
            ns = await self.namespace(namespace, cred)
            await ns.wait_version(result["rootseq"])
            return result
        ns = await self.namespace(namespace, cred)
        if flags & SYNC and namespace != PRIMARY:
            raise InvalidArgument("SYNC is only valid for the primary namespace")
        await self._check_refs(ops)
        if flags & TXN_COMPACT:
            ops = compact(ops)
        pending = _Pending(ops, flags)
        ns.queue.append(pending)
        self._kick(ns)
        return await pending.d

    def commit_batch(self, steps, cred=OWNER_CRED, own=False):
        """Apply a batch of steps over several namespaces atomically
        (rank 0 only; :mod:`fluxd.kvs._multi` describes the steps).

        :param own: the steps are in the form of :func:`~fluxd.kvs.
            _multi.check_own_steps` (built in this process by a service of
            the instance owner's).
        :returns: a Deferred firing with ``primary``'s ``{rootref,
            rootseq}`` once every namespace's new root is durable.
        """
        return defer.Deferred.fromCoroutine(
            self._commit_batch(steps, cred, own))

    async def _commit_batch(self, steps, cred, own=False):
        if not self._leader:
            raise InvalidArgument("commit batches are applied on rank 0 only")
        if own:
            if not cred[1] & ROLE_OWNER:
                raise PermissionDenied("only the instance owner may commit"
                                       " batches")
            checked = check_own_steps(steps, self.blob_limit)
        else:
            checked = check_steps(steps, cred, self.blob_limit)
        for op, _, arg in checked:
            if op == "commit":
                await self._check_refs(arg)
        pending = MultiPending(checked)
        ns = self._ns[PRIMARY]
        ns.queue.append(pending)
        self._kick(ns)
        return await pending.d

    def cache_objects(self, objects, blobs, replaced=()):
        """Keep the decoded directories ``objects`` just stored (their
        encoded sizes from ``blobs``) in the directory cache, the
        versions they replace (``replaced``) now the first to go.

        Without that, a large directory's superseded versions (a
        job-id directory of 500 jobs is ~400 kB decoded, and every
        commit touching one of its jobs makes a new one) filled the
        cache and pushed out the small directories still in use: each
        job's own was evicted between its submission and its start
        and loaded again from the disk."""
        self._objects.demote(replaced)
        for ref, obj in objects.items():
            data = blobs.get(ref)
            if data is not None:
                self._objects.put(ref, obj, len(data) * _per_byte(obj))

    def publish_setroot(self, name, rootref, seq, owner, keys):
        """Send ``kvs.namespace-<name>-setroot`` (rank 0)."""
        self.events.publish(f"{EVENT_PREFIX}{name}-setroot",
                            {"namespace": name, "rootref": rootref,
                             "rootseq": seq, "owner": owner, "keys": keys},
                            private=True, cred=Credential(owner, ROLE_OWNER))

    def publish_removed(self, name):
        """Send ``kvs.namespace-<name>-removed`` (rank 0)."""
        self.events.publish(f"{EVENT_PREFIX}{name}-removed",
                            {"namespace": name},
                            cred=self.router.instance_cred)

    async def _check_refs(self, ops):
        # A dirent may name blobs (valref, dirref): they must exist, and a
        # dirref must name a directory, or a lookup would fail much later.
        for op in ops:
            if op.dirent is None:
                continue
            blobs = {}
            for ref in T.blobrefs(op.dirent):
                try:
                    blobs[ref] = await self.content.load(ref)
                except NotFound:
                    raise NotFound(f"key {op.key!r}: blobref {ref} is not in"
                                   " the content store") from None
                if self.content.hash(blobs[ref]) != ref:
                    raise InvalidArgument(f"key {op.key!r}: blobref {ref}"
                                          " uses another hash")
            self._check_dirrefs(op.dirent, op.key, blobs)

    def _check_dirrefs(self, obj, key, blobs):
        if obj["type"] == T.DIRREF:
            ref = obj["data"][0]
            try:
                decoded = T.decode(blobs[ref])
            except FluxError:
                decoded = None
            if decoded is None or decoded["type"] != T.DIR:
                raise InvalidArgument(f"key {key!r}: dirref {ref} does not"
                                      " name a directory")
        elif obj["type"] == T.DIR:
            for entry in obj["data"].values():
                self._check_dirrefs(entry, key, blobs)

    def _kick(self, ns):
        if ns.running or not ns.queue:
            return
        # Mark the namespace busy before the loop runs: answering a commit
        # may queue another one re-entrantly, which must not start a
        # second loop.
        ns.running = True
        d = defer.Deferred.fromCoroutine(self._run(ns))
        d.addBoth(self._loop_ended, ns)

    def _loop_ended(self, result, ns):
        ns.running = False
        ns.fire_idle()
        if isinstance(result, Failure):
            self.log.failure("kvs: commit loop of {ns} failed", result, ns=ns.name)
        elif ns.queue and not ns.removed:
            self._kick(ns)

    async def _run(self, ns):
        while ns.queue and not ns.removed:
            batch = [ns.queue.pop(0)]
            if not batch[0].flags & NO_MERGE:
                while ns.queue and len(batch) < MAX_BATCH and \
                        not ns.queue[0].flags & NO_MERGE:
                    batch.append(ns.queue.pop(0))
            try:
                if isinstance(batch[0], MultiPending):
                    await apply_multi(self, batch[0])
                else:
                    await self._apply(ns, batch)
            except Exception:
                failure = Failure()
                if failure.check(NoSpace):
                    # the content store logged why it is read-only
                    self.log.debug("kvs: commit batch on {ns} refused: {why}",
                                   ns=ns.name, why=failure.value)
                elif failure.check(CorruptStore):
                    # a damaged blob: one line naming it, no traceback
                    self.log.error("kvs: commit batch on {ns} failed: {why}",
                                   ns=ns.name, why=failure.value)
                else:
                    self.log.failure("kvs: commit batch on {ns} failed",
                                     failure, ns=ns.name)
                for p in batch:
                    if not p.d.called:
                        p.d.errback(failure)
        if ns.removed:
            error = NoNamespace(f"namespace {ns.name!r} was removed")
            while ns.queue:
                ns.queue.pop(0).d.errback(error)

    async def _apply(self, ns, batch):
        base = self._objects.get(ns.rootref)
        if base is None:
            base = await self._load_object(ns.rootref)
        current, applied, blobs, keys = base, [], {}, {}
        replaced = {ns.rootref}
        loaded = {ns.rootref: base}
        await self._prefetch(ns.rootref, batch, loaded)
        for p in batch:
            new = await self._apply_one(ns, current, p, loaded)
            if new is None:
                continue
            current, txn = new
            blobs.update(txn.blobs)
            replaced |= txn.replaced
            for op in p.ops:
                keys[op.key] = None
            applied.append(p)
        self.stats["batches"] += 1
        if not applied:
            return
        if not keys:    # only empty transactions: nothing changes
            for p in applied:
                p.d.callback({"rootref": ns.rootref, "rootseq": ns.seq})
            return
        rootref, new_blobs, objects = unroll(current, self.content.hash)
        blobs.update(new_blobs)
        seq = ns.seq + 1
        await self.content.write(
            blobs, {ns.name: root_record(rootref, seq, ns.owner, ns.flags)})
        self.cache_objects(objects, blobs, replaced)
        key_list = list(keys)
        self._root_changed(ns, rootref, seq, key_list)
        self.events.publish(f"{EVENT_PREFIX}{ns.name}-setroot",
                            {"namespace": ns.name, "rootref": rootref,
                             "rootseq": seq, "owner": ns.owner,
                             "keys": key_list},
                            # the instance publishes it (owner role); the
                            # userid names who else may see a private event
                            private=True,
                            cred=Credential(ns.owner, ROLE_OWNER))
        self.stats["commits"] += len(applied)
        answer = {"rootref": rootref, "rootseq": seq}
        for p in applied:
            p.d.callback(dict(answer))

    async def _prefetch(self, rootref, batch, loaded):
        """Load into ``loaded`` the stored directories the keys of
        ``batch`` go through, level by level for the whole batch (not a
        wait per commit and level); those cached are pinned there too.
        Best effort: what fails to load here fails the commits needing
        it when they are applied."""
        def have(ref):
            obj = loaded.get(ref)
            if obj is None:
                obj = self._objects.get(ref)
                if obj is not None:
                    loaded[ref] = obj
            return obj
        paths = {op.parts[:-1] for p in batch for op in p.ops}
        frontier = {rootref: paths}
        while frontier:
            refs = [ref for ref in frontier if have(ref) is None]
            if refs:
                try:
                    objs = await defer.gatherResults(
                        [defer.Deferred.fromCoroutine(self._load_object(ref))
                         for ref in refs], consumeErrors=True)
                except defer.FirstError:
                    return
                loaded.update(zip(refs, objs))
            below = {}
            for ref, parts_set in frontier.items():
                for parts in parts_set:
                    descend(loaded[ref], parts, have, below)
            frontier = below

    async def _apply_one(self, ns, current, pending, loaded):
        get = self._getter(loaded)

        def have(ref):
            obj = loaded.get(ref)
            return obj if obj is not None else self._objects.get(ref)
        txn = Transaction(get, self.content.hash, ns.name)
        step = txn.apply, current, pending.ops
        while True:
            try:
                return step[0](*step[1:]), txn
            except MissingRef as missing:
                # load it with every other blob the remaining operations
                # need at this depth: one wait per level, not per blob
                refs = txn.missing(have) | {missing.ref}
                try:
                    objs = await defer.gatherResults(
                        [defer.Deferred.fromCoroutine(self._load_object(ref))
                         for ref in refs],
                        consumeErrors=True).addErrback(_first_error)
                except Exception:
                    self.stats["commit-errors"] += 1
                    pending.d.errback(Failure())
                    return None
                loaded.update(zip(refs, objs))
                step = (txn.resume,)
            except FluxError:
                self.stats["commit-errors"] += 1
                pending.d.errback(Failure())
                return None

    # -- namespace management (rank 0) -----------------------------------------

    async def create_namespace(self, name, owner=USERID_UNKNOWN, flags=0,
                               rootref=None):
        """Create a namespace (rank 0; others forward).

        :raises AlreadyExists: when it exists (EEXIST).
        """
        check_name(name)
        if not isinstance(owner, int) or isinstance(owner, bool):
            raise InvalidArgument("namespace owner must be an integer")
        if not isinstance(flags, int) or isinstance(flags, bool):
            raise InvalidArgument("namespace flags must be an integer")
        if not self._leader:
            payload = {"namespace": name, "owner": owner, "flags": flags}
            if rootref is not None:
                payload["rootref"] = rootref
            await self.router.call("kvs.namespace-create", payload, nodeid=0,
                                   cred=self.router.instance_cred)
            return
        if name in self._ns:
            raise AlreadyExists(f"namespace {name!r} already exists")
        if owner in (USERID_UNKNOWN, -1):
            owner = self.owner
        if rootref is not None:
            _blobref.validate(rootref, self.content.hash_name)
            try:
                obj = await self._load_object(rootref)
            except NotFound:
                raise NotFound(f"rootref {rootref} is not in the content"
                               " store") from None
            if obj["type"] != T.DIR:
                raise InvalidArgument(f"rootref {rootref} is not a directory")
            await self.content.write({}, {name: root_record(
                rootref, 0, owner, flags)})
        else:
            rootref = await self._store_empty_root(name, owner, 0, flags)
        if name in self._ns:
            raise AlreadyExists(f"namespace {name!r} already exists")
        self._ns[name] = Namespace(name, rootref, 0, owner, flags)

    async def remove_namespace(self, name):
        """Remove a namespace (rank 0; others forward).  Removing one that
        does not exist succeeds, as in flux-core."""
        check_name(name)
        if name == PRIMARY:
            raise InvalidArgument("the primary namespace cannot be removed")
        if not self._leader:
            await self.router.call("kvs.namespace-remove", {"namespace": name},
                                   nodeid=0, cred=self.router.instance_cred)
            return
        ns = self._ns.get(name)
        if ns is None:
            return
        ns.removed = True
        await ns.when_idle()
        if self._ns.get(name) is not ns:
            return
        await self.content.write({}, {name: None})
        self._forget(name)
        self.events.publish(f"{EVENT_PREFIX}{name}-removed",
                            {"namespace": name},
                            cred=self.router.instance_cred)

    def namespaces(self):
        """``[{namespace, owner, flags}]`` known here, sorted by name."""
        return [{"namespace": ns.name, "owner": ns.owner, "flags": ns.flags}
                for ns in sorted(self._ns.values(), key=lambda n: n.name)]

    # -- RPC -----------------------------------------------------------------

    @staticmethod
    def _cred(request):
        return request.userid, request.rolemask

    @method("commit", roles=ROLE_USER)
    def rpc_commit(self, request):
        """``kvs.commit {namespace, flags, ops}`` -> ``{rootref, rootseq}``."""
        body = request.json()
        return self.commit(body.get("namespace", PRIMARY), body.get("ops"),
                           body.get("flags", 0), self._cred(request))

    @method("lookup", roles=ROLE_USER)
    async def rpc_lookup(self, request):
        """``kvs.lookup {key, namespace, flags[, rootdir]}`` -> ``{val}``."""
        body = request.json()
        flags = body.get("flags", 0)
        if not isinstance(flags, int) or isinstance(flags, bool):
            raise ProtocolError("lookup flags must be an integer")
        if flags & WATCH_FLAGS:
            raise ProtocolError("watch flags go to kvs-watch.lookup")
        namespace = body.get("namespace", PRIMARY)
        rootref = None
        if "rootdir" in body:
            rootdir = T.validate(body["rootdir"], "rootdir")
            if rootdir["type"] != T.DIRREF:
                raise InvalidArgument("rootdir must be a dirref tree object")
            rootref = rootdir["data"][0]
        key = body.get("key")
        # the answer is serialized at once: no copy needed
        obj = await self._lookup(namespace, key, flags, rootref,
                                 self._cred(request), copy=False)
        return {"namespace": namespace, "key": key, "val": obj}

    @method("getroot", roles=ROLE_USER)
    async def rpc_getroot(self, request):
        """``kvs.getroot {namespace}`` -> ``{rootref, rootseq, owner, flags}``.

        On rank 0 the namespace is marked :attr:`~fluxd.kvs.namespaces.
        Namespace.followed`: a follower fetches a namespace this way
        before it reads it, and must then hear of its new roots."""
        ns = await self.namespace(request.json().get("namespace", PRIMARY),
                                  self._cred(request))
        if self._leader:
            ns.followed = True
        return ns.info()

    @method("wait-version", roles=ROLE_USER)
    async def rpc_wait_version(self, request):
        """``kvs.wait-version {namespace, rootseq}``: answer at that version."""
        body = request.json()
        seq = body.get("rootseq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise InvalidArgument("rootseq must be an integer")
        await self.wait_version(body.get("namespace", PRIMARY), seq,
                                self._cred(request))
        return None

    @method("namespace-create")
    async def rpc_namespace_create(self, request):
        """``kvs.namespace-create {namespace, owner, flags[, rootref]}``."""
        body = request.json()
        await self.create_namespace(body.get("namespace"),
                                    body.get("owner", USERID_UNKNOWN),
                                    body.get("flags", 0), body.get("rootref"))
        return None

    @method("namespace-remove")
    async def rpc_namespace_remove(self, request):
        """``kvs.namespace-remove {namespace}``."""
        await self.remove_namespace(request.json().get("namespace"))
        return None

    @method("namespace-list")
    def rpc_namespace_list(self, request):
        """``kvs.namespace-list`` -> ``{namespaces: [{namespace, owner, flags}]}``."""
        if not self._leader:
            return self.router.call("kvs.namespace-list", {}, nodeid=0,
                                    cred=request.cred)
        return {"namespaces": self.namespaces()}

    @method("dropcache")
    def rpc_dropcache(self, request):
        """``kvs.dropcache``: forget decoded directories."""
        self._objects.clear()
        return None

    @method("stats-get", roles=ROLE_USER)
    def flux_stats_get(self, request):
        """Counters, cache size and per-namespace versions."""
        out = dict(self.stats)
        out["cache"] = {"count": len(self._objects), "size": self._objects.size}
        out["namespace"] = {ns.name: {"rootseq": ns.seq, "pending": len(ns.queue)}
                            for ns in self._ns.values()}
        return out


def _per_byte(obj):
    """Memory a decoded directory takes per byte of its JSON."""
    if getattr(obj["data"], "parts", None):
        return DECODED_PER_BYTE + PARTS_PER_BYTE
    return DECODED_PER_BYTE


def _deepcopy(obj):
    if obj["type"] == T.DIR:
        return {"ver": 1, "type": T.DIR,
                "data": {k: _deepcopy(v) for k, v in obj["data"].items()}}
    return {"ver": 1, "type": obj["type"], "data": _copy.deepcopy(obj["data"])}


def _first_error(failure):
    failure.trap(defer.FirstError)
    return failure.value.subFailure
