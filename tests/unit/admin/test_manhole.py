"""The manhole: owner-only by SO_PEERCRED, a REPL for the owner."""

import os
import socket

from twisted.internet.testing import MemoryReactor, StringTransport

from fluxd.admin.manhole import REFUSED, ManholeService, OwnerOnlyTerminal
from fluxd.local.connection import peer_credentials
from tests.unit.admin.helpers import TestCase


def terminal(owner, uid, namespace=None):
    term = OwnerOnlyTerminal(owner, lambda transport: (1, uid, uid),
                             namespace or {})
    transport = StringTransport()
    term.makeConnection(transport)
    return term, transport


class TerminalTests(TestCase):
    def test_owner_evaluates_an_expression(self):
        term, transport = terminal(1000, 1000, {"answer": 41})
        self.assertIn(b">>> ", transport.value())
        transport.clear()
        term.dataReceived(b"answer + 1\r")
        self.assertIn(b"\r\n42\r\n>>> ", transport.value())

    def test_ctrl_d_leaves(self):
        term, transport = terminal(1000, 1000)
        term.dataReceived(b"\x04")
        self.assertTrue(transport.disconnecting)

    def test_other_user_refused_before_the_interpreter(self):
        term, transport = terminal(1000, 0)
        self.assertTrue(term.refused)
        self.assertEqual(transport.value(), REFUSED)
        self.assertTrue(transport.disconnecting)
        term.dataReceived(b"__import__('os')._exit(1)\r")
        self.assertEqual(transport.value(), REFUSED)
        self.assertIsNone(term.terminalProtocol)
        term.connectionLost(None)

    def test_unreadable_credentials_refused(self):
        def broken(transport):
            raise OSError("no creds")
        term = OwnerOnlyTerminal(0, broken, {})
        transport = StringTransport()
        term.makeConnection(transport)
        self.assertTrue(term.refused)

    def test_real_peer_credentials(self):
        """SO_PEERCRED on a real socket pair reports this process."""
        left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(left.close)
        self.addCleanup(right.close)

        class Handle:
            def getHandle(self):
                return left
        pid, uid, gid = peer_credentials(Handle())
        self.assertEqual((pid, uid), (os.getpid(), os.getuid()))
        term = OwnerOnlyTerminal(os.getuid() + 1, peer_credentials, {})
        transport = StringTransport()
        transport.getHandle = lambda: left
        term.makeConnection(transport)
        self.assertTrue(term.refused)


class ServiceTests(TestCase):
    def test_listens_owner_only_mode_and_cleans_up(self):
        directory = self.mktemp()
        os.mkdir(directory)
        path = os.path.join(directory, "manhole")
        open(path, "w").close()  # stale file from a dead broker
        reactor = MemoryReactor()
        service = ManholeService(reactor, path, os.getuid(), lambda: {"x": 1})
        service.startService()
        (port,) = reactor.unixServers
        self.assertEqual(port[0], path)
        self.assertEqual(port[3], 0o600)  # mode
        self.assertFalse(os.path.exists(path))  # the stale file was removed
        term = port[1].buildProtocol(None)
        self.assertIsInstance(term, OwnerOnlyTerminal)
        self.assertIn(term, service.connections)
        open(path, "w").close()  # as the listening socket would be
        service.stopService()
        self.assertFalse(os.path.exists(path))

    def test_namespace_is_read_per_connection(self):
        names = {"a": 1}
        service = ManholeService(MemoryReactor(), "/nonexistent", 0, lambda: names)
        names["b"] = 2
        term = service._build()
        self.assertEqual(term.protocolArgs[0], {"a": 1, "b": 2})
