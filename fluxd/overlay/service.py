# -*- test-case-name: tests.unit.overlay.test_service -*-
"""The overlay: this broker's links to its TBON parent and children.

Routing (RFC 3, spec/protocol.md section 3): a request this broker cannot
serve travels to the parent (no rank, or the UPSTREAM flag) or along the
tree towards its rank (:mod:`fluxd.overlay.routing` remembers where each
answer goes).  Events arrive from the parent and go on to every child.

Health (spec/broker.md section 4.2): children report their subtree status
and online/torpid rank sets in CONTROL messages; the parent combines them,
marks a silent child torpid after ``tbon.torpid_max`` (time this broker
itself did not run, stopped or blocked, is not held against its
children), and a dropped connection ``lost`` (a clean goodbye leaves it
``offline``).

Joining: a child connects, finishes the TLS handshake and sends a hello
(``overlay.hello``: rank, uuid, version); the parent accepts it only from
one of its children running the same version.  Until then a connection
is held by the :class:`~fluxd.overlay.gate.AdmissionGate`, which bounds
how long and how many such connections may wait.  A child that gets no
answer to its hello within the same time drops the link and reconnects.

Links are mutual TLS pinned to the cluster certificate; this module gets
ready-made TLS settings and TCP endpoints, so it never sees a certificate.
"""

import errno
import json
import random
import socket
import uuid

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer, protocol, task
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator, IOpenSSLServerConnectionCreator)
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import InvalidArgument
from fluxd.formats.idset import IDset
from fluxd.interfaces import (
    IEvents, IOverlayLifecycle, IOverlayStatus, IRouter, IUpstream, provide)
from fluxd.message import frames
from fluxd.message.router import method
from fluxd.message.types import (
    CONTROL, FLAG_NORESPONSE, FLAG_STREAMING, FLAG_UPSTREAM,
    NODEID_ANY, REQUEST, ROLE_LOCAL, ROLE_OWNER, ROLE_USER, Message)
from fluxd.module import Module
from fluxd.overlay import health
from fluxd.overlay.gate import AdmissionGate
from fluxd.overlay.links import (
    CONTROL_DISCONNECT, CONTROL_HEARTBEAT, CONTROL_SHUTDOWN, CONTROL_STATUS,
    ChildSide, ParentSide)
from fluxd.overlay.protocol import OverlayProtocol, WriteBatch
from fluxd.overlay.routing import Forwarder

TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


def _own_request(topic, payload, nodeid):
    """A NORESPONSE request from this broker itself (owner credentials,
    as :meth:`fluxd.message.router.Router.call` gives its requests)."""
    msg = Message.request(topic, payload, nodeid=nodeid, flags=FLAG_NORESPONSE)
    msg.rolemask, msg.userid = ROLE_OWNER, 0
    return msg


class _Factory(protocol.Factory):
    """Builds :class:`OverlayProtocol` connections for one side."""

    def __init__(self, link, tls, is_client, batch):
        self.link, self.tls, self.is_client, self.batch = \
            link, tls, is_client, batch

    def buildProtocol(self, addr):
        return OverlayProtocol(self.link, self.tls, self.is_client,
                               self.batch)


@implementer(IUpstream, IOverlayStatus, IOverlayLifecycle)
class OverlayService(Module):
    """The TBON links of one broker.

    :param reactor: IReactorTime (+ the endpoints' reactor).
    :param rank: this broker's rank; ``size`` the instance size.
    :param topology: a :class:`fluxd.overlay.topology.Topology`.
    :param router: the broker's router (its ``upstream`` becomes ours).
    :param events: the broker's :class:`fluxd.events.EventService`.
    :param listen_endpoint: IStreamServerEndpoint (TCP) for children, or
        None (a leaf needs none).
    :param parent_endpoint: IStreamClientEndpoint (TCP) of the parent, or
        None on rank 0.
    :param hostnames: host name of every rank, in rank order.
    :param quorum: brokers that must be online for quorum (rank 0).
    :param server_tls: ``IOpenSSLServerConnectionCreator`` for children
        (required with ``listen_endpoint``).
    :param client_tls: ``IOpenSSLClientConnectionCreator`` for the parent
        (required with ``parent_endpoint``).
    :param hello_timeout: seconds a link may take for TLS and the hello.
    :param gate: the :class:`AdmissionGate` of connections from would-be
        children (default: one with ``hello_timeout`` and default limits).
    """

    name = "overlay"
    log = Logger()

    def __init__(self, reactor, rank, size, topology, router, events,
                 listen_endpoint=None, parent_endpoint=None, hostnames=(),
                 quorum=None, torpid_min=5.0, torpid_max=30.0,
                 tcp_user_timeout=20.0, version="",
                 server_tls=None, client_tls=None, hello_timeout=10.0,
                 gate=None):
        super().__init__(rank)
        if listen_endpoint is not None and \
                not IOpenSSLServerConnectionCreator.providedBy(server_tls):
            raise InvalidArgument("overlay: a listening endpoint needs TLS")
        if parent_endpoint is not None and \
                not IOpenSSLClientConnectionCreator.providedBy(client_tls):
            raise InvalidArgument("overlay: a parent endpoint needs TLS")
        self.reactor = reactor
        self.size = size
        self.topology = topology
        self.router = provide(IRouter, router)
        self.events = provide(IEvents, events)
        self.listen_endpoint = listen_endpoint
        self.parent_endpoint = parent_endpoint
        self.server_tls = server_tls
        self.client_tls = client_tls
        self.hostnames = list(hostnames)
        self.quorum = size if quorum is None else quorum
        self.torpid_min = torpid_min
        self.torpid_max = torpid_max
        self.tcp_user_timeout = tcp_user_timeout
        self.version = version
        self._parent_lost_listeners = []
        self.hello_timeout = hello_timeout
        self.gate = gate if gate is not None else AdmissionGate(
            reactor, timeout=hello_timeout)
        self.uuid = uuid.uuid4().hex
        now = reactor.seconds()
        self.children = {r: health.ChildState(r, now)
                         for r in topology.children(rank)}
        self.parent_rank = topology.parent(rank)
        self.parent = None
        self.batch = WriteBatch(reactor)
        self.forwarder = Forwarder(rank)
        self._next_hops = {}
        self._parent_service = None
        self.child_link = ChildSide(self)
        self.parent_link = ParentSide(self)
        self._port = None
        self._status = health.FULL if not self.children else health.PARTIAL
        self._status_since = now
        self._parent_ready = defer.Deferred() if self.parent_rank is not None \
            else defer.succeed(None)
        self._quorum_waiters = []
        self._membership_watchers = []
        self._gone_waiters = []
        self._last_tick = None
        self._heartbeat = task.LoopingCall(self._tick)
        self._heartbeat.clock = reactor

    # -- lifecycle ------------------------------------------------------------

    @defer.inlineCallbacks
    def startService(self):
        super().startService()
        if self.listen_endpoint is not None and self.children:
            self._port = yield self.listen_endpoint.listen(_Factory(
                self.child_link, self.server_tls, False, self.batch))
        if self.parent_endpoint is not None:
            self._parent_service = ClientService(
                self.parent_endpoint,
                _Factory(self.parent_link, self.client_tls, True, self.batch),
                # Twisted's default jitter adds up to a whole second to
                # every retry; a child that starts before its parent
                # listens should join within tens of milliseconds
                retryPolicy=backoffPolicy(
                    initialDelay=0.05, maxDelay=1.0, factor=1.5,
                    jitter=lambda: random.random() * 0.05),
                clock=self.reactor)
            self._parent_service.startService()
        self._last_tick = self.reactor.seconds()
        self._heartbeat.start(self.torpid_min, now=False)

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        if self._heartbeat.running:
            self._heartbeat.stop()
        self.parent_link.stop()
        if self.parent is not None:
            self.parent.send(Message(CONTROL, matchtag=CONTROL_DISCONNECT))
            self.batch.flush()
        if self._parent_service is not None:
            yield self._parent_service.stopService()
        if self._port is not None:
            yield self._port.stopListening()
        self.gate.stop()
        for child in self.children.values():
            if child.proto is not None:
                child.proto.close()

    def parent_accepted(self):
        """The parent accepted our hello (the first time: JOIN is done)."""
        if not self._parent_ready.called:
            self._parent_ready.callback(None)

    def set_torpid(self, torpid_min, torpid_max):
        """New ``tbon.torpid_min``/``torpid_max`` (a config reload): the
        keepalive period and the torpid limit change at once."""
        self.torpid_max = torpid_max
        if torpid_min != self.torpid_min:
            self.torpid_min = torpid_min
            if self._heartbeat.running:
                self._heartbeat.stop()
                self._heartbeat.start(torpid_min, now=False)

    def add_parent_lost(self, callback):
        """Call ``callback()`` when the parent shuts down or disconnects
        this broker administratively (the broker then stops)."""
        self._parent_lost_listeners.append(callback)

    def tell_parent_lost(self):
        """The parent shut down or disconnected us: tell the listeners."""
        for callback in list(self._parent_lost_listeners):
            try:
                callback()
            except Exception:
                self.log.failure("overlay: parent-lost listener failed")

    def parent_ready(self):
        """A Deferred that fires once the parent accepted our hello."""
        d = defer.Deferred()
        self._parent_ready.addBoth(lambda r: (d.callback(None), r)[1])
        return d

    def children_gone(self):
        """A Deferred firing once no child is connected.

        Fires True when this broker has children (it waited for them),
        False for a leaf, as the lifecycle's SHUTDOWN state expects.
        """
        if not self.children:
            return defer.succeed(False)
        d = defer.Deferred()
        self._gone_waiters.append(d)
        self.check_gone()
        return d

    def check_gone(self):
        """Fire :meth:`children_gone` waiters once no child is connected."""
        if self._gone_waiters and all(c.proto is None
                                      for c in self.children.values()):
            waiters, self._gone_waiters = self._gone_waiters, []
            for d in waiters:
                d.callback(True)

    def shutdown_children(self):
        """Tell every connected child that this broker is shutting down."""
        for child in self.children.values():
            if child.proto is not None:
                child.proto.send(Message(CONTROL, matchtag=CONTROL_SHUTDOWN))

    def quorum_reached(self):
        """A Deferred that fires once ``quorum`` brokers are online (rank 0)."""
        d = defer.Deferred()
        if self.rank != 0 or len(self.online_ranks()) >= self.quorum:
            d.callback(None)
        else:
            self._quorum_waiters.append(d)
        return d

    # -- health ---------------------------------------------------------------

    def online_ranks(self):
        """The ranks online in my subtree, me included (an IDset)."""
        ranks = IDset([self.rank])
        for child in self.children.values():
            if child.proto is not None:
                ranks = ranks | child.online
        return ranks

    def online(self):
        """How many brokers are online in my subtree, me included."""
        return len(self.online_ranks())

    def torpid_ranks(self):
        """The ranks in my subtree that their parents see as torpid."""
        ranks = IDset(c.rank for c in self.children.values()
                      if c.proto is not None and c.torpid)
        for child in self.children.values():
            if child.proto is not None:
                ranks = ranks | child.torpid_below
        return ranks

    def on_membership(self, callback):
        """Call ``callback()`` whenever the online or torpid sets change."""
        self._membership_watchers.append(callback)

    def membership_changed(self):
        """Tell the watchers that the online or torpid sets changed."""
        for callback in list(self._membership_watchers):
            try:
                callback()
            except Exception:
                self.log.failure("overlay membership watcher failed")

    def status(self):
        """This broker's subtree status (``full``, ``partial``, ...)."""
        return self._status

    def recompute(self):
        """Recompute this broker's status from its children's; report it."""
        now = self.reactor.seconds()
        status = health.combine(c.status for c in self.children.values())
        if status != self._status:
            self.log.info("overlay: status {old} -> {new}", old=self._status,
                          new=status)
            self._status, self._status_since = status, now
        self.report_up()
        if self.rank == 0 and self._quorum_waiters and \
                len(self.online_ranks()) >= self.quorum:
            waiters, self._quorum_waiters = self._quorum_waiters, []
            for d in waiters:
                d.callback(None)

    def report_up(self):
        """Send this subtree's status and rank sets to the parent."""
        if self.parent is not None:
            self.parent.send(Message(
                CONTROL, matchtag=CONTROL_STATUS,
                payload=json.dumps({
                    "status": self._status,
                    "online": self.online_ranks().encode(),
                    "torpid": self.torpid_ranks().encode()}).encode()))

    def _tick(self):
        now = self.reactor.seconds()
        # A tick that comes late means this broker did not run for that
        # long (SIGSTOP, a blocked reactor): its children's messages wait
        # unread in the sockets, so that time is not held against them.
        stalled = now - self._last_tick - self.torpid_min
        self._last_tick = now
        if stalled > 0:
            for child in self.children.values():
                child.last_rx = min(now, child.last_rx + stalled)
        if self.parent is not None:
            self.parent.send(Message(CONTROL, matchtag=CONTROL_HEARTBEAT))
        if self.torpid_max <= 0:
            return
        for child in self.children.values():
            if child.proto is None:
                continue
            silent = now - child.last_rx
            if silent > self.torpid_max and not child.torpid:
                child.torpid = True
                self.log.warn("overlay: rank {rank} is torpid ({s:.0f}s silent)",
                              rank=child.rank, s=silent)
                self.report_up()
                self.membership_changed()
            elif silent <= self.torpid_max and child.torpid:
                child.torpid = False
                self.log.info("overlay: rank {rank} is no longer torpid",
                              rank=child.rank)
                self.report_up()
                self.membership_changed()

    def set_tcp_timeout(self, proto):
        """Set ``tbon.tcp_user_timeout`` on a connection's socket."""
        get_handle = getattr(proto.transport, "getHandle", None)
        if self.tcp_user_timeout <= 0 or get_handle is None:
            return  # the OS default, or not a socket (in memory)
        try:
            get_handle().setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT,
                                    int(self.tcp_user_timeout * 1000))
        except OSError as exc:
            self.log.warn("overlay: cannot set TCP_USER_TIMEOUT: {err}", err=exc)

    # -- routing --------------------------------------------------------------

    def _next_hop(self, msg):
        """The link a request should take, or ``(None, errnum, text)``."""
        if msg.nodeid == NODEID_ANY or (msg.flags & FLAG_UPSTREAM
                                        and msg.nodeid == self.rank):
            if self.parent_rank is None:
                return None, errno.ENOSYS, None
            return self.parent, errno.EHOSTUNREACH, None
        target = msg.nodeid
        if target >= self.size:
            return None, errno.EHOSTUNREACH, f"rank {target} is not in this instance"
        hop = self._next_hops.get(target)
        if hop is None:
            hop = self._next_hops[target] = self.topology.next_hop(self.rank, target)
        if hop == self.parent_rank:
            return self.parent, errno.EHOSTUNREACH, None
        child = self.children.get(hop)
        return (child.proto if child else None), errno.EHOSTUNREACH, None

    def forward(self, msg, reply):
        """Send a request this broker cannot serve along the tree."""
        link, errnum, text = self._next_hop(msg)
        noresponse = msg.flags & FLAG_NORESPONSE
        if link is None:
            if not noresponse:
                reply(msg.response(errnum=errnum, errstr=text))
            return
        self.forwarder.forward(msg, reply, link, not noresponse,
                               bool(msg.flags & FLAG_STREAMING))

    def receive(self, proto, msg):
        """A request or response from a peer."""
        if msg.type == REQUEST:
            msg.rolemask &= ~ROLE_LOCAL
            if msg.flags & FLAG_UPSTREAM and msg.nodeid != self.rank:
                # sent upstream from rank nodeid: on the way to the root,
                # any broker with the service may answer (RFC 3)
                msg.nodeid = NODEID_ANY
            self.router.deliver(msg, proto.send)
        else:
            self.forwarder.response(msg)

    def send_event_down(self, msg):
        data = None
        for child in self.children.values():
            if child.proto is not None:
                if data is None:
                    data = frames.encode(msg)  # once for every child
                child.proto.send_encoded(data)

    def forward_cancel(self, sender, matchtag):
        """Pass a client's cancel on to where its request went."""
        where = self.forwarder.cancel(sender, matchtag)
        if where is not None:
            link, tag = where
            link.send(_own_request(
                "overlay.cancel-remote", {"sender": sender, "matchtag": tag},
                link.peer_rank))

    def forward_disconnect(self, sender):
        """Tell the brokers that serve ``sender``'s requests it went away."""
        for link in self.forwarder.disconnect(sender):
            link.send(_own_request("overlay.disconnect-remote",
                                   {"sender": sender}, link.peer_rank))

    # -- RPC ------------------------------------------------------------------

    @method("cancel-remote")
    def cancel_remote(self, request):
        """A client's cancel, passed on by the broker that forwarded."""
        body = request.json()
        self.router.cancel(body.get("sender"), body.get("matchtag"))

    @method("disconnect-remote")
    def disconnect_remote(self, request):
        """A client left, said the broker that forwarded its requests."""
        self.router.disconnect(request.json().get("sender"))

    @method("health", roles=ROLE_USER)
    def rpc_health(self, request):
        """This broker's subtree health (spec/broker.md section 4.2)."""
        now = self.reactor.seconds()
        return {"rank": self.rank, "status": self._status,
                "duration": now - self._status_since,
                "online": self.online(),
                "online-ranks": self.online_ranks().encode(),
                "torpid-ranks": self.torpid_ranks().encode(),
                "children": [c.as_dict(now) for c in self.children.values()]}

    @method("topology", roles=ROLE_USER)
    def rpc_topology(self, request):
        """The tree below a rank (``{rank, size, children}``)."""
        rank = request.json().get("rank", self.rank)

        def tree(r):
            return {"rank": r, "size": 1 + len(self.topology.subtree(r)),
                    "children": [tree(c) for c in self.topology.children(r)]}
        if not isinstance(rank, int) or not 0 <= rank < self.size:
            raise InvalidArgument(f"{rank} is not a valid rank in this instance")
        return tree(rank)

    @method("disconnect-subtree")
    def rpc_disconnect(self, request):
        """Disconnect a child (``flux overlay disconnect``)."""
        rank = request.json().get("rank")
        child = self.children.get(rank)
        if child is None:
            raise InvalidArgument(f"rank {rank} is not a child of rank {self.rank}")
        if child.proto is None:
            raise InvalidArgument(f"rank {rank} is not connected")
        child.admin_error = "administrative shutdown"
        child.goodbye = True
        child.proto.send(Message(CONTROL, matchtag=CONTROL_DISCONNECT))
        child.proto.close()
        return {}
