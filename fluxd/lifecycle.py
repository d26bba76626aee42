# -*- test-case-name: tests.unit.test_lifecycle -*-
"""The broker state machine (spec/broker.md section 2).

A broker goes through ``load-builtins``, ``join``, ``config-sync``,
``init`` (rc1), ``quorum``, ``run`` (rc2, the initial program),
``cleanup``, ``shutdown``, ``finalize`` (rc3), ``goodbye``,
``unload-builtins`` and ``exit``.  Each state's entry action either posts
the next event at once or starts something (a wait, a script) whose
outcome posts it.  Every transition is logged with the time spent in the
state being left, as the admin guide's journal shows::

    broker.info[0]: rc1-success: init->quorum 2.65475s

The states are an Automat machine.  :meth:`Lifecycle.post` queues an
event; the queue is worked off one event per reactor turn (through the
injected clock, as flux-core uses a prepare/check watcher), so an action
that posts at once (a lone broker has no parent to wait for) never
re-enters the machine, and an RPC that starts a transition (``flux
shutdown``) is answered before the broker moves on.  An event that a state
does not accept is ignored and logged at debug level, as flux-core does.

The waits are gates that other services add with
:meth:`Lifecycle.add_gate` (the overlay adds its own); each gate is a
callable returning a Deferred (or a value), and a state's wait is over
when all of its gates have fired:

- ``join``: a gate fires True once the TBON parent reached QUORUM
  (``parent-ready``); with none, or all False, ``parent-none``; a failure
  posts ``parent-fail``.
- ``config-sync``: True when the leader's config was fetched
  (``sync-success``), False to skip (``sync-none``).
- ``quorum``: fires when the quorum is reached.
- ``shutdown``: True when children were waited for, False when there
  were none.
- ``goodbye``: fires when ``flux shutdown`` clients are done.

On a lone broker (size 1) there are no gates and every wait is over at
once.

Three waits have a time limit (flux-broker-attributes(7)); None means
none:

- ``shutdown_timeout`` (``broker.shutdown-timeout``): SHUTDOWN gives up
  on children that have not disconnected and goes on to FINALIZE;
- ``cleanup_timeout`` (``broker.cleanup-timeout``): when the broker is
  stopping on a signal, CLEANUP's commands are aborted after it;
- ``unload_timeout`` (``broker.unload-builtins-timeout``, 60s): modules
  still stopping after it are left behind (``builtins-unload-fail``).  The modules are started and stopped through an injected
:class:`fluxd.interfaces.IBuiltins` (LOAD-BUILTINS, UNLOAD-BUILTINS), the
scripts (rc1, rc2, cleanup, rc3) through an injected ``runat`` object, see
:class:`IRunat`; whoever must act on EXIT listens for it.
"""

import signal

from automat import MethodicalMachine, NoTransition
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from zope.interface import Interface, implementer

from fluxd.errors import FluxError, InvalidArgument, NotFound
from fluxd.formats.fsd import format_fsd
from fluxd.interfaces import IBuiltins, ILifecycle, provide

#: state names in the order of flux-core's ``broker_state_t`` (the number
#: of a state is its index; ``state-machine.monitor`` sends numbers)
STATES = ("none", "load-builtins", "join", "config-sync", "init", "quorum",
          "run", "cleanup", "shutdown", "finalize", "goodbye",
          "unload-builtins", "exit")
STATE_NUMBER = {name: number for number, name in enumerate(STATES)}

#: (event, from, to): the transition table of spec/broker.md section 2
TRANSITIONS = (
    ("start", "none", "load-builtins"),
    ("builtins-success", "load-builtins", "join"),
    ("builtins-fail", "load-builtins", "unload-builtins"),
    ("parent-ready", "join", "config-sync"),
    ("parent-none", "join", "config-sync"),
    ("parent-fail", "join", "shutdown"),
    ("sync-success", "config-sync", "init"),
    ("sync-none", "config-sync", "init"),
    ("sync-fail", "config-sync", "shutdown"),
    ("rc1-success", "init", "quorum"),
    ("rc1-none", "init", "quorum"),
    ("rc1-ignorefail", "init", "quorum"),
    ("rc1-fail", "init", "shutdown"),
    ("panic", "init", "shutdown"),
    ("quorum-full", "quorum", "run"),
    ("quorum-fail", "quorum", "shutdown"),
    ("panic", "quorum", "shutdown"),
    ("rc2-success", "run", "cleanup"),
    ("rc2-fail", "run", "cleanup"),
    ("shutdown", "run", "cleanup"),
    ("parent-fail", "run", "cleanup"),
    ("rc2-none", "run", "run"),
    ("panic", "run", "shutdown"),
    ("cleanup-success", "cleanup", "shutdown"),
    ("cleanup-none", "cleanup", "shutdown"),
    ("cleanup-fail", "cleanup", "shutdown"),
    ("children-complete", "shutdown", "finalize"),
    ("children-none", "shutdown", "finalize"),
    ("rc3-success", "finalize", "goodbye"),
    ("rc3-none", "finalize", "goodbye"),
    ("rc3-fail", "finalize", "goodbye"),
    ("goodbye", "goodbye", "unload-builtins"),
    ("builtins-done", "unload-builtins", "exit"),
    ("builtins-unload-fail", "unload-builtins", "exit"),
)

EVENTS = frozenset(event for event, _, _ in TRANSITIONS)

#: states whose wait is made of gates (:meth:`Lifecycle.add_gate`)
GATED = ("join", "config-sync", "quorum", "shutdown", "goodbye")


class IRunat(Interface):
    """Runs the broker's scripts: ``rc1``, ``rc2``, ``cleanup``, ``rc3``."""

    def run(phase):
        """Start a phase.

        :returns: None when nothing is defined for it, else a Deferred
            firing with the exit code (0 for success).
        """

    def abort(phase, signum):
        """Signal the phase's running process (it then ends normally)."""


@implementer(IRunat)
class NoRunat:
    """A runat with nothing defined: every phase is ``-none``."""

    def run(self, phase):
        """Nothing to run: always None."""
        return None

    def abort(self, phase, signum):
        """Nothing runs, nothing to abort."""
        return None


class IStateListener(Interface):
    """Told about every state change (state-machine.monitor, sd_notify)."""

    def state_changed(lifecycle, state, event):
        """``lifecycle`` entered ``state`` on ``event``."""


def format_duration(seconds):
    """A state's duration as the admin guide's journal prints it.

    Seconds with 6 significant digits below a minute (``2.65475s``,
    ``9.3847e-05s``), then FSD minutes, hours or days (``1.5m``).
    """
    seconds = max(0.0, float(seconds))
    if seconds < 60.0:
        return "%.6gs" % seconds
    return format_fsd(seconds)


def explain(failure):
    """One line for an expected start-up failure, or None for a bug.

    A :class:`fluxd.errors.FluxError` explains itself; a port or socket
    that cannot be bound and an operating system error on a file are
    named with the reason.  Anything else deserves its traceback.
    """
    exc = failure.value
    if isinstance(exc, FluxError):
        return str(exc)
    if isinstance(exc, CannotListenError):
        cause = exc.socketError
        reason = getattr(cause, "strerror", None) or str(cause)
        where = f"{exc.interface}:{exc.port}" if exc.interface else exc.port
        return f"cannot listen on {where}: {reason}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return None


@implementer(IBuiltins)
class NoBuiltins:
    """No modules to start or stop (unit tests of the states)."""

    def load(self):
        """Nothing to start."""
        return defer.succeed(None)

    def unload(self):
        """Nothing to stop."""
        return defer.succeed(None)


@implementer(ILifecycle)
class Lifecycle:
    """One broker's states.

    :param clock: ``IReactorTime``: time in state, timestamps.
    :param runat: an :class:`IRunat` (default: no scripts).
    :param rank: the broker rank (``flux shutdown`` only on rank 0).
    :param exit_norestart: ``broker.exit-norestart`` (0: unset): the exit
        code after ``flux shutdown`` or an rc1 failure, so that systemd
        does not restart the broker.
    :param recovery_mode: ``broker.recovery-mode``: rc1 failures are
        ignored (``rc1-ignorefail``).
    :param builtins: the :class:`IBuiltins` started in LOAD-BUILTINS and
        stopped in UNLOAD-BUILTINS (default: none).
    :param shutdown_timeout: seconds SHUTDOWN waits for children (None:
        as long as it takes).
    :param cleanup_timeout: seconds CLEANUP may run once a signal asked
        the broker to stop (None: no limit).
    :param unload_timeout: seconds UNLOAD-BUILTINS waits for the modules
        to stop (None: no limit).

    :ivar exit_code: what the broker process should exit with.
    """

    _machine = MethodicalMachine()
    log = Logger()

    def __init__(self, clock, runat=None, rank=0, exit_norestart=0,
                 recovery_mode=False, builtins=None, shutdown_timeout=None,
                 cleanup_timeout=None, unload_timeout=60.0):
        self._clock = clock
        self.runat = provide(IRunat, runat) if runat is not None else NoRunat()
        self.builtins = (provide(IBuiltins, builtins) if builtins is not None
                         else NoBuiltins())
        self.rank = rank
        self.exit_norestart = exit_norestart
        self.recovery_mode = recovery_mode
        self.shutdown_timeout = shutdown_timeout
        self.cleanup_timeout = cleanup_timeout
        self.unload_timeout = unload_timeout
        self._timer = None
        self.exit_code = 0
        self._gates = {state: [] for state in GATED}
        self._state = "none"
        self._since = clock.seconds()
        self._queue = []
        self._turn = None
        self._event = None
        self._stopping = None
        self._running = set()
        self._listeners = []
        self._waiters = {}
        self.history = []

    # -- public API ---------------------------------------------------------

    @property
    def state(self):
        """The current state's name (``run``...)."""
        return self._state

    @property
    def duration(self):
        """Seconds spent in the current state so far."""
        return self._clock.seconds() - self._since

    @property
    def stopping(self):
        """True once a stop was requested (signal or ``flux shutdown``)."""
        return self._stopping is not None

    @property
    def shutdown_requested(self):
        """True once ``flux shutdown`` stops the whole instance (not a
        signal to this broker)."""
        return self._stopping == "shutdown"

    def start(self):
        """Post ``start``: leave NONE and begin loading the modules."""
        self.post("start")

    def post(self, event):
        """Queue an event; it is processed on a later reactor turn, after
        the events queued before it.

        :raises fluxd.errors.InvalidArgument: for an unknown event name.
        """
        if event not in EVENTS:
            raise InvalidArgument(f"unknown broker state machine event '{event}'")
        self._queue.append(event)
        self._schedule()

    def _schedule(self):
        if self._turn is None and self._queue:
            self._turn = self._clock.callLater(0, self._next_event)

    def _next_event(self):
        self._turn = None
        if self._queue:
            self._process(self._queue.pop(0))
        self._schedule()

    def when_state(self, name):
        """A Deferred firing (with the state name) when ``name`` is entered.

        Fires at once when the broker is in that state now; fails with
        :class:`fluxd.errors.NotFound` when the broker is past it or skips
        it (an rc1 failure never reaches RUN).
        """
        if name not in STATE_NUMBER:
            return defer.fail(InvalidArgument(f"unknown broker state '{name}'"))
        if name == self._state:
            return defer.succeed(name)
        if STATE_NUMBER[name] < STATE_NUMBER[self._state]:
            return defer.fail(NotFound(f"broker has surpassed {name} state"))
        d = defer.Deferred()
        self._waiters.setdefault(name, []).append(d)
        return d

    def add_listener(self, listener):
        """Tell ``listener`` (an :class:`IStateListener` or a callable
        ``(lifecycle, state, event)``) about every state change.

        :returns: a callable that removes it.
        """
        call = (listener.state_changed if IStateListener.providedBy(listener)
                else listener)
        self._listeners.append(call)

        def remove():
            if call in self._listeners:
                self._listeners.remove(call)
        return remove

    def add_gate(self, state, gate):
        """Make ``state``'s wait also wait for ``gate()``.

        :param state: one of :data:`GATED`.
        :param gate: a callable returning a Deferred or a value; for
            ``join``, ``config-sync`` and ``shutdown`` a true result means
            the wait had something to wait for.
        :raises fluxd.errors.InvalidArgument: for a state without gates.
        """
        if state not in self._gates:
            raise InvalidArgument(f"broker state '{state}' has no gates")
        self._gates[state].append(gate)

    def _gate(self, state):
        """A Deferred firing True when any of ``state``'s gates fired a true
        value (False when none did, or there are none); failing with the
        first gate's failure."""
        gates = self._gates[state]
        if not gates:
            return defer.succeed(False)
        waits = [defer.maybeDeferred(gate) for gate in gates]
        d = defer.gatherResults(waits, consumeErrors=True)
        d.addErrback(lambda f: f.value.subFailure)
        return d.addCallback(any)

    def request_shutdown(self):
        """``flux shutdown``: leave RUN for CLEANUP.

        :raises fluxd.errors.InvalidArgument: outside RUN or off rank 0,
            with flux-core's wording.
        """
        if self._state != "run":
            raise InvalidArgument(
                f"shutdown cannot be initiated in state {self._state}")
        if self.rank != 0:
            raise InvalidArgument("shutdown may only be initiated on rank 0")
        if self.exit_norestart > 0:
            self.exit_code = self.exit_norestart
        self._stopping = "shutdown"
        self._abort_or_post("rc2", signal.SIGHUP, "shutdown")

    def kill(self, signum=signal.SIGTERM):
        """A terminating signal: end the current state's work the way
        flux-core's ``state_machine_kill`` does (abort the running script,
        or post the failure event of a wait)."""
        if self._stopping is None:
            self._stopping = f"signal {signum}"
        state = self._state
        if state == "init":
            self.runat.abort("rc1", signum)
        elif state == "join":
            self.post("parent-fail")
        elif state == "config-sync":
            self.post("sync-fail")
        elif state == "quorum":
            self.post("quorum-fail")
        elif state == "run":
            self._abort_or_post("rc2", signal.SIGHUP, "shutdown")
        elif state == "cleanup":
            self.runat.abort("cleanup", signum)
        elif state == "finalize":
            self.runat.abort("rc3", signum)
        else:
            self.log.info("ignored signal {signum} in {state}", signum=signum,
                          state=state)

    # -- machinery ----------------------------------------------------------

    def _abort_or_post(self, phase, signum, event):
        if phase in self._running:
            self.runat.abort(phase, signum)
        else:
            self.post(event)

    def _process(self, event):
        self._event = event
        handler = getattr(self, "_in_" + event.replace("-", "_"))
        try:
            handler()
        except NoTransition:
            self.log.debug("{event}: ignored in {state}", event=event,
                           state=self._state)

    def _enter(self, new):
        if new == self._state:
            # rc2-none: RUN stays RUN (no initial program); nothing changes
            self.log.debug("{event}: staying in {state}", event=self._event,
                           state=new)
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        now = self._clock.seconds()
        old, spent = self._state, now - self._since
        self._state, self._since = new, now
        self.history.append((self._event, old, new))
        self.log.info("{event}: {old}->{new} {spent}", event=self._event,
                      old=old, new=new, spent=format_duration(spent))
        for call in list(self._listeners):
            try:
                call(self, new, self._event)
            except Exception:
                self.log.failure("state listener failed on {state}", state=new)
        self._wake_waiters()
        try:
            getattr(self, "_action_" + new.replace("-", "_"))()
        except Exception:
            self.log.failure("entry action of {state} failed", state=new)

    def _wake_waiters(self):
        number = STATE_NUMBER[self._state]
        for name in list(self._waiters):
            if STATE_NUMBER[name] > number:
                continue
            waiters = self._waiters.pop(name)
            for d in waiters:
                if name == self._state:
                    d.callback(name)
                else:
                    d.errback(NotFound(f"broker has surpassed {name} state"))

    def _await(self, state, on_result, fail_event, timeout=None,
               on_timeout=None):
        """Wait for ``state``'s gates; map the result to an event with
        ``on_result``; a failure posts ``fail_event``.  With ``timeout``
        (seconds), ``on_timeout()`` gives the event to post when the gates
        have not fired by then (the wait is then abandoned)."""
        d = self._gate(state)
        done = []

        def failed(failure):
            if failure.check(FluxError):
                self.log.error("{state} failed: {why}", state=self._state,
                               why=failure.value)
            else:
                self.log.failure("{state} failed", failure, state=self._state)
            return fail_event

        def post(event):
            if not done:
                done.append(event)
                self.post(event)
        d.addCallbacks(on_result, failed)
        d.addCallback(post)
        d.addErrback(lambda f: self.log.failure("posting an event failed", f))
        if timeout is not None:
            self._timer = self._clock.callLater(
                timeout, lambda: self._state == state and post(on_timeout()))

    def _phase(self, phase, none, success, fail, ignorefail=None):
        d = self.runat.run(phase)
        if d is None:
            self.post(none)
            return
        self._running.add(phase)

        def done(rc):
            self._running.discard(phase)
            if rc == 0:
                return success
            if phase == "rc1":
                if ignorefail is not None and self.recovery_mode:
                    return ignorefail
                self.exit_code = self.exit_norestart or rc
            elif self.exit_code == 0:
                self.exit_code = rc
            return fail

        def failed(failure):
            self._running.discard(phase)
            self.log.failure("{phase} failed", failure, phase=phase)
            if self.exit_code == 0:
                self.exit_code = 1
            return fail
        d.addCallbacks(done, failed)
        d.addCallback(self.post)
        d.addErrback(lambda f: self.log.failure("posting an event failed", f))

    # -- entry actions ------------------------------------------------------

    def _action_load_builtins(self):
        def failed(failure):
            why = explain(failure)
            if why is not None:
                # a refusal the module explained (a corrupt content
                # store, a port in use...): one line, no traceback
                self.log.error("loading built-in modules failed: {why}",
                               why=why)
            else:
                self.log.failure("loading built-in modules failed", failure)
            self.exit_code = self.exit_code or 1
            return "builtins-fail"
        d = defer.maybeDeferred(self.builtins.load)
        d.addCallbacks(lambda _: "builtins-success", failed)
        d.addCallback(self.post)

    def _action_join(self):
        if self._stopping is not None:
            self.post("parent-fail")
            return
        self._await("join",
                    lambda had: "parent-ready" if had else "parent-none",
                    "parent-fail")

    def _action_config_sync(self):
        if self._stopping is not None:
            self.post("sync-fail")
            return
        self._await("config-sync",
                    lambda synced: "sync-success" if synced else "sync-none",
                    "sync-fail")

    def _action_init(self):
        if self._stopping is not None:
            self.exit_code = self.exit_code or 1
            self.post("rc1-fail")
            return
        self._phase("rc1", "rc1-none", "rc1-success", "rc1-fail",
                    "rc1-ignorefail")

    def _action_quorum(self):
        if self._stopping is not None:
            self.post("quorum-fail")
            return
        self._await("quorum", lambda _: "quorum-full", "quorum-fail")

    def _action_run(self):
        if self._stopping is not None:
            self.post("shutdown")
            return
        self._phase("rc2", "rc2-none", "rc2-success", "rc2-fail")

    def _action_cleanup(self):
        self._phase("cleanup", "cleanup-none", "cleanup-success",
                    "cleanup-fail")
        if "cleanup" in self._running and self.cleanup_timeout is not None \
                and (self._stopping or "").startswith("signal"):
            # flux-core#6388: a broker told to stop by a signal (systemd)
            # must not wait for ever on cleanup commands
            self._timer = self._clock.callLater(
                self.cleanup_timeout, self._cleanup_overdue)

    def _cleanup_overdue(self):
        if self._state == "cleanup" and "cleanup" in self._running:
            self.log.error("cleanup: still running after {limit}"
                           " (broker.cleanup-timeout): aborting it",
                           limit=format_duration(self.cleanup_timeout))
            self.runat.abort("cleanup", signal.SIGTERM)

    def _action_shutdown(self):
        def overdue():
            self.log.error("shutdown: children still connected after {limit}"
                           " (broker.shutdown-timeout): going on without"
                           " them", limit=format_duration(self.shutdown_timeout))
            return "children-complete"
        self._await("shutdown",
                    lambda had: "children-complete" if had else "children-none",
                    "children-complete", self.shutdown_timeout, overdue)

    def _action_finalize(self):
        self._phase("rc3", "rc3-none", "rc3-success", "rc3-fail")

    def _action_goodbye(self):
        self._await("goodbye", lambda _: "goodbye", "goodbye")

    def _action_unload_builtins(self):
        done = []

        def failed(failure):
            if failure.check(FluxError):
                self.log.error("unloading built-in modules failed: {why}",
                               why=failure.value)
            else:
                self.log.failure("unloading built-in modules failed", failure)
            return "builtins-unload-fail"

        def post(event):
            if not done:
                done.append(event)
                self.post(event)

        def overdue():
            if self._state == "unload-builtins" and not done:
                self.log.error("unloading built-in modules: not done after"
                               " {limit} (broker.unload-builtins-timeout):"
                               " going on",
                               limit=format_duration(self.unload_timeout))
                post("builtins-unload-fail")
        d = defer.maybeDeferred(self.builtins.unload)
        d.addCallbacks(lambda _: "builtins-done", failed)
        d.addCallback(post)
        if self.unload_timeout is not None:
            self._timer = self._clock.callLater(self.unload_timeout, overdue)

    def _action_exit(self):
        """Nothing: the listeners were told (the broker exits then)."""

    # -- the Automat machine ------------------------------------------------
    # States and inputs mirror STATES and TRANSITIONS; outputs enter the
    # new state (log, listeners, entry action).

    @_machine.state(initial=True)
    def _none(self):
        "Before start."

    @_machine.state()
    def _load_builtins(self):
        "Starting the broker's modules."

    @_machine.state()
    def _join(self):
        "Waiting for the TBON parent."

    @_machine.state()
    def _config_sync(self):
        "Fetching the leader's config."

    @_machine.state()
    def _init(self):
        "Running rc1."

    @_machine.state()
    def _quorum(self):
        "Waiting for quorum."

    @_machine.state()
    def _run(self):
        "Running; rc2 if any."

    @_machine.state()
    def _cleanup(self):
        "Running cleanup commands."

    @_machine.state()
    def _shutdown(self):
        "Waiting for children to leave."

    @_machine.state()
    def _finalize(self):
        "Running rc3."

    @_machine.state()
    def _goodbye(self):
        "Waiting for shutdown clients."

    @_machine.state()
    def _unload_builtins(self):
        "Stopping the modules."

    @_machine.state()
    def _exit(self):
        "Done."


def _make_input(event):
    def input_(self):
        "An event of the broker state machine."
    input_.__name__ = "_in_" + event.replace("-", "_")
    return Lifecycle._machine.input()(input_)


def _make_output(state):
    def output(self):
        self._enter(state)
    output.__name__ = "_to_" + state.replace("-", "_")
    return Lifecycle._machine.output()(output)


def _build_machine():
    # The table above is the single source of the transitions; inputs and
    # outputs are generated from it rather than written out 34 times.
    for event in sorted(EVENTS):
        setattr(Lifecycle, "_in_" + event.replace("-", "_"), _make_input(event))
    outputs = {}
    for state in STATES:
        outputs[state] = _make_output(state)
        setattr(Lifecycle, "_to_" + state.replace("-", "_"), outputs[state])
    for event, old, new in TRANSITIONS:
        source = Lifecycle.__dict__["_" + old.replace("-", "_")]
        target = Lifecycle.__dict__["_" + new.replace("-", "_")]
        source.upon(Lifecycle.__dict__["_in_" + event.replace("-", "_")],
                    enter=target, outputs=[outputs[new]])


_build_machine()
