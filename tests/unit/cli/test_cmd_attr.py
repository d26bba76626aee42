"""Tests for ``flux getattr|setattr|lsattr``'s own argument parsing (the
RPCs against a real broker: tests/integration/test_broker_local.py)."""

import io
import os
import tempfile
from contextlib import redirect_stdout

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli import cmd_attr
from fluxd.cli.main import dispatch
from fluxd.errors import InvalidArgument, NotConnected


class ParseTests(SynchronousTestCase):
    def test_values_and_flags(self):
        self.assertEqual(cmd_attr._parse("getattr", ["rank"], ["name"]),
                         (["rank"], set()))
        self.assertEqual(cmd_attr._parse("lsattr", ["--values"], [],
                                         [("-v", "--values")]),
                         ([], {"--values"}))
        self.assertEqual(cmd_attr._parse("setattr", ["--", "-x", "1"],
                                         ["name", "value"]),
                         (["-x", "1"], set()))

    def test_usage_errors_are_one_line(self):
        for argv, message in (
                ([], "usage: flux getattr NAME"),
                (["a", "b"], "usage: flux getattr NAME"),
                (["--bogus"], "unrecognized option '--bogus' (usage: flux"
                 " getattr NAME)")):
            exc = self.assertRaises(InvalidArgument, cmd_attr.getattr_main,
                                    argv)
            self.assertEqual(str(exc), message)
        exc = self.assertRaises(InvalidArgument, cmd_attr.setattr_main, ["a"])
        self.assertEqual(str(exc), "usage: flux setattr NAME VALUE")
        exc = self.assertRaises(InvalidArgument, cmd_attr.lsattr_main, ["x"])
        self.assertEqual(str(exc), "usage: flux lsattr [-v|--values]")

    def test_help(self):
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(cmd_attr.lsattr_main(["--help"]), 0)
        self.assertEqual(out.getvalue(),
                         "Usage: flux lsattr [-v|--values]\n  -v, --values\n")

    def test_through_the_dispatcher(self):
        """A usage error exits 1 with one line; no broker is needed."""
        self.assertEqual(dispatch(["getattr"]), 1)

    def test_no_broker(self):
        path = os.path.join(tempfile.gettempdir(), f"fluxd-none-{os.getpid()}")
        old = os.environ.get("FLUX_URI")
        os.environ["FLUX_URI"] = f"local://{path}"
        try:
            exc = self.assertRaises(NotConnected, cmd_attr.getattr_main,
                                    ["rank"])
        finally:
            if old is None:
                del os.environ["FLUX_URI"]
            else:
                os.environ["FLUX_URI"] = old
        self.assertEqual(str(exc), "Unable to connect to Flux: broker socket"
                         f" {path} was not found")
