# -*- test-case-name: tests.unit.overlay.test_routing -*-
"""The requests a broker forwards along the tree, and their way back.

RFC 3 routing (spec/protocol.md section 3): a forwarding broker pushes
its rank on the request's route, and the response retraces the route,
each hop popping its own entry.  :class:`Forwarder` remembers, for each
request sent on, where its answer goes: the ``reply`` callable the
request came with.

Each forwarded request gets a matchtag of this broker's own (the
response copies it back), and the response is given its original one
again.  So requests that look alike (in-process RPCs have no sender and
matchtag 0) never share an entry, and the response lookup is one
dictionary access.  A cancel or disconnect for a client's request is
translated the same way before it is passed on.

When a link is lost, every request in flight through it is answered
EHOSTUNREACH (spec/protocol.md section 2).  Pure: no Twisted.
"""

import errno

from fluxd.message.types import FLAG_ROUTE, RESPONSE, Message

__all__ = ["Forwarder"]

_TAG_LIMIT = 1 << 32


class _Hop:
    """One forwarded request waiting for its response(s)."""

    __slots__ = ("reply", "link", "streaming", "matchtag", "sender",
                 "topic", "route")

    def __init__(self, reply, link, streaming, matchtag, sender, topic,
                 route):
        self.reply = reply
        self.link = link
        self.streaming = streaming
        self.matchtag = matchtag
        self.sender = sender
        self.topic = topic
        self.route = route


class Forwarder:
    """Forwarded requests of one broker, keyed by the matchtag it gave them.

    :param rank: this broker's rank (its route entry).
    """

    def __init__(self, rank):
        self.hop = str(rank)
        self._next_tag = 0
        self._hops = {}
        self._origin = {}

    def __len__(self):
        return len(self._hops)

    def _tag(self):
        tag = self._next_tag
        while True:
            tag = tag + 1 if tag + 1 < _TAG_LIMIT else 1
            if tag not in self._hops:
                self._next_tag = tag
                return tag

    def forward(self, msg, reply, link, expect_response, streaming):
        """Send request ``msg`` on ``link`` with this broker on its route.

        :param reply: called with each response (or the EHOSTUNREACH one).
        :param link: the connection to send on (``send(msg)``).
        :param expect_response: False for NORESPONSE requests.
        :param streaming: True when many responses may come.
        """
        route = msg.route
        out = Message(msg.type, msg.topic, msg.payload, msg.flags, msg.userid,
                      msg.rolemask, msg.nodeid, msg.matchtag, msg.errnum,
                      msg.seq, route + [self.hop])
        if expect_response:
            tag = self._tag()
            sender = route[0] if route else None
            self._hops[tag] = _Hop(reply, link, streaming, msg.matchtag,
                                   sender, msg.topic, route)
            self._origin[(sender, msg.matchtag)] = tag
            out.matchtag = tag
        link.send(out)

    def response(self, msg):
        """Deliver a response that came back; False when nobody waits.

        A stale response (its requester went away, or it was for this
        broker's previous run) is dropped.
        """
        hop = self._hops.get(msg.matchtag)
        if hop is None or not msg.route or msg.route[-1] != self.hop:
            return False
        if not hop.streaming or msg.errnum:
            self._forget(msg.matchtag, hop)
        msg.matchtag = hop.matchtag
        msg.route.pop()
        hop.reply(msg)
        return True

    def _forget(self, tag, hop):
        del self._hops[tag]
        if self._origin.get((hop.sender, hop.matchtag)) == tag:
            del self._origin[(hop.sender, hop.matchtag)]

    def fail(self, link):
        """``link`` is gone: answer EHOSTUNREACH for what went through it."""
        for tag, hop in [(t, h) for t, h in self._hops.items()
                         if h.link is link]:
            self._forget(tag, hop)
            hop.reply(Message(RESPONSE, hop.topic, None, FLAG_ROUTE,
                              matchtag=hop.matchtag,
                              errnum=errno.EHOSTUNREACH,
                              route=list(hop.route)))

    def cancel(self, sender, matchtag):
        """Where a client's cancel must go.

        :returns: ``(link, matchtag)``: the link its request took and the
            matchtag it has there, or None when it was not forwarded.
        """
        tag = self._origin.get((sender, matchtag))
        if tag is None:
            return None
        return self._hops[tag].link, tag

    def disconnect(self, sender):
        """Forget a departed client's requests.

        :returns: the links they went through (each once, in order).
        """
        links = []
        for tag, hop in [(t, h) for t, h in self._hops.items()
                         if h.sender == sender]:
            self._forget(tag, hop)
            if not any(link is hop.link for link in links):
                links.append(hop.link)
        return links
