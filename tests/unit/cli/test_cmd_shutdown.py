"""flux shutdown: option rules and the gc threshold question."""

import argparse

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.cmd_shutdown import dump_request, gc_wanted, loglevel
from fluxd.errors import InvalidArgument
from fluxd.testing.cli import run_flux


def args(**kw):
    base = dict(gc=False, skip_gc=False, dump=None, yes=False, no=False, verbose=0)
    base.update(kw)
    return argparse.Namespace(**base)


class DecisionTests(SynchronousTestCase):
    def test_loglevels(self):
        self.assertEqual((loglevel(True, 0), loglevel(False, 0), loglevel(False, 1)),
                         (4, 6, 7))

    def test_dump_requests(self):
        never = lambda: self.fail("gc check not expected")  # noqa: E731
        self.assertEqual(dump_request(args(skip_gc=True), never), "")
        self.assertEqual(dump_request(args(dump="/d.tgz"), never), "/d.tgz")
        self.assertEqual(dump_request(args(gc=True), never), "auto")
        self.assertIsNone(dump_request(args(), lambda: False))
        self.assertEqual(dump_request(args(), lambda: True), "auto")

    def test_gc_conflicts(self):
        for bad in (args(gc=True, skip_gc=True), args(gc=True, dump="x")):
            with self.assertRaises(InvalidArgument) as caught:
                dump_request(bad, lambda: False)
            self.assertEqual(str(caught.exception),
                             "--gc is incompatible with --skip-gc or --dump")

    def test_gc_threshold(self):
        self.assertFalse(gc_wanted(0, 10**6))
        self.assertFalse(gc_wanted(100, 50))
        self.assertTrue(gc_wanted(100, 101, yes=True))
        self.assertFalse(gc_wanted(100, 101, no=True))
        self.assertFalse(gc_wanted(100, 101, skip_gc=True))
        self.assertTrue(gc_wanted(100, 101, isatty=True, ask=lambda p: True))
        with self.assertRaises(InvalidArgument) as caught:
            gc_wanted(100, 101)
        self.assertEqual(str(caught.exception), "gc threshold exceeded, specify -y or -n")


class CommandTests(SynchronousTestCase):
    def test_conflicts_before_connecting(self):
        r = run_flux(["shutdown", "--gc", "--skip-gc"])
        self.assertEqual((r.rc, r.err),
                         (1, "flux-shutdown: --gc is incompatible with --skip-gc or --dump\n"))
        r = run_flux(["shutdown", "-y", "-n"])
        self.assertEqual(r.err, "flux-shutdown: --yes and --no are incompatible\n")

    def test_unknown_option(self):
        r = run_flux(["shutdown", "--now"])
        self.assertEqual((r.rc, r.err), (1, "flux-shutdown: unrecognized arguments: --now\n"))
