# -*- test-case-name: tests.unit.message.test_router -*-
"""The broker's message router (RFC 3 routing, RFC 6 RPC, RFC 12 roles).

Services register the methods they offer with :func:`method`; the router
checks each request's credentials against the method's allowed roles (in
this one place), enforces the streaming flag, answers ENOSYS for unknown
topics and EHOSTUNREACH for ranks it cannot reach, and keeps track of
streaming requests so that a client's disconnect or cancel ends them.

In-process callers use :meth:`Router.call`, which goes through the same
path as a remote request, so a service cannot tell the two apart.
"""

import errno
import inspect
from dataclasses import dataclass

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import FluxError, ProtocolError, from_errno
from fluxd.interfaces import IModule, IRouter
from fluxd.message.types import (
    FLAG_NORESPONSE, FLAG_STREAMING, FLAG_UPSTREAM, NODEID_ANY, REQUEST,
    ROLE_OWNER, Message)


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
    """One request being served, with the means to answer it."""

    def __init__(self, message, reply, spec):
        self.message = message
        self._reply = reply
        self.spec = spec
        self.done = False
        self.cancelled = False
        self._on_cancel = []

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

    def json(self):
        """The request payload as a JSON object (raises ProtocolError)."""
        return self.message.json()

    def respond(self, payload=None):
        """Send one success response (one of many when streaming)."""
        if self.done:
            return
        if not self.spec.streaming:
            self.done = True
        self._send(self.message.response(payload))

    def fail(self, errnum, errstr=None):
        """Send the error response that ends this request."""
        if self.done:
            return
        self.done = True
        self._send(self.message.response(errnum=errnum, errstr=errstr))

    def on_cancel(self, callback):
        """Call ``callback()`` if the client cancels or disconnects."""
        self._on_cancel.append(callback)

    def cancel(self):
        """End the request with ECANCELED and run the cancel callbacks."""
        if self.done:
            return
        self.fail(errno.ECANCELED, "Request was canceled")
        self.abandon()

    def abandon(self):
        """The client is gone: answer nothing more, run the cancel callbacks."""
        self.done = True
        self.cancelled = True
        for callback in self._on_cancel:
            callback()

    def _send(self, response):
        if not self.message.flags & FLAG_NORESPONSE:
            self._reply(response)


@implementer(IRouter)
class Router:
    """Topic -> service dispatch for one broker.

    :param rank: this broker's rank.
    :param upstream: optional callable ``(message, reply)`` that forwards a
        request this broker cannot serve (the overlay); None on a lone
        broker, where such requests get ENOSYS or EHOSTUNREACH.
    """

    log = Logger()

    def __init__(self, rank=0, upstream=None, clock=None):
        self.rank = rank
        self.upstream = upstream
        self._clock = clock
        #: set by the overlay: pass cancels/disconnects to other brokers
        self.remote_cancel = None
        self.remote_disconnect = None
        self.started = clock.seconds() if clock is not None else 0.0
        self._activity = {}
        self._modules = {}
        self._methods = {}
        self._pending = {}

    # -- registration ------------------------------------------------------

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
            if self.upstream is not None and (
                    message.nodeid != self.rank or message.flags & FLAG_UPSTREAM):
                self.upstream(message, reply)
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
        request = Request(message, reply, spec)
        key = (message.sender, message.matchtag)
        if spec.streaming:
            self._pending[key] = request
        d = defer.maybeDeferred(fn, request)
        d.addCallback(_await_coroutine)
        d.addCallbacks(self._finished, self._failed,
                       callbackArgs=(request,), errbackArgs=(request,))
        d.addBoth(self._forget, key, request)

    def _finished(self, result, request):
        if request.spec.streaming:
            request.fail(errno.ENODATA)
        else:
            request.respond(result)

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

    def _forget(self, _, key, request):
        if self._pending.get(key) is request:
            del self._pending[key]

    def _error(self, message, reply, errnum, errstr=None):
        if not message.flags & FLAG_NORESPONSE:
            reply(message.response(errnum=errnum, errstr=errstr))

    # -- client bookkeeping -------------------------------------------------

    def disconnect(self, sender):
        if self.remote_disconnect is not None:
            self.remote_disconnect(sender)
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
        elif self.remote_cancel is not None:
            self.remote_cancel(sender, matchtag)

    # -- in-process RPC -----------------------------------------------------

    def call(self, topic, payload=None, nodeid=None, rolemask=ROLE_OWNER,
             userid=None):
        """An RPC from inside the broker, through the same checks.

        :returns: a Deferred firing with the decoded JSON response, or
            failing with the :class:`FluxError` of an error response.
        """
        message = Message.request(topic, payload,
                                  NODEID_ANY if nodeid is None else nodeid)
        message.rolemask = rolemask
        message.userid = userid if userid is not None else 0
        d = defer.Deferred()

        def reply(response):
            if d.called:
                return
            if response.errnum:
                d.errback(from_errno(response.errnum, response.errstr))
            else:
                try:
                    d.callback(response.json())
                except ProtocolError as exc:
                    d.errback(exc)
        self.deliver(message, reply)
        return d


def _await_coroutine(result):
    if inspect.iscoroutine(result):
        return defer.Deferred.fromCoroutine(result)
    return result
