"""Tests for ``flux R parse-config``'s reading of a configuration
(:func:`fluxd.cli.cmd_R.parse_config`): files and directories as the
broker reads them, ``resource.config`` and ``resource.path``, and errors
naming file and key.  Cases from flux-core's ``t/t0026-flux-R.t``."""

import json
import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.cmd_R import parse_config as parse_config_dir
from fluxd.errors import NotFound
from fluxd.formats.rv1 import RError, from_config
from fluxd.testing.guide import RESOURCE_CONFIG

ADMIN_GUIDE = [
    {"hosts": "test[1-15]", "cores": "0-7", "gpus": "0"},
    {"hosts": "test16", "cores": "0-63", "gpus": "0-1",
     "properties": ["fatnode"]},
]


class ParseConfigDirTests(SynchronousTestCase):

    def write(self, name, text, directory=None):
        directory = directory or self.dir
        path = os.path.join(directory, name)
        with open(path, "w") as fp:
            fp.write(text)
        return path

    def setUp(self):
        # A private temporary directory (trial's mktemp() would write below
        # the current directory).
        self.dir = tempfile.mkdtemp(prefix="fluxd-test-rconfig-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def test_admin_guide_dir(self):
        self.write("resource.toml",
                   "[resource]\nnoverify = true\n\n" + RESOURCE_CONFIG)
        self.write("other.toml", "[kvs]\ncheckpoint-period = \"30m\"\n")
        self.write("ignored.conf", "this is not toml [")
        self.assertEqual(parse_config_dir(self.dir), from_config(ADMIN_GUIDE))

    def test_tables_merge_across_files(self):
        self.write("a.toml", "[resource]\nnoverify = true\n")
        self.write("b.toml", '[[resource.config]]\nhosts = "foo"\n'
                             'cores = "0"\n')
        self.assertEqual(parse_config_dir(self.dir).dumps_short(),
                         "rank0/core0")

    def test_single_file_and_json(self):
        path = self.write("r.toml", '[[resource.config]]\nhosts = "a,b"\n'
                                    'cores = "0-1"\n')
        self.assertEqual(str(parse_config_dir(path).nodelist()), "a,b")
        path = self.write("r.json", json.dumps(
            {"resource": {"config": [{"hosts": "c", "gpus": "0"}]}}))
        self.assertEqual(parse_config_dir(path).dumps_short(), "rank0/gpu0")

    def check_error(self, message, path=None):
        with self.assertRaises(RError) as ctx:
            parse_config_dir(path or self.dir)
        self.assertEqual(str(ctx.exception), message)

    def test_config_error_names_file_and_key(self):
        path = self.write("resource.toml", """
[[resource.config]]
hosts = "foo[0-3]"
cores = "0-3"
[[resource.config]]
hosts = "foo2"
cores = "2"
""")
        self.check_error(f"{path}: resource.config[1]: core 2 of host foo2 is"
                         " already configured")

    def test_toml_syntax_error_names_file(self):
        path = self.write("bad.toml", "[resource\n")
        with self.assertRaises(RError) as ctx:
            parse_config_dir(self.dir)
        # the broker's own loader: FILE:LINE: message
        self.assertTrue(str(ctx.exception).startswith(f"{path}:1: "),
                        str(ctx.exception))
        self.assertNotIn("\n", str(ctx.exception))

    def test_empty_config_entry(self):
        # t0026 "fails on invalid TOML": one empty table, no hosts.
        path = self.write("resource.toml", "[[resource.config]]\n")
        self.check_error(f"{path}: resource.config[0]: missing required key"
                         " 'hosts'")

    def test_missing_resource_config(self):
        self.write("resource.toml", "[resource]\nnoverify = true\n")
        self.check_error(f"{self.dir}: neither resource.config nor"
                         " resource.path is configured")

    def test_key_defined_twice(self):
        a = self.write("a.toml", '[[resource.config]]\nhosts = "x"\n'
                                 'cores = "0"\n')
        b = self.write("b.toml", '[[resource.config]]\nhosts = "y"\n'
                                 'cores = "0"\n')
        self.check_error(f"{b}: resource.config: already defined in {a}")

    def test_missing_path(self):
        with self.assertRaises(NotFound) as ctx:
            parse_config_dir(os.path.join(self.dir, "nope"))
        self.assertEqual(str(ctx.exception),
                         f"stat: {self.dir}/nope: No such file or directory")

    def test_resource_path(self):
        rfile = self.write("R.json", make_r_text())
        conf = os.path.join(self.dir, "conf")
        os.makedirs(conf)
        toml = self.write("resource.toml", f'resource.path = "{rfile}"\n',
                          conf)
        self.assertEqual(parse_config_dir(conf).dumps_short(),
                         "rank[0-1]/core0")
        with open(rfile, "w") as fp:
            fp.write("bad json")
        self.check_error(f"{toml}: resource.path: {rfile}: invalid JSON:"
                         " Expecting value: line 1 column 1 (char 0)", conf)
        os.unlink(rfile)
        self.check_error(f"{toml}: resource.path: {rfile}: No such file or"
                         " directory", conf)

    def test_config_wins_over_path(self):
        self.write("resource.toml", 'resource.path = "/nonexistent"\n'
                   '[[resource.config]]\nhosts = "foo"\ncores = "0-3"\n')
        self.assertEqual(parse_config_dir(self.dir).dumps_short(),
                         "rank0/core[0-3]")


def make_r_text():
    return json.dumps({"version": 1, "execution": {
        "R_lite": [{"rank": "0-1", "children": {"core": "0"}}]}})
