"""Tests for :mod:`fluxd.cli.cmd_hostlist` (``flux hostlist``).

The cases follow flux-core's ``t/t2814-hostlist-cmd.t`` (minus the sources
that need a running instance, which must fail cleanly here) and the
examples of spec/cli.md section 9.
"""

import os

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli import cmd_hostlist
from fluxd.testing.cli import run_flux


def hostlist(*argv, stdin=""):
    """Run ``flux hostlist ARGV...`` in-process."""
    return run_flux(["hostlist", *argv], stdin=stdin)


class _Case(SynchronousTestCase):

    def assertOutput(self, argv, out, stdin=""):
        result = hostlist(*argv, stdin=stdin)
        self.assertEqual((result.rc, result.out, result.err), (0, out, ""),
                         argv)

    def assertFailsCleanly(self, argv, message=None, stdin="", rc=1):
        """Exit ``rc`` with one line on stderr, nothing on stdout."""
        result = hostlist(*argv, stdin=stdin)
        self.assertEqual(result.rc, rc, argv)
        self.assertEqual(result.out, "", argv)
        self.assertNotIn("Traceback", result.err)
        self.assertNotIn("internal error", result.err)
        if rc == 1:
            self.assertEqual(result.err.count("\n"), 1, result.err)
            self.assertTrue(result.err.startswith("flux-hostlist: "),
                            result.err)
        if message is not None:
            self.assertEqual(result.err, f"flux-hostlist: {message}\n")
        return result


class BasicTests(_Case):
    """Sources, stdin, output modes."""

    def test_help(self):
        result = hostlist("--help")
        self.assertEqual(result.rc, 0)
        self.assertIn("SOURCES may include", result.out)
        self.assertIn("-e, --expand", result.out)
        self.assertIn("-d, --delimiter=S", result.out)
        self.assertIn("usage: flux-hostlist", result.out)

    def test_reads_stdin_by_default(self):
        self.assertOutput([], "foo[0-3]\n", stdin="foo[0-3]\n")

    def test_stdin_words_and_lines(self):
        self.assertOutput([], "foo[1-3]\n", stdin="foo1 foo2 foo3")
        self.assertOutput([], "foo[1-3]\n", stdin="foo1\nfoo2\nfoo3")
        self.assertOutput(["-"], "foo[1-3]\n", stdin="foo[1-2]\nfoo3\n")
        self.assertOutput(["stdin"], "foo[1-3]\n", stdin="foo[1-3]\n")

    def test_stdin_mixed_with_args(self):
        self.assertOutput(["-", "bar"], "foo,bar\n", stdin="foo\n")
        self.assertOutput(["bar", "-"], "bar,foo[1-2]\n", stdin="foo1\nfoo2\n")

    def test_empty_stdin(self):
        self.assertOutput([], "", stdin="")
        self.assertOutput(["-c"], "0\n", stdin="")
        result = hostlist("-q", stdin="")
        self.assertEqual((result.rc, result.out, result.err), (1, "", ""))

    def test_hostlist_args(self):
        self.assertOutput(["foo[1-3]"], "foo[1-3]\n")
        self.assertOutput(["--fallback", "foo1", "foo2", "foo3"], "foo[1-3]\n")
        self.assertOutput(["host[1-2]", "host[3-4],bar"], "host[1-4],bar\n")

    def test_count(self):
        self.assertOutput(["-c", "foo[1-10]"], "10\n")
        self.assertOutput(["--count", "host[1,1,1]"], "3\n")
        self.assertOutput(["-c", "x[0-1048575]"], "1048576\n")

    def test_quiet(self):
        self.assertOutput(["--quiet", "foo[1-10]"], "")
        self.assertOutput(["-q", "-c", "foo[1-10]"], "")
        result = hostlist("--quiet", "--intersect", "host1", "host2")
        self.assertEqual((result.rc, result.out, result.err), (1, "", ""))

    def test_expand(self):
        self.assertOutput(["-e", "foo[1-3]"], "foo1 foo2 foo3\n")
        self.assertOutput(["--expand", "--delimiter=\\n", "foo[1-3]"],
                          "foo1\nfoo2\nfoo3\n")
        self.assertOutput(["-e", "-d", ",", "foo[1-3]"], "foo1,foo2,foo3\n")
        self.assertOutput(["-e", "-d", "", "a,b"], "ab\n")
        self.assertOutput(["-e", "-m", "host1", "host1"], "")

    def test_expand_and_count_exclusive(self):
        result = hostlist("-e", "-c", "foo1")
        self.assertEqual(result.rc, 2)
        self.assertIn("not allowed with argument", result.err)

    def test_set_operations_exclusive(self):
        result = hostlist("-i", "-m", "foo1", "foo1")
        self.assertEqual(result.rc, 2)
        self.assertIn("not allowed with argument", result.err)


class IndexTests(_Case):
    """-n, -F, -x, -L."""

    def test_nth(self):
        self.assertOutput(["--nth=1", "foo[1-10]"], "foo2\n")
        self.assertOutput(["--nth=-1", "foo[1-10]"], "foo10\n")
        self.assertOutput(["-n", "-1", "foo[1-10]"], "foo10\n")

    def test_nth_idset(self):
        self.assertOutput(["--nth=1,3-4", "foo[1-10]"], "foo[2,4-5]\n")
        self.assertOutput(["--nth=-1,3-4", "foo[1-10]"], "foo[7-8,10]\n")
        self.assertOutput(["-e", "--nth=1,3-4", "foo[1-10]"],
                          "foo2 foo4 foo5\n")

    def test_nth_invalid_index(self):
        self.assertFailsCleanly(["-n", "10", "foo[1-10]"],
                                "Hostlist index 10 out of range")
        self.assertFailsCleanly(["-n", "1,10", "foo[1-10]"])
        self.assertFailsCleanly(["--nth=-11", "foo[1-10]"])
        self.assertFailsCleanly(["-n", "0", "-m", "foo1", "foo1"])

    def test_nth_malformed_idset(self):
        result = self.assertFailsCleanly(["-n", "x", "host1"])
        self.assertIn("'x'", result.err)
        self.assertFailsCleanly(["-n", "3,1", "host[1-5]"])
        self.assertFailsCleanly(["--nth=1-", "host[1-5]"])

    def test_find(self):
        self.assertOutput(["-F", "foo1", "foo[1-10]"], "0\n")
        self.assertOutput(["-F", "foo10", "foo[1-10]"], "9\n")
        self.assertOutput(["-F", "foo[1-2]", "foo[1-10]"], "0 1\n")
        self.assertOutput(["--find=foo[3,1]", "foo[1-10]"], "2 0\n")
        self.assertOutput(["-F", "foo3", "foo[3,3]"], "0\n")

    def test_find_not_found(self):
        self.assertFailsCleanly(["-F", "foo1", "foo[2-10]"],
                                "host 'foo1' not found")
        self.assertFailsCleanly(["-F", "foo[1-10]", "foo[3-10]"],
                                "hosts 'foo[1-2]' not found")
        self.assertFailsCleanly(["-F", "foo[", "foo1"])

    def test_exclude_hosts(self):
        self.assertOutput(["-x", "foo1", "foo[0-10]"], "foo[0,2-10]\n")
        self.assertOutput(["-x", "foo[0-9]", "foo[0-10]"], "foo10\n")
        # all occurrences go
        self.assertOutput(["-x", "host1", "host[1,2,1,3,1]"], "host[2,3]\n")

    def test_exclude_indices(self):
        self.assertOutput(["-x", "1", "foo[0-10]"], "foo[0,2-10]\n")
        self.assertOutput(["-x", "0-9", "foo[0-10]"], "foo10\n")
        self.assertOutput(["-x", "[0-3]", "foo[0-5]"], "foo[4-5]\n")
        # not a host and no valid idset ("10,9" sorts out of order): no-op
        self.assertOutput(["-x", "9,10", "foo[0-10]"], "foo[0-10]\n")
        self.assertOutput(["-x", "bar", "foo[0-2]"], "foo[0-2]\n")

    def test_exclude_malformed(self):
        result = hostlist("-x", "foo[", "foo1")
        self.assertEqual(result.rc, 2)
        self.assertIn("argument -x/--exclude: invalid Hostlist value: 'foo['",
                      result.err)
        self.assertNotIn("Traceback", result.err)

    def test_nth_after_exclude(self):
        self.assertOutput(["-x", "foo5", "-n", "5-6", "foo[1-10]"],
                          "foo[7-8]\n")

    def test_limit(self):
        self.assertOutput(["-L", "2", "foo[1-10]"], "foo[1-2]\n")
        self.assertOutput(["-L", "-2", "foo[1-10]"], "foo[9-10]\n")
        self.assertOutput(["--limit=20", "foo[1-10]"], "foo[1-10]\n")
        self.assertOutput(["-L", "0", "foo[1-3]"], "foo[1-3]\n")

    def test_limit_not_a_number(self):
        result = hostlist("-L", "x", "foo1")
        self.assertEqual(result.rc, 2)
        self.assertIn("argument -L/--limit: invalid int value: 'x'",
                      result.err)


class SetOperationTests(_Case):
    """Order, -S, -u, -i, -X, -m (t2814 and cli.md section 9)."""

    def test_order_and_repeats_preserved(self):
        self.assertOutput(["host1", "host0", "host5", "host4"],
                          "host[1,0,5,4]\n")
        self.assertOutput(["host1", "host1", "host1"], "host[1,1,1]\n")

    def test_sort(self):
        self.assertOutput(["-S", "host3", "host2", "host1", "host0"],
                          "host[0-3]\n")
        self.assertOutput(["-S", "host2", "host1", "host3", "host1"],
                          "host[1,1-3]\n")

    def test_union(self):
        self.assertOutput(["-u", "host2", "host1", "host3", "host1"],
                          "host[1-3]\n")
        self.assertOutput(["-u", "host[1-3]", "host2"], "host[1-3]\n")
        self.assertOutput(["-u", "host[1-3]", "bar", "baz"],
                          "bar,baz,host[1-3]\n")
        self.assertOutput(["--unique", "b,a,b"], "a,b\n")

    def test_intersect(self):
        self.assertOutput(["-i", "host[1-3]", "host[2-5]"], "host[2-3]\n")
        self.assertOutput(["-i", "host[1-3]", "host[2-5]", "host[3-10]"],
                          "host3\n")
        self.assertOutput(["-i", "host[3,1,1]", "host[1-3]"], "host[1,3]\n")

    def test_xor(self):
        self.assertOutput(["-X", "host[1-3]", "host[2-5]"], "host[1,4-5]\n")
        self.assertOutput(["-X", "host[1-3]", "host[2-5]", "host[3-10]"],
                          "host[1,3,6-10]\n")
        self.assertOutput(["-X", "host[3-10]", "host[1-3]", "host[2-5]"],
                          "host[1,3,6-10]\n")

    def test_minus(self):
        self.assertOutput(["-m", "host[1-10]", "host[2-3]"], "host[1,4-10]\n")
        self.assertOutput(["-m", "host[1-10]", "host[2-3]", "host[5-10]"],
                          "host[1,4]\n")
        self.assertOutput(["-m", "host[1-10]", "host[1-20]"], "")
        result = hostlist("-qm", "host[1-10]", "host[1-20]")
        self.assertEqual((result.rc, result.out, result.err), (1, "", ""))

    def test_minus_first_occurrence_only(self):
        self.assertOutput(["-m", "host[1,1,1]", "host1"], "host[1,1]\n")
        self.assertOutput(["-um", "host[1,1,1]", "host1"], "host1\n")

    def test_uniq_keeps_libhostlist_quirk(self):
        # libhostlist's uniq merges ranges, not names (as flux prints it)
        self.assertOutput(["-u", "a10", "a1[0]"], "a10,a10\n")


class SourceTests(_Case):
    """Sources that need a running instance, and job IDs."""

    def test_instance_sources_need_an_instance(self):
        for source in ("instance", "local", "avail", "available"):
            self.assertFailsCleanly(
                [source], f"source '{source}' needs a running Flux instance")
        self.assertFailsCleanly(
            ["-l"], "source 'local' needs a running Flux instance")
        self.assertFailsCleanly(
            ["-c", "local"], "source 'local' needs a running Flux instance")

    def test_jobids_need_an_instance(self):
        # ("fuzz100", flux's own --fallback example, is no job ID: RFC 19
        # base58 has no "0")
        for jobid in ("foo1", "f1", "fuzz", "1234", "0x2a",
                      "0000.0000.0000.002a",
                      "academy-academy-academy--academy-academy-academy"):
            result = self.assertFailsCleanly([jobid])
            self.assertIn(f"job {jobid}: ", result.err)
            self.assertIn("--fallback", result.err)

    def test_fallback_treats_jobids_as_hosts(self):
        self.assertOutput(["--fallback", "foo1"], "foo1\n")
        self.assertOutput(["-f", "fuzz100", "f1"], "fuzz100,f1\n")
        self.assertOutput(["-f", "1234"], "1234\n")

    def test_hosts_that_are_not_jobids(self):
        self.assertOutput(["host1", "node[1-2]", "bar", "fuzz100"],
                          "host1,node[1-2],bar,fuzz100\n")


class BadInputTests(_Case):
    """Malformed input: one line, exit 1, no traceback."""

    def test_invalid_hostlist_arg(self):
        self.assertFailsCleanly(["foo[1-"], "Invalid jobid or hostlist foo[1-")
        for bad in ("[]", "host[", "host]", "host[3-1]", "host[0-1048576]",
                    "host[1,3"):
            self.assertFailsCleanly([bad], f"Invalid jobid or hostlist {bad}")

    def test_invalid_hostlist_on_stdin(self):
        result = self.assertFailsCleanly([], stdin="foo1\nbar[\n")
        self.assertIn("Invalid hostlist: 'bar['", result.err)
        self.assertFailsCleanly(["-"], stdin="x[0-1048576]\n")

    def test_invalid_stdin_timeout(self):
        old = os.environ.get("FLUX_HOSTLIST_STDIN_TIMEOUT")
        os.environ["FLUX_HOSTLIST_STDIN_TIMEOUT"] = "soon"

        def restore():
            if old is None:
                del os.environ["FLUX_HOSTLIST_STDIN_TIMEOUT"]
            else:
                os.environ["FLUX_HOSTLIST_STDIN_TIMEOUT"] = old
        self.addCleanup(restore)
        self.assertFailsCleanly(
            [], "invalid FLUX_HOSTLIST_STDIN_TIMEOUT value 'soon'")

    def test_unknown_option(self):
        result = hostlist("--bogus", "foo")
        self.assertEqual(result.rc, 2)
        self.assertIn("unrecognized arguments: --bogus", result.err)


class ModuleTests(SynchronousTestCase):
    """Direct calls of the module's helpers."""

    def test_main_returns_exit_code(self):
        self.assertEqual(cmd_hostlist.main(["-q", "host1"]), 0)
        self.assertEqual(cmd_hostlist.main(["-q", "-m", "host1", "host1"]), 1)

    def test_resolve_source(self):
        self.assertEqual(str(cmd_hostlist.resolve_source("host[1-2]")),
                         "host[1-2]")
        self.assertEqual(str(cmd_hostlist.resolve_source("f1", fallback=True)),
                         "f1")
