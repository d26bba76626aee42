"""Tests for :mod:`fluxd.overlay.gate`: bounds on connections before hello."""

from twisted.internet.task import Clock
from twisted.logger import Logger, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from fluxd.overlay.gate import AdmissionGate, RateLimitedLog


class FakeConnection:
    """What the gate uses of an overlay connection."""

    def __init__(self, host, n):
        self.host = host
        self.n = n
        self.aborted = False

    def peer_host(self):
        return self.host

    def describe(self):
        return f"{self.host}:{self.n}"

    def abort(self):
        self.aborted = True


class Recorder:
    """A Logger observer keeping formatted lines."""

    def __init__(self):
        self.lines = []
        self.log = Logger(observer=lambda e: self.lines.append(formatEvent(e)))


class GateTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.rec = Recorder()
        self.n = 0

    def gate(self, **kwargs):
        kwargs.setdefault("log", RateLimitedLog(self.clock, self.rec.log,
                                                burst=1000))
        return AdmissionGate(self.clock, **kwargs)

    def conn(self, host="10.0.0.1"):
        self.n += 1
        return FakeConnection(host, self.n)

    def test_hello_in_time(self):
        gate = self.gate(timeout=10)
        c = self.conn()
        self.assertTrue(gate.admit(c))
        self.clock.advance(9)
        gate.settle(c)
        self.clock.advance(100)
        self.assertFalse(c.aborted)
        self.assertEqual((len(gate), self.clock.getDelayedCalls()), (0, []))

    def test_no_hello_in_time_is_closed(self):
        gate = self.gate(timeout=10)
        c = self.conn()
        gate.admit(c)
        self.clock.advance(9.9)
        self.assertFalse(c.aborted)
        self.clock.advance(0.1)
        self.assertTrue(c.aborted)
        self.assertEqual(len(gate), 0)
        self.assertEqual(self.rec.lines, [
            "overlay: closing 10.0.0.1:1: no TLS handshake and hello"
            " within 10s"])

    def test_per_source_limit_refuses_young_newcomers(self):
        gate = self.gate(max_per_source=3, min_age=1.0)
        waiting = [self.conn() for _ in range(3)]
        for c in waiting:
            self.assertTrue(gate.admit(c))
        late = self.conn()
        self.assertFalse(gate.admit(late))
        self.assertTrue(late.aborted)
        self.assertFalse(any(c.aborted for c in waiting))
        # another source is not affected
        self.assertTrue(gate.admit(self.conn("10.0.0.2")))
        self.assertEqual((gate.pending_from("10.0.0.1"),
                          gate.pending_from("10.0.0.2")), (3, 1))
        self.assertIn("refusing 10.0.0.1:4: more than 3 from 10.0.0.1"
                      " waiting for their hello", self.rec.lines[0])

    def test_per_source_limit_evicts_old_idle_connections(self):
        gate = self.gate(max_per_source=3, min_age=1.0)
        idle = [self.conn() for _ in range(3)]
        for c in idle:
            gate.admit(c)
        other = self.conn("10.0.0.2")
        gate.admit(other)
        self.clock.advance(5)
        child = self.conn()
        self.assertTrue(gate.admit(child))
        self.assertEqual([c.aborted for c in idle], [True, False, False])
        self.assertFalse(other.aborted)   # only its own source's oldest
        self.assertIn("closing 10.0.0.1:1: waited 5.0s for its hello with"
                      " more than 3 from 10.0.0.1 waiting", self.rec.lines[0])

    def test_overall_limit(self):
        gate = self.gate(max_pending=4, max_per_source=10, min_age=1.0)
        first = [self.conn(f"10.0.1.{i}") for i in range(4)]
        for c in first:
            self.assertTrue(gate.admit(c))
        self.assertFalse(gate.admit(self.conn("10.0.2.1")))
        self.clock.advance(2)
        self.assertTrue(gate.admit(self.conn("10.0.2.2")))
        self.assertEqual([c.aborted for c in first],
                         [True, False, False, False])
        self.assertEqual(len(gate), 4)

    def test_thousands_of_idle_connections_stay_bounded(self):
        gate = self.gate(max_pending=256, max_per_source=64, min_age=1.0,
                         timeout=1000, log=RateLimitedLog(self.clock, self.rec.log,
                                            burst=5, interval=10))
        conns = []
        for i in range(2000):
            c = self.conn()
            conns.append(c)
            gate.admit(c)
            if i % 100 == 0:
                self.clock.advance(0.5)
        self.assertEqual(gate.pending_from("10.0.0.1"), 64)
        self.assertEqual(sum(not c.aborted for c in conns), 64)
        # a child restarted a moment later, from the same host, gets in
        self.clock.advance(1.0)
        child = self.conn()
        self.assertTrue(gate.admit(child))
        # the log did not get 1,937 lines: a burst of 5, then one per 10s
        # of the 11s that passed
        self.assertEqual(len(self.rec.lines), 6)
        self.clock.advance(20)
        self.assertIn("similar lines suppressed", self.rec.lines[-1])

    def test_stop_closes_everything_waiting(self):
        gate = self.gate(timeout=10)
        conns = [self.conn(), self.conn()]
        for c in conns:
            gate.admit(c)
        gate.stop()
        self.assertEqual((len(gate), self.clock.getDelayedCalls()), (0, []))
        self.assertEqual([c.aborted for c in conns], [True, True])


class RateLimitedLogTests(SynchronousTestCase):

    def test_burst_then_one_per_interval_with_counts(self):
        clock, rec = Clock(), Recorder()
        log = RateLimitedLog(clock, rec.log, burst=2, interval=10)
        for i in range(5):
            log.warn("line {i}", i=i)
        self.assertEqual(rec.lines, ["line 0", "line 1"])
        self.assertEqual(log.suppressed, 3)
        clock.advance(10)   # the summary
        self.assertEqual(rec.lines[2], "overlay: unauthenticated connections"
                         " closed or refused (3 similar lines suppressed)")
        clock.advance(10)
        log.warn("line {i}", i=9)
        self.assertEqual(rec.lines[3], "line 9")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_stop_cancels_the_summary(self):
        clock, rec = Clock(), Recorder()
        log = RateLimitedLog(clock, rec.log, burst=1, interval=10)
        log.warn("a")
        log.warn("b")
        log.stop()
        self.assertEqual(clock.getDelayedCalls(), [])
