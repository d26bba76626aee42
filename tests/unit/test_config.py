"""Tests for :mod:`fluxd.config` (the TOML configuration loader/schema).

The admin-guide examples are read from ``tests/vectors/admin-guide``
(copied as written from the Flux Administrator's Guide and from the
spec's section 15 system example), so the tests prove that the text the
guide gives loads as written.
"""

import json
import math
import os
import shutil
import tempfile

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import (
    TYPES, Config, ConfigError, config_from_object, default_config,
    known_keys, load_config, load_config_text, parse_duration_key)
from fluxd.errors import InvalidArgument, NotFound
from tests import VECTORS

GUIDE = os.path.join(VECTORS, "admin-guide")


def guide_example(name):
    """One TOML example of the admin guide, as tests/vectors/admin-guide
    keeps it (its README names the section each file comes from)."""
    with open(os.path.join(GUIDE, name)) as f:
        return f.read()


class TempDirMixin:
    """Write config files into a private temporary directory."""

    def tempdir(self):
        path = tempfile.mkdtemp(prefix="fluxd-config-")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def write(self, files):
        """Write ``{name: text}`` and return the directory."""
        path = self.tempdir()
        for name, text in files.items():
            with open(os.path.join(path, name), "w") as f:
                f.write(text)
        return path

    def load(self, text, name="system.toml", **kw):
        """Load one TOML file through a conf.d directory."""
        return load_config(self.write({name: text}), **kw)

    def assertRejected(self, text, message, name="system.toml", **kw):
        """Loading ``text`` fails with exactly ``file: message``."""
        path = self.write({name: text})
        exc = self.assertRaises(ConfigError, load_config, path, **kw)
        self.assertEqual(str(exc), f"{os.path.join(path, name)}: {message}")
        return exc


class AdminGuideTests(TempDirMixin, SynchronousTestCase):
    """The admin guide's examples load cleanly."""

    def test_spec_system_example(self):
        """The system example (all tables together) loads; values come
        back as written."""
        config = self.load(guide_example("system-example.toml"))
        self.assertEqual(config.get("tbon.tcp_user_timeout"), "2m")
        self.assertEqual(
            config.get_typed("tbon.tcp_user_timeout", "fsd-integer"), 120)
        self.assertEqual(config.get("exec.sdexec-properties"),
                         {"MemoryMax": "95%"})
        self.assertEqual(config.get("bootstrap.hosts"),
                         [{"host": "test[1-16]"}])
        self.assertEqual(config.get("policy.limits.job-size.max.ncores"), 32)
        self.assertEqual(config.get("sched-fluxion-resource.match-policy"),
                         "lonodex")
        # [bootstrap] present: the default topology is custom
        self.assertEqual(config.get("tbon.topo"), "custom")

    def test_guide_system_toml(self):
        """The guide's /etc/flux/system/conf.d/system.toml loads."""
        text = guide_example("system.toml")
        config = self.load(text)
        self.assertEqual(len(config.get("resource.config")), 2)
        self.assertEqual(config.get("resource.config")[1]["properties"],
                         ["fatnode"])
        self.assertEqual(config.get("ingest.validator.plugins"),
                         ["jobspec", "feasibility"])

    def test_guide_split_per_table(self):
        """The system example split one file per table merges to the same
        config, with each key attributed to its own file."""
        import tomli_w
        whole = self.load(guide_example("system-example.toml"))
        path = self.write({f"{table}.toml": tomli_w.dumps({table: value})
                           for table, value in whole.as_dict().items()})
        split = load_config(path)
        self.assertEqual(split, whole)
        self.assertEqual(split.sources()["access.allow-guest-user"],
                         os.path.join(path, "access.toml"))

    def test_guide_queues_and_limits(self):
        """The "Adding Queues" and "Policy Limits" examples load."""
        self.load(guide_example("queues.toml"))
        config = self.load(guide_example("limits.toml"))
        self.assertEqual(
            config.get("queues.batch.policy.limits.job-size.max.ncores"),
            128)

    def test_guide_perilog(self):
        """The prolog/epilog steps 2-4 of the guide, one file each."""
        path = self.write({
            "2.toml": guide_example("perilog-2.toml"),
            "3.toml": guide_example("perilog-3.toml"),
            "4.toml": guide_example("perilog-4.toml"),
        })
        config = load_config(path)
        self.assertEqual(config.get("job-manager.plugins"),
                         [{"load": "perilog.so"}])
        self.assertEqual(config.get("job-manager.epilog.command")[:3],
                         ["flux", "perilog-run", "epilog"])
        self.assertEqual(config.get("job-manager.perilog.log-ignore"),
                         [".*Xauth.*", "^foo:.*debug"])

    def test_guide_security_and_imp(self):
        """The flux-security and IMP examples load with their schemas."""
        sign = self.load(guide_example("security.toml"),
                         schema="security")
        self.assertEqual(sign.get("sign.max-ttl"), 1209600)
        imp = self.load(guide_example("imp.toml"),
                        schema="imp")
        self.assertEqual(imp.get("exec.allowed-users"), ["flux"])
        run = self.load(guide_example("imp-run.toml"),
                        schema="imp")
        self.assertEqual(run.get("run.epilog.path"), "/etc/flux/system/epilog")


class LoadTests(TempDirMixin, SynchronousTestCase):
    """Directories, files, JSON, errors of the loader itself."""

    def test_none_and_empty_give_defaults(self):
        for path in (None, ""):
            config = load_config(path)
            self.assertEqual(config.as_dict(), {})
            self.assertEqual(config, default_config())
            self.assertEqual(config.get("tbon.torpid_max"), "30s")

    def test_missing_path(self):
        exc = self.assertRaises(NotFound, load_config, "/nonexistent/conf.d")
        self.assertEqual(str(exc),
                         "stat: /nonexistent/conf.d: No such file or "
                         "directory")

    def test_directory_reads_only_toml(self):
        path = self.write({"a.toml": "[tbon]\nzmqdebug = 1\n",
                           "b.json": '{"tbon": {"zmqdebug": "bad"}}',
                           "README": "not toml at all ["})
        config = load_config(path)
        self.assertEqual(config.as_dict(), {"tbon": {"zmqdebug": 1}})

    def test_empty_directory(self):
        self.assertEqual(load_config(self.tempdir()).as_dict(), {})

    def test_files_merge_in_name_order(self):
        path = self.write({
            "20-b.toml": "[policy.limits]\nduration = \"2h\"\n",
            "10-a.toml": "[policy.jobspec.defaults.system]\n"
                         "duration = \"1m\"\n",
        })
        config = load_config(path)
        self.assertEqual(list(config.get("policy")), ["jobspec", "limits"])
        self.assertEqual(config.sources(), {
            "policy.jobspec.defaults.system.duration":
                os.path.join(path, "10-a.toml"),
            "policy.limits.duration": os.path.join(path, "20-b.toml"),
        })

    def test_key_in_two_files(self):
        path = self.write({"a.toml": "[tbon]\ntorpid_max = \"1m\"\n",
                           "b.toml": "[tbon]\ntorpid_max = \"2m\"\n"})
        exc = self.assertRaises(ConfigError, load_config, path)
        a, b = (os.path.join(path, n) for n in ("a.toml", "b.toml"))
        self.assertEqual(str(exc),
                         f"{b}: tbon.torpid_max: already defined in {a}")

    def test_table_in_one_file_value_in_other(self):
        path = self.write({"a.toml": "[site]\nx = 1\n",
                           "b.toml": "site = 5\n"})
        exc = self.assertRaises(ConfigError, load_config, path)
        self.assertIn("b.toml: site: already defined in ", str(exc))
        self.assertIn("a.toml", str(exc))

    def test_toml_syntax_error_names_file_and_line(self):
        path = self.write({"bad.toml": "[tbon]\ntorpid_max = \"1m\"\n"
                                       "zmqdebug = \n"})
        exc = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(str(exc),
                         f"{os.path.join(path, 'bad.toml')}:3: Invalid value")

    def test_toml_error_at_end_of_document(self):
        path = self.write({"bad.toml": "[tbon]\nx = \"unterminated"})
        exc = self.assertRaises(ConfigError, load_config, path)
        self.assertTrue(str(exc).startswith(
            os.path.join(path, "bad.toml") + ":2: "), str(exc))

    def test_single_toml_file(self):
        text = "[kvs]\ngc-threshold = 5\n"
        path = os.path.join(self.write({"x.conf": text}), "x.conf")
        config = load_config(path)
        self.assertEqual(config.get("kvs.gc-threshold"), 5)
        self.assertEqual(config.sources(), {"kvs.gc-threshold": path})
        self.assertEqual(config.path, path)

    def test_json_file(self):
        path = os.path.join(self.write({
            "c.json": '{"access": {"allow-guest-user": true},'
                      ' "site": {"n": null}}'}), "c.json")
        config = load_config(path)
        self.assertIs(config.get("access.allow-guest-user"), True)
        self.assertEqual(config.get("site"), {"n": None})

    def test_json_syntax_error(self):
        path = os.path.join(self.write({"c.json": '{\n"a": 1,\n}'}),
                            "c.json")
        exc = self.assertRaises(ConfigError, load_config, path)
        self.assertTrue(str(exc).startswith(f"{path}:3: "), str(exc))

    def test_json_not_object(self):
        path = os.path.join(self.write({"c.json": "[1, 2]"}), "c.json")
        exc = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(str(exc),
                         f"{path}: expected a JSON object, got array")

    def test_json_validated(self):
        path = os.path.join(self.write({
            "c.json": '{"tbon": {"zmqdebug": "x"}}'}), "c.json")
        exc = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(str(exc),
                         f"{path}: tbon.zmqdebug: expected integer, got "
                         "string")

    def test_site_tables_pass_through(self):
        config = self.load(
            "top = 3\n"
            "[accounting]\nfactor-weights = { fairshare = 100000 }\n"
            "[archive]\ndbpath = \"/var/lib/flux/job-archive.sqlite\"\n")
        self.assertEqual(config.get("accounting.factor-weights.fairshare"),
                         100000)
        self.assertEqual(config.get("top"), 3)
        self.assertEqual(config.get("archive.dbpath"),
                         "/var/lib/flux/job-archive.sqlite")

    def test_toml_datetime_becomes_iso_object(self):
        config = self.load("[site]\nwhen = 1979-05-27T07:32:00Z\n"
                           "day = 1979-05-27\n")
        self.assertEqual(config.get("site.when"),
                         {"iso-8601-ts": "1979-05-27T07:32:00Z"})
        self.assertEqual(config.get("site.day"),
                         {"iso-8601-ts": "1979-05-27"})
        json.loads(config.to_json())

    def test_load_config_text(self):
        toml = load_config_text("[tbon]\ntorpid_min = \"1s\"\n")
        as_json = load_config_text('{"tbon": {"torpid_min": "1s"}}')
        self.assertEqual(toml, as_json)
        exc = self.assertRaises(ConfigError, load_config_text,
                                "[tbon]\nbogus = 1\n")
        self.assertEqual(str(exc), "<stdin>: tbon.bogus: unknown key")
        exc = self.assertRaises(ConfigError, load_config_text, "x = ")
        self.assertEqual(str(exc), "<stdin>:1: Invalid value")

    def test_config_from_object(self):
        config = config_from_object({"heartbeat": {"period": "5s"}})
        self.assertEqual(config.sources(), {})
        exc = self.assertRaises(ConfigError, config_from_object,
                                {"heartbeat": {"period": 5}})
        self.assertEqual(str(exc),
                         "heartbeat.period: expected FSD string, got integer")
        self.assertRaises(ConfigError, config_from_object, [1])
        self.assertEqual(Config({"heartbeat": {"period": "5s"}}), config)

    def test_unknown_schema(self):
        self.assertRaises(InvalidArgument, load_config, None, schema="nope")


# (table, good TOML, bad TOML, expected "key: message") for every table of
# spec/config.md.  The good case must load; the bad case must fail with
# exactly that message after the file name.
TABLE_CASES = [
    ("access",
     "[access]\nallow-guest-user = true\nprivate-mode = false\n"
     "roles.admin.users = [\"alice\"]\nroles.admin.groups = [\"wheel\"]\n",
     "[access]\nallow-guest-user = \"yes\"\n",
     "access.allow-guest-user: expected boolean, got string"),
    ("bootstrap",
     "[bootstrap]\ncurve_cert = \"/c\"\ndefault_port = 8050\n"
     "default_bind = \"tcp://en0:%p\"\ndefault_connect = \"tcp://e%h:%p\"\n"
     "[[bootstrap.hosts]]\nhost = \"test[0-255]\"\n"
     "[[bootstrap.hosts]]\nhost = \"test[1,128]\"\nparent = \"test0\"\n"
     "[[bootstrap.hosts]]\nhost = \"foo\"\nbind = \"ipc:///tmp/s\"\n"
     "connect = \"tcp://10.0.1.1:9001\"\n",
     "[bootstrap]\nhosts = [ { host = \"a\", bind = \"tcp://eth0:*\" } ]\n",
     "bootstrap.hosts[0].bind: 'tcp://eth0:*': port wildcard is not "
     "allowed"),
    ("tbon",
     "[tbon]\ntopo = \"kary:2\"\ntorpid_min = \"10s\"\ntorpid_max = \"1m\"\n"
     "tcp_user_timeout = \"2m\"\nconnect_timeout = \"0\"\nzmqdebug = 1\n"
     "zmq_io_threads = 2\nchild_rcvhwm = 2\n"
     "interface-hint = \"10.0.2.0/24\"\n",
     "[tbon]\nchild_rcvhwm = 1\n",
     "tbon.child_rcvhwm: must be 0 (unlimited) or >= 2"),
    ("exec",
     "[systemd]\nenable = true\n[exec]\nimp = \"/usr/libexec/flux/flux-imp\"\n"
     "service = \"sdexec\"\nservice-override = true\nmethod = \"bulk-exec\"\n"
     "job-shell = \"/bin/shell\"\nkill-timeout = \"10s\"\n"
     "max-kill-count = 4\nmax-kill-timeout = \"30m\"\n"
     "term-signal = \"SIGUSR1\"\nkill-signal = \"9\"\n"
     "barrier-timeout = \"0\"\nshell-exit-timeout = \"none\"\n"
     "max-start-delay-percent = 12.5\nsdexec-constrain-resources = true\n"
     "sdexec-stop-timer-sec = 30\nsdexec-stop-timer-signal = 10\n"
     "[exec.sdexec-properties]\nMemoryHigh = \"4G\"\nOOMScoreAdjust = \"-5\"\n"
     "[exec.testexec]\nallow-guests = true\n",
     "[exec]\nkill-timeout = \"5 s\"\n",
     "exec.kill-timeout: invalid Flux standard duration '5 s': bad unit ' s'"),
    ("systemd",
     "[systemd]\nenable = true\nsdbus-debug = true\nsdexec-debug = false\n",
     "[systemd]\nenable = 1\n",
     "systemd.enable: expected boolean, got integer"),
    ("resource",
     "[resource]\nexclude = \"test[1-2]\"\nnorestrict = true\n"
     "noverify = false\nrediscover = false\njournal-max = 10\n"
     "history = \"inf\"\npath = \"/etc/flux/system/R\"\n"
     "scheduling = \"/etc/flux/system/sched.json\"\nreserve = \"0-3@0 0\"\n"
     "verify = { default = \"strict\", gpu = \"ignore\" }\n"
     "[[resource.config]]\nhosts = \"test[1-15]\"\ncores = \"0-7\"\n"
     "gpus = \"0\"\n[[resource.config]]\nhosts = \"test16\"\n"
     "cores = \"0-63\"\ngpus = \"0-1\"\nproperties = [\"fatnode\"]\n",
     "[resource]\njournal-max = \"100\"\n",
     "resource.journal-max: expected integer, got string"),
    ("kvs",
     "[kvs]\ncheckpoint-period = \"30m\"\ngc-threshold = 100000\n",
     "[kvs]\ncheckpoint-period = 1800\n",
     "kvs.checkpoint-period: expected FSD string, got integer"),
    ("ingest",
     "[ingest]\nbatch-count = 4\nbuffer-size = \"4.5M\"\n"
     "[ingest.frobnicator]\nplugins = [\"defaults\"]\ndisable = false\n"
     "[ingest.validator]\nplugins = [\"jobspec\", \"feasibility\", "
     "\"require-instance\"]\nargs = [\"--require-version=1\"]\n"
     "[ingest.validator.require-instance]\nminnodes = 2\nmincores = 0\n"
     "[ingest.validator.site-plugin]\nanything = \"goes\"\n",
     "[ingest.validator]\nplugins = \"jobspec\"\n",
     "ingest.validator.plugins: expected array, got string"),
    ("job-manager",
     "[job-manager]\ninactive-age-limit = \"7d\"\ninactive-num-limit = 10\n"
     "stop-queues-on-restart = true\njournal-size-limit = 10000\n"
     "plugins = [ { load = \"priority-custom.so\", conf = { job-limit = 100 }"
     " }, { remove = \"all\" } ]\n"
     "[job-manager.housekeeping]\nrelease-after = \"30s\"\n"
     "command = [\"hk\"]\nexit-on-first-error = true\n"
     "[job-manager.prolog]\nper-rank = true\ntimeout = \"1h\"\n"
     "kill-timeout = 30\ncancel-on-exception = false\n"
     "[job-manager.epilog]\nper-rank = true\ncommand = [\"e\"]\n"
     "[job-manager.perilog]\nlog-ignore = [\".*Xauth.*\"]\n",
     "[job-manager]\nplugins = [ { conf = { a = 1 } } ]\n",
     "job-manager.plugins[0]: plugin directive needs 'load' or 'remove'"),
    ("policy",
     "[policy]\njobspec.defaults.system.duration = \"1m\"\n"
     "limits.duration = \"0\"\nlimits.job-size.max.nnodes = -1\n"
     "limits.job-size.min.ngpus = 0\naccess.allow-user = [\"alice\"]\n"
     "access.allow-group = [\"staff\"]\nscheduler = { anything = 1 }\n",
     "[policy.limits]\njob-size.max.nnodes = -2\n",
     "policy.limits.job-size.max.nnodes: must be >= -1, got -2"),
    ("queues",
     "[policy]\njobspec.defaults.system.queue = \"debug\"\n"
     "[queues.debug]\nrequires = [\"debug\"]\n"
     "policy.limits.duration = \"30m\"\n"
     "policy.limits.job-size.max.nnodes = 2\n"
     "[queues.batch]\nrequires = [\"batch\"]\n"
     "policy.limits.duration = \"8h\"\n"
     "[queues.small]\nparent = \"batch\"\npolicy.limits.duration = \"24h\"\n",
     "[queues.small]\nparent = \"batch\"\n",
     "queues.small.parent: parent queue 'batch' is not configured"),
    ("heartbeat",
     "[heartbeat]\nperiod = \"5s\"\ntimeout = \"infinity\"\nwarn_thresh = 3\n",
     "[heartbeat]\nperiod = \"0\"\n",
     "heartbeat.period: must be greater than zero"),
    ("fake-resources",
     "[fake-resources]\nnnodes = 1000\ncores-per-node = 48\n"
     "gpus-per-node = 4\nhost-prefix = \"node\"\n"
     "hwloc-xml-path = \"/x.xml\"\namend-r = \"mod:amend\"\n",
     "[fake-resources]\ncores-per-node = 48\n",
     "fake-resources.nnodes: required key is missing"),
    ("pam",
     "[pam]\nmanage-user-slice = true\nkill-user-slice = false\n",
     "[pam]\nmanage-user-slices = true\n",
     "pam.manage-user-slices: unknown key"),
    ("sched-fluxion-qmanager",
     "[sched-fluxion-qmanager]\nqueue-policy = \"hybrid\"\n"
     "queue-policy-per-queue = \"batch:easy debug:fcfs\"\n"
     "queues = \"batch debug\"\n"
     "queue-params = \"queue-depth=8192,max-queue-depth=1000000\"\n"
     "policy-params.reservation-depth = 64\n",
     "[sched-fluxion-qmanager]\nqueue-policy = \"lifo\"\n",
     "sched-fluxion-qmanager.queue-policy: invalid value 'lifo' (expected "
     "fcfs, easy, hybrid, conservative)"),
    ("sched-fluxion-resource",
     "[sched-fluxion-resource]\nmatch-policy = \"policy=high "
     "node_exclusive=true set_stop_on_1_matches=true\"\n"
     "match-format = \"rv1\"\nload-allowlist = \"node,core,gpu\"\n"
     "reserve-vtx-vec = 200000\nprune-filters = \"ALL:core,ALL:gpu\"\n",
     "[sched-fluxion-resource]\nmatch-policy = \"best\"\n",
     "sched-fluxion-resource.match-policy: unknown match policy 'best'"),
    ("content-sqlite",
     "[content-sqlite]\njournal_mode = \"WAL\"\nsynchronous = \"NORMAL\"\n"
     "preallocate = 10737418240\n",
     "[content-sqlite]\njournal_mode = \"wal\"\n",
     "content-sqlite.journal_mode: invalid value 'wal' (expected DELETE, "
     "TRUNCATE, PERSIST, MEMORY, WAL, OFF)"),
]


class TableTests(TempDirMixin, SynchronousTestCase):
    """Every table of config.md: one good and one bad case (at least)."""

    def test_every_table_good_and_bad(self):
        tables = set()
        for table, good, bad, message in TABLE_CASES:
            tables.add(table)
            config = self.load(good)
            self.assertTrue(config.is_set(table), table)
            path = self.write({"t.toml": bad})
            exc = self.assertRaises(ConfigError, load_config, path)
            prefix = os.path.join(path, "t.toml") + ": "
            self.assertEqual(str(exc), prefix + message, table)
        spec_tables = {
            "access", "bootstrap", "tbon", "exec", "systemd", "resource",
            "kvs", "ingest", "job-manager", "policy", "queues", "heartbeat",
            "fake-resources", "pam", "sched-fluxion-qmanager",
            "sched-fluxion-resource"}
        self.assertEqual(spec_tables - tables, set())

    def test_unknown_key_names_file_and_key(self):
        path = self.write({"access.toml":
                           "[access]\nallow-guest-users = true\n"})
        exc = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(
            str(exc), f"{path}/access.toml: access.allow-guest-users: "
            "unknown key")

    def test_type_error_example_from_brief(self):
        self.assertRejected(
            "[access]\nallow-guest-user = \"true\"\n",
            "access.allow-guest-user: expected boolean, got string",
            name="access.toml")

    def test_error_names_file_that_defined_the_key(self):
        path = self.write({"10-tbon.toml": "[tbon]\nzmqdebug = 1\n",
                           "20-more.toml": "[tbon]\nbogus = 2\n"})
        exc = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(str(exc), f"{path}/20-more.toml: tbon.bogus: "
                         "unknown key")

    def test_unknown_nested_table(self):
        self.assertRejected("[job-manager.prologue]\nper-rank = true\n",
                            "job-manager.prologue: unknown key")

    def test_array_item_errors(self):
        self.assertRejected(
            "[[resource.config]]\nhosts = \"a\"\nproperties = [\"x|y\"]\n",
            "resource.config[0].properties[0]: invalid property name 'x|y'")
        self.assertRejected(
            "[[resource.config]]\ncores = \"0\"\n",
            "resource.config[0].hosts: required key is missing")
        self.assertRejected(
            "[[resource.config]]\nhosts = \"a\"\ncores = \"7-0\"\n",
            "resource.config[0].cores: invalid idset '7-0': "
            + _idset_error("7-0"))

    def test_hostlists_checked(self):
        self.assertRejected(
            "[bootstrap]\nhosts = [ { host = \"test[1-\" } ]\n",
            "bootstrap.hosts[0].host: Invalid hostlist: 'test[1-': "
            "unmatched '[' in 'test[1-'")
        self.assertRejected("[[resource.config]]\nhosts = \"\"\n",
                            "resource.config[0].hosts: hostlist is empty")
        self.assertRejected("[resource]\nexclude = \"a[\"\n",
                            "resource.exclude: 'a[' is neither an idset nor "
                            "a hostlist")
        config = self.load("[resource]\nexclude = \"0-3,7\"\n")
        self.assertEqual(config.get("resource.exclude"), "0-3,7")

    def test_bootstrap_rules(self):
        self.assertRejected(
            "[bootstrap]\ndefault_bind = \"tcp://eth0:%p\"\n",
            "bootstrap.default_bind: %p is used but bootstrap.default_port "
            "is not set")
        self.assertRejected(
            "[bootstrap]\ndefault_connect = \"udp://x:1\"\n",
            "bootstrap.default_connect: 'udp://x:1' must be a tcp:// or "
            "ipc:// URI")
        self.assertRejected(
            "[bootstrap]\ndefault_connect = \"tcp://%x:1\"\n",
            "bootstrap.default_connect: invalid token '%x' in 'tcp://%x:1'")
        self.assertRejected("[bootstrap]\ndefault_port = 70000\n",
                            "bootstrap.default_port: must be between 1 and "
                            "65535, got 70000")

    def test_tbon_rules(self):
        self.assertRejected("[tbon]\ntorpid_min = \"0\"\n",
                            "tbon.torpid_min: must be nonzero")
        self.assertRejected("[tbon]\ntorpid_min = \"1m\"\n",
                            "tbon.torpid_min: must be less than torpid_max")
        self.assertRejected("[tbon]\ntorpid_max = \"1s\"\n",
                            "tbon.torpid_max: must be greater than torpid_min")
        self.load("[tbon]\ntorpid_min = \"1m\"\ntorpid_max = \"0\"\n")
        self.assertRejected("[tbon]\ntopo = \"tree\"\n",
                            "tbon.topo: invalid topology URI 'tree'")
        self.assertRejected("[tbon]\nzmq_io_threads = 0\n",
                            "tbon.zmq_io_threads: must be >= 1, got 0")
        self.assertRejected("[tbon]\nkeepalive = \"5s\"\n",
                            "tbon.keepalive: unknown key")

    def test_exec_rules(self):
        self.assertRejected("[exec]\nservice = \"sdexec\"\n",
                            "exec.service: sdexec requires systemd.enable = "
                            "true")
        self.assertRejected("[exec.sdexec-properties]\nExecStart = \"x\"\n",
                            "exec.sdexec-properties.ExecStart: reserved for "
                            "use by Flux")
        self.assertRejected("[exec.sdexec-properties]\nMemoryMax = 5\n",
                            "exec.sdexec-properties.MemoryMax: expected "
                            "string, got integer")
        self.assertRejected("[exec.sdexec-properties]\nMemoryMax = \"lots\"\n",
                            "exec.sdexec-properties.MemoryMax: invalid memory "
                            "value 'lots'")
        self.assertRejected("[exec]\nterm-signal = \"SIGFOO\"\n",
                            "exec.term-signal: invalid signal 'SIGFOO'")
        self.assertRejected("[exec]\nshell-exit-timeout = \"never\"\n",
                            "exec.shell-exit-timeout: invalid Flux standard "
                            "duration 'never'")

    def test_resource_verify(self):
        self.load("[resource]\nverify = false\n")
        self.load("[resource.verify]\n")
        self.assertRejected("[resource]\nverify = \"strict\"\n",
                            "resource.verify: expected boolean or table, got "
                            "string")
        self.assertRejected("[resource.verify]\ncore = \"loose\"\n",
                            "resource.verify.core: invalid value 'loose' "
                            "(expected strict, allow-extra, allow-missing, "
                            "ignore)")
        self.assertRejected("[resource]\nreserve = \"0-3@x\"\n",
                            "resource.reserve: invalid reserve spec '0-3@x': "
                            "invalid idset 'x': " + _idset_error("x"))

    def test_policy_and_queue_rules(self):
        self.assertRejected(
            "[policy]\njobspec.defaults.system.queue = \"debug\"\n",
            "policy.jobspec.defaults.system.queue: the [policy] config table "
            "defines a default queue debug that is not in [queues] table")
        self.assertRejected(
            "[queues.a]\npolicy.jobspec.defaults.system.queue = \"a\"\n",
            "queues.a.policy: 'policy' must not define a default queue!")
        self.assertRejected(
            "[queues.a]\n[queues.b]\nparent = \"a\"\nrequires = [\"x\"]\n",
            "queues.b.requires: a virtual queue must not set 'requires'")
        self.assertRejected(
            "[queues.a]\n[queues.b]\nparent = \"a\"\n"
            "policy.scheduler = { x = 1 }\n",
            "queues.b.policy.scheduler: a virtual queue must not set "
            "'policy.scheduler'")
        self.assertRejected("[queues.a]\nparent = \"a\"\n",
                            "queues.a.parent: parent queue is itself")
        self.assertRejected(
            "[queues.a]\n[queues.b]\nparent = \"a\"\n[queues.c]\n"
            "parent = \"b\"\n",
            "queues.c.parent: parent queue 'b' is itself a virtual queue")
        self.assertRejected("[queues.a]\nrequires = [\"has space\"]\n",
                            "queues.a.requires[0]: invalid property name "
                            "'has space'")
        self.assertRejected("[policy.limits]\nduration = \"forever\"\n",
                            "policy.limits.duration: invalid Flux standard "
                            "duration 'forever'")
        self.assertRejected("[queues]\nbatch = 1\n",
                            "queues.batch: expected table, got integer")

    def test_job_manager_rules(self):
        self.assertRejected(
            "[job-manager]\nplugins = [ { remove = \"x\", conf = {} } ]\n",
            "job-manager.plugins[0].conf: 'conf' is valid only with 'load'")
        self.assertRejected(
            "[job-manager.perilog]\nlog-ignore = [\"(unclosed\"]\n",
            "job-manager.perilog.log-ignore[0]: invalid regular expression "
            "'(unclosed': missing ), unterminated subpattern at position 0")
        self.assertRejected("[job-manager]\ninactive-num-limit = -1\n",
                            "job-manager.inactive-num-limit: must be >= 0, "
                            "got -1")

    def test_ingest_rules(self):
        self.assertRejected("[ingest]\nbuffer-size = \"10MB\"\n",
                            "ingest.buffer-size: invalid size '10MB'")
        self.assertRejected("[ingest.validator]\nplugin = [\"jobspec\"]\n",
                            "ingest.validator.plugin: unknown key (plugin "
                            "configuration must be a table)")

    def test_fluxion_rules(self):
        self.load("[sched-fluxion-resource]\nmatch-policy = "
                  "\"policy=low node_centric=true stop_on_1_matches=false\"\n")
        self.assertRejected(
            "[sched-fluxion-qmanager]\nqueue-params = \"depth=5\"\n",
            "sched-fluxion-qmanager.queue-params: invalid parameter "
            "'depth=5' (expected max-queue-depth=N or queue-depth=N)")
        self.assertRejected(
            "[sched-fluxion-qmanager]\nqueue-policy-per-queue = \"batch\"\n",
            "sched-fluxion-qmanager.queue-policy-per-queue: invalid queue "
            "policy 'batch' (expected QUEUE:POLICY)")
        self.assertRejected(
            "[sched-fluxion-resource]\nmatch-format = \"jgf\"\n",
            "sched-fluxion-resource.match-format: invalid value 'jgf' "
            "(expected rv1_nosched, rv1)")
        self.assertRejected(
            "[sched-fluxion-resource]\nreserve-vtx-vec = 0\n",
            "sched-fluxion-resource.reserve-vtx-vec: must be between 1 and "
            "2000000, got 0")

    def test_security_and_imp_schemas(self):
        self.assertRejected(
            "[sign]\nmax-ttl = 10\ndefault-type = \"curve\"\n"
            "allowed-types = [\"munge\"]\n",
            "sign.default-type: 'curve' is not in allowed-types",
            schema="security")
        self.assertRejected("[sign]\nallowed-types = []\n",
                            "sign.allowed-types: array must not be empty",
                            schema="security")
        self.assertRejected("[run.prolog]\npath = \"relative/prolog\"\n",
                            "run.prolog.path: 'relative/prolog' is not an "
                            "absolute path", schema="imp")
        config = self.load("allow-sudo = true\nlog-level = \"debug\"\n"
                           "[exec]\nallow-unprivileged-exec = true\n"
                           "pam-support = false\n", schema="imp")
        self.assertIs(config.get("allow-sudo"), True)
        # the IMP's [exec] is not the broker's [exec]
        self.assertRejected("[exec]\nallowed-users = [\"flux\"]\n",
                            "exec.allowed-users: unknown key")


def _idset_error(text):
    from fluxd.formats.idset import IDset, IdsetError
    try:
        IDset.decode(text)
    except IdsetError as exc:
        return str(exc)
    raise AssertionError(f"{text!r} decoded")


# Every key of spec/config.md sections 1-12 (dotted, as declared).
SPEC_KEYS = """
access.allow-guest-user access.allow-root-owner access.private-mode
access.roles.admin.users access.roles.admin.groups
bootstrap.curve_cert bootstrap.default_port bootstrap.default_bind
bootstrap.default_connect bootstrap.enable_ipv6 bootstrap.hosts
bootstrap.hosts[].host bootstrap.hosts[].bind bootstrap.hosts[].connect
bootstrap.hosts[].parent
tbon.topo tbon.torpid_min tbon.torpid_max tbon.tcp_user_timeout
tbon.connect_timeout tbon.zmqdebug tbon.zmq_io_threads tbon.child_rcvhwm
tbon.interface-hint
exec.imp exec.service exec.method exec.job-shell exec.kill-timeout
exec.max-kill-count exec.max-kill-timeout exec.term-signal exec.kill-signal
exec.barrier-timeout exec.shell-exit-timeout exec.max-start-delay-percent
exec.sdexec-constrain-resources exec.sdexec-properties
exec.sdexec-stop-timer-sec exec.sdexec-stop-timer-signal exec.testexec
systemd.enable systemd.sdbus-debug systemd.sdexec-debug
resource.path resource.config resource.config[].hosts
resource.config[].cores resource.config[].gpus resource.config[].properties
resource.scheduling resource.exclude resource.norestrict resource.verify
resource.verify.default resource.verify.hostname resource.verify.core
resource.verify.gpu resource.noverify resource.rediscover
resource.journal-max resource.history
kvs.checkpoint-period kvs.gc-threshold
ingest.batch-count ingest.buffer-size ingest.frobnicator.disable
ingest.frobnicator.plugins ingest.frobnicator.args ingest.validator.disable
ingest.validator.plugins ingest.validator.args
ingest.validator.require-instance.minnodes
ingest.validator.require-instance.mincores
job-manager.inactive-age-limit job-manager.inactive-num-limit
job-manager.stop-queues-on-restart job-manager.journal-size-limit
job-manager.plugins job-manager.plugins[].load job-manager.plugins[].conf
job-manager.plugins[].remove job-manager.housekeeping.command
job-manager.housekeeping.release-after
job-manager.housekeeping.exit-on-first-error
job-manager.prolog.command job-manager.prolog.per-rank
job-manager.prolog.timeout job-manager.prolog.kill-timeout
job-manager.prolog.cancel-on-exception
job-manager.prolog.exit-on-first-error
job-manager.epilog.command job-manager.epilog.per-rank
job-manager.epilog.timeout job-manager.epilog.kill-timeout
job-manager.epilog.cancel-on-exception
job-manager.epilog.exit-on-first-error job-manager.perilog.log-ignore
policy.jobspec.defaults.system.duration policy.jobspec.defaults.system.queue
policy.limits.duration policy.limits.job-size.max.nnodes
policy.limits.job-size.max.ncores policy.limits.job-size.max.ngpus
policy.limits.job-size.min.nnodes policy.limits.job-size.min.ncores
policy.limits.job-size.min.ngpus policy.access.allow-user
policy.access.allow-group policy.scheduler
queues.*.requires queues.*.policy queues.*.parent
queues.*.policy.limits.duration
heartbeat.period heartbeat.timeout heartbeat.warn_thresh
fake-resources.nnodes fake-resources.cores-per-node
fake-resources.gpus-per-node fake-resources.host-prefix
fake-resources.hwloc-xml-path fake-resources.amend-r
pam.manage-user-slice pam.kill-user-slice
sched-fluxion-qmanager.queue-policy
sched-fluxion-qmanager.queue-policy-per-queue
sched-fluxion-qmanager.queue-params.max-queue-depth
sched-fluxion-qmanager.queue-params.queue-depth
sched-fluxion-qmanager.policy-params.max-reservation-depth
sched-fluxion-qmanager.policy-params.reservation-depth
sched-fluxion-resource.match-policy sched-fluxion-resource.match-format
sched-fluxion-resource.load-allowlist sched-fluxion-resource.reserve-vtx-vec
sched-fluxion-resource.prune-filters
""".split()

# Defaults spec/config.md gives, as written in TOML.
SPEC_DEFAULTS = {
    "access.allow-guest-user": False, "access.allow-root-owner": False,
    "access.private-mode": False, "bootstrap.enable_ipv6": False,
    "tbon.topo": "kary:32", "tbon.torpid_min": "5s",
    "tbon.torpid_max": "30s", "tbon.tcp_user_timeout": "20s",
    "tbon.connect_timeout": "30s", "tbon.zmqdebug": 0,
    "tbon.zmq_io_threads": 1, "tbon.child_rcvhwm": 0,
    "tbon.interface-hint": "default-route",
    "exec.service": "rexec", "exec.method": "bulk-exec",
    "exec.kill-timeout": "5s", "exec.max-kill-count": 8,
    "exec.term-signal": "SIGTERM", "exec.kill-signal": "SIGKILL",
    "exec.barrier-timeout": "30m", "exec.shell-exit-timeout": "30s",
    "exec.max-start-delay-percent": 25,
    "exec.sdexec-constrain-resources": False,
    "systemd.enable": False,
    "resource.verify": {"default": "allow-extra", "gpu": "ignore",
                        "hostname": "strict"},
    "resource.verify.hostname": "strict",
    "resource.journal-max": 100000, "resource.history": "90d",
    "ingest.buffer-size": "10M",
    "ingest.frobnicator.plugins": ["defaults", "constraints"],
    "ingest.validator.plugins": ["jobspec"],
    "ingest.validator.require-instance.minnodes": 0,
    "job-manager.stop-queues-on-restart": False,
    "job-manager.prolog.per-rank": False,
    "job-manager.prolog.timeout": "30m",
    "job-manager.prolog.kill-timeout": 60,
    "job-manager.prolog.cancel-on-exception": True,
    "job-manager.epilog.cancel-on-exception": False,
    "heartbeat.period": "2s", "heartbeat.timeout": "5m",
    "heartbeat.warn_thresh": 3,
    "fake-resources.cores-per-node": 64, "fake-resources.gpus-per-node": 0,
    "fake-resources.host-prefix": "fake",
    "sched-fluxion-qmanager.queue-policy": "fcfs",
    "sched-fluxion-qmanager.queue-params.max-queue-depth": 1000000,
    "sched-fluxion-qmanager.queue-params.queue-depth": 32,
    "sched-fluxion-qmanager.policy-params.max-reservation-depth": 100000,
    "sched-fluxion-qmanager.policy-params.reservation-depth": 64,
    "sched-fluxion-resource.match-policy": "first",
    "sched-fluxion-resource.match-format": "rv1_nosched",
    "sched-fluxion-resource.prune-filters": "ALL:core,ALL:node",
}


class SchemaTests(SynchronousTestCase):
    """Every key of config.md is known, with the spec's defaults."""

    def test_every_spec_key_known(self):
        known = set(known_keys())
        self.assertEqual([k for k in SPEC_KEYS if k not in known], [])

    def test_security_and_imp_keys_known(self):
        self.assertLessEqual(
            {"sign.max-ttl", "sign.default-type", "sign.allowed-types",
             "sign.munge.socket-path", "sign.curve.require-ca",
             "sign.curve.cert-path"}, set(known_keys("security")))
        self.assertLessEqual(
            {"allow-sudo", "log-level", "exec.allowed-users",
             "exec.allowed-shells", "exec.pam-support",
             "exec.allow-unprivileged-exec", "run.*.allowed-users",
             "run.*.allowed-environment", "run.*.path"},
            set(known_keys("imp")))

    def test_spec_defaults(self):
        config = default_config()
        for key, value in SPEC_DEFAULTS.items():
            self.assertEqual(config.get(key), value, key)

    def test_no_default_means_not_set(self):
        config = default_config()
        for key in ("exec.imp", "kvs.checkpoint-period", "bootstrap",
                    "job-manager.inactive-age-limit", "exec.job-shell"):
            exc = self.assertRaises(NotFound, config.get, key)
            self.assertEqual(str(exc), f"{key} is not set")

    def test_derived_defaults(self):
        config = config_from_object({
            "exec": {"imp": "/usr/libexec/flux/flux-imp"},
            "bootstrap": {},
            "job-manager": {"housekeeping": {}},
        })
        self.assertEqual(config.get("tbon.topo"), "custom")
        self.assertEqual(config.get("job-manager.prolog.command"),
                         ["/usr/libexec/flux/flux-imp", "run", "prolog"])
        self.assertEqual(config.get("job-manager.housekeeping.command"),
                         ["/usr/libexec/flux/flux-imp", "run",
                          "housekeeping"])
        self.assertRaises(NotFound, default_config().get,
                          "job-manager.housekeeping.command")

    def test_written_table_hides_table_default(self):
        config = config_from_object({"resource": {"verify": {}}})
        self.assertEqual(config.get("resource.verify"), {})
        self.assertRaises(NotFound, config.get, "resource.verify.gpu")


class GetTests(SynchronousTestCase):
    """Config.get / get_typed / as_dict / equality."""

    def setUp(self):
        self.config = config_from_object({
            "tbon": {"tcp_user_timeout": "2m", "torpid_max": "1.5m",
                     "zmqdebug": 1},
            "heartbeat": {"timeout": "infinity"},
            "kvs": {"gc-threshold": 100000},
            "exec": {"max-start-delay-percent": 12.5,
                     "sdexec-properties": {"MemoryMax": "95%"}},
            "access": {"allow-guest-user": True},
            "ingest": {"validator": {"plugins": ["jobspec"]}},
        }, source="/etc/flux/system/conf.d/system.toml")

    def test_get_as_written(self):
        self.assertEqual(self.config.get("tbon.tcp_user_timeout"), "2m")
        self.assertEqual(self.config.get("tbon"), {
            "tcp_user_timeout": "2m", "torpid_max": "1.5m", "zmqdebug": 1})
        self.assertEqual(self.config.get(""), self.config.as_dict())
        self.assertEqual(self.config.get(None), self.config.as_dict())

    def test_get_defaults(self):
        self.assertEqual(self.config.get("tbon.torpid_min"), "5s")
        self.assertEqual(self.config.get("tbon.torpid_min", "x"), "x")
        self.assertIsNone(self.config.get("exec.imp", None))
        exc = self.assertRaises(NotFound, self.config.get, "tbon.torpid_min",
                                schema_default=False)
        self.assertEqual(str(exc), "tbon.torpid_min is not set")
        exc = self.assertRaises(NotFound, self.config.get, "tbon.zmqdebug.x")
        self.assertEqual(str(exc), "tbon.zmqdebug.x is not set")
        self.assertRaises(NotFound, self.config.get, "no.such.key")

    def test_get_typed_every_type(self):
        get = self.config.get_typed
        self.assertEqual(get("tbon.tcp_user_timeout", "string"), "2m")
        self.assertEqual(get("kvs.gc-threshold", "integer"), 100000)
        self.assertEqual(get("exec.max-start-delay-percent", "real"), 12.5)
        self.assertIs(get("access.allow-guest-user", "boolean"), True)
        self.assertEqual(get("exec.sdexec-properties", "object"),
                         {"MemoryMax": "95%"})
        self.assertEqual(get("ingest.validator.plugins", "array"),
                         ["jobspec"])
        self.assertEqual(get("tbon.zmqdebug", "any"), 1)
        self.assertEqual(get("tbon.tcp_user_timeout", "fsd"), "2m")
        self.assertEqual(get("tbon.tcp_user_timeout", "fsd-integer"), 120)
        self.assertEqual(get("tbon.torpid_max", "fsd-integer"), 90)
        self.assertEqual(get("tbon.torpid_max", "fsd-real"), 90.0)
        self.assertEqual(get("heartbeat.timeout", "fsd-real"), math.inf)
        self.assertEqual(get("tbon.tcp_user_timeout", "FSD-Integer"), 120)
        # schema defaults are typed too
        self.assertEqual(get("tbon.connect_timeout", "fsd-integer"), 30)
        self.assertEqual(get(None, "object"), self.config.as_dict())
        self.assertEqual(set(TYPES), {
            "any", "string", "integer", "real", "boolean", "object",
            "array", "fsd", "fsd-integer", "fsd-real"})

    def test_get_typed_wrong_type(self):
        cases = [
            ("tbon.zmqdebug", "string"), ("tbon.zmqdebug", "real"),
            ("tbon.zmqdebug", "boolean"), ("access.allow-guest-user",
                                           "integer"),
            ("kvs.gc-threshold", "fsd"), ("tbon", "array"),
            ("ingest.validator.plugins", "object"),
            ("exec.max-start-delay-percent", "integer"),
            ("heartbeat.timeout", "fsd-integer"),
            ("exec.sdexec-properties.MemoryMax", "fsd-real"),
        ]
        for key, kind in cases:
            exc = self.assertRaises(InvalidArgument, self.config.get_typed,
                                    key, kind)
            self.assertEqual(str(exc),
                             f"{key} does not have the requested type")
        exc = self.assertRaises(InvalidArgument, self.config.get_typed,
                                "", "string")
        self.assertEqual(str(exc), "value does not have the requested type")
        exc = self.assertRaises(InvalidArgument, self.config.get_typed,
                                "tbon", "bogus")
        self.assertEqual(str(exc), "Unknown type: bogus")

    def test_get_typed_unset(self):
        exc = self.assertRaises(NotFound, self.config.get_typed, "exec.imp",
                                "string")
        self.assertEqual(str(exc), "exec.imp is not set")
        self.assertEqual(self.config.get_typed("exec.imp", "integer", "x"),
                         "x")

    def test_returned_values_are_copies(self):
        table = self.config.get("tbon")
        table["zmqdebug"] = 99
        self.config.as_dict()["tbon"]["zmqdebug"] = 99
        self.config.get("ingest.validator.plugins").append("x")
        self.assertEqual(self.config.get("tbon.zmqdebug"), 1)
        self.assertEqual(self.config.get("ingest.validator.plugins"),
                         ["jobspec"])

    def test_sources(self):
        sources = self.config.sources()
        self.assertEqual(sources["tbon.zmqdebug"],
                         "/etc/flux/system/conf.d/system.toml")
        self.assertNotIn("tbon", sources)
        self.assertIn("ingest.validator.plugins", sources)

    def test_equality(self):
        same = config_from_object(self.config.as_dict(), source="other.toml")
        self.assertEqual(same, self.config)
        self.assertEqual(hash(same), hash(self.config))
        changed = self.config.with_value("tbon.zmqdebug", 0)
        self.assertNotEqual(changed, self.config)
        self.assertNotEqual(self.config, self.config.as_dict())
        security = load_config(None, schema="security")
        self.assertNotEqual(security, default_config())

    def test_to_json(self):
        self.assertEqual(json.loads(self.config.to_json()),
                         self.config.as_dict())
        self.assertNotIn(" ", default_config().with_value(
            "tbon.zmqdebug", 1).to_json())

    def test_with_value_and_without(self):
        config = self.config.with_value("heartbeat.period", "10s")
        self.assertEqual(config.get("heartbeat.period"), "10s")
        self.assertEqual(config.sources()["heartbeat.period"], "<runtime>")
        self.assertRaises(NotFound, self.config.get, "heartbeat.period",
                          schema_default=False)
        exc = self.assertRaises(ConfigError, self.config.with_value,
                                "heartbeat.period", 10)
        self.assertEqual(str(exc), "<runtime>: heartbeat.period: expected "
                         "FSD string, got integer")
        exc = self.assertRaises(ConfigError, self.config.with_value,
                                "tbon.zmqdebug.x", 1)
        self.assertEqual(str(exc), "tbon.zmqdebug.x: tbon.zmqdebug is not a "
                         "table")
        removed = config.without("heartbeat")
        self.assertFalse(removed.is_set("heartbeat"))
        self.assertEqual(removed.without("no.such"), removed)
        queues = config_from_object({
            "queues": {"debug": {}},
            "policy": {"jobspec": {"defaults": {"system": {"queue":
                                                           "debug"}}}}})
        self.assertRaises(ConfigError, queues.without, "queues.debug")


class DurationKeyTests(SynchronousTestCase):
    """parse_duration_key."""

    def test_fsd_number_default(self):
        config = config_from_object({
            "tbon": {"tcp_user_timeout": "2m"},
            "job-manager": {"prolog": {"kill-timeout": 30}},
            "site": {"t": 1.5, "neg": -1, "bad": "soon", "flag": True}},
            source="s.toml")
        self.assertEqual(parse_duration_key(config, "tbon.tcp_user_timeout"),
                         120.0)
        self.assertEqual(parse_duration_key(config, "tbon.torpid_min"), 5.0)
        self.assertEqual(
            parse_duration_key(config, "job-manager.prolog.kill-timeout"),
            30.0)
        self.assertEqual(parse_duration_key(config, "site.t"), 1.5)
        self.assertEqual(parse_duration_key(config, "kvs.checkpoint-period",
                                            "inf"), math.inf)
        self.assertRaises(NotFound, parse_duration_key, config,
                          "kvs.checkpoint-period")
        exc = self.assertRaises(ConfigError, parse_duration_key, config,
                                "site.bad")
        self.assertEqual(str(exc), "s.toml: site.bad: invalid Flux standard "
                         "duration 'soon'")
        exc = self.assertRaises(ConfigError, parse_duration_key, config,
                                "site.neg")
        self.assertEqual(str(exc), "s.toml: site.neg: duration must be >= 0, "
                         "got -1")
        exc = self.assertRaises(ConfigError, parse_duration_key, config,
                                "site.flag")
        self.assertEqual(str(exc), "s.toml: site.flag: expected FSD string "
                         "or number, got boolean")


_json_scalars = (st.none() | st.booleans() | st.integers(-2**53, 2**53)
                 | st.floats(allow_nan=False, allow_infinity=False)
                 | st.text(max_size=8))
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10)


class PropertyTests(SynchronousTestCase):
    """Hypothesis properties."""

    @given(st.dictionaries(st.text(min_size=1, max_size=6), _json_values,
                           max_size=4))
    def test_site_tables_pass_through_untouched(self, table):
        config = config_from_object({"site-table": table})
        self.assertEqual(config.get("site-table"), table)
        self.assertEqual(json.loads(config.to_json()), {"site-table": table})

    @given(st.integers(0, 10**6), st.sampled_from(["", "s", "m", "h", "d"]))
    def test_fsd_integer_matches_units(self, number, unit):
        scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
        config = config_from_object(
            {"tbon": {"tcp_user_timeout": f"{number}{unit}"}})
        self.assertEqual(
            config.get_typed("tbon.tcp_user_timeout", "fsd-integer"),
            number * scale)
        self.assertEqual(
            config.get_typed("tbon.tcp_user_timeout", "fsd-real"),
            float(number * scale))

    @given(st.sampled_from(sorted(SPEC_DEFAULTS)))
    def test_unset_key_gets_spec_default(self, key):
        self.assertEqual(default_config().get(key), SPEC_DEFAULTS[key])


class VectorTests(SynchronousTestCase):
    """Queue configs stored with flux-core's flux-resource test inputs."""

    def test_fluke_queue_configs_validate(self):
        base = os.path.join(VECTORS, "flux-resource")
        for folder in ("list", "status"):
            path = os.path.join(base, folder, "fluke.config")
            with open(path) as f:
                config = load_config_text(f.read(), source=path)
            self.assertEqual(config.get("queues.batch.requires"), ["batch"])
            self.assertEqual(config.get("queues.debug.requires"), ["debug"])
