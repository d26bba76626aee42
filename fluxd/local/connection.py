# -*- test-case-name: tests.unit.local.test_connection -*-
"""One local client connection: credentials from SO_PEERCRED, then AMP.

The connection decides the client's credential once, at connect (RFC 12):
the instance owner gets OWNER, root gets OWNER when
``access.allow-root-owner`` is set, any other user gets USER only when
``access.allow-guest-user`` is set and is refused (EPERM) otherwise.
Every request is stamped with that credential plus the LOCAL role; the
owner alone may ask for another credential (flux's FLUX_HANDLE_USERID).

The boxes are those of :mod:`fluxd.local.commands`, read and written
with the codec of :mod:`fluxd.client.wire` rather than through AMP's
generic dispatch: every RPC passes here, and the direct path costs a
fraction of it.  The decoder is bounded (:mod:`fluxd.local.limits`): a
client whose message would pass its bound, or whose incomplete message
would overdraw the guests' shared budget, is dropped with one log line.

Nothing the broker keeps refers back to a connection once it is lost:
replies to requests still in flight go through a small :class:`_Outbox`
that is closed then, so a closed connection is freed at once, without
waiting for the cycle collector.
"""

import errno
import socket
import struct
import uuid

from twisted.internet import protocol
from twisted.logger import Logger, LogLevel
from zope.interface import implementer

from fluxd.client import wire
from fluxd.interfaces import IReconfigurable
from fluxd.local.limits import (
    GUEST_BUFFER_ATTR, BufferBudget, ConnectorLimits)
from fluxd.message.types import (
    FLAG_NORESPONSE, FLAG_ROUTE, FLAG_STREAMING, REQUEST, ROLE_LOCAL,
    ROLE_OWNER, ROLE_USER, Message)

_UCRED = struct.Struct("3i")


def peer_credentials(transport):
    """``(pid, uid, gid)`` of the process at the other end of a UNIX socket."""
    sock = transport.getHandle()
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return _UCRED.unpack(raw)


@implementer(IReconfigurable)
class Policy:
    """Who may connect, and with which roles.

    :param owner: the instance owner's uid.
    :param allow_guest_user: ``access.allow-guest-user``.
    :param allow_root_owner: ``access.allow-root-owner``.
    """

    def __init__(self, owner, allow_guest_user=False, allow_root_owner=False):
        self.owner = owner
        self.allow_guest_user = allow_guest_user
        self.allow_root_owner = allow_root_owner

    def reconfigure(self, config):
        """``flux config reload``: new ``[access]`` settings apply to the
        next connection (IReconfigurable)."""
        self.allow_guest_user = bool(config.get("access.allow-guest-user"))
        self.allow_root_owner = bool(config.get("access.allow-root-owner"))

    def credential(self, uid):
        """``(userid, rolemask)`` for a peer uid, or None when refused."""
        if uid == self.owner:
            return uid, ROLE_OWNER
        if uid == 0 and self.allow_root_owner:
            return self.owner, ROLE_OWNER
        if self.allow_guest_user:
            return uid, ROLE_USER
        return None


class _Outbox:
    """Where replies to one connection's requests are written.

    Requests in flight hold this, not the connection; closing it when the
    connection is lost lets the connection go at once, and replies that
    come later are dropped.
    """

    __slots__ = ("transport",)

    def __init__(self, transport):
        self.transport = transport

    def write(self, data):
        if self.transport is not None:
            self.transport.write(data)


class _PlainLog:
    """The per-connection log lines, unlimited (when no limiter is given)."""

    log = Logger(namespace="fluxd.local.connection")

    def warn(self, fmt, **fields):
        self.log.emit(LogLevel.warn, fmt, **fields)

    def info(self, fmt, **fields):
        self.log.emit(LogLevel.info, fmt, **fields)


class LocalConnection(protocol.Protocol):
    """The broker side of one client connection.

    :param router: the broker's :class:`fluxd.interfaces.IRouter`.
    :param policy: a :class:`Policy`.
    :param rank: the broker's rank (told to the client in ``hello``).
    :param credentials: callable giving ``(pid, uid, gid)`` for a transport
        (tests of the policy replace it; production reads SO_PEERCRED).
    :param limits: a :class:`~fluxd.local.limits.ConnectorLimits`.
    :param budget: the :class:`~fluxd.local.limits.BufferBudget` shared
        by all guest connections (default: one of ``limits.guest_buffer``
        for this connection alone).
    :param notes: where per-connection log lines go: an object with
        ``warn`` and ``info`` (the connector's
        :class:`~fluxd.local.limits.LogLimiter`).
    """

    def __init__(self, router, policy, rank=0, credentials=peer_credentials,
                 limits=None, budget=None, notes=None):
        self.router = router
        self.policy = policy
        self.rank = rank
        self._credentials = credentials
        self.limits = limits if limits is not None else ConnectorLimits()
        self._budget = budget if budget is not None \
            else BufferBudget(self.limits.guest_buffer)
        self._notes = notes if notes is not None else _PlainLog()
        self.identity = uuid.uuid4().hex
        self.cred = None
        self.uid = -1
        self._decoder = None
        self._out = None
        self._charged = 0
        self._guest = False
        self._max_payload = 0

    def connectionMade(self):
        try:
            _pid, uid, _gid = self._credentials(self.transport)
        except OSError as exc:
            self._notes.warn("cannot read peer credentials: {err}", err=exc)
            uid = -1
        self.uid = uid
        self.cred = self.policy.credential(uid) if uid >= 0 else None
        if self.cred is None:
            self._notes.info("refused connection from uid {uid}", uid=uid)
            self.transport.write(wire.encode_hello(
                errno.EPERM, "guest access is not allowed", uid, 0, self.rank))
            self.transport.loseConnection()
            return
        owner = bool(self.cred[1] & ROLE_OWNER)
        self._guest = not owner
        self._max_payload = self.limits.message_limit(owner)[0]
        self._decoder = wire.BoxDecoder(max_box=self.limits.box_bound(owner))
        self._out = _Outbox(self.transport)
        self.transport.write(wire.encode_hello(
            0, None, self.cred[0], self.cred[1], self.rank))

    def dataReceived(self, data):
        decoder = self._decoder
        if decoder is None:
            return  # refused or dropped: the rest is ignored
        try:
            boxes = decoder.feed(data)
        except wire.BoxTooLarge:
            self._drop_too_large()
            return
        except wire.WireError as exc:
            self._drop(f"bad box: {exc}", abort=False)
            return
        for box in boxes:
            if self._decoder is None:
                return
            self._dispatch(box)
        if self._guest and self._decoder is not None:
            pending = decoder.pending
            if pending != self._charged:
                if not self._budget.claim(pending - self._charged):
                    self._drop("incomplete messages of all guests exceed"
                               f" {self._budget.limit} bytes"
                               f" ({GUEST_BUFFER_ATTR})")
                    return
                self._charged = pending

    def _dispatch(self, box):
        command = box.get(wire.COMMAND)
        try:
            if command == b"request":
                fields = wire.decode_request(box)
                # the decoder's bound leaves room for the other arguments
                payload = fields[4]
                if payload is not None and len(payload) > self._max_payload:
                    self._drop_too_large()
                    return
                self._request(box, *fields)
            elif command == b"cancel":
                self.router.cancel(self.identity, wire.decode_cancel(box))
            elif command is None:
                self._drop("bad box: box without a command"
                           if wire.ANSWER not in box and wire.ERROR not in box
                           else "bad box: answer to a question never asked",
                           abort=False)
            else:
                self._drop(f"bad box: unknown command {command[:32]!r}",
                           abort=False)
        except wire.WireError as exc:
            self._drop(f"bad box: {exc}", abort=False)
        except Exception as exc:  # a request the router could not take
            self._drop(f"bad box: {exc!r}", abort=False)

    def _drop_too_large(self):
        limit, what = self.limits.message_limit(not self._guest)
        self._drop(f"message larger than {limit} bytes ({what})")

    def _drop(self, problem, abort=True):
        """Hang up on a broken or hostile client, saying why in one line.

        :param abort: close at once, discarding unsent replies (for a
            client over its bound, which may not be reading either).
        """
        self._notes.warn("dropping client {id} (uid {uid}): {problem}",
                         id=self.identity[:8], uid=self.uid, problem=problem)
        self._release()
        if abort:
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    def _release(self):
        """Forget the buffered bytes and give back their budget."""
        self._decoder = None
        if self._charged:
            self._budget.claim(-self._charged)
            self._charged = 0

    def connectionLost(self, reason):
        self._release()
        if self._out is not None:
            self._out.transport = None
        if self.cred is not None:
            self.router.disconnect(self.identity)

    def _request(self, box, topic, nodeid, flags, matchtag, payload, userid,
                 rolemask):
        cred_user, cred_roles = self.cred
        if userid is not None and cred_roles & ROLE_OWNER:
            cred_user, cred_roles = userid, rolemask or 0
        message = Message(REQUEST, topic, payload, flags | FLAG_ROUTE,
                          userid=cred_user, rolemask=cred_roles | ROLE_LOCAL,
                          nodeid=nodeid & 0xFFFFFFFF, matchtag=matchtag,
                          route=[self.identity])
        ask = box.get(wire.ASK)
        out = self._out
        streaming = flags & FLAG_STREAMING
        done = False

        def reply(response):
            nonlocal done
            if done:
                return
            errnum = response.errnum
            if streaming and not errnum:
                out.write(wire.encode_response(matchtag, 0, None,
                                               response.payload))
                return
            done = True
            if ask is not None:
                out.write(wire.encode_answer(
                    ask, errnum, response.errstr,
                    None if errnum else response.payload))
        self.router.deliver(message, reply)
        if flags & FLAG_NORESPONSE and not done:
            done = True
            if ask is not None:
                out.write(wire.encode_answer(ask, 0))
