# -*- test-case-name: tests.unit.kvs.test_follower -*-
"""In-process brokers with the KVS services, linked like a tree.

:class:`KVSBroker` is one broker's router, event, content, kvs and
kvs-watch services, without sockets.  :func:`link` connects a follower
under its parent the way the overlay does: requests the follower cannot
serve locally (addressed to another rank) go to the parent's router, and
every event the parent hands out is delivered to the follower too.  So
unit tests can drive rank 0 and followers with the real services on a
:class:`~twisted.internet.task.Clock`, synchronously.

:class:`GatedStore` wraps a content store so that a test decides when
each write becomes durable.
"""

from twisted.internet import defer
from zope.interface import implementer

from fluxd.events import EventService
from fluxd.interfaces import IContentStore, IUpstream
from fluxd.kvs.content import MemoryContentStore
from fluxd.kvs.content_service import ContentService
from fluxd.kvs.service import KVSService
from fluxd.kvs.watch import WatchService
from fluxd.message.router import Credential, Router
from fluxd.message.types import ROLE_OWNER

__all__ = ["KVSBroker", "link", "GatedStore"]


class KVSBroker:
    """The KVS side of one broker, in memory.

    :param rank: the rank (0 gets ``store``).
    :param store: rank 0's :class:`IContentStore` (default: a new memory
        store).
    :param owner: the instance owner's uid.
    :param blob_limit: the blob size limit.
    :param cache_bytes: both caches' budget (default: each service's own).
    """

    def __init__(self, rank=0, store=None, owner=1000, hash_name="sha1",
                 blob_limit=1024 * 1024, cache_bytes=None):
        self.rank = rank
        self.owner = owner
        self.router = Router(rank=rank, owner=owner)
        self.events = EventService(rank, self.router)
        if rank == 0 and store is None:
            store = MemoryContentStore(hash_name)
        self.store = store if rank == 0 else None
        # the services' own cache budgets unless told otherwise
        budget = {} if cache_bytes is None else {"cache_bytes": cache_bytes}
        self.content = ContentService(rank, self.router, self.store, hash_name,
                                      blob_limit, owner=owner, **budget)
        self.kvs = KVSService(rank, self.router, self.content, self.events,
                              owner, **budget)
        self.watch = WatchService(rank, self.kvs)
        self.modules = [self.events, self.content, self.kvs, self.watch]

    def start(self):
        """Start the services in order; a Deferred."""
        async def start():
            for module in self.modules:
                await defer.maybeDeferred(module.startService)
                self.router.add_module(module)
            return self
        return defer.Deferred.fromCoroutine(start())

    def stop(self):
        """Stop the services in reverse order; a Deferred."""
        async def stop():
            for module in reversed(self.modules):
                await defer.maybeDeferred(module.stopService)
                self.router.remove_module(module.name)
        return defer.Deferred.fromCoroutine(stop())

    def call(self, topic, payload=None, nodeid=None, userid=None,
             rolemask=ROLE_OWNER, raw=False):
        """An RPC into this broker (as the owner unless told otherwise);
        ``raw`` answers the payload bytes rather than decoded JSON."""
        return self.router.call(
            topic, payload, nodeid=nodeid, raw=raw,
            cred=Credential(self.owner if userid is None else userid, rolemask))


@implementer(IUpstream)
class Link:
    """The in-memory overlay of :func:`link`: a follower's router upstream.

    Requests go to the parent's router with a hop added to their route;
    cancels and disconnects follow them.  :attr:`hold` lets a test delay
    what goes up: while it is a list, requests are appended to it as
    ``(message, reply)`` instead of being delivered.
    """

    def __init__(self, parent, hop):
        self.parent = parent
        self.hop = hop
        self.hold = None

    def forward(self, message, reply):
        """Deliver ``message`` to the parent's router (or hold it)."""
        up = message.copy()
        up.route.append(self.hop)
        if self.hold is not None:
            self.hold.append((up, reply))
            return
        self.parent.router.deliver(up, reply)

    def forward_cancel(self, sender, matchtag):
        """Pass a cancel up."""
        self.parent.router.cancel(sender, matchtag)

    def forward_disconnect(self, sender):
        """Pass a disconnect up."""
        self.parent.router.disconnect(sender)


def link(parent, child):
    """Attach ``child`` under ``parent`` (requests up, events down).

    :returns: the child's :class:`Link`.
    """
    up = Link(parent, f"rank-{child.rank}")
    child.router.attach_upstream(up)
    parent.events.add_forwarder(child.events.deliver)
    return up


@implementer(IContentStore)
class GatedStore:
    """A content store whose writes wait until the test releases them.

    :ivar gated: pending ``(Deferred, blobs, roots)`` writes, oldest first.
    :ivar fail_next: when set, the next released write fails with it.
    """

    def __init__(self, inner=None):
        self.inner = inner if inner is not None else MemoryContentStore()
        self.hash_name = self.inner.hash_name
        self.gated = []
        self.writes = []
        self.fail_next = None
        self.gate = True

    def open(self):
        return self.inner.open()

    def load(self, blobref):
        return self.inner.load(blobref)

    def roots(self):
        return self.inner.roots()

    def flush(self):
        return self.inner.flush()

    def close(self):
        return self.inner.close()

    def write(self, blobs, roots):
        self.writes.append((blobs, roots))
        d = defer.Deferred()
        if self.gate:
            self.gated.append((d, blobs, roots))
        else:
            self._finish(d, blobs, roots)
        return d

    def release(self, count=None):
        """Let the oldest ``count`` (default all) gated writes complete."""
        n = len(self.gated) if count is None else count
        for _ in range(n):
            d, blobs, roots = self.gated.pop(0)
            self._finish(d, blobs, roots)

    def _finish(self, d, blobs, roots):
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            d.errback(error)
            return
        self.inner.write(blobs, roots).chainDeferred(d)
