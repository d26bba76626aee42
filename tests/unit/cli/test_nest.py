"""``flux batch``/``flux alloc`` pure parts: script directives, ``--conf``,
the nested jobspec and the one-broker-per-node task layout it asks for."""

import argparse
import json

from twisted.trial.unittest import SynchronousTestCase

from flux_shell.taskmap import TaskmapError, tasks_per_rank
from fluxd.cli._nest import (
    DUMP_DEFAULT, add_nest_arguments, fix_dump, nest_jobspec, parse_conf,
    parse_directives)
from fluxd.errors import InvalidArgument


class DirectiveTests(SynchronousTestCase):

    def test_directives_of_the_leading_comment_block(self):
        text = ("#!/bin/bash\n# flux: -N2 --job-name='my job'\n\n"
                "#FLUX: -t 5m  # a comment\n# plain comment\n"
                "#flux:--queue=batch\nhostname\n# not flux: anything\n")
        self.assertEqual(parse_directives(text),
                         ["-N2", "--job-name=my job", "-t", "5m",
                          "--queue=batch"])

    def test_a_directive_after_the_first_command_is_refused(self):
        with self.assertRaises(InvalidArgument) as cm:
            parse_directives("#!/bin/sh\nhostname\n# flux: -N2\n")
        self.assertEqual(str(cm.exception), "line 3: orphan 'flux:' directive"
                         " after the script's first command")

    def test_an_unbalanced_quote_names_the_line(self):
        with self.assertRaises(InvalidArgument) as cm:
            parse_directives("#!/bin/sh\n# flux: --job-name='x\n")
        self.assertIn("line 2: ", str(cm.exception))

    def test_no_directives(self):
        self.assertEqual(parse_directives("#!/bin/sh\necho hi\n"), [])


class ConfTests(SynchronousTestCase):

    def test_key_values_toml_text_and_files_merge_in_order(self):
        path = self.mktemp() + ".json"
        with open(path, "w") as f:
            json.dump({"tbon": {"torpid_max": "1m"}}, f)
        conf = parse_conf(["tbon.topo=kary:2", "resource.noverify=true",
                           "[sched]\nqueue-depth = 3\n", path,
                           "tbon.topo=\"binary\""])
        self.assertEqual(conf, {
            "tbon": {"topo": "binary", "torpid_max": "1m"},
            "resource": {"noverify": True}, "sched": {"queue-depth": 3}})

    def test_bad_items_are_one_line(self):
        for item, message in [
                ("nonsense", "--conf=nonsense: expected KEY=VAL"),
                ("missing.toml", "--conf=missing.toml: No such file"),
                ("[x\n", "--conf: ")]:
            with self.assertRaises(InvalidArgument) as cm:
                parse_conf([item])
            self.assertIn(message, str(cm.exception))
            self.assertNotIn("\n", str(cm.exception))


def _args(argv):
    parser = argparse.ArgumentParser()
    add_nest_arguments(parser)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    return fix_dump(parser.parse_args(argv), argv, "rest")


def _R(nranks, ncores):
    return {"version": 1, "execution": {"R_lite": [
        {"rank": f"0-{nranks - 1}" if nranks > 1 else "0",
         "children": {"core": f"0-{ncores - 1}"}}]}}


class JobspecTests(SynchronousTestCase):

    def jobspec(self, argv, program=("prog",)):
        jobspec, _ = nest_jobspec(_args(argv), list(program), environ={},
                                  cwd="/tmp")
        return jobspec

    def test_one_broker_per_node_whatever_the_slots(self):
        jobspec = self.jobspec(["-N2", "-n8", "-c2"])
        node = jobspec["resources"][0]
        self.assertEqual((node["type"], node["count"], node["exclusive"]),
                         ("node", 2, True))
        self.assertEqual(node["with"][0]["count"], 4)
        self.assertEqual(tasks_per_rank(jobspec, _R(2, 16)), {0: 1, 1: 1})
        self.assertEqual(jobspec["tasks"][0]["command"][1:],
                         ["broker", "prog"])

    def test_slots_without_nodes(self):
        jobspec = self.jobspec(["-n3", "-g1"])
        slot = jobspec["resources"][0]
        self.assertEqual((slot["type"], slot["count"]), ("slot", 3))
        self.assertEqual([c["type"] for c in slot["with"]], ["core", "gpu"])
        self.assertEqual(tasks_per_rank(jobspec, _R(1, 4)), {0: 1})

    def test_dump_and_broker_options_become_broker_arguments(self):
        self.assertEqual(
            self.jobspec(["--dump", "--broker-opts=-Slog-level=7,-Sbroker.rc2_none"])["tasks"][0]
            ["command"][2:], ["-Slog-level=7", "-Sbroker.rc2_none",
                              f"-Scontent.dump={DUMP_DEFAULT}", "prog"])
        self.assertEqual(self.jobspec(["--dump=x.tgz"])["tasks"][0]
                         ["command"][2:], ["-Scontent.dump=x.tgz", "prog"])
        args = _args(["--dump", "script.sh", "arg"])
        self.assertEqual((args.dump, args.rest),
                         (DUMP_DEFAULT, ["script.sh", "arg"]))

    def test_bad_counts_are_one_line(self):
        for argv, message in [
                (["-N2", "-n1"], "number of slots (1) must be >= the number"
                                 " of nodes (2)"),
                (["-N0"], "--nodes must be >= 1"),
                (["-cx"], "--cores-per-slot: invalid int value 'x'"),
                (["--broker-opts=--bogus"], "-o: unsupported broker option"
                                            " --bogus")]:
            with self.assertRaises(InvalidArgument) as cm:
                self.jobspec(argv)
            self.assertEqual(str(cm.exception), message)


class PerResourceTests(SynchronousTestCase):

    def test_per_core(self):
        jobspec = {"resources": [{"type": "slot", "count": 1, "with": [
            {"type": "core", "count": 1}]}], "tasks": [
            {"count": {"per_slot": 1}}], "attributes": {"system": {"shell": {
                "options": {"per-resource": {"type": "core", "count": 2}}}}}}
        self.assertEqual(tasks_per_rank(jobspec, _R(2, 3)), {0: 6, 1: 6})

    def test_bad_option(self):
        jobspec = {"attributes": {"system": {"shell": {"options": {
            "per-resource": {"type": "socket"}}}}}}
        self.assertRaises(TaskmapError, tasks_per_rank, jobspec, _R(1, 1))
