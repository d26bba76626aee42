"""Tests for fluxd.message.router: dispatch, roles, streaming, cancel."""

import errno
import gc
import weakref

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from zope.interface import implementer
from zope.interface.exceptions import Invalid

from fluxd.errors import FluxError, InvalidArgument, PermissionDenied
from fluxd.interfaces import IUpstream
from fluxd.message import router as router_module
from fluxd.message.router import OPEN, Credential, Router, method
from fluxd.message.types import (
    FLAG_NORESPONSE, FLAG_STREAMING, FLAG_UPSTREAM, ROLE_OWNER, ROLE_USER,
    Message)
from fluxd.module import Module


@implementer(IUpstream)
class Upstream:
    """Records what a router sends upstream."""

    def __init__(self):
        self.forwarded, self.cancels, self.disconnects = [], [], []

    def forward(self, message, reply):
        self.forwarded.append((message, reply))

    def forward_cancel(self, sender, matchtag):
        self.cancels.append((sender, matchtag))

    def forward_disconnect(self, sender):
        self.disconnects.append(sender)


class Echo(Module):
    name = "echo"

    def __init__(self):
        super().__init__(rank=0)
        self.streams = []
        self.gone = []

    @method("owner")
    def owner_only(self, request):
        return {"ok": True}

    @method("any", roles=ROLE_USER)
    def any_user(self, request):
        return {"you": request.userid}

    @method("fail", roles=ROLE_USER)
    def fail(self, request):
        raise InvalidArgument("bad thing")

    @method("note", roles=ROLE_USER)
    def note(self, request):
        self.noted(request)
        return {"unwanted": True}

    @method("bug", roles=ROLE_USER)
    def bug(self, request):
        return 1 / 0

    @method("unencodable", roles=ROLE_USER)
    def unencodable(self, request):
        return [object()]

    @method("keep", roles=ROLE_USER, streaming=True)
    def keep(self, request):
        """Reads its payload once, then keeps the request open."""
        d = defer.Deferred()
        self.kept = request.json()
        request.release_payload()
        request.on_cancel(self.gone.append, request)
        request.on_cancel(d.callback, None)
        self.streams.append((request, d))
        return d

    @method("open", roles=ROLE_USER, streaming=True)
    def open_stream(self, request):
        """Ends its stream itself, later."""
        self.streams.append((request, None))
        request.on_cancel(self.gone.append, "cancelled")
        return OPEN

    @method("later", roles=ROLE_USER)
    async def later(self, request):
        value = await self.pending
        return {"value": value}

    @method("watch", roles=ROLE_USER, streaming=True)
    def watch(self, request):
        d = defer.Deferred()
        self.streams.append((request, d))
        request.on_cancel(lambda: d.callback(None))
        return d

    def disconnect(self, sender):
        self.gone.append(sender)


def request(topic, payload=None, rolemask=ROLE_OWNER, userid=1000, flags=0,
            nodeid=None, sender="client1", matchtag=1):
    msg = Message.request(topic, payload, flags=flags, matchtag=matchtag,
                          **({} if nodeid is None else {"nodeid": nodeid}))
    msg.rolemask = rolemask
    msg.userid = userid
    msg.route = [sender]
    return msg


class RouterTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.router = Router(rank=0, clock=self.clock)
        self.echo = Echo()
        self.router.add_module(self.echo)
        self.replies = []

    def deliver(self, msg):
        self.router.deliver(msg, self.replies.append)
        return self.replies

    def test_owner_method(self):
        [resp] = self.deliver(request("echo.owner"))
        self.assertEqual(resp.errnum, 0)
        self.assertEqual(resp.json(), {"ok": True})
        self.assertEqual(resp.matchtag, 1)
        self.assertEqual(resp.route, ["client1"])

    def test_guest_refused_owner_method(self):
        [resp] = self.deliver(request("echo.owner", rolemask=ROLE_USER))
        self.assertEqual(resp.errnum, errno.EPERM)
        self.assertEqual(resp.errstr, "Request requires owner credentials")

    def test_guest_allowed_user_method(self):
        [resp] = self.deliver(request("echo.any", rolemask=ROLE_USER, userid=42))
        self.assertEqual(resp.json(), {"you": 42})

    def test_unknown_topic_enosys(self):
        [resp] = self.deliver(request("nope.method"))
        self.assertEqual(resp.errnum, errno.ENOSYS)
        [_, resp] = self.deliver(request("echo.nomethod"))
        self.assertEqual(resp.errnum, errno.ENOSYS)

    def test_other_rank_unreachable(self):
        [resp] = self.deliver(request("echo.any", nodeid=3))
        self.assertEqual(resp.errnum, errno.EHOSTUNREACH)

    def test_upstream_flag_skips_local_service(self):
        [resp] = self.deliver(request("echo.any", nodeid=0, flags=FLAG_UPSTREAM))
        self.assertEqual(resp.errnum, errno.ENOSYS)

    def test_upstream_forwarder_gets_unserved(self):
        up = Upstream()
        self.router.attach_upstream(up)
        self.deliver(request("kvs.lookup"))
        self.assertEqual([m.topic for m, _ in up.forwarded], ["kvs.lookup"])
        self.assertEqual(self.replies, [])
        self.router.cancel("client1", 77)
        self.router.disconnect("client9")
        self.assertEqual(up.cancels, [("client1", 77)])
        self.assertEqual(up.disconnects, ["client9"])

    def test_one_upstream_only(self):
        self.router.attach_upstream(Upstream())
        self.assertRaises(FluxError, self.router.attach_upstream, Upstream())

    def test_upstream_must_provide_the_interface(self):
        self.assertRaises(Invalid, self.router.attach_upstream, object())

    def test_flux_error_becomes_error_response(self):
        [resp] = self.deliver(request("echo.fail"))
        self.assertEqual((resp.errnum, resp.errstr), (errno.EINVAL, "bad thing"))

    def test_bug_becomes_eio_and_is_logged(self):
        [resp] = self.deliver(request("echo.bug"))
        self.assertEqual(resp.errnum, errno.EIO)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_unencodable_answer_becomes_eio_and_is_logged(self):
        [resp] = self.deliver(request("echo.unencodable"))
        self.assertEqual(resp.errnum, errno.EIO)
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

    def test_released_payload_is_gone_and_answers_still_work(self):
        self.deliver(request("echo.keep", {"jobspec": {"big": 1}},
                             flags=FLAG_STREAMING, matchtag=4))
        req, d = self.echo.streams[0]
        self.assertEqual(self.echo.kept, {"jobspec": {"big": 1}})
        # an open stream no longer holds what its handler parsed
        self.assertIsNone(req.message.payload)
        self.assertEqual(req.json(), {})
        req.respond({"n": 1})
        self.assertEqual(self.replies[0].json(), {"n": 1})
        self.assertEqual(self.replies[0].matchtag, 4)

    def test_cancel_callbacks_get_their_arguments_once(self):
        self.deliver(request("echo.keep", flags=FLAG_STREAMING, matchtag=5))
        req, d = self.echo.streams[0]
        self.router.cancel("client1", 5)
        self.assertEqual(self.echo.gone, [req])
        self.assertIsNone(self.successResultOf(d))
        req.abandon()
        self.assertEqual(self.echo.gone, [req])
        self.assertEqual([r.errnum for r in self.replies], [errno.ECANCELED])

    def test_ended_stream_is_forgotten(self):
        self.deliver(request("echo.watch", flags=FLAG_STREAMING, matchtag=6))
        req, d = self.echo.streams[0]
        d.callback(None)
        self.assertEqual([r.errnum for r in self.replies], [errno.ENODATA])
        # a later cancel of that matchtag reaches no one
        self.router.cancel("client1", 6)
        self.assertFalse(req.cancelled)
        self.assertEqual(len(self.replies), 1)

    def test_open_stream_ends_when_its_handler_says(self):
        self.deliver(request("echo.open", flags=FLAG_STREAMING, matchtag=7))
        req, _ = self.echo.streams[0]
        req.respond({"n": 1})
        self.assertEqual([r.errnum for r in self.replies], [0])
        req.end()
        self.assertEqual([r.errnum for r in self.replies], [0, errno.ENODATA])
        # ended: forgotten (no cancel callback, nothing more sent)
        self.router.cancel("client1", 7)
        self.router.disconnect("client1")
        self.assertEqual(self.echo.gone, ["client1"])
        self.assertEqual(len(self.replies), 2)

    def test_open_stream_cancelled_and_in_process(self):
        got = []
        stream = self.router.stream("echo.open", cred=self.router.instance_cred,
                                    on_response=got.append)
        req, _ = self.echo.streams[0]
        req.respond({"n": 1})
        stream.cancel()
        self.assertEqual(self.echo.gone, ["cancelled"])
        self.assertIsNone(self.successResultOf(stream.done))
        self.assertEqual(got, [{"n": 1}])
        other = self.router.stream("echo.open", cred=self.router.instance_cred,
                                   on_response=got.append)
        self.echo.streams[1][0].fail(errno.EAGAIN, "try later")
        self.assertEqual(self.failureResultOf(other.done).value.errno,
                         errno.EAGAIN)
        self.assertEqual(self.router._pending, {})

    def test_stream_on_error_instead_of_done(self):
        errors, got = [], []
        stream = self.router.stream("echo.open", cred=self.router.instance_cred,
                                    on_response=got.append,
                                    on_error=errors.append)
        req, _ = self.echo.streams[0]
        req.respond({"n": 1})
        req.fail(errno.EAGAIN, "try later")
        self.assertEqual(got, [{"n": 1}])
        [failure] = errors
        self.assertEqual((failure.value.errno, str(failure.value)),
                         (errno.EAGAIN, "try later"))
        # done, asked for afterwards, tells the same end
        self.assertEqual(self.failureResultOf(stream.done).value.errno,
                         errno.EAGAIN)
        # a clean end does not call on_error
        ok = self.router.stream("echo.open", cred=self.router.instance_cred,
                                on_response=got.append, on_error=errors.append)
        self.echo.streams[1][0].end()
        self.assertEqual(len(errors), 1)
        self.assertIsNone(self.successResultOf(ok.done))

    def test_coroutine_handler(self):
        self.echo.pending = defer.Deferred()
        self.deliver(request("echo.later"))
        self.assertEqual(self.replies, [])
        self.echo.pending.callback(7)
        self.assertEqual(self.replies[0].json(), {"value": 7})

    def test_noresponse(self):
        self.deliver(request("echo.fail", flags=FLAG_NORESPONSE))
        self.deliver(request("nope.x", flags=FLAG_NORESPONSE))
        self.assertEqual(self.replies, [])

    def test_streaming_requires_flag(self):
        [resp] = self.deliver(request("echo.watch"))
        self.assertEqual(resp.errnum, errno.EPROTO)

    def test_stream_responses_then_enodata(self):
        self.deliver(request("echo.watch", flags=FLAG_STREAMING))
        req, d = self.echo.streams[0]
        req.respond({"n": 1})
        req.respond({"n": 2})
        d.callback(None)
        self.assertEqual([r.errnum for r in self.replies], [0, 0, errno.ENODATA])
        self.assertEqual([r.json() for r in self.replies[:2]], [{"n": 1}, {"n": 2}])

    def test_cancel_ends_stream_with_ecanceled(self):
        self.deliver(request("echo.watch", flags=FLAG_STREAMING, matchtag=9))
        self.router.cancel("client1", 9)
        self.assertEqual([r.errnum for r in self.replies], [errno.ECANCELED])

    def test_disconnect_cancels_streams_and_tells_modules(self):
        self.deliver(request("echo.watch", flags=FLAG_STREAMING, sender="c2"))
        req, d = self.echo.streams[0]
        self.router.disconnect("c2")
        self.assertTrue(d.called)
        self.assertTrue(req.cancelled)
        self.assertEqual(self.echo.gone, ["c2"])
        self.assertEqual(self.replies, [])

    def test_generic_ping(self):
        [resp] = self.deliver(request("echo.ping", {"pad": "xx"},
                                      rolemask=ROLE_USER, userid=5))
        body = resp.json()
        self.assertEqual(body["pad"], "xx")
        self.assertEqual(body["userid"], 5)
        self.assertEqual(body["route"], "CLIENT1!" + self.echo.uuid[:8].upper())

    def test_call_in_process(self):
        result = self.successResultOf(self.router.call(
            "echo.any", cred=Credential(3, ROLE_USER)))
        self.assertEqual(result, {"you": 3})
        failure = self.failureResultOf(self.router.call(
            "echo.owner", cred=Credential(3, ROLE_USER)), PermissionDenied)
        self.assertIn("owner", str(failure.value))
        self.failureResultOf(self.router.call(
            "nope.x", cred=self.router.instance_cred))

    def test_notify_runs_the_handler_and_answers_nothing(self):
        answered = []
        self.patch(router_module, "_no_reply", answered.append)
        seen = []
        self.echo.noted = lambda request: seen.append(request.json())
        self.router.notify("echo.note", {"n": 1},
                           cred=Credential(3, ROLE_USER))
        self.assertEqual(seen, [{"n": 1}])
        # errors are not answered either: a handler that fails, a
        # method refused, a service that does not exist
        self.router.notify("echo.fail", cred=Credential(3, ROLE_USER))
        self.router.notify("echo.owner", cred=Credential(3, ROLE_USER))
        self.router.notify("nope.x", cred=self.router.instance_cred)
        self.assertEqual(answered, [])

    def test_notify_goes_upstream_flagged(self):
        up = Upstream()
        router = Router(rank=1)
        router.attach_upstream(up)
        router.notify("echo.any", {"n": 2}, cred=router.instance_cred,
                      nodeid=0)
        [(message, _)] = up.forwarded
        self.assertTrue(message.flags & FLAG_NORESPONSE)
        self.assertEqual((message.nodeid, message.json()), (0, {"n": 2}))

    def test_call_requires_a_credential(self):
        self.assertRaises(TypeError, self.router.call, "echo.any")
        self.assertRaises(TypeError, self.router.stream, "echo.watch",
                          on_response=print)

    def test_instance_credential_is_the_owner(self):
        router = Router(owner=1234)
        self.assertEqual(router.instance_cred, (1234, ROLE_OWNER))
        self.assertTrue(router.instance_cred.is_owner)

    def test_stream_in_process(self):
        got = []
        stream = self.router.stream("echo.watch", {"x": 1},
                                    cred=Credential(5, ROLE_USER),
                                    on_response=got.append)
        req, d = self.echo.streams[0]
        self.assertEqual((req.userid, req.rolemask), (5, ROLE_USER))
        req.respond({"n": 1})
        req.respond({"n": 2})
        self.assertNoResult(stream.done)
        d.callback(None)
        self.assertIsNone(self.successResultOf(stream.done))
        self.assertEqual(got, [{"n": 1}, {"n": 2}])

    def test_an_ended_stream_lets_its_consumer_go(self):
        # a consumer holding its stream, the stream holding the
        # consumer's callback: once ended, no cycle is left for the
        # collector (reference counting frees the consumer)
        class Consumer:
            def __init__(self, router):
                self.got = []
                self.stream = router.stream(
                    "echo.watch", cred=router.instance_cred,
                    on_response=self.got.append, on_error=self.failed)

            def failed(self, failure):
                pass

        consumer = Consumer(self.router)
        req, d = self.echo.streams[0]
        req.respond({"n": 1})
        self.assertEqual(consumer.got, [{"n": 1}])
        d.callback(None)
        self.echo.streams[:] = []
        probe = weakref.ref(consumer)
        gc.disable()
        self.addCleanup(gc.enable)
        del consumer, req, d
        self.assertIsNone(probe())

    def test_an_ended_request_lets_its_handler_record_go(self):
        # a service's record holding its request, the request holding the
        # record's cancel callback (a pending job's alloc, a job's exec
        # stream): once the request has ended, reference counting frees
        # the record; a cancel before that still runs the callback
        class Record:
            cancelled = False

            def __init__(self, request):
                self.request = request
                request.on_cancel(self.abandoned)

            def abandoned(self):
                self.cancelled = True

        self.router.stream("echo.watch", cred=self.router.instance_cred,
                           on_response=list)
        req, d = self.echo.streams.pop()
        record = Record(req)
        req.respond({"n": 1})
        req.end()
        probe = weakref.ref(record)
        gc.disable()
        self.addCleanup(gc.enable)
        del record, req, d
        self.assertIsNone(probe())
        gc.enable()
        stream = self.router.stream("echo.watch",
                                    cred=self.router.instance_cred,
                                    on_response=list)
        req, _ = self.echo.streams.pop()
        record = Record(req)
        stream.cancel()
        self.assertTrue(record.cancelled)

    def test_stream_cancel_ends_cleanly(self):
        got = []
        stream = self.router.stream("echo.watch", cred=self.router.instance_cred,
                                    on_response=got.append)
        req, _ = self.echo.streams[0]
        stream.cancel()
        self.assertTrue(req.cancelled)
        self.assertIsNone(self.successResultOf(stream.done))

    def test_stream_error_fails_done(self):
        stream = self.router.stream("echo.owner", cred=Credential(5, ROLE_USER),
                                    on_response=list)
        f = self.failureResultOf(stream.done)
        self.assertEqual(f.value.errno, errno.EPERM)
        other = self.router.stream("echo.nope", cred=self.router.instance_cred,
                                   on_response=list)
        self.assertEqual(self.failureResultOf(other.done).value.errno,
                         errno.ENOSYS)

    def test_stream_through_upstream_cancels_remotely(self):
        up = Upstream()
        self.router.attach_upstream(up)
        stream = self.router.stream("far.watch", cred=self.router.instance_cred,
                                    on_response=list, nodeid=3)
        [(message, reply)] = up.forwarded
        self.assertTrue(message.flags & FLAG_STREAMING)
        stream.cancel()
        self.assertEqual(up.cancels, [(message.sender, message.matchtag)])
        reply(message.response(errnum=errno.ECANCELED))
        self.assertIsNone(self.successResultOf(stream.done))

    def test_stream_streaming_only_once_per_response(self):
        """Responses after the end are ignored by the caller's end."""
        got = []
        self.router.stream("echo.watch", cred=self.router.instance_cred,
                           on_response=got.append)
        req, d = self.echo.streams[0]
        d.callback(None)
        req.respond({"late": True})
        self.assertEqual(got, [])

    def test_bad_payload_is_eproto(self):
        msg = request("echo.ping")
        msg.payload = b"not json"
        [resp] = self.deliver(msg)
        self.assertEqual(resp.errnum, errno.EPROTO)

    def test_activity_and_remove(self):
        self.clock.advance(5)
        self.deliver(request("echo.any"))
        self.assertEqual(self.router.last_activity("echo"), 5)
        self.router.remove_module("echo")
        [_, resp] = self.deliver(request("echo.any"))
        self.assertEqual(resp.errnum, errno.ENOSYS)

    def test_duplicate_module_refused(self):
        self.assertRaises(Exception, self.router.add_module, Echo())


