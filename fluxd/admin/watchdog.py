# -*- test-case-name: tests.unit.test_lifecycle_timeouts -*-
"""Warnings about slow brokers while the broker waits on them
(``broker.quorum-warn``, ``broker.shutdown-warn``; flux-core's
``state_machine.c``).

- Rank 0 in QUORUM: every ``broker.quorum-warn`` (60s; ``none`` disables)
  it logs the brokers it is still waiting for, at error level::

      broker.err[0]: quorum delayed: waiting for test[2-7] (rank 2-7)

  and ``quorum reached`` once they came, if it warned.
- Any broker in SHUTDOWN: every ``broker.shutdown-warn`` (60s) it logs
  the children that have not disconnected yet::

      broker.err[0]: shutdown delayed: waiting for 1 peers: test1 (rank 1)
"""

from twisted.logger import Logger

from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset
from fluxd.interfaces import IOverlayStatus, provide


class SlowBrokerWarnings:
    """Lifecycle listener that warns about slow brokers.

    :param clock: ``IReactorTime``.
    :param overlay: the broker's :class:`fluxd.interfaces.IOverlayStatus`.
    :param rank: this broker's rank; ``size`` the instance size.
    :param children: this broker's TBON children (ranks).
    :param hostnames: host name of every rank.
    :param quorum_warn: seconds between quorum warnings (None: none).
    :param shutdown_warn: seconds between shutdown warnings (None: none).
    """

    log = Logger(namespace="fluxd.broker")

    def __init__(self, clock, overlay, rank, size, children, hostnames,
                 quorum_warn=60.0, shutdown_warn=60.0):
        self._clock = clock
        self._overlay = provide(IOverlayStatus, overlay)
        self.rank = rank
        self.size = size
        self.children = IDset(children)
        self.hostnames = list(hostnames)
        self.quorum_warn = quorum_warn
        self.shutdown_warn = shutdown_warn
        self._timer = None
        self.warned = False

    def __call__(self, lifecycle, state, event):
        """A lifecycle listener: arm or disarm the warnings."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self.warned and state != "quorum" and event == "quorum-full":
            self.log.error("quorum reached")
        self.warned = False
        if state == "quorum" and self.rank == 0 and self.quorum_warn:
            self._timer = self._clock.callLater(self.quorum_warn,
                                                self._quorum_delayed)
        elif state == "shutdown" and self.shutdown_warn and self.children:
            self._timer = self._clock.callLater(self.shutdown_warn,
                                                self._shutdown_delayed)

    def _hosts(self, ranks):
        names = [self.hostnames[r] for r in ranks if r < len(self.hostnames)]
        return Hostlist(names).encode() if names else "?"

    def _quorum_delayed(self):
        waiting = IDset(range(self.size)) - self._overlay.online_ranks()
        self.log.error("quorum delayed: waiting for {hosts} (rank {ranks})",
                       hosts=self._hosts(waiting), ranks=waiting.encode())
        self.warned = True
        self._timer = self._clock.callLater(self.quorum_warn,
                                            self._quorum_delayed)

    def _shutdown_delayed(self):
        waiting = self.children & self._overlay.online_ranks()
        if not waiting:
            return
        self.log.error("shutdown delayed: waiting for {n} peers: {hosts}"
                       " (rank {ranks})", n=len(waiting),
                       hosts=self._hosts(waiting), ranks=waiting.encode())
        self._timer = self._clock.callLater(self.shutdown_warn,
                                            self._shutdown_delayed)
