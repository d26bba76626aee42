"""state-machine, shutdown and admin services over a real Lifecycle."""

import errno
import io
import os

from twisted.internet.task import Clock
from twisted.logger import LogPublisher, capturedLogs, formatEvent

from fluxd.admin.services import (
    AdminService, ShutdownService, StartlogKeeper, StateMachineService)
from fluxd.admin.startlog import CRASH_WARNING, SAFE_MODE_REASON, SafeMode
from fluxd.attributes import Attributes
from fluxd.lifecycle import STATE_NUMBER, Lifecycle
from fluxd.logring.service import LogRingService
from tests.unit.admin.helpers import GUEST, Call, TestCase, router_with
from tests.unit.test_lifecycle import settle


class StateMachineTests(TestCase):
    def setUp(self):
        self.clock = Clock()
        self.lifecycle = Lifecycle(self.clock)
        self.router = router_with(StateMachineService(self.lifecycle))

    def test_get(self):
        self.clock.advance(3)
        call = Call(self.router, "state-machine.get", rolemask=GUEST)
        self.assertEqual(call.payloads, [{"state": "none", "duration": 3}])

    def test_wait_for_run(self):
        call = Call(self.router, "state-machine.wait", rolemask=GUEST)
        self.assertEqual(call.replies, [])
        self.lifecycle.start()
        settle(self.clock)
        self.assertEqual(call.final, (0, None))

    def test_wait_after_run(self):
        self.lifecycle.start()
        settle(self.clock)
        self.lifecycle.request_shutdown()
        settle(self.clock)
        call = Call(self.router, "state-machine.wait")
        self.assertEqual(call.final, (errno.ENOENT, "broker has surpassed RUN state"))

    def test_monitor_streams_until_final(self):
        call = Call(self.router, "state-machine.monitor",
                    {"final": STATE_NUMBER["run"]}, streaming=True)
        self.lifecycle.start()
        settle(self.clock)
        self.assertEqual([p["name"] for p in call.payloads], [
            "none", "load-builtins", "join", "config-sync", "init", "quorum", "run"])
        self.assertEqual(call.payloads[-1]["state"], STATE_NUMBER["run"])
        self.assertEqual(call.final, (errno.ENODATA, None))

    def test_monitor_past_final(self):
        self.lifecycle.start()
        settle(self.clock)
        call = Call(self.router, "state-machine.monitor", {"final": 2}, streaming=True)
        self.assertEqual((call.payloads, call.final), ([], (errno.ENODATA, None)))

    def test_monitor_cancel(self):
        call = Call(self.router, "state-machine.monitor", {}, streaming=True)
        call.cancel()
        self.lifecycle.start()
        settle(self.clock)
        self.assertEqual(len(call.payloads), 1)
        self.assertEqual(call.final[0], errno.ECANCELED)

    def test_monitor_bad_final_and_guest(self):
        call = Call(self.router, "state-machine.monitor", {"final": 99}, streaming=True)
        self.assertEqual(call.final[0], errno.EINVAL)
        call = Call(self.router, "state-machine.monitor", {}, streaming=True,
                    rolemask=GUEST)
        self.assertEqual(call.final[0], errno.EPERM)


class ShutdownTests(TestCase):
    def setUp(self):
        self.clock = Clock()
        self.lifecycle = Lifecycle(self.clock, exit_norestart=42)
        self.attrs = Attributes({"log-level": "7", "log-ring-size": "100"})
        publisher = LogPublisher()
        self.ring = LogRingService(self.clock, self.attrs, publisher=publisher,
                                   stderr=io.StringIO())
        self.keeper = StartlogKeeper(self.clock, self.mktemp_dir(), SafeMode())
        self.service = ShutdownService(self.lifecycle, self.ring, self.attrs,
                                       self.keeper)
        self.router = router_with(self.ring, self.service)
        # the lifecycle's own messages go to the global publisher: feed the
        # ring from it too, as production does
        from twisted.logger import globalLogPublisher
        globalLogPublisher.addObserver(self.ring)
        self.addCleanup(globalLogPublisher.removeObserver, self.ring)
        self.lifecycle.start()
        settle(self.clock)

    def mktemp_dir(self):
        path = self.mktemp()
        os.mkdir(path)
        return path

    def test_streams_log_until_goodbye(self):
        call = Call(self.router, "shutdown.start", {"loglevel": 6}, streaming=True)
        settle(self.clock)
        logs = [p["log"] for p in call.payloads]
        self.assertIn("broker.info[0]: shutdown: run->cleanup 0s\n", logs)
        self.assertIn("broker.info[0]: rc3-none: finalize->goodbye 0s\n", logs)
        self.assertFalse(any("unload-builtins->exit" in line for line in logs))
        self.assertEqual(call.final, (errno.ENODATA, None))
        self.assertEqual((self.lifecycle.state, self.lifecycle.exit_code), ("exit", 42))

    def test_quiet_level(self):
        call = Call(self.router, "shutdown.start", {"loglevel": 4}, streaming=True)
        settle(self.clock)
        self.assertEqual(call.payloads, [])
        self.assertEqual(call.final, (errno.ENODATA, None))

    def test_background(self):
        call = Call(self.router, "shutdown.start", {"background": True},
                    streaming=True)
        self.assertEqual(call.final, (errno.ENODATA, None))
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "exit")

    def test_guest_refused_broker_unaffected(self):
        call = Call(self.router, "shutdown.start", {}, streaming=True,
                    rolemask=GUEST)
        self.assertEqual(call.final, (errno.EPERM, "Request requires owner credentials"))
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "run")

    def test_not_in_run(self):
        first = Call(self.router, "shutdown.start", {}, streaming=True)
        # still in RUN until the next turn: a second client is accepted too,
        # as in flux-core, and both see the log
        second = Call(self.router, "shutdown.start", {}, streaming=True,
                      matchtag=2)
        settle(self.clock)
        self.assertEqual((first.final, second.final),
                         ((errno.ENODATA, None), (errno.ENODATA, None)))
        self.assertEqual(first.payloads[1:], second.payloads)
        call = Call(self.router, "shutdown.start", {}, streaming=True, matchtag=3)
        self.assertEqual(call.final, (errno.EINVAL,
                                      "shutdown cannot be initiated in state exit"))

    def test_bad_payloads(self):
        for payload in ({"loglevel": 9}, {"loglevel": "x"}, {"dump": 3},
                        {"background": "yes"}):
            call = Call(self.router, "shutdown.start", payload, streaming=True)
            self.assertEqual(call.final[0], errno.EINVAL, payload)
        self.assertEqual(self.lifecycle.state, "run")

    def test_gc_request_recorded(self):
        self.keeper.begin()
        Call(self.router, "shutdown.start", {"dump": "auto", "background": True},
             streaming=True)
        settle(self.clock)
        self.assertEqual(self.attrs.get("content.dump"), "auto")
        self.assertEqual(self.service.dump_request, "auto")
        self.keeper.finish()
        finish = self.keeper.startlog.read()[-1]
        self.assertEqual(finish["context"], {"version": 1, "dump": "auto"})

    def test_client_gone_shutdown_continues(self):
        call = Call(self.router, "shutdown.start", {}, streaming=True)
        self.router.disconnect(call.sender)
        settle(self.clock)
        self.assertEqual(self.lifecycle.state, "exit")


class StartlogKeeperTests(TestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.mkdir(self.dir)
        self.clock = Clock()
        self.clock.advance(1714686660)

    def keeper(self):
        attrs = Attributes({"broker.safe-mode": "0"})
        return StartlogKeeper(self.clock, self.dir, SafeMode(), attrs), attrs

    def test_clean_cycle(self):
        keeper, attrs = self.keeper()
        self.assertEqual(self.successResultOf(keeper.begin()), 0)
        self.assertEqual(self.successResultOf(keeper.finish()), 0)
        keeper, attrs = self.keeper()
        keeper.begin()
        self.assertFalse(keeper.safe_mode.active)
        self.assertEqual(attrs.get("broker.safe-mode"), "0")

    def test_crash_means_safe_mode(self):
        keeper, _ = self.keeper()
        keeper.begin()          # ... and the broker is killed
        keeper, attrs = self.keeper()
        with capturedLogs() as events:
            keeper.begin()
        self.assertTrue(keeper.safe_mode.active)
        self.assertEqual(attrs.get("broker.safe-mode"), "1")
        text = [formatEvent(e) for e in events]
        self.assertIn(CRASH_WARNING, text)
        self.assertIn("safe mode: job submission is disabled and scheduling is"
                      f" stopped: {SAFE_MODE_REASON} (see flux startlog)", text)

    def test_unwritable_statedir(self):
        keeper, _ = self.keeper()
        keeper.startlog.path = os.path.join(self.dir, "missing", "startlog")
        with capturedLogs():
            self.assertEqual(self.successResultOf(keeper.begin()), 1)

    def test_finish_without_start_is_nothing(self):
        keeper, _ = self.keeper()
        self.assertEqual(self.successResultOf(keeper.finish()), 0)
        self.assertEqual(keeper.startlog.read(), [])


class AdminServiceTests(TestCase):
    def test_queue_status_and_startlog(self):
        directory = self.mktemp()
        os.mkdir(directory)
        mode = SafeMode()
        keeper = StartlogKeeper(Clock(), directory, mode)
        keeper.begin()
        router = router_with(AdminService(mode, keeper))
        status = Call(router, "admin.queue-status", rolemask=GUEST).payloads[0]
        self.assertEqual(status["submit"], {"enabled": True, "reason": None})
        mode.enter()
        status = Call(router, "admin.queue-status").payloads[0]
        self.assertFalse(status["sched"]["started"])
        events = Call(router, "admin.startlog").payloads[0]["events"]
        self.assertEqual([e["name"] for e in events], ["start"])
        self.assertEqual(Call(router, "admin.startlog", rolemask=GUEST).final[0],
                         errno.EPERM)

    def test_startlog_off_rank_zero(self):
        router = router_with(AdminService(SafeMode()))
        self.assertEqual(Call(router, "admin.startlog").final[0], errno.EPROTO)
