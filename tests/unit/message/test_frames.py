"""RFC 3 encoding: round trips, header layout, and hostile bytes."""

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import ProtocolError
from fluxd.message import frames
from fluxd.message.types import (
    CONTROL, EVENT, FLAG_STREAMING, REQUEST, RESPONSE, Message)


class FrameTests(SynchronousTestCase):
    def test_request_roundtrip(self):
        msg = Message.request("kvs.lookup", {"key": "a"}, nodeid=3,
                              flags=FLAG_STREAMING, matchtag=42)
        msg.userid, msg.rolemask, msg.route = 1000, 1, ["abc", "1"]
        self.assertEqual(frames.decode(frames.encode(msg)), msg)

    def test_header_is_last_and_big_endian(self):
        msg = Message.request("a.b", None, nodeid=7, matchtag=9)
        data = frames.encode(msg)
        header = data[-20:]
        self.assertEqual(data[-21], 20)
        self.assertEqual(header[:3], bytes((0x8E, 1, REQUEST)))
        self.assertEqual(header[12:16], (7).to_bytes(4, "big"))
        self.assertEqual(header[16:20], (9).to_bytes(4, "big"))

    def test_long_part(self):
        msg = Message.request("x.y", b"z" * 1000)
        self.assertIn(b"\xff" + (1000).to_bytes(4, "big"), frames.encode(msg))
        self.assertEqual(frames.decode(frames.encode(msg)).payload, b"z" * 1000)

    def test_event_and_control(self):
        ev = Message(EVENT, "heartbeat.pulse", b"{}", seq=12)
        self.assertEqual(frames.decode(frames.encode(ev)).seq, 12)
        ctl = Message(CONTROL, matchtag=1, errnum=3)
        out = frames.decode(frames.encode(ctl))
        self.assertEqual((out.type, out.matchtag, out.errnum), (CONTROL, 1, 3))

    def test_response_errnum(self):
        req = Message.request("a.b", matchtag=5)
        req.route = ["c"]
        resp = req.response(errnum=2, errstr="nope")
        out = frames.decode(frames.encode(resp))
        self.assertEqual((out.type, out.errnum, out.errstr, out.route),
                         (RESPONSE, 2, "nope", ["c"]))

    def test_garbage(self):
        for bad in [b"", b"\x05abc", b"\x14" + b"\0" * 20,
                    b"\xff\xff\xff\xff\xff", b"\x01a"]:
            self.assertRaises(ProtocolError, frames.decode, bad)

    @given(st.binary(max_size=300))
    def test_random_bytes_never_crash(self, data):
        try:
            frames.decode(data)
        except ProtocolError:
            pass

    @given(st.text(max_size=40), st.one_of(st.none(), st.binary(max_size=600)),
           st.lists(st.text(min_size=1, max_size=12), max_size=4),
           st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
    def test_roundtrip_property(self, topic, payload, route, nodeid, tag):
        msg = Message(REQUEST, topic, payload, 0x08, userid=5, rolemask=2,
                      nodeid=nodeid, matchtag=tag, route=route)
        self.assertEqual(frames.decode(frames.encode(msg)), msg)


class StreamDecoderTests(SynchronousTestCase):
    def frame(self, msg):
        data = frames.encode(msg)
        return frames.length_prefix(data) + data

    def test_split_anywhere(self):
        msgs = [Message.request(f"a.b{i}", {"i": i}, matchtag=i)
                for i in range(5)]
        stream = b"".join(self.frame(m) for m in msgs)
        for step in (1, 3, 7, len(stream)):
            decoder = frames.StreamDecoder(1 << 20)
            got = []
            for pos in range(0, len(stream), step):
                out, error = decoder.feed(stream[pos:pos + step])
                self.assertIsNone(error)
                got += out
            self.assertEqual(got, msgs)

    def test_frame_too_large(self):
        decoder = frames.StreamDecoder(100)
        good = self.frame(Message.request("a.b"))
        out, error = decoder.feed(good + (101).to_bytes(4, "big"))
        self.assertEqual(len(out), 1)
        self.assertEqual(str(error),
                         "frame of 101 bytes exceeds the 100 byte limit")

    def test_undecodable(self):
        decoder = frames.StreamDecoder(100)
        out, error = decoder.feed((3).to_bytes(4, "big") + b"abc")
        self.assertEqual(out, [])
        self.assertIsInstance(error, ProtocolError)
        self.assertTrue(str(error).startswith("undecodable message: "))

    def test_decode_in_place(self):
        msg = Message.request("x.y", b"payload", nodeid=3)
        data = b"junk" + frames.encode(msg) + b"more"
        self.assertEqual(frames.decode(data, 4, len(data) - 4), msg)
