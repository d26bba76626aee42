# -*- test-case-name: tests.unit.message.test_router -*-
"""The broker's message router (RFC 3 routing, RFC 6 RPC, RFC 12 roles).

Services register the methods they offer with :func:`method`; the router
checks each request's credentials against the method's allowed roles (in
this one place), enforces the streaming flag, answers ENOSYS for unknown
topics and EHOSTUNREACH for ranks it cannot reach, and keeps track of
streaming requests so that a client's disconnect or cancel ends them.

In-process callers use :meth:`Router.call` (one answer) and
:meth:`Router.stream` (many), which go through the same path as a remote
request with the caller's real credentials (mandatory), so a service
cannot tell the two apart and the role checks stay here.

Events are guarded here too (RFC 12): :meth:`Router.check_event_topic`
refuses a guest an event topic whose first word names a service of the
instance, so that no guest can forge the events services act on.
"""

import errno
import fnmatch
import inspect
import itertools
from dataclasses import dataclass
from typing import NamedTuple

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import FluxError, PermissionDenied, ProtocolError, from_errno
from fluxd.interfaces import IModule, IRouter, IUpstream, provide
from fluxd.message.types import (
    FLAG_NORESPONSE, FLAG_STREAMING, FLAG_UPSTREAM, NODEID_ANY, REQUEST,
    ROLE_OWNER, Message)

#: event topics whose first word a guest may never publish, besides the
#: names of the services registered on the broker (fnmatch patterns)
RESERVED_EVENT_WORDS = (
    "kvs", "kvs-*", "content", "content-*", "job-*", "job", "sched", "sched-*",
    "resource", "overlay", "broker", "heartbeat", "hb", "shutdown", "event",
    "exec", "shell-*", "config", "state-machine", "groups", "log", "attr",
    "module", "admin", "feasibility", "connector-*", "cron", "rexec",
)


class Credential(NamedTuple):
    """Who makes a request (RFC 12): a userid and a rolemask."""

    userid: int
    rolemask: int

    @property
    def is_owner(self):
        """True when the owner role is among the roles."""
        return bool(self.rolemask & ROLE_OWNER)


@dataclass(frozen=True)
class MethodSpec:
    """What a service method accepts.

    :ivar roles: roles allowed besides the owner (``ROLE_USER`` for guests).
    :ivar streaming: the method answers many times (requires FLAG_STREAMING).
    """

    name: str
    roles: int = ROLE_OWNER
    streaming: bool = False


def method(name, roles=ROLE_OWNER, streaming=False):
    """Mark a service method as the handler of ``<service>.<name>``.

    The handler takes a :class:`Request` and returns the response payload
    (a JSON value, bytes, None, a Deferred or a coroutine of one).  A
    streaming handler answers with :meth:`Request.respond` and ends the
    stream by returning (ENODATA is sent) or by raising.
    """
    spec = MethodSpec(name, roles | ROLE_OWNER, streaming)

    def mark(fn):
        fn.flux_method = spec
        return fn
    return mark


#: what a streaming handler returns to keep its stream open until it ends
#: it itself with :meth:`Request.end` (or :meth:`Request.fail`): no
#: Deferred per stream (a scheduler holds one per pending job)
OPEN = object()


def collect_methods(obj):
    """Find the ``@method`` handlers of ``obj``: ``{name: (fn, spec)}``."""
    found = {}
    for attr in dir(type(obj)):
        fn = getattr(type(obj), attr, None)
        spec = getattr(fn, "flux_method", None)
        if spec is not None:
            found[spec.name] = (getattr(obj, attr), spec)
    return found


class Request:
    """One request being served, with the means to answer it.

    Slotted, and holding no closure of its own: a scheduler keeps one per
    pending job (RFC 27 alloc streams stay open while a job waits).
    """

    __slots__ = ("message", "_reply", "spec", "done", "cancelled",
                 "_on_cancel", "_pending")

    def __init__(self, message, reply, spec, pending=None):
        self.message = message
        self._reply = reply
        self.spec = spec
        # the router's open streams, which this one leaves when it ends
        self._pending = pending
        self.done = False
        self.cancelled = False
        # None, one (callback, args) pair, or a list of them
        self._on_cancel = None

    @property
    def userid(self):
        return self.message.userid

    @property
    def rolemask(self):
        return self.message.rolemask

    @property
    def sender(self):
        return self.message.sender

    @property
    def is_owner(self):
        return bool(self.message.rolemask & ROLE_OWNER)

    @property
    def cred(self):
        """The requester's :class:`Credential` (for calls made on its behalf)."""
        return Credential(self.message.userid, self.message.rolemask)

    def json(self):
        """The request payload as a JSON object (raises ProtocolError)."""
        return self.message.json()

    def release_payload(self):
        """The handler has read the payload and will not again: the
        message drops it (bytes and decoded value), so that a request
        kept open for long (a pending job's ``sched.alloc``) does not
        keep it alive.  :meth:`json` answers ``{}`` afterwards."""
        self.message.payload = None

    def respond(self, payload=None):
        """Send one success response (one of many when streaming)."""
        if self.done:
            return
        # built first: a payload that cannot be encoded leaves the
        # request open for the router's EIO answer
        response = self.message.response(payload)
        if not self.spec.streaming:
            self.done = True
            self._on_cancel = None
        self._send(response)

    def fail(self, errnum, errstr=None):
        """Send the error response that ends this request."""
        if self.done:
            return
        self.done = True
        self._leave()
        # nothing can cancel it any more: its handler's callbacks go, so
        # that a handler's record holding its request is no cycle (freed
        # at once, not by a collection long after)
        self._on_cancel = None
        self._send(self.message.response(errnum=errnum, errstr=errstr))

    def end(self):
        """End a stream (ENODATA): for a handler that returned
        :data:`OPEN`."""
        self.fail(errno.ENODATA)

    def _leave(self):
        pending = self._pending
        if pending is not None:
            self._pending = None
            message = self.message
            key = (message.sender, message.matchtag)
            if pending.get(key) is self:
                del pending[key]

    def on_cancel(self, callback, *args):
        """Call ``callback(*args)`` if the client cancels or disconnects
        (pass the arguments rather than a closure: nothing is built per
        request)."""
        entry = (callback, args)
        if self._on_cancel is None:
            self._on_cancel = entry
        elif type(self._on_cancel) is list:
            self._on_cancel.append(entry)
        else:
            self._on_cancel = [self._on_cancel, entry]

    def cancel(self):
        """End the request with ECANCELED and run the cancel callbacks."""
        if self.done:
            return
        callbacks = self._on_cancel
        self.fail(errno.ECANCELED, "Request was canceled")
        self._on_cancel = callbacks
        self.abandon()

    def abandon(self):
        """The client is gone: answer nothing more, run the cancel
        callbacks (once)."""
        self.done = True
        self.cancelled = True
        self._leave()
        callbacks, self._on_cancel = self._on_cancel, None
        if callbacks is None:
            return
        for callback, args in (callbacks if type(callbacks) is list
                               else (callbacks,)):
            callback(*args)

    def _send(self, response):
        if not self.message.flags & FLAG_NORESPONSE:
            self._reply(response)


def _no_reply(response):
    """The reply callback of :meth:`Router.notify`: never called (a
    request flagged NORESPONSE is not answered, see Request._send), and
    nothing to do if it were."""


#: a :class:`Stream` not ended yet
_LIVE = object()


class Stream:
    """The caller's end of an in-process streaming request.

    :ivar done: a Deferred firing with None when the stream ends (ENODATA,
        or ECANCELED after :meth:`cancel`), or failing with the
        :class:`FluxError` of any other error response (made when first
        asked for: a caller that passed ``on_error`` and never looks at
        it costs no Deferred).
    """

    __slots__ = ("_router", "_matchtag", "_topic", "_on_response",
                 "_on_error", "cancelled", "_done", "_ended")

    def __init__(self, router, matchtag, topic, on_response, on_error=None):
        self._router = router
        self._matchtag = matchtag
        self._topic = topic
        self._on_response = on_response
        self._on_error = on_error
        self.cancelled = False
        self._done = None
        # _LIVE, then None (ended) or the Failure it ended with
        self._ended = _LIVE

    @property
    def done(self):
        if self._done is None:
            self._done = defer.Deferred()
            if self._ended is not _LIVE:
                self._fire(self._done, self._ended)
        return self._done

    @staticmethod
    def _fire(d, result):
        if result is None:
            d.callback(None)
        else:
            d.errback(result)

    def cancel(self):
        """Ask the service to end the stream; :attr:`done` then fires None."""
        if self._ended is not _LIVE or self.cancelled:
            return
        self.cancelled = True
        self._router.cancel(self._router._sender, self._matchtag)

    def _end(self, result):
        self._ended = result
        # the consumer's callbacks are done with: dropped, so that a
        # consumer holding its stream is no cycle (freed at once, not by
        # a collection)
        on_error, self._on_error, self._on_response = self._on_error, None, None
        if result is not None and on_error is not None:
            try:
                on_error(result)
            except Exception:
                self._router.log.failure("stream consumer of {topic} failed",
                                         topic=self._topic)
            if self._done is None:
                return
        if self._done is not None:
            self._fire(self._done, result)
        elif result is not None:
            # an error nobody handles yet: the Deferred keeps (and, if
            # never looked at, reports) it
            self._done = defer.Deferred()
            self._fire(self._done, result)

    def _reply(self, response):
        """One response from the service (the router's ``reply``)."""
        if self._ended is not _LIVE:
            return
        if response.errnum == 0:
            try:
                body = response.json()
            except ProtocolError as exc:
                self._end(Failure(exc))
                self._router.cancel(self._router._sender, self._matchtag)
                return
            try:
                self._on_response(body)
            except Exception:
                self._router.log.failure("stream consumer of {topic} failed",
                                         topic=self._topic)
        elif response.errnum == errno.ENODATA or (
                self.cancelled and response.errnum == errno.ECANCELED):
            self._end(None)
        else:
            self._end(Failure(from_errno(response.errnum, response.errstr)))


@implementer(IRouter)
class Router:
    """Topic -> service dispatch for one broker.

    :param rank: this broker's rank.
    :param clock: IReactorTime (last-activity times for ``flux module list``).
    :param owner: the instance owner's userid: :attr:`instance_cred`, the
        credential of calls a service makes on the instance's own behalf.

    Requests this broker cannot serve go to the attached
    :class:`fluxd.interfaces.IUpstream` (the overlay); on a lone broker
    they get ENOSYS or EHOSTUNREACH.
    """

    log = Logger()

    def __init__(self, rank=0, clock=None, owner=0):
        self.rank = rank
        self._clock = clock
        self._upstream = None
        self.instance_cred = Credential(owner, ROLE_OWNER)
        self.started = clock.seconds() if clock is not None else 0.0
        self._activity = {}
        self._modules = {}
        self._methods = {}
        self._pending = {}
        self._sender = f"router-{rank}"
        self._matchtags = itertools.count(1)

    # -- registration ------------------------------------------------------

    def attach_upstream(self, upstream):
        """Send what this broker cannot serve to ``upstream``, an
        :class:`IUpstream` (the overlay): requests for other ranks or
        services, cancels and disconnects of remote streams.

        :raises fluxd.errors.FluxError: EEXIST when one is attached already.
        """
        if self._upstream is not None:
            raise FluxError("the router already has an upstream",
                            errnum=errno.EEXIST)
        self._upstream = provide(IUpstream, upstream)

    def add_module(self, module):
        module = IModule(module)
        if module.name in self._modules:
            raise FluxError(f"service {module.name} is already registered",
                            errnum=errno.EEXIST)
        self._modules[module.name] = module
        for name, (fn, spec) in module.flux_methods().items():
            self._methods[f"{module.name}.{name}"] = (fn, spec)

    def remove_module(self, name):
        self._modules.pop(name, None)
        for topic in [t for t in self._methods if t.split(".", 1)[0] == name]:
            del self._methods[topic]

    def modules(self):
        return list(self._modules.values())

    def last_activity(self, name):
        """When service ``name`` last received a request (clock seconds)."""
        return self._activity.get(name)

    def has_service(self, name):
        """True when a service of that name is registered here."""
        return name in self._modules

    # -- delivery ----------------------------------------------------------

    def deliver(self, message, reply):
        if message.type != REQUEST:
            self.log.warn("dropped a non-request {topic}", topic=message.topic)
            return
        local = message.nodeid in (NODEID_ANY, self.rank) and not (
            message.flags & FLAG_UPSTREAM and message.nodeid == self.rank)
        entry = self._methods.get(message.topic) if local else None
        if entry is None:
            if self._upstream is not None and (
                    message.nodeid != self.rank or message.flags & FLAG_UPSTREAM):
                self._upstream.forward(message, reply)
                return
            if message.nodeid not in (NODEID_ANY, self.rank):
                self._error(message, reply, errno.EHOSTUNREACH)
            else:
                self._error(message, reply, errno.ENOSYS)
            return
        fn, spec = entry
        if self._clock is not None:
            self._activity[message.service] = self._clock.seconds()
        if not message.rolemask & spec.roles:
            text = ("Request requires owner credentials"
                    if spec.roles == ROLE_OWNER
                    else "Request rejected due to insufficient privilege")
            self._error(message, reply, errno.EPERM, text)
            return
        if spec.streaming and not message.flags & FLAG_STREAMING:
            self._error(message, reply, errno.EPROTO,
                        f"{message.topic} requires the streaming flag")
            return
        if spec.streaming:
            request = Request(message, reply, spec, self._pending)
            self._pending[(message.sender, message.matchtag)] = request
        else:
            request = Request(message, reply, spec)
        # maybeDeferred's work without its Deferred chain: one callback
        # on a handler's Deferred (a streaming one lives as long as its
        # stream), none for a synchronous answer
        try:
            result = fn(request)
        except Exception:
            self._settle(Failure(), request)
            return
        if result is OPEN and spec.streaming:
            return
        if inspect.iscoroutine(result):
            result = defer.Deferred.fromCoroutine(result)
        if isinstance(result, defer.Deferred):
            result.addBoth(self._settle, request)
        else:
            self._settle(result, request)

    def _settle(self, result, request):
        """The handler is done: answer (or end the stream, which forgets
        it)."""
        try:
            if isinstance(result, Failure):
                self._failed(result, request)
            elif request.spec.streaming:
                request.end()
            else:
                request.respond(result)
        except Exception:
            self.log.failure("{topic}: answering failed",
                             topic=request.message.topic)
            request.fail(errno.EIO,
                         f"internal error in {request.message.topic}")
        # an answer that raised, or a stream already ended: gone anyway
        request._leave()
        return None

    def _failed(self, failure, request):
        if failure.check(FluxError):
            exc = failure.value
            request.fail(exc.errno, str(exc))
        elif failure.check(defer.CancelledError):
            request.cancel()
        else:
            self.log.failure("{topic} handler failed", failure,
                             topic=request.message.topic)
            request.fail(errno.EIO, f"internal error in {request.message.topic}")

    def _error(self, message, reply, errnum, errstr=None):
        if not message.flags & FLAG_NORESPONSE:
            reply(message.response(errnum=errnum, errstr=errstr))

    # -- events -------------------------------------------------------------

    def check_event_topic(self, topic, cred):
        """Refuse a guest an event topic that names a service (RFC 12).

        Services act on the events of their own topics (``kvs.*``,
        ``job-*``...), trusting them to come from the instance: a guest
        may publish only topics whose first word is neither a service
        registered here nor one of :data:`RESERVED_EVENT_WORDS`.

        :raises fluxd.errors.PermissionDenied: naming the topic.
        """
        if cred.rolemask & ROLE_OWNER:
            return
        word = topic.split(".", 1)[0]
        names = set(self._modules)
        for module in self._modules.values():
            names.update(getattr(module, "extra_services", ()))
        if word in names or any(fnmatch.fnmatchcase(word, pattern)
                                for pattern in RESERVED_EVENT_WORDS):
            raise PermissionDenied(
                f"event topic '{topic}' is reserved for the instance:"
                " guests may not publish it")

    # -- client bookkeeping -------------------------------------------------

    def disconnect(self, sender):
        if self._upstream is not None:
            self._upstream.forward_disconnect(sender)
        for key in [k for k in self._pending if k[0] == sender]:
            self._pending.pop(key).abandon()
        for module in list(self._modules.values()):
            try:
                module.disconnect(sender)
            except Exception:
                self.log.failure("{name}.disconnect failed", name=module.name)

    def cancel(self, sender, matchtag):
        request = self._pending.pop((sender, matchtag), None)
        if request is not None:
            request.cancel()
        elif self._upstream is not None:
            self._upstream.forward_cancel(sender, matchtag)

    # -- in-process RPC -----------------------------------------------------

    def _request(self, topic, payload, cred, nodeid, flags=0, matchtag=0):
        message = Message.request(topic, payload,
                                  NODEID_ANY if nodeid is None else nodeid,
                                  flags=flags, matchtag=matchtag)
        message.userid, message.rolemask = cred
        message.route = [self._sender]
        return message

    def call(self, topic, payload=None, *, cred, nodeid=None, raw=False):
        """An RPC from inside the broker, through the same checks as a
        remote one.

        :param cred: the :class:`Credential` of whoever the call is made
            for: ``request.cred`` when acting for a client,
            :attr:`instance_cred` when acting for the instance.
        :param raw: answer the response payload as bytes (``b""`` when
            empty) rather than decoded JSON: content blobs are not JSON.
        :returns: a Deferred firing with the decoded JSON response (or the
            bytes), or failing with the :class:`FluxError` of an error
            response.
        """
        cred = Credential(*cred)
        # a matchtag of its own: the overlay tells answers apart by route
        # and matchtag, and every in-process call has the same route
        message = self._request(topic, payload, cred, nodeid,
                                matchtag=next(self._matchtags))
        d = defer.Deferred()

        def reply(response):
            if d.called:
                return
            if response.errnum:
                d.errback(from_errno(response.errnum, response.errstr))
            elif raw:
                d.callback(response.payload or b"")
            else:
                try:
                    d.callback(response.json())
                except ProtocolError as exc:
                    d.errback(exc)
        self.deliver(message, reply)
        return d

    def notify(self, topic, payload=None, *, cred, nodeid=None):
        """A request from inside the broker that wants no answer (RFC 6
        ``FLUX_MSGFLAG_NORESPONSE``): neither a response nor an error
        comes back, and none crosses the overlay.  For a message whose
        loss the caller would ignore anyway.

        :param cred: as for :meth:`call`.
        """
        message = self._request(topic, payload, Credential(*cred), nodeid,
                                flags=FLAG_NORESPONSE)
        self.deliver(message, _no_reply)

    def stream(self, topic, payload=None, *, cred, on_response, nodeid=None,
               on_error=None):
        """A streaming RPC from inside the broker (RFC 6 streaming flag).

        :param cred: as for :meth:`call`.
        :param on_response: called with each decoded response payload.
        :param on_error: called with the Failure of an error end instead of
            failing ``done`` (unless ``done`` was asked for): a caller
            keeping many streams open needs no Deferred a stream.
        :returns: a :class:`Stream`: its ``done`` fires at the end of the
            stream, its ``cancel()`` ends it early (locally or across the
            overlay, as a client's cancel would).
        """
        cred = Credential(*cred)
        matchtag = next(self._matchtags)
        message = self._request(topic, payload, cred, nodeid,
                                flags=FLAG_STREAMING, matchtag=matchtag)
        stream = Stream(self, matchtag, topic, on_response, on_error)
        self.deliver(message, stream._reply)
        return stream
