"""flux logger and flux startlog: errors before contacting the broker."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.testing.cli import run_flux


class LoggerTests(SynchronousTestCase):
    def test_bad_severity(self):
        r = run_flux(["logger", "--severity", "loud", "hi"])
        self.assertEqual((r.rc, r.err), (1, "flux-logger: invalid severity: Use"
                                            " emerg|alert|crit|err|warning|notice|info|debug\n"))

    def test_message_required(self):
        r = run_flux(["logger"], stdin="from stdin\n")
        self.assertEqual((r.rc, r.err), (1, "flux-logger: the following"
                                            " arguments are required: message\n"))
        r = run_flux(["logger", "-s", "err"])
        self.assertEqual(r.rc, 1)

    def test_bad_appname(self):
        r = run_flux(["logger", "-n", "two words", "hi"])
        self.assertEqual(r.rc, 1)
        self.assertIn("invalid appname", r.err)


class StartlogTests(SynchronousTestCase):
    def test_unknown_option(self):
        r = run_flux(["startlog", "--bogus"])
        self.assertEqual((r.rc, r.err),
                         (1, "flux-startlog: unrecognized arguments: --bogus\n"))
