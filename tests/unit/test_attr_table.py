"""-S attributes: names, legacy aliases, value rules, notes at start."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd._attr_table import ATTRIBUTES, RUNTIME_WRITABLE, check_value
from fluxd.attributes import Attributes
from fluxd.broker import attribute_notes, parse_setattr, quorum_size
from fluxd.errors import InvalidArgument, NotFound, PermissionDenied

#: the broker line of the admin guide's ``systemctl status flux``
GUIDE_LINE = [
    "cron.directory=/etc/flux/system/cron.d", "rundir=/run/flux",
    "statedir=/var/lib/flux", "local-uri=local:///run/flux/local",
    "log-stderr-level=6", "log-stderr-mode=local", "broker.rc2_none",
    "broker.quorum=1", "broker.quorum-timeout=none",
    "broker.exit-norestart=42", "broker.sd-notify=1", "content.dump=auto",
    "content.restore=auto"]


class ParseTests(SynchronousTestCase):
    def test_guide_line(self):
        attrs = parse_setattr(GUIDE_LINE)
        self.assertEqual(attrs["broker.rc2_none"], "")
        self.assertEqual(attrs["broker.quorum-warn"], "none")
        self.assertNotIn("broker.quorum-timeout", attrs)
        self.assertEqual(attrs["broker.exit-norestart"], "42")

    def test_fanout_is_kary(self):
        self.assertEqual(parse_setattr(["tbon.fanout=2"]),
                         {"tbon.topo": "kary:2"})

    def test_refusals_name_attribute_and_reason(self):
        cases = {
            "broker.quorum=abc": "broker.quorum: invalid value 'abc'"
                                 " (expected a positive number of brokers)",
            "log-stderr-level=abc": "log-stderr-level: invalid log level"
                                    " 'abc' (expected -1 to 7)",
            "log-stderr-level=8": "log-stderr-level: invalid log level '8'"
                                  " (expected -1 to 7)",
            "broker.shutdown-timeout=soon":
                "broker.shutdown-timeout: invalid duration 'soon' (expected"
                " an RFC 23 duration such as 30s, 5m or 1.5h)",
            "broker.exit-norestart=0": "broker.exit-norestart: invalid exit"
                                       " code '0' (expected 1 to 255)",
            "log-stderr-mode=sideways": "log-stderr-mode: invalid value"
                                        " 'sideways' (expected leader or local)",
            "tbon.topo=bogus:3": "tbon.topo: invalid topology URI 'bogus:3'",
            "tbon.fanout=x": "tbon.fanout: invalid value 'x' (expected a fanout"
                             " >= 0)",
            "broker.quorum": "broker.quorum: invalid value '' (expected a"
                             " positive number of brokers)",
            "local-uri=/tmp/x": "local-uri: invalid URI '/tmp/x' (expected"
                                " local:///PATH)",
            "content.hash=md5": "content.hash: invalid value 'md5' (expected"
                                " sha1 or sha256)",
            "content.backing-module=content-files":
                "content.backing-module: invalid value 'content-files'"
                " (expected content-sqlite)",
            "rundir-cleanup=yes": "rundir-cleanup: invalid value 'yes'"
                                  " (expected 0 or 1)",
            "nosuch=1": "--setattr nosuch: unknown attribute or not settable"
                        " on the command line",
            "=1": "--setattr =1: expected NAME[=VALUE]",
        }
        for item, message in cases.items():
            with self.assertRaises(InvalidArgument, msg=item) as caught:
                parse_setattr([item])
            self.assertEqual(str(caught.exception), message)

    def test_every_attribute_has_a_rule(self):
        for name in ATTRIBUTES:
            check_value(name, "1")   # no KeyError

    def test_quorum_forms(self):
        self.assertEqual(quorum_size(None, 4), 4)
        self.assertEqual(quorum_size("2", 4), 2)
        self.assertEqual(quorum_size("0", 4), 1)
        self.assertEqual(quorum_size("0-3", 4), 4)
        for bad in ("5", "0-2"):
            with self.assertRaises(InvalidArgument):
                quorum_size(bad, 4)

    def test_notes(self):
        # conf.shell_initrc is read by the job shells now: no note
        notes = attribute_notes(parse_setattr(GUIDE_LINE + [
            "conf.shell_initrc=/x", "tbon.zmqdebug=1"]))
        self.assertEqual(notes, [
            ("warn", "cron.directory: has no effect in fluxd (fluxd has no"
                     " cron service to load crontabs)"),
            ("warn", "tbon.zmqdebug: has no effect in fluxd (fluxd's overlay"
                     " is TLS over TCP, not ZeroMQ)")])


class SetattrTests(SynchronousTestCase):
    """``flux setattr`` checks the value when it is given."""

    def setUp(self):
        self.attrs = Attributes({"log-stderr-level": "3", "rank": "0"})

    def test_runtime_values_checked(self):
        with self.assertRaises(InvalidArgument) as caught:
            self.attrs.set("log-stderr-level", "abc")
        self.assertEqual(str(caught.exception), "log-stderr-level: invalid"
                         " log level 'abc' (expected -1 to 7)")
        self.assertEqual(self.attrs.get("log-stderr-level"), "3")
        self.attrs.set("log-stderr-level", "7")
        self.assertEqual(self.attrs.get("log-stderr-level"), "7")

    def test_exit_restart_runtime(self):
        self.assertIn("broker.exit-restart", RUNTIME_WRITABLE)
        self.attrs.set("broker.exit-restart", "43")
        with self.assertRaises(InvalidArgument):
            self.attrs.set("broker.exit-restart", "0")

    def test_not_writable(self):
        with self.assertRaises(PermissionDenied):
            self.attrs.set("rank", "1")
        with self.assertRaises(NotFound):
            self.attrs.set("nosuch", "1")
