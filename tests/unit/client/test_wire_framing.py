"""Tests for :mod:`fluxd.client.wire`: AMP box framing."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.protocols import amp
from twisted.trial.unittest import SynchronousTestCase

from fluxd.client import wire

keys = st.binary(min_size=1, max_size=wire.MAX_KEY)
values = st.binary(max_size=300)
boxes = st.dictionaries(keys, values, max_size=8)


class EncodeTests(SynchronousTestCase):
    def test_layout(self):
        self.assertEqual(wire.encode_box({b"ab": b"xyz"}),
                         b"\x00\x02ab\x00\x03xyz\x00\x00")
        self.assertEqual(wire.encode_box({}), b"\x00\x00")

    def test_limits(self):
        self.assertRaises(wire.WireError, wire.encode_box, {b"": b"x"})
        self.assertRaises(wire.WireError, wire.encode_box,
                          {b"k" * 256: b"x"})
        self.assertRaises(wire.WireError, wire.encode_box,
                          {b"k": b"x" * 0x10000})
        wire.encode_box({b"k" * 255: b"x" * 0xFFFF})

    @given(boxes)
    def test_interoperates_with_twisted_amp(self, box):
        """Twisted's AMP parser reads our boxes, and we read its."""
        self.assertEqual([dict(b) for b in amp.parseString(
            wire.encode_box(box))], [box])
        self.assertEqual(wire.BoxDecoder().feed(amp.AmpBox(box).serialize()),
                         [box])


class DecodeTests(SynchronousTestCase):
    @given(st.lists(boxes, max_size=4), st.integers(1, 50))
    def test_round_trip_in_pieces(self, items, step):
        data = b"".join(wire.encode_box(box) for box in items)
        decoder = wire.BoxDecoder()
        got = []
        for i in range(0, len(data), step):
            got += decoder.feed(data[i:i + step])
        self.assertEqual(got, items)

    def test_long_lengths(self):
        """Lengths above 255 use both bytes (big-endian)."""
        box = {b"k": b"v" * 0x1234}
        self.assertEqual(wire.BoxDecoder().feed(wire.encode_box(box)), [box])

    def test_bad_key_length(self):
        self.assertRaises(wire.WireError, wire.BoxDecoder().feed,
                          b"\x01\x00" + b"k" * 256)

    def test_oversized_box(self):
        decoder = wire.BoxDecoder(max_box=10)
        self.assertRaises(wire.WireError, decoder.feed,
                          b"\x00\x01k\xff\xff" + b"x" * 20)
