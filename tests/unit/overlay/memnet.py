"""Overlays of several brokers in one process, over in-memory TCP.

Each broker is a real :class:`OverlayService` with a real router and event
service, its production TCP endpoints on one ``MemoryReactorClock``, and
real TLS (the overlay protocol does it on its connections).  Connections
are completed and their bytes moved by ``twisted.test.iosim`` pumps when
the test calls :meth:`MemoryNet.flush`, so nothing happens behind the
test's back and time moves only with :meth:`MemoryNet.advance`.
"""

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.test.iosim import FakeTransport, IOPump

from fluxd.events import EventService
from fluxd.message.router import Router, method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module
from fluxd.overlay.protocol import OverlayProtocol, WriteBatch
from fluxd.overlay.service import OverlayService
from fluxd.overlay.tls import client_options, server_options
from fluxd.overlay.topology import Topology
from fluxd.security.keys import generate_cluster_cert

CERT = generate_cluster_cert("flux")
BASE_PORT = 7000


class TestService(Module):
    """``test.echo`` (answers rank and payload) and a streaming method."""

    name = "test"

    def __init__(self, rank):
        super().__init__(rank)
        self.streams = []

    @method("echo", roles=ROLE_USER)
    def echo(self, request):
        return {"rank": self.rank, "got": request.json(),
                "route": list(request.message.route),
                "matchtag": request.message.matchtag}

    @method("stream", roles=ROLE_USER, streaming=True)
    def stream(self, request):
        """Answers once, then stays open until cancelled."""
        self.streams.append(request)
        request.respond({"rank": self.rank})
        ended = defer.Deferred()
        request.on_cancel(lambda: ended.called or ended.callback(None))
        return ended


class Node:
    """One broker of a :class:`MemoryNet`."""

    def __init__(self, net, rank, version, **kwargs):
        self.rank = rank
        self.router = Router(rank=rank, clock=net.reactor)
        self.events = EventService(rank, self.router)
        self.test = TestService(rank)
        topology = net.topology
        listen = connect = None
        if topology.children(rank):
            listen = TCP4ServerEndpoint(net.reactor, BASE_PORT + rank,
                                        interface="127.0.0.1")
        if topology.parent(rank) is not None:
            connect = TCP4ClientEndpoint(net.reactor, "127.0.0.1",
                                         BASE_PORT + topology.parent(rank))
        kwargs.setdefault("torpid_min", 5.0)
        kwargs.setdefault("torpid_max", 30.0)
        self.overlay = OverlayService(
            net.reactor, rank, topology.size, topology, self.router,
            self.events, listen_endpoint=listen, parent_endpoint=connect,
            server_tls=server_options(CERT), client_tls=client_options(CERT),
            version=version, **kwargs)
        self.router.attach_upstream(self.overlay)
        self.events.add_forwarder(self.overlay.send_event_down)
        self.events_seen = []
        self.events.subscribe("", self.events_seen.append)

    def start(self):
        self.overlay.startService()
        for module in (self.events, self.test, self.overlay):
            self.router.add_module(module)

    def stop(self):
        for module in (self.events, self.test, self.overlay):
            self.router.remove_module(module.name)
        return self.overlay.stopService()

    def call(self, topic, payload=None, nodeid=None):
        """An in-process RPC from this broker; a Deferred."""
        return self.router.call(topic, payload, nodeid=nodeid,
                                cred=self.router.instance_cred)


class MemoryNet:
    """Brokers of one instance wired in memory.

    :param size: instance size.
    :param topo: topology URI.
    """

    def __init__(self, size, topo="kary:2", version="1.0"):
        self.reactor = MemoryReactorClock()
        self.topology = Topology(topo, size)
        self.version = version
        self.nodes = {}
        self.pumps = []
        self._peer_port = 40000

    def add(self, rank, version=None, **kwargs):
        """Create and start broker ``rank``."""
        node = Node(self, rank, version or self.version, **kwargs)
        self.nodes[rank] = node
        node.start()
        return node

    def start(self, ranks=None, **kwargs):
        """Start brokers (all by default) and let them join."""
        for rank in (range(self.topology.size) if ranks is None else ranks):
            self.add(rank, **kwargs)
        self.flush()
        return self

    def _listening_factory(self, port):
        """The factory listening on ``port``, if its broker is running."""
        node = self.nodes.get(port - BASE_PORT)
        if node is None or not node.overlay.running or \
                node.overlay._port is None:
            return None
        for server_port, factory, _b, _i in reversed(self.reactor.tcpServers):
            if server_port == port:
                return factory
        return None

    def source(self, host):
        """A new peer address from ``host``."""
        self._peer_port += 1
        return IPv4Address("TCP", host, self._peer_port)

    def connect_pending(self):
        """Complete (or refuse) every connection attempt made so far."""
        moved = False
        while self.reactor.tcpClients:
            host, port, factory, _t, _b = self.reactor.tcpClients.pop(0)
            connector = self.reactor.connectors.pop(0)
            if connector.stoppedConnecting:
                continue
            moved = True
            server = self._listening_factory(port)
            if server is None:
                factory.clientConnectionFailed(
                    connector, Failure(ConnectionRefusedError()))
                continue
            self.pipe(factory.buildProtocol(None),
                      server.buildProtocol(None), "127.0.0.1")
        return moved

    def pipe(self, client, server, source="127.0.0.1"):
        """Connect two protocols through a new pump; returns the pump."""
        client_tr = FakeTransport(client, False,
                                  peerAddress=IPv4Address("TCP", "127.0.0.1",
                                                          0))
        server_tr = FakeTransport(server, True, peerAddress=self.source(source))
        server.makeConnection(server_tr)
        client.makeConnection(client_tr)
        pump = IOPump(client, server, client_tr, server_tr, False,
                      clock=self.reactor)
        self.pumps.append(pump)
        return pump

    def flush(self):
        """Run until no connection attempt is pending and no byte moves."""
        for _ in range(1000):
            self.reactor.advance(0)
            moved = self.connect_pending()
            for pump in list(self.pumps):
                if pump.pump(advanceClock=False):
                    moved = True
                if pump.clientIO.disconnected and pump.serverIO.disconnected:
                    self.pumps.remove(pump)
            if not moved:
                return
        raise AssertionError("the in-memory network never settled")

    def advance(self, seconds, step=None):
        """Let ``seconds`` pass (in steps), flushing after each."""
        step = seconds if step is None else step
        left = seconds
        while left > 1e-9:
            dt = min(step, left)
            self.reactor.advance(dt)
            self.flush()
            left -= dt

    def status(self, rank=0):
        """``overlay.health`` of a rank, as a dict."""
        return self.nodes[rank].overlay.rpc_health(None)


class Intruder:
    """A raw overlay client with the cluster certificate: says what it likes.

    :ivar received: messages it got; ``lost`` the reason it was closed.
    """

    def __init__(self, net, rank=0, tls=None, source="127.0.0.1"):
        self.received = []
        self.lost = None
        self.dropped = []
        self.proto = OverlayProtocol(
            self, tls if tls is not None else client_options(CERT), True,
            WriteBatch(net.reactor))
        server = net._listening_factory(BASE_PORT + rank)
        self.pump = net.pipe(self.proto, server.buildProtocol(None), source)

    def connection_made(self, proto):
        pass

    def message_received(self, proto, msg):
        self.received.append(msg)

    def connection_dropped(self, proto, reason):
        self.dropped.append(reason)

    def connection_lost(self, proto, reason):
        self.lost = reason

