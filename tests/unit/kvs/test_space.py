"""The full-disk read-only mode: probe timer, resume, messages."""

import errno
import os

from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import NoSpace
from fluxd.kvs._space import RESUME_FREE_BYTES, SpaceGuard


class FakeDisk:
    """statvfs with a settable amount of free space."""

    def __init__(self, free=0):
        self.free = free
        self.calls = 0
        self.fail = False

    def __call__(self, path):
        self.calls += 1
        if self.fail:
            raise OSError(errno.EIO, "I/O error")
        return os.statvfs_result((4096, 4096, 1000, 0, self.free // 4096,
                                  0, 0, 0, 0, 255))


class SpaceGuardTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.disk = FakeDisk()
        self.guard = SpaceGuard(self.clock, "/state/content.sqlite", self.disk)

    def test_writable_until_enospc(self):
        self.assertTrue(self.guard.writable())
        self.assertFalse(self.guard.readonly)
        self.assertEqual(self.disk.calls, 0)    # no probing while healthy

    def test_enter_logs_once_and_refuses(self):
        with capturedLogs() as events:
            self.guard.enter("content store: database or disk is full")
            self.guard.enter("again")
        errors = [formatEvent(e) for e in events if e["log_level"] == LogLevel.error]
        self.assertEqual(errors, [
            "content store: no space left on device for /state/content.sqlite"
            " (database or disk is full): the KVS is read-only; commits fail"
            " until space is freed in /state (checked at each write and every"
            " 1s up to 60s)"])
        self.assertTrue(self.guard.readonly)
        self.assertFalse(self.guard.writable())
        error = self.guard.error()
        self.assertIsInstance(error, NoSpace)
        self.assertEqual(error.errno, errno.ENOSPC)
        self.assertEqual(str(error), "KVS is read-only: no space left on device"
                         " in /state; writes resume once space is freed")

    def test_timed_probes_back_off_without_busy_looping(self):
        self.guard.enter("full")
        delays = []
        for _ in range(9):
            (call,) = self.clock.getDelayedCalls()
            delays.append(call.getTime() - self.clock.seconds())
            self.clock.advance(delays[-1])
        self.assertEqual(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60])
        self.assertEqual(self.disk.calls, 9)
        self.assertTrue(self.guard.readonly)

    def test_timed_probe_resumes_when_space_returns(self):
        self.guard.enter("full")
        self.clock.advance(1)
        self.disk.free = RESUME_FREE_BYTES
        with capturedLogs() as events:
            self.clock.advance(2)
        self.assertFalse(self.guard.readonly)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        infos = [formatEvent(e) for e in events]
        self.assertEqual(infos, [f"content store: {RESUME_FREE_BYTES} bytes free"
                                 " in /state: writes resumed after 3.0s"
                                 " read-only"])
        self.assertEqual(self.guard.stats()["episodes"], 1)

    def test_write_probe_resumes_at_once(self):
        self.guard.enter("full")
        self.disk.free = RESUME_FREE_BYTES - 4096
        self.assertFalse(self.guard.writable())
        self.disk.free = 10 * RESUME_FREE_BYTES
        self.assertTrue(self.guard.writable())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        # a second episode starts its back-off from the beginning
        self.guard.enter("full again")
        (call,) = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime() - self.clock.seconds(), 1)
        self.assertEqual(self.guard.stats()["episodes"], 2)

    def test_statvfs_failure_lets_writes_try(self):
        self.guard.enter("full")
        self.disk.fail = True
        self.assertIsNone(self.guard.free_bytes())
        self.assertTrue(self.guard.writable())

    def test_stop_cancels_the_probe(self):
        self.guard.enter("full")
        self.guard.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        stats = self.guard.stats()
        self.assertEqual((stats["readonly"], stats["free-bytes"]), (True, 0))
