"""flux admin cleanup-push against an in-process runat service."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.testing.cli import run_flux


class CleanupPushTests(SynchronousTestCase):
    def test_nothing_to_push(self):
        r = run_flux(["admin", "cleanup-push"], stdin="\n  \n")
        self.assertEqual((r.rc, r.err),
                         (1, "flux-admin: no commands to push\n"))

    def test_unknown_subcommand(self):
        r = run_flux(["admin", "frob"])
        self.assertEqual(r.rc, 1)
        self.assertEqual(r.err.count("\n"), 1)
