# -*- test-case-name: tests.integration.test_broker_local -*-
"""One local client connection: credentials from SO_PEERCRED, then AMP.

The connection decides the client's credential once, at connect (RFC 12):
the instance owner gets OWNER, root gets OWNER when
``access.allow-root-owner`` is set, any other user gets USER only when
``access.allow-guest-user`` is set and is refused (EPERM) otherwise.
Every request is stamped with that credential plus the LOCAL role; the
owner alone may ask for another credential (flux's FLUX_HANDLE_USERID).
"""

import errno
import socket
import struct
import uuid

from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols import amp
from zope.interface import implementer

from fluxd.client import wire
from fluxd.interfaces import IReconfigurable
from fluxd.local import commands
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


class LocalConnection(amp.AMP):
    """The broker side of one client connection.

    :param router: the broker's :class:`fluxd.interfaces.IRouter`.
    :param policy: a :class:`Policy`.
    :param rank: the broker's rank (told to the client in ``hello``).
    :param credentials: callable giving ``(pid, uid, gid)`` for a transport
        (tests of the policy replace it; production reads SO_PEERCRED).
    """

    log = Logger()

    def __init__(self, router, policy, rank=0, credentials=peer_credentials):
        super().__init__()
        self.router = router
        self.policy = policy
        self.rank = rank
        self._credentials = credentials
        self.identity = uuid.uuid4().hex
        self.cred = None
        self._dropped = False

    def connectionMade(self):
        super().connectionMade()
        try:
            _pid, uid, _gid = self._credentials(self.transport)
        except OSError as exc:
            self.log.warn("cannot read peer credentials: {err}", err=exc)
            uid = -1
        self.cred = self.policy.credential(uid) if uid >= 0 else None
        if self.cred is None:
            self.log.info("refused connection from uid {uid}", uid=uid)
            self.callRemote(commands.Hello, errnum=errno.EPERM,
                            errstr="guest access is not allowed",
                            userid=uid, rolemask=0, rank=self.rank)
            self.transport.loseConnection()
            return
        self.callRemote(commands.Hello, errnum=0, errstr=None,
                        userid=self.cred[0], rolemask=self.cred[1],
                        rank=self.rank)

    def ampBoxReceived(self, box):
        # A malformed box means a broken or hostile client: say so in one
        # log line and hang up, rather than let AMP log a traceback.
        if self._dropped:
            return
        problem = wire.check_client_box(box)
        if problem is None:
            try:
                super().ampBoxReceived(box)
                return
            except Exception as exc:
                problem = repr(exc)
        self._dropped = True
        self.log.warn("dropping client {id}: bad box: {problem}",
                      id=self.identity[:8], problem=problem)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        super().connectionLost(reason)
        if self.cred is not None:
            self.router.disconnect(self.identity)

    @commands.Request.responder
    def request(self, topic, nodeid, flags, matchtag, payload=None,
                userid=None, rolemask=None):
        if self.cred is None:
            return {"errnum": errno.EPERM, "errstr": "connection refused",
                    "payload": None}
        cred_user, cred_roles = self.cred
        if userid is not None and cred_roles & ROLE_OWNER:
            cred_user, cred_roles = userid, rolemask or 0
        message = Message(REQUEST, topic, payload, flags | FLAG_ROUTE,
                          userid=cred_user, rolemask=cred_roles | ROLE_LOCAL,
                          nodeid=nodeid & 0xFFFFFFFF, matchtag=matchtag,
                          route=[self.identity])
        answer = defer.Deferred()
        streaming = bool(flags & FLAG_STREAMING)

        def reply(response):
            if answer.called:
                return
            if streaming and response.errnum == 0:
                self.callRemote(commands.Response, matchtag=matchtag,
                                errnum=0, errstr=None,
                                payload=response.payload)
                return
            answer.callback({"errnum": response.errnum,
                             "errstr": response.errstr,
                             "payload": None if response.errnum
                             else response.payload})
        self.router.deliver(message, reply)
        if flags & FLAG_NORESPONSE and not answer.called:
            answer.callback({"errnum": 0, "errstr": None, "payload": None})
        return answer

    @commands.Cancel.responder
    def cancel(self, matchtag):
        self.router.cancel(self.identity, matchtag)
        return {}
