"""flux config get/builtin without a broker (--config-path)."""

import os

from fluxd.cli import cmd_config
from fluxd.cli.cmd_config import format_value, get_value
from fluxd.config import config_from_object
from fluxd.errors import InvalidArgument, NotFound
from fluxd.testing.cli import run_flux
from tests.unit.admin.helpers import TestCase

TOML = """\
[tbon]
tcp_user_timeout = "2m"

[access]
allow-guest-user = true

[[resource.config]]
hosts = "test[1-2]"
cores = "0-3"
"""


class GetValueTests(TestCase):
    def setUp(self):
        self.config = config_from_object({
            "tbon": {"tcp_user_timeout": "2m"}, "access": {"allow-guest-user": True},
            "sched": {"x": 1.5}})

    def test_types(self):
        self.assertEqual(get_value(self.config, "tbon.tcp_user_timeout"), "2m")
        self.assertEqual(get_value(self.config, "tbon.tcp_user_timeout", "fsd-integer"),
                         "120")
        self.assertEqual(get_value(self.config, "tbon.tcp_user_timeout", "fsd-real"),
                         "120.000000")
        self.assertEqual(get_value(self.config, "tbon.tcp_user_timeout", "FSD"), "2m")
        self.assertEqual(get_value(self.config, "access", "object"),
                         '{"allow-guest-user":true}')
        self.assertEqual(get_value(self.config, "access.allow-guest-user", "boolean"),
                         "true")

    def test_errors(self):
        with self.assertRaises(NotFound) as caught:
            get_value(self.config, "access.nope")
        self.assertEqual(str(caught.exception), "access.nope is not set")
        with self.assertRaises(InvalidArgument) as caught:
            get_value(self.config, "access", "string")
        self.assertEqual(str(caught.exception), "access does not have the requested type")
        with self.assertRaises(InvalidArgument) as caught:
            get_value(self.config, "access", "blob")
        self.assertEqual(str(caught.exception), "Unknown type: blob")

    def test_default(self):
        self.assertEqual(get_value(self.config, "no.such", default="dflt"), "dflt")

    def test_format(self):
        self.assertEqual(format_value("ƒ"), "ƒ")
        self.assertEqual(format_value([1, "a"]), '[1,"a"]')


class CommandTests(TestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.mkdir(self.dir)
        with open(os.path.join(self.dir, "a.toml"), "w") as f:
            f.write(TOML)

    def run_get(self, *argv):
        return run_flux(["config", "get", "-c", self.dir, *argv])

    def test_get_from_path(self):
        r = self.run_get("--type=fsd-integer", "tbon.tcp_user_timeout")
        self.assertEqual((r.rc, r.out, r.err), (0, "120\n", ""))
        r = self.run_get("resource.config")
        self.assertEqual(r.out, '[{"hosts":"test[1-2]","cores":"0-3"}]\n')
        r = self.run_get()
        self.assertTrue(r.out.startswith('{"tbon":{"tcp_user_timeout":"2m"}'))

    def test_unset(self):
        r = self.run_get("kvs.gc-threshold")
        self.assertEqual((r.rc, r.err),
                         (1, "flux-config: kvs.gc-threshold is not set\n"))
        r = self.run_get("-q", "kvs.gc-threshold")
        self.assertEqual((r.rc, r.out, r.err), (1, "", ""))
        r = self.run_get("-d", "100", "kvs.gc-threshold")
        self.assertEqual((r.rc, r.out), (0, "100\n"))

    def test_wrong_type(self):
        r = self.run_get("-t", "integer", "access.allow-guest-user")
        self.assertEqual(r.err, "flux-config: access.allow-guest-user does not have"
                                " the requested type\n")

    def test_keyword_paths(self):
        self.patch(cmd_config, "CONFDIR", self.dir)
        os.makedirs(os.path.join(self.dir, "imp", "conf.d"))
        with open(os.path.join(self.dir, "imp", "conf.d", "imp.toml"), "w") as f:
            f.write('[exec]\nallowed-users = ["flux"]\n')
        r = run_flux(["config", "get", "--config-path=imp", "exec.allowed-users"])
        self.assertEqual((r.rc, r.out, r.err), (0, '["flux"]\n', ""))

    def test_bad_config_path(self):
        with open(os.path.join(self.dir, "b.toml"), "w") as f:
            f.write("[tbon\n")
        r = self.run_get("tbon")
        self.assertEqual(r.rc, 1)
        self.assertIn("b.toml:1:", r.err)
        self.assertEqual(r.err.count("\n"), 1)

    def test_builtin(self):
        r = run_flux(["config", "builtin", "confdir"])
        self.assertEqual((r.rc, r.out), (0, "/etc/flux\n"))
        r = run_flux(["config", "builtin", "nope"])
        self.assertEqual((r.rc, r.err), (1, "flux-config: nope is invalid\n"))

    def test_usage_errors_are_one_line(self):
        r = run_flux(["config"])
        self.assertEqual(r.rc, 1)
        self.assertEqual(r.err.count("\n"), 1)
        r = run_flux(["config", "get", "--nope"])
        self.assertEqual((r.rc, r.err.count("\n")), (1, 1))


class SetValueTests(TestCase):
    """``flux config set`` builds values as flux-core's create_json()."""

    def test_types(self):
        from fluxd.cli.cmd_config import parse_set_value
        self.assertIs(parse_set_value("false", "boolean"), False)
        self.assertIs(parse_set_value("0", "boolean"), False)
        self.assertIs(parse_set_value("", "boolean"), False)
        self.assertIs(parse_set_value("yes", "boolean"), True)
        self.assertEqual(parse_set_value("0x10", "integer"), 16)
        self.assertEqual(parse_set_value("2.5", "real"), 2.5)
        self.assertEqual(parse_set_value('{"a": 1}', "object"), {"a": 1})
        self.assertEqual(parse_set_value("[1]", "array"), [1])
        self.assertEqual(parse_set_value("2m", "fsd"), "2m")
        self.assertEqual(parse_set_value('"quoted"', "string"), "quoted")
        self.assertEqual(parse_set_value("plain", "string"), "plain")

    def test_errors(self):
        from fluxd.cli.cmd_config import parse_set_value
        for text, kind, message in (
                ("x", "integer", "Error parsing integer value"),
                ("x", "real", "Error parsing real value"),
                ("[1]", "object", "Error parsing json object"),
                ("soon", "fsd", "Error parsing Flux Standard Duration"),
                ('"open', "string", "Error parsing string")):
            with self.assertRaises(InvalidArgument) as caught:
                parse_set_value(text, kind)
            self.assertEqual(str(caught.exception), message)

    def test_set_type_checks_before_contacting_a_broker(self):
        r = run_flux(["config", "set", "-t", "fsd-integer", "a.b", "1"])
        self.assertEqual((r.rc, r.err), (1, "flux-config: Invalid type for"
                                            " the set subcommand: fsd-integer\n"))
        r = run_flux(["config", "set", "-t", "blob", "a.b", "1"])
        self.assertEqual((r.rc, r.err), (1, "flux-config: Unknown type: blob\n"))

    def test_load_bad_toml_from_stdin(self):
        r = run_flux(["config", "load"], stdin="[access\n")
        self.assertEqual(r.rc, 1)
        self.assertTrue(r.err.startswith("flux-config: TOML parse error: "))
        self.assertEqual(r.err.count("\n"), 1)


class PingOptionTests(TestCase):
    def test_refused_before_contacting_a_broker(self):
        for argv, message in (
                (["-i", "-1", "0"], "interval must be >= 0"),
                (["-c", "-1", "0"], "count must be >= 0"),
                (["-p", "-5", "0"], "pad must be >= 0"),
                (["-b", "0"], "--batch should only be used with --count")):
            r = run_flux(["ping", *argv])
            self.assertEqual((r.rc, r.err), (1, f"flux-ping: {message}\n"))
