# -*- test-case-name: tests.integration.test_broker_local -*-
"""The ``connector-local`` module: listens on the broker's UNIX socket."""

import os

from twisted.internet import defer, protocol
from twisted.internet.endpoints import UNIXServerEndpoint
from twisted.logger import Logger

from fluxd.local.connection import LocalConnection
from fluxd.module import Module


class _Factory(protocol.Factory):
    def __init__(self, build):
        self._build = build

    def buildProtocol(self, addr):
        return self._build()


class LocalConnectorService(Module):
    """Accept local clients on ``path`` and hand their requests to the router.

    :param reactor: provides ``IReactorUNIX``.
    :param path: the socket path (from the ``local-uri`` attribute).
    :param router: the broker's router.
    :param policy: a :class:`fluxd.local.connection.Policy`.
    """

    name = "connector-local"
    log = Logger()

    def __init__(self, reactor, path, router, policy, rank=0):
        super().__init__(rank)
        self._reactor = reactor
        self.path = path
        self._router = router
        self._policy = policy
        self._port = None
        self.connections = set()

    def _build(self):
        conn = LocalConnection(self._router, self._policy, self.rank)
        original_lost = conn.connectionLost

        def lost(reason):
            self.connections.discard(conn)
            original_lost(reason)
        conn.connectionLost = lost
        self.connections.add(conn)
        return conn

    @defer.inlineCallbacks
    def startService(self):
        super().startService()
        if os.path.exists(self.path):
            # a stale socket of a broker that died: nobody can be using it,
            # since our rundir/statedir lock says we own this instance
            os.unlink(self.path)
        endpoint = UNIXServerEndpoint(self._reactor, self.path, mode=0o777,
                                      wantPID=False)
        self._port = yield endpoint.listen(_Factory(self._build))
        self.log.info("listening on local://{path}", path=self.path)

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        if self._port is not None:
            yield self._port.stopListening()
            self._port = None
        for conn in list(self.connections):
            conn.transport.loseConnection()
        if os.path.exists(self.path):
            os.unlink(self.path)
