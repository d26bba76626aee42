# -*- test-case-name: tests.unit.admin.test_manhole -*-
"""The admin console: a Python REPL inside the broker (``twisted.conch``
manhole), for the instance owner only.

It is off unless the broker is started with ``-Sbroker.manhole=PATH``.
It listens on a UNIX socket at PATH created with mode 0600 (owner
read/write only), and on top of the file mode every connection's peer is
checked with ``SO_PEERCRED``: a process of any user other than the
instance owner (root included) is told ``manhole: permission denied`` and
disconnected before a single byte reaches the interpreter.

The console speaks terminal (``insults``) directly on the socket, so any
raw terminal pipe reaches it::

    socat -,raw,echo=0 UNIX-CONNECT:PATH

The namespace holds the broker's parts (``broker``, ``lifecycle``,
``router``, ``attributes``, ``config``, ``modules`` by name, ``reactor``).
Ctrl-D on an empty line leaves.
"""


from twisted.conch.insults import insults
from twisted.conch.manhole import ColoredManhole
from twisted.logger import Logger

from fluxd.local.connection import peer_credentials
from fluxd.util.unixserver import UnixSocketModule

REFUSED = b"manhole: permission denied\r\n"


class OwnerOnlyTerminal(insults.ServerProtocol):
    """A manhole terminal that first checks the peer is the owner.

    :param owner: the uid allowed in.
    :param credentials: ``credentials(transport) -> (pid, uid, gid)``.
    :param namespace: the interpreter's globals.
    """

    log = Logger()

    def __init__(self, owner, credentials, namespace):
        super().__init__(ColoredManhole, namespace)
        self._owner = owner
        self._credentials = credentials
        self.refused = False
        self.peer_uid = None

    def connectionMade(self):
        try:
            _pid, uid, _gid = self._credentials(self.transport)
        except OSError as exc:
            self.log.warn("manhole: cannot read peer credentials: {why}",
                          why=exc)
            uid = -1
        self.peer_uid = uid
        if uid != self._owner:
            self.refused = True
            self.log.warn("manhole: refused connection from uid {uid}", uid=uid)
            self.transport.write(REFUSED)
            self.transport.loseConnection()
            return
        self.log.info("manhole: owner connected")
        super().connectionMade()

    def dataReceived(self, data):
        if self.refused:
            return
        super().dataReceived(data)

    def connectionLost(self, reason):
        if self.refused:
            return
        super().connectionLost(reason)


class ManholeService(UnixSocketModule):
    """The ``manhole`` module: the console's listening socket.

    :param reactor: ``IReactorUNIX``.
    :param path: the socket path (``broker.manhole``).
    :param owner: the instance owner's uid.
    :param namespace: a dict (or a callable returning one) of names the
        console sees.
    :param credentials: peer credential reader (SO_PEERCRED by default).
    """

    name = "manhole"
    log = Logger()

    #: owner only, even before SO_PEERCRED is checked
    mode = 0o600

    def __init__(self, reactor, path, owner, namespace, credentials=peer_credentials,
                 rank=0):
        super().__init__(reactor, path, rank)
        self._owner = owner
        self._namespace = namespace
        self._credentials = credentials

    def make_protocol(self):
        namespace = self._namespace() if callable(self._namespace) \
            else self._namespace
        return OwnerOnlyTerminal(self._owner, self._credentials,
                                 dict(namespace))

