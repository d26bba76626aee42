"""flux dmesg: formats and option errors."""

import datetime

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.cmd_dmesg import DmesgFormatter, color_wanted
from fluxd.errors import InvalidArgument
from fluxd.logring import stdlog
from fluxd.testing.cli import run_flux

PDT = datetime.timezone(datetime.timedelta(hours=-7))
T0 = datetime.datetime(2024, 5, 2, 14, 51, 3, 123456, tzinfo=PDT).timestamp()


def rec(t, message="msg", severity=6, app="broker", rank=0):
    return stdlog.encode(severity, app, rank, message, t)


class FormatTests(SynchronousTestCase):
    def test_iso_local_time(self):
        f = DmesgFormatter(tz=PDT)
        self.assertEqual(f.format(rec(T0, "hello")),
                         "2024-05-02T14:51:03.123456-07:00 broker.info[0]: hello")

    def test_utc_is_left_as_recorded(self):
        f = DmesgFormatter(tz=datetime.timezone.utc)
        self.assertEqual(f.format(rec(T0)),
                         "2024-05-02T21:51:03.123456Z broker.info[0]: msg")

    def test_human(self):
        f = DmesgFormatter(human=True, tz=PDT)
        lines = [f.format(rec(T0, "a", app="sched-fluxion-qmanager")),
                 f.format(rec(T0 + 0.039371, "b")),
                 f.format(rec(T0 + 0.816587, "c")),
                 f.format(rec(T0 + 60, "d"))]
        self.assertEqual(lines, [
            "[May02 14:51] sched-fluxion-qmanager.info[0]: a",
            "[  +0.039371] broker.info[0]: b",
            "[  +0.816587] broker.info[0]: c",
            "[May02 14:52] broker.info[0]: d"])

    def test_human_delta(self):
        f = DmesgFormatter(human=True, delta=True, tz=PDT)
        f.format(rec(T0))
        f.format(rec(T0 + 0.5))
        self.assertEqual(f.format(rec(T0 + 0.75)), "[  +0.250000] broker.info[0]: msg")

    def test_delta_needs_human(self):
        with self.assertRaises(InvalidArgument) as caught:
            DmesgFormatter(delta=True)
        self.assertEqual(str(caught.exception), "--delta can only be used with --human")

    def test_color(self):
        f = DmesgFormatter(color=True, tz=PDT)
        line = f.format(rec(T0, "boom", severity=3))
        self.assertIn("\033[33mbroker.err[0]\033[0m", line)
        self.assertIn("\033[31mboom\033[0m", line)
        self.assertTrue(line.startswith("\033[32m2024-05-02T14:51:03"))

    def test_not_a_record(self):
        self.assertEqual(DmesgFormatter().format("plain text"), "plain text")

    def test_rank_from_record(self):
        self.assertIn("kvs.debug[3]: x",
                      DmesgFormatter(tz=PDT).format(rec(T0, "x", 7, "kvs", 3)))

    def test_color_choice(self):
        self.assertTrue(color_wanted("always", False))
        self.assertFalse(color_wanted("never", True))
        self.assertTrue(color_wanted("auto", True))
        self.assertRaises(InvalidArgument, color_wanted, "sometimes", True)


class OptionTests(SynchronousTestCase):
    """Bad options are one line, exit 1, before any broker is contacted."""

    def check(self, argv, message):
        r = run_flux(["dmesg", *argv])
        self.assertEqual((r.rc, r.out, r.err), (1, "", f"flux-dmesg: {message}\n"))

    def test_bad_options(self):
        self.check(["--bogus"], "unrecognized option '--bogus'")
        self.check(["foo"], "flux-dmesg accepts no free arguments")
        self.check(["-d"], "--delta can only be used with --human")
        self.check(["-Lsometimes"], "Invalid argument to --color: 'sometimes'")
        self.check(["--color=x"], "Invalid argument to --color: 'x'")
