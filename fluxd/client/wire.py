# -*- test-case-name: tests.unit.client.test_wire -*-
"""The local connector's wire format: AMP boxes, pure Python.

fluxd's local clients speak AMP (Twisted's Asynchronous Messaging
Protocol) over the broker's UNIX socket.  An AMP box is a sequence of
``key``/``value`` pairs, each prefixed by a 16-bit big-endian length, and
ended by an empty key.  Values are capped at 65535 bytes, so the message
payload (up to and beyond 16 MiB) travels as a *big* value: the first
chunk under ``payload`` and the rest under ``payload.1``, ``payload.2``...
The Twisted side (:mod:`fluxd.local.commands`) declares the same layout
with AMP ``Command`` classes; a contract test holds both to this module.

Commands (name: arguments -> answer):

``request`` (client to broker)
    ``topic nodeid flags matchtag [payload] [userid rolemask]`` ->
    ``errnum [errstr] [payload]``.  A streaming request (``FLAG_STREAMING``)
    is answered once its stream ends; the responses before that arrive as
    ``response`` boxes carrying the request's matchtag.
``cancel`` (client to broker, no answer)
    ``matchtag``: end a streaming request (it is answered ECANCELED).
``response`` (broker to client, no answer)
    ``matchtag errnum [errstr] [payload]``.
``hello`` (broker to client, no answer, first box on every connection)
    ``errnum [errstr] userid rolemask rank``: errnum is non-zero when the
    connection is refused (EPERM for a guest), and the broker then closes.
"""

MAX_KEY = 0xFF
MAX_VALUE = 0xFFFF

COMMAND = b"_command"
ASK = b"_ask"
ANSWER = b"_answer"
ERROR = b"_error"
ERROR_CODE = b"_error_code"
ERROR_DESCRIPTION = b"_error_description"


class WireError(ValueError):
    """A box that breaks the AMP framing rules."""


def encode_box(box):
    """Encode one box (a mapping of bytes to bytes) to its wire form.

    :raises WireError: for an empty, oversized key or an oversized value.
    """
    out = []
    for key, value in box.items():
        if not key or len(key) > MAX_KEY:
            raise WireError(f"bad AMP key length {len(key)}")
        if len(value) > MAX_VALUE:
            raise WireError(f"AMP value for {key!r} too long ({len(value)})")
        out += [len(key).to_bytes(2, "big"), key,
                len(value).to_bytes(2, "big"), value]
    out.append(b"\0\0")
    return b"".join(out)


class BoxDecoder:
    """Incremental decoder: feed bytes, collect complete boxes.

    :param max_box: the largest box accepted (bytes); beyond it the stream
        is treated as hostile and :class:`WireError` is raised.
    """

    def __init__(self, max_box=64 * 1024 * 1024):
        self._buf = bytearray()
        self._max_box = max_box

    def feed(self, data):
        """Add bytes; return the list of boxes now complete.

        :raises WireError: on a malformed key length or an oversized box.
        """
        self._buf += data
        boxes = []
        while True:
            box, used = self._parse_one()
            if box is None:
                if len(self._buf) > self._max_box:
                    raise WireError("AMP box too large")
                return boxes
            del self._buf[:used]
            boxes.append(box)

    def _parse_one(self):
        buf, pos, box = self._buf, 0, {}
        n = len(buf)
        while True:
            if pos + 2 > n:
                return None, 0
            klen = (buf[pos] << 8) | buf[pos + 1]
            pos += 2
            if klen == 0:
                return box, pos
            if klen > MAX_KEY:
                raise WireError(f"bad AMP key length {klen}")
            if pos + klen + 2 > n:
                return None, 0
            key = bytes(buf[pos:pos + klen])
            pos += klen
            vlen = (buf[pos] << 8) | buf[pos + 1]
            pos += 2
            if pos + vlen > n:
                return None, 0
            box[key] = bytes(buf[pos:pos + vlen])
            pos += vlen


def put_big(box, name, value):
    """Store ``value`` (bytes or None) under ``name`` as a chunked value."""
    if value is None:
        return
    key = name.encode("ascii")
    box[key] = value[:MAX_VALUE]
    for i, start in enumerate(range(MAX_VALUE, len(value), MAX_VALUE), 1):
        box[key + b".%d" % i] = value[start:start + MAX_VALUE]


def get_big(box, name):
    """Reassemble a chunked value stored by :func:`put_big` (None if absent)."""
    key = name.encode("ascii")
    first = box.get(key)
    if first is None:
        return None
    parts, i = [first], 1
    while True:
        part = box.get(key + b".%d" % i)
        if part is None:
            return b"".join(parts)
        parts.append(part)
        i += 1


def put_int(box, name, value):
    """Store an AMP ``Integer`` (ASCII decimal)."""
    box[name.encode("ascii")] = str(int(value)).encode("ascii")


def get_int(box, name, default=None):
    """Read an AMP ``Integer``; ``default`` when absent.

    :raises WireError: when the value is not a decimal integer.
    """
    raw = box.get(name.encode("ascii"))
    if raw is None:
        if default is None:
            raise WireError(f"missing integer {name}")
        return default
    try:
        return int(raw)
    except ValueError:
        raise WireError(f"{name} is not an integer") from None


def put_str(box, name, value):
    """Store an AMP ``Unicode`` value (UTF-8), skipping None."""
    if value is not None:
        box[name.encode("ascii")] = value.encode("utf-8")


def get_str(box, name, default=None):
    """Read an AMP ``Unicode`` value."""
    raw = box.get(name.encode("ascii"))
    if raw is None:
        return default
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"{name} is not UTF-8") from None


#: what a client may send: command -> (required ints, optional ints, strings)
CLIENT_COMMANDS = {
    b"request": (("nodeid", "flags", "matchtag"), ("userid", "rolemask"),
                 ("topic",)),
    b"cancel": (("matchtag",), (), ()),
}


def check_client_box(box):
    """Say what is wrong with a box a client sent, or None if it is sound.

    The broker checks every box before AMP parses it, so a malformed one
    is refused with one log line instead of a traceback.
    """
    name = box.get(COMMAND)
    if name is None:
        return "box without a command" if ANSWER not in box and \
            ERROR not in box else "answer to a question never asked"
    spec = CLIENT_COMMANDS.get(name)
    if spec is None:
        return f"unknown command {name[:32]!r}"
    required, optional, strings = spec
    try:
        for key in required:
            get_int(box, key)
        for key in optional:
            if key.encode("ascii") in box:
                get_int(box, key)
        for key in strings:
            if get_str(box, key) is None:
                return f"{name.decode()}: missing {key}"
    except WireError as exc:
        return f"{name.decode()}: {exc}"
    return None
