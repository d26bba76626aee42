"""Wiring of the admin parts: paths, statedir, which modules exist."""

import os

from twisted.internet.task import Clock

from fluxd.admin.manhole import ManholeService
from fluxd.message.router import Router
from fluxd.module import ModuleSet
from fluxd.admin.setup import (
    build_admin, default_rc_path, resolve_statedir, script_environ)
from fluxd.attributes import Attributes
from fluxd.config import load_config
from fluxd.errors import InvalidArgument
from tests.unit.admin.helpers import TestCase
from tests.unit.test_lifecycle import settle


class PathTests(TestCase):
    def test_rc_paths_beside_the_config(self):
        confdir = self.mktemp()
        os.mkdir(confdir)
        self.assertEqual(default_rc_path(confdir, "rc1"),
                         os.path.join(confdir, "rc1.d"))
        conffile = os.path.join(confdir, "flux.toml")
        self.assertEqual(default_rc_path(conffile, "rc3"),
                         os.path.join(os.path.abspath(confdir), "rc3.d"))
        self.assertIsNone(default_rc_path(None, "rc1"))

    def test_script_path_has_flux_first(self):
        bindir = self.mktemp()
        os.mkdir(bindir)
        self.assertEqual(script_environ({"PATH": "/bin"}, bindir), {"PATH": "/bin"})
        open(os.path.join(bindir, "flux"), "w").close()
        env = script_environ({"PATH": f"/bin:{bindir}", "X": "1",
                              "NOTIFY_SOCKET": "/run/systemd/notify"}, bindir)
        self.assertEqual(env, {"PATH": f"{bindir}:/bin", "X": "1"})

    def test_statedir_given(self):
        path = os.path.join(self.mktemp(), "state")
        cleanup = []
        attrs = Attributes({"statedir": path})
        self.assertEqual(resolve_statedir(attrs, cleanup), path)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o700)
        self.assertEqual(cleanup, [])

    def test_statedir_cleanup_flag(self):
        path = self.mktemp()
        cleanup = []
        resolve_statedir(Attributes({"statedir": path, "statedir-cleanup": "1"}),
                         cleanup)
        self.assertEqual(cleanup, [path])

    def test_temporary_statedir(self):
        cleanup = []
        attrs = Attributes()
        path = resolve_statedir(attrs, cleanup)
        self.addCleanup(os.rmdir, path)
        self.assertEqual((attrs.get("statedir"), cleanup), (path, [path]))
        kept = []
        other = resolve_statedir(Attributes({"statedir-cleanup": "0"}), kept)
        self.addCleanup(os.rmdir, other)
        self.assertEqual(kept, [])

    def test_statedir_not_creatable(self):
        blocker = self.mktemp()
        open(blocker, "w").close()
        self.assertRaises(InvalidArgument, resolve_statedir,
                          Attributes({"statedir": os.path.join(blocker, "x")}), [])


class BuildTests(TestCase):
    def build(self, attrs=None, rank=0, config=None, **kw):
        table = Attributes({"statedir": self.mktemp(), **(attrs or {})})
        return build_admin(Clock(), config or load_config(None), table,
                           ModuleSet(Router()),
                           rank=rank, size=1, owner=os.getuid(), environ={},
                           local_uri="local:///x", hostname="h", cleanup=[],
                           **kw), table

    def test_modules(self):
        parts, attrs = self.build()
        self.assertEqual([m.name for m in parts.modules],
                         ["state-machine", "config", "shutdown", "admin",
                          "runat"])
        self.assertEqual(parts.late_modules, [])
        self.assertEqual(attrs.get("broker.safe-mode"), "0")
        self.assertIsNotNone(parts.startlog)

    def test_shared_safe_mode(self):
        from fluxd.admin.startlog import SafeMode
        mode = SafeMode()
        parts, _ = self.build(safe_mode=mode)
        self.assertIs(parts.safe_mode, mode)
        self.assertIs(parts.startlog.safe_mode, mode)

    def test_manhole_only_when_asked(self):
        parts, _ = self.build({"broker.manhole": "/tmp/x/manhole"})
        (manhole,) = parts.late_modules
        self.assertIsInstance(manhole, ManholeService)

    def test_rank_zero_duties(self):
        parts, _ = self.build(rank=2)
        self.assertIsNone(parts.startlog)
        self.assertFalse(parts.runat.is_defined("rc1"))

    def test_initial_program_and_rc2_none(self):
        parts, _ = self.build(initial_program=["true"])
        self.assertTrue(parts.runat.is_defined("rc2"))
        parts, _ = self.build({"broker.rc2_none": "1"}, initial_program=["true"])
        self.assertFalse(parts.runat.is_defined("rc2"))

    def test_rc_path_attributes(self):
        confdir = self.mktemp()
        os.makedirs(os.path.join(confdir, "rc1.d"))
        parts, attrs = self.build(config=load_config(confdir))
        self.assertEqual(attrs.get("broker.rc1_path"), os.path.join(confdir, "rc1.d"))
        self.assertEqual(attrs.get("broker.rc3_path"), os.path.join(confdir, "rc3.d"))
        parts, attrs = self.build({"broker.rc1_path": "/nowhere"})
        self.assertEqual(attrs.get("broker.rc1_path"), "/nowhere")

    def test_lone_quorum_logs_online(self):
        from twisted.logger import capturedLogs, formatEvent
        parts, _ = self.build()
        with capturedLogs() as events:
            self.successResultOf(parts.lifecycle._gate("quorum"))
        self.assertIn("online: h (ranks 0)", [formatEvent(e) for e in events])

    def test_exit_norestart_and_recovery_mode(self):
        parts, _ = self.build({"broker.exit-norestart": "42",
                               "broker.recovery-mode": "1"})
        self.assertEqual(parts.lifecycle.exit_norestart, 42)
        self.assertTrue(parts.lifecycle.recovery_mode)

    def test_bad_attribute_values(self):
        self.assertRaises(InvalidArgument, self.build,
                          {"broker.exit-norestart": "many"})
        self.assertRaises(InvalidArgument, self.build,
                          {"broker.sd-stop-timeout": "soon"})

    def test_sd_stop_timeout(self):
        parts, _ = self.build({"broker.sd-stop-timeout": "90"})
        self.assertEqual(parts.sd_notify.stop_timeout, 90)
        parts, _ = self.build({"broker.sd-stop-timeout": "none"})
        self.assertIsNone(parts.sd_notify.stop_timeout)

    def test_startlog_step_runs_in_rc1(self):
        clock = Clock()
        attrs = Attributes({"statedir": self.mktemp()})
        parts = build_admin(clock, load_config(None), attrs, ModuleSet(Router()),
                            rank=0, size=1,
                            owner=0, environ={}, local_uri="local:///x",
                            hostname="h", cleanup=[])
        parts.lifecycle.start()
        settle(clock)
        self.assertEqual(parts.lifecycle.state, "run")
        self.assertIn(("rc1-success", "init", "quorum"), parts.lifecycle.history)
        self.assertEqual([e["name"] for e in parts.startlog.startlog.read()],
                         ["start"])
        parts.lifecycle.request_shutdown()
        settle(clock)
        self.assertEqual([e["name"] for e in parts.startlog.startlog.read()],
                         ["start", "finish"])
