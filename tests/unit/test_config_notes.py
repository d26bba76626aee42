"""Unknown tables, keys fluxd does not act on, keys that need a restart."""

import os

from fluxd.config import (
    config_from_object, config_notes, load_config, restart_changes,
    unknown_tables)
from tests.unit.admin.helpers import TestCase


class UnknownTableTests(TestCase):
    def test_typos_named_with_the_nearest_table(self):
        config = config_from_object({"boostrap": {"hosts": []}, "exce": {},
                                     "tbon": {}}, source="a.toml")
        self.assertEqual(unknown_tables(config), [
            "a.toml: [boostrap]: unknown table, ignored (did you mean"
            " [bootstrap]?)",
            "a.toml: [exce]: unknown table, ignored (did you mean [exec]?)"])

    def test_known_and_foreign_tables_are_quiet(self):
        config = config_from_object({
            "accounting": {"factor-weights": {"fairshare": 1}},
            "sched-fluxion-qmanager": {"queue-policy": "easy"},
            "bootstrap": {}})
        self.assertEqual(unknown_tables(config), [])

    def test_far_names_get_no_suggestion(self):
        config = config_from_object({"zzzzz": {}})
        self.assertEqual(unknown_tables(config),
                         ["[zzzzz]: unknown table, ignored"])

    def test_file_is_named(self):
        path = self.mktemp()
        os.mkdir(path)
        with open(os.path.join(path, "b.toml"), "w") as f:
            f.write("[boostrap]\ncurve_cert = 'x'\n")
        config = load_config(path)
        self.assertEqual(unknown_tables(config), [
            f"{path}/b.toml: [boostrap]: unknown table, ignored (did you"
            " mean [bootstrap]?)"])


class NotesTests(TestCase):
    def test_inert_and_later_keys(self):
        config = config_from_object({
            "systemd": {"enable": True},
            "exec": {"imp": "/usr/libexec/flux/flux-imp",
                     "job-shell": "/usr/libexec/flux/flux-shell"},
            "tbon": {"zmqdebug": 1, "torpid_max": "40s"},
            "resource": {"reserve": "0", "exclude": "0"},
            "job-manager": {"journal-size-limit": 5,
                            "inactive-num-limit": 10,
                            "prolog": {"command": ["true"]}},
            "access": {"allow-guest-user": True}})
        self.assertEqual(config_notes(config), [
            ("warn", "[systemd]: has no effect in fluxd (fluxd runs its"
                     " shells itself, not in systemd units)"),
            ("info", "exec.job-shell: not used until fluxd has the exec service"
                     " (job shells and the IMP)"),
            ("warn", "tbon.zmqdebug: has no effect in fluxd (fluxd's overlay"
                     " is TLS over TCP, not ZeroMQ)"),
            ("info", "resource.reserve: not used until fluxd has a"
                     " scheduler"),
            ("warn", "job-manager.journal-size-limit: has no effect in fluxd"
                     " (flux-core does not read it either)")])

    def test_systemd_and_sdexec_one_warning_each(self):
        config = config_from_object({
            "systemd": {"enable": True, "sdbus-debug": True},
            "exec": {"service": "sdexec", "imp": "/usr/libexec/flux/flux-imp"}})
        self.assertEqual(config_notes(config), [
            ("warn", "[systemd]: has no effect in fluxd (fluxd runs its"
                     " shells itself, not in systemd units)"),
            ("warn", "exec.service: has no effect in fluxd (fluxd runs its"
                     " shells itself, not in systemd units)")])

    def test_fluxion_graph_internals_warn_once_each(self):
        config = config_from_object({
            "sched-fluxion-qmanager": {"queue-policy": "easy",
                                       "queue-params": "queue-depth=8"},
            "sched-fluxion-resource": {
                "match-policy": "lonodex", "match-format": "rv1",
                "load-allowlist": "node,core", "reserve-vtx-vec": 200,
                "prune-filters": "ALL:core", "load-format": "rv1exec"}})
        why = "has no effect in fluxd (fluxd's scheduler keeps no Fluxion" \
            " resource graph)"
        self.assertEqual(config_notes(config), [
            ("warn", f"sched-fluxion-resource.{key}: {why}")
            for key in ("load-allowlist", "reserve-vtx-vec",
                        "prune-filters", "load-format")])

    def test_implemented_keys_are_quiet(self):
        config = config_from_object({
            "access": {"allow-guest-user": True},
            "heartbeat": {"period": "5s"}, "kvs": {"gc-threshold": 10},
            "resource": {"exclude": "0", "noverify": True},
            "job-manager": {"plugins": [{"load": "site.py",
                                         "conf": {"a": 1}}],
                            "prolog": {"command": ["true"]},
                            "epilog": {"per-rank": True},
                            "housekeeping": {"release-after": "1s"},
                            "perilog": {"log-ignore": ["x"]}}})
        self.assertEqual(config_notes(config), [])


class RestartTests(TestCase):
    def setUp(self):
        self.old = config_from_object({"tbon": {"torpid_max": "30s"},
                                       "resource": {"exclude": "1"}})

    def test_live_keys(self):
        for key, value in (("tbon.torpid_max", "1m"),
                           ("access.allow-guest-user", True),
                           ("resource.exclude", "2"),
                           ("heartbeat.period", "5s")):
            self.assertEqual(restart_changes(self.old,
                                             self.old.with_value(key, value)),
                             [], key)

    def test_restart_keys(self):
        for key, value in (("tbon.tcp_user_timeout", "2m"),
                           ("tbon.connect_timeout", "1m"),
                           ("tbon.topo", "kary:2"),
                           ("resource.noverify", True),
                           ("resource.path", "/x.json"),
                           ("kvs.checkpoint-period", "30m"),
                           ("content-sqlite.synchronous", "OFF"),
                           ("job-manager.plugins", [{"load": "site.py"}])):
            self.assertEqual(restart_changes(self.old,
                                             self.old.with_value(key, value)),
                             [key])

    def test_default_written_out_is_no_change(self):
        new = self.old.with_value("tbon.tcp_user_timeout", "20s")
        self.assertEqual(restart_changes(self.old, new), [])

    def test_table_named_once(self):
        new = self.old.with_value("bootstrap", {"hosts": [{"host": "a"}]})
        # a [bootstrap] table also turns the default topology to custom
        self.assertEqual(restart_changes(self.old, new),
                         ["bootstrap", "tbon.topo"])
