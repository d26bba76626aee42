"""The startlog: runs, crashes, the file, safe mode."""

import datetime
import os

from hypothesis import given, strategies as st

from fluxd.admin.startlog import (
    SAFE_MODE_REASON, SafeMode, Startlog, format_runs,
    latest_start_followed_crash, previous_run_crashed, runs)
from tests.unit.admin.helpers import TestCase

UTC = datetime.timezone.utc
T = 1714686660.0  # 2024-05-02 21:51:00 UTC


def start(t, version="0.1.0"):
    return {"timestamp": t, "name": "start",
            "context": {"version": 1, "core_version": version}}


def finish(t):
    return {"timestamp": t, "name": "finish", "context": {"version": 1}}


class RunsTests(TestCase):
    def test_finished_crashed_running(self):
        events = [start(T), finish(T + 720), start(T + 800), start(T + 900)]
        found = runs(events)
        self.assertEqual([r.outcome for r in found],
                         ["finished", "crashed", "running"])
        lines = format_runs(found, T + 900 + 3.2 * 3600, tz=UTC)
        self.assertEqual(lines, [
            "2024-05-02 21:51 - 2024-05-02 22:03 (12m)",
            "2024-05-02 22:04 - crashed",
            "2024-05-02 22:06 - running (3.2h)",
        ])

    def test_show_version(self):
        lines = format_runs(runs([start(T, "0.88.0")]), T + 1, True, tz=UTC)
        self.assertEqual(lines, [f"{'0.88.0':>25}  2024-05-02 21:51 - running (1s)"])

    def test_unusable_entries_ignored(self):
        events = [{"timestamp": T, "name": "start", "context": {"version": 9}},
                  {"timestamp": T, "name": "start"},
                  {"timestamp": T, "name": "other", "context": {"version": 1}},
                  finish(T)]
        self.assertEqual(runs(events), [])

    def test_previous_run_crashed(self):
        self.assertFalse(previous_run_crashed([]))
        self.assertFalse(previous_run_crashed([start(T), finish(T + 1)]))
        self.assertTrue(previous_run_crashed([start(T)]))

    def test_check(self):
        self.assertFalse(latest_start_followed_crash([start(T)]))
        self.assertFalse(latest_start_followed_crash([start(T), finish(T), start(T)]))
        self.assertTrue(latest_start_followed_crash([start(T), start(T + 1)]))
        self.assertTrue(latest_start_followed_crash(
            [start(T), start(T + 1), finish(T + 2)]))

    @given(st.lists(st.sampled_from(["start", "finish"]), max_size=20))
    def test_every_start_is_one_run(self, names):
        events = [start(T + i) if n == "start" else finish(T + i)
                  for i, n in enumerate(names)]
        found = runs(events)
        self.assertEqual(len(found), names.count("start"))
        self.assertTrue(all(r.outcome != "running" for r in found[:-1]))


class FileTests(TestCase):
    def setUp(self):
        self.path = self.mktemp()
        self.log = Startlog(self.path)

    def test_missing_file_is_empty(self):
        self.assertEqual(self.log.read(), [])

    def test_append_and_read(self):
        self.log.append("start", {"version": 1, "core_version": "x"}, T)
        self.log.append("finish", {"version": 1}, T + 5)
        self.assertEqual([e["name"] for e in self.log.read()], ["start", "finish"])
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)

    def test_damaged_lines_are_skipped(self):
        self.log.append("start", {"version": 1}, T)
        with open(self.path, "ab") as f:
            f.write(b'{"timestamp": 1, "name": "fin')  # cut short by a crash
        self.log.append("start", {"version": 1}, T + 1)
        self.assertEqual([e["name"] for e in self.log.read()], ["start", "start"])
        self.assertTrue(previous_run_crashed(self.log.read()))


class SafeModeTests(TestCase):
    def test_enter_and_leave(self):
        changes = []
        mode = SafeMode()
        mode.watch(lambda m: changes.append((m.submit_enabled, m.sched_started)))
        self.assertEqual(mode.status()["submit"], {"enabled": True, "reason": None})
        mode.enter()
        self.assertEqual(mode.status(), {
            "safe_mode": True, "reason": SAFE_MODE_REASON,
            "submit": {"enabled": False, "reason": SAFE_MODE_REASON},
            "sched": {"started": False, "reason": SAFE_MODE_REASON}})
        mode.enable_submit()
        mode.start_scheduling()
        self.assertEqual(changes, [(False, False), (True, False), (True, True)])
        self.assertTrue(mode.active)
