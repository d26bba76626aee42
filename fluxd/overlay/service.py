# -*- test-case-name: tests.integration.test_overlay -*-
"""The overlay: this broker's links to its TBON parent and children.

Routing (RFC 3, spec/protocol.md section 3): a request this broker cannot
serve travels to the parent (no rank, or the UPSTREAM flag) or along the
tree towards its rank; the forwarding broker pushes its rank on the
route and remembers where the answer goes, so responses retrace the
path.  Events arrive from the parent and go on to every child.  When a
link is lost every request in flight through it is answered
EHOSTUNREACH.

Health (spec/broker.md section 4.2): children report their subtree status
and online/torpid rank sets in CONTROL messages; the parent combines them, marks a
silent child torpid after ``tbon.torpid_max``, and a dropped connection
``lost`` (a clean goodbye leaves it ``offline``).

Links are mutual TLS pinned to the cluster certificate; this module gets
ready-made endpoints, so it never sees a certificate.
"""

import errno
import json
import random
import socket
import uuid

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer, protocol, task
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import InvalidArgument
from fluxd.formats.idset import IDset
from fluxd.interfaces import (
    IEvents, IOverlayLifecycle, IOverlayStatus, IRouter, IUpstream, provide)
from fluxd.message.router import method
from fluxd.message.types import (
    CONTROL, EVENT, FLAG_NORESPONSE, FLAG_STREAMING, FLAG_UPSTREAM,
    NODEID_ANY, REQUEST, RESPONSE, ROLE_LOCAL, ROLE_USER, Message)
from fluxd.module import Module
from fluxd.overlay import health
from fluxd.overlay.protocol import OverlayProtocol

CONTROL_HEARTBEAT = 0
CONTROL_STATUS = 1
CONTROL_DISCONNECT = 2
CONTROL_SHUTDOWN = 3
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


class _Factory(protocol.Factory):
    def __init__(self, link):
        self.link = link

    def buildProtocol(self, addr):
        return OverlayProtocol(self.link)


class _ParentLink:
    """Callbacks of the connection to the parent (client side)."""

    def __init__(self, overlay):
        self.overlay = overlay

    def connection_made(self, proto):
        self.overlay._parent_connected(proto)

    def message_received(self, proto, msg):
        self.overlay._from_parent(proto, msg)

    def connection_lost(self, proto, reason):
        self.overlay._parent_lost(proto, reason)


class _ChildLink:
    """Callbacks of connections accepted from children (server side)."""

    def __init__(self, overlay):
        self.overlay = overlay

    def connection_made(self, proto):
        self.overlay._set_tcp_timeout(proto)

    def message_received(self, proto, msg):
        self.overlay._from_child(proto, msg)

    def connection_lost(self, proto, reason):
        self.overlay._child_lost(proto, reason)


@implementer(IUpstream, IOverlayStatus, IOverlayLifecycle)
class OverlayService(Module):
    """The TBON links of one broker.

    :param reactor: IReactorTime (+ the endpoints' reactor).
    :param rank: this broker's rank; ``size`` the instance size.
    :param topology: a :class:`fluxd.overlay.topology.Topology`.
    :param router: the broker's router (its ``upstream`` becomes ours).
    :param events: the broker's :class:`fluxd.events.EventService`.
    :param listen_endpoint: IStreamServerEndpoint for children, or None
        (a leaf needs none).
    :param parent_endpoint: IStreamClientEndpoint of the parent, or None
        on rank 0.
    :param hostnames: host name of every rank, in rank order.
    :param quorum: brokers that must be online for quorum (rank 0).
    """

    name = "overlay"
    log = Logger()

    def __init__(self, reactor, rank, size, topology, router, events,
                 listen_endpoint=None, parent_endpoint=None, hostnames=(),
                 quorum=None, torpid_min=5.0, torpid_max=30.0,
                 tcp_user_timeout=20.0, version=""):
        super().__init__(rank)
        self.reactor = reactor
        self.size = size
        self.topology = topology
        self.router = provide(IRouter, router)
        self.events = provide(IEvents, events)
        self.listen_endpoint = listen_endpoint
        self.parent_endpoint = parent_endpoint
        self.hostnames = list(hostnames)
        self.quorum = size if quorum is None else quorum
        self.torpid_min = torpid_min
        self.torpid_max = torpid_max
        self.tcp_user_timeout = tcp_user_timeout
        self.version = version
        self._parent_lost_listeners = []
        self.uuid = uuid.uuid4().hex
        now = reactor.seconds()
        self.children = {r: health.ChildState(r, now)
                         for r in topology.children(rank)}
        self.parent_rank = topology.parent(rank)
        self.parent = None
        self._parent_service = None
        self._port = None
        self._pending = {}
        self._status = health.FULL if not self.children else health.PARTIAL
        self._status_since = now
        self._parent_ready = defer.Deferred() if self.parent_rank is not None \
            else defer.succeed(None)
        self._quorum_waiters = []
        self._membership_watchers = []
        self._gone_waiters = []
        self._heartbeat = task.LoopingCall(self._tick)
        self._heartbeat.clock = reactor

    # -- lifecycle ------------------------------------------------------------

    @defer.inlineCallbacks
    def startService(self):
        super().startService()
        if self.listen_endpoint is not None and self.children:
            self._port = yield self.listen_endpoint.listen(
                _Factory(_ChildLink(self)))
        if self.parent_endpoint is not None:
            self._parent_service = ClientService(
                self.parent_endpoint, _Factory(_ParentLink(self)),
                # Twisted's default jitter adds up to a whole second to
                # every retry; a child that starts before its parent
                # listens should join within tens of milliseconds
                retryPolicy=backoffPolicy(
                    initialDelay=0.05, maxDelay=1.0, factor=1.5,
                    jitter=lambda: random.random() * 0.05),
                clock=self.reactor)
            self._parent_service.startService()
        self._heartbeat.start(self.torpid_min, now=False)

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        if self._heartbeat.running:
            self._heartbeat.stop()
        if self.parent is not None:
            self.parent.send(Message(CONTROL, matchtag=CONTROL_DISCONNECT))
        if self._parent_service is not None:
            yield self._parent_service.stopService()
        if self._port is not None:
            yield self._port.stopListening()
        for child in self.children.values():
            if child.proto is not None:
                child.proto.closing = True
                child.proto.transport.loseConnection()

    def set_torpid(self, torpid_min, torpid_max):
        """New ``tbon.torpid_min``/``torpid_max`` (a config reload): the
        keepalive period and the torpid limit change at once."""
        self.torpid_max = torpid_max
        if torpid_min != self.torpid_min:
            self.torpid_min = torpid_min
            if self._heartbeat.running:
                self._heartbeat.stop()
                self._heartbeat.start(torpid_min, now=False)

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
        self._check_gone()
        return d

    def _check_gone(self):
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

    def _membership_changed(self):
        for callback in list(self._membership_watchers):
            try:
                callback()
            except Exception:
                self.log.failure("overlay membership watcher failed")

    def status(self):
        return self._status

    def _recompute(self):
        now = self.reactor.seconds()
        status = health.combine(c.status for c in self.children.values())
        if status != self._status:
            self.log.info("overlay: status {old} -> {new}", old=self._status,
                          new=status)
            self._status, self._status_since = status, now
        self._report_up()
        if self.rank == 0 and self._quorum_waiters and \
                len(self.online_ranks()) >= self.quorum:
            waiters, self._quorum_waiters = self._quorum_waiters, []
            for d in waiters:
                d.callback(None)

    def _report_up(self):
        if self.parent is not None:
            self.parent.send(Message(
                CONTROL, matchtag=CONTROL_STATUS,
                payload=json.dumps({
                    "status": self._status,
                    "online": self.online_ranks().encode(),
                    "torpid": self.torpid_ranks().encode()}).encode()))

    def _tick(self):
        now = self.reactor.seconds()
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
                self._report_up()
                self._membership_changed()
            elif silent <= self.torpid_max and child.torpid:
                child.torpid = False
                self.log.info("overlay: rank {rank} is no longer torpid",
                              rank=child.rank)
                self._report_up()
                self._membership_changed()

    def _set_tcp_timeout(self, proto):
        if self.tcp_user_timeout <= 0:
            return
        transport = proto.transport
        while transport is not None and not hasattr(transport, "socket"):
            transport = getattr(transport, "transport", None)  # unwrap TLS
        try:
            transport.socket.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT,
                                        int(self.tcp_user_timeout * 1000))
        except (AttributeError, OSError) as exc:
            self.log.warn("overlay: cannot set TCP_USER_TIMEOUT: {err}", err=exc)

    # -- parent side ----------------------------------------------------------

    def _parent_connected(self, proto):
        self._set_tcp_timeout(proto)
        proto.peer_rank = self.parent_rank
        hello = Message.request("overlay.hello", {
            "rank": self.rank, "uuid": self.uuid, "version": self.version},
            nodeid=self.parent_rank)
        proto.send(hello)
        proto.hello_pending = True

    def _from_parent(self, proto, msg):
        if getattr(proto, "hello_pending", False):
            if msg.type != RESPONSE or msg.topic != "overlay.hello":
                proto.drop("parent did not answer hello")
                return
            proto.hello_pending = False
            if msg.errnum:
                self.log.error("overlay: parent refused us: {err}",
                               err=msg.errstr or errno.errorcode.get(msg.errnum))
                proto.drop("refused by parent")
                return
            self.parent = proto
            self.log.info("overlay: connected to parent rank {rank}",
                          rank=self.parent_rank)
            self._report_up()
            if not self._parent_ready.called:
                self._parent_ready.callback(None)
            return
        if msg.type == EVENT:
            self.events.deliver(msg)
        elif msg.type == CONTROL:
            if msg.matchtag == CONTROL_DISCONNECT:
                self.log.warn("overlay: parent disconnected us"
                              " (administrative shutdown)")
                proto.closing = True
                self._tell_parent_lost()
            elif msg.matchtag == CONTROL_SHUTDOWN:
                self.log.info("overlay: parent is shutting down")
                self._tell_parent_lost()
        else:
            self._receive(proto, msg)

    def add_parent_lost(self, callback):
        """Call ``callback()`` when the parent shuts down or disconnects
        this broker administratively (the broker then stops)."""
        self._parent_lost_listeners.append(callback)

    def _tell_parent_lost(self):
        for callback in list(self._parent_lost_listeners):
            try:
                callback()
            except Exception:
                self.log.failure("overlay: parent-lost listener failed")

    def _parent_lost(self, proto, reason):
        if proto is self.parent:
            self.parent = None
            self.log.warn("overlay: lost connection to parent rank {rank}",
                          rank=self.parent_rank)
        self._fail_pending(proto)

    # -- child side -----------------------------------------------------------

    def _from_child(self, proto, msg):
        if proto.peer_rank is None:
            self._hello(proto, msg)
            return
        child = self.children.get(proto.peer_rank)
        if child is None or child.proto is not proto:
            return
        child.last_rx = self.reactor.seconds()
        if msg.type == CONTROL:
            self._control_from_child(child, msg)
        elif msg.type in (REQUEST, RESPONSE):
            self._receive(proto, msg)
        else:
            proto.drop("children may not send events")

    def _hello(self, proto, msg):
        def refuse(text):
            self.log.warn("overlay: refused {peer}: {text}",
                          peer=proto.describe(), text=text)
            if msg.type == REQUEST:
                proto.send(msg.response(errnum=errno.EPERM, errstr=text))
            proto.closing = True
            proto.transport.loseConnection()
        if msg.type != REQUEST or msg.topic != "overlay.hello":
            proto.drop("first message was not a hello")
            return
        try:
            body = msg.json()
        except Exception:
            refuse("malformed hello")
            return
        rank, version = body.get("rank"), body.get("version")
        if not isinstance(rank, int) or isinstance(rank, bool):
            refuse("malformed hello")
        elif rank not in self.children:
            refuse(f"rank {rank} is not a child of rank {self.rank}")
        elif version != self.version:
            refuse(f"rank {rank} runs version {version}, we run {self.version}")
        else:
            child = self.children[rank]
            if child.proto is not None:
                old = child.proto
                old.closing = True
                old.transport.loseConnection()
                self._fail_pending(old)
            proto.peer_rank = rank
            child.proto = proto
            child.uuid = body.get("uuid")
            now = self.reactor.seconds()
            child.last_rx = now
            child.online = IDset([rank])
            child.torpid_below = IDset()
            child.torpid = False
            child.set_status(health.FULL if not self.topology.children(rank)
                             else health.PARTIAL, now)
            self.log.info("overlay: rank {rank} connected", rank=rank)
            proto.send(msg.response({"rank": self.rank}))
            self._recompute()
            self._membership_changed()

    def _control_from_child(self, child, msg):
        if msg.matchtag == CONTROL_STATUS:
            try:
                body = msg.json()
                status = body["status"]
                online = IDset(body["online"])
                torpid = IDset(body.get("torpid", ""))
            except Exception:
                child.proto.drop("malformed status message")
                return
            if status not in health.STATUSES:
                child.proto.drop("unknown status")
                return
            changed = online != child.online or torpid != child.torpid_below
            child.online, child.torpid_below = online, torpid
            child.set_status(status, self.reactor.seconds())
            self._recompute()
            if changed:
                self._membership_changed()
        elif msg.matchtag == CONTROL_DISCONNECT:
            child.proto.closing = True
            child.goodbye = True

    def _child_lost(self, proto, reason):
        self._fail_pending(proto)
        if proto.peer_rank is None and not proto.closing:
            # gone before a hello: a failed TLS handshake (wrong or no
            # certificate), or a client that is not a broker at all
            self.log.warn("overlay: refused {peer}: {reason}",
                          peer=proto.describe(),
                          reason=reason.getErrorMessage())
            return
        child = self.children.get(proto.peer_rank)
        if child is None or child.proto is not proto:
            return
        child.proto = None
        child.online = IDset()
        child.torpid_below = IDset()
        now = self.reactor.seconds()
        if getattr(child, "goodbye", False):
            child.goodbye = False
            child.set_status(health.OFFLINE, now, getattr(
                child, "admin_error", None))
            self.log.info("overlay: rank {rank} disconnected", rank=child.rank)
        else:
            child.set_status(health.LOST, now, "lost connection")
            self.log.warn("overlay: lost connection to rank {rank}",
                          rank=child.rank)
        child.admin_error = None
        self._recompute()
        self._membership_changed()
        self._check_gone()

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
        hop = self.topology.next_hop(self.rank, target)
        if hop == self.parent_rank:
            return self.parent, errno.EHOSTUNREACH, None
        child = self.children.get(hop)
        return (child.proto if child else None), errno.EHOSTUNREACH, None

    def forward(self, msg, reply):
        """Send a request this broker cannot serve along the tree."""
        link, errnum, text = self._next_hop(msg)
        if link is None:
            if not msg.flags & FLAG_NORESPONSE:
                reply(msg.response(errnum=errnum, errstr=text))
            return
        out = msg.copy()
        out.route.append(str(self.rank))
        if not msg.flags & FLAG_NORESPONSE:
            key = (tuple(out.route), out.matchtag)
            self._pending[key] = (reply, link, bool(msg.flags & FLAG_STREAMING))
        link.send(out)

    def _receive(self, proto, msg):
        if msg.type == REQUEST:
            msg.rolemask &= ~ROLE_LOCAL
            self.router.deliver(msg, proto.send)
            return
        key = (tuple(msg.route), msg.matchtag)
        entry = self._pending.get(key)
        if entry is None:
            return  # a stale response (the requester went away)
        reply, _link, streaming = entry
        if not streaming or msg.errnum:
            del self._pending[key]
        msg.route.pop()
        reply(msg)

    def _fail_pending(self, proto):
        for key, (reply, link, _s) in list(self._pending.items()):
            if link is proto:
                del self._pending[key]
                route, matchtag = list(key[0]), key[1]
                route.pop()
                reply(Message(RESPONSE, "", None, 0x08, matchtag=matchtag,
                              errnum=errno.EHOSTUNREACH, route=route))

    def send_event_down(self, msg):
        for child in self.children.values():
            if child.proto is not None:
                child.proto.send(msg)

    def forward_cancel(self, sender, matchtag):
        """Pass a client's cancel on to where its request went."""
        for key, (_reply, link, _s) in list(self._pending.items()):
            if key[0][0] == sender and key[1] == matchtag:
                link.send(Message.request("overlay.cancel-remote",
                                          {"sender": sender,
                                           "matchtag": matchtag},
                                          nodeid=link.peer_rank,
                                          flags=FLAG_NORESPONSE))

    def forward_disconnect(self, sender):
        """Tell the brokers that serve ``sender``'s requests it went away."""
        links = {id(link): link for key, (_r, link, _s) in self._pending.items()
                 if key[0][0] == sender}
        for key in [k for k in self._pending if k[0][0] == sender]:
            del self._pending[key]
        for link in links.values():
            link.send(Message.request("overlay.disconnect-remote",
                                      {"sender": sender},
                                      nodeid=link.peer_rank,
                                      flags=FLAG_NORESPONSE))

    # -- RPC ------------------------------------------------------------------

    @method("cancel-remote")
    def cancel_remote(self, request):
        body = request.json()
        self.router.cancel(body.get("sender"), body.get("matchtag"))

    @method("disconnect-remote")
    def disconnect_remote(self, request):
        self.router.disconnect(request.json().get("sender"))

    @method("health", roles=ROLE_USER)
    def rpc_health(self, request):
        now = self.reactor.seconds()
        return {"rank": self.rank, "status": self._status,
                "duration": now - self._status_since,
                "online": self.online(),
                "online-ranks": self.online_ranks().encode(),
                "torpid-ranks": self.torpid_ranks().encode(),
                "children": [c.as_dict(now) for c in self.children.values()]}

    @method("topology", roles=ROLE_USER)
    def rpc_topology(self, request):
        rank = request.json().get("rank", self.rank)

        def tree(r):
            return {"rank": r, "size": 1 + len(self.topology.subtree(r)),
                    "children": [tree(c) for c in self.topology.children(r)]}
        if not isinstance(rank, int) or not 0 <= rank < self.size:
            raise InvalidArgument(f"{rank} is not a valid rank in this instance")
        return tree(rank)

    @method("disconnect-subtree")
    def rpc_disconnect(self, request):
        rank = request.json().get("rank")
        child = self.children.get(rank)
        if child is None:
            raise InvalidArgument(f"rank {rank} is not a child of rank {self.rank}")
        if child.proto is None:
            raise InvalidArgument(f"rank {rank} is not connected")
        child.admin_error = "administrative shutdown"
        child.goodbye = True
        child.proto.send(Message(CONTROL, matchtag=CONTROL_DISCONNECT))
        child.proto.transport.loseConnection()
        return {}
