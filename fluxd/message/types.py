# -*- test-case-name: tests.unit.message.test_frames -*-
"""The RFC 3 message model: request, response, event, control.

A :class:`Message` is what every fluxd component passes around: the local
connector turns AMP boxes into messages, the overlay carries their RFC 3
frame encoding (:mod:`fluxd.message.frames`), and services answer them
through the router.  Pure Python: the synchronous client imports this.
"""

import json

# Message types (RFC 3 header byte 2).
REQUEST = 0x01
RESPONSE = 0x02
EVENT = 0x04
CONTROL = 0x08
TYPE_NAMES = {REQUEST: "request", RESPONSE: "response", EVENT: "event",
              CONTROL: "control"}

# Flags (RFC 3 header byte 3).
FLAG_TOPIC = 0x01
FLAG_PAYLOAD = 0x02
FLAG_NORESPONSE = 0x04
FLAG_ROUTE = 0x08
FLAG_UPSTREAM = 0x10
FLAG_PRIVATE = 0x20
FLAG_STREAMING = 0x40
FLAG_USER1 = 0x80

NODEID_ANY = 0xFFFFFFFF
NODEID_UPSTREAM = 0xFFFFFFFE
MATCHTAG_NONE = 0
USERID_UNKNOWN = 0xFFFFFFFF

# Roles (RFC 12 rolemask bits).
ROLE_NONE = 0
ROLE_OWNER = 1
ROLE_USER = 2
ROLE_LOCAL = 4
ROLE_ADMIN = 8
ROLE_ALL = 0xFFFFFFFF


class Message:
    """One Flux message.

    ``payload`` is raw bytes (JSON text for almost every service) or None.
    ``aux1``/``aux2`` of the RFC 3 header are exposed under their meaning
    for the message type: ``nodeid``/``errnum``/``seq`` and ``matchtag``.
    ``route`` lists hop identities, original sender first.

    (A plain slotted class rather than a dataclass: ``dataclasses`` pulls in
    ``inspect``, a noticeable part of a ``flux`` command's start-up.)
    """

    __slots__ = ("type", "topic", "payload", "flags", "userid", "rolemask",
                 "nodeid", "matchtag", "errnum", "seq", "route")

    def __init__(self, type, topic="", payload=None, flags=0,
                 userid=USERID_UNKNOWN, rolemask=ROLE_NONE, nodeid=NODEID_ANY,
                 matchtag=MATCHTAG_NONE, errnum=0, seq=0, route=None):
        self.type = type
        self.topic = topic
        self.payload = payload
        self.flags = flags
        self.userid = userid
        self.rolemask = rolemask
        self.nodeid = nodeid
        self.matchtag = matchtag
        self.errnum = errnum
        self.seq = seq
        self.route = [] if route is None else route

    def _fields(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        if not isinstance(other, Message):
            return NotImplemented
        return self._fields() == other._fields()

    def __repr__(self):
        inner = ", ".join(f"{name}={getattr(self, name)!r}"
                          for name in self.__slots__)
        return f"Message({inner})"

    @classmethod
    def request(cls, topic, payload=None, nodeid=NODEID_ANY, flags=0,
                matchtag=MATCHTAG_NONE):
        """Build a request; ``payload`` may be bytes, str or a JSON value."""
        return cls(REQUEST, topic, encode_payload(payload), flags | FLAG_ROUTE,
                   nodeid=nodeid, matchtag=matchtag)

    def response(self, payload=None, errnum=0, errstr=None):
        """Build the response to this request (copies topic, matchtag, route).

        An error response carries ``errstr`` as its payload, as flux does.
        """
        if errnum:
            body = errstr.encode("utf-8") if errstr else None
        else:
            body = encode_payload(payload)
        flags = FLAG_ROUTE | (self.flags & FLAG_STREAMING)
        return Message(RESPONSE, self.topic, body, flags,
                       userid=self.userid, rolemask=self.rolemask,
                       matchtag=self.matchtag, errnum=errnum,
                       route=list(self.route))

    @property
    def service(self):
        """The service name: the topic text before the first ``.``."""
        return self.topic.split(".", 1)[0]

    @property
    def sender(self):
        """The original sender's identity (first route hop), or None."""
        return self.route[0] if self.route else None

    def json(self):
        """Decode the payload as a JSON object (``{}`` when absent).

        :raises fluxd.errors.ProtocolError: when the payload is not a JSON
            object.
        """
        from fluxd.errors import ProtocolError
        if not self.payload:
            return {}
        try:
            value = json.loads(self.payload.rstrip(b"\0"))
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError("message payload is not valid JSON") from None
        if not isinstance(value, dict):
            raise ProtocolError("message payload is not a JSON object")
        return value

    @property
    def errstr(self):
        """The error text of an error response, or None."""
        if self.errnum and self.payload:
            return self.payload.rstrip(b"\0").decode("utf-8", "replace")
        return None

    def copy(self, **changes):
        """A shallow copy with some fields replaced (route list copied)."""
        changes.setdefault("route", list(self.route))
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return Message(**fields)


def encode_payload(payload):
    """Turn a payload argument into bytes: None, bytes, str or JSON value."""
    if payload is None or isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")
