# -*- test-case-name: tests.unit.message.test_frames -*-
"""The RFC 3 message model: request, response, event, control.

A :class:`Message` is what every fluxd component passes around: the local
connector turns AMP boxes into messages, the overlay carries their RFC 3
frame encoding (:mod:`fluxd.message.frames`), and services answer them
through the router.  Pure Python: the synchronous client imports this.
"""

import json

from fluxd.formats.jsonenc import dumps

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


_FIELDS = ("type", "topic", "payload", "flags", "userid", "rolemask",
           "nodeid", "matchtag", "errnum", "seq", "route")


class Message:
    """One Flux message.

    ``payload`` is raw bytes (JSON text for almost every service) or None.
    A message built inside the broker from a JSON value keeps the value
    and encodes it only when ``payload`` is read (to cross a socket):
    in-process requests and responses, such as the job manager's alloc
    and start requests carrying a whole jobspec, cost no JSON round trip.
    Payloads are immutable once sent: :meth:`json` hands out a shallow
    copy, and nested values must not be changed by whoever receives them.
    ``aux1``/``aux2`` of the RFC 3 header are exposed under their meaning
    for the message type: ``nodeid``/``errnum``/``seq`` and ``matchtag``.
    ``route`` lists hop identities, original sender first.

    (A plain slotted class rather than a dataclass: ``dataclasses`` pulls in
    ``inspect``, a noticeable part of a ``flux`` command's start-up.)
    """

    __slots__ = ("type", "topic", "_payload", "_obj", "flags", "userid",
                 "rolemask", "nodeid", "matchtag", "errnum", "seq", "route")

    def __init__(self, type, topic="", payload=None, flags=0,
                 userid=USERID_UNKNOWN, rolemask=ROLE_NONE, nodeid=NODEID_ANY,
                 matchtag=MATCHTAG_NONE, errnum=0, seq=0, route=None):
        self.type = type
        self.topic = topic
        self._payload = payload
        self._obj = None
        self.flags = flags
        self.userid = userid
        self.rolemask = rolemask
        self.nodeid = nodeid
        self.matchtag = matchtag
        self.errnum = errnum
        self.seq = seq
        self.route = [] if route is None else route

    @property
    def payload(self):
        """The payload bytes (encoded now from a JSON value if need be)."""
        if self._payload is None and self._obj is not None:
            self._payload = dumps(self._obj).encode("utf-8")
        return self._payload

    @payload.setter
    def payload(self, value):
        self._payload = value
        self._obj = None

    @classmethod
    def with_json(cls, type, topic, value, **fields):
        """A message whose payload is the JSON object ``value``, kept
        decoded until someone needs the bytes."""
        message = cls(type, topic, None, **fields)
        message._obj = value
        return message

    def _fields(self):
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other):
        if not isinstance(other, Message):
            return NotImplemented
        return self._fields() == other._fields()

    def __repr__(self):
        inner = ", ".join(f"{name}={getattr(self, name)!r}"
                          for name in _FIELDS)
        return f"Message({inner})"

    @classmethod
    def request(cls, topic, payload=None, nodeid=NODEID_ANY, flags=0,
                matchtag=MATCHTAG_NONE):
        """Build a request; ``payload`` may be bytes, str or a JSON value."""
        if isinstance(payload, dict):
            return cls.with_json(REQUEST, topic, payload,
                                 flags=flags | FLAG_ROUTE, nodeid=nodeid,
                                 matchtag=matchtag)
        return cls(REQUEST, topic, encode_payload(payload), flags | FLAG_ROUTE,
                   nodeid=nodeid, matchtag=matchtag)

    def response(self, payload=None, errnum=0, errstr=None):
        """Build the response to this request (copies topic, matchtag, route).

        An error response carries ``errstr`` as its payload, as flux does.
        """
        flags = FLAG_ROUTE | (self.flags & FLAG_STREAMING)
        if not errnum and isinstance(payload, dict):
            return Message.with_json(RESPONSE, self.topic, payload,
                                     flags=flags, userid=self.userid,
                                     rolemask=self.rolemask,
                                     matchtag=self.matchtag,
                                     route=list(self.route))
        if errnum:
            body = errstr.encode("utf-8") if errstr else None
        else:
            body = encode_payload(payload)
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
        if self._obj is not None:
            return dict(self._obj)
        from fluxd.errors import ProtocolError
        if not self._payload:
            return {}
        try:
            value = json.loads(self._payload.rstrip(b"\0"))
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError("message payload is not valid JSON") from None
        if not isinstance(value, dict):
            raise ProtocolError("message payload is not a JSON object")
        self._obj = value
        return dict(value)

    @property
    def errstr(self):
        """The error text of an error response, or None."""
        if self.errnum and self.payload:
            return self.payload.rstrip(b"\0").decode("utf-8", "replace")
        return None

    def copy(self, **changes):
        """A shallow copy with some fields replaced (route list copied)."""
        changes.setdefault("route", list(self.route))
        fields = {name: getattr(self, name) for name in _FIELDS
                  if name != "payload"}
        fields["payload"] = self._payload
        fields.update(changes)
        message = Message(**fields)
        if "payload" not in changes:
            message._obj = self._obj
        return message


def encode_payload(payload):
    """Turn a payload argument into bytes: None, bytes, str or JSON value."""
    if payload is None or isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return dumps(payload).encode("utf-8")
