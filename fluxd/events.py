# -*- test-case-name: tests.unit.message.test_events -*-
"""Flux events (RFC 3 events, RFC 6 ``event.*`` methods).

Events are published on rank 0, which stamps each with the next sequence
number and hands it to every broker's subscribers, in order (the overlay
carries them down the tree).  In-process code subscribes with
:meth:`EventService.subscribe`; local clients use the streaming RPC
``event.subscribe`` (one response per matching event; cancel to stop).
Any rank may publish: a follower forwards ``event.publish`` to rank 0.

Credentials (RFC 12): an event carries its publisher's real userid and
rolemask from the publisher to every subscriber on every rank.  A
service's subscription takes only the owner's events unless it says
otherwise (``roles``), so an event a guest published is never acted on by
a service that trusts its topic; and the router refuses a guest any topic
whose first word names a service
(:meth:`fluxd.message.router.Router.check_event_topic`).
"""

import json

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import InvalidArgument
from fluxd.interfaces import IEvents, IRouter, provide
from fluxd.message.router import Credential, method
from fluxd.message.types import (
    EVENT, FLAG_PRIVATE, ROLE_ALL, ROLE_OWNER, ROLE_USER, Message,
    encode_payload)
from fluxd.module import Module


class Subscription:
    """A live subscription; :meth:`cancel` ends it.

    :ivar prefix: the topic prefix it matches.
    :ivar roles: the publisher roles it accepts (a rolemask).
    """

    def __init__(self, owner, prefix, callback, roles):
        self._owner = owner
        self.prefix = prefix
        self.callback = callback
        self.roles = roles

    def cancel(self):
        """Stop receiving events (idempotent)."""
        if self in self._owner._subs:
            self._owner._subs.remove(self)


@implementer(IEvents)
class EventService(Module):
    """The ``event`` service of one broker.

    :param rank: this broker's rank.
    :param router: the broker's :class:`IRouter` (followers forward
        ``event.publish`` through it; guests' topics are checked by it).
    """

    name = "event"
    log = Logger()

    def __init__(self, rank, router):
        super().__init__(rank)
        self._router = provide(IRouter, router)
        self._forwarders = []
        self._subs = []
        self.seq = 0

    # -- in-process API -----------------------------------------------------

    def subscribe(self, prefix, callback, roles=ROLE_OWNER):
        """Call ``callback(message)`` for each event whose topic starts with
        ``prefix`` and whose publisher has one of ``roles``.

        :param roles: publisher roles accepted; the owner's alone by
            default, so that a guest's event never reaches a service.
        :returns: a :class:`Subscription`.
        """
        sub = Subscription(self, prefix, callback, roles)
        self._subs.append(sub)
        return sub

    def subscriptions(self):
        """The live :class:`Subscription` objects, oldest first."""
        return list(self._subs)

    def add_forwarder(self, forward):
        """Hand every sequenced event to ``forward(message)`` too, after
        the local subscribers (the overlay passes them to the children)."""
        self._forwarders.append(forward)

    def publish(self, topic, payload=None, *, cred, private=False):
        """Publish an event stamped with the publisher's credential.

        :param cred: the :class:`~fluxd.message.router.Credential` of the
            publisher (``router.instance_cred`` for the instance itself).
        :returns: on rank 0, the sequence number (an int); elsewhere a
            Deferred firing with it once rank 0 has sequenced the event.
        """
        cred = Credential(*cred)
        flags = FLAG_PRIVATE if private else 0
        if self.rank != 0:
            return self._router.call(
                "event.publish",
                {"topic": topic, "payload": payload, "flags": flags},
                cred=cred, nodeid=0).addCallback(lambda r: r["seq"])
        self.seq += 1
        message = Message(EVENT, topic, encode_payload(payload), flags,
                          userid=cred.userid, rolemask=cred.rolemask,
                          seq=self.seq)
        self.deliver(message)
        return self.seq

    def deliver(self, message):
        """Hand a sequenced event to local subscribers, then to forwarders."""
        self.seq = message.seq
        for sub in list(self._subs):
            if message.topic.startswith(sub.prefix) and \
                    message.rolemask & sub.roles:
                try:
                    sub.callback(message)
                except Exception:
                    self.log.failure("event subscriber for {topic} failed",
                                     topic=message.topic)
        for forward in self._forwarders:
            forward(message)

    # -- RPC ----------------------------------------------------------------

    @method("publish", roles=ROLE_USER)
    def rpc_publish(self, request):
        body = request.json()
        topic, flags = body.get("topic"), body.get("flags", 0)
        if not isinstance(topic, str) or not topic:
            raise InvalidArgument("event.publish: topic must be a non-empty string")
        if not isinstance(flags, int) or flags & ~FLAG_PRIVATE:
            raise InvalidArgument("event.publish: flags may only contain PRIVATE")
        self._router.check_event_topic(topic, request.cred)
        if self.rank != 0:
            # flux clients address rank 0 themselves; ours may ask any
            # broker, which passes the request up with the caller's creds
            return self._router.call("event.publish", body, nodeid=0,
                                     cred=request.cred)
        seq = self.publish(topic, body.get("payload"), cred=request.cred,
                           private=bool(flags & FLAG_PRIVATE))
        return {"seq": seq}

    @method("subscribe", roles=ROLE_USER, streaming=True)
    def rpc_subscribe(self, request):
        """Stream events to a client: every publisher's, since a client
        acts on nothing by itself; private events only to their
        publisher and the owner."""
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
        sub = self.subscribe(prefix, send, roles=ROLE_ALL)
        done = defer.Deferred()
        request.on_cancel(lambda: (sub.cancel(), done.callback(None)))
        return done


def _text(payload):
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")
