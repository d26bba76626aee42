# -*- test-case-name: tests.integration.test_broker_local -*-
"""The ``connector-local`` module: listens on the broker's UNIX socket."""

from fluxd.local.connection import LocalConnection
from fluxd.util.unixserver import UnixSocketModule


class LocalConnectorService(UnixSocketModule):
    """Accept local clients on ``path`` and hand their requests to the router.

    :param reactor: provides ``IReactorUNIX``.
    :param path: the socket path (from the ``local-uri`` attribute).
    :param router: the broker's router.
    :param policy: a :class:`fluxd.local.connection.Policy`.
    """

    name = "connector-local"
    #: anyone may connect: SO_PEERCRED and the policy decide who stays
    mode = 0o777

    def __init__(self, reactor, path, router, policy, rank=0):
        super().__init__(reactor, path, rank)
        self._router = router
        self._policy = policy

    def make_protocol(self):
        return LocalConnection(self._router, self._policy, self.rank)
