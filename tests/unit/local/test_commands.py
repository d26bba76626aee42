"""Contract: the Twisted AMP commands and the stdlib wire codec agree.

The synchronous client writes boxes by hand with fluxd.client.wire; the
broker parses them with Twisted's AMP.  These tests push boxes through a
real AMP protocol on a StringTransport in both directions.
"""

import errno

from hypothesis import given, strategies as st

from twisted.internet.testing import StringTransport
from twisted.protocols import amp
from twisted.trial.unittest import SynchronousTestCase

from fluxd.client import wire
from fluxd.local import commands


class Server(amp.AMP):
    def __init__(self):
        super().__init__()
        self.seen = []

    @commands.Request.responder
    def request(self, **kw):
        self.seen.append(kw)
        return {"errnum": 0, "errstr": None, "payload": kw["payload"]}


def client_request_box(payload, ask=b"1"):
    box = {wire.COMMAND: b"request", wire.ASK: ask}
    wire.put_str(box, "topic", "attr.get")
    wire.put_int(box, "nodeid", 0xFFFFFFFF)
    wire.put_int(box, "flags", 0)
    wire.put_int(box, "matchtag", 7)
    wire.put_big(box, "payload", payload)
    return wire.encode_box(box)


class CodecTests(SynchronousTestCase):
    def test_roundtrip_small(self):
        box = {b"a": b"1", b"key": b""}
        [out] = wire.BoxDecoder().feed(wire.encode_box(box))
        self.assertEqual(out, box)

    def test_incremental_feed(self):
        data = wire.encode_box({b"x": b"y" * 1000}) * 3
        dec = wire.BoxDecoder()
        boxes = []
        for i in range(0, len(data), 7):
            boxes += dec.feed(data[i:i + 7])
        self.assertEqual(len(boxes), 3)

    def test_bad_key_length(self):
        self.assertRaises(wire.WireError, wire.BoxDecoder().feed,
                          b"\x01\x00" + b"k" * 300)

    def test_oversized_box_rejected(self):
        dec = wire.BoxDecoder(max_box=100)
        self.assertRaises(wire.WireError, dec.feed,
                          wire.encode_box({b"k": b"v" * 200})[:-2])

    def test_value_too_long_refused(self):
        self.assertRaises(wire.WireError, wire.encode_box, {b"k": b"v" * 70000})

    @given(st.binary(max_size=200_000))
    def test_big_roundtrip(self, value):
        box = {}
        wire.put_big(box, "payload", value)
        self.assertTrue(all(len(v) <= wire.MAX_VALUE for v in box.values()))
        [out] = wire.BoxDecoder().feed(wire.encode_box(box))
        self.assertEqual(wire.get_big(out, "payload"), value)

    def test_int_and_str(self):
        box = {}
        wire.put_int(box, "n", -5)
        wire.put_str(box, "s", "ƒ")
        self.assertEqual(wire.get_int(box, "n"), -5)
        self.assertEqual(wire.get_str(box, "s"), "ƒ")
        self.assertEqual(wire.get_int(box, "missing", 3), 3)
        box[b"bad"] = b"x"
        self.assertRaises(wire.WireError, wire.get_int, box, "bad")


class ContractTests(SynchronousTestCase):
    def serve(self, data):
        server = Server()
        transport = StringTransport()
        server.makeConnection(transport)
        server.dataReceived(data)
        return server, wire.BoxDecoder().feed(transport.value())

    def test_stdlib_request_parsed_by_twisted(self):
        payload = b'{"name":"rank"}'
        server, [answer] = self.serve(client_request_box(payload))
        self.assertEqual(server.seen[0]["topic"], "attr.get")
        self.assertEqual(server.seen[0]["matchtag"], 7)
        self.assertEqual(server.seen[0]["payload"], payload)
        self.assertEqual(answer[wire.ANSWER], b"1")
        self.assertEqual(wire.get_int(answer, "errnum"), 0)
        self.assertEqual(wire.get_big(answer, "payload"), payload)

    def test_sixteen_mib_payload_both_ways(self):
        payload = bytes(range(256)) * (16 * 4096)
        self.assertEqual(len(payload), 16 * 1024 * 1024)
        server, [answer] = self.serve(client_request_box(payload))
        self.assertEqual(server.seen[0]["payload"], payload)
        self.assertEqual(wire.get_big(answer, "payload"), payload)

    def test_twisted_response_box_read_by_stdlib(self):
        proto = amp.AMP()
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.callRemote(commands.Response, matchtag=3, errnum=errno.ENOENT,
                         errstr="nope", payload=b"x" * 70000)
        [box] = wire.BoxDecoder().feed(transport.value())
        self.assertEqual(box[wire.COMMAND], b"response")
        self.assertNotIn(wire.ASK, box)
        self.assertEqual(wire.get_int(box, "matchtag"), 3)
        self.assertEqual(wire.get_str(box, "errstr"), "nope")
        self.assertEqual(wire.get_big(box, "payload"), b"x" * 70000)

    def test_absent_payload(self):
        server, [answer] = self.serve(client_request_box(None))
        self.assertIsNone(server.seen[0]["payload"])
        self.assertIsNone(wire.get_big(answer, "payload"))

    def test_unknown_command_gets_error_box(self):
        box = wire.encode_box({wire.COMMAND: b"frobnicate", wire.ASK: b"9"})
        _, [answer] = self.serve(box)
        self.assertEqual(answer[wire.ERROR], b"9")




class Recorder(amp.AMP):
    """Every command of the local connector, recording its arguments."""

    def __init__(self):
        super().__init__()
        self.seen = []

    @commands.Request.responder
    def request(self, **kw):
        self.seen.append(("request", kw))
        return {"errnum": 0, "errstr": None, "payload": None}

    @commands.Cancel.responder
    def cancel(self, **kw):
        self.seen.append(("cancel", kw))
        return {}

    @commands.Response.responder
    def response(self, **kw):
        self.seen.append(("response", kw))
        return {}

    @commands.Hello.responder
    def hello(self, **kw):
        self.seen.append(("hello", kw))
        return {}


class EncoderContractTests(SynchronousTestCase):
    """The codec's direct encoders and decoders (the broker's hot path and
    the stdlib client's) against the AMP Command declarations."""

    def received(self, data):
        proto = Recorder()
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(data)
        return proto.seen, transport.value()

    def test_request(self):
        big = bytes(range(256)) * 1000
        seen, answer = self.received(wire.encode_request(
            b"a1", "kvs.lookup", 0xFFFFFFFF, 0x40, 9, big, 55, 2))
        self.assertEqual(seen, [("request", {
            "topic": "kvs.lookup", "nodeid": 0xFFFFFFFF, "flags": 0x40,
            "matchtag": 9, "payload": big, "userid": 55, "rolemask": 2})])
        [box] = wire.BoxDecoder().feed(answer)
        self.assertEqual(box[wire.ANSWER], b"a1")
        seen, _ = self.received(wire.encode_request(b"2", "ƒ.x", 0, 0, 1))
        self.assertEqual(seen[0][1], {"topic": "ƒ.x", "nodeid": 0, "flags": 0,
                                      "matchtag": 1, "payload": None,
                                      "userid": None, "rolemask": None})

    def test_cancel_response_hello(self):
        seen, _ = self.received(
            wire.encode_cancel(4)
            + wire.encode_response(4, 0, None, b"x" * 70000)
            + wire.encode_response(5, 2, "gone")
            + wire.encode_hello(1, "guest access is not allowed", 7, 0, 3))
        self.assertEqual(seen, [
            ("cancel", {"matchtag": 4}),
            ("response", {"matchtag": 4, "errnum": 0, "errstr": None,
                          "payload": b"x" * 70000}),
            ("response", {"matchtag": 5, "errnum": 2, "errstr": "gone",
                          "payload": None}),
            ("hello", {"errnum": 1, "errstr": "guest access is not allowed",
                       "userid": 7, "rolemask": 0, "rank": 3})])

    def test_answer_read_by_amp_caller(self):
        proto = amp.AMP()
        transport = StringTransport()
        proto.makeConnection(transport)
        d = proto.callRemote(commands.Request, topic="a.b", nodeid=0, flags=0,
                             matchtag=1, payload=None)
        [box] = wire.BoxDecoder().feed(transport.value())
        self.assertEqual(wire.decode_request(box),
                         ("a.b", 0, 0, 1, None, None, None))
        long_text = "é" * 40000  # 80000 bytes: cut on a character boundary
        proto.dataReceived(wire.encode_answer(box[wire.ASK], 2, long_text,
                                              b"y" * 100000))
        result = self.successResultOf(d)
        self.assertEqual(result["errnum"], 2)
        self.assertEqual(result["errstr"], "é" * (wire.MAX_VALUE // 2))
        self.assertEqual(result["payload"], b"y" * 100000)

    def test_decoders_refuse_malformed_boxes(self):
        base = {wire.COMMAND: b"request", b"topic": b"a", b"nodeid": b"0",
                b"flags": b"0", b"matchtag": b"1"}
        for change, text in [({b"topic": None}, "request: missing topic"),
                             ({b"topic": b"\xff"}, "request: topic is not UTF-8"),
                             ({b"flags": b"x"}, "request: flags is not an integer"),
                             ({b"userid": b"?"}, "request: userid is not an integer")]:
            box = dict(base)
            for key, value in change.items():
                if value is None:
                    del box[key]
                else:
                    box[key] = value
            with self.assertRaises(wire.WireError) as info:
                wire.decode_request(box)
            self.assertEqual(str(info.exception), text)
        with self.assertRaises(wire.WireError):
            wire.decode_cancel({wire.COMMAND: b"cancel"})
        with self.assertRaises(wire.WireError):
            wire.decode_result({b"errnum": b"e"})
