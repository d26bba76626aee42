"""rc scripts as child processes, driven through a fake process reactor;
cleanup commands pushed with runat.push."""

import errno
import os
import signal

from twisted.internet import error
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.python.failure import Failure
from zope.interface.verify import verifyObject

from fluxd.admin.runat import Runat, exit_code_of, list_scripts
from fluxd.admin.services import RunatService
from fluxd.lifecycle import IRunat, Lifecycle
from tests.unit.admin.helpers import GUEST, Call, TestCase, router_with


class FakeProcess:
    def __init__(self, proto, argv, env, fds):
        self.proto, self.argv, self.env, self.fds = proto, argv, env, fds
        self.signals = []
        self.stdin_closed = False
        self.ended = False

    def closeStdin(self):
        self.stdin_closed = True

    def signalProcess(self, signum):
        if self.ended:
            raise error.ProcessExitedAlready()
        self.signals.append(signum)

    def output(self, data, fd=1):
        self.proto.childDataReceived(fd, data)

    def exit(self, code=0, sig=None):
        self.ended = True
        if code == 0 and sig is None:
            reason = error.ProcessDone(0)
        else:
            reason = error.ProcessTerminated(exitCode=None if sig else code,
                                             signal=sig)
        self.proto.processEnded(Failure(reason))


class FakeReactor(Clock):
    def __init__(self):
        super().__init__()
        self.processes = []
        self.refuse = None

    def spawnProcess(self, proto, executable, args, env=None, childFDs=None):
        if self.refuse:
            raise OSError(13, "Permission denied")
        process = FakeProcess(proto, args, env, childFDs)
        self.processes.append(process)
        proto.makeConnection(process)
        return process


def script(directory, name, mode=0o755):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(path, mode)
    return path


def lines(events):
    return [formatEvent(e) for e in events
            if e.get("log_namespace") == "fluxd.admin.runat.Runat"]


class RunatTests(TestCase):
    def setUp(self):
        self.reactor = FakeReactor()
        self.runat = Runat(self.reactor, {"HOME": "/h"}, "local:///run/x")
        self.dir = self.mktemp()
        os.mkdir(self.dir)

    def test_interface(self):
        verifyObject(IRunat, self.runat)

    def test_a_parent_jobs_kvs_namespace_is_not_passed_on(self):
        # an instance started by a job's task: its programs use its own
        # primary namespace, not the job's guest namespace
        runat = Runat(self.reactor, {"HOME": "/h",
                                     "FLUX_KVS_NAMESPACE": "job-42"},
                      "local:///run/x")
        runat.add_program("rc1", ["/bin/true"])
        runat.run("rc1")
        self.assertEqual(self.reactor.processes[0].env,
                         {"HOME": "/h", "FLUX_URI": "local:///run/x"})

    def test_undefined_phase(self):
        self.assertIsNone(self.runat.run("rc1"))
        self.runat.add_path("rc1", os.path.join(self.dir, "missing"))
        self.assertFalse(self.runat.is_defined("rc1"))

    def test_script_directory_in_order(self):
        b = script(self.dir, "20-b")
        a = script(self.dir, "10-a")
        script(self.dir, ".hidden")
        script(self.dir, "30-c~")
        script(self.dir, "40-noexec", mode=0o644)
        self.assertEqual(list_scripts(self.dir), [a, b])
        self.runat.add_path("rc1", self.dir)
        with capturedLogs() as events:
            d = self.runat.run("rc1")
            first = self.reactor.processes[0]
            self.assertEqual(first.argv, [a])
            self.assertEqual(first.env, {"HOME": "/h", "FLUX_URI": "local:///run/x"})
            self.assertTrue(first.stdin_closed)
            first.output(b"hello\npart")
            first.output(b"ial\n")
            first.output(b"on stderr\n", fd=2)
            self.reactor.advance(2.6)
            first.exit(0)
            self.reactor.processes[1].exit(0)
        self.assertEqual(self.successResultOf(d), 0)
        self.assertEqual(lines(events), [
            f"rc1.0: running {a}", "rc1.0: hello", "rc1.0: partial",
            "rc1.0: on stderr",
            f"rc1.0: running {b}", f"rc1.0: {self.dir} Exited (rc=0) 2.6s"])

    def test_first_failure_ends_the_phase(self):
        script(self.dir, "1")
        script(self.dir, "2")
        self.runat.add_path("rc3", self.dir)
        d = self.runat.run("rc3")
        self.reactor.processes[0].exit(3)
        self.assertEqual(self.successResultOf(d), 3)
        self.assertEqual(len(self.reactor.processes), 1)

    def test_single_executable_and_python_steps(self):
        path = script(self.dir, "rc1")
        calls = []
        self.runat.add_step("rc1", lambda: calls.append("before") or 0)
        self.runat.add_path("rc1", path)
        self.runat.add_step("rc1", lambda: calls.append("after") or 0)
        d = self.runat.run("rc1")
        self.assertEqual(calls, ["before"])
        self.reactor.processes[0].exit(0)
        self.assertEqual((self.successResultOf(d), calls), (0, ["before", "after"]))

    def test_python_step_failure_code(self):
        self.runat.add_step("rc1", lambda: 1)
        self.assertEqual(self.successResultOf(self.runat.run("rc1")), 1)

    def test_initial_program_inherits_stdio(self):
        self.runat.add_program("rc2", ["sh", "-c", "exit 5"], inherit_stdio=True)
        with capturedLogs() as events:
            d = self.runat.run("rc2")
            process = self.reactor.processes[0]
            self.assertEqual(process.fds, {0: 0, 1: 1, 2: 2})
            self.assertFalse(process.stdin_closed)
            process.exit(5)
        self.assertEqual(self.successResultOf(d), 5)
        self.assertEqual(lines(events), ["rc2.0: sh -c 'exit 5' Exited (rc=5) 0.0s"])

    def test_abort_signals_and_reports_the_signal(self):
        self.runat.add_program("rc2", ["sleep", "100"])
        with capturedLogs() as events:
            d = self.runat.run("rc2")
            self.runat.abort("rc2", signal.SIGHUP)
            process = self.reactor.processes[0]
            self.assertEqual(process.signals, [signal.SIGHUP])
            process.exit(sig=signal.SIGHUP)
        self.assertEqual(self.successResultOf(d), 129)
        self.assertIn("rc2.0: sleep 100 Killed (signal 1) 0.0s", lines(events))
        self.runat.abort("rc2", signal.SIGHUP)  # nothing running: no error

    def test_abort_stops_the_rest_of_a_directory(self):
        script(self.dir, "1")
        script(self.dir, "2")
        self.runat.add_path("rc3", self.dir)
        d = self.runat.run("rc3")
        self.runat.abort("rc3", signal.SIGTERM)
        self.reactor.processes[0].exit(0)
        self.assertEqual(self.successResultOf(d), 128 + signal.SIGTERM)
        self.assertEqual(len(self.reactor.processes), 1)

    def test_spawn_refused(self):
        self.runat.add_program("rc2", ["/nonexec"])
        self.reactor.refuse = True
        with capturedLogs() as events:
            self.assertEqual(self.successResultOf(self.runat.run("rc2")), 127)
        self.assertIn("rc2.0: /nonexec: Permission denied", lines(events))

    def test_exit_codes(self):
        self.assertEqual(exit_code_of(Failure(error.ProcessDone(0))), 0)
        self.assertEqual(exit_code_of(Failure(error.ProcessTerminated(exitCode=7))), 7)
        self.assertEqual(exit_code_of(Failure(error.ProcessTerminated(signal=9))), 137)
        self.assertEqual(exit_code_of(Failure(RuntimeError())), 1)


class RunatServiceTests(TestCase):
    """``runat.push`` (flux admin cleanup-push) fills the CLEANUP phase."""

    def setUp(self):
        self.reactor = FakeReactor()
        self.runat = Runat(self.reactor, {}, "local:///run/x")
        self.lifecycle = Lifecycle(self.reactor, self.runat)
        self.router = router_with(RunatService(self.runat, self.lifecycle))

    def test_pushed_commands_run_last_pushed_first(self):
        for command in ("echo first", "echo second"):
            call = Call(self.router, "runat.push",
                        {"name": "cleanup", "commands": [command]})
            self.assertEqual(call.final, (0, None))
        d = self.runat.run("cleanup")
        self.assertEqual(self.reactor.processes[0].argv,
                         ["/bin/sh", "-c", "echo second"])
        self.reactor.processes[0].exit(0)
        self.assertEqual(self.reactor.processes[1].argv,
                         ["/bin/sh", "-c", "echo first"])
        self.reactor.processes[1].exit(3)
        self.assertEqual(self.successResultOf(d), 3)

    def test_refusals(self):
        for payload, rolemask, errnum in (
                ({"name": "rc1", "commands": ["x"]}, None, errno.EINVAL),
                ({"name": "cleanup", "commands": []}, None, errno.EINVAL),
                ({"name": "cleanup", "commands": ["x"]}, GUEST, errno.EPERM)):
            kw = {"rolemask": rolemask} if rolemask else {}
            call = Call(self.router, "runat.push", payload, **kw)
            self.assertEqual(call.final[0], errnum)
        self.assertFalse(self.runat.is_defined("cleanup"))
