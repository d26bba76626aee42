# -*- test-case-name: tests.unit.client.test_tx -*-
"""A Twisted client of a fluxd broker: every call returns a Deferred.

For services and long-running tools (``flux start``, job shells, watchers)
that already run a reactor.  It speaks the same boxes as the stdlib client
through the AMP commands of :mod:`fluxd.local.commands`.

Example::

    client = await connect(reactor, "local:///run/flux/local")
    rank = (await client.rpc("attr.get", {"name": "rank"}))["value"]
"""

import errno

from twisted.internet import defer
from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol
from twisted.protocols import amp

from fluxd.client.sync import decode_json
from fluxd.client.uri import SYSTEM_URI, socket_path
from fluxd.errors import NotConnected, from_errno
from fluxd.local import commands
from fluxd.message.types import FLAG_STREAMING, NODEID_ANY, encode_payload


class ClientProtocol(amp.AMP):
    """The client end of a local connection.

    :ivar ready: fires with ``self`` once the broker's ``hello`` accepted
        the connection, or fails with the refusal.
    """

    def __init__(self):
        super().__init__()
        self.ready = defer.Deferred()
        self.userid = self.rolemask = self.rank = None
        self._streams = {}
        self._next_tag = 1

    @commands.Hello.responder
    def hello(self, errnum, userid, rolemask, rank, errstr=None):
        if errnum:
            self.ready.errback(from_errno(errnum, errstr))
        else:
            self.userid, self.rolemask, self.rank = userid, rolemask, rank
            self.ready.callback(self)
        return {}

    @commands.Response.responder
    def response(self, matchtag, errnum, errstr=None, payload=None):
        callback = self._streams.get(matchtag)
        if callback is not None and errnum == 0:
            callback(decode_json(payload))
        return {}

    def connectionLost(self, reason):
        super().connectionLost(reason)
        if not self.ready.called:
            self.ready.errback(NotConnected("Lost connection to the broker"))

    def next_matchtag(self):
        tag = self._next_tag
        self._next_tag += 1
        return tag


class FluxClient:
    """RPCs over a connected :class:`ClientProtocol`."""

    def __init__(self, protocol):
        self.protocol = protocol

    @property
    def userid(self):
        return self.protocol.userid

    @property
    def rank(self):
        return self.protocol.rank

    def _request(self, topic, payload, nodeid, flags, tag):
        sent = self.protocol.callRemote(
            commands.Request, topic=topic, nodeid=nodeid, flags=flags,
            matchtag=tag, payload=encode_payload(payload), userid=None,
            rolemask=None)
        # AMP appends its own "unhandled error, drop the connection" errback
        # to this Deferred when the answer arrives, after our callbacks; so
        # hand the result over to a fresh Deferred that the caller owns.
        mine = defer.Deferred()
        sent.addCallbacks(mine.callback, mine.errback)
        return mine

    def rpc_raw(self, topic, payload=None, nodeid=NODEID_ANY, flags=0):
        """One request, one response.

        :returns: a Deferred firing with the response payload (bytes or
            None), or failing with the :class:`FluxError` of an error
            response.
        """
        tag = self.protocol.next_matchtag()
        d = self._request(topic, payload, nodeid, flags, tag)
        return d.addCallback(_result)

    def rpc(self, topic, payload=None, nodeid=NODEID_ANY, flags=0):
        """Like :meth:`rpc_raw`, firing with the decoded JSON object."""
        return self.rpc_raw(topic, payload, nodeid, flags).addCallback(decode_json)

    def stream(self, topic, on_response, payload=None, nodeid=NODEID_ANY):
        """A streaming RPC: ``on_response(obj)`` for each response.

        :returns: ``(done, cancel)``: ``done`` fires with None when the
            stream ends normally (ENODATA) and fails on any other error;
            ``cancel()`` asks the broker to end it (``done`` then fails
            with ECANCELED).
        """
        tag = self.protocol.next_matchtag()
        self.protocol._streams[tag] = on_response
        d = self._request(topic, payload, nodeid, FLAG_STREAMING, tag)

        def finish(answer):
            self.protocol._streams.pop(tag, None)
            if answer["errnum"] == errno.ENODATA:
                return None
            return _result(answer)

        def failed(failure):
            self.protocol._streams.pop(tag, None)
            return failure

        d.addCallbacks(finish, failed)

        def cancel():
            self.protocol.callRemote(commands.Cancel, matchtag=tag)
        return d, cancel

    def close(self):
        """Hang up."""
        self.protocol.transport.loseConnection()


def _result(answer):
    if answer["errnum"]:
        raise from_errno(answer["errnum"], answer.get("errstr"))
    return answer.get("payload")


async def connect(reactor, uri=None):
    """Connect to a broker.

    :param uri: ``local:///path``; default ``$FLUX_URI`` or the system
        instance.
    :returns: (coroutine) a :class:`FluxClient`.
    :raises fluxd.errors.NotConnected: when nobody listens there.
    """
    import os
    uri = uri or os.environ.get("FLUX_URI") or SYSTEM_URI
    path = socket_path(uri)
    endpoint = UNIXClientEndpoint(reactor, path)
    try:
        protocol = await connectProtocol(endpoint, ClientProtocol())
    except Exception as exc:
        raise NotConnected(f"Unable to connect to Flux: {path}: {exc}") from None
    await protocol.ready
    return FluxClient(protocol)
