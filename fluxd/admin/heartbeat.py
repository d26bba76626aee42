# -*- test-case-name: tests.unit.admin.test_heartbeat -*-
"""The ``heartbeat`` service (``flux-config-heartbeat(5)``).

Rank 0 publishes a ``heartbeat.pulse`` event every ``heartbeat.period``
(2s): services that want to act in step across the instance subscribe to
it.  Followers watch the pulses once they have joined (from INIT on, as
flux-core loads its heartbeat module in rc1): after ``warn_thresh``
missed periods they log a warning, and after ``heartbeat.timeout`` (5m;
``0`` or ``inf`` disables it) without one they give up on their parent,
which stops the broker as losing the parent does (``broker.exit-restart``
then lets systemd start it again, to rejoin when the parent is back).

All three keys follow ``flux config reload``.
"""

import math

from twisted.internet import task
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.config import parse_duration_key
from fluxd.formats.fsd import format_fsd
from fluxd.interfaces import IEvents, IReconfigurable, provide
from fluxd.module import Module

#: the event topic
PULSE = "heartbeat.pulse"


@implementer(IReconfigurable)
class HeartbeatService(Module):
    """The heartbeat of one broker.

    :param clock: ``IReactorTime``.
    :param rank: this broker's rank.
    :param events: the broker's :class:`fluxd.interfaces.IEvents`.
    :param cred: the instance credential the pulses are published with.
    :param config: the broker's :class:`fluxd.config.Config`.
    :param on_timeout: called (no arguments) when a follower gives up on
        its parent.
    """

    name = "heartbeat"
    log = Logger()

    def __init__(self, clock, rank, events, cred, config, on_timeout=None):
        super().__init__(rank)
        self._clock = clock
        self._events = provide(IEvents, events)
        self._cred = cred
        self._on_timeout = on_timeout
        self._settings(config)
        self._pulse = None
        self._check = None
        self._sub = None
        self.watching = False
        self.last = None
        self._warned = 0
        self.stats = {"pulses": 0}

    def _settings(self, config):
        period = parse_duration_key(config, "heartbeat.period")
        timeout = parse_duration_key(config, "heartbeat.timeout")
        self.period = period
        self.timeout = timeout if timeout > 0 and math.isfinite(timeout) \
            else None
        self.warn_thresh = config.get("heartbeat.warn_thresh")

    # -- service --------------------------------------------------------------

    def startService(self):
        super().startService()
        if self.rank == 0:
            self._start_pulse()
        else:
            self._sub = self._events.subscribe(PULSE, self._received)

    def stopService(self):
        super().stopService()
        self.unwatch()
        if self._pulse is not None and self._pulse.running:
            self._pulse.stop()
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None

    def _start_pulse(self):
        if self._pulse is not None and self._pulse.running:
            self._pulse.stop()
        self._pulse = task.LoopingCall(self._publish)
        self._pulse.clock = self._clock
        self._pulse.start(self.period, now=False)

    def _publish(self):
        self.stats["pulses"] += 1
        self._events.publish(PULSE, None, cred=self._cred)

    # -- followers ------------------------------------------------------------

    def watch(self):
        """Start watching the pulses (a follower that joined)."""
        if self.rank == 0 or self.watching:
            return
        self.watching = True
        self.last = self._clock.seconds()
        self._arm()

    def unwatch(self):
        """Stop watching (the broker is stopping)."""
        self.watching = False
        if self._check is not None and self._check.active():
            self._check.cancel()
        self._check = None

    def _received(self, message):
        self.stats["pulses"] += 1
        self.last = self._clock.seconds()
        if self._warned:
            self.log.info("heartbeat: received again after {n} missed",
                          n=self._warned)
            self._warned = 0
        if self.watching:
            self._arm()

    def _arm(self):
        if self._check is not None and self._check.active():
            self._check.cancel()
        self._check = self._clock.callLater(self.period, self._overdue)

    def _overdue(self):
        self._check = None
        if not self.watching:
            return
        silent = self._clock.seconds() - self.last
        missed = int(silent / self.period + 1e-9)
        if self.timeout is not None and silent >= self.timeout:
            self.log.error("heartbeat: none received for {silent}"
                           " (heartbeat.timeout): leaving the parent",
                           silent=format_fsd(silent))
            self.unwatch()
            if self._on_timeout is not None:
                self._on_timeout()
            return
        if self.warn_thresh and missed >= self.warn_thresh \
                and not self._warned:
            self._warned = missed
            self.log.warn("heartbeat: {n} periods missed ({silent} without"
                          " one)", n=missed, silent=format_fsd(silent))
        delay = self.period
        if self.timeout is not None:
            delay = min(delay, max(self.timeout - silent, 0.0))
        self._check = self._clock.callLater(delay, self._overdue)

    # -- IReconfigurable ------------------------------------------------------

    def reconfigure(self, config):
        """Adopt new ``[heartbeat]`` settings (the period takes effect at
        once on rank 0; followers re-arm their check)."""
        old = self.period
        self._settings(config)
        if self.rank == 0 and self.running and self.period != old:
            self._start_pulse()
        elif self.watching:
            self._arm()
