"""sd_notify over a real datagram socket."""

import os
import socket
import tempfile

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from fluxd.admin.sdnotify import SdNotifier, socket_address
from fluxd.lifecycle import Lifecycle
from tests.unit.test_lifecycle import settle


class Listener:
    """A bound AF_UNIX datagram socket standing in for systemd."""

    def __init__(self, testcase, abstract=False):
        if abstract:
            self.name = f"@fluxd-test-{os.getpid()}-{id(self)}"
            address = "\0" + self.name[1:]
        else:
            directory = tempfile.mkdtemp()
            testcase.addCleanup(os.rmdir, directory)
            self.name = address = os.path.join(directory, "notify")
            testcase.addCleanup(os.unlink, address)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)
        testcase.addCleanup(self.sock.close)

    def messages(self):
        found = []
        while True:
            try:
                found.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return found


class SdNotifyTests(SynchronousTestCase):
    def test_addresses(self):
        self.assertEqual(socket_address("/run/systemd/notify"), "/run/systemd/notify")
        self.assertEqual(socket_address("@abstract"), "\0abstract")
        self.assertIsNone(socket_address(None))
        self.assertIsNone(socket_address("relative"))

    def test_states_of_a_lone_broker(self):
        listener = Listener(self)
        notifier = SdNotifier({"NOTIFY_SOCKET": listener.name}, size=1)
        clock = Clock()
        lifecycle = Lifecycle(clock)
        lifecycle.add_listener(notifier)
        lifecycle.start()
        settle(clock)
        lifecycle.request_shutdown()
        settle(clock)
        self.assertEqual(listener.messages(), [
            "READY=1", "STATUS=Waiting for instance quorum",
            "STATUS=Running as leader of 1 node Flux instance",
            "STATUS=Exiting"])

    def test_abstract_socket_member_with_stop_timeout(self):
        listener = Listener(self, abstract=True)
        notifier = SdNotifier({"NOTIFY_SOCKET": listener.name}, "1", rank=3,
                              size=8, stop_timeout=90,
                              parent_uri=lambda: "tcp://10.0.0.1:8050")
        notifier.state_changed(None, "join", "parent-ready")
        notifier.state_changed(None, "run", "quorum-full")
        notifier.state_changed(None, "cleanup", "shutdown")
        self.assertEqual(listener.messages(), [
            "STATUS=Joining Flux instance via tcp://10.0.0.1:8050\nREADY=1",
            "STATUS=Running as member of 8 node Flux instance",
            "EXTEND_TIMEOUT_USEC=90000000"])

    def test_off_without_socket_or_when_disabled(self):
        self.assertFalse(SdNotifier({}).enabled)
        listener = Listener(self)
        notifier = SdNotifier({"NOTIFY_SOCKET": listener.name}, "0")
        self.assertFalse(notifier.notify("READY=1"))
        self.assertEqual(listener.messages(), [])

    def test_enabled_without_socket_warns_once(self):
        notifier = SdNotifier({}, "1")
        with capturedLogs() as events:
            self.assertFalse(notifier.notify("READY=1"))
            self.assertFalse(notifier.notify("STATUS=x"))
        warnings = [formatEvent(e) for e in events]
        self.assertEqual(warnings,
                         ["broker.sd-notify is set but NOTIFY_SOCKET is not"])

    def test_gone_socket_warns_once(self):
        notifier = SdNotifier({"NOTIFY_SOCKET": "/nonexistent/notify"})
        with capturedLogs() as events:
            notifier.status("a")
            notifier.status("b")
        self.assertEqual(len(events), 1)
        self.assertIn("sd_notify:", formatEvent(events[0]))
