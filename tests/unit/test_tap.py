"""twistd fluxd options: the initial program; the exit code hook."""

import io

from twisted.trial.unittest import SynchronousTestCase

from fluxd.tap import Options, exit_with_code


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
