"""The overlay service on in-memory TCP with real TLS (see ``memnet``).

Joining (hello, version and rank checks), heartbeats and torpid children
(a broker's own stopped time excepted), lost and offline children and
their return, events down the tree, requests up and down and their
responses, cancels and disconnects passed along, EHOSTUNREACH when a link
goes: all on one clock, with no sockets and no sleeps.
"""

import errno

from OpenSSL import SSL
from twisted.internet.ssl import CertificateOptions
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError
from fluxd.message.types import (
    FLAG_STREAMING, REQUEST, RESPONSE, Message)
from fluxd.overlay.service import OverlayService
from fluxd.overlay.tls import client_options, server_options
from fluxd.overlay.topology import Topology
from fluxd.security.keys import generate_cluster_cert

from tests.unit.overlay.memnet import CERT, Intruder, MemoryNet


class AlienClientTLS:
    """Presents another certificate and accepts any server."""

    def clientConnectionForTLS(self, tls_protocol):
        other = generate_cluster_cert("flux")
        certificate, key = other.to_cryptography()
        return SSL.Connection(CertificateOptions(
            privateKey=key, certificate=certificate).getContext())


def health_line(net, rank=0):
    """``status`` and ``{child: status}`` of a rank."""
    h = net.status(rank)
    return h["status"], {c["rank"]: c["status"] for c in h["children"]}


class JoinTests(SynchronousTestCase):

    def test_all_join_and_report_full(self):
        net = MemoryNet(7).start()
        self.assertEqual(health_line(net), ("full", {1: "full", 2: "full"}))
        self.assertEqual(net.nodes[0].overlay.online_ranks().encode(), "0-6")
        for rank in range(1, 7):
            self.assertTrue(net.nodes[rank].overlay._parent_ready.called)

    def test_child_before_parent_retries(self):
        net = MemoryNet(3)
        net.add(1)
        net.add(2)
        net.flush()      # connection refused: nobody listens yet
        self.assertIsNone(net.nodes[1].overlay.parent)
        net.add(0)
        net.advance(1.0, step=0.1)   # the retry policy waits at most 1s
        self.assertEqual(health_line(net), ("full", {1: "full", 2: "full"}))

    def test_quorum(self):
        net = MemoryNet(3)
        net.add(0)
        reached = net.nodes[0].overlay.quorum_reached()
        net.add(1)
        net.flush()
        self.assertNoResult(reached)
        net.add(2)
        net.flush()
        self.successResultOf(reached)

    def test_version_mismatch_refused(self):
        net = MemoryNet(3)
        net.add(0)
        net.add(1, version="0.9")
        with capturedLogs() as events:
            net.flush()
        text = "\n".join(formatEvent(e) for e in events)
        self.assertIn("rank 1 runs version 0.9, we run 1.0", text)
        self.assertIn("overlay: parent refused us: rank 1 runs version 0.9",
                      text)
        self.assertEqual(health_line(net)[1][1], "offline")
        self.assertIsNone(net.nodes[1].overlay.parent)

    def test_rank_checks(self):
        net = MemoryNet(5).start(ranks=[0])
        for rank, text in ((3, "rank 3 is not a child of rank 0"),
                           (99, "rank 99 is not a child of rank 0"),
                           ("1", "malformed hello"),
                           (True, "malformed hello")):
            intruder = Intruder(net)
            intruder.proto.send(Message.request(
                "overlay.hello", {"rank": rank, "version": "1.0"}, nodeid=0))
            with capturedLogs() as events:
                net.flush()
            self.assertEqual(intruder.received[0].errnum, errno.EPERM)
            self.assertEqual(intruder.received[0].errstr, text)
            self.assertIsNotNone(intruder.lost)
            self.assertIn(text, formatEvent(events[0]))
        self.assertEqual(health_line(net)[1], {1: "offline", 2: "offline"})
        self.assertEqual(len(net.nodes[0].overlay.gate), 0)

    def test_hello_that_is_not_json(self):
        net = MemoryNet(3).start(ranks=[0])
        intruder = Intruder(net)
        intruder.proto.send(Message.request("overlay.hello", b"{rank: 1",
                                            nodeid=0))
        net.flush()
        self.assertEqual(intruder.received[0].errstr, "malformed hello")
        self.assertIsNotNone(intruder.lost)

    def test_first_message_must_be_hello(self):
        net = MemoryNet(3).start(ranks=[0])
        intruder = Intruder(net)
        intruder.proto.send(Message.request("test.echo", {}, nodeid=0))
        net.flush()
        self.assertEqual(intruder.received, [])
        self.assertIsNotNone(intruder.lost)

    def test_other_certificate_refused(self):
        net = MemoryNet(3).start(ranks=[0])
        intruder = Intruder(net, tls=AlienClientTLS())
        intruder.proto.send(Message.request(
            "overlay.hello", {"rank": 1, "version": "1.0"}, nodeid=0))
        with capturedLogs() as events:
            net.flush()
        self.assertIsNotNone(intruder.lost)
        self.assertEqual(intruder.received, [])
        self.assertTrue(any("is not the cluster certificate" in formatEvent(e)
                            for e in events))
        self.assertEqual(health_line(net)[1][1], "offline")

    def test_parent_that_never_answers_the_hello(self):
        net = MemoryNet(3)
        net.add(0)
        node = net.add(1, hello_timeout=2.0)
        # the parent accepts the TCP connection but its broker never
        # answers (a stopped process): take its bytes, give nothing back
        net.reactor.advance(0)
        host, port, factory, _t, _b = net.reactor.tcpClients.pop(0)
        net.reactor.connectors.pop(0)
        proto = factory.buildProtocol(None)
        from twisted.test.iosim import FakeTransport
        transport = FakeTransport(proto, False)
        proto.makeConnection(transport)
        net.reactor.advance(0)
        self.assertTrue(transport.stream)   # the TLS client hello went out
        with capturedLogs() as events:
            net.reactor.advance(2.0)
        self.assertTrue(transport.disconnecting)
        self.assertIn("no answer to our hello within 2.0s",
                      "\n".join(formatEvent(e) for e in events))
        self.assertIsNone(node.overlay.parent)


class HealthTests(SynchronousTestCase):

    def test_heartbeats_keep_children_awake(self):
        net = MemoryNet(3).start(torpid_min=1.0, torpid_max=3.0)
        net.advance(20, step=1.0)
        self.assertEqual(net.nodes[0].overlay.torpid_ranks().encode(), "")
        for child in net.nodes[0].overlay.children.values():
            self.assertFalse(child.torpid)

    def test_silent_child_becomes_torpid_then_recovers(self):
        net = MemoryNet(3).start(torpid_min=1.0, torpid_max=3.0)
        silent = net.nodes[2].overlay
        silent._heartbeat.stop()     # rank 2 says nothing any more
        net.advance(5, step=1.0)
        self.assertEqual(net.nodes[0].overlay.torpid_ranks().encode(), "2")
        self.assertTrue(net.status()["children"][1]["torpid"])
        silent._heartbeat.start(1.0, now=True)
        net.advance(2, step=1.0)
        self.assertEqual(net.nodes[0].overlay.torpid_ranks().encode(), "")

    def test_torpid_below_reaches_rank_0(self):
        net = MemoryNet(4).start(torpid_min=1.0, torpid_max=3.0)
        net.nodes[3].overlay._heartbeat.stop()
        net.advance(5, step=1.0)
        self.assertEqual(net.nodes[1].overlay.torpid_ranks().encode(), "3")
        self.assertEqual(net.nodes[0].overlay.torpid_ranks().encode(), "3")

    def test_own_stopped_time_not_held_against_children(self):
        net = MemoryNet(4).start(torpid_min=1.0, torpid_max=3.0)
        parent = net.nodes[1].overlay
        # rank 1 stops (SIGSTOP) for 10s: its timers do not run and it
        # reads nothing, while its children go on sending heartbeats
        parent._heartbeat.stop()
        net.reactor.advance(10.0)
        # resumed, its first tick comes 9s late, before it reads them
        with capturedLogs() as events:
            parent._tick()
        self.assertFalse(parent.children[3].torpid)
        self.assertEqual(events, [])
        # while a child that really is silent still becomes torpid
        net.flush()
        net.nodes[3].overlay._heartbeat.stop()
        for _ in range(4):
            net.reactor.advance(1.0)
            parent._tick()
            net.flush()
        self.assertEqual(parent.torpid_ranks().encode(), "3")

    def test_lost_child_and_rejoin(self):
        net = MemoryNet(4).start()
        net.nodes[1].overlay.parent.abort()     # as if rank 1 crashed
        net.nodes[1].overlay._parent_service.stopService()
        net.flush()
        self.assertEqual(health_line(net), ("degraded",
                                            {1: "lost", 2: "full"}))
        self.assertEqual(net.status()["children"][0]["error"],
                         "lost connection")
        self.assertEqual(net.nodes[0].overlay.online_ranks().encode(), "0,2")
        # a new broker for rank 1 joins, and rank 3 follows it
        net.nodes[3].stop()
        net.add(1)
        net.add(3)
        net.advance(1.0, step=0.1)
        self.assertEqual(health_line(net), ("full", {1: "full", 2: "full"}))
        self.assertEqual(net.nodes[0].overlay.online_ranks().encode(), "0-3")

    def test_clean_stop_leaves_child_offline(self):
        net = MemoryNet(3).start()
        net.nodes[2].stop()
        net.flush()
        self.assertEqual(health_line(net), ("partial",
                                            {1: "full", 2: "offline"}))

    def test_children_gone_and_shutdown(self):
        net = MemoryNet(3).start()
        shut = []
        for rank in (1, 2):
            net.nodes[rank].overlay.add_parent_lost(
                lambda rank=rank: shut.append(rank))
        gone = net.nodes[0].overlay.children_gone()
        net.nodes[0].overlay.shutdown_children()
        net.flush()
        self.assertEqual(sorted(shut), [1, 2])
        self.assertNoResult(gone)
        for rank in (1, 2):
            net.nodes[rank].stop()
        net.flush()
        self.assertTrue(self.successResultOf(gone))

    def test_administrative_disconnect(self):
        net = MemoryNet(3).start()
        told = []
        net.nodes[2].overlay.add_parent_lost(lambda: told.append(2))
        net.nodes[0].overlay.rpc_disconnect(_Req({"rank": 2}))
        net.flush()
        self.assertEqual(told, [2])
        entry = net.status()["children"][1]
        self.assertEqual((entry["status"], entry["error"]),
                         ("offline", "administrative shutdown"))


class _Req:
    """The little a direct RPC method call needs."""

    def __init__(self, body):
        self._body = body

    def json(self):
        return self._body


class RoutingTests(SynchronousTestCase):

    def setUp(self):
        # kary:2 of 8: 0 -> 1 -> 3 -> 7, 0 -> 2 -> 5
        self.net = MemoryNet(8).start()

    def call(self, rank, topic, payload=None, nodeid=None):
        d = self.net.nodes[rank].call(topic, payload, nodeid=nodeid)
        self.net.flush()
        return d

    def test_down_the_tree(self):
        got = self.successResultOf(self.call(0, "test.echo", {"x": 1}, 7))
        self.assertEqual((got["rank"], got["got"]), (7, {"x": 1}))
        self.assertEqual(got["route"], ["router-0", "0", "1", "3"])

    def test_up_the_tree(self):
        got = self.successResultOf(self.call(7, "test.echo", {}, 0))
        self.assertEqual((got["rank"], got["route"]), (0, ["router-7", "7", "3", "1"]))
        # any rank: the nearest broker with the service walking up
        got = self.successResultOf(self.call(5, "event.publish",
                                             {"topic": "x.y"}))
        self.assertIn("seq", got)

    def test_across_the_tree(self):
        got = self.successResultOf(self.call(7, "test.echo", {}, 5))
        self.assertEqual((got["rank"], got["route"]),
                         (5, ["router-7", "7", "3", "1", "0", "2"]))

    def test_upstream_flag_skips_own_service(self):
        from fluxd.message.types import FLAG_UPSTREAM
        node = self.net.nodes[3]
        msg = Message.request("test.echo", {}, nodeid=3, flags=FLAG_UPSTREAM)
        msg.rolemask, msg.userid = 1, 0
        answers = []
        node.router.deliver(msg, answers.append)
        self.net.flush()
        self.assertEqual(answers[0].json()["rank"], 1)

    def test_errors(self):
        f = self.failureResultOf(self.call(3, "test.echo", {}, 99), FluxError)
        self.assertEqual(f.value.errno, errno.EHOSTUNREACH)
        self.assertIn("rank 99 is not in this instance", str(f.value))
        f = self.failureResultOf(self.call(7, "nosuch.method", {}),
                                 FluxError)
        self.assertEqual(f.value.errno, errno.ENOSYS)

    def test_alike_requests_in_flight_do_not_mix(self):
        # in-process RPCs have no sender and matchtag 0: each still gets
        # its own answer
        node = self.net.nodes[3]
        calls = [node.call("test.echo", {"n": n}, nodeid=target)
                 for n, target in enumerate((0, 7, 0, 1))]
        self.net.flush()
        results = [self.successResultOf(d) for d in calls]
        self.assertEqual([(r["rank"], r["got"]["n"]) for r in results],
                         [(0, 0), (7, 1), (0, 2), (1, 3)])
        self.assertEqual(len(node.overlay.forwarder), 0)

    def test_matchtag_restored_for_the_client(self):
        msg = Message.request("test.echo", {}, nodeid=7, matchtag=4242)
        msg.route, msg.rolemask, msg.userid = ["client1"], 1, 0
        answers = []
        self.net.nodes[0].router.deliver(msg, answers.append)
        self.net.flush()
        self.assertEqual((answers[0].matchtag, answers[0].route),
                         (4242, ["client1"]))
        # the responder saw the last forwarder's own matchtag
        self.assertNotEqual(answers[0].json()["matchtag"], 4242)

    def test_link_lost_answers_ehostunreach(self):
        msg = Message.request("test.stream", {}, nodeid=7, matchtag=5,
                              flags=FLAG_STREAMING)
        msg.route, msg.rolemask, msg.userid = ["client1"], 1, 0
        answers = []
        self.net.nodes[0].router.deliver(msg, answers.append)
        self.net.flush()
        self.assertEqual(len(answers), 1)
        self.net.nodes[1].overlay.parent.abort()
        self.net.flush()
        self.assertEqual(answers[-1].errnum, errno.EHOSTUNREACH)
        self.assertEqual((answers[-1].matchtag, answers[-1].route),
                         (5, ["client1"]))
        self.assertEqual(len(self.net.nodes[0].overlay.forwarder), 0)

    def stream(self, sender, matchtag):
        msg = Message.request("test.stream", {}, nodeid=7, matchtag=matchtag,
                              flags=FLAG_STREAMING)
        msg.route, msg.rolemask, msg.userid = [sender], 1, 0
        answers = []
        self.net.nodes[0].router.deliver(msg, answers.append)
        self.net.flush()
        return answers

    def test_cancel_passed_along(self):
        answers = self.stream("client1", 9)
        self.assertEqual(answers[0].json(), {"rank": 7})
        self.net.nodes[0].router.cancel("client1", 9)
        self.net.flush()
        self.assertEqual((answers[-1].errnum, answers[-1].matchtag),
                         (errno.ECANCELED, 9))
        self.assertTrue(self.net.nodes[7].test.streams[0].cancelled)

    def test_disconnect_passed_along(self):
        self.stream("client2", 1)
        self.stream("client2", 2)
        self.net.nodes[0].router.disconnect("client2")
        self.net.flush()
        self.assertEqual([r.cancelled for r in self.net.nodes[7].test.streams],
                         [True, True])
        for rank in (0, 1, 3):
            self.assertEqual(len(self.net.nodes[rank].overlay.forwarder), 0)

    def test_responses_to_a_departed_requester_are_dropped(self):
        msg = Message(RESPONSE, "test.echo", b"{}", 0x08, matchtag=77,
                      route=["nobody", "0"])
        self.assertFalse(self.net.nodes[0].overlay.forwarder.response(msg))

    def test_requests_from_peers_lose_the_local_role(self):
        got = self.successResultOf(self.call(0, "test.echo", {}, 2))
        self.assertEqual(got["rank"], 2)
        seen = []
        node = self.net.nodes[2]
        node.router.deliver = lambda msg, reply: seen.append(msg)
        msg = Message.request("test.echo", {}, nodeid=2)
        msg.rolemask = 0x5   # owner | local
        self.net.nodes[0].router.deliver(msg, lambda r: None)
        self.net.flush()
        self.assertEqual(seen[0].type, REQUEST)
        self.assertEqual(seen[0].rolemask, 0x1)


class EventTests(SynchronousTestCase):

    def test_events_reach_every_broker_in_order(self):
        net = MemoryNet(7).start()
        for i in range(5):
            net.nodes[0].events.publish(f"test.e{i}", {"i": i},
                                        cred=net.nodes[0].router.instance_cred)
        net.flush()
        # a follower's publish goes through rank 0
        net.nodes[6].events.publish("test.from6", cred=net.nodes[6].router.instance_cred)
        net.flush()
        for rank, node in net.nodes.items():
            topics = [m.topic for m in node.events_seen
                      if m.topic.startswith("test.")]
            self.assertEqual(topics, [f"test.e{i}" for i in range(5)]
                             + ["test.from6"], rank)
            seqs = [m.seq for m in node.events_seen]
            self.assertEqual(seqs, sorted(seqs))

    def test_children_may_not_send_events(self):
        from fluxd.message.types import EVENT
        net = MemoryNet(3).start()
        with capturedLogs() as events:
            net.nodes[1].overlay.parent.send(Message(EVENT, "x", None))
            net.flush()
        self.assertIn("children may not send events",
                      "\n".join(formatEvent(e) for e in events))
        self.assertEqual(health_line(net)[1][1], "lost")


class ConstructionTests(SynchronousTestCase):

    def test_endpoints_need_tls(self):
        from fluxd.errors import InvalidArgument
        from fluxd.events import EventService
        from fluxd.message.router import Router
        from twisted.internet.testing import MemoryReactorClock
        reactor = MemoryReactorClock()
        router = Router(rank=0, clock=reactor)
        topology = Topology("kary:2", 3)
        for kwargs in ({"listen_endpoint": object()},
                       {"listen_endpoint": object(),
                        "server_tls": client_options(CERT)},
                       {"parent_endpoint": object(),
                        "client_tls": server_options(CERT)}):
            with self.assertRaises(InvalidArgument):
                OverlayService(reactor, 0, 3, topology, router,
                               EventService(0, router), **kwargs)
