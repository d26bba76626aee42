"""Events: sequencing on rank 0, prefix subscriptions, the event.* RPCs."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from hypothesis import given, strategies as st
from zope.interface.verify import verifyObject

from fluxd.events import EventService
from fluxd.interfaces import IEvents
from fluxd.message.router import Credential, Router
from fluxd.message.types import (
    FLAG_STREAMING, ROLE_ALL, ROLE_OWNER, ROLE_USER, Message)
from fluxd.module import Module

OWNER = Credential(1000, ROLE_OWNER)
GUEST = Credential(42, ROLE_USER)


class EventTests(SynchronousTestCase):
    def setUp(self):
        self.router = Router(owner=1000)
        self.events = EventService(0, self.router)
        self.router.add_module(self.events)

    def publish(self, topic, payload=None, cred=OWNER, private=False):
        return self.events.publish(topic, payload, cred=cred, private=private)

    def test_interface(self):
        self.assertTrue(verifyObject(IEvents, self.events))

    def test_sequence_and_prefix(self):
        got = []
        self.events.subscribe("kvs.", got.append)
        self.assertEqual(self.publish("kvs.setroot", {"a": 1}), 1)
        self.assertEqual(self.publish("heartbeat.pulse"), 2)
        self.assertEqual(self.publish("kvs.other"), 3)
        self.assertEqual([(m.topic, m.seq) for m in got],
                         [("kvs.setroot", 1), ("kvs.other", 3)])
        self.assertEqual(got[0].json(), {"a": 1})

    def test_cancel_subscription(self):
        got = []
        sub = self.events.subscribe("", got.append)
        sub.cancel()
        sub.cancel()
        self.publish("x")
        self.assertEqual(got, [])

    def test_forwarders_get_every_event(self):
        sent, also = [], []
        self.events.add_forwarder(sent.append)
        self.events.add_forwarder(also.append)
        self.publish("a")
        self.assertEqual([m.seq for m in sent], [1])
        self.assertEqual([m.seq for m in also], [1])

    def test_publish_rpc(self):
        got = []
        self.events.subscribe("foo", got.append, roles=ROLE_ALL)
        result = self.successResultOf(self.router.call(
            "event.publish", {"topic": "foo.bar", "payload": {"x": 1}},
            cred=GUEST))
        self.assertEqual(result, {"seq": 1})
        self.assertEqual((got[0].userid, got[0].rolemask), (42, ROLE_USER))
        f = self.failureResultOf(self.router.call(
            "event.publish", {"topic": "foo", "flags": 1}, cred=OWNER))
        self.assertEqual(f.value.errno, errno.EINVAL)

    def test_events_keep_the_publishers_credential(self):
        got = []
        self.events.subscribe("", got.append, roles=ROLE_ALL)
        self.publish("a", cred=GUEST)
        self.publish("b", cred=OWNER)
        self.assertEqual([(m.userid, m.rolemask) for m in got],
                         [(42, ROLE_USER), (1000, ROLE_OWNER)])

    def test_subscriptions_take_the_owners_events_only_by_default(self):
        got = []
        self.events.subscribe("user.", got.append)
        self.publish("user.x", cred=GUEST)
        self.publish("user.y", cred=OWNER)
        self.assertEqual([m.topic for m in got], ["user.y"])

    def test_guest_may_not_publish_a_service_topic(self):
        for topic in ("kvs.namespace-primary-setroot", "kvs.dropcache",
                      "kvs.namespace-mine-removed", "job-exception",
                      "job-state", "sched.hello", "resource.drain",
                      "shutdown", "heartbeat.pulse", "shell-123.kill",
                      "event.x", "overlay.down", "broker.x", "content.x"):
            f = self.failureResultOf(self.router.call(
                "event.publish", {"topic": topic}, cred=GUEST))
            self.assertEqual(f.value.errno, errno.EPERM, topic)
            self.assertIn(f"'{topic}'", str(f.value))
        self.assertEqual(self.events.seq, 0)
        self.successResultOf(self.router.call(
            "event.publish", {"topic": "kvs.dropcache"}, cred=OWNER))

    def test_guest_may_not_publish_a_registered_service_topic(self):
        class Mine(Module):
            name = "mine"
            extra_services = ("also",)
        self.router.add_module(Mine())
        for topic in ("mine.x", "also"):
            f = self.failureResultOf(self.router.call(
                "event.publish", {"topic": topic}, cred=GUEST))
            self.assertEqual(f.value.errno, errno.EPERM)
        self.successResultOf(self.router.call(
            "event.publish", {"topic": "mineral.x"}, cred=GUEST))

    @given(st.text(min_size=1, max_size=40))
    def test_fuzz_guest_topics(self, topic):
        """Whatever topic a guest publishes, no owner-only subscription
        (what services make) ever sees it."""
        router = Router(owner=1000)
        events = EventService(0, router)
        router.add_module(events)
        seen = []
        events.subscribe("", seen.append)
        router.call("event.publish", {"topic": topic},
                    cred=GUEST).addErrback(lambda f: f.trap(Exception))
        self.assertEqual(seen, [])

    def stream(self, rolemask, userid, prefix="", sender="c"):
        replies = []
        msg = Message.request("event.subscribe", {"topic": prefix},
                              flags=FLAG_STREAMING, matchtag=5)
        msg.rolemask, msg.userid, msg.route = rolemask, userid, [sender]
        self.router.deliver(msg, replies.append)
        return replies

    def test_subscribe_rpc_and_private_events(self):
        guest = self.stream(ROLE_USER, 42, "job", sender="g")
        owner = self.stream(ROLE_OWNER, 1)
        self.publish("job-exception", {"id": 1}, private=True,
                     cred=Credential(7, ROLE_OWNER))
        self.publish("job-exception", {"id": 2}, private=True,
                     cred=Credential(42, ROLE_OWNER))
        self.publish("job-state", {"id": 3})
        self.assertEqual([r.json()["payload"]["id"] for r in guest], [2, 3])
        self.assertEqual([r.json()["seq"] for r in owner], [1, 2, 3])
        self.router.cancel("c", 5)
        self.assertEqual(owner[-1].errnum, errno.ECANCELED)
        self.publish("job-state", {"id": 4})
        self.assertEqual(len(owner), 4)
        self.assertEqual([r.json()["payload"]["id"] for r in guest], [2, 3, 4])
