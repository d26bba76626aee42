"""Tests for ``flux R`` (fluxd.cli.cmd_R), run in-process.

Every example of flux-core's ``t/t0026-flux-R.t`` is here, in file order,
plus the output format, the error lines and the hwloc XML reader.  The
sierra2/corona XML files of t0026 are not in our vectors, so the ``--xml``
examples use small synthetic topologies with the same core and GPU counts.
"""

import json
import os
import shutil
import socket
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats._rhwloc import local_topology, topology_from_xml
from fluxd.formats.rv1 import RError
from fluxd.testing.cli import run_flux
from fluxd.testing.guide import RESOURCE_CONFIG


def hwloc_xml(ncores, gpus=(), hostname="node0", v1=False):
    """A minimal hwloc topology: one package of ``ncores`` cores (2 PUs
    each) and one OS device per backend in ``gpus``."""
    cores = "".join(
        f'<object type="Core" os_index="{i}">'
        f'<object type="PU" os_index="{2 * i}"/>'
        f'<object type="PU" os_index="{2 * i + 1}"/></object>'
        for i in range(ncores))
    cache = "Cache" if v1 else "L3Cache"
    devs = "".join(
        f'<object type="PCIDev"><object type="OSDev" name="dev{i}"'
        f' osdev_type="5"><info name="Backend" value="{backend}"/>'
        f'</object></object>' for i, backend in enumerate(gpus))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<!DOCTYPE topology SYSTEM "hwloc2.dtd">\n'
            f'<topology version="2.0"><object type="Machine" os_index="0">'
            f'<info name="HostName" value="{hostname}"/>'
            f'<object type="Package" os_index="0"><object type="{cache}">'
            f'{cores}</object></object>'
            f'<object type="Bridge">{devs}</object></object></topology>\n')


class FluxR:
    """Helpers to run ``flux R`` and pipe commands together."""

    def mktemp(self):
        """A fresh path in a private temporary directory removed after the
        test (trial's own mktemp() writes below the current directory)."""
        base = tempfile.mkdtemp(prefix="fluxd-test-R-")
        self.addCleanup(shutil.rmtree, base, ignore_errors=True)
        return os.path.join(base, "t")

    def R(self, *argv, stdin=""):
        result = run_flux(["R", *argv], stdin=stdin)
        return result

    def ok(self, *argv, stdin=""):
        result = self.R(*argv, stdin=stdin)
        self.assertEqual((result.rc, result.err), (0, ""), argv)
        return result.out

    def line(self, *argv, stdin=""):
        return self.ok(*argv, stdin=stdin).rstrip("\n")

    def fails(self, *argv, stdin=""):
        result = self.R(*argv, stdin=stdin)
        self.assertEqual(result.rc, 1, (argv, result))
        self.assertEqual(result.out, "")
        self.assertTrue(result.err.startswith("flux-R: "), result.err)
        self.assertEqual(result.err.count("\n"), 1, result.err)
        self.assertNotIn("Traceback", result.err)
        return result.err.rstrip("\n")[len("flux-R: "):]

    def encode(self, *argv):
        return self.ok("encode", *argv)


class T0026Tests(FluxR, SynchronousTestCase):
    """t/t0026-flux-R.t, example by example."""

    def test_fails_on_invalid_R_objects(self):
        self.assertEqual(self.fails("decode"),
                         "Failed to read an R object: no JSON object on stdin")
        self.assertEqual(self.fails("decode", stdin="{}\n"),
                         "Failed to decode R on stdin: R is missing required"
                         " key 'version'")
        self.assertEqual(self.fails("decode", stdin='{"version": 1}\n'),
                         "Failed to decode R on stdin: R is missing required"
                         " key 'execution'")
        self.assertEqual(
            self.fails("decode", stdin='{"version": 1, "execution": {}}\n'),
            "Failed to decode R on stdin: execution is missing required key"
            " 'R_lite'")

    def test_decode_works_with_empty_R_lite(self):
        empty = self.ok("decode",
                        stdin='{"version": 1, "execution": {"R_lite": {}}}\n')
        self.assertEqual(self.line("decode", "--count", "core", stdin=empty),
                         "0")

    def test_encode_with_no_args(self):
        R = self.encode()
        self.ok("decode", stdin=R)
        self.assertEqual(self.line("decode", "--count", "node", stdin=R), "1")
        self.assertEqual(self.line("decode", "--count", "core", stdin=R), "1")
        self.assertEqual(self.line("decode", "--count", "gpu", stdin=R), "0")
        self.assertEqual(self.line("decode", "--short", stdin=R), "rank0/core0")
        self.assertEqual(json.loads(R)["execution"]["nodelist"],
                         [socket.gethostname()])

    def test_encode_ranks(self):
        count = lambda *a: self.line("decode", "--count", "node",  # noqa: E731
                                     stdin=self.encode(*a))
        self.assertEqual(count("--ranks", "0-1"), "2")
        self.assertEqual(count("--ranks", "0,2"), "2")
        self.assertEqual(self.line("decode", "--count", "core",
                                   stdin=self.encode("--ranks", "0,2")), "2")
        self.assertEqual(self.line("decode", "--ranks",
                                   stdin=self.encode("--ranks", "0,2")), "0,2")

    def test_encode_cores(self):
        R = self.encode("--cores", "0-1")
        self.assertEqual(self.line("decode", "--count", "node", stdin=R), "1")
        self.assertEqual(self.line("decode", "--count", "core", stdin=R), "2")
        self.assertEqual(self.line("decode", "-c", "core",
                                   stdin=self.encode("-c", "0-1", "-r", "0-1")),
                         "4")

    def test_encode_gpus(self):
        R = self.encode("--gpus", "0")
        self.assertEqual(self.line("decode", "--count", "node", stdin=R), "1")
        self.assertEqual(self.line("decode", "--count", "gpu", stdin=R), "1")
        self.assertEqual(self.line("decode", "--count", "core", stdin=R), "0")
        R = self.encode("--cores", "0-1", "-g", "0")
        self.assertEqual(self.line("decode", "--count", "core", stdin=R), "2")
        self.assertEqual(self.line("decode", "--count", "gpu", stdin=R), "1")

    def test_encode_hosts(self):
        R = self.encode("--hosts=foo[0-1]")
        self.assertEqual(self.line("decode", "-c", "node", stdin=R), "2")
        self.assertEqual(self.line("decode", "--nodelist", stdin=R),
                         "foo[0-1]")

    def check_properties(self, R):
        def nodes(*props):
            return self.line("decode", "-c", "node", *props, stdin=R)

        def hosts(prop):
            return self.line("decode", "--nodelist", "--properties", prop,
                             stdin=R)
        self.assertEqual(nodes(), "2")
        self.assertEqual(nodes("--properties", "all"), "2")
        self.assertEqual(nodes("--properties", "xx"), "1")
        self.assertEqual(nodes("--properties", "yy"), "1")
        self.assertEqual(nodes("--properties", "^all"), "0")
        self.assertEqual(nodes("--properties", "all,yy"), "1")
        self.assertEqual(hosts("xx"), "foo0")
        self.assertEqual(hosts("yy"), "foo1")
        self.assertEqual(hosts("^yy"), "foo0")

    def test_encode_decode_property(self):
        self.check_properties(self.encode(
            "--hosts=foo[0-1]", "--gpus", "0", "--cores", "0-1",
            "--property", "xx:0", "--property", "yy:1", "--property", "all"))

    def test_encode_property_fails_with_invalid_rank(self):
        err = self.fails("encode", "-r", "0-3", "-p", "xx:3-5")
        self.assertIn("ranks 4-5 not found", err)
        self.assertEqual(err, "failed to assign properties: ranks 4-5 not"
                         " found in target resource list")

    def write_xml(self, text):
        path = self.mktemp()
        with open(path, "w") as fp:
            fp.write(text)
        return path

    def test_encode_xml(self):
        # sierra2/0.xml: 44 cores, 4 NVIDIA GPUs (CUDA and NVML devices)
        xml = self.write_xml(hwloc_xml(44, ["CUDA"] * 4 + ["NVML"] * 4))
        self.assertEqual(self.line("decode", "--short",
                                   stdin=self.encode("--xml=" + xml)),
                         "rank0/core[0-43],gpu[0-3]")

    def test_encode_xml_amd_rsmi(self):
        # corona/0.xml: 48 cores, 8 AMD GPUs seen by RSMI
        xml = self.write_xml(hwloc_xml(48, ["RSMI"] * 8))
        self.assertEqual(self.line("decode", "--short",
                                   stdin=self.encode("--xml=" + xml)),
                         "rank0/core[0-47],gpu[0-7]")

    def test_decode_include(self):
        R = self.encode("-r", "0-1023")
        self.assertEqual(self.line("decode", "--include", "5-7", "--short",
                                   stdin=R), "rank[5-7]/core0")

    def test_decode_exclude(self):
        R = self.encode("-r", "1-10")
        self.assertEqual(self.line("decode", "--exclude", "5-7", "--short",
                                   stdin=R), "rank[1-4,8-10]/core0")

    def test_append_fails_if_sets_intersect(self):
        err = self.fails("append", stdin=self.encode("-r", "0-1")
                         + self.encode("-r", "1-2"))
        self.assertEqual(err, "R objects 'rank[0-1]/core0' and"
                         " 'rank[1-2]/core0' overlap")
        self.fails("append", stdin=self.encode("-r", "0-1", "-c", "0-1", "-g",
                                               "0")
                   + self.encode("-r", "1", "-c", "2-3", "-g", "0"))

    def test_append_works(self):
        R = self.ok("append", stdin=self.encode("-r", "0-1", "-c", "0-1")
                    + self.encode("-r", "1-2", "-c", "2-3"))
        self.assertEqual(self.line("decode", "--short", stdin=R),
                         "rank0/core[0-1] rank1/core[0-3] rank2/core[2-3]")

    def test_append_only_some_nodes_have_gpus(self):
        R = self.ok("append", stdin=self.encode("-r", "0-1", "-c", "0-1")
                    + self.encode("-r", "2-3", "-c", "0-1", "-g", "0-1"))
        self.assertEqual(self.line("decode", "--short", stdin=R),
                         "rank[0-1]/core[0-1] rank[2-3]/core[0-1],gpu[0-1]")

    def test_diff_works(self):
        R = self.ok("diff", stdin=self.encode("-r", "0-1", "-c", "0-1")
                    + self.encode("-r", "0-1", "-c", "0"))
        self.assertEqual(self.line("decode", "--short", stdin=R),
                         "rank[0-1]/core1")

    def test_intersect_works(self):
        R = self.ok("intersect", stdin=self.encode("-r", "0-3", "-c", "0-1")
                    + self.encode("-r", "1-5", "-c", "0"))
        self.assertEqual(self.line("decode", "--short", stdin=R),
                         "rank[1-3]/core0")
        R = self.ok("intersect", stdin=self.encode("-r", "0-3", "-c", "0-1")
                    + self.encode("-r", "4-5", "-c", "0"))
        self.assertEqual(self.line("decode", "--short", stdin=R), "")

    def test_remap_works(self):
        R = self.ok("remap", stdin=self.encode("-r", "5,99,1000"))
        self.assertEqual(self.line("decode", "-s", stdin=R), "rank[0-2]/core0")

    def test_rerank_works(self):
        R = self.ok("rerank", "foo[3,2,1,0]",
                    stdin=self.encode("-r", "0-3", "-H", "foo[0-3]"))
        self.assertEqual(self.line("decode", "--nodelist", stdin=R),
                         "foo[3,2,1,0]")

    def test_verify_works(self):
        result = self.R("verify", stdin=self.encode("-r", "1-10", "-c", "0-3")
                        + self.encode("-r", "1", "-c", "0-3"))
        self.assertEqual((result.rc, result.out, result.err), (0, "", ""))

    def test_verify_fails_with_mismatched_ranks(self):
        err = self.fails("verify", stdin=self.encode("-r", "1-10", "-c", "0-3")
                         + self.encode("-r", "0", "-c", "0-3"))
        self.assertEqual(err, "rank 0 not found in expected ranks")

    def test_verify_fails_with_mismatched_hosts(self):
        err = self.fails("verify",
                         stdin=self.encode("-r", "1", "-c", "0-3", "-H", "foo1")
                         + self.encode("-r", "1", "-c", "0-3", "-H", "foo12"))
        self.assertEqual(err, "rank 1 got hostname 'foo12', expected 'foo1'")

    def test_verify_fails_with_mismatched_resources(self):
        err = self.fails("verify", stdin=self.encode("-r", "1", "-c", "0-3")
                         + self.encode("-r", "1", "-c", "0-2"))
        host = socket.gethostname()
        self.assertEqual(err, f"rank 1 ({host}) missing resources: core3")

    def test_verify_reports_extra_resources(self):
        result = self.R("verify", stdin=self.encode("-r", "1", "-c", "0-3")
                        + self.encode("-r", "1", "-c", "0-7", "-g", "1"))
        host = socket.gethostname()
        self.assertEqual((result.rc, result.out), (0, ""))
        self.assertEqual(result.err, f"flux-R: rank 1 ({host}) has extra"
                         " resources: core[4-7],gpu1\n")

    def test_set_property_works(self):
        R = self.encode("-r", "0-1", "-c", "0-3", "-H", "foo[0-1]")
        R = self.ok("set-property", "all", stdin=R)
        R = self.ok("set-property", "xx:0", "yy:1", stdin=R)
        self.check_properties(R)

    def test_set_property_fails_with_unknown_ranks(self):
        err = self.fails("set-property", "foo:1-2",
                         stdin=self.encode("-r", "0-1"))
        self.assertEqual(err, "failed to assign properties: rank 2 not found"
                         " in target resource list")

    def orig_with_scheduling(self):
        R = json.loads(self.encode("-r", "0-3", "-c", "0-3", "-g", "0", "-H",
                                   "foo[0-3]"))
        R["scheduling"] = 42
        return json.dumps(R) + "\n"

    def test_scheduling_key_preserved(self):
        orig = self.orig_with_scheduling()
        for args in ((), ("--include", "0"), ("--exclude", "0")):
            self.assertEqual(json.loads(self.ok("decode", *args,
                                                stdin=orig))["scheduling"], 42)

    def test_scheduling_key_preserved_with_append(self):
        R = self.ok("append", stdin=self.orig_with_scheduling()
                    + self.encode("-r", "4"))
        self.assertEqual(json.loads(self.ok("decode", stdin=R))["scheduling"],
                         42)

    def test_scheduling_key_preserved_with_remap(self):
        R = self.ok("remap", stdin=self.orig_with_scheduling())
        self.assertEqual(json.loads(self.ok("decode", stdin=R))["scheduling"],
                         42)

    def test_scheduling_key_preserved_with_diff(self):
        R = self.ok("diff", stdin=self.orig_with_scheduling()
                    + self.encode("-r", "1"))
        self.assertEqual(json.loads(R)["scheduling"], 42)

    def test_scheduling_key_preserved_with_intersect(self):
        R = self.ok("intersect", stdin=self.orig_with_scheduling()
                    + self.encode("-r", "1", "-H", "foo1"))
        self.assertEqual(json.loads(R)["scheduling"], 42)

    def test_local_xml_and_hosts(self):
        ncores = self.line("decode", "--count", "cores",
                           stdin=self.encode("--local"))
        R = self.encode("--local", "--hosts=fluke[0-16]")
        self.assertEqual(self.line("decode", "--count", "cores", stdin=R),
                         str(17 * int(ncores)))
        self.assertEqual(self.line("decode", "--nodelist", stdin=R),
                         "fluke[0-16]")
        self.assertGreater(int(ncores), 0)

    def write_conf(self, text):
        conf = self.mktemp()
        os.makedirs(conf)
        with open(os.path.join(conf, "resource.toml"), "w") as fp:
            fp.write(text)
        return conf

    def test_parse_config_works(self):
        conf = self.write_conf('[[resource.config]]\nhosts = "foo"\n'
                               'cores = "0-1"\ngpus = "0"\n')
        R = self.ok("parse-config", conf)
        self.assertEqual(self.line("decode", "-c", "node", stdin=R), "1")
        self.assertEqual(self.line("decode", "-c", "core", stdin=R), "2")
        self.assertEqual(self.line("decode", "-c", "gpu", stdin=R), "1")
        self.assertEqual(self.line("decode", "--nodelist", stdin=R), "foo")

    def test_parse_config_multiple_entries(self):
        conf = self.write_conf("""
[[resource.config]]
hosts = "foo[0-2]"
cores = "0-1"
[[resource.config]]
hosts = "foo2"
gpus = "0"
[[resource.config]]
hosts = "foo0"
properties = ["login"]
""")
        R = self.ok("parse-config", conf)
        self.assertEqual(self.line("decode", "-c", "node", stdin=R), "3")
        self.assertEqual(self.line("decode", "-c", "core", stdin=R), "6")
        self.assertEqual(self.line("decode", "-c", "gpu", stdin=R), "1")
        self.assertEqual(self.line("decode", "--nodelist", stdin=R),
                         "foo[0-2]")
        self.assertEqual(self.line("decode", "-p", "login", "--nodelist",
                                   stdin=R), "foo0")

    def parse_config_fails(self, text):
        conf = self.write_conf(text)
        err = self.fails("parse-config", conf)
        return err.replace(os.path.join(conf, "resource.toml"), "FILE")

    def test_parse_config_failures(self):
        cases = [
            # fails on invalid TOML (an entry without hosts)
            ("[[resource.config]]\n",
             "FILE: resource.config[0]: missing required key 'hosts'"),
            # fails when resource.config missing
            ("[resource]\nnoverify = true\n", None),
            # detects empty host list
            ('[[resource.config]]\nhosts = "foo"\ncores = "0-1"\n'
             '[[resource.config]]\nhosts = ""\ncores = "0-3"\n',
             "FILE: resource.config[1]: empty hostlist specified"),
            # detects invalid host list
            ('[[resource.config]]\nhosts = "foo[p]"\ncores = "0-1"\n',
             "FILE: resource.config[0]: invalid hostlist 'foo[p]'"),
            # detects invalid idset
            ('[[resource.config]]\nhosts = "foo0"\ncores = "0-"\n',
             "FILE: resource.config[0]: invalid idset cores='0-'"),
            ('[[resource.config]]\nhosts = "foo0"\ngpus = "2,1"\n',
             "FILE: resource.config[0]: invalid idset gpus='2,1'"),
            # detects host with no resources
            ('[[resource.config]]\nhosts = "foo[0-10]"\ncores = "0-1"\n'
             '[[resource.config]]\nhosts = "foo11"\n',
             "FILE: resource.config: foo11 assigned no resources"),
            # detects missing hosts entry
            ('[[resource.config]]\nhosts = "foo[0-10]"\ncores = "0-1"\n'
             '[[resource.config]]\ncores = "0-1"\n',
             "FILE: resource.config[1]: missing required key 'hosts'"),
            # detects invalid entry
            ('[[resource.config]]\nhosts = "foo[0-10]"\ncores = "0-1"\n'
             '[[resource.config]]\nhosts = "foo11"\ncores = "0-3"\n'
             'junk = 5\n',
             "FILE: resource.config[1]: unknown key 'junk'"),
            # detects invalid property
            ('[[resource.config]]\nhosts = "foo[0-10]"\ncores = "0-1"\n'
             '[[resource.config]]\nhosts = "foo1"\nproperties = ["de^bug"]\n',
             "FILE: resource.config[1]: invalid character '^' in property"
             " \"de^bug\""),
            ('[[resource.config]]\nhosts = "foo[0-10]"\ncores = "0-1"\n'
             '[[resource.config]]\nhosts = "foo1"\nproperties = [1]\n',
             "FILE: resource.config[1]: invalid property 1"),
            # detects when properties not an array
            ('[[resource.config]]\nhosts = "foo[0-10]"\ncores = "0-1"\n'
             '[[resource.config]]\nhosts = "foo11"\ncores = "0-3"\n'
             'properties = "foo"\n',
             "FILE: resource.config[1]: properties must be an array"),
            # overlapping entries
            ('[[resource.config]]\nhosts = "foo[0-3]"\ncores = "0-3"\n'
             '[[resource.config]]\nhosts = "foo[2-3]"\ncores = "3"\n',
             "FILE: resource.config[1]: core 3 of host foo2 is already"
             " configured"),
        ]
        for text, message in cases:
            err = self.parse_config_fails(text)
            if message is not None:
                self.assertEqual(err, message, text)
            else:
                self.assertIn("neither resource.config nor resource.path", err)

    def test_parse_config_resource_path(self):
        rfile = os.path.abspath(self.mktemp())
        with open(rfile, "w") as fp:
            fp.write(self.encode("-r", "0-1"))
        conf = self.write_conf(f'resource.path = "{rfile}"\n')
        self.assertEqual(self.line("decode", "-s",
                                   stdin=self.ok("parse-config", conf)),
                         "rank[0-1]/core0")
        with open(rfile, "w") as fp:
            fp.write("bad json\n")
        self.assertIn(f"resource.path: {rfile}: invalid JSON",
                      self.fails("parse-config", conf))
        os.unlink(rfile)
        self.assertIn(f"resource.path: {rfile}: No such file or directory",
                      self.fails("parse-config", conf))


class ChildOrderTests(FluxR, SynchronousTestCase):
    """Children print in flux-core's order: its node table's iteration
    order (fluxd.formats._rorder), gpu before core on a new node, core
    first on a copied one."""

    def children(self, R):
        return [list(entry["children"])
                for entry in json.loads(R)["execution"]["R_lite"]]

    def test_encode_with_gpus(self):
        R = self.encode("-r", "0-1", "-c", "0-3", "-g", "0-1")
        self.assertIn('"children": {"gpu": "0-1", "core": "0-3"}', R)
        self.assertEqual(self.children(self.encode("-g", "0")), [["gpu"]])

    def test_decode_keeps_a_new_node_order(self):
        """One R decoded and printed: no copy, gpu first whatever the
        input order."""
        for text in ('{"core": "0-1", "gpu": "0"}', '{"gpu": "0", "core": "0-1"}'):
            R = ('{"version": 1, "execution": {"R_lite": [{"rank": "0",'
                 f' "children": {text}}}], "starttime": 0, "expiration": 0}}}}')
            self.assertEqual(self.children(self.ok("decode", stdin=R)),
                             [["gpu", "core"]])

    def test_copies_reverse(self):
        """append copies each node (core first); diff copies twice a rank
        both sets hold (gpu first again)."""
        R = self.encode("-r", "0-1", "-c", "0-3", "-g", "0")
        self.assertEqual(self.children(self.ok("append", stdin=R)),
                         [["core", "gpu"]])
        one = self.encode("-r", "0", "-c", "0")
        self.assertEqual(self.children(self.ok("diff", stdin=R + one)),
                         [["gpu", "core"], ["core", "gpu"]])

    def test_in_place_changes_keep_order(self):
        R = self.encode("-r", "3", "-c", "0-3", "-g", "0")
        for argv in (["remap"], ["set-property", "x"], ["decode", "-x", "5"]):
            self.assertEqual(self.children(self.ok(*argv, stdin=R)),
                             [["gpu", "core"]], argv)
        self.assertEqual(self.children(self.ok("decode", "-i", "3", stdin=R)),
                         [["core", "gpu"]])


class AdminGuideTests(FluxR, SynchronousTestCase):
    """``flux R parse-config DIR | flux R decode --short`` on the
    Administrator's Guide example."""

    def test_admin_guide_pipeline(self):
        conf = self.mktemp()
        os.makedirs(conf)
        with open(os.path.join(conf, "resource.toml"), "w") as fp:
            fp.write('[resource]\nexclude = "test[1-2]"\n\n' + RESOURCE_CONFIG)
        R = self.ok("parse-config", conf)
        self.assertEqual(R, (
            '{"version": 1, "execution": {"R_lite": [{"rank": "0-14",'
            ' "children": {"gpu": "0", "core": "0-7"}}, {"rank": "15",'
            ' "children": {"gpu": "0-1", "core": "0-63"}}], "starttime": 0.0,'
            ' "expiration": 0.0, "nodelist": ["test[1-16]"], "properties":'
            ' {"fatnode": "15"}}}\n'))
        self.assertEqual(self.ok("decode", "--short", stdin=R),
                         "rank[0-14]/core[0-7],gpu0 rank15/core[0-63],gpu[0-1]\n")
        self.assertEqual(self.line("decode", "-p", "fatnode", "-n", stdin=R),
                         "test16")
        self.assertEqual(self.line("decode", "-c", "gpu", stdin=R), "17")


class OutputAndErrorTests(FluxR, SynchronousTestCase):

    def test_encode_output_is_flux_format(self):
        self.assertEqual(self.encode("-r", "0-1", "-c", "0-3", "-H", "foo[0-1]",
                                     "-p", "x:1"), (
            '{"version": 1, "execution": {"R_lite": [{"rank": "0-1",'
            ' "children": {"core": "0-3"}}], "starttime": 0.0,'
            ' "expiration": 0.0, "nodelist": ["foo[0-1]"], "properties":'
            ' {"x": "1"}}}\n'))

    def test_json_stream_forms(self):
        one = self.encode("-r", "0", "-H", "a")
        two = self.encode("-r", "1", "-H", "b")
        for stream in (one + two, one.strip() + two.strip(),
                       one.strip() + "\n\n  \t" + two):
            self.assertEqual(self.line("decode", "-s", stdin=stream),
                             "rank[0-1]/core0")

    def test_decode_prints_requested_lines_in_flux_order(self):
        R = self.encode("-r", "0-1", "-H", "foo[0-1]")
        self.assertEqual(self.ok("decode", "-c", "core", "-r", "-n", "-s",
                                 stdin=R),
                         "rank[0-1]/core0\nfoo[0-1]\n0-1\n2\n")

    def test_decode_multiple_sets_is_union(self):
        stdin = (self.encode("-r", "0", "-c", "0-1")
                 + self.encode("-r", "0", "-c", "1-2"))
        self.assertEqual(self.line("decode", "-s", stdin=stdin),
                         "rank0/core[0-2]")

    def test_single_decode_keeps_nslots_and_times(self):
        R = json.loads(self.encode("-r", "0"))
        R["execution"].update(nslots=4, starttime=10.5, expiration=20)
        out = json.loads(self.ok("decode", stdin=json.dumps(R)))
        self.assertEqual(out["execution"]["nslots"], 4)
        self.assertEqual(out["execution"]["starttime"], 10.5)
        self.assertEqual(out["execution"]["expiration"], 20.0)

    def test_errors(self):
        R = self.encode("-r", "0-1")
        nohost = json.dumps({"version": 1, "execution": {"R_lite": [
            {"rank": "0", "children": {"core": "0"}}]}})
        cases = [
            (("decode",), "bad json",
             "Failed to read an R object: Expecting value: line 1 column 1"
             " (char 0)"),
            (("decode",), R + "garbage",
             "Failed to read an R object: Expecting value: line 2 column 1"
             f" (char {len(R)})"),
            (("decode",), "[1, 2]",
             "Failed to decode R on stdin: R must be a JSON object, not an"
             " array"),
            (("decode", "--include", "x"), R, "Invalid ranks option: 'x'"),
            (("decode", "--exclude", "1-"), R,
             "Invalid idset in --exclude option: 1-"),
            (("decode", "-p", "a|b"), R, "Invalid property constraint:"
             " invalid character '|' in property \"a|b\""),
            (("decode", "--nodelist"), nohost,
             "no nodelist: rank 0 has no hostname"),
            (("diff",), R, "diff requires at least 2 resource sets"),
            (("intersect",), R, "intersect requires at least 2 resource sets"),
            (("verify",), R, "verify requires exactly 2 R objects on stdin"),
            (("rerank",), R, "Must provide a hostlist for re-ranking"),
            (("rerank", "foo[0-2]"), self.encode("-r", "0-1", "-H", "foo[0-1]"),
             "Number of hosts (3) is greater than node count (2)"),
            (("rerank", "foo1,bar"), self.encode("-r", "0-1", "-H", "foo[0-1]"),
             "Host bar not found in resources"),
            (("set-property", "x^y"), R,
             "failed to assign properties: invalid character '^' in property"
             " \"x^y\""),
            (("set-property", "x:a"), R,
             "failed to assign properties: Invalid idset string 'a'"),
            (("encode", "-r", "0-"), "", "Failed to decode ranks='0-' as idset"),
            (("encode", "-c", "3,1"), "", "Failed to decode cores='3,1' as"
             " idset"),
            (("encode", "-g", "x"), "", "Failed to decode gpus='x' as idset"),
            (("encode", "-H", "foo["), "", "invalid hostlist 'foo['"),
            (("encode", "-r", "0-2", "-H", "foo[0-1]"), "",
             "hostname count in 'foo[0-1]' does not match nranks (3)"),
            (("encode", "--local", "-c", "0-1"), "",
             "do not specify --cores or --gpus with --local or --xml"),
            (("encode", "--xml", "/nonexistent.xml"), "",
             "/nonexistent.xml: No such file or directory"),
            (("parse-config", "/nonexistent/conf"), "",
             "stat: /nonexistent/conf: No such file or directory"),
            (("bogus",), "", None),
            (("decode", "--frobnicate"), R, None),
        ]
        for argv, stdin, message in cases:
            err = self.fails(*argv, stdin=stdin)
            if message is not None:
                self.assertEqual(err, message, argv)

    def test_usage(self):
        result = self.R()
        self.assertEqual((result.rc, result.out), (1, ""))
        self.assertIn("usage: flux-R", result.err)
        result = self.R("--help")
        self.assertEqual(result.rc, 0)
        self.assertIn("parse-config", result.out)
        result = self.R("encode", "--help")
        self.assertEqual(result.rc, 0)
        self.assertIn("--hosts", result.out)

    def test_duplicate_property_last_wins(self):
        R = self.encode("-r", "0-1", "-p", "x:0", "-p", "x:1")
        self.assertEqual(json.loads(R)["execution"]["properties"], {"x": "1"})

    def test_encode_empty_hostlist(self):
        R = self.encode("-H", "")
        self.assertEqual(self.line("decode", "-s", stdin=R), "")
        self.assertEqual(self.line("decode", "-c", "node", stdin=R), "0")


class HwlocTests(FluxR, SynchronousTestCase):
    """The hwloc XML reader behind ``--xml`` and ``--local``."""

    def test_xml_counts(self):
        self.assertEqual(topology_from_xml(hwloc_xml(4)), ("0-3", ""))
        self.assertEqual(topology_from_xml(hwloc_xml(1, ["RSMI"])), ("0", "0"))
        self.assertEqual(topology_from_xml(hwloc_xml(2, v1=True)), ("0-1", ""))
        # NVML devices count only when no CUDA device is listed
        self.assertEqual(topology_from_xml(hwloc_xml(2, ["NVML"] * 2)),
                         ("0-1", "0-1"))
        self.assertEqual(
            topology_from_xml(hwloc_xml(2, ["CUDA", "NVML", "OpenCL"])),
            ("0-1", "0-1"))
        # other OS devices (disks, NICs) are not GPUs
        self.assertEqual(topology_from_xml(hwloc_xml(2, ["Linux", "GPU"])),
                         ("0-1", ""))

    def test_xml_errors(self):
        with self.assertRaises(RError) as ctx:
            topology_from_xml("<topology", "f.xml")
        self.assertTrue(str(ctx.exception).startswith(
            "f.xml: invalid hwloc XML:"))
        with self.assertRaises(RError) as ctx:
            topology_from_xml("<html/>", "f.xml")
        self.assertEqual(str(ctx.exception),
                         "f.xml: not an hwloc topology (root element <html>)")

    def set_env(self, name, value):
        old = os.environ.get(name)
        os.environ[name] = value

        def restore():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        self.addCleanup(restore)

    def test_local_uses_flux_hwloc_xmlfile(self):
        path = self.mktemp()
        with open(path, "w") as fp:
            fp.write(hwloc_xml(6, ["CUDA"] * 2))
        self.set_env("FLUX_HWLOC_XMLFILE", path)
        R = self.encode("--local", "-H", "n[0-1]")
        self.assertEqual(self.line("decode", "-s", stdin=R),
                         "rank[0-1]/core[0-5],gpu[0-1]")
        self.set_env("FLUX_HWLOC_XMLFILE", path + ".missing")
        self.assertEqual(self.fails("encode", "--local"),
                         f"{path}.missing: No such file or directory")

    def test_local_sysfs(self):
        sysfs = self.mktemp()
        cpus = sorted(os.sched_getaffinity(0))
        for cpu in cpus:
            topo = os.path.join(sysfs, f"cpu{cpu}", "topology")
            os.makedirs(topo)
            with open(os.path.join(topo, "physical_package_id"), "w") as fp:
                fp.write("0\n")
            with open(os.path.join(topo, "core_id"), "w") as fp:
                fp.write(f"{cpu // 2}\n")  # two hyperthreads per core
        gpus = self.mktemp()
        os.makedirs(os.path.join(gpus, "0000:01:00.0"))
        ncores = len({cpu // 2 for cpu in cpus})
        expected = "0" if ncores == 1 else f"0-{ncores - 1}"
        self.set_env("FLUX_HWLOC_XMLFILE", "")
        self.assertEqual(local_topology(sysfs, gpus), (expected, "0"))
        # without topology files every usable CPU is a core
        empty = self.mktemp()
        os.makedirs(empty)
        count = len(cpus)
        self.assertEqual(local_topology(empty, empty),
                         ("0" if count == 1 else f"0-{count - 1}", ""))
