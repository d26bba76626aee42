"""twistd fluxd options: the initial program; the exit code hook."""

import io
import resource

from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from fluxd.tap import Options, exit_with_code, raise_open_file_limit


class FakeBroker:
    def __init__(self, code):
        self.exit_code = code


class OptionsTests(SynchronousTestCase):
    def test_initial_program(self):
        options = Options()
        options.parseOptions(["-Sbroker.rc2_none=1", "--", "sh", "-c", "exit 3"])
        self.assertEqual(options["initial-program"], ["sh", "-c", "exit 3"])
        self.assertEqual(options["attrs"], {"broker.rc2_none": "1"})

    def test_no_initial_program(self):
        options = Options()
        options.parseOptions([])
        self.assertIsNone(options["initial-program"])


class ExitCodeTests(SynchronousTestCase):
    def test_nonzero_code_exits_after_flush(self):
        exits, stream = [], io.StringIO()
        stream.write("pending")
        exit_with_code(FakeBroker(42), exit=exits.append, streams=[stream])
        self.assertEqual(exits, [42])

    def test_zero_code_leaves_twistd_alone(self):
        exits = []
        exit_with_code(FakeBroker(0), exit=exits.append, streams=[])
        self.assertEqual(exits, [])

    def test_closed_stream_is_fine(self):
        exits, stream = [], io.StringIO()
        stream.close()
        exit_with_code(FakeBroker(3), exit=exits.append, streams=[stream])
        self.assertEqual(exits, [3])


class OpenFileLimitTests(SynchronousTestCase):
    """The broker raises its soft open-file limit to the hard one."""

    def limits(self, soft, hard, fail=None):
        state = {"limits": (soft, hard), "set": []}

        def getrlimit(which):
            self.assertEqual(which, resource.RLIMIT_NOFILE)
            return state["limits"]

        def setrlimit(which, limits):
            if fail is not None:
                raise fail
            state["set"].append(limits)
            state["limits"] = limits
        return state, getrlimit, setrlimit

    def test_raised_to_hard(self):
        state, get, set_ = self.limits(1024, 524288)
        self.assertEqual(raise_open_file_limit(get, set_), 524288)
        self.assertEqual(state["set"], [(524288, 524288)])

    def test_already_at_hard_or_unlimited(self):
        for soft, hard in ((4096, 4096), (1024, resource.RLIM_INFINITY)):
            state, get, set_ = self.limits(soft, hard)
            self.assertEqual(raise_open_file_limit(get, set_), soft)
            self.assertEqual(state["set"], [])

    def test_refused_is_logged_and_kept(self):
        state, get, set_ = self.limits(256, 1024, fail=OSError(1, "EPERM"))
        with capturedLogs() as events:
            self.assertEqual(raise_open_file_limit(get, set_), 256)
        self.assertIn("cannot raise the open file limit from 256 to 1024",
                      formatEvent(events[-1]))
