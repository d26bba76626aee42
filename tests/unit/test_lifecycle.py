"""The broker state machine: transitions, timing in the log, pluggable waits."""

import signal

from hypothesis import given, strategies as st
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from fluxd.errors import InvalidArgument, NotFound
from fluxd.interfaces import IBuiltins
from fluxd.lifecycle import (
    EVENTS, GATED, IRunat, STATE_NUMBER, STATES, TRANSITIONS, Lifecycle,
    format_duration)


def settle(clock):
    """Run every zero-delay call (the machine takes one event per turn)."""
    for _ in range(1000):
        due = [c for c in clock.getDelayedCalls() if c.getTime() <= clock.seconds()]
        if not due:
            return
        clock.advance(0)
    raise AssertionError("the machine did not settle")


@implementer(IRunat)
class FakeRunat:
    """Phases answer with what the test says, when it says."""

    def __init__(self, defined=()):
        self.defined = set(defined)
        self.pending = {}
        self.aborted = []

    def run(self, phase):
        if phase not in self.defined:
            return None
        d = self.pending[phase] = defer.Deferred()
        return d

    def abort(self, phase, signum):
        self.aborted.append((phase, signum))
        d = self.pending.pop(phase, None)
        if d is not None:
            d.callback(128 + signum)

    def finish(self, phase, rc):
        self.pending.pop(phase).callback(rc)


@implementer(IBuiltins)
class FakeBuiltins:
    """Module loading and unloading that answer what the test says."""

    def __init__(self, load=None, unload=None):
        self._load = load or (lambda: defer.succeed(None))
        self._unload = unload or (lambda: defer.succeed(None))

    def load(self):
        return self._load()

    def unload(self):
        return self._unload()


def exits_of(lifecycle):
    """A list that gets the exit code when ``lifecycle`` enters EXIT."""
    exits = []
    lifecycle.add_listener(
        lambda lc, state, event: exits.append(lc.exit_code)
        if state == "exit" else None)
    return exits


def transition_lines(events):
    return [formatEvent(e) for e in events
            if e.get("log_namespace") == "fluxd.lifecycle.Lifecycle"
            and e["log_level"] == LogLevel.info and "->" in formatEvent(e)]


class LoneBrokerTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.lifecycle = Lifecycle(self.clock)

    def test_start_reaches_run_in_order(self):
        self.lifecycle.start()
        self.assertEqual(self.lifecycle.state, "none")  # nothing before a turn
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "run")
        self.assertEqual(self.lifecycle.history, [
            ("start", "none", "load-builtins"),
            ("builtins-success", "load-builtins", "join"),
            ("parent-none", "join", "config-sync"),
            ("sync-none", "config-sync", "init"),
            ("rc1-none", "init", "quorum"),
            ("quorum-full", "quorum", "run"),
        ])

    def test_time_in_each_state_is_logged(self):
        gate = defer.Deferred()
        self.lifecycle.add_gate("quorum", lambda: gate)
        with capturedLogs() as events:
            self.lifecycle.start()
            settle(self.clock)
            self.clock.advance(2.65475)
            gate.callback(None)
            settle(self.clock)
        lines = transition_lines(events)
        self.assertEqual(lines[0], "start: none->load-builtins 0s")
        self.assertIn("quorum-full: quorum->run 2.65475s", lines)

    def test_rc2_none_stays_in_run_quietly(self):
        with capturedLogs() as events:
            self.lifecycle.start()
            settle(self.clock)
        self.assertFalse(any("rc2-none" in line for line in transition_lines(events)))
        debug = [formatEvent(e) for e in events if e["log_level"] == LogLevel.debug]
        self.assertIn("rc2-none: staying in run", debug)

    def test_shutdown_runs_to_exit(self):
        exits = exits_of(self.lifecycle)
        self.lifecycle.start()
        settle(self.clock)
        self.lifecycle.request_shutdown()
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "exit")
        self.assertEqual(exits, [0])
        self.assertEqual([h[2] for h in self.lifecycle.history[6:]], [
            "cleanup", "shutdown", "finalize", "goodbye", "unload-builtins",
            "exit"])

    def test_shutdown_outside_run_refused(self):
        with self.assertRaises(InvalidArgument) as caught:
            self.lifecycle.request_shutdown()
        self.assertEqual(str(caught.exception),
                         "shutdown cannot be initiated in state none")

    def test_shutdown_off_rank_zero_refused(self):
        lifecycle = Lifecycle(self.clock, rank=3)
        lifecycle.start()
        settle(self.clock)
        with self.assertRaises(InvalidArgument) as caught:
            lifecycle.request_shutdown()
        self.assertEqual(str(caught.exception),
                         "shutdown may only be initiated on rank 0")

    def test_exit_norestart_after_shutdown(self):
        lifecycle = Lifecycle(self.clock, exit_norestart=42)
        lifecycle.start()
        settle(self.clock)
        lifecycle.request_shutdown()
        settle(self.clock)
        self.assertEqual(lifecycle.exit_code, 42)

    def test_unknown_event_rejected(self):
        self.assertRaises(InvalidArgument, self.lifecycle.post, "frobnicate")

    def test_event_ignored_in_wrong_state(self):
        with capturedLogs() as events:
            self.lifecycle.post("rc3-success")
            settle(self.clock)
        self.assertEqual(self.lifecycle.state, "none")
        self.assertIn("rc3-success: ignored in none",
                      [formatEvent(e) for e in events])

    def test_duration_is_time_in_current_state(self):
        self.lifecycle.start()
        settle(self.clock)
        self.clock.advance(7)
        self.assertEqual(self.lifecycle.duration, 7)


class WaitTests(SynchronousTestCase):
    """The JOIN, QUORUM and SHUTDOWN waits are made of gates."""

    def setUp(self):
        self.clock = Clock()
        self.lifecycle = Lifecycle(self.clock)

    def test_parent_ready(self):
        parent = defer.Deferred()
        self.lifecycle.add_gate("join", lambda: parent)
        self.lifecycle.start()
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "join")
        parent.callback(True)
        settle(self.clock)
        self.assertIn(("parent-ready", "join", "config-sync"),
                      self.lifecycle.history)
        self.assertEqual(self.lifecycle.state, "run")

    def test_parent_fail_goes_to_shutdown(self):
        self.lifecycle.add_gate("join", lambda: defer.fail(RuntimeError("gone")))
        self.lifecycle.start()
        settle(self.clock)
        self.flushLoggedErrors(RuntimeError)
        self.assertIn(("parent-fail", "join", "shutdown"), self.lifecycle.history)
        self.assertEqual(self.lifecycle.state, "exit")

    def test_quorum_wait(self):
        quorum = defer.Deferred()
        self.lifecycle.add_gate("quorum", lambda: quorum)
        self.lifecycle.start()
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "quorum")
        quorum.callback(None)
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "run")

    def test_children_wait(self):
        children = defer.Deferred()
        self.lifecycle.add_gate("shutdown", lambda: children)
        self.lifecycle.start()
        settle(self.clock)
        self.lifecycle.request_shutdown()
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "shutdown")
        children.callback(True)
        settle(self.clock)
        self.assertIn(("children-complete", "shutdown", "finalize"),
                      self.lifecycle.history)
        self.assertEqual(self.lifecycle.state, "exit")

    def test_every_gate_of_a_state_is_awaited(self):
        first, second = defer.Deferred(), defer.Deferred()
        self.lifecycle.add_gate("quorum", lambda: first)
        self.lifecycle.add_gate("quorum", lambda: second)
        self.lifecycle.start()
        settle(self.clock)
        first.callback(None)
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "quorum")
        second.callback(None)
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "run")

    def test_gate_on_a_state_without_gates_refused(self):
        self.assertRaises(InvalidArgument, self.lifecycle.add_gate, "run",
                          defer.Deferred)

    def test_config_sync(self):
        self.lifecycle.add_gate("config-sync", lambda: defer.succeed(True))
        self.lifecycle.start()
        settle(self.clock)
        self.assertIn(("sync-success", "config-sync", "init"),
                      self.lifecycle.history)

    def test_kill_in_join(self):
        self.lifecycle.add_gate("join", defer.Deferred)
        self.lifecycle.start()
        settle(self.clock)
        self.lifecycle.kill(signal.SIGTERM)
        settle(self.clock)
        self.assertIn(("parent-fail", "join", "shutdown"), self.lifecycle.history)
        self.assertEqual(self.lifecycle.state, "exit")

    def test_kill_in_quorum(self):
        self.lifecycle.add_gate("quorum", defer.Deferred)
        self.lifecycle.start()
        settle(self.clock)
        self.lifecycle.kill(signal.SIGTERM)
        settle(self.clock)
        self.assertIn(("quorum-fail", "quorum", "shutdown"), self.lifecycle.history)

    def test_kill_during_load_builtins_still_stops(self):
        modules = defer.Deferred()
        self.lifecycle = Lifecycle(self.clock,
                                   builtins=FakeBuiltins(load=lambda: modules))
        self.lifecycle.start()
        settle(self.clock)
        with capturedLogs() as events:
            self.lifecycle.kill(signal.SIGTERM)
        self.assertIn("ignored signal 15 in load-builtins",
                      [formatEvent(e) for e in events])
        modules.callback(None)
        settle(self.clock)
        self.assertIn(("parent-fail", "join", "shutdown"), self.lifecycle.history)
        self.assertEqual(self.lifecycle.state, "exit")

    def test_builtins_fail(self):
        self.lifecycle = Lifecycle(self.clock, builtins=FakeBuiltins(
            load=lambda: defer.fail(RuntimeError("no"))))
        self.lifecycle.start()
        settle(self.clock)
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(self.lifecycle.history[1],
                         ("builtins-fail", "load-builtins", "unload-builtins"))
        self.assertEqual((self.lifecycle.state, self.lifecycle.exit_code),
                         ("exit", 1))

    def test_unload_fail_still_exits(self):
        self.lifecycle = Lifecycle(self.clock, builtins=FakeBuiltins(
            unload=lambda: defer.fail(RuntimeError("x"))))
        self.lifecycle.start()
        settle(self.clock)
        self.lifecycle.request_shutdown()
        settle(self.clock)
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(self.lifecycle.history[-1],
                         ("builtins-unload-fail", "unload-builtins", "exit"))


class ScriptTests(SynchronousTestCase):
    """rc1, rc2 and rc3 through the runat."""

    def setUp(self):
        self.clock = Clock()

    def make(self, defined, **kw):
        runat = FakeRunat(defined)
        lifecycle = Lifecycle(self.clock, runat, **kw)
        lifecycle.start()
        settle(self.clock)
        return lifecycle, runat

    def test_rc1_success(self):
        lifecycle, runat = self.make({"rc1"})
        self.assertEqual(lifecycle.state, "init")
        runat.finish("rc1", 0)
        settle(self.clock)
        self.assertIn(("rc1-success", "init", "quorum"), lifecycle.history)

    def test_rc1_fail_shuts_down_with_its_code(self):
        lifecycle, runat = self.make({"rc1"})
        runat.finish("rc1", 3)
        settle(self.clock)
        self.assertIn(("rc1-fail", "init", "shutdown"), lifecycle.history)
        self.assertEqual((lifecycle.state, lifecycle.exit_code), ("exit", 3))

    def test_rc1_fail_with_exit_norestart(self):
        lifecycle, runat = self.make({"rc1"}, exit_norestart=42)
        runat.finish("rc1", 3)
        settle(self.clock)
        self.assertEqual(lifecycle.exit_code, 42)

    def test_rc1_fail_ignored_in_recovery_mode(self):
        lifecycle, runat = self.make({"rc1"}, recovery_mode=True)
        runat.finish("rc1", 1)
        settle(self.clock)
        self.assertIn(("rc1-ignorefail", "init", "quorum"), lifecycle.history)
        self.assertEqual(lifecycle.state, "run")

    def test_rc2_exit_code_is_the_broker_exit_code(self):
        lifecycle, runat = self.make({"rc2"})
        self.assertEqual(lifecycle.state, "run")
        runat.finish("rc2", 5)
        settle(self.clock)
        self.assertIn(("rc2-fail", "run", "cleanup"), lifecycle.history)
        self.assertEqual((lifecycle.state, lifecycle.exit_code), ("exit", 5))

    def test_rc2_success(self):
        lifecycle, runat = self.make({"rc2"})
        runat.finish("rc2", 0)
        settle(self.clock)
        self.assertIn(("rc2-success", "run", "cleanup"), lifecycle.history)
        self.assertEqual(lifecycle.exit_code, 0)

    def test_shutdown_hangs_up_rc2(self):
        lifecycle, runat = self.make({"rc2"})
        lifecycle.request_shutdown()
        settle(self.clock)
        self.assertEqual(runat.aborted, [("rc2", signal.SIGHUP)])
        self.assertEqual((lifecycle.state, lifecycle.exit_code), ("exit", 129))

    def test_kill_aborts_rc1(self):
        lifecycle, runat = self.make({"rc1"})
        lifecycle.kill(signal.SIGTERM)
        settle(self.clock)
        self.assertEqual(runat.aborted, [("rc1", signal.SIGTERM)])
        self.assertIn(("rc1-fail", "init", "shutdown"), lifecycle.history)

    def test_rc3_fail_sets_exit_code(self):
        lifecycle, runat = self.make({"rc3"})
        lifecycle.request_shutdown()
        settle(self.clock)
        self.assertEqual(lifecycle.state, "finalize")
        runat.finish("rc3", 2)
        settle(self.clock)
        self.assertIn(("rc3-fail", "finalize", "goodbye"), lifecycle.history)
        self.assertEqual((lifecycle.state, lifecycle.exit_code), ("exit", 2))

    def test_kill_aborts_rc3(self):
        lifecycle, runat = self.make({"rc3"})
        lifecycle.request_shutdown()
        settle(self.clock)
        lifecycle.kill(signal.SIGTERM)
        settle(self.clock)
        self.assertEqual(runat.aborted, [("rc3", signal.SIGTERM)])
        self.assertEqual(lifecycle.state, "exit")

    def test_runat_failure_is_a_phase_failure(self):
        lifecycle, runat = self.make({"rc1"})
        runat.pending.pop("rc1").errback(RuntimeError("spawn failed"))
        settle(self.clock)
        self.flushLoggedErrors(RuntimeError)
        self.assertIn(("rc1-fail", "init", "shutdown"), lifecycle.history)
        self.assertEqual(lifecycle.exit_code, 1)


class WhenStateTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.lifecycle = Lifecycle(self.clock)

    def test_fires_on_entry(self):
        d = self.lifecycle.when_state("run")
        self.assertNoResult(d)
        self.lifecycle.start()
        settle(self.clock)
        self.assertEqual(self.successResultOf(d), "run")

    def test_fires_at_once_when_in_state(self):
        self.assertEqual(self.successResultOf(self.lifecycle.when_state("none")),
                         "none")

    def test_fails_when_passed(self):
        self.lifecycle.start()
        settle(self.clock)
        failure = self.failureResultOf(self.lifecycle.when_state("join"), NotFound)
        self.assertEqual(str(failure.value), "broker has surpassed join state")

    def test_fails_when_skipped(self):
        runat = FakeRunat({"rc1"})
        lifecycle = Lifecycle(self.clock, runat)
        d = lifecycle.when_state("run")
        lifecycle.start()
        settle(self.clock)
        runat.finish("rc1", 1)
        settle(self.clock)
        self.failureResultOf(d, NotFound)

    def test_unknown_state(self):
        self.failureResultOf(self.lifecycle.when_state("nap"), InvalidArgument)

    def test_listeners_see_each_state(self):
        seen = []
        remove = self.lifecycle.add_listener(
            lambda lc, state, event: seen.append((state, event)))
        self.lifecycle.start()
        settle(self.clock)
        remove()
        self.lifecycle.request_shutdown()
        settle(self.clock)
        self.assertEqual(seen[0], ("load-builtins", "start"))
        self.assertEqual(seen[-1], ("run", "quorum-full"))


class TableTests(SynchronousTestCase):
    def test_every_transition_of_the_table(self):
        """Walk to each transition's source state, post its event, land on
        its target (entry actions that would move on are held)."""
        held = defer.Deferred
        for event, source, target in TRANSITIONS:
            clock = Clock()
            runat = FakeRunat({"rc1", "rc2", "cleanup", "rc3"})
            lifecycle = Lifecycle(clock, runat,
                                  builtins=FakeBuiltins(held, held))
            for state in GATED:
                lifecycle.add_gate(state, held)
            path = _path_to(source)
            for step in path:
                lifecycle.post(step)
                settle(clock)
            self.assertEqual(lifecycle.state, source, (event, path))
            lifecycle.post(event)
            settle(clock)
            self.assertEqual(lifecycle.state, target, event)

    def test_states_and_events(self):
        self.assertEqual(STATES[0], "none")
        self.assertEqual(STATE_NUMBER["exit"], len(STATES) - 1)
        self.assertIn("children-none", EVENTS)

    @given(st.lists(st.sampled_from(sorted(EVENTS)), max_size=30))
    def test_random_events_follow_the_table(self, events):
        """With every action held, an event moves the machine exactly as
        the table says, or is ignored."""
        clock = Clock()
        lifecycle = Lifecycle(clock, FakeRunat({"rc1", "rc2", "cleanup", "rc3"}),
                              builtins=FakeBuiltins(defer.Deferred,
                                                    defer.Deferred))
        for state in GATED:
            lifecycle.add_gate(state, defer.Deferred)
        for event in events:
            before = lifecycle.state
            lifecycle.post(event)
            settle(clock)
            allowed = {t for e, s, t in TRANSITIONS if e == event and s == before}
            self.assertEqual(lifecycle.state, allowed.pop() if allowed else before)
        for step in lifecycle.history:
            self.assertIn(step, TRANSITIONS)


def _path_to(state):
    """Events leading from NONE to ``state`` (breadth-first on the table)."""
    frontier = [("none", [])]
    seen = {"none"}
    while frontier:
        current, path = frontier.pop(0)
        if current == state:
            return path
        for event, source, target in TRANSITIONS:
            if source == current and target not in seen:
                seen.add(target)
                frontier.append((target, path + [event]))
    raise AssertionError(f"{state} unreachable")


class FormatTests(SynchronousTestCase):
    def test_guide_examples(self):
        self.assertEqual(format_duration(0.0162958), "0.0162958s")
        self.assertEqual(format_duration(41.8603), "41.8603s")
        self.assertEqual(format_duration(9.3847e-05), "9.3847e-05s")
        self.assertEqual(format_duration(2.65475), "2.65475s")

    def test_long_durations_use_fsd_units(self):
        self.assertEqual(format_duration(90), "1.5m")
        self.assertEqual(format_duration(7200), "2h")

    def test_negative_clock_skew_is_zero(self):
        self.assertEqual(format_duration(-1), "0s")
