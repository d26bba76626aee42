# -*- test-case-name: tests.unit.kvs.test_watch -*-
"""The ``kvs-watch`` service: streaming lookups of a key or directory.

``kvs-watch.lookup {key, namespace, flags}`` (streaming) answers with the
key's current value, then once per relevant new root of the namespace,
in root order, until the client cancels (or disconnects):

* ``WATCH``: whenever a commit wrote the key, a directory above it or
  anything below it;
* ``WATCH_UNIQ``: the same, but only when the value differs from the
  last one sent;
* ``WATCH_FULL``: whenever the key's tree object changed, however it
  happened (through a symlink, a parent replaced...);
* ``WATCH_APPEND``: only the data appended since the last response (the
  first response is the whole value); EINVAL if the key is overwritten;
* ``WAITCREATE``: a missing key is waited for instead of failing ENOENT;
  without ``WATCH`` the stream ends after that first value;
* ``STREAM`` (without ``WATCH``): the value one blob per response.

The stream ends with ENOENT when a watched key is removed and ENOTSUP
when its namespace is removed.  A key reached through a symlink into
another namespace (``job.<id>.guest`` while the job runs) is watched in
both: a new root of the other namespace is looked at too, and answered
when the value it gives differs from the last one (its key names are
not those of the watched namespace).  That namespace's removal alone
ends nothing: the symlink is replaced in the same batch.  Watches run on
every broker, driven by the local KVS's root changes, so a follower's
watcher sees the same sequence of values as one on rank 0.
"""

import errno

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.errors import FluxError, InvalidArgument, NotFound, ProtocolError
from fluxd.interfaces import IKVS, provide
from fluxd.storage import treeobj as T
from fluxd.storage.errors import NoNamespace
from fluxd.storage.lookup import (
    READDIR, READLINK, STREAM, TREEOBJ, WAITCREATE, WATCH, WATCH_APPEND,
    WATCH_FULL, WATCH_INITIAL_SENTINEL, WATCH_UNIQ)
from fluxd.kvs.namespaces import PRIMARY
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module

__all__ = ["WatchService", "touches"]

_ALLOWED = (READDIR | READLINK | TREEOBJ | WATCH | WAITCREATE | WATCH_FULL
            | WATCH_UNIQ | WATCH_APPEND | STREAM | WATCH_INITIAL_SENTINEL)
_STOP = object()
_STALE = object()


def touches(watched, changed):
    """Whether a commit to key ``changed`` may change key ``watched``."""
    return (watched == "." or changed == watched
            or watched.startswith(changed + ".")
            or changed.startswith(watched + "."))


class WatchService(Module):
    """Streaming KVS lookups on one broker.

    :param rank: this broker's rank.
    :param kvs: the local :class:`~fluxd.kvs.service.KVSService`.
    """

    name = "kvs-watch"
    log = Logger()

    def __init__(self, rank, kvs):
        super().__init__(rank)
        self.kvs = provide(IKVS, kvs)
        self._watchers = set()
        self._remove_listener = None

    def startService(self):
        super().startService()
        self._remove_listener = self.kvs.add_root_listener(self._on_root)

    def stopService(self):
        super().stopService()
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        for watcher in list(self._watchers):
            watcher.stop(FluxError("kvs-watch is shutting down",
                                   errnum=errno.ENOSYS))

    def _on_root(self, namespace, rootref, seq, keys):
        for watcher in list(self._watchers):
            if watcher.namespace == namespace:
                watcher.update(rootref, seq, keys)
            elif watcher.via == namespace and rootref is not None:
                watcher.update(rootref, seq, keys, via=True)

    @method("lookup", roles=ROLE_USER, streaming=True)
    def rpc_lookup(self, request):
        """``kvs-watch.lookup {key, namespace, flags}``: one response per change."""
        body = request.json()
        flags = body.get("flags", 0)
        if not isinstance(flags, int) or isinstance(flags, bool) or \
                flags & ~_ALLOWED:
            raise ProtocolError(f"invalid watch flags {flags!r}")
        namespace = body.get("namespace", PRIMARY)
        key = body.get("key")
        T.split_key(key)
        watcher = _Watcher(self, request, namespace, key, flags)
        return defer.Deferred.fromCoroutine(watcher.run())

    @method("stats-get", roles=ROLE_USER)
    def flux_stats_get(self, request):
        """``{watchers, namespaces: {ns: {watchers}}}``."""
        per = {}
        for watcher in self._watchers:
            per.setdefault(watcher.namespace, {"watchers": 0})["watchers"] += 1
        return {"watchers": len(self._watchers), "namespaces": per}


class _Watcher:
    """One streaming lookup."""

    def __init__(self, service, request, namespace, key, flags):
        self.service = service
        self.kvs = service.kvs
        self.request = request
        self.namespace = namespace
        self.key = key
        self.norm = T.normalize_key(key)
        self.flags = flags
        self.lookup_flags = flags & (READDIR | READLINK)
        self.cred = (request.userid, request.rolemask)
        self.seq = -1
        self.last = None        # the tree object last answered
        self.seen = None        # WATCH_APPEND: blobrefs already sent
        self.exists = False
        self.via = None         # the namespace a symlink led the lookup to
        self._updates = []
        self._wakeup = None
        request.on_cancel(lambda: self.stop(None))

    # -- events from the service ------------------------------------------------

    def update(self, rootref, seq, keys, via=False):
        self._updates.append((rootref, seq, keys, via))
        self._wake()

    def stop(self, error):
        self._updates.append((_STOP, error, None, False))
        self._wake()

    def _wake(self):
        if self._wakeup is not None:
            d, self._wakeup = self._wakeup, None
            d.callback(None)

    async def _next(self):
        while not self._updates:
            self._wakeup = defer.Deferred()
            await self._wakeup
        return self._updates.pop(0)

    # -- the stream -------------------------------------------------------------

    async def run(self):
        ns = await self.kvs.namespace(self.namespace, self.cred)
        self.namespace = ns.name
        self.service._watchers.add(self)
        try:
            await self._initial(ns.rootref, ns.seq)
            if not self.flags & WATCH and (self.exists or not self.flags & WAITCREATE):
                return
            while True:
                rootref, seq, keys, via = await self._next()
                if rootref is _STOP:
                    if seq is not None:
                        raise seq
                    return
                if via:
                    if await self._via_changed():
                        return
                    continue
                if rootref is None:
                    raise NoNamespace(f"namespace {self.namespace!r} was removed")
                if seq <= self.seq:
                    continue
                self.seq = seq
                if not self.flags & WATCH_FULL and \
                        not any(touches(self.norm, k) for k in keys):
                    continue
                done = await self._changed(rootref, seq)
                if done:
                    return
        finally:
            self.service._watchers.discard(self)

    async def _lookup(self, rootref):
        try:
            obj, ns = await self.kvs.lookup_at(self.namespace, self.key,
                                               self.lookup_flags, rootref,
                                               self.cred)
        except NotFound as missing:
            name = getattr(missing, "namespace", self.namespace)
            self.via = None if name == self.namespace else name
            return None
        except NoNamespace:
            if self.via is None:
                raise
            # an older root's symlink to a namespace since folded back:
            # the newer root that replaced the symlink is on its way
            return _STALE
        self.via = None if ns.name == self.namespace else ns.name
        return obj

    async def _via_changed(self):
        """The namespace a symlink leads to has a new root: look again
        at the current root; answer if the value changed.  True ends."""
        ns = await self.kvs.namespace(self.namespace, self.cred)
        obj = await self._lookup(None)
        if obj is _STALE or obj is None or obj == self.last:
            return False
        return await self._changed_to(obj, ns.seq)

    async def _initial(self, rootref, seq):
        self.seq = seq
        obj = await self._lookup(rootref)
        if obj is None or obj is _STALE:
            if not self.flags & WAITCREATE:
                raise NotFound("No such file or directory")
            return
        await self._first(obj, seq)

    async def _first(self, obj, seq):
        self.exists = True
        self.last = obj
        if self.flags & STREAM and not self.flags & WATCH and \
                obj["type"] == T.VALREF:
            for ref in obj["data"]:
                data = await self.kvs.content.load(ref)
                self._send(T.create_val(data), seq)
            return
        if self.flags & WATCH_APPEND:
            self.seen = self._refs_of(obj)
        self._send(await self._answer(obj), seq)
        if self.flags & WATCH_INITIAL_SENTINEL:
            self.request.respond({"namespace": self.namespace, "key": self.key})

    async def _changed(self, rootref, seq):
        """Handle a relevant new root; True ends the stream."""
        obj = await self._lookup(rootref)
        if obj is _STALE:
            return False
        return await self._changed_to(obj, seq)

    async def _changed_to(self, obj, seq):
        if obj is None:
            if self.exists:
                raise NotFound("No such file or directory")
            return False
        if not self.exists:
            await self._first(obj, seq)
            return not self.flags & WATCH
        if self.flags & WATCH_APPEND:
            return await self._appended(obj, seq)
        same = obj == self.last
        self.last = obj
        if same and self.flags & (WATCH_FULL | WATCH_UNIQ):
            return False
        self._send(await self._answer(obj), seq)
        return False

    async def _appended(self, obj, seq):
        refs = self._refs_of(obj)
        if refs is None or refs[:len(self.seen)] != self.seen:
            raise InvalidArgument(f"key {self.key!r} was overwritten, not"
                                  " appended to")
        new = refs[len(self.seen):]
        self.seen, self.last = refs, obj
        if new:
            data = await self.kvs.read_value(T.create_valref(new))
            self._send(T.create_val(data), seq)
        return False

    def _refs_of(self, obj):
        if obj["type"] == T.VALREF:
            return list(obj["data"])
        if obj["type"] == T.VAL:
            return [self.kvs.content.hash(T.decode_val(obj))]
        return None

    async def _answer(self, obj):
        if obj["type"] == T.VALREF and not self.flags & TREEOBJ:
            return T.create_val(await self.kvs.read_value(obj))
        return obj

    def _send(self, obj, seq):
        self.request.respond({"namespace": self.namespace, "key": self.key,
                              "val": obj, "rootseq": seq})
