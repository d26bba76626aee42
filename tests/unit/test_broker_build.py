"""build_broker: boot methods, broker.quorum, notes at start, nothing left
behind when it refuses."""

import os
import tempfile

from twisted.internet.testing import MemoryReactorClock

from fluxd.broker import build_broker, parse_setattr
from fluxd.config import config_from_object
from fluxd.errors import FluxError
from tests.unit.admin.helpers import TestCase

BOOT = {"bootstrap": {"curve_cert": "/nonexistent.pem", "hosts": [
    {"host": "n0", "bind": "tcp://127.0.0.1:1", "connect": "tcp://127.0.0.1:1"},
    {"host": "n1"}]}}


class BuildTests(TestCase):
    def setUp(self):
        self.base = self.mktemp()
        os.mkdir(self.base)
        self.tmp = os.path.join(self.base, "tmp")
        os.mkdir(self.tmp)
        old = tempfile.tempdir
        tempfile.tempdir = self.tmp
        self.addCleanup(setattr, tempfile, "tempdir", old)

    def build(self, config, *items):
        run = os.path.join(self.base, "run")
        attrs = parse_setattr([f"rundir={run}", f"local-uri=local://{run}/l",
                               "hostname=n0", *items])
        return build_broker(MemoryReactorClock(), config_from_object(config),
                            attrs)

    def refused(self, config, *items):
        with self.assertRaises(FluxError) as caught:
            self.build(config, *items)
        # nothing the broker made is left behind
        self.assertEqual(os.listdir(self.tmp), [])
        self.assertFalse(os.path.exists(os.path.join(self.base, "run")))
        return str(caught.exception)

    def test_single_ignores_bootstrap(self):
        broker = self.build(BOOT, "broker.boot-method=single")
        self.assertEqual(broker.attributes.get("size"), "1")
        broker.stopService()

    def test_boot_method_refusals(self):
        self.assertEqual(self.refused(BOOT, "broker.boot-method=simple"),
                         "broker.boot-method=simple: fluxd boots from"
                         " [bootstrap] (config) or alone (single), never"
                         " through PMI")
        self.assertEqual(self.refused({}, "broker.boot-method=config"),
                         "broker.boot-method=config: the configuration has"
                         " no [bootstrap] table")

    def test_late_failure_removes_what_was_made(self):
        # the certificate is read after the rundir and a temporary
        # statedir were made: both go
        self.assertEqual(self.refused(BOOT),
                         "/nonexistent.pem: No such file or directory")

    def test_quorum_beyond_size(self):
        self.assertEqual(self.refused(BOOT, "broker.quorum=3"),
                         "broker.quorum: 3 is more than the instance size 2")

    def test_deprecated_quorum_forms(self):
        broker = self.build({}, "broker.quorum=0")
        self.assertEqual(broker.attributes.get("broker.quorum"), "1")
        broker.stopService()

    def test_notes_for_settings_without_effect(self):
        broker = self.build({"boostrap": {}, "systemd": {"enable": True}},
                            "cron.directory=/etc/flux/cron.d")
        self.assertEqual(broker.notes, [
            ("warn", "cron.directory: has no effect in fluxd (fluxd has no"
                     " cron service to load crontabs)"),
            ("warn", "[boostrap]: unknown table, ignored (did you mean"
                     " [bootstrap]?)"),
            ("warn", "[systemd]: has no effect in fluxd (fluxd runs its"
                     " shells itself, not in systemd units)")])
        broker.stopService()

    def test_timeouts_recorded_as_flux_does(self):
        broker = self.build({}, "broker.shutdown-timeout=300",
                            "broker.cleanup-timeout=none")
        attrs = broker.attributes
        self.assertEqual([attrs.get(n) for n in (
            "broker.shutdown-timeout", "broker.cleanup-timeout",
            "broker.quorum-warn", "broker.shutdown-warn")],
            ["5m", "none", "1m", "1m"])
        self.assertEqual(broker.lifecycle.shutdown_timeout, 300.0)
        broker.stopService()
