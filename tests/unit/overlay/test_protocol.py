"""Tests for :mod:`fluxd.overlay.protocol`: TLS, frames, batched writes.

Two :class:`OverlayProtocol` ends run a real TLS handshake in memory
(``twisted.test.iosim``) with recording links.
"""

import struct

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.test.iosim import FakeTransport, IOPump
from twisted.trial.unittest import SynchronousTestCase

from fluxd.message.types import Message
from fluxd.overlay.protocol import (
    MAX_FRAME, DirectWriter, OverlayProtocol, WriteBatch)
from fluxd.overlay.tls import (
    PeerCertificateError, client_options, server_options)
from fluxd.security.keys import generate_cluster_cert

CERT = generate_cluster_cert("flux")
OTHER = generate_cluster_cert("flux")


class Link:
    """Records what a protocol reports; may answer each message."""

    def __init__(self, answer=None):
        self.made = []
        self.received = []
        self.dropped = []
        self.lost = None
        self.answer = answer

    def connection_made(self, proto):
        self.made.append(proto)

    def message_received(self, proto, msg):
        self.received.append(msg)
        if self.answer is not None:
            self.answer(proto, msg)

    def connection_dropped(self, proto, reason):
        self.dropped.append(reason)

    def connection_lost(self, proto, reason):
        self.lost = reason


class Pair:
    """A client and a server protocol connected in memory."""

    def __init__(self, server_cert=CERT, client_cert=CERT, server_answer=None):
        self.clock = Clock()
        self.server_link = Link(server_answer)
        self.client_link = Link()
        self.server = OverlayProtocol(self.server_link,
                                      server_options(server_cert), False,
                                      WriteBatch(self.clock))
        self.client = OverlayProtocol(self.client_link,
                                      client_options(client_cert), True,
                                      WriteBatch(self.clock))
        self.server_tr = FakeTransport(self.server, True)
        self.client_tr = FakeTransport(self.client, False)
        self.server.makeConnection(self.server_tr)
        self.client.makeConnection(self.client_tr)
        self.pump = IOPump(self.client, self.server, self.client_tr,
                           self.server_tr, False, clock=self.clock)

    def flush(self):
        self.pump.flush()


def request(n):
    return Message.request("test.echo", {"n": n}, nodeid=0, matchtag=n)


class ProtocolTests(SynchronousTestCase):

    def test_messages_cross_once_handshaken(self):
        pair = Pair()
        # sent before the handshake: held until it is done
        pair.client.send(request(1))
        pair.flush()
        self.assertTrue(pair.client.handshaken and pair.server.handshaken)
        pair.server.send(request(2))
        pair.client.send(request(3))
        pair.flush()
        self.assertEqual([m.matchtag for m in pair.server_link.received],
                         [1, 3])
        self.assertEqual([m.json() for m in pair.client_link.received],
                         [{"n": 2}])
        self.assertEqual(pair.server_link.made, [pair.server])

    def test_large_message(self):
        pair = Pair()
        pair.flush()
        big = Message.request("kvs.put", b"x" * (3 << 20), nodeid=0)
        pair.client.send(big)
        pair.flush()
        self.assertEqual(pair.server_link.received[0].payload, b"x" * (3 << 20))

    def test_writes_outside_handling_leave_at_the_end_of_the_turn(self):
        pair = Pair()
        pair.flush()
        pair.client.send(request(1))
        pair.client.send(request(2))
        self.assertEqual(pair.client_tr.stream, [])
        pair.clock.advance(0)
        self.assertEqual(len(pair.client_tr.stream), 1)   # one TLS write

    def test_answers_made_while_handling_leave_together(self):
        def answer(proto, msg):
            proto.send(msg.response({"a": 1}))
            proto.send(msg.response({"a": 2}))
        pair = Pair(server_answer=answer)
        pair.flush()
        pair.client.send(request(1))
        pair.client.send(request(2))
        pair.clock.advance(0)
        self.pump_to_server(pair)
        # four answers, written once, before the reactor turn ends
        self.assertEqual(len(pair.server_tr.stream), 1)
        pair.flush()
        self.assertEqual([m.json()["a"] for m in pair.client_link.received],
                         [1, 2, 1, 2])

    def pump_to_server(self, pair):
        data = pair.client_tr.getOutBuffer()
        pair.server_tr.bufferReceived(data)

    def test_frame_too_large_is_dropped(self):
        pair = Pair()
        pair.flush()
        pair.client._out.append(struct.pack(">I", MAX_FRAME + 1) + b"x" * 10)
        pair.client.flush()
        pair.flush()
        self.assertEqual(pair.server_link.dropped, [
            f"frame of {MAX_FRAME + 1} bytes exceeds the {MAX_FRAME} byte"
            " limit"])
        self.assertIsNotNone(pair.server_link.lost)
        self.assertIsNotNone(pair.client_link.lost)

    def test_undecodable_frame_is_dropped_after_good_ones(self):
        pair = Pair()
        pair.flush()
        pair.client.send(request(1))
        pair.client._out.append(struct.pack(">I", 5) + b"\x01\x02\x03\x04\x05")
        pair.client.send(request(2))
        pair.clock.advance(0)
        pair.flush()
        self.assertEqual([m.matchtag for m in pair.server_link.received], [1])
        self.assertEqual(pair.server_link.dropped, [
            "undecodable message: message header missing or wrong size"])

    def test_close_sends_what_is_queued_first(self):
        pair = Pair()
        pair.flush()
        pair.server.send(request(7))
        pair.server.close()
        pair.server.send(request(8))    # after close: not sent
        pair.flush()
        self.assertEqual([m.matchtag for m in pair.client_link.received], [7])
        pair.client_link.lost.trap(ConnectionDone)
        self.assertTrue(pair.server.closing)

    def test_refused_certificate_is_the_reason(self):
        pair = Pair(client_cert=OTHER)
        pair.flush()
        # the client pins its own certificate: it refuses the server's
        pair.client_link.lost.trap(PeerCertificateError)
        self.assertEqual(pair.server_link.received, [])
        self.assertFalse(pair.server.handshaken)

    def test_refused_before_tls(self):
        class Refuse(Link):
            def connection_made(self, proto):
                proto.abort()
        clock = Clock()
        proto = OverlayProtocol(Refuse(), server_options(CERT), False,
                                WriteBatch(clock))
        transport = FakeTransport(proto, True)
        proto.makeConnection(transport)
        self.assertTrue(transport.disconnecting)
        self.assertIsNone(proto._tls)   # no TLS state made for it


class FakeTCP:
    """The parts of a TCP transport DirectWriter uses."""

    def __init__(self, accept):
        self.accept = list(accept)   # what each writeSomeData returns
        self.direct = []
        self.queued = []
        self.producer = None

    def writeSomeData(self, data):
        self.direct.append(bytes(data))
        result = self.accept.pop(0)
        return len(data) if result is None else result

    def write(self, data):
        self.queued.append(bytes(data))

    def registerProducer(self, producer, streaming):
        self.assertable = streaming
        self.producer = producer
        producer.resumeProducing()     # as FileDescriptor does

    def unregisterProducer(self):
        self.producer = None

    def drain(self):
        """The queue went out: ask the (pull) producer for more."""
        self.queued = []
        if self.producer is not None:
            self.producer.resumeProducing()


class DirectWriterTests(SynchronousTestCase):

    def test_written_at_once_while_nothing_is_queued(self):
        tcp = FakeTCP([None, None])
        writer = DirectWriter(tcp)
        writer.write(b"abc")
        writer.write(b"def")
        self.assertEqual((tcp.direct, tcp.queued), ([b"abc", b"def"], []))
        self.assertIsNone(tcp.producer)

    def test_rest_queued_until_the_queue_is_empty(self):
        tcp = FakeTCP([2, None])
        writer = DirectWriter(tcp)
        writer.write(b"abcdef")
        self.assertEqual((tcp.direct, tcp.queued), ([b"abcdef"], [b"cdef"]))
        self.assertIs(tcp.producer, writer)
        self.assertFalse(tcp.assertable)        # a pull producer
        writer.write(b"gh")                     # behind the queued bytes
        self.assertEqual(tcp.queued, [b"cdef", b"gh"])
        tcp.drain()
        self.assertIsNone(tcp.producer)         # unregistered: may close
        writer.write(b"ij")
        self.assertEqual(tcp.direct, [b"abcdef", b"ij"])

    def test_error_left_to_the_transport(self):
        tcp = FakeTCP([Exception("connection lost")])
        writer = DirectWriter(tcp)
        writer.write(b"abc")
        self.assertEqual(tcp.queued, [b"abc"])

    def test_in_memory_transport_always_queues(self):
        clock = Clock()
        transport = FakeTransport(None, True)
        writer = DirectWriter(transport)
        writer.write(b"abc")
        self.assertEqual(transport.stream, [b"abc"])
        self.assertEqual(clock.getDelayedCalls(), [])


class WriteBatchTests(SynchronousTestCase):

    class Flushable:
        def __init__(self, log, name):
            self.log, self.name = log, name

        def flush(self):
            self.log.append(self.name)

    def test_held_while_handling_flushed_at_release(self):
        clock, log = Clock(), []
        batch = WriteBatch(clock)
        batch.hold()
        batch.hold()
        batch.add(self.Flushable(log, "a"))
        batch.release()
        self.assertEqual(log, [])
        batch.add(self.Flushable(log, "b"))
        batch.release()
        self.assertEqual(log, ["a", "b"])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_outside_handling_flushed_at_end_of_turn(self):
        clock, log = Clock(), []
        batch = WriteBatch(clock)
        batch.add(self.Flushable(log, "a"))
        batch.add(self.Flushable(log, "b"))
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(0)
        self.assertEqual(log, ["a", "b"])
