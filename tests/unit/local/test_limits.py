"""The local connector's bounds: attributes, the guests' budget, log lines."""

from twisted.internet.task import Clock
from twisted.logger import Logger, LogLevel, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from fluxd.attributes import Attributes
from fluxd.client.wire import request_size
from fluxd.errors import InvalidArgument
from fluxd.kvs.content_service import DEFAULT_BLOB_LIMIT
from fluxd.local.limits import (
    DEFAULT_GUEST_BUFFER, DEFAULT_GUEST_MESSAGE, BufferBudget,
    ConnectorLimits, LogLimiter, connector_limits)

MiB = 1024 * 1024


class AttributeTests(SynchronousTestCase):
    def test_defaults_are_recorded_as_attributes(self):
        attrs = Attributes()
        limits = connector_limits(attrs)
        self.assertEqual((limits.guest_message, limits.guest_buffer,
                          limits.owner_message),
                         (16 * MiB, 64 * MiB, DEFAULT_BLOB_LIMIT))
        self.assertEqual(attrs.get("connector-local.guest-message-limit"),
                         str(DEFAULT_GUEST_MESSAGE))
        self.assertEqual(attrs.get("connector-local.guest-buffer-limit"),
                         str(DEFAULT_GUEST_BUFFER))

    def test_values_from_attributes(self):
        attrs = Attributes({"connector-local.guest-message-limit": "1000",
                            "connector-local.guest-buffer-limit": "5000",
                            "content.blob-size-limit": "70000"})
        limits = connector_limits(attrs)
        self.assertEqual(limits.message_limit(False),
                         (1000, "connector-local.guest-message-limit"))
        self.assertEqual(limits.message_limit(True),
                         (4 * 70002 // 3 + 65536,
                          "content.blob-size-limit as base64 + 64 KiB"))
        self.assertEqual(limits.guest_buffer, 5000)

    def test_bad_values_refused(self):
        for name in ("connector-local.guest-message-limit",
                     "connector-local.guest-buffer-limit",
                     "content.blob-size-limit"):
            for value in ("abc", "0", "-5", "1.5"):
                with self.assertRaises(InvalidArgument) as info:
                    connector_limits(Attributes({name: value}))
                self.assertEqual(str(info.exception),
                                 f"{name} {value!r}: expected a positive"
                                 " number of bytes")

    def test_box_bound_covers_framing_of_a_full_payload(self):
        limits = ConnectorLimits(guest_message=1000, owner_message=200000)
        self.assertEqual(limits.box_bound(False), request_size(1000))
        self.assertEqual(limits.box_bound(True),
                         request_size(limits.message_limit(True)[0]))
        # four chunks of payload: each key and length adds bytes
        self.assertGreater(request_size(200000), 200000 + 4 * 11)
        self.assertLess(request_size(200000), 200000 + 70000)


class BudgetTests(SynchronousTestCase):
    def test_claim_and_release(self):
        budget = BufferBudget(100)
        self.assertTrue(budget.claim(60))
        self.assertFalse(budget.claim(41))
        self.assertEqual(budget.used, 60)
        self.assertTrue(budget.claim(40))
        self.assertTrue(budget.claim(-100))
        self.assertEqual(budget.used, 0)


class LogLimiterTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.events = []
        self.limiter = LogLimiter(self.clock,
                                  Logger(observer=self.events.append),
                                  burst=3, interval=10.0)

    def lines(self):
        return [formatEvent(e) for e in self.events]

    def test_burst_then_one_summary_per_interval(self):
        logged = [self.limiter.warn("drop {n}", n=n) for n in range(50)]
        self.assertEqual(logged, [True] * 3 + [False] * 47)
        self.assertEqual(self.lines(), ["drop 0", "drop 1", "drop 2"])
        self.clock.advance(9.9)
        self.assertEqual(len(self.events), 3)
        self.clock.advance(0.1)
        self.assertEqual(self.lines()[3],
                         "47 more client log lines suppressed")
        self.assertEqual(self.events[3]["log_level"], LogLevel.warn)
        # a new interval, a new burst
        self.assertTrue(self.limiter.info("refused {n}", n=99))
        self.assertEqual(self.events[4]["log_level"], LogLevel.info)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_quiet_interval_resets_the_burst(self):
        for n in range(3):
            self.limiter.warn("a {n}", n=n)
        self.clock.advance(11)
        self.assertTrue(self.limiter.warn("b"))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_flush_at_stop_reports_and_cancels(self):
        for n in range(5):
            self.limiter.warn("x")
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.limiter.flush()
        self.assertEqual(self.lines()[-1], "2 more client log lines suppressed")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.limiter.flush()
        self.assertEqual(len(self.events), 4)
