"""Events: sequencing on rank 0, prefix subscriptions, the event.* RPCs."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.events import EventService
from fluxd.message.router import Router
from fluxd.message.types import FLAG_STREAMING, ROLE_OWNER, ROLE_USER, Message


class EventTests(SynchronousTestCase):
    def setUp(self):
        self.router = Router()
        self.events = EventService(0, self.router)
        self.router.add_module(self.events)

    def test_sequence_and_prefix(self):
        got = []
        self.events.subscribe("kvs.", got.append)
        self.assertEqual(self.events.publish("kvs.setroot", {"a": 1}), 1)
        self.assertEqual(self.events.publish("heartbeat.pulse"), 2)
        self.assertEqual(self.events.publish("kvs.other"), 3)
        self.assertEqual([(m.topic, m.seq) for m in got],
                         [("kvs.setroot", 1), ("kvs.other", 3)])
        self.assertEqual(got[0].json(), {"a": 1})

    def test_cancel_subscription(self):
        got = []
        sub = self.events.subscribe("", got.append)
        sub.cancel()
        sub.cancel()
        self.events.publish("x")
        self.assertEqual(got, [])

    def test_forward_hook(self):
        sent = []
        self.events.forward = sent.append
        self.events.publish("a")
        self.assertEqual([m.seq for m in sent], [1])

    def test_publish_rpc(self):
        result = self.successResultOf(self.router.call(
            "event.publish", {"topic": "foo.bar", "payload": {"x": 1}},
            rolemask=ROLE_USER))
        self.assertEqual(result, {"seq": 1})
        f = self.failureResultOf(self.router.call(
            "event.publish", {"topic": "foo", "flags": 1}))
        self.assertEqual(f.value.errno, errno.EINVAL)

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
        self.events.publish("job-exception", {"id": 1}, private=True, userid=7)
        self.events.publish("job-exception", {"id": 2}, private=True, userid=42)
        self.events.publish("job-state", {"id": 3})
        self.assertEqual([r.json()["payload"]["id"] for r in guest], [2, 3])
        self.assertEqual([r.json()["seq"] for r in owner], [1, 2, 3])
        self.router.cancel("c", 5)
        self.assertEqual(owner[-1].errnum, errno.ECANCELED)
        self.events.publish("job-state", {"id": 4})
        self.assertEqual(len(owner), 4)
        self.assertEqual([r.json()["payload"]["id"] for r in guest], [2, 3, 4])
