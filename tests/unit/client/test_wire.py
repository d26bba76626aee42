"""The AMP box decoder: incremental, bounded, and the same boxes however
the bytes are split."""

from hypothesis import given, strategies as st

from twisted.trial.unittest import SynchronousTestCase

from fluxd.client import wire

keys = st.binary(min_size=1, max_size=wire.MAX_KEY)
values = st.binary(max_size=3000)
box_strategy = st.dictionaries(keys, values, max_size=6)


class DecoderTests(SynchronousTestCase):
    def test_byte_at_a_time(self):
        box = {b"k": b"v" * wire.MAX_VALUE, b"x": b"y"}
        data = wire.encode_box(box)
        decoder = wire.BoxDecoder()
        out = []
        for i in range(len(data)):
            out += decoder.feed(data[i:i + 1])
            if i < len(data) - 1:
                self.assertEqual(decoder.pending, i + 1)
        self.assertEqual(out, [box])
        self.assertEqual(decoder.pending, 0)

    def test_boxes_and_a_tail_in_one_feed(self):
        one = wire.encode_box({b"a": b"1"})
        two = wire.encode_box({b"b": b"2" * 100})
        decoder = wire.BoxDecoder()
        self.assertEqual(decoder.feed(one + one + two[:50]),
                         [{b"a": b"1"}, {b"a": b"1"}])
        self.assertEqual(decoder.pending, 50)
        self.assertEqual(decoder.feed(two[50:]), [{b"b": b"2" * 100}])

    def test_bound_is_exact(self):
        data = wire.encode_box({b"k": b"v" * 100})
        self.assertEqual(wire.BoxDecoder(max_box=len(data)).feed(data),
                         [{b"k": b"v" * 100}])
        self.assertRaises(wire.BoxTooLarge,
                          wire.BoxDecoder(max_box=len(data) - 1).feed, data)

    def test_too_large_known_before_the_value_arrives(self):
        # key "k" and a value length of 65535: nothing of the value yet
        head = b"\x00\x01k\xff\xff"
        decoder = wire.BoxDecoder(max_box=1000)
        self.assertRaises(wire.BoxTooLarge, decoder.feed, head)

    def test_too_large_across_many_values(self):
        decoder = wire.BoxDecoder(max_box=10000)
        pair = b"\x00\x01k\x03\xe8" + b"v" * 1000  # 1005 bytes
        for _ in range(9):
            decoder.feed(pair)
        self.assertEqual(decoder.pending, 9045)
        self.assertRaises(wire.BoxTooLarge, decoder.feed, pair)

    def test_bad_key_length(self):
        self.assertRaises(wire.WireError, wire.BoxDecoder().feed,
                          b"\x01\x00" + b"k" * 300)

    def test_bytearray_and_memoryview_input(self):
        data = wire.encode_box({b"a": b"b"})
        self.assertEqual(wire.BoxDecoder().feed(bytearray(data)), [{b"a": b"b"}])
        self.assertEqual(wire.BoxDecoder().feed(memoryview(data)), [{b"a": b"b"}])

    @given(st.lists(box_strategy, max_size=5), st.data())
    def test_any_split_gives_the_same_boxes(self, boxes, data):
        stream = b"".join(wire.encode_box(b) for b in boxes)
        cuts = sorted(data.draw(st.lists(
            st.integers(0, len(stream)), max_size=8)))
        decoder = wire.BoxDecoder()
        out, start = [], 0
        for cut in cuts + [len(stream)]:
            out += decoder.feed(stream[start:cut])
            start = cut
        self.assertEqual(out, boxes)
        self.assertEqual(decoder.pending, 0)


class RequestSizeTests(SynchronousTestCase):
    @given(st.integers(0, 300000))
    def test_largest_request_fits(self, size):
        data = wire.encode_request(b"ffffffffffffffff", "t" * wire.MAX_VALUE,
                                   -(1 << 63), -(1 << 63), -(1 << 63),
                                   b"p" * size, -(1 << 63), -(1 << 63))
        self.assertLessEqual(len(data), wire.request_size(size))

    def test_topic_too_long(self):
        self.assertRaises(wire.WireError, wire.encode_request, b"1",
                          "t" * 70000, 0, 0, 0)
