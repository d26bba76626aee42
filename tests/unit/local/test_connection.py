"""The broker side of a local connection: buffer bounds, drops, freeing.

Connections run on a StringTransport; the router and its services are
real.  Log lines are read from the connector's real LogLimiter, writing
to a private Logger.
"""

import errno
import gc
import os
import socket
import weakref

from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from fluxd.client import wire
from fluxd.local.connection import LocalConnection, Policy
from fluxd.local.limits import BufferBudget, ConnectorLimits, LogLimiter
from fluxd.local.service import LocalConnectorService
from fluxd.message.router import Router, method
from fluxd.message.types import FLAG_STREAMING, NODEID_ANY, ROLE_USER
from fluxd.module import Module

OWNER = 1000
GUEST = 2000


class Probe(Module):
    """Methods that answer at once, later, or never."""

    name = "probe"

    def __init__(self):
        super().__init__()
        self.waiting = []

    @method("size", roles=ROLE_USER)
    def size(self, request):
        return {"n": len(request.message.payload or b"")}

    @method("wait", roles=ROLE_USER)
    def wait(self, request):
        d = defer.Deferred()
        self.waiting.append(d)
        return d

    @method("watch", roles=ROLE_USER, streaming=True)
    def watch(self, request):
        request.respond({"first": True})
        return defer.Deferred()


def request(topic, payload=None, ask=b"1", flags=0, matchtag=1):
    return wire.encode_request(ask, topic, NODEID_ANY, flags, matchtag,
                               payload)


def boxes(transport):
    return wire.BoxDecoder(max_box=None).feed(transport.value())


class Harness:
    """A router with a Probe, and connections that share one budget."""

    def __init__(self, limits=None, guests=True):
        self.router = Router()
        self.probe = Probe()
        self.router.add_module(self.probe)
        self.limits = limits or ConnectorLimits()
        self.budget = BufferBudget(self.limits.guest_buffer)
        self.events = []
        self.notes = LogLimiter(Clock(), Logger(observer=self.events.append),
                                burst=100)
        self.policy = Policy(OWNER, allow_guest_user=guests)

    def connect(self, uid):
        conn = LocalConnection(self.router, self.policy,
                               credentials=lambda t: (1, uid, uid),
                               limits=self.limits, budget=self.budget,
                               notes=self.notes)
        transport = StringTransport()
        conn.makeConnection(transport)
        transport.clear()  # the hello
        return conn, transport

    def lines(self):
        return [formatEvent(e) for e in self.events]


class BoundTests(SynchronousTestCase):
    def test_guest_dropped_once_its_buffer_passes_the_bound(self):
        h = Harness(ConnectorLimits(guest_message=1000))
        conn, transport = h.connect(GUEST)
        data = request("probe.size", b"x" * 500000)
        fed = 0
        while not transport.disconnected:  # aborted, not flushed
            conn.dataReceived(data[fed:fed + 4096])
            fed += 4096
        # dropped before buffering more than the bound, long before the end
        self.assertLessEqual(fed, h.limits.box_bound(False) + 4096)
        [line] = h.lines()
        self.assertRegex(line, r"^dropping client [0-9a-f]{8} \(uid 2000\):"
                         r" message larger than 1000 bytes"
                         r" \(connector-local.guest-message-limit\)$")
        conn.dataReceived(b"x" * 100000)  # the rest is ignored
        self.assertEqual(transport.value(), b"")
        self.assertEqual(len(h.lines()), 1)

    def test_guest_message_at_the_limit_is_served(self):
        h = Harness(ConnectorLimits(guest_message=1000))
        conn, transport = h.connect(GUEST)
        conn.dataReceived(request("probe.size", b"x" * 1000))
        [answer] = boxes(transport)
        self.assertEqual(wire.decode_result(answer), (0, None, b'{"n":1000}'))
        conn.dataReceived(request("probe.size", b"x" * 1001, ask=b"2"))
        self.assertTrue(transport.disconnected)

    def test_owner_bound_follows_the_blob_size_limit(self):
        # a blob of the limit, base64 in a KVS commit, with 64 KiB of JSON
        largest = 4 * 200001 // 3 + 65536
        h = Harness(ConnectorLimits(guest_message=1000, owner_message=200001))
        conn, transport = h.connect(OWNER)
        conn.dataReceived(request("probe.size", b"x" * largest))
        [answer] = boxes(transport)
        self.assertEqual(wire.decode_result(answer)[2],
                         b'{"n":%d}' % largest)
        conn.dataReceived(request("probe.size", b"x" * (largest + 1), ask=b"2"))
        self.assertTrue(transport.disconnected)
        self.assertIn(f"message larger than {largest} bytes"
                      " (content.blob-size-limit as base64 + 64 KiB)",
                      h.lines()[0])

    def test_guests_share_one_budget(self):
        h = Harness(ConnectorLimits(guest_message=100000, guest_buffer=3000))
        a, ta = h.connect(GUEST)
        b, tb = h.connect(GUEST + 1)
        owner, towner = h.connect(OWNER)
        box_a = request("probe.size", b"a" * 2000)
        a.dataReceived(box_a[:1500])
        b.dataReceived(request("probe.size", b"b" * 2000)[:1500])
        self.assertEqual(h.budget.used, 3000)
        owner.dataReceived(request("probe.size", b"o" * 20000)[:10000])
        self.assertEqual(h.budget.used, 3000)  # the owner is not counted
        b.dataReceived(b"b")
        self.assertTrue(tb.disconnected)
        self.assertFalse(ta.disconnecting)
        [line] = h.lines()
        self.assertIn("(uid 2001): incomplete messages of all guests exceed"
                      " 3000 bytes (connector-local.guest-buffer-limit)", line)
        self.assertEqual(h.budget.used, 1500)  # b's bytes were given back
        a.dataReceived(box_a[1500:])
        self.assertEqual(h.budget.used, 0)
        [answer] = boxes(ta)
        self.assertEqual(wire.decode_result(answer)[2], b'{"n":2000}')

    def test_lost_connection_gives_its_bytes_back(self):
        h = Harness()
        conn, _ = h.connect(GUEST)
        conn.dataReceived(request("probe.size", b"x" * 9000)[:5000])
        self.assertEqual(h.budget.used, 5000)
        conn.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(h.budget.used, 0)


class BadInputTests(SynchronousTestCase):
    def test_unknown_command_one_line_and_hangup(self):
        h = Harness()
        conn, transport = h.connect(OWNER)
        conn.dataReceived(wire.encode_box({wire.COMMAND: b"frob",
                                           wire.ASK: b"1"}))
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)  # replies still flushed
        [line] = h.lines()
        self.assertTrue(line.endswith("bad box: unknown command b'frob'"))

    def test_malformed_request(self):
        h = Harness()
        conn, transport = h.connect(OWNER)
        conn.dataReceived(wire.encode_box({
            wire.COMMAND: b"request", wire.ASK: b"1", b"topic": b"a.b",
            b"nodeid": b"x", b"flags": b"0", b"matchtag": b"1"}))
        self.assertTrue(transport.disconnecting)
        self.assertTrue(h.lines()[0].endswith(
            "bad box: request: nodeid is not an integer"))

    def test_refused_guest(self):
        h = Harness(guests=False)
        conn = LocalConnection(h.router, h.policy,
                               credentials=lambda t: (1, GUEST, GUEST),
                               notes=h.notes)
        transport = StringTransport()
        conn.makeConnection(transport)
        [hello] = boxes(transport)
        self.assertEqual(wire.decode_result(hello)[:2],
                         (errno.EPERM, "guest access is not allowed"))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(h.lines(), ["refused connection from uid 2000"])
        conn.dataReceived(request("probe.size"))
        self.assertEqual(boxes(transport), [hello])


class FreedAtOnceTests(SynchronousTestCase):
    """A closed connection is garbage at once, not at the next full
    collection: nothing refers back to it in a cycle."""

    def setUp(self):
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)

    def serve(self):
        directory = self.mktemp()
        os.mkdir(directory)
        router = Router()
        probe = Probe()
        router.add_module(probe)
        reactor = MemoryReactorClock()
        service = LocalConnectorService(reactor,
                                        os.path.join(directory, "local"),
                                        router, Policy(os.getuid()))
        service.startService()
        self.addCleanup(service.stopService)
        factory = reactor.unixServers[0][1]
        left, right = socket.socketpair()
        self.addCleanup(left.close)
        self.addCleanup(right.close)
        transport = StringTransport()
        transport.getHandle = lambda: left
        return service, factory, transport, probe

    def test_weakref_dead_right_after_connection_lost(self):
        service, factory, transport, probe = self.serve()
        conn = factory.buildProtocol(None)
        conn.makeConnection(transport)
        conn.dataReceived(request("probe.size", b"{}", ask=b"1"))
        conn.dataReceived(request("probe.wait", ask=b"2", matchtag=2))
        conn.dataReceived(request("probe.watch", ask=b"3", matchtag=3,
                                  flags=FLAG_STREAMING))
        self.assertIn(conn, service.connections)
        ref = weakref.ref(conn)
        conn.connectionLost(Failure(ConnectionDone()))
        del conn
        self.assertIsNone(ref())
        self.assertEqual(len(service.connections), 0)
        # the request still in flight is answered into the void
        written = transport.value()
        probe.waiting[0].callback({"late": 1})
        self.assertEqual(transport.value(), written)


class ServiceLogTests(SynchronousTestCase):
    def test_refusals_rate_limited(self):
        directory = self.mktemp()
        os.mkdir(directory)
        reactor = MemoryReactorClock()
        service = LocalConnectorService(reactor,
                                        os.path.join(directory, "local"),
                                        Router(), Policy(os.getuid() + 1))
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        service.startService()
        factory = reactor.unixServers[0][1]
        for _ in range(200):
            left, right = socket.socketpair()
            transport = StringTransport()
            transport.getHandle = lambda: left
            factory.buildProtocol(None).makeConnection(transport)
            left.close()
            right.close()
        service.stopService()
        lines = [formatEvent(e) for e in events
                 if e.get("log_namespace", "").startswith("fluxd.local")]
        refused = [line for line in lines if line.startswith("refused")]
        self.assertEqual(len(refused), service.notes.burst)
        self.assertEqual(lines[-1], f"{200 - service.notes.burst} more client"
                         " log lines suppressed")
