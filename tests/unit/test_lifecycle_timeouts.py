"""The broker states' time limits (broker.shutdown-timeout,
broker.cleanup-timeout, broker.unload-builtins-timeout), the one-line
explanation of start-up failures, and the slow-broker warnings."""

import errno
import signal

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from fluxd.admin.watchdog import SlowBrokerWarnings
from fluxd.errors import InvalidArgument
from fluxd.lifecycle import Lifecycle, explain
from fluxd.testing.overlay import FakeOverlayStatus
from tests.unit.test_lifecycle import FakeBuiltins, FakeRunat, settle


def to_state(lifecycle, clock, state):
    lifecycle.start()
    settle(clock)
    while lifecycle.state != state:
        clock.advance(0.001)
        settle(clock)


class ShutdownTimeoutTests(SynchronousTestCase):
    """A SHUTDOWN waiting on a child that never leaves ends at the limit."""

    def make(self, timeout):
        self.clock = Clock()
        lifecycle = Lifecycle(self.clock, shutdown_timeout=timeout)
        self.hung = defer.Deferred()           # the children never go
        lifecycle.add_gate("shutdown", lambda: self.hung)
        to_state(lifecycle, self.clock, "run")
        return lifecycle

    def test_gives_up_at_the_limit(self):
        lifecycle = self.make(5.0)
        lifecycle.kill(signal.SIGTERM)
        settle(self.clock)
        self.assertEqual(lifecycle.state, "shutdown")
        with capturedLogs() as events:
            self.clock.advance(4.9)
            settle(self.clock)
            self.assertEqual(lifecycle.state, "shutdown")
            self.clock.advance(0.1)
            settle(self.clock)
        self.assertEqual(lifecycle.state, "exit")
        self.assertIn(("children-complete", "shutdown", "finalize"),
                      lifecycle.history)
        self.assertIn("shutdown: children still connected after 5s"
                      " (broker.shutdown-timeout): going on without them",
                      [formatEvent(e) for e in events])
        # the children leaving late changes nothing
        self.hung.callback(True)
        settle(self.clock)
        self.assertEqual(lifecycle.state, "exit")

    def test_no_limit_waits(self):
        lifecycle = self.make(None)
        lifecycle.kill(signal.SIGTERM)
        settle(self.clock)
        self.clock.advance(3600)
        settle(self.clock)
        self.assertEqual(lifecycle.state, "shutdown")
        self.hung.callback(True)
        settle(self.clock)
        self.assertEqual(lifecycle.state, "exit")

    def test_children_in_time_cancel_the_limit(self):
        lifecycle = self.make(5.0)
        lifecycle.kill(signal.SIGTERM)
        settle(self.clock)
        self.hung.callback(True)
        settle(self.clock)
        self.assertEqual(lifecycle.state, "exit")
        self.assertEqual(self.clock.getDelayedCalls(), [])


class CleanupTimeoutTests(SynchronousTestCase):
    def make(self, timeout):
        self.clock = Clock()
        self.runat = FakeRunat(defined={"cleanup"})
        lifecycle = Lifecycle(self.clock, self.runat, cleanup_timeout=timeout)
        to_state(lifecycle, self.clock, "run")
        return lifecycle

    def test_signal_stop_aborts_cleanup_at_the_limit(self):
        lifecycle = self.make(45.0)
        lifecycle.kill(signal.SIGTERM)
        settle(self.clock)
        self.assertEqual(lifecycle.state, "cleanup")
        self.clock.advance(44)
        self.assertEqual(self.runat.aborted, [])
        self.clock.advance(1)
        settle(self.clock)
        self.assertEqual(self.runat.aborted, [("cleanup", signal.SIGTERM)])
        self.assertIn(("cleanup-fail", "cleanup", "shutdown"),
                      lifecycle.history)

    def test_flux_shutdown_waits_for_cleanup(self):
        lifecycle = self.make(45.0)
        lifecycle.request_shutdown()
        settle(self.clock)
        self.clock.advance(3600)
        self.assertEqual((lifecycle.state, self.runat.aborted), ("cleanup", []))
        self.runat.finish("cleanup", 0)
        settle(self.clock)
        self.assertEqual(lifecycle.state, "exit")


class UnloadTimeoutTests(SynchronousTestCase):
    def test_stuck_module_left_behind(self):
        clock = Clock()
        stuck = defer.Deferred()
        lifecycle = Lifecycle(clock, builtins=FakeBuiltins(unload=lambda: stuck),
                              unload_timeout=60.0)
        to_state(lifecycle, clock, "run")
        lifecycle.kill(signal.SIGTERM)
        settle(clock)
        self.assertEqual(lifecycle.state, "unload-builtins")
        clock.advance(60)
        settle(clock)
        self.assertEqual(lifecycle.state, "exit")
        self.assertEqual(lifecycle.history[-1],
                         ("builtins-unload-fail", "unload-builtins", "exit"))


class ExplainTests(SynchronousTestCase):
    def test_port_in_use(self):
        failure = Failure(CannotListenError(
            "127.0.0.1", 8050, OSError(errno.EADDRINUSE,
                                       "Address already in use")))
        self.assertEqual(explain(failure), "cannot listen on 127.0.0.1:8050:"
                                           " Address already in use")

    def test_unix_socket(self):
        failure = Failure(CannotListenError(
            None, "/run/flux/local", OSError(errno.EACCES,
                                             "Permission denied")))
        self.assertEqual(explain(failure), "cannot listen on /run/flux/local:"
                                           " Permission denied")

    def test_os_and_flux_errors(self):
        self.assertEqual(explain(Failure(PermissionError(
            errno.EACCES, "Permission denied", "/var/lib/flux/x"))),
            "/var/lib/flux/x: Permission denied")
        self.assertEqual(explain(Failure(InvalidArgument("bad"))), "bad")
        self.assertIsNone(explain(Failure(ZeroDivisionError())))

    def test_load_failure_is_one_line(self):
        clock = Clock()
        failure = CannotListenError("127.0.0.1", 8050, OSError(
            errno.EADDRINUSE, "Address already in use"))
        lifecycle = Lifecycle(clock, builtins=FakeBuiltins(
            load=lambda: defer.fail(failure)))
        with capturedLogs() as events:
            lifecycle.start()
            settle(clock)
        self.assertEqual(lifecycle.state, "exit")
        self.assertEqual(lifecycle.exit_code, 1)
        errors = [e for e in events if e["log_level"].name in
                  ("error", "critical")]
        self.assertEqual([formatEvent(e) for e in errors], [
            "loading built-in modules failed: cannot listen on"
            " 127.0.0.1:8050: Address already in use"])
        self.assertNotIn("log_failure", errors[0])


class SlowBrokerTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.overlay = FakeOverlayStatus(online="0-1")
        self.warn = SlowBrokerWarnings(
            self.clock, self.overlay, 0, 4, [1, 2], ["n0", "n1", "n2", "n3"],
            quorum_warn=60.0, shutdown_warn=30.0)

    def errors(self, events):
        return [formatEvent(e) for e in events
                if e["log_level"].name == "error"]

    def test_quorum_delayed_then_reached(self):
        with capturedLogs() as events:
            self.warn(None, "quorum", "rc1-success")
            self.clock.advance(59)
            self.assertEqual(self.errors(events), [])
            self.clock.advance(1)
            self.overlay.change(online="0-2")
            self.clock.advance(60)
            self.warn(None, "run", "quorum-full")
        self.assertEqual(self.errors(events), [
            "quorum delayed: waiting for n[2-3] (rank 2-3)",
            "quorum delayed: waiting for n3 (rank 3)",
            "quorum reached"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_none_disables(self):
        self.warn.quorum_warn = None
        with capturedLogs() as events:
            self.warn(None, "quorum", "rc1-success")
            self.clock.advance(3600)
        self.assertEqual(self.errors(events), [])

    def test_shutdown_delayed_names_connected_children(self):
        with capturedLogs() as events:
            self.warn(None, "shutdown", "cleanup-none")
            self.clock.advance(30)
        self.assertEqual(self.errors(events), [
            "shutdown delayed: waiting for 1 peers: n1 (rank 1)"])
        self.warn(None, "finalize", "children-complete")
        self.assertEqual(self.clock.getDelayedCalls(), [])
