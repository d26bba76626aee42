"""The Twisted client against a real LocalConnection, pumped in memory.

Both ends run their real AMP code; iosim moves the bytes.  This covers
streaming, cancel, disconnect and refusal without sockets.
"""

import errno

from twisted.internet import defer
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from fluxd.client.tx import ClientProtocol, FluxClient
from fluxd.errors import InvalidArgument, PermissionDenied
from fluxd.local.connection import LocalConnection, Policy
from fluxd.message.router import Router, method
from fluxd.message.types import ROLE_LOCAL, ROLE_USER
from fluxd.module import Module

OWNER = 1000


class Ticker(Module):
    name = "tick"

    def __init__(self):
        super().__init__()
        self.live = []
        self.gone = []

    @method("count", roles=ROLE_USER, streaming=True)
    def count(self, request):
        n = request.json()["n"]
        for i in range(n):
            request.respond({"i": i})

    @method("forever", roles=ROLE_USER, streaming=True)
    def forever(self, request):
        d = defer.Deferred()
        self.live.append(request)
        request.on_cancel(lambda: d.callback(None))
        return d

    @method("whoami", roles=ROLE_USER)
    def whoami(self, request):
        return {"userid": request.userid, "rolemask": request.rolemask}

    @method("bad", roles=ROLE_USER)
    def bad(self, request):
        raise InvalidArgument("no good")

    def disconnect(self, sender):
        self.gone.append(sender)


class ClientTests(SynchronousTestCase):
    def connect(self, uid=OWNER, guests=False):
        self.router = Router()
        self.ticker = Ticker()
        self.router.add_module(self.ticker)
        server = LocalConnection(self.router, Policy(OWNER, guests),
                                 credentials=lambda t: (1, uid, uid))
        client = ClientProtocol()
        self.pump = iosim.connect(server, iosim.makeFakeServer(server),
                                  client, iosim.makeFakeClient(client))
        self.server = server
        return client

    def call(self, d):
        self.pump.flush()
        return d

    def test_rpc_and_credentials(self):
        proto = self.connect()
        self.pump.flush()
        self.successResultOf(proto.ready)
        client = FluxClient(proto)
        result = self.successResultOf(self.call(client.rpc("tick.whoami")))
        self.assertEqual(result["userid"], OWNER)
        self.assertTrue(result["rolemask"] & ROLE_LOCAL)

    def test_error_response(self):
        client = FluxClient(self.connect())
        f = self.failureResultOf(self.call(client.rpc("tick.bad")), InvalidArgument)
        self.assertEqual(str(f.value), "no good")
        f = self.failureResultOf(self.call(client.rpc("no.such")))
        self.assertEqual(f.value.errno, errno.ENOSYS)

    def test_stream_until_enodata(self):
        client = FluxClient(self.connect())
        seen = []
        done, _ = client.stream("tick.count", seen.append, {"n": 3})
        self.pump.flush()
        self.assertIsNone(self.successResultOf(done))
        self.assertEqual(seen, [{"i": 0}, {"i": 1}, {"i": 2}])

    def test_stream_cancel(self):
        client = FluxClient(self.connect())
        done, cancel = client.stream("tick.forever", lambda obj: None)
        self.pump.flush()
        self.assertEqual(len(self.ticker.live), 1)
        cancel()
        self.pump.flush()
        f = self.failureResultOf(done)
        self.assertEqual(f.value.errno, errno.ECANCELED)
        self.assertTrue(self.ticker.live[0].cancelled)

    def test_disconnect_ends_streams(self):
        client = FluxClient(self.connect())
        client.stream("tick.forever", lambda obj: None)
        self.pump.flush()
        client.close()
        self.pump.flush()
        self.assertTrue(self.ticker.live[0].cancelled)
        self.assertEqual(self.ticker.gone, [self.server.identity])

    def test_guest_refused(self):
        proto = self.connect(uid=2000)
        self.pump.flush()
        self.failureResultOf(proto.ready, PermissionDenied)

    def test_guest_allowed(self):
        proto = self.connect(uid=2000, guests=True)
        self.pump.flush()
        self.successResultOf(proto.ready)
        self.assertEqual((proto.userid, proto.rolemask), (2000, ROLE_USER))
        client = FluxClient(proto)
        self.assertEqual(self.successResultOf(
            self.call(client.rpc("tick.whoami")))["userid"], 2000)

    def test_root_owner_policy(self):
        self.assertEqual(Policy(OWNER, False, True).credential(0), (OWNER, 1))
        self.assertIsNone(Policy(OWNER, False, False).credential(0))
        self.assertEqual(Policy(OWNER, True, False).credential(0), (0, ROLE_USER))
