"""The log ring: Twisted events in, ring/stderr/file out, the log.* RPCs."""

import errno
import io

from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.logger import LogPublisher, Logger

from fluxd.attributes import Attributes
from fluxd.errors import InvalidArgument
from fluxd.logring import stdlog
from fluxd.logring.service import LogRingService, appname_of, discard_observer
from fluxd.module import Module
from tests.unit.admin.helpers import GUEST, Call, TestCase, router_with

T0 = 1714686663.5


class KVSLike(Module):
    name = "kvs"
    log = Logger()


def make(attrs=None, rank=0, **kw):
    publisher = LogPublisher()
    table = Attributes({"log-stderr-level": "3", "log-level": "7",
                        "log-critical-level": "2", "log-forward-level": "3",
                        "log-ring-size": "1024", "log-stderr-mode": "leader",
                        **(attrs or {})})
    stderr = io.StringIO()
    ring = LogRingService(Clock(), table, rank, publisher=publisher,
                          stderr=stderr, procid=7, **kw)
    ring.startService()
    log = Logger(namespace="fluxd.test", observer=publisher)
    return ring, log, stderr, table, publisher


def messages(ring):
    return [stdlog.decode(r).message for r in ring.entries()]


class ObserverTests(TestCase):
    def test_events_enter_the_ring(self):
        ring, log, stderr, _, _ = make()
        log.info("state {name}", name="run")
        log.debug("detail")
        rec = stdlog.decode(ring.entries()[0])
        self.assertEqual((rec.severity, rec.appname, rec.rank, rec.message,
                          rec.procid), (6, "broker", 0, "state run", "7"))
        self.assertEqual(stdlog.decode(ring.entries()[1]).severity, 7)
        self.assertEqual(stderr.getvalue(), "")

    def test_level_mapping(self):
        ring, log, _, _, _ = make()
        for emit in (log.critical, log.error, log.warn, log.info, log.debug):
            emit("x")
        self.assertEqual([stdlog.decode(r).severity for r in ring.entries()],
                         [2, 3, 4, 6, 7])

    def test_log_level_filters_the_ring(self):
        ring, log, _, _, _ = make({"log-level": "4"})
        log.info("quiet")
        log.warn("loud")
        self.assertEqual(messages(ring), ["loud"])

    def test_ring_size(self):
        ring, log, _, table, _ = make({"log-ring-size": "3"})
        for n in range(5):
            log.info("m{n}", n=n)
        self.assertEqual(messages(ring), ["m2", "m3", "m4"])
        table.set("log-ring-size", "1")
        self.assertEqual(messages(ring), ["m4"])

    def test_stderr_local_mode_is_journal_format(self):
        ring, log, stderr, _, _ = make({"log-stderr-level": "6",
                                        "log-stderr-mode": "local"})
        log.info("rc1-success: init->quorum 2.65475s")
        log.debug("not this")
        self.assertEqual(stderr.getvalue(),
                         "broker.info[0]: rc1-success: init->quorum 2.65475s\n")

    def test_stderr_leader_mode_has_timestamps(self):
        ring, log, stderr, _, _ = make()
        log.error("bad thing")
        log.warn("not at level 3")
        line = stderr.getvalue()
        self.assertRegex(line, r"^\w{3} \d\d \d\d:\d\d:\d\d\.\d{6} \S+ \d{4} "
                               r"broker\.err\[0\]: bad thing\n$")

    def test_critical_always_reaches_stderr(self):
        ring, log, stderr, _, _ = make({"log-stderr-level": "-1",
                                        "log-stderr-mode": "local"})
        log.critical("on fire")
        log.error("only errors")
        self.assertEqual(stderr.getvalue(), "broker.crit[0]: on fire\n")

    def test_failure_gets_message_and_traceback(self):
        ring, log, stderr, _, _ = make({"log-stderr-mode": "local"})
        try:
            1 / 0
        except ZeroDivisionError:
            log.failure("division")
        self.assertEqual(messages(ring),
                         ["division: ZeroDivisionError: division by zero"])
        self.assertIn("Traceback", stderr.getvalue())
        self.flushLoggedErrors(ZeroDivisionError)

    def test_module_messages_are_named_after_the_module(self):
        ring, _, _, _, publisher = make()
        module = KVSLike()
        module.log.observer = publisher
        Logger(namespace="fluxd.kvs", source=module, observer=publisher).info("hi")
        self.assertEqual(stdlog.decode(ring.entries()[0]).appname, "kvs")

    def test_appname_rules(self):
        self.assertEqual(appname_of({"flux_appname": "job-manager"}), "job-manager")
        self.assertEqual(appname_of({"log_source": KVSLike()}), "kvs")
        self.assertEqual(appname_of({}), "broker")

    def test_twisted_chatter_left_out(self):
        ring, _, stderr, _, publisher = make({"log-stderr-level": "7",
                                              "log-stderr-mode": "local"})
        Logger(namespace="twisted.protocols.amp", observer=publisher).info(
            "connection established")
        Logger(namespace="fluxd.local.service._Factory", source=Factory(),
               observer=publisher).info("Starting factory")
        Logger(namespace="twisted.internet.defer", observer=publisher).error(
            "Unhandled error in Deferred")
        self.assertEqual(messages(ring), ["Unhandled error in Deferred"])

    def test_forward_level_writes_log_file(self):
        path = self.mktemp()
        ring, log, _, _, _ = make({"log-filename": path, "log-forward-level": "4"})
        log.warn("to the file")
        log.info("not to the file")
        ring.stopService()
        with open(path) as f:
            text = f.read()
        self.assertIn("broker.warning[0]: to the file\n", text)
        self.assertNotIn("not to the file", text)

    def test_forward_upstream_off_rank_zero(self):
        sent = []
        ring, log, _, _, _ = make(rank=2, forward=sent.append)
        log.error("up")
        self.assertEqual([stdlog.decode(r).message for r in sent], ["up"])

    def test_bad_runtime_attribute_is_refused_and_changes_nothing(self):
        ring, log, _, table, _ = make()
        with self.assertRaises(InvalidArgument) as caught:
            table.set("log-level", "loud")
        self.assertEqual(str(caught.exception),
                         "log-level: invalid log level 'loud' (expected -1"
                         " to 7)")
        log.debug("still recorded")
        self.assertIn("still recorded", messages(ring))

    def test_bad_initial_attribute_refused(self):
        with self.assertRaises(InvalidArgument) as caught:
            make({"log-stderr-mode": "sideways"})
        self.assertIn("log-stderr-mode", str(caught.exception))

    def test_stop_detaches(self):
        ring, log, _, _, _ = make()
        ring.stopService()
        log.info("after")
        self.assertEqual(ring.entries(), [])

    def test_discard_observer(self):
        self.assertIsNone(discard_observer()({"log_format": "x"}))


class AppendTests(TestCase):
    def test_append_keeps_severity_and_appname(self):
        ring, _, stderr, _, _ = make({"log-stderr-level": "5",
                                      "log-stderr-mode": "local"})
        record = stdlog.encode(5, "logger", 0, "hello world", T0)
        ring.append(record)
        self.assertEqual(ring.entries(), [record])
        self.assertEqual(stderr.getvalue(), "logger.notice[0]: hello world\n")

    def test_append_from_another_rank_is_only_kept(self):
        ring, _, stderr, _, _ = make({"log-stderr-level": "7",
                                      "log-stderr-mode": "local"})
        ring.append(stdlog.encode(3, "kvs", 5, "below", T0))
        self.assertEqual(messages(ring), ["below"])
        self.assertEqual(stderr.getvalue(), "")

    def test_bad_record(self):
        ring, _, _, _, _ = make()
        self.assertRaises(stdlog.StdlogError, ring.append, "not a record")


class RPCTests(TestCase):
    def setUp(self):
        self.ring, self.log, _, _, _ = make()
        self.router = router_with(self.ring)
        self.log.info("one")
        self.log.info("two")

    def test_dmesg_backlog(self):
        call = Call(self.router, "log.dmesg", {}, streaming=True)
        self.assertEqual([stdlog.decode(p["buf"]).message for p in call.payloads],
                         ["one", "two"])
        self.assertEqual(call.final, (errno.ENODATA, None))

    def test_dmesg_follow_and_cancel(self):
        call = Call(self.router, "log.dmesg", {"follow": True, "nobacklog": True},
                    streaming=True)
        self.assertEqual(call.replies, [])
        self.log.info("three")
        self.assertEqual(stdlog.decode(call.payloads[0]["buf"]).message, "three")
        call.cancel()
        self.assertEqual(call.final[0], errno.ECANCELED)
        self.log.info("four")
        self.assertEqual(len(call.payloads), 1)

    def test_dmesg_followers_end_at_stop(self):
        call = Call(self.router, "log.dmesg", {"follow": True}, streaming=True)
        self.ring.stopService()
        self.assertEqual(call.final, (errno.ENODATA, None))

    def test_dmesg_bad_options(self):
        call = Call(self.router, "log.dmesg", {"follow": "yes"}, streaming=True)
        self.assertEqual(call.final, (errno.EINVAL,
                                      "log.dmesg: follow must be a boolean"))

    def test_dmesg_needs_streaming(self):
        call = Call(self.router, "log.dmesg", {})
        self.assertEqual(call.final[0], errno.EPROTO)

    def test_guest_refused(self):
        call = Call(self.router, "log.dmesg", {}, streaming=True, rolemask=GUEST)
        self.assertEqual(call.final, (errno.EPERM,
                                      "Request requires owner credentials"))

    def test_clear(self):
        Call(self.router, "log.clear")
        self.assertEqual(self.ring.entries(), [])

    def test_append_raw_and_json(self):
        Call(self.router, "log.append", stdlog.encode(6, "logger", 0, "raw", T0))
        Call(self.router, "log.append",
             {"buf": stdlog.encode(6, "logger", 0, "json", T0)})
        self.assertEqual(messages(self.ring)[-2:], ["raw", "json"])

    def test_append_garbage(self):
        call = Call(self.router, "log.append", {"buf": 3})
        self.assertEqual(call.final[0], errno.EINVAL)
        call = Call(self.router, "log.append", "<14>garbage")
        self.assertEqual(call.final[0], errno.EINVAL)
