# -*- test-case-name: tests.unit.message.test_frames -*-
"""RFC 3 message encoding, as the overlay carries it between brokers.

A message is a list of parts: route identities (most recent hop first)
and an empty delimiter when FLAG_ROUTE is set, the topic when FLAG_TOPIC,
the payload when FLAG_PAYLOAD, and last the 20-byte header (big-endian:
magic 0x8E, version 1, type, flags, userid, rolemask, aux1, aux2).  Each
part is written ``len8 data`` when shorter than 255 bytes, else ``0xFF
len32 data`` (the local-connector framing of flux-core's ``sendfd.c``).
The overlay puts one encoded message in each length-prefixed stream frame.
Pure Python.
"""

import struct

from fluxd.errors import ProtocolError
from fluxd.message.types import (
    CONTROL, EVENT, FLAG_PAYLOAD, FLAG_ROUTE, FLAG_TOPIC, REQUEST, RESPONSE,
    Message)

MAGIC = 0x8E
VERSION = 0x01
_HEADER = struct.Struct(">BBBBIIII")
_U32 = struct.Struct(">I")
_TYPES = (REQUEST, RESPONSE, EVENT, CONTROL)


def _part(data):
    if len(data) < 255:
        return bytes((len(data),)) + data
    return b"\xff" + _U32.pack(len(data)) + data


def encode(message):
    """Encode a :class:`Message` to RFC 3 parts in one byte string."""
    flags = message.flags & ~(FLAG_TOPIC | FLAG_PAYLOAD)
    parts = []
    if message.type in (REQUEST, RESPONSE):
        flags |= FLAG_ROUTE
    if flags & FLAG_ROUTE:
        parts += [r.encode("utf-8") for r in reversed(message.route)]
        parts.append(b"")
    if message.topic:
        flags |= FLAG_TOPIC
        parts.append(message.topic.encode("utf-8"))
    if message.payload is not None:
        flags |= FLAG_PAYLOAD
        parts.append(message.payload)
    if message.type == REQUEST:
        aux1 = message.nodeid
    elif message.type == RESPONSE:
        aux1 = message.errnum
    elif message.type == EVENT:
        aux1 = message.seq
    else:
        aux1 = message.matchtag  # control type
    aux2 = message.errnum if message.type == CONTROL else (
        0 if message.type == EVENT else message.matchtag)
    header = _HEADER.pack(MAGIC, VERSION, message.type, flags,
                          message.userid & 0xFFFFFFFF,
                          message.rolemask & 0xFFFFFFFF,
                          aux1 & 0xFFFFFFFF, aux2 & 0xFFFFFFFF)
    return b"".join(_part(p) for p in parts) + _part(header)


def decode(data):
    """Decode bytes written by :func:`encode`.

    :raises fluxd.errors.ProtocolError: for anything malformed.
    """
    parts, pos, n = [], 0, len(data)
    while pos < n:
        size = data[pos]
        pos += 1
        if size == 0xFF:
            if pos + 4 > n:
                raise ProtocolError("truncated message part length")
            (size,) = _U32.unpack_from(data, pos)
            pos += 4
        if pos + size > n:
            raise ProtocolError("truncated message part")
        parts.append(bytes(data[pos:pos + size]))
        pos += size
    if not parts or len(parts[-1]) != _HEADER.size:
        raise ProtocolError("message header missing or wrong size")
    magic, version, mtype, flags, userid, rolemask, aux1, aux2 = \
        _HEADER.unpack(parts.pop())
    if magic != MAGIC or version != VERSION or mtype not in _TYPES:
        raise ProtocolError("bad message header")
    msg = Message(mtype, flags=flags, userid=userid, rolemask=rolemask)
    try:
        if flags & FLAG_ROUTE:
            delim = parts.index(b"")
            msg.route = [p.decode("utf-8") for p in reversed(parts[:delim])]
            parts = parts[delim + 1:]
        if flags & FLAG_TOPIC:
            msg.topic = parts.pop(0).decode("utf-8")
        if flags & FLAG_PAYLOAD:
            msg.payload = parts.pop(0)
    except (ValueError, IndexError, UnicodeDecodeError):
        raise ProtocolError("malformed message parts") from None
    if parts:
        raise ProtocolError("unexpected extra message parts")
    msg.flags = flags & ~(FLAG_TOPIC | FLAG_PAYLOAD)
    if mtype == REQUEST:
        msg.nodeid, msg.matchtag = aux1, aux2
    elif mtype == RESPONSE:
        msg.errnum, msg.matchtag = aux1, aux2
    elif mtype == EVENT:
        msg.seq = aux1
    else:
        msg.matchtag, msg.errnum = aux1, aux2
    return msg
