"""RFC 28 ``resource.acquire``: the scheduler's view of the resources, on
the real resource service with real KVS services on a Clock."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats.rv1 import Rv1, from_config
from fluxd.message.types import FLAG_STREAMING, ROLE_OWNER, ROLE_USER, Message
from fluxd.testing.overlay import FakeOverlayStatus
from tests.unit.resource.test_service import CONFIG, Node


class Acquire:
    """One ``resource.acquire`` stream, as a client sends it."""

    def __init__(self, node, tag=11, rolemask=ROLE_OWNER):
        self.node, self.tag = node, tag
        self.replies = []
        msg = Message.request("resource.acquire", {}, flags=FLAG_STREAMING,
                              matchtag=tag)
        msg.userid, msg.rolemask, msg.route = 1000, rolemask, ["sched"]
        node.kvs.router.deliver(msg, self.replies.append)

    def bodies(self):
        return [r.json() for r in self.replies if not r.errnum]

    def errors(self):
        return [(r.errnum, r.errstr) for r in self.replies if r.errnum]

    def cancel(self):
        self.node.kvs.router.cancel("sched", self.tag)


class AcquireTests(SynchronousTestCase):
    def setUp(self):
        self.overlay = FakeOverlayStatus("0-2")
        self.node = Node(self, overlay=self.overlay, exclude="1")
        self.successResultOf(self.node.start())

    def test_first_response_without_excluded_ranks(self):
        stream = Acquire(self.node)
        [first] = stream.bodies()
        expected = from_config(CONFIG).exclude_ranks([1])
        self.assertEqual(Rv1.decode(first["resources"]), expected)
        self.assertEqual((first["up"], first["down"]), ("0,2", "3"))
        self.assertEqual(first["expiration"], 0.0)

    def test_online_offline_drain_undrain_torpid(self):
        stream = Acquire(self.node)
        self.overlay.change(online="0-3")
        self.node.ok("resource.drain", {"targets": "2", "reason": "x"})
        self.overlay.change(torpid="0")
        self.overlay.change(torpid="")
        self.node.ok("resource.undrain", {"targets": "2"})
        self.overlay.change(online="0,2")
        self.assertEqual(stream.bodies()[1:], [
            {"up": "3"}, {"down": "2"}, {"down": "0"}, {"up": "0"},
            {"up": "2"}, {"down": "3"}])

    def test_changes_of_excluded_ranks_are_not_sent(self):
        stream = Acquire(self.node)
        self.overlay.change(online="0,2")
        self.overlay.change(online="0-2")
        self.assertEqual(len(stream.bodies()), 1)

    def test_two_streams_and_cancel(self):
        first = Acquire(self.node, tag=1)
        self.node.ok("resource.drain", {"targets": "0"})
        second = Acquire(self.node, tag=2)
        self.assertEqual(second.bodies()[0]["up"], "2")
        first.cancel()
        self.assertEqual(first.errors(), [(errno.ECANCELED,
                                           "Request was canceled")])
        self.node.ok("resource.undrain", {"targets": "0"})
        self.assertEqual(second.bodies()[1:], [{"up": "0"}])
        self.assertEqual(first.bodies()[1:], [{"down": "0"}])
        self.assertEqual(len(self.node.svc.acquirers), 1)

    def test_stream_ends_when_the_service_stops(self):
        stream = Acquire(self.node)
        self.node.svc.stopService()
        self.assertEqual(stream.errors(), [(errno.ENODATA, None)])

    def test_owner_only(self):
        stream = Acquire(self.node, rolemask=ROLE_USER)
        self.assertEqual(stream.errors(), [
            (errno.EPERM, "Request requires owner credentials")])

    def test_follower_refuses(self):
        follower = Node(self, rank=1)
        self.successResultOf(follower.start())
        stream = Acquire(follower)
        self.assertEqual(stream.errors(), [
            (errno.EPROTO, "this RPC only works on rank 0")])


class ForceUpTests(SynchronousTestCase):
    """``-Sresource.monitor-force-up``: every rank is up from the start,
    no broker needed, until a broker is seen to leave."""

    def setUp(self):
        # one broker of four runs; R names four ranks
        self.overlay = FakeOverlayStatus("0")
        self.node = Node(self, overlay=self.overlay, force_up=True)
        self.successResultOf(self.node.start())

    def test_every_rank_is_up_and_allocatable(self):
        stream = Acquire(self.node)
        [first] = stream.bodies()
        self.assertEqual((first["up"], first["down"]), ("0-3", ""))
        status = self.node.ok("resource.status")
        self.assertEqual((status["online"], status["offline"]), ("0-3", ""))
        # the journal (flux resource eventlog): online from the restart
        # event on, in one piece (flux-core: "0" of the broker size,
        # then the ranks only R names)
        journal = self.node.svc.reslog.journal
        restart = journal[0]
        self.assertEqual(restart["name"], "restart")
        self.assertEqual(restart["context"]["online"], "0-3")
        self.assertNotIn("online", [e["name"] for e in journal])

    def test_a_broker_seen_then_gone_is_down(self):
        stream = Acquire(self.node)
        self.overlay.change(online="0,2")
        self.assertEqual(stream.bodies()[1:], [])
        self.overlay.change(online="0")
        self.assertEqual(stream.bodies()[1:], [{"down": "2"}])
        self.overlay.change(online="0,2")
        self.assertEqual(stream.bodies()[1:], [{"down": "2"}, {"up": "2"}])

    def test_without_it_ranks_without_a_broker_are_down(self):
        node = Node(self, overlay=FakeOverlayStatus("0"))
        self.successResultOf(node.start())
        [first] = Acquire(node).bodies()
        self.assertEqual((first["up"], first["down"]), ("0", "1-3"))


class DiscoveryAcquireTests(SynchronousTestCase):
    def test_waits_for_R(self):
        node = Node(self, size=2, rset=None,
                    overlay=FakeOverlayStatus("0-1"))
        self.successResultOf(node.start())
        stream = Acquire(node)
        self.assertEqual(stream.replies, [])
        node.ok("resource.topo-report", {
            "rank": 1,
            "R": Rv1().add_rank(1, "test2", cores="0-1").encode()})
        [first] = stream.bodies()
        self.assertEqual(Rv1.decode(first["resources"]).dumps_short(),
                         "rank0/core[0-3] rank1/core[0-1]")
        self.assertEqual(first["up"], "0-1")

    def test_cancel_before_R(self):
        node = Node(self, size=2, rset=None)
        self.successResultOf(node.start())
        stream = Acquire(node)
        stream.cancel()
        node.ok("resource.topo-report", {
            "rank": 1,
            "R": Rv1().add_rank(1, "test2", cores="0-1").encode()})
        self.assertEqual(stream.bodies(), [])
        self.assertEqual(len(node.svc.acquirers), 0)
