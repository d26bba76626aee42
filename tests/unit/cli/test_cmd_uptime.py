"""flux uptime: the guide's format."""

import datetime
import os

from fluxd.cli.cmd_uptime import format_uptime, owner_name
from fluxd.testing.cli import run_flux
from tests.unit.admin.helpers import TestCase

UTC = datetime.timezone.utc
NOW = datetime.datetime(2024, 4, 23, 7, 42, 52, tzinfo=UTC).timestamp()


class FormatTests(TestCase):
    def test_guide_leader_example(self):
        self.assertEqual(format_uptime(NOW, "run", 3.8, "flux", 0, 8, offline=7,
                                       tz=UTC),
                         [" 07:42:52 run 3.8s,  owner flux,  depth 0,  size 8,  7 offline"])

    def test_drained_and_minutes(self):
        self.assertEqual(format_uptime(NOW, "run", 4.3 * 60, "flux", 0, 8,
                                       drained=2, offline=6, tz=UTC),
                         [" 07:42:52 run 4.3m,  owner flux,  depth 0,  size 8,"
                          "  2 drained,  6 offline"])

    def test_safe_mode_second_line(self):
        lines = format_uptime(NOW, "run", 7200, "flux", 0, 1, submit_disabled=True,
                              sched_stopped=True, tz=UTC)
        self.assertEqual(lines[1], "  submit disabled,  scheduler stopped")
        self.assertEqual(lines[0], " 07:42:52 run 2h,  owner flux,  depth 0,  size 1")

    def test_only_one_disabled(self):
        lines = format_uptime(NOW, "run", 1, "flux", 0, 1, sched_stopped=True, tz=UTC)
        self.assertEqual(lines[1], "  scheduler stopped")

    def test_other_state(self):
        self.assertEqual(format_uptime(NOW, "quorum", 0.0123, "root", 1, 4, tz=UTC),
                         [" 07:42:52 quorum 12ms,  owner root,  depth 1,  size 4"])

    def test_owner_name(self):
        self.assertEqual(owner_name(0), "root")
        self.assertEqual(owner_name(2**31 - 7), str(2**31 - 7))


class CommandTests(TestCase):
    def test_no_arguments_taken(self):
        r = run_flux(["uptime", "extra"])
        self.assertEqual((r.rc, r.err), (1, "flux-uptime: unrecognized arguments: extra\n"))

    def test_no_broker(self):
        os.environ["FLUX_URI"] = f"local://{self.mktemp()}"
        self.addCleanup(os.environ.pop, "FLUX_URI")
        r = run_flux(["uptime"])
        self.assertEqual(r.rc, 1)
        self.assertIn("Unable to connect to Flux", r.err)


class ImportCostTests(TestCase):
    def test_admin_commands_import_no_twisted(self):
        import subprocess
        import sys
        code = ("import sys; import fluxd.cli.cmd_uptime, fluxd.cli.cmd_startlog,"
                " fluxd.cli.cmd_shutdown, fluxd.cli.cmd_dmesg, fluxd.cli.cmd_logger,"
                " fluxd.cli.cmd_config;"
                " print([m for m in sys.modules if m.startswith('twisted')])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, check=True).stdout
        self.assertEqual(out.strip(), "[]")
