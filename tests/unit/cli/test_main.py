"""The flux dispatcher: help, version, unknown commands, the error mapper."""

import errno
import sys

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli import main as main_module
from fluxd.cli.main import COMMANDS, run_command
from fluxd.errors import FluxError, InvalidArgument, NotFound
from fluxd.testing.cli import run_flux


class DispatchTests(SynchronousTestCase):
    def test_help_lists_commands(self):
        r = run_flux(["help"])
        self.assertEqual(r.rc, 0)
        self.assertTrue(r.out.startswith("Usage: flux [OPTIONS] COMMAND ARGS"))
        for name in COMMANDS:
            self.assertIn(f"   {name}", r.out)

    def test_no_args_is_usage_error(self):
        r = run_flux([])
        self.assertEqual(r.rc, 1)
        self.assertIn("Usage: flux", r.err)

    def test_version(self):
        r = run_flux(["--version"])
        self.assertEqual(r.rc, 0)
        self.assertRegex(r.out, r"^commands:\s+\S+\nlibflux-core:\s+\S+\n")

    def test_unknown_command(self):
        r = run_flux(["frobnicate"])
        self.assertEqual((r.rc, r.out), (1, ""))
        self.assertEqual(r.err.count("\n"), 1)
        self.assertIn("'frobnicate' is not a flux command", r.err)

    def test_broken_command_module_is_one_line(self):
        """A command whose module fails to import is an error like any
        other: one line, exit 1, no traceback."""
        self.patch(main_module, "COMMANDS",
                   dict(COMMANDS, broken=("fluxd.cli.no_such_module", "x")))
        r = run_flux(["broken"])
        self.assertEqual((r.rc, r.out), (1, ""))
        self.assertEqual(r.err, "flux-broken: internal error:"
                         " ModuleNotFoundError: No module named"
                         " 'fluxd.cli.no_such_module' (set FLUX_CLI_DEBUG=1"
                         " for a traceback)\n")

    def test_unknown_option(self):
        r = run_flux(["--bogus"])
        self.assertEqual(r.rc, 1)
        self.assertIn("unrecognized option '--bogus'", r.err)

    def test_help_command(self):
        r = run_flux(["help", "hostlist"])
        self.assertEqual(r.rc, 0)
        self.assertIn("usage:", r.out.lower())

    def test_every_command_module_imports(self):
        import importlib
        for name, (target, _summary) in COMMANDS.items():
            modname, _, func = target.partition(":")
            module = importlib.import_module(modname)
            self.assertTrue(callable(getattr(module, func or "main")), name)


class MapperTests(SynchronousTestCase):
    def run_mapped(self, exc):
        def boom(argv):
            raise exc
        err = []
        old = sys.stderr
        sys.stderr = type("W", (), {"write": lambda self, s: err.append(s)})()
        try:
            rc = run_command("flux-test", boom, [])
        finally:
            sys.stderr = old
        return rc, "".join(err)

    def test_flux_error(self):
        self.assertEqual(self.run_mapped(InvalidArgument("bad hostlist 'x['")),
                         (1, "flux-test: bad hostlist 'x['\n"))
        self.assertEqual(self.run_mapped(NotFound("rank: nope")),
                         (1, "flux-test: rank: nope\n"))
        self.assertEqual(self.run_mapped(FluxError(errnum=errno.EXDEV))[0], 1)

    def test_os_error(self):
        rc, err = self.run_mapped(FileNotFoundError(2, "No such file or directory", "/x"))
        self.assertEqual((rc, err), (1, "flux-test: /x: No such file or directory\n"))

    def test_bug_is_one_line(self):
        rc, err = self.run_mapped(ZeroDivisionError("division by zero"))
        self.assertEqual(rc, 1)
        self.assertEqual(err.count("\n"), 1)
        self.assertIn("internal error: ZeroDivisionError", err)

    def test_interrupt(self):
        self.assertEqual(self.run_mapped(KeyboardInterrupt())[0], 130)
