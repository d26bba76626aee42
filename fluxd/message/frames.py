# -*- test-case-name: tests.unit.message.test_frames -*-
"""RFC 3 message encoding, as the overlay carries it between brokers.

A message is a list of parts: route identities (most recent hop first)
and an empty delimiter when FLAG_ROUTE is set, the topic when FLAG_TOPIC,
the payload when FLAG_PAYLOAD, and last the 20-byte header (big-endian:
magic 0x8E, version 1, type, flags, userid, rolemask, aux1, aux2).  Each
part is written ``len8 data`` when shorter than 255 bytes, else ``0xFF
len32 data`` (the local-connector framing of flux-core's ``sendfd.c``).
The overlay puts one encoded message in each stream frame, prefixed by
its length (32 bits, big-endian, :func:`length_prefix`);
:class:`StreamDecoder` splits a byte stream back into messages.

Every message crossing the overlay goes through :func:`encode` and
:func:`decode` once per hop, so both are written for speed (measured by
``bench/startup.py``): encoding builds one list of pieces, decoding
reads the header first and then only the parts its flags announce, and
the stream decoder decodes in place, without copying frames out.  Pure
Python.
"""

import struct

from fluxd.errors import ProtocolError
from fluxd.message.types import (
    CONTROL, EVENT, FLAG_PAYLOAD, FLAG_ROUTE, FLAG_TOPIC, NODEID_ANY, REQUEST,
    RESPONSE, Message)

MAGIC = 0x8E
VERSION = 0x01
HEADER_SIZE = 20
_HEADER = struct.Struct(">BBBBIIII")
_U32 = struct.Struct(">I")
_TYPES = frozenset((REQUEST, RESPONSE, EVENT, CONTROL))
_NOT_ENCODED = ~(FLAG_TOPIC | FLAG_PAYLOAD)
#: the length prefix of a part shorter than 255 bytes, by length
_LEN8 = tuple(bytes((n,)) for n in range(255))
_HEADER_PREFIX = _LEN8[HEADER_SIZE]


def _prefix(size):
    return _LEN8[size] if size < 255 else b"\xff" + _U32.pack(size)


def encode(message):
    """Encode a :class:`Message` to RFC 3 parts in one byte string."""
    mtype = message.type
    flags = message.flags & _NOT_ENCODED
    out = []
    if mtype == REQUEST or mtype == RESPONSE:
        flags |= FLAG_ROUTE
    if flags & FLAG_ROUTE:
        for hop in reversed(message.route):
            raw = hop.encode("utf-8")
            out.append(_prefix(len(raw)))
            out.append(raw)
        out.append(b"\x00")
    if message.topic:
        flags |= FLAG_TOPIC
        raw = message.topic.encode("utf-8")
        out.append(_prefix(len(raw)))
        out.append(raw)
    payload = message.payload
    if payload is not None:
        flags |= FLAG_PAYLOAD
        out.append(_prefix(len(payload)))
        out.append(payload)
    if mtype == REQUEST:
        aux1, aux2 = message.nodeid, message.matchtag
    elif mtype == RESPONSE:
        aux1, aux2 = message.errnum, message.matchtag
    elif mtype == EVENT:
        aux1, aux2 = message.seq, 0
    else:
        aux1, aux2 = message.matchtag, message.errnum  # control type, status
    out.append(_HEADER_PREFIX)
    out.append(_HEADER.pack(MAGIC, VERSION, mtype, flags,
                            message.userid & 0xFFFFFFFF,
                            message.rolemask & 0xFFFFFFFF,
                            aux1 & 0xFFFFFFFF, aux2 & 0xFFFFFFFF))
    return b"".join(out)


def length_prefix(data):
    """The 4 bytes that precede ``data`` (an encoded message) in a stream."""
    return _U32.pack(len(data))


def _part(data, pos, last):
    """``(part, next position)`` of the part at ``data[pos]``."""
    size = data[pos]
    pos += 1
    if size == 0xFF:
        if pos + 4 > last:
            raise ProtocolError("truncated message part length")
        (size,) = _U32.unpack_from(data, pos)
        pos += 4
    nxt = pos + size
    if nxt > last:
        raise ProtocolError("truncated message part")
    return data[pos:nxt], nxt


def decode(data, start=0, end=None):
    """Decode bytes written by :func:`encode`.

    :param data: bytes holding the message at ``data[start:end]``.
    :raises fluxd.errors.ProtocolError: for anything malformed.
    """
    if end is None:
        end = len(data)
    # the header is the last part: read it first, it says what precedes it
    last = end - HEADER_SIZE - 1
    if last < start or data[last] != HEADER_SIZE:
        raise ProtocolError("message header missing or wrong size")
    magic, version, mtype, flags, userid, rolemask, aux1, aux2 = \
        _HEADER.unpack_from(data, last + 1)
    if magic != MAGIC or version != VERSION or mtype not in _TYPES:
        raise ProtocolError("bad message header")
    pos = start
    route = []
    topic = ""
    payload = None
    try:
        if flags & FLAG_ROUTE:
            while True:
                if pos >= last:
                    raise ProtocolError("malformed message parts")
                hop, pos = _part(data, pos, last)
                if not hop:
                    break   # the delimiter
                route.append(hop.decode("utf-8"))
            route.reverse()
        if flags & FLAG_TOPIC:
            if pos >= last:
                raise ProtocolError("malformed message parts")
            raw, pos = _part(data, pos, last)
            topic = raw.decode("utf-8")
        if flags & FLAG_PAYLOAD:
            if pos >= last:
                raise ProtocolError("malformed message parts")
            payload, pos = _part(data, pos, last)
    except UnicodeDecodeError:
        raise ProtocolError("malformed message parts") from None
    if pos != last:
        raise ProtocolError("unexpected extra message parts")
    flags &= _NOT_ENCODED
    if mtype == REQUEST:
        return Message(mtype, topic, payload, flags, userid, rolemask,
                       aux1, aux2, 0, 0, route)
    if mtype == RESPONSE:
        return Message(mtype, topic, payload, flags, userid, rolemask,
                       NODEID_ANY, aux2, aux1, 0, route)
    if mtype == EVENT:
        return Message(mtype, topic, payload, flags, userid, rolemask,
                       NODEID_ANY, 0, 0, aux1, route)
    return Message(mtype, topic, payload, flags, userid, rolemask,
                   NODEID_ANY, aux1, aux2, 0, route)


class StreamDecoder:
    """Splits an overlay byte stream into frames and decodes each message.

    :param max_frame: the largest frame accepted, in bytes.
    """

    def __init__(self, max_frame):
        self.max_frame = max_frame
        self._buffer = b""

    def feed(self, data):
        """Add bytes from the stream.

        :returns: ``(messages, error)``: the messages completed by
            ``data``, in order, and None, or the ProtocolError that ended
            decoding (the stream is unusable after one).
        """
        buf = self._buffer + data if self._buffer else data
        messages = []
        pos, size = 0, len(buf)
        while size - pos >= 4:
            (length,) = _U32.unpack_from(buf, pos)
            if length > self.max_frame:
                return messages, ProtocolError(
                    f"frame of {length} bytes exceeds the {self.max_frame}"
                    " byte limit")
            end = pos + 4 + length
            if end > size:
                break
            try:
                messages.append(decode(buf, pos + 4, end))
            except ProtocolError as exc:
                return messages, ProtocolError(f"undecodable message: {exc}")
            pos = end
        self._buffer = buf[pos:] if pos < size else b""
        return messages, None
