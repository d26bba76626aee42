"""The heartbeat: pulses at heartbeat.period, followers that warn and
give up on a silent parent, settings that follow a reload."""

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent

from fluxd.admin.heartbeat import PULSE, HeartbeatService
from fluxd.config import config_from_object
from fluxd.events import EventService
from fluxd.message.router import Router
from fluxd.message.types import EVENT, ROLE_OWNER, Message
from tests.unit.admin.helpers import TestCase


def config(**heartbeat):
    return config_from_object({"heartbeat": heartbeat})


class LeaderTests(TestCase):
    def setUp(self):
        self.clock = Clock()
        router = Router(clock=self.clock)
        self.events = EventService(0, router)
        self.seen = []
        self.events.subscribe(PULSE, lambda m: self.seen.append(
            (self.clock.seconds(), m.seq)))
        self.beat = HeartbeatService(self.clock, 0, self.events,
                                     router.instance_cred, config())
        self.beat.startService()

    def test_pulse_every_period(self):
        self.clock.pump([0.5] * 12)
        self.assertEqual(self.seen, [(2.0, 1), (4.0, 2), (6.0, 3)])

    def test_reload_changes_the_period(self):
        self.clock.advance(2.0)
        self.beat.reconfigure(config(period="0.5s"))
        self.clock.pump([0.25] * 8)
        self.assertEqual([t for t, _ in self.seen], [2.0, 2.5, 3.0, 3.5, 4.0])

    def test_stop(self):
        self.beat.stopService()
        self.clock.advance(10)
        self.assertEqual(self.seen, [])


class FollowerTests(TestCase):
    def setUp(self):
        self.clock = Clock()
        router = Router(rank=1, clock=self.clock)
        self.events = EventService(1, router)
        self.lost = []
        self.beat = HeartbeatService(
            self.clock, 1, self.events, router.instance_cred,
            config(period="1s", timeout="10s", warn_thresh=3),
            on_timeout=lambda: self.lost.append(self.clock.seconds()))
        self.beat.startService()

    def pulse(self):
        self.events.deliver(Message(EVENT, PULSE, seq=self.events.seq + 1,
                                    rolemask=ROLE_OWNER))

    def test_pulses_keep_it_quiet(self):
        self.beat.watch()
        with capturedLogs() as events:
            for _ in range(30):
                self.clock.advance(1)
                self.pulse()
        self.assertEqual([formatEvent(e) for e in events], [])
        self.assertEqual(self.lost, [])

    def test_warns_then_gives_up(self):
        self.beat.watch()
        with capturedLogs() as events:
            self.clock.pump([0.5] * 30)
        lines = [formatEvent(e) for e in events]
        self.assertEqual(lines, [
            "heartbeat: 3 periods missed (3s without one)",
            "heartbeat: none received for 10s (heartbeat.timeout): leaving"
            " the parent"])
        self.assertEqual(self.lost, [10.0])

    def test_timeout_disabled(self):
        self.beat.reconfigure(config(period="1s", timeout="0"))
        self.beat.watch()
        self.clock.pump([1] * 100)
        self.assertEqual(self.lost, [])

    def test_not_watched_before_joining(self):
        self.clock.pump([1] * 100)
        self.assertEqual(self.lost, [])

    def test_reload_shortens_the_timeout(self):
        self.beat.watch()
        self.clock.advance(2)
        self.beat.reconfigure(config(period="1s", timeout="3s"))
        self.clock.pump([0.5] * 4)
        self.assertEqual(self.lost, [3.0])
