# -*- test-case-name: tests.integration.test_broker_local -*-
"""A broker module that serves a UNIX socket (local connector, manhole).

The socket file is created with ``mode`` from the first moment (the umask
is narrowed around ``bind``), a stale file left by a broker that died is
replaced, live connections are tracked so that stopping the module hangs
them up, and the file is removed on stop.

Connections are tracked in a weak set, not by wrapping each protocol's
``connectionLost``: a wrapper closing over its protocol is a reference
cycle, and it kept every closed connection alive until the cycle
collector's next full pass.
"""

import os
import weakref

from twisted.internet import defer, protocol
from twisted.internet.endpoints import UNIXServerEndpoint
from twisted.logger import Logger

from fluxd.module import Module


class _Factory(protocol.Factory):
    def __init__(self, build):
        self._build = build

    def buildProtocol(self, addr):
        return self._build()


class UnixSocketModule(Module):
    """Listen on ``path``; a subclass defines ``make_protocol()``, which
    returns the protocol for one accepted connection.

    :param reactor: provides IReactorUNIX.
    :param path: the socket path.
    """

    #: permission bits of the socket file
    mode = 0o777
    log = Logger()

    def __init__(self, reactor, path, rank=0):
        super().__init__(rank)
        self._reactor = reactor
        self.path = path
        self._port = None
        #: the protocols of the connections not yet freed
        self.connections = weakref.WeakSet()

    def _build(self):
        proto = self.make_protocol()
        self.connections.add(proto)
        return proto

    @defer.inlineCallbacks
    def startService(self):
        super().startService()
        if os.path.exists(self.path):
            # left by a broker that died: a live one would still hold it,
            # but its clients could not reach it through a replaced file
            # either, so the newest broker owns the path
            os.unlink(self.path)
        endpoint = UNIXServerEndpoint(self._reactor, self.path,
                                      mode=self.mode, wantPID=False)
        # bind() creates the file with the umask's mode before the chmod:
        # keep even that moment no wider than ``mode``
        old = os.umask(0o777 & ~self.mode)
        try:
            d = endpoint.listen(_Factory(self._build))
        finally:
            os.umask(old)
        self._port = yield d
        self.log.info("{name} listening on {path}", name=self.name,
                      path=self.path)

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        if self._port is not None:
            yield self._port.stopListening()
            self._port = None
        for proto in list(self.connections):
            if proto.transport is not None:
                proto.transport.loseConnection()
        if os.path.exists(self.path):
            os.unlink(self.path)
