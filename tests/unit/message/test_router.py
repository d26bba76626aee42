"""Tests for fluxd.message.router: dispatch, roles, streaming, cancel."""

import errno

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument, PermissionDenied
from fluxd.message.router import Router, method
from fluxd.message.types import (
    FLAG_NORESPONSE, FLAG_STREAMING, FLAG_UPSTREAM, ROLE_OWNER, ROLE_USER,
    Message)
from fluxd.module import Module


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

    @method("bug", roles=ROLE_USER)
    def bug(self, request):
        return 1 / 0

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
        forwarded = []
        self.router.upstream = lambda m, r: forwarded.append(m.topic)
        self.deliver(request("kvs.lookup"))
        self.assertEqual(forwarded, ["kvs.lookup"])
        self.assertEqual(self.replies, [])

    def test_flux_error_becomes_error_response(self):
        [resp] = self.deliver(request("echo.fail"))
        self.assertEqual((resp.errnum, resp.errstr), (errno.EINVAL, "bad thing"))

    def test_bug_becomes_eio_and_is_logged(self):
        [resp] = self.deliver(request("echo.bug"))
        self.assertEqual(resp.errnum, errno.EIO)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

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
        result = self.successResultOf(self.router.call("echo.any", userid=3))
        self.assertEqual(result, {"you": 3})
        failure = self.failureResultOf(self.router.call("echo.owner",
                                                        rolemask=ROLE_USER),
                                       PermissionDenied)
        self.assertIn("owner", str(failure.value))
        self.failureResultOf(self.router.call("nope.x"))

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


