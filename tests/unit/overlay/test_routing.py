"""Tests for :mod:`fluxd.overlay.routing`: forwarded requests, pure."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.message.types import RESPONSE, Message
from fluxd.overlay.routing import Forwarder


class Link:
    def __init__(self, rank):
        self.peer_rank = rank
        self.sent = []

    def send(self, msg):
        self.sent.append(msg)


def request(sender, matchtag, topic="test.echo"):
    msg = Message.request(topic, {}, nodeid=5, matchtag=matchtag)
    msg.route = [sender] if sender else []
    return msg


def answer(out, errnum=0):
    return Message(RESPONSE, out.topic, None, 0x08, matchtag=out.matchtag,
                   errnum=errnum, route=list(out.route))


class ForwarderTests(SynchronousTestCase):

    def setUp(self):
        self.fwd = Forwarder(2)
        self.link = Link(5)
        self.replies = []

    def forward(self, msg, streaming=False, expect=True):
        self.fwd.forward(msg, self.replies.append, self.link, expect,
                         streaming)
        return self.link.sent[-1]

    def test_route_and_matchtag_there_and_back(self):
        msg = request("c1", 17)
        out = self.forward(msg)
        self.assertEqual(out.route, ["c1", "2"])
        self.assertEqual(msg.route, ["c1"])     # the original is untouched
        self.assertNotEqual(out.matchtag, 17)
        self.assertTrue(self.fwd.response(answer(out)))
        self.assertEqual((self.replies[0].matchtag, self.replies[0].route),
                         (17, ["c1"]))
        self.assertEqual(len(self.fwd), 0)
        self.assertFalse(self.fwd.response(answer(out)))   # now stale

    def test_alike_requests_get_their_own_answers(self):
        outs = [self.forward(request(None, 0)) for _ in range(3)]
        self.assertEqual(len({o.matchtag for o in outs}), 3)
        for out in reversed(outs):
            resp = answer(out)
            resp.payload = str(out.matchtag).encode()
            self.fwd.response(resp)
        self.assertEqual([r.payload for r in self.replies],
                         [str(o.matchtag).encode() for o in reversed(outs)])

    def test_noresponse_requests_are_not_remembered(self):
        out = self.forward(request("c1", 3), expect=False)
        self.assertEqual((out.matchtag, len(self.fwd)), (3, 0))

    def test_streaming_until_an_error(self):
        out = self.forward(request("c1", 4), streaming=True)
        self.fwd.response(answer(out))
        self.fwd.response(answer(out))
        self.assertEqual(len(self.fwd), 1)
        self.fwd.response(answer(out, errnum=errno.ENODATA))
        self.assertEqual(len(self.fwd), 0)
        self.assertEqual([r.errnum for r in self.replies],
                         [0, 0, errno.ENODATA])

    def test_response_for_another_hop_is_refused(self):
        out = self.forward(request("c1", 4))
        resp = answer(out)
        resp.route[-1] = "9"
        self.assertFalse(self.fwd.response(resp))
        self.assertEqual(len(self.fwd), 1)

    def test_lost_link_answers_ehostunreach(self):
        other = Link(1)
        self.forward(request("c1", 1))
        self.fwd.forward(request("c2", 2), self.replies.append, other, True,
                         False)
        self.fwd.fail(self.link)
        self.assertEqual([(r.errnum, r.matchtag, r.route, r.topic)
                          for r in self.replies],
                         [(errno.EHOSTUNREACH, 1, ["c1"], "test.echo")])
        self.assertEqual(len(self.fwd), 1)

    def test_cancel_and_disconnect_translated(self):
        out = self.forward(request("c1", 8), streaming=True)
        self.assertEqual(self.fwd.cancel("c1", 8), (self.link, out.matchtag))
        self.assertIsNone(self.fwd.cancel("c1", 9))
        other = Link(1)
        self.fwd.forward(request("c1", 9), self.replies.append, other, True,
                         True)
        self.fwd.forward(request("c1", 10), self.replies.append, other, True,
                         True)
        self.forward(request("c2", 8))
        self.assertEqual(self.fwd.disconnect("c1"), [self.link, other])
        self.assertEqual(len(self.fwd), 1)
        self.assertIsNone(self.fwd.cancel("c1", 8))

    def test_matchtags_wrap_and_skip_those_in_use(self):
        self.fwd._next_tag = (1 << 32) - 2
        a = self.forward(request("c", 1))
        b = self.forward(request("c", 2))
        self.assertEqual((a.matchtag, b.matchtag), ((1 << 32) - 1, 1))
        self.fwd._next_tag = (1 << 32) - 2
        c = self.forward(request("c", 3))
        self.assertEqual(c.matchtag, 2)    # skips the two still waiting
