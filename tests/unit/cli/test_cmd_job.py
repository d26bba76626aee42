"""Tests for fluxd.cli.cmd_job: the ``flux job`` dispatcher and ``flux job id``."""

import os
from collections import namedtuple

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli import cmd_job
from fluxd.formats import fluid
from fluxd.testing import cli as testing_cli

Run = namedtuple("Run", "rc out err")


def run_flux(argv, stdin=""):
    """run_flux() as a comparable (rc, out, err) tuple."""
    result = testing_cli.run_flux(argv, stdin=stdin)
    return Run(result.rc, result.out, result.err)

# t/t2201-job-cmd.t
MAXJOBID_DEC = "18446744073709551615"
MAXJOBID_HEX = "0xffffffffffffffff"
MAXJOBID_KVS = "job.ffff.ffff.ffff.ffff"
MAXJOBID_DOTHEX = "ffff.ffff.ffff.ffff"
MAXJOBID_WORDS = "natural-analyze-verbal--natural-analyze-verbal"
MAXJOBID_F58 = "fjpXCZedGfVQ"
MAXJOBID_EMOJI = "🚹💗💧👗😷📷📚"
MAXJOBIDS = [MAXJOBID_DEC, MAXJOBID_HEX, MAXJOBID_KVS, MAXJOBID_DOTHEX,
             MAXJOBID_WORDS, MAXJOBID_F58, "ƒjpXCZedGfVQ", MAXJOBID_EMOJI]

MINJOBID_DEC = "0"
MINJOBID_HEX = "0x0"
MINJOBID_KVS = "job.0000.0000.0000.0000"
MINJOBID_DOTHEX = "0000.0000.0000.0000"
MINJOBID_WORDS = "academy-academy-academy--academy-academy-academy"
MINJOBID_F58 = "f1"
MINJOBID_EMOJI = "😃"
MINJOBIDS = [MINJOBID_DEC, MINJOBID_HEX, MINJOBID_KVS, MINJOBID_DOTHEX,
             MINJOBID_WORDS, MINJOBID_F58, "ƒ1", MINJOBID_EMOJI]

TO = {
    "dec": (MAXJOBID_DEC, MINJOBID_DEC),
    "hex": (MAXJOBID_HEX, MINJOBID_HEX),
    "kvs": (MAXJOBID_KVS, MINJOBID_KVS),
    "dothex": (MAXJOBID_DOTHEX, MINJOBID_DOTHEX),
    "words": (MAXJOBID_WORDS, MINJOBID_WORDS),
    "f58plain": (MAXJOBID_F58, MINJOBID_F58),
    "emoji": (MAXJOBID_EMOJI, MINJOBID_EMOJI),
}

BAD = ["badstring", "job.0000.0000", "job.0000.0000.0000.000P", "42plusbad",
       "meep", "18446744073709551616", "bad-words", "f", "flux", "f1230", "x1"]


def _fake_subcommand(argv):
    """A subcommand reached through a "module:function" registry entry."""
    import sys
    sys.stdout.write("fake " + " ".join(argv) + "\n")
    return 3


class JobIdTests(SynchronousTestCase):
    """``flux job id`` as flux-core's t2201 exercises it."""

    def setenv(self, key, value):
        old = os.environ.get(key)
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
        self.addCleanup(lambda: os.environ.__setitem__(key, old) if old is not None
                        else os.environ.pop(key, None))

    def test_default_is_dec(self):
        self.assertEqual(run_flux(["job", "id", "42"]), (0, "42\n", ""))

    def test_stdin(self):
        self.assertEqual(run_flux(["job", "id"], stdin="42\n"), (0, "42\n", ""))

    def test_stdin_spaces_trimmed(self):
        self.assertEqual(run_flux(["job", "id"], stdin="42 \n 42\n"), (0, "42\n42\n", ""))

    def test_stdin_last_line_without_newline(self):
        self.assertEqual(run_flux(["job", "id", "--to=hex"], stdin="1\n2"),
                         (0, "0x1\n0x2\n", ""))

    def test_no_input_fails_quietly(self):
        self.assertEqual(run_flux(["job", "id"], stdin=""), (1, "", ""))

    def test_min_max_in_every_encoding(self):
        for text in MAXJOBIDS:
            self.assertEqual(run_flux(["job", "id", text]).out, MAXJOBID_DEC + "\n", text)
        for text in MINJOBIDS:
            self.assertEqual(run_flux(["job", "id", text]).out, MINJOBID_DEC + "\n", text)

    def test_stdin_mixed_encodings(self):
        result = run_flux(["job", "id", "--to=kvs"], stdin="\n".join(MAXJOBIDS) + "\n")
        self.assertEqual(result, (0, (MAXJOBID_KVS + "\n") * len(MAXJOBIDS), ""))

    def test_to_every_encoding(self):
        for to, (maxid, minid) in TO.items():
            result = run_flux(["job", "id", f"--to={to}", MAXJOBID_DEC, MINJOBID_DEC])
            self.assertEqual(result, (0, f"{maxid}\n{minid}\n", ""), to)

    def test_to_f58(self):
        self.setenv("FLUX_F58_FORCE_ASCII", "1")
        self.assertEqual(run_flux(["job", "id", "--to=f58", MAXJOBID_DEC, "0"]).out,
                         "fjpXCZedGfVQ\nf1\n")
        self.setenv("FLUX_F58_FORCE_ASCII", None)
        prefix = fluid.f58_prefix()
        self.assertEqual(run_flux(["job", "id", "--to=f58", "1"]).out, prefix + "2\n")

    def test_short_option_and_case(self):
        self.assertEqual(run_flux(["job", "id", "-t", "hex", "42"]).out, "0x2a\n")
        self.assertEqual(run_flux(["job", "id", "--to", "HEX", "42"]).out, "0x2a\n")
        # Options may follow the ids, as with flux's getopt.
        self.assertEqual(run_flux(["job", "id", "42", "--to=dothex"]).out,
                         "0000.0000.0000.002a\n")

    def test_unknown_to(self):
        self.assertEqual(run_flux(["job", "id", "--to=invalid", "42"]),
                         (1, "", "flux-job: Unknown to=invalid\n"))

    def test_malformed_input(self):
        for text in BAD:
            self.assertEqual(run_flux(["job", "id", text]),
                             (1, "", f"flux-job: {text}: malformed input\n"), text)
            self.assertEqual(run_flux(["job", "id"], stdin=text + "\n"),
                             (1, "", f"flux-job: {text}: malformed input\n"), text)

    def test_malformed_reported_before_unknown_to(self):
        self.assertEqual(run_flux(["job", "id", "--to=bogus", "meep"]).err,
                         "flux-job: meep: malformed input\n")

    def test_output_before_error_is_kept(self):
        self.assertEqual(run_flux(["job", "id", "1", "bad", "2"]),
                         (1, "1\n", "flux-job: bad: malformed input\n"))

    def test_blank_stdin_line(self):
        self.assertEqual(run_flux(["job", "id"], stdin="1\n\n2\n"),
                         (1, "1\n", "flux-job: : malformed input\n"))

    def test_negative_number_is_malformed(self):
        self.assertEqual(run_flux(["job", "id", "-1"]),
                         (1, "", "flux-job: -1: malformed input\n"))

    def test_bad_option(self):
        result = run_flux(["job", "id", "--meep"])
        self.assertEqual(result.rc, 1)
        self.assertIn("--meep", result.err)


class DispatchTests(SynchronousTestCase):
    """``flux job`` picks a subcommand from SUBCOMMANDS."""

    def test_missing_subcommand(self):
        result = run_flux(["job"])
        self.assertEqual((result.rc, result.out), (1, ""))
        self.assertIn("Usage:", result.err)
        self.assertIn("   id              Convert jobid(s) to another form\n", result.err)

    def test_unknown_subcommand(self):
        result = run_flux(["job", "wrongsubcmd"])
        self.assertEqual(result.rc, 1)
        self.assertIn("Usage:", result.err)
        self.assertIn("wrongsubcmd", result.err)

    def test_help(self):
        for argv in (["job", "--help"], ["help", "job"]):
            result = run_flux(argv)
            self.assertEqual(result.rc, 0)
            self.assertIn("Usage: flux-job", result.out)

    def test_unknown_global_option(self):
        result = run_flux(["job", "--meep"])
        self.assertEqual(result.rc, 1)
        self.assertIn("unrecognized option '--meep'", result.err)

    def test_lazy_registry_entry(self):
        table = dict(cmd_job.SUBCOMMANDS)
        table["fake"] = ("tests.unit.cli.test_cmd_job:_fake_subcommand", "ARGS", "Fake")
        self.patch(cmd_job, "SUBCOMMANDS", table)
        self.assertEqual(run_flux(["job", "fake", "a", "b"]), (3, "fake a b\n", ""))
        self.assertIn("   fake            Fake\n", run_flux(["job"]).err)

    def test_main_direct(self):
        self.assertIs(cmd_job.SUBCOMMANDS["id"][0], cmd_job.cmd_id)
        self.assertEqual(cmd_job.main(["id", "0x2a"]), 0)
