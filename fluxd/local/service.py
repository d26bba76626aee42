# -*- test-case-name: tests.unit.local.test_connection -*-
"""The ``connector-local`` module: listens on the broker's UNIX socket."""

from twisted.logger import Logger

from fluxd.local.connection import LocalConnection
from fluxd.local.limits import BufferBudget, ConnectorLimits, LogLimiter
from fluxd.util.unixserver import UnixSocketModule


class LocalConnectorService(UnixSocketModule):
    """Accept local clients on ``path`` and hand their requests to the router.

    :param reactor: provides ``IReactorUNIX`` and ``IReactorTime``.
    :param path: the socket path (from the ``local-uri`` attribute).
    :param router: the broker's router.
    :param policy: a :class:`fluxd.local.connection.Policy`.
    :param limits: a :class:`fluxd.local.limits.ConnectorLimits` (default:
        the default bounds).
    """

    name = "connector-local"
    #: anyone may connect: SO_PEERCRED and the policy decide who stays
    mode = 0o777
    log = Logger()

    def __init__(self, reactor, path, router, policy, rank=0, limits=None):
        super().__init__(reactor, path, rank)
        self._router = router
        self._policy = policy
        self.limits = limits if limits is not None else ConnectorLimits()
        #: the bytes all guests together hold in incomplete messages
        self.budget = BufferBudget(self.limits.guest_buffer)
        #: per-connection log lines, rate limited
        self.notes = LogLimiter(reactor, self.log)

    def make_protocol(self):
        return LocalConnection(self._router, self._policy, self.rank,
                               limits=self.limits, budget=self.budget,
                               notes=self.notes)

    def stopService(self):
        d = super().stopService()
        d.addBoth(self._flush_notes)
        return d

    def _flush_notes(self, result):
        self.notes.flush()
        return result
