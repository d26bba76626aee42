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


def _u16(n):
    # int.to_bytes rather than struct: the flux command's start-up cost
    # counts every module it imports
    return n.to_bytes(2, "big")


COMMAND = b"_command"
ASK = b"_ask"
ANSWER = b"_answer"
ERROR = b"_error"
ERROR_CODE = b"_error_code"
ERROR_DESCRIPTION = b"_error_description"


class WireError(ValueError):
    """A box that breaks the AMP framing rules."""


class BoxTooLarge(WireError):
    """A box longer than the decoder's bound."""


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
        out += [_u16(len(key)), key, _u16(len(value)), value]
    out.append(b"\0\0")
    return b"".join(out)


class BoxDecoder:
    """Incremental decoder: feed bytes, collect complete boxes.

    Each key/value pair is parsed once, when its last byte arrives, so a
    box that trickles in a byte at a time costs linear time; the bytes of
    a pair still incomplete are kept as a list of the pieces received.

    :param max_box: the largest box accepted, in wire bytes (None: no
        bound); a box that will not fit raises :class:`BoxTooLarge` as
        soon as its length passes the bound, before the rest arrives.
    """

    def __init__(self, max_box=64 * 1024 * 1024):
        self.max_box = max_box
        self._box = {}
        self._held = 0      # wire bytes of the complete pairs in _box
        self._parts = []    # pieces of an incomplete pair (or terminator)
        self._parts_len = 0
        self._need = 2      # bytes that pair needs before it is parsed again

    @property
    def pending(self):
        """Bytes held for the box not yet complete (0 between boxes)."""
        return self._held + self._parts_len

    def feed(self, data):
        """Add bytes; return the list of boxes now complete.

        :raises WireError: on a malformed key length.
        :raises BoxTooLarge: when the current box passes ``max_box``.
        """
        if self._parts:
            self._parts.append(data)
            self._parts_len += len(data)
            if self._parts_len < self._need:
                return []
            data = b"".join(self._parts)
            self._parts = []
            self._parts_len = 0
        elif type(data) is not bytes:
            data = bytes(data)
        return self._parse(data)

    def _parse(self, data):
        n = len(data)
        box, held, limit = self._box, self._held, self.max_box
        boxes = []
        pos = 0
        while True:
            if pos + 2 > n:
                need = 2
                break
            klen = data[pos] << 8 | data[pos + 1]
            if klen == 0:
                pos += 2
                boxes.append(box)
                box, held = {}, 0
                continue
            if klen > MAX_KEY:
                raise WireError(f"bad AMP key length {klen}")
            at = pos + 2 + klen
            if at + 2 > n:
                need = klen + 4
                break
            end = at + 2 + (data[at] << 8 | data[at + 1])
            size = end - pos
            if limit is not None and held + size + 2 > limit:
                raise BoxTooLarge(f"AMP box longer than {limit} bytes")
            if end > n:
                need = size
                break
            box[data[pos + 2:at]] = data[at + 2:end]
            held += size
            pos = end
        self._box, self._held, self._need = box, held, need
        if pos < n:
            rest = data[pos:]
            self._parts = [rest]
            self._parts_len = len(rest)
        return boxes


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
    part = box.get(key + b".1")
    if part is None:
        return first
    parts, i = [first, part], 2
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


# -- the local connector's commands --------------------------------------
#
# Encoders write a command's box straight to bytes (the hot path of every
# RPC, on both sides); decoders read one from a box of BoxDecoder.  The
# AMP Command classes of fluxd.local.commands declare the same layout.

def _key(name):
    return _u16(len(name)) + name


def _pair(name, value):
    return _key(name) + _u16(len(value)) + value


_CMD_REQUEST = _pair(COMMAND, b"request")
_CMD_CANCEL = _pair(COMMAND, b"cancel")
_CMD_RESPONSE = _pair(COMMAND, b"response")
_CMD_HELLO = _pair(COMMAND, b"hello")
_END = b"\0\0"
_K = {name: _key(name) for name in (
    ASK, ANSWER, b"topic", b"nodeid", b"flags", b"matchtag", b"userid",
    b"rolemask", b"errnum", b"errstr", b"rank", b"payload")}


def _put(out, name, value):
    if len(value) > MAX_VALUE:
        raise WireError(f"AMP value for {name!r} too long ({len(value)})")
    out += (_K[name], _u16(len(value)), value)


def _put_text(out, name, text):
    """An optional ``Unicode`` value, cut at 64 KiB on a character boundary."""
    if text is not None:
        raw = text.encode("utf-8")
        if len(raw) > MAX_VALUE:
            raw = raw[:MAX_VALUE].decode("utf-8", "ignore").encode("utf-8")
        out += (_K[name], _u16(len(raw)), raw)


def _put_payload(out, value):
    if value is None:
        return
    size = len(value)
    out += (_K[b"payload"], _u16(min(size, MAX_VALUE)), value[:MAX_VALUE])
    for i, start in enumerate(range(MAX_VALUE, size, MAX_VALUE), 1):
        chunk = value[start:start + MAX_VALUE]
        out += (_key(b"payload.%d" % i), _u16(len(chunk)), chunk)


def encode_request(ask, topic, nodeid, flags, matchtag, payload=None,
                   userid=None, rolemask=None):
    """The ``request`` box, as bytes.

    :param ask: the AMP question tag (bytes), or None when no answer is
        wanted.
    :param payload: bytes or None.
    :raises WireError: for a topic longer than an AMP value.
    """
    out = [_CMD_REQUEST]
    if ask is not None:
        _put(out, ASK, ask)
    _put(out, b"topic", topic.encode("utf-8"))
    _put(out, b"nodeid", b"%d" % nodeid)
    _put(out, b"flags", b"%d" % flags)
    _put(out, b"matchtag", b"%d" % matchtag)
    _put_payload(out, payload)
    if userid is not None:
        _put(out, b"userid", b"%d" % userid)
        _put(out, b"rolemask", b"%d" % (rolemask or 0))
    out.append(_END)
    return b"".join(out)


def encode_cancel(matchtag):
    """The ``cancel`` box (no answer)."""
    out = [_CMD_CANCEL]
    _put(out, b"matchtag", b"%d" % matchtag)
    out.append(_END)
    return b"".join(out)


def encode_answer(ask, errnum, errstr=None, payload=None):
    """The answer to the ``request`` box that carried ``ask``."""
    out = []
    _put(out, ANSWER, ask)
    _put(out, b"errnum", b"%d" % errnum)
    _put_text(out, b"errstr", errstr)
    _put_payload(out, payload)
    out.append(_END)
    return b"".join(out)


def encode_response(matchtag, errnum, errstr=None, payload=None):
    """A ``response`` box: one response of a streaming request."""
    out = [_CMD_RESPONSE]
    _put(out, b"matchtag", b"%d" % matchtag)
    _put(out, b"errnum", b"%d" % errnum)
    _put_text(out, b"errstr", errstr)
    _put_payload(out, payload)
    out.append(_END)
    return b"".join(out)


def encode_hello(errnum, errstr, userid, rolemask, rank):
    """The ``hello`` box, first on every connection."""
    out = [_CMD_HELLO]
    _put(out, b"errnum", b"%d" % errnum)
    _put_text(out, b"errstr", errstr)
    _put(out, b"userid", b"%d" % userid)
    _put(out, b"rolemask", b"%d" % rolemask)
    _put(out, b"rank", b"%d" % rank)
    out.append(_END)
    return b"".join(out)


def request_size(payload_size):
    """The largest ``request`` box carrying ``payload_size`` payload bytes
    (the payload's chunk keys and every other argument at its largest)."""
    chunks = max(1, -(-payload_size // MAX_VALUE))
    return payload_size + chunks * (4 + len(b"payload.%d" % chunks)) + \
        _REQUEST_FIELDS


#: the bytes of a request box besides its payload, at most: the command,
#: a 64 KiB topic, the integers and the end marker
_REQUEST_FIELDS = 2 * 1024 + MAX_VALUE


def _int(box, name, command):
    raw = box.get(name)
    if raw is None:
        raise WireError(f"{command}: missing {name.decode()}")
    try:
        return int(raw)
    except ValueError:
        raise WireError(f"{command}: {name.decode()} is not an integer") from None


def decode_request(box):
    """Read a ``request`` box.

    :returns: ``(topic, nodeid, flags, matchtag, payload, userid,
        rolemask)``; ``userid`` and ``rolemask`` are None when absent.
    :raises WireError: for a missing or malformed argument.
    """
    raw = box.get(b"topic")
    if raw is None:
        raise WireError("request: missing topic")
    try:
        topic = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("request: topic is not UTF-8") from None
    userid = rolemask = None
    if b"userid" in box:
        userid = _int(box, b"userid", "request")
    if b"rolemask" in box:
        rolemask = _int(box, b"rolemask", "request")
    return (topic, _int(box, b"nodeid", "request"),
            _int(box, b"flags", "request"), _int(box, b"matchtag", "request"),
            get_big(box, "payload"), userid, rolemask)


def decode_cancel(box):
    """Read a ``cancel`` box: its matchtag.

    :raises WireError: when the matchtag is missing or malformed.
    """
    return _int(box, b"matchtag", "cancel")


def decode_result(box):
    """Read an answer or a ``response`` box: ``(errnum, errstr, payload)``.

    :raises WireError: for a malformed errnum or errstr.
    """
    raw = box.get(b"errnum")
    errnum = 0 if raw is None else _int(box, b"errnum", "answer")
    return errnum, get_str(box, "errstr"), get_big(box, "payload")
