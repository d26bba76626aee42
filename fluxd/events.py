# -*- test-case-name: tests.unit.message.test_events -*-
"""Flux events (RFC 3 events, RFC 6 ``event.*`` methods).

Events are published on rank 0, which stamps each with the next sequence
number and hands it to every broker's subscribers, in order (the overlay
carries them down the tree).  In-process code subscribes with
:meth:`EventService.subscribe`; local clients use the streaming RPC
``event.subscribe`` (one response per matching event; cancel to stop).
Any rank may publish: a follower forwards ``event.publish`` to rank 0.
"""

import json

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.errors import InvalidArgument
from fluxd.message.router import method
from fluxd.message.types import EVENT, FLAG_PRIVATE, ROLE_OWNER, ROLE_USER, Message
from fluxd.module import Module


class Subscription:
    """A live subscription; :meth:`cancel` ends it."""

    def __init__(self, owner, prefix, callback):
        self._owner = owner
        self.prefix = prefix
        self.callback = callback

    def cancel(self):
        """Stop receiving events (idempotent)."""
        if self in self._owner._subs:
            self._owner._subs.remove(self)


class EventService(Module):
    """The ``event`` service of one broker.

    :param rank: this broker's rank.
    :param router: used on followers to forward ``event.publish`` upstream.
    :param forward: ``forward(message)`` sends a sequenced event to the
        children (the overlay sets it); None on a lone broker.
    """

    name = "event"
    log = Logger()

    def __init__(self, rank=0, router=None, forward=None):
        super().__init__(rank)
        self._router = router
        self.forward = forward
        self._subs = []
        self.seq = 0

    # -- in-process API -----------------------------------------------------

    def subscribe(self, prefix, callback):
        """Call ``callback(message)`` for each event whose topic starts with
        ``prefix``.  :returns: a :class:`Subscription`."""
        sub = Subscription(self, prefix, callback)
        self._subs.append(sub)
        return sub

    def publish(self, topic, payload=None, private=False, userid=0):
        """Publish an event.

        :returns: on rank 0, the sequence number (an int); elsewhere a
            Deferred firing with it once rank 0 has sequenced the event.
        """
        if self.rank != 0:
            return self._router.call("event.publish",
                                     {"topic": topic, "payload": payload,
                                      "flags": FLAG_PRIVATE if private else 0},
                                     nodeid=0).addCallback(lambda r: r["seq"])
        self.seq += 1
        message = Message(EVENT, topic, _payload(payload),
                          FLAG_PRIVATE if private else 0, userid=userid,
                          rolemask=ROLE_OWNER, seq=self.seq)
        self.deliver(message)
        return self.seq

    def deliver(self, message):
        """Hand a sequenced event to local subscribers, then to children."""
        self.seq = message.seq
        for sub in list(self._subs):
            if message.topic.startswith(sub.prefix):
                try:
                    sub.callback(message)
                except Exception:
                    self.log.failure("event subscriber for {topic} failed",
                                     topic=message.topic)
        if self.forward is not None:
            self.forward(message)

    # -- RPC ----------------------------------------------------------------

    @method("publish", roles=ROLE_USER)
    def rpc_publish(self, request):
        body = request.json()
        topic, flags = body.get("topic"), body.get("flags", 0)
        if not isinstance(topic, str) or not topic:
            raise InvalidArgument("event.publish: topic must be a non-empty string")
        if not isinstance(flags, int) or flags & ~FLAG_PRIVATE:
            raise InvalidArgument("event.publish: flags may only contain PRIVATE")
        if self.rank != 0:
            # flux clients address rank 0 themselves; ours may ask any
            # broker, which passes the request up with the caller's creds
            return self._router.call(
                "event.publish", body, nodeid=0, rolemask=request.rolemask,
                userid=request.userid)
        seq = self.publish(topic, body.get("payload"),
                           private=bool(flags & FLAG_PRIVATE),
                           userid=request.userid)
        return {"seq": seq}

    @method("subscribe", roles=ROLE_USER, streaming=True)
    def rpc_subscribe(self, request):
        prefix = request.json().get("topic", "")
        if not isinstance(prefix, str):
            raise InvalidArgument("event.subscribe: topic must be a string")
        privileged = request.is_owner

        def send(message):
            if message.flags & FLAG_PRIVATE and not privileged and \
                    message.userid != request.userid:
                return
            request.respond({"topic": message.topic, "seq": message.seq,
                             "payload": _text(message.payload)})
        sub = self.subscribe(prefix, send)
        done = defer.Deferred()
        request.on_cancel(lambda: (sub.cancel(), done.callback(None)))
        return done


def _payload(payload):
    if payload is None or isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def _text(payload):
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")
