"""content-backing: restore at start, dump at stop, garbage collection."""

import errno
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import time

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from fluxd.attributes import Attributes
from fluxd.errors import NotFound
from fluxd.kvs import _sqlite
from fluxd.storage import archive
from fluxd.storage import treeobj as T
from fluxd.kvs.backing import ContentBackingService, StartRefused
from fluxd.storage.blobref import digest, hash_blob
from fluxd.kvs.content import MemoryContentStore, SqliteContentStore
from fluxd.message.router import Credential, Router
from fluxd.message.types import ROLE_OWNER
from fluxd.storage.sqlitedb import root_record
from fluxd.testing.threads import ThreadedCalls
from tests.unit.storage.test_archive import Blobs, members, sample_tree, tar_of

NOW = 1700000000.0


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def stamp(seconds=NOW):
    return time.strftime("%Y%m%d_%H%M%S", time.localtime(seconds))


OWNER = Credential(0, ROLE_OWNER)


class BackingCase(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-backing-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.statedir = os.path.join(self.dir, "state")
        os.mkdir(self.statedir)
        self.dumpdir = os.path.join(self.statedir, "dump")
        self.clock = Clock()
        self.clock.advance(NOW)
        self.calls = ThreadedCalls()

    def memory(self, attrs=None, store=None):
        store = store or MemoryContentStore()
        return ContentBackingService(store, Attributes(attrs or {}), 1234,
                                     self.clock, statedir=self.statedir,
                                     cwd=self.dir)

    def sqlite(self, attrs=None):
        store = SqliteContentStore(self.calls, os.path.join(
            self.statedir, "content.sqlite"), worker=_sqlite.InlineWorker)
        return ContentBackingService(store, Attributes(attrs or {}), 1234,
                                     self.clock, statedir=self.statedir,
                                     cwd=self.dir)

    def fill(self, backing):
        """Write the sample tree as the primary root; returns the rootref."""
        blobs = Blobs()
        root = sample_tree(blobs)
        self.calls.settle(backing.store.write(
            blobs.blobs, {"primary": root_record(root, 41, 1234, 0, 1500.0)}))
        return root

    def write_dump(self, entries, name="old.tgz", link=True):
        os.makedirs(self.dumpdir, exist_ok=True)
        path = os.path.join(self.dumpdir, name)
        with open(path, "wb") as f:
            f.write(tar_of(entries, mtime=777))
        if link:
            os.symlink(name, os.path.join(self.dumpdir, "RESTORE"))
        return path

    def lines(self, events):
        return [formatEvent(e) for e in events]


class RestoreTests(BackingCase):
    def test_auto_restore_then_link_removed(self):
        path = self.write_dump({"a/b": b"hello\0", "big": b"x" * 200})
        backing = self.memory({"content.restore": "auto"})
        with capturedLogs() as events:
            self.calls.settle(backing.startService())
        self.assertFalse(os.path.lexists(os.path.join(self.dumpdir, "RESTORE")))
        self.assertTrue(os.path.exists(path))
        rec = self.calls.settle(backing.store.roots())["primary"]
        self.assertEqual((rec["sequence"], rec["owner"], rec["timestamp"]),
                         (0, 1234, 777))
        root = T.decode(self.calls.settle(backing.store.load(rec["rootref"])))
        self.assertEqual(sorted(root["data"]), ["a", "big"])
        text = self.lines(events)
        self.assertIn(f"restoring content from {path}", text)
        self.assertTrue(any(line.startswith(
            f"content.restore: restored 2 keys (3 blobs) from {path} in")
            for line in text), text)
        self.assertEqual(backing.last_restore["keys"], 2)

    def test_explicit_path_restored_at_every_start(self):
        self.write_dump({"k": b"v"}, name="keep.tar", link=False)
        for _ in range(2):
            backing = self.memory({"content.restore": "state/dump/keep.tar"})
            self.calls.settle(backing.startService())
            self.assertEqual(backing.last_restore["keys"], 1)
            self.calls.settle(backing.stopService())

    def test_nothing_to_restore(self):
        backing = self.memory({"content.restore": "auto"})
        self.assertIsNone(backing.restore_request())
        self.calls.settle(backing.startService())
        self.assertIsNone(backing.last_restore)

    def test_link_to_a_missing_dump(self):
        os.makedirs(self.dumpdir)
        os.symlink("gone.tgz", os.path.join(self.dumpdir, "RESTORE"))
        backing = self.memory({"content.restore": "auto"})
        with capturedLogs() as events:
            self.calls.settle(backing.startService())
        self.assertIn(f"content.restore: {self.dumpdir}/gone.tgz does not"
                      " exist: nothing restored", self.lines(events))
        self.assertFalse(os.path.lexists(os.path.join(self.dumpdir, "RESTORE")))

    def test_link_without_content_restore_is_left(self):
        self.write_dump({"k": b"v"})
        backing = self.memory()
        with capturedLogs() as events:
            self.calls.settle(backing.startService())
        self.assertIn(f"content.restore is not set: {self.dumpdir}/RESTORE is"
                      " not restored (start with -Scontent.restore=auto to"
                      " finish garbage collection)", self.lines(events))
        self.assertTrue(os.path.islink(os.path.join(self.dumpdir, "RESTORE")))

    def test_damaged_dump_refuses_start_and_keeps_everything(self):
        path = self.write_dump({"k": os.urandom(5000)})
        with open(path, "r+b") as f:
            f.truncate(200)
        backing = self.sqlite({"content.restore": "auto"})
        f = self.failureResultOf(backing.startService(), StartRefused)
        self.assertEqual(str(f.value).split(": ", 1)[0], "content.restore")
        self.assertTrue(str(f.value).endswith(": refusing to start"))
        self.assertTrue(os.path.islink(os.path.join(self.dumpdir, "RESTORE")))
        self.assertFalse(os.path.exists(os.path.join(self.statedir,
                                                     "content.sqlite")))

    def gc_stop(self, backing):
        """Stop as ``flux shutdown --gc`` does: the dump in rc3, then stop."""
        backing.attributes.set_initial("content.dump", "auto")
        self.assertEqual(self.calls.settle(backing.finalize()), 0)
        self.calls.settle(backing.stopService())

    def commit(self, backing, key, value):
        """A new primary root holding ``key`` (as a KVS commit would)."""
        blobs = {}
        root = T.encode(T.create_dir({key: T.create_val(value)}))
        blobs[hash_blob(root)] = root
        old = self.calls.settle(backing.store.roots())["primary"]
        self.calls.settle(backing.store.write(blobs, {"primary": root_record(
            hash_blob(root), old["sequence"] + 1, 1234)}))
        return hash_blob(root)

    def test_stale_restore_link_never_discards_newer_commits(self):
        # issue 13 point 4: gc, a start without content.restore, commits,
        # a clean stop, then a start with content.restore=auto
        backing = self.sqlite()
        self.calls.settle(backing.startService())
        self.fill(backing)
        self.gc_stop(backing)
        self.assertTrue(os.path.islink(os.path.join(self.dumpdir, "RESTORE")))
        backing = self.sqlite()
        self.calls.settle(backing.startService())
        newer = self.commit(backing, "newer", b"acknowledged")
        self.calls.settle(backing.stopService())
        backing = self.sqlite({"content.restore": "auto"})
        with capturedLogs() as events:
            self.calls.settle(backing.startService())
        self.addCleanup(lambda: self.calls.settle(backing.stopService()))
        rec = self.calls.settle(backing.store.roots())["primary"]
        self.assertEqual(rec["rootref"], newer)
        self.assertIsNone(backing.last_restore)
        dump = os.path.join(self.dumpdir, f"{stamp()}.tgz")
        warnings = [e for e in events if e["log_level"].name == "warn"]
        self.assertEqual(self.lines(warnings), [
            f"content.restore: not restoring {dump}: the KVS has commits"
            " newer than that dump (primary namespace at sequence 42); the"
            " RESTORE link is removed, the dump kept"])
        self.assertFalse(os.path.lexists(os.path.join(self.dumpdir, "RESTORE")))
        self.assertTrue(os.path.exists(dump))

    def test_gc_restores_the_state_it_dumped(self):
        backing = self.sqlite()
        self.calls.settle(backing.startService())
        self.fill(backing)
        self.gc_stop(backing)
        backing = self.sqlite({"content.restore": "auto"})
        self.calls.settle(backing.startService())
        self.addCleanup(lambda: self.calls.settle(backing.stopService()))
        self.assertEqual(backing.last_restore["keys"], 6)
        rec = self.calls.settle(backing.store.roots())["primary"]
        self.assertEqual((rec["rootref"], rec["sequence"]),
                         (backing.last_restore["rootref"], 0))

    def test_explicit_path_not_restored_over_newer_commits(self):
        path = self.write_dump({"k": b"v"}, name="keep.tar", link=False)
        backing = self.sqlite({"content.restore": "state/dump/keep.tar"})
        self.calls.settle(backing.startService())
        self.assertEqual(backing.last_restore["keys"], 1)
        self.calls.settle(backing.stopService())
        # restored, nothing committed since: not restored again, silently
        backing = self.sqlite({"content.restore": "state/dump/keep.tar"})
        with capturedLogs() as events:
            self.calls.settle(backing.startService())
        self.assertIsNone(backing.last_restore)
        self.assertIn(f"content.restore: {path} was restored before and"
                      " nothing was committed since: not restored again",
                      self.lines(events))
        newer = self.commit(backing, "newer", b"1")
        self.calls.settle(backing.stopService())
        backing = self.sqlite({"content.restore": "state/dump/keep.tar"})
        with capturedLogs() as events:
            self.calls.settle(backing.startService())
        self.addCleanup(lambda: self.calls.settle(backing.stopService()))
        db = os.path.join(self.statedir, "content.sqlite")
        self.assertIn(f"content.restore: not restoring {path}: {db} has"
                      " commits newer than that archive (primary namespace at"
                      f" sequence 1); move {db} aside to restore it",
                      self.lines(events))
        self.assertEqual(self.calls.settle(backing.store.roots())["primary"]
                         ["rootref"], newer)

    def test_damaged_store_restored_over_and_kept_aside(self):
        backing = self.sqlite()
        self.calls.settle(backing.startService())
        self.fill(backing)
        self.calls.settle(backing.stopService())
        db = os.path.join(self.statedir, "content.sqlite")
        with open(db, "r+b") as f:
            f.seek(4096)
            f.write(b"\xff" * 4096)
        damaged = file_digest(db)
        self.write_dump({"k": b"v"}, name="rescue.tar", link=False)
        backing = self.sqlite({"content.restore": "state/dump/rescue.tar"})
        self.calls.settle(backing.startService())
        self.addCleanup(lambda: self.calls.settle(backing.stopService()))
        self.assertEqual(backing.last_restore["keys"], 1)
        self.assertEqual(file_digest(db + ".damaged"), damaged)

    def test_partial_dump_of_an_interrupted_gc_removed(self):
        os.makedirs(self.dumpdir)
        partial = os.path.join(self.dumpdir, f".{stamp()}.tgz")
        other = os.path.join(self.dumpdir, ".keep-me.tgz")
        for path in (partial, other):
            with open(path, "wb") as f:
                f.write(b"\x1f\x8b half")
        backing = self.sqlite()
        with capturedLogs() as events:
            self.calls.settle(backing.startService())
        self.addCleanup(lambda: self.calls.settle(backing.stopService()))
        self.assertEqual(sorted(os.listdir(self.dumpdir)), [".keep-me.tgz"])
        self.assertIn(f"content.dump: removed {partial}, the partial archive"
                      " of an interrupted dump", self.lines(events))

    def test_corrupt_store_refused_in_one_line(self):
        with open(os.path.join(self.statedir, "content.sqlite"), "wb") as f:
            f.write(b"SQLite format 3\0" + b"\0" * 84)
        backing = self.sqlite()
        f = self.failureResultOf(backing.startService(), StartRefused)
        self.assertEqual(f.value.errno, errno.ENOTRECOVERABLE)
        self.assertIn("refusing to start; the file is left as it is", str(f.value))
        self.assertNotIn("\n", str(f.value))


class DumpTests(BackingCase):
    def started(self, attrs=None):
        backing = self.memory(attrs)
        self.calls.settle(backing.startService())
        return backing

    def test_auto_dump_at_stop(self):
        backing = self.started({"content.dump": "auto"})
        self.fill(backing)
        with capturedLogs() as events:
            self.calls.settle(backing.stopService())
        path = os.path.join(self.dumpdir, f"{stamp()}.tgz")
        self.assertEqual(os.readlink(os.path.join(self.dumpdir, "RESTORE")),
                         f"{stamp()}.tgz")
        with open(path, "rb") as f:
            got = members(f.read())
        self.assertEqual(list(got), ["a", "b/c", "b/d", "e/f", "l", "m"])
        self.assertEqual(got["a"][2].mtime, 1500)
        self.assertEqual(sorted(os.listdir(self.dumpdir)),
                         [f"{stamp()}.tgz", "RESTORE"])
        self.assertIn(f"dumping content to {path}", self.lines(events))
        self.assertEqual(backing.last_dump, {"path": path, "keys": 6})

    def test_second_dump_in_one_second_keeps_the_first(self):
        for _ in range(2):
            backing = self.started({"content.dump": "auto"})
            self.fill(backing)
            self.calls.settle(backing.stopService())
        self.assertEqual(sorted(os.listdir(self.dumpdir)),
                         [f"{stamp()}-1.tgz", f"{stamp()}.tgz", "RESTORE"])
        self.assertEqual(os.readlink(os.path.join(self.dumpdir, "RESTORE")),
                         f"{stamp()}-1.tgz")

    def test_shutdown_request_read_at_stop_and_explicit_path(self):
        attrs = Attributes({})
        backing = ContentBackingService(MemoryContentStore(), attrs, 0,
                                        self.clock, None, cwd=self.dir)
        self.calls.settle(backing.startService())
        self.fill(backing)
        attrs.set_initial("content.dump", "mine.tar")   # as flux shutdown --dump
        self.calls.settle(backing.stopService())
        with open(os.path.join(self.dir, "mine.tar"), "rb") as f:
            self.assertEqual(len(members(f.read())), 6)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "dump")))

    def test_no_request_no_dump(self):
        for attrs in ({}, {"content.dump": ""}):
            backing = self.started(attrs)
            self.fill(backing)
            self.calls.settle(backing.stopService())
        self.assertFalse(os.path.exists(self.dumpdir))

    def test_without_a_persistent_statedir_auto_uses_cwd(self):
        backing = ContentBackingService(MemoryContentStore(), Attributes(
            {"content.dump": "auto"}), 0, self.clock, None, cwd=self.dir)
        self.assertEqual(backing.dump_paths("auto"), (
            os.path.join(self.dir, "dump", f"{stamp()}.tgz"),
            os.path.join(self.dir, "dump", "RESTORE")))

    def test_failed_dump_logged_without_link(self):
        backing = self.started({"content.dump": "auto"})    # nothing stored
        with capturedLogs() as events:
            self.calls.settle(backing.stopService())
        path = os.path.join(self.dumpdir, f"{stamp()}.tgz")
        self.assertIn(f"content.dump: dumping to {path} failed: no KVS"
                      " checkpoint to dump", self.lines(events))
        self.assertEqual(os.listdir(self.dumpdir), [])
        self.assertIsNone(backing.last_dump)

    def test_missing_blob_reported_dump_kept(self):
        store = MemoryContentStore()
        backing = self.started({"content.dump": "auto"})
        backing.store = store
        blobs = Blobs()
        root = sample_tree(blobs)
        del blobs.blobs[hash_blob(b"first half|")]
        self.calls.settle(store.write(blobs.blobs, {"primary": root_record(
            root, 1, 0)}))
        with capturedLogs() as events:
            self.calls.settle(backing.stopService())
        self.assertIn("content.dump: b/c: missing blobref 0: No such file or"
                      " directory", self.lines(events))
        self.assertEqual(backing.last_dump["keys"], 5)
        self.assertTrue(os.path.islink(os.path.join(self.dumpdir, "RESTORE")))


class GarbageCollectionTests(BackingCase):
    def keys(self, backing, rootref, source=None):
        """``{path: value}`` under a root, as flux dump sees it."""
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            def run(direct):
                archive.Dumper(source or direct, tar, 0,
                               archive.Progress("d")).dump(rootref)
            self.calls.settle(backing.store.read_direct(run))
        return {k: v[1] for k, v in members(out.getvalue()).items()}

    def test_dump_restore_shrinks_the_store(self):
        backing = self.sqlite({"content.dump": "auto"})
        self.calls.settle(backing.startService())
        # unlinked data: blobs no root reaches any more
        junk = {}
        for _ in range(60):
            value = os.urandom(20000)
            junk[hash_blob(value)] = value
        self.calls.settle(backing.store.write(junk, {}))
        root = self.fill(backing)
        self.original = Blobs()
        sample_tree(self.original)
        self.calls.settle(backing.stopService())
        db = os.path.join(self.statedir, "content.sqlite")
        before = os.path.getsize(db)
        backing = self.sqlite({"content.restore": "auto"})
        self.calls.settle(backing.startService())
        after = os.path.getsize(db)
        self.assertLess(after * 10, before)
        rec = self.calls.settle(backing.store.roots())["primary"]
        self.assertEqual(rec["sequence"], 0)
        restored = self.keys(backing, rec["rootref"])
        self.assertEqual(len(restored), 6)
        self.assertEqual(restored, self.keys(backing, root, self.original))
        with self.assertRaises(NotFound):
            self.calls.settle(backing.store.load(next(iter(junk))))
        self.calls.settle(backing.stopService())


class RPCTests(BackingCase):
    def test_load_store_and_stats(self):
        router = Router(0)
        backing = self.memory()
        self.calls.settle(backing.startService())
        router.add_module(backing)
        answer = self.successResultOf(router.call(
            "content-backing.store", b"blob", raw=True, cred=OWNER))
        self.assertEqual(answer, digest(b"blob"))
        self.assertEqual(self.successResultOf(router.call(
            "content-backing.load", answer, raw=True, cred=OWNER)), b"blob")
        f = self.failureResultOf(router.call(
            "content-backing.load", b"short", raw=True, cred=OWNER))
        self.assertIn("expected a sha1 digest", str(f.value))
        stats = self.successResultOf(router.call(
            "content-backing.stats-get", {}, nodeid=0, cred=OWNER))
        self.assertEqual((stats["loads"], stats["stores"]), (2, 1))
        self.assertEqual(stats["store"]["blobs"], 1)

    def test_sqlite_stats_show_the_disk_state(self):
        router = Router(0)
        backing = self.sqlite()
        self.calls.settle(backing.startService())
        self.addCleanup(lambda: self.calls.settle(backing.stopService()))
        router.add_module(backing)
        stats = self.successResultOf(router.call(
            "content-backing.stats-get", {}, nodeid=0, cred=OWNER))
        self.assertEqual(stats["space"]["readonly"], False)
        self.assertGreater(stats["space"]["free-bytes"], 0)


class ArchiveFromDumpTests(BackingCase):
    def test_a_broker_dump_is_a_flux_archive(self):
        backing = self.memory({"content.dump": "dump.tar.xz"})
        self.calls.settle(backing.startService())
        self.fill(backing)
        self.calls.settle(backing.stopService())
        with archive.open_for_read(os.path.join(self.dir, "dump.tar.xz")) as tar:
            self.assertEqual(tar.getmember("m").linkname, "other::x.y")
            data = tar.extractfile("b/c").read()
        self.assertEqual(data, b"first half|second half\0")


class RefusalTests(SynchronousTestCase):
    def test_os_errors_become_one_line(self):
        from fluxd.kvs.backing import refusal
        err = refusal(PermissionError(13, "Permission denied", "/s/dump/RESTORE"),
                      "content.restore: ")
        self.assertEqual(str(err), "content.restore: /s/dump/RESTORE: Permission"
                         " denied: refusing to start")
        self.assertEqual(err.errno, errno.EACCES)
