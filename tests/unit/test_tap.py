"""twistd fluxd options: the initial program; the exit code hook; where
the broker's stderr log lines go."""

import io
import os

from twisted.trial.unittest import SynchronousTestCase

from fluxd.tap import Options, broker_stderr, exit_with_code


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

    def test_bare_flag_and_legacy_name(self):
        options = Options()
        options.parseOptions(["-Sbroker.rc2_none",
                              "-Sbroker.quorum-timeout=none"])
        self.assertEqual(options["attrs"], {"broker.rc2_none": "",
                                            "broker.quorum-warn": "none"})

    def test_errors_are_one_line_without_usage(self):
        for argv, message in (
                (["-Sbroker.quorum=abc"], "fluxd: broker.quorum: invalid"
                 " value 'abc' (expected a positive number of brokers)"),
                (["--config-path=/nonexistent"], "fluxd: stat: /nonexistent:"
                 " No such file or directory"),
                (["--config-path=/a", "-Sconfig.path=/b"],
                 "fluxd: config.path: conflicts with --config-path")):
            with self.assertRaises(SystemExit) as caught:
                Options().parseOptions(argv)
            self.assertEqual(caught.exception.code, message)

    def test_config_path_attribute(self):
        path = self.mktemp()
        os.mkdir(path)
        with open(os.path.join(path, "a.toml"), "w") as f:
            f.write("[access]\nallow-guest-user = true\n")
        options = Options()
        options.parseOptions([f"-Sconfig.path={path}"])
        self.assertTrue(options["config"].get("access.allow-guest-user"))
        self.assertNotIn("config.path", options["attrs"])

    def test_bootstrap_file(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[bootstrap]\nhosts = [{host = "a"}, {host = "b"}]\n')
        options = Options()
        options.parseOptions([f"--bootstrap={path}"])
        self.assertEqual(options["bootstrap-table"],
                         {"hosts": [{"host": "a"}, {"host": "b"}]})
        self.assertFalse(options["config"].is_set("bootstrap"))
        with open(path, "w") as f:
            f.write('[access]\n')
        with self.assertRaises(SystemExit) as caught:
            Options().parseOptions([f"--bootstrap={path}"])
        self.assertEqual(caught.exception.code,
                         f"fluxd: {path}: no [bootstrap] table")


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


class _Twistd(dict):
    """twistd's own options, as ``Options.parent`` holds them."""


def _options(**twistd):
    options = Options()
    options.parent = _Twistd({"nodaemon": True, "logfile": None,
                              "logger": None, "syslog": False, **twistd})
    return options


class BrokerStderrTests(SynchronousTestCase):
    """Where the broker writes its log-stderr-level lines."""

    def setUp(self):
        import os
        master, slave = os.openpty()
        self.terminal = os.fdopen(slave, "w")
        self.other = os.fdopen(os.dup(slave), "w")
        self.addCleanup(os.close, master)
        self.addCleanup(self.terminal.close)
        self.addCleanup(self.other.close)
        self.pipe = os.pipe()
        self.piped = os.fdopen(self.pipe[1], "w")
        self.addCleanup(os.close, self.pipe[0])
        self.addCleanup(self.piped.close)

    def test_hand_run_in_terminal_writes_once(self):
        """twistd -n prints every event on the terminal: no second copy."""
        self.assertIsNone(broker_stderr(_options(), self.terminal,
                                        self.other))
        self.assertIsNone(broker_stderr(_options(logfile="-"), self.terminal,
                                        self.other))

    def test_log_elsewhere_keeps_stderr(self):
        for twistd in ({"logfile": "/var/log/fluxd.log"},
                       {"logger": "fluxd.logring.service.discard_observer"},
                       {"syslog": True}, {"nodaemon": False}):
            self.assertIs(broker_stderr(_options(**twistd), self.terminal,
                                        self.other), self.other, twistd)

    def test_stdout_and_stderr_apart_keeps_stderr(self):
        self.assertIs(broker_stderr(_options(), self.piped, self.other),
                      self.other)
        # one pipe for both (a test harness): not a terminal, both kept
        self.assertIs(broker_stderr(_options(), self.piped, self.piped),
                      self.piped)

    def test_without_twistd_keeps_stderr(self):
        self.assertIs(broker_stderr(Options(), self.terminal, self.other),
                      self.other)
