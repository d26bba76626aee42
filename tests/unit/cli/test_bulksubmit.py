"""``flux bulksubmit``: inputs, substitution, --dry-run lines, batching."""

import os
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.cmd_bulksubmit import BulkSubmitCommand, split_inputs

from tests.unit.cli.fakejobs import FakeJobBroker
from tests.unit.cli.test_submit import f58, requests, run, submitted


def bulk(argv, broker=None, stdin=""):
    return run(argv, broker, command=BulkSubmitCommand, stdin=stdin)


def commands(broker):
    return [jobspec["tasks"][0]["command"]
            for jobspec, _, _ in submitted(broker)]


class BulkSubmitTests(SynchronousTestCase):
    def test_product_of_inputs(self):
        broker = FakeJobBroker()
        rc, out, err = bulk(["echo", "{0}", "{1}", "{seq}", "{seq1}", ":::",
                             "a", "b", ":::", "x", "y"], broker)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(commands(broker), [
            ["echo", "a", "x", "0", "1"], ["echo", "a", "y", "1", "2"],
            ["echo", "b", "x", "2", "3"], ["echo", "b", "y", "3", "4"]])
        self.assertEqual(out.split(), [f58(i) for i in sorted(broker.jobs)])
        self.assertEqual(len(requests(broker)), 1)   # one batch

    def test_linked_inputs_and_default_command(self):
        broker = FakeJobBroker()
        bulk(["echo", "{0}{1}", ":::", "a", "b", "c", ":::+", "1", "2"],
             broker)
        self.assertEqual(commands(broker),
                         [["echo", "a1"], ["echo", "b2"], ["echo", "c1"]])
        broker = FakeJobBroker()
        bulk([":::", "hostname", "true"], broker)
        self.assertEqual(commands(broker), [["hostname"], ["true"]])

    def test_stdin_and_separator(self):
        broker = FakeJobBroker()
        bulk(["echo", "{}"], broker, stdin="a\nb\n")
        self.assertEqual(commands(broker), [["echo", "a"], ["echo", "b"]])
        # as in flux-core, inputs are not appended to a command without {}
        broker = FakeJobBroker()
        bulk(["echo"], broker, stdin="a\nb\n")
        self.assertEqual(commands(broker), [["echo"], ["echo"]])
        broker = FakeJobBroker()
        bulk(["--sep=none", "echo", "{}"], broker, stdin="a b\tc\n")
        self.assertEqual(commands(broker),
                         [["echo", "a"], ["echo", "b"], ["echo", "c"]])
        broker = FakeJobBroker()
        bulk(["--sep=,", "echo", "{}", "::::", "-"], broker, stdin="1,2")
        self.assertEqual(commands(broker), [["echo", "1"], ["echo", "2"]])

    def test_input_file_and_fields(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        path = os.path.join(directory.name, "inputs")
        with open(path, "w", encoding="utf-8") as stream:
            stream.write("/d/f.txt\n")
        broker = FakeJobBroker()
        bulk(["--define=up=x.upper()", "--define=parts=x.split('/')",
              "echo", "{0.%}", "{0./}", "{0.//}", "{0./%}", "{0.up}",
              "{0.parts}", "::::", path], broker)
        self.assertEqual(commands(broker), [[
            "echo", "/d/f", "f.txt", "/d", "f", "/D/F.TXT", "", "d",
            "f.txt"]])

    def test_options_substituted_and_cc(self):
        broker = FakeJobBroker()
        bulk(["--job-name=n{}", "-n", "{}", "--cc=0-1", "echo", "{cc}",
              ":::", "1", "2"], broker)
        jobs = submitted(broker)
        self.assertEqual(len(jobs), 4)
        self.assertEqual([j["attributes"]["system"]["job"]["name"]
                          for j, _, _ in jobs], ["n1", "n1", "n2", "n2"])
        self.assertEqual([j["resources"][0]["count"] for j, _, _ in jobs],
                         [1, 1, 2, 2])
        self.assertEqual([j["tasks"][0]["command"] for j, _, _ in jobs],
                         [["echo", "0"], ["echo", "1"]] * 2)

    def test_dry_run_and_verbose(self):
        rc, out, err = bulk(["--dry-run", "--progress", "--job-name={}",
                             "echo", "{}", ":::", "a", "b"])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, "bulksubmit: submitting a total of 2 jobs\n"
                         "bulksubmit: submit --job-name=a echo a\n"
                         "bulksubmit: submit --job-name=b echo b\n")
        broker = FakeJobBroker()
        rc, out, err = bulk(["-v", "echo", "{}", ":::", "x"], broker)
        self.assertEqual(out.splitlines()[0], "bulksubmit: submit echo x")

    def test_errors(self):
        self.assertEqual(bulk(["echo", "{1}", ":::", "a"]),
                         (1, "", "flux-bulksubmit: ERROR: Invalid replacement"
                          " string in command: '{1}'\n"))
        self.assertEqual(bulk(["echo"], stdin=""),
                         (1, "", "flux-bulksubmit: ERROR: no jobs provided"
                          " for bulk submission\n"))
        self.assertEqual(bulk(["echo", "{0.nope}", ":::", "a"]),
                         (1, "", "flux-bulksubmit: ERROR: Unknown input"
                          " string method '.nope'\n"))
        with self.assertRaises(Exception) as cm:
            split_inputs(["a", "::::", "f1", "f2"], None)
        self.assertEqual(str(cm.exception),
                         "Multiple args not allowed after ::::")
