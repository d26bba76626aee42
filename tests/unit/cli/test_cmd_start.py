"""flux start: broker options after -o, and its own option checks."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.cmd_start import split_broker_opts
from fluxd.errors import InvalidArgument
from fluxd.testing.cli import run_flux


class SplitTests(SynchronousTestCase):
    def test_comma_separated_as_flux_core(self):
        self.assertEqual(
            split_broker_opts([",--config-path=/etc/x,-Sa=1",
                               "-Sbroker.rc2_none,--setattr=b=2"]),
            ("/etc/x", ["a=1", "broker.rc2_none", "b=2"]))

    def test_separate_values(self):
        self.assertEqual(split_broker_opts(["-S,a=1,-c,/d,--setattr,b"]),
                         ("/d", ["a=1", "b"]))
        self.assertEqual(split_broker_opts(["-c/d,--config-path,/e"]),
                         ("/e", []))

    def test_refusals(self):
        for opts, message in (
                ([",-v"], "-o: unsupported broker option -v"),
                (["-S"], "-o: broker option -S needs a value"),
                (["--bogus=1"], "-o: unsupported broker option --bogus=1")):
            with self.assertRaises(InvalidArgument) as caught:
                split_broker_opts(opts)
            self.assertEqual(str(caught.exception), message)


class OptionTests(SynchronousTestCase):
    def test_size_zero_refused(self):
        for size in ("0", "-2"):
            r = run_flux(["start", "-s", size, "true"])
            self.assertEqual((r.rc, r.err),
                             (1, "flux-start: --test-size must be >= 1\n"))

    def test_conflicting_config_paths(self):
        r = run_flux(["start", "-c", "/a", "-o,--config-path=/b", "true"])
        self.assertEqual((r.rc, r.err), (1, "flux-start: -o,--config-path=/b"
                                            " conflicts with --config-path=/a\n"))

    def test_broken_config_is_one_line(self):
        r = run_flux(["start", "-o,--config-path=/nonexistent/dir", "true"])
        self.assertEqual((r.rc, r.err), (1, "flux-start: stat:"
                                            " /nonexistent/dir: No such file"
                                            " or directory\n"))
