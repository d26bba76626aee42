"""BrokerService driven by the lifecycle: module order, exit, stopService."""

from twisted.application import service
from twisted.internet import defer
from twisted.internet.task import Clock

from fluxd.attributes import Attributes
from fluxd.broker import BrokerService
from fluxd.errors import FluxError
from fluxd.lifecycle import Lifecycle
from fluxd.message.router import Router
from fluxd.module import Module, ModuleSet
from tests.unit.admin.helpers import TestCase
from tests.unit.test_lifecycle import settle


class FakeReactor(Clock):
    def __init__(self):
        super().__init__()
        self.running = True
        self.stops = 0
        self.when_running = []

    def callWhenRunning(self, f, *a):
        self.when_running.append((f, a))

    def run_pending(self):
        for f, a in self.when_running:
            f(*a)
        self.when_running = []

    def stop(self):
        self.stops += 1


class Recorder(Module):
    def __init__(self, name, journal, fail_start=False, fail_stop=False):
        super().__init__()
        self.name = name
        self.journal = journal
        self.fail_start = fail_start
        self.fail_stop = fail_stop

    def startService(self):
        super().startService()
        self.journal.append(("start", self.name))
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")

    def stopService(self):
        super().stopService()
        self.journal.append(("stop", self.name))
        if self.fail_stop:
            return defer.fail(RuntimeError("stuck"))
        return defer.succeed(None)


class BrokerServiceTests(TestCase):
    def make(self, **module_kw):
        self.reactor = FakeReactor()
        self.journal = []
        self.router = Router(clock=self.reactor)
        self.ring = Recorder("log", self.journal)
        modules = ModuleSet(self.router)
        modules.declare([Recorder("a", self.journal, **module_kw),
                         Recorder("b", self.journal)])
        self.cleanup_dir = self.mktemp()
        import os
        os.mkdir(self.cleanup_dir)
        self.broker = BrokerService(
            self.reactor, Attributes({"rank": "0", "size": "1"}), self.router,
            modules, Lifecycle(self.reactor, builtins=modules),
            [self.cleanup_dir], logring=self.ring)
        return self.broker

    def start(self):
        self.broker.startService()
        self.reactor.run_pending()
        settle(self.reactor)

    def test_modules_start_in_order_and_ready_at_run(self):
        self.make()
        self.start()
        self.assertEqual(self.journal, [("start", "log"), ("start", "a"),
                                        ("start", "b")])
        self.assertTrue(self.router.has_service("a"))
        self.assertEqual(self.broker.lifecycle.state, "run")
        self.successResultOf(self.broker.started)

    def test_shutdown_stops_modules_in_reverse_then_the_reactor(self):
        import os
        self.make()
        self.start()
        exited = self.broker.when_exited()
        self.broker.lifecycle.request_shutdown()
        settle(self.reactor)
        self.assertEqual(self.journal[3:], [("stop", "b"), ("stop", "a"),
                                            ("stop", "log")])
        self.assertEqual(self.successResultOf(exited), 0)
        self.assertEqual(self.reactor.stops, 1)
        self.assertFalse(os.path.exists(self.cleanup_dir))
        self.assertFalse(self.router.has_service("a"))
        # twistd then stops the service tree: nothing left to do
        self.successResultOf(self.broker.stopService())

    def test_stop_service_goes_through_the_states(self):
        self.make()
        self.start()
        d = self.broker.stopService()
        self.assertNoResult(d)
        settle(self.reactor)
        self.successResultOf(d)
        self.assertEqual(self.broker.lifecycle.state, "exit")
        self.assertEqual(self.reactor.stops, 0)  # twistd is stopping it already

    def test_stop_before_the_reactor_ran(self):
        self.make()
        self.broker.startService()
        self.successResultOf(self.broker.stopService())
        self.assertEqual(self.journal, [("start", "log"), ("stop", "log")])

    def test_failed_start_unloads_and_exits_1(self):
        self.make(fail_start=True)
        self.start()
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(self.broker.lifecycle.history[1][0], "builtins-fail")
        self.assertEqual(self.broker.exit_code, 1)
        self.assertEqual(self.reactor.stops, 1)
        self.assertNoResult(self.broker.started)

    def test_failed_stop_is_logged_and_exit_still_reached(self):
        self.make(fail_stop=True)
        self.start()
        self.broker.lifecycle.request_shutdown()
        settle(self.reactor)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.broker.lifecycle.history[-1][0],
                         "builtins-unload-fail")
        self.assertEqual(self.broker.lifecycle.state, "exit")

    def test_is_a_twisted_service(self):
        modules = ModuleSet(Router())
        broker = BrokerService(FakeReactor(), Attributes(), Router(), modules,
                               Lifecycle(Clock(), builtins=modules))
        self.assertIsInstance(broker, service.MultiService)

    def test_modules_declared_once_with_unique_names(self):
        modules = ModuleSet(Router())
        with self.assertRaises(FluxError) as caught:
            modules.declare([Recorder("a", []), Recorder("a", [])])
        self.assertEqual(str(caught.exception), "modules declared twice: a")
        modules.declare([Recorder("a", []), None, Recorder("b", [])])
        self.assertEqual([m.name for m in modules], ["a", "b"])
        self.assertRaises(FluxError, modules.declare, [Recorder("c", [])])
