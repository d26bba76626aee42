"""The write-ahead log check: a torn tail is normal, damage is refused."""

import os
import random
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.storage.errors import CorruptStore
from fluxd.storage.wal import WAL_HEADER, check_wal, wal_frames
from tests.unit.storage.helpers import crash_with_commits


class WalTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-wal-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "content.sqlite")
        crash_with_commits(self.path, [{f"k{i}": os.urandom(600)}
                                       for i in range(30)])
        self.wal = self.path + "-wal"
        with open(self.wal, "rb") as f:
            self.data = f.read()
        self.header, self.frames = wal_frames(self.data)

    def write(self, data):
        with open(self.wal, "wb") as f:
            f.write(data)

    def test_an_intact_log_passes(self):
        self.assertTrue(self.header["valid"])
        self.assertGreater(sum(1 for f in self.frames if f.commit), 29)
        check_wal(self.wal)

    def test_missing_and_empty_logs_pass(self):
        check_wal(os.path.join(self.dir, "none-wal"))
        self.write(b"")
        check_wal(self.wal)

    def test_torn_tail_passes(self):
        # the last frame cut short, then the last frame's page garbled:
        # both are a transaction that was never all written
        last = self.frames[-1]
        self.write(self.data[:last.offset + 100])
        check_wal(self.wal)
        damaged = bytearray(self.data)
        damaged[last.offset + 30:last.offset + 60] = b"\xaa" * 30
        self.write(bytes(damaged))
        check_wal(self.wal)

    def test_frames_of_an_older_generation_after_the_end_pass(self):
        # a log restarted from the beginning keeps older frames after its
        # end: they carry other salts, sqlite ignores them, no damage
        older = bytearray(self.data)
        for frame in self.frames[len(self.frames) // 2:]:
            older[frame.offset + 8:frame.offset + 16] = b"\x01" * 8
        self.write(bytes(older))
        check_wal(self.wal)

    def test_damage_before_committed_frames_is_refused(self):
        frame = self.frames[len(self.frames) // 2]
        damaged = bytearray(self.data)
        damaged[frame.offset + 100:frame.offset + 612] = os.urandom(512)
        self.write(bytes(damaged))
        with self.assertRaises(CorruptStore) as cm:
            check_wal(self.wal)
        self.assertEqual(str(cm.exception).split(" is damaged at ")[0],
                         self.wal)
        self.assertIn(f"frame {frame.index} (offset {frame.offset})",
                      str(cm.exception))

    def test_damaged_header_is_refused(self):
        damaged = bytearray(self.data)
        damaged[24:32] = b"\0" * 8
        self.write(bytes(damaged))
        with self.assertRaisesRegex(CorruptStore, "is damaged at its header"):
            check_wal(self.wal)

    def test_seeded_overwrites(self):
        rng = random.Random(1313)
        commits = [f.index for f in self.frames if f.commit]
        # the frames of the last transaction: damage there is a torn tail
        tail_start = self.frames[commits[-2] + 1].offset
        refused = 0
        for _ in range(20):
            offset = rng.randrange(0, len(self.data) - 512)
            damaged = bytearray(self.data)
            damaged[offset:offset + 512] = rng.randbytes(512)
            self.write(bytes(damaged))
            if offset + 512 > tail_start:
                check_wal(self.wal)
                continue
            with self.assertRaises(CorruptStore, msg=f"offset {offset}"):
                check_wal(self.wal)
            refused += 1
        self.assertGreater(refused, 15)
