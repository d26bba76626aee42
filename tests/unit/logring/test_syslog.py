"""log-syslog-enable / log-syslog-level: records reach a real syslog
datagram socket; forwarded follower records reach rank 0's outputs."""

import os
import socket

from fluxd.logring import stdlog
from fluxd.logring.syslog import SyslogSender
from tests.unit.admin.helpers import TestCase
from tests.unit.logring.test_service import T0, make


class SyslogTests(TestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.mkdir(self.dir)
        self.path = os.path.join(self.dir, "log")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.server.bind(self.path)
        self.server.setblocking(False)
        self.addCleanup(self.server.close)

    def received(self):
        out = []
        while True:
            try:
                out.append(self.server.recv(4096).decode())
            except BlockingIOError:
                return out

    def ring(self, **attrs):
        sender = SyslogSender(self.path, pid=4242)
        ring, log, stderr, table, _ = make(attrs, syslog=sender)
        self.addCleanup(ring.stopService)
        return ring, log, stderr, table

    def test_off_by_default(self):
        _, log, _, _ = self.ring()
        log.critical("disk on fire")
        self.assertEqual(self.received(), [])

    def test_enabled_at_level(self):
        _, log, _, table = self.ring(**{"log-syslog-enable": "1"})
        log.critical("disk on fire")
        log.error("not at the default level 2")
        got = self.received()
        self.assertEqual(len(got), 1)
        self.assertRegex(got[0], r"^<10>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d"
                                 r" flux\[4242\]: broker\.crit\[0\]: disk on"
                                 r" fire$")
        table.set("log-syslog-level", "6")
        log.info("now info too")
        self.assertEqual([g.split(": ", 1)[1] for g in self.received()],
                         ["broker.info[0]: now info too"])
        table.set("log-syslog-enable", "0")
        log.critical("off again")
        self.assertEqual(self.received(), [])

    def test_missing_socket_complains_once(self):
        sender = SyslogSender(os.path.join(self.dir, "nope"), pid=1)
        ring, log, stderr, _, _ = make({"log-syslog-enable": "1"},
                                       syslog=sender)
        log.critical("a")
        log.critical("b")
        self.assertEqual(sender.dropped, 2)
        self.assertEqual(stderr.getvalue().count("log: syslog"), 1)


class ForwardedTests(TestCase):
    def test_rank0_writes_follower_records(self):
        path = os.path.join(self.mktemp() + "-dir")
        os.mkdir(path)
        logfile = os.path.join(path, "flux.log")
        ring, _, stderr, _, _ = make({"log-filename": logfile,
                                      "log-stderr-level": "3"})
        record = stdlog.encode(3, "resource", 5, "rank 5 is sad", T0)
        ring.append(record)
        ring.append(stdlog.encode(6, "resource", 5, "fine", T0))
        self.assertIn(record, ring.entries())
        self.assertIn("resource.err[5]: rank 5 is sad", stderr.getvalue())
        self.assertNotIn("fine", stderr.getvalue())
        ring.stopService()
        with open(logfile) as f:
            text = f.read()
        self.assertIn("resource.err[5]: rank 5 is sad", text)
