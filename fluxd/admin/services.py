# -*- test-case-name: tests.unit.admin.test_services -*-
"""Admin services over the lifecycle: ``state-machine``, ``shutdown`` and
``admin`` (startlog and safe mode), plus the rank 0 startlog steps.

- ``state-machine.get`` -> ``{"state": NAME, "duration": SECONDS}``
  (``flux uptime``); ``state-machine.wait`` answers once the broker is in
  RUN (ENOENT ``broker has surpassed RUN state`` after it);
  ``state-machine.monitor`` (streaming, owner) sends ``{"state": N,
  "name": NAME}`` for the current state and each change, up to the
  optional ``final`` state number.
- ``shutdown.start`` (streaming, owner, rank 0 in RUN) starts the
  shutdown and streams ``{"log": LINE}`` for each broker log record at
  most ``loglevel`` until the broker reaches GOODBYE (``flux shutdown``).
- ``admin.startlog`` (owner) -> ``{"events": [...]}``;
  ``admin.queue-status`` -> :meth:`fluxd.admin.startlog.SafeMode.status`.
"""

import errno
import os

from twisted.internet import defer
from twisted.logger import Logger

from fluxd import __version__
from fluxd.admin.startlog import (
    CRASH_WARNING, FILENAME, STARTLOG_VERSION, Startlog, previous_run_crashed)
from fluxd.errors import FluxError, InvalidArgument, NotFound
from fluxd.interfaces import ILifecycle, provide
from fluxd.lifecycle import STATE_NUMBER, STATES
from fluxd.logring import stdlog
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module


class StartlogKeeper:
    """Rank 0's startlog duties (the rc1/rc3 steps of flux-core).

    :param clock: ``IReactorTime`` (event timestamps).
    :param statedir: the broker's statedir.
    :param safe_mode: a :class:`fluxd.admin.startlog.SafeMode`.
    :param attributes: the attribute table (``broker.safe-mode`` is set).
    """

    log = Logger()

    def __init__(self, clock, statedir, safe_mode, attributes=None):
        self._clock = clock
        self.startlog = Startlog(os.path.join(statedir, FILENAME))
        self.safe_mode = safe_mode
        self._attributes = attributes
        self.started = False
        #: extra context of the ``finish`` event (``dump`` after --gc)
        self.finish_context = {}

    def detect(self):
        """At build time, before any service starts: enter safe mode when
        the previous run did not stop cleanly, so that the job services
        never schedule in the window before rc1."""
        try:
            crashed = previous_run_crashed(self.startlog.read())
        except OSError:
            return      # begin() reports the unreadable startlog
        if crashed:
            self.safe_mode.enter()
            if self._attributes is not None:
                # broker-owned, read-only for users: set outside attr.set
                self._attributes.set_initial("broker.safe-mode", "1")

    def begin(self):
        """rc1 step: post ``start``; say so when the previous run crashed
        (safe mode was entered by :meth:`detect`).

        :returns: 0, or 1 when the startlog cannot be written.
        """
        try:
            crashed = previous_run_crashed(self.startlog.read())
            self.startlog.append("start", {"version": STARTLOG_VERSION,
                                           "core_version": __version__},
                                 self._clock.seconds())
        except OSError as exc:
            self.log.error("startlog: {path}: {why}", path=self.startlog.path,
                           why=exc.strerror or exc)
            return 1
        self.started = True
        if crashed:
            if not self.safe_mode.active:
                self.detect_late()
            self.log.warn("{text}", text=CRASH_WARNING)
            self.log.warn("safe mode: job submission is disabled and"
                          " scheduling is stopped: {reason}"
                          " (see flux startlog)", reason=self.safe_mode.reason)
        return 0

    def detect_late(self):
        """Enter safe mode from rc1 (when :meth:`detect` was not called)."""
        self.safe_mode.enter()
        if self._attributes is not None:
            self._attributes.set_initial("broker.safe-mode", "1")

    def finish(self):
        """rc3 step: post ``finish`` (a clean stop).  :returns: 0 or 1."""
        if not self.started:
            return 0
        context = {"version": STARTLOG_VERSION}
        context.update(self.finish_context)
        try:
            self.startlog.append("finish", context, self._clock.seconds())
        except OSError as exc:
            self.log.error("startlog: {path}: {why}", path=self.startlog.path,
                           why=exc.strerror or exc)
            return 1
        self.started = False
        return 0


class StateMachineService(Module):
    """The ``state-machine`` service over a :class:`fluxd.lifecycle.Lifecycle`."""

    name = "state-machine"

    def __init__(self, lifecycle, rank=0):
        super().__init__(rank)
        self.lifecycle = provide(ILifecycle, lifecycle)

    @method("get", roles=ROLE_USER)
    def rpc_get(self, request):
        """The current state and the seconds spent in it."""
        return {"state": self.lifecycle.state,
                "duration": self.lifecycle.duration}

    @method("wait", roles=ROLE_USER)
    def rpc_wait(self, request):
        """Answer once the broker is in RUN."""
        d = self.lifecycle.when_state("run")

        def surpassed(failure):
            failure.trap(NotFound)
            raise NotFound("broker has surpassed RUN state")
        d.addCallbacks(lambda _: None, surpassed)
        request.on_cancel(lambda: d.called or d.cancel())
        return d

    @method("monitor", streaming=True)
    def rpc_monitor(self, request):
        """Stream the state numbers up to ``final`` (default: exit)."""
        final = request.json().get("final", STATE_NUMBER["exit"])
        if not isinstance(final, int) or isinstance(final, bool) \
                or not 0 <= final < len(STATES):
            raise InvalidArgument("state-machine.monitor: final must be a"
                                  f" state number 0-{len(STATES) - 1}")
        done = defer.Deferred()

        def send(state):
            number = STATE_NUMBER[state]
            if number > final:
                return True
            request.respond({"state": number, "name": state})
            return number == final
        if send(self.lifecycle.state):
            return None

        def changed(lifecycle, state, event):
            if not done.called and send(state):
                remove()
                done.callback(None)
        remove = self.lifecycle.add_listener(changed)

        def cancelled():
            remove()
            if not done.called:
                done.callback(None)
        request.on_cancel(cancelled)
        return done


class ShutdownService(Module):
    """The ``shutdown`` service (``flux shutdown``).

    :param lifecycle: the broker's Lifecycle.
    :param logring: the LogRingService whose records are streamed.
    :param attributes: the attribute table (``content.dump`` is recorded).
    :param startlog: the StartlogKeeper (the dump request goes in the
        ``finish`` event), or None off rank 0.
    """

    name = "shutdown"
    log = Logger()

    def __init__(self, lifecycle, logring, attributes, startlog=None, rank=0):
        super().__init__(rank)
        self.lifecycle = provide(ILifecycle, lifecycle)
        self._logring = logring
        self._attributes = attributes
        self._startlog = startlog
        self._streams = []
        self.dump_request = None
        lifecycle.add_listener(self._state_changed)

    def _state_changed(self, lifecycle, state, event):
        if state in ("goodbye", "unload-builtins", "exit"):
            self._finish_streams()

    def _finish_streams(self):
        streams, self._streams = self._streams, []
        for stop, done in streams:
            stop()
            if not done.called:
                done.callback(None)

    def stopService(self):
        super().stopService()
        self._finish_streams()

    def _record_dump(self, dump):
        # The KVS dump itself belongs to the content store's rc3 work:
        # record the request where it will look (content.dump, as flux
        # shutdown sets it) and in the startlog.
        self.dump_request = dump
        self._attributes.set_initial("content.dump", dump)
        if self._startlog is not None:
            self._startlog.finish_context["dump"] = dump
        if dump:
            self.log.info("shutdown: KVS dump requested (content.dump={dump})",
                          dump=dump)
        else:
            self.log.info("shutdown: KVS dump skipped (--skip-gc)")

    @method("start", streaming=True)
    def rpc_start(self, request):
        """Start the shutdown.

        Payload ``{"loglevel": 0-7 (6), "dump": PATH|"auto"|""|null,
        "background": bool}``.  Unless ``background``, stream the log until
        the broker reaches GOODBYE.
        """
        body = request.json()
        loglevel = body.get("loglevel", 6)
        dump = body.get("dump")
        background = body.get("background", False)
        if not isinstance(loglevel, int) or isinstance(loglevel, bool) \
                or not 0 <= loglevel <= 7:
            raise InvalidArgument("shutdown.start: loglevel must be 0-7")
        if dump is not None and not isinstance(dump, str):
            raise InvalidArgument("shutdown.start: dump must be a string")
        if not isinstance(background, bool):
            raise InvalidArgument("shutdown.start: background must be a boolean")
        done = defer.Deferred()
        entry = None
        if not background:
            def forward(record):
                try:
                    decoded = stdlog.decode(record)
                except FluxError:
                    return
                if decoded.severity <= loglevel:
                    request.respond({"log": stdlog.journal_line(decoded) + "\n"})
            entry = (self._logring.follow(forward), done)
            # registered before the request is made, so that reaching
            # GOODBYE always ends this stream while the connection is up
            self._streams.append(entry)
        try:
            self.lifecycle.request_shutdown()
        except FluxError:
            if entry is not None:
                self._streams.remove(entry)
                entry[0]()
            raise
        self.log.info("shutdown requested by uid {userid}",
                      userid=request.userid)
        if dump is not None:
            self._record_dump(dump)
        if background:
            return None

        def cancelled():
            entry[0]()
            if entry in self._streams:
                self._streams.remove(entry)
            if not done.called:
                done.callback(None)
        request.on_cancel(cancelled)
        return done


class AdminService(Module):
    """The ``admin`` service: startlog events and safe-mode status.

    :param safe_mode: a :class:`fluxd.admin.startlog.SafeMode`.
    :param startlog: a StartlogKeeper, or None (not rank 0).
    """

    name = "admin"

    def __init__(self, safe_mode, startlog=None, rank=0):
        super().__init__(rank)
        self.safe_mode = safe_mode
        self._startlog = startlog

    @method("startlog")
    def rpc_startlog(self, request):
        """The startlog events, oldest first."""
        if self._startlog is None:
            raise FluxError("the startlog is kept on rank 0",
                            errnum=errno.EPROTO)
        return {"events": self._startlog.startlog.read()}

    @method("queue-status", roles=ROLE_USER)
    def rpc_queue_status(self, request):
        """Whether submission is enabled and scheduling started."""
        return self.safe_mode.status()
