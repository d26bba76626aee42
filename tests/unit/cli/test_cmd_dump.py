"""flux dump / flux restore in-process: options, and the offline mode
(--statedir) on a stopped broker's content.sqlite."""

import io
import os
import shutil
import tarfile
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import NotFound
from fluxd.storage import sqlitedb
from fluxd.storage import treeobj as T
from fluxd.storage.blobref import hash_blob
from fluxd.testing.cli import run_flux
from tests.unit.storage.test_archive import Blobs, sample_tree, tar_of


def make_statedir(path, hash_name="sha1", owner=4321):
    """A statedir whose content.sqlite holds the sample tree."""
    os.makedirs(path, exist_ok=True)
    conn = sqlitedb.connect(os.path.join(path, "content.sqlite"))
    sqlitedb.init_schema(conn, hash_name)
    blobs = Blobs()
    root = sample_tree(blobs)
    direct = sqlitedb.DirectStore(conn, hash_name)
    direct.store(blobs.blobs)
    direct.set_root("primary", sqlitedb.root_record(root, 17, owner, 0, 3000.0))
    sqlitedb.checkpoint(conn)
    conn.close()
    return blobs, root


def primary(statedir):
    conn = sqlitedb.connect(os.path.join(statedir, "content.sqlite"))
    try:
        direct = sqlitedb.DirectStore(conn, "sha1")
        return direct.roots()["primary"], direct
    finally:
        conn.close()


class OfflineDumpTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-dumpcli-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.state = os.path.join(self.dir, "state")
        self.blobs, self.root = make_statedir(self.state)

    def out(self, name="out.tgz"):
        return os.path.join(self.dir, name)

    def test_checkpoint_dump(self):
        r = run_flux(["dump", "--checkpoint", f"--statedir={self.state}",
                      self.out()])
        self.assertEqual((r.rc, r.out), (0, ""))
        self.assertTrue(r.err.endswith("\rflux-dump: archived 6 keys\n"))
        with tarfile.open(self.out()) as tar:
            self.assertEqual(tar.getnames(), ["a", "b/c", "b/d", "e/f", "l", "m"])
            self.assertEqual({m.mtime for m in tar}, {3000})
            self.assertEqual(tar.extractfile("a").read(), b"1\0")

    def test_quiet_and_verbose(self):
        r = run_flux(["dump", "-q", f"--statedir={self.state}", self.out()])
        self.assertEqual((r.rc, r.err), (0, ""))
        r = run_flux(["dump", "-v", f"--statedir={self.state}", self.out("v.tar")])
        self.assertEqual((r.rc, r.err), (0, "a\nb/c\nb/d\ne/f\nl\nm\n"))

    def test_missing_blob(self):
        conn = sqlitedb.connect(os.path.join(self.state, "content.sqlite"))
        conn.execute("DELETE FROM objects WHERE hash = ?",
                     (bytes.fromhex(hash_blob(b"first half|")[5:]),))
        conn.close()
        r = run_flux(["dump", "-q", f"--statedir={self.state}", self.out()])
        self.assertEqual((r.rc, r.err), (1, "flux-dump: b/c: missing blobref 0:"
                                            " No such file or directory\n"))
        self.assertFalse(os.path.exists(self.out()))
        r = run_flux(["dump", "-q", "--ignore-failed-read",
                      f"--statedir={self.state}", self.out()])
        self.assertEqual((r.rc, r.err), (0, "b/c: missing blobref 0: No such"
                                            " file or directory\n"))
        with tarfile.open(self.out()) as tar:
            self.assertEqual(len(tar.getnames()), 5)

    def test_statedir_errors(self):
        r = run_flux(["dump", "--statedir=/nonexistent", self.out()])
        self.assertEqual((r.rc, r.err), (1, "flux-dump: /nonexistent: No such"
                                            " directory\n"))
        empty = os.path.join(self.dir, "empty")
        os.mkdir(empty)
        r = run_flux(["dump", f"--statedir={empty}", self.out()])
        self.assertEqual(r.err, f"flux-dump: {empty}/content.sqlite: No such"
                                " file or directory\n")
        self.assertEqual(os.listdir(empty), [])

    def test_running_broker_refused(self):
        lock = sqlitedb.StateLock(self.state)
        lock.acquire()
        self.addCleanup(lock.release)
        r = run_flux(["dump", f"--statedir={self.state}", self.out()])
        self.assertEqual((r.rc, r.err), (1, f"flux-dump: {self.state} is in use"
                                            " by a running broker (or another"
                                            " flux dump/restore)\n"))

    def test_truncated_store_refused_untouched(self):
        path = os.path.join(self.state, "content.sqlite")
        os.truncate(path, 4096)
        r = run_flux(["dump", f"--statedir={self.state}", self.out()])
        self.assertEqual(r.rc, 1)
        self.assertTrue(r.err.startswith(f"flux-dump: {path} is truncated (4096"
                                         " of "), r.err)
        self.assertEqual(os.path.getsize(path), 4096)

    def test_option_errors(self):
        r = run_flux(["dump", "--maxreqs=0", self.out()])
        self.assertEqual((r.rc, r.err), (1, "flux-dump: --maxreqs must be at"
                                            " least 1\n"))
        r = run_flux(["dump", f"--statedir={self.state}", self.out("x.zip")])
        self.assertEqual(r.rc, 1)
        self.assertIn("unknown archive format", r.err)
        self.assertFalse(os.path.exists(self.out("x.zip")))
        r = run_flux(["dump"])
        self.assertEqual(r.rc, 1)
        self.assertIn("the following arguments are required: outfile", r.err)


class OfflineRestoreTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-restorecli-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.archive = os.path.join(self.dir, "in.tar")
        with open(self.archive, "wb") as f:
            f.write(tar_of({"x/y": b"y" * 500, "z": b"small\0",
                            "s": ("link", "ns::x.y")}, mtime=5555))

    def test_checkpoint_into_a_new_store(self):
        state = os.path.join(self.dir, "new")
        os.mkdir(state)
        r = run_flux(["restore", "--checkpoint", f"--statedir={state}",
                      self.archive])
        self.assertEqual(r.rc, 0, r.err)
        last = r.err.splitlines()[-1]
        rec, _ = primary(state)
        self.assertEqual(last, "flux-restore: writing snapshot"
                               f" {rec['rootref'][:13]} to checkpoint for next"
                               " KVS start")
        self.assertEqual((rec["sequence"], rec["owner"], rec["timestamp"]),
                         (0, os.getuid(), 5555))
        conn = sqlitedb.connect(os.path.join(state, "content.sqlite"))
        direct = sqlitedb.DirectStore(conn, "sha1")
        root = T.decode(direct.load(rec["rootref"]))["data"]
        self.assertEqual(root["s"], T.create_symlink("x.y", "ns"))
        self.assertEqual(root["z"], T.create_val(b"small\0"))
        conn.close()

    def test_checkpoint_into_an_existing_store_keeps_owner_and_blobs(self):
        state = os.path.join(self.dir, "old")
        blobs, _ = make_statedir(state, owner=777)
        r = run_flux(["restore", "-q", "--checkpoint", f"--statedir={state}",
                      self.archive])
        self.assertEqual((r.rc, r.err), (0, ""))
        rec, _ = primary(state)
        self.assertEqual((rec["sequence"], rec["owner"]), (0, 777))
        conn = sqlitedb.connect(os.path.join(state, "content.sqlite"))
        self.assertEqual(sqlitedb.DirectStore(conn, "sha1").load(
            hash_blob(b"first half|")), b"first half|")
        conn.close()

    def test_verbose_and_size_limit(self):
        state = os.path.join(self.dir, "v")
        os.mkdir(state)
        r = run_flux(["restore", "-v", "--checkpoint", "--size-limit=100",
                      f"--statedir={state}", self.archive])
        self.assertEqual(r.rc, 0)
        self.assertEqual(r.err.splitlines()[:3], [
            "x/y size 500 exceeds 100 limit, skipping", "z", "s -> ns::x.y"])

    def test_target_and_option_errors(self):
        r = run_flux(["restore", self.archive])
        self.assertEqual((r.rc, r.err), (1, "flux-restore: Please specify a"
                                            " restore target with --checkpoint"
                                            " or --key\n"))
        r = run_flux(["restore", "--key=k", f"--statedir={self.dir}",
                      self.archive])
        self.assertEqual((r.rc, r.err), (1, "flux-restore: --key needs a running"
                                            " broker: with --statedir use"
                                            " --checkpoint\n"))
        r = run_flux(["restore", "--checkpoint", "--size-limit=big",
                      self.archive])
        self.assertEqual((r.rc, r.err), (1, "flux-restore: invalid size 'big'\n"))
        r = run_flux(["restore", "--checkpoint", f"--statedir={self.dir}",
                      os.path.join(self.dir, "missing.tgz")])
        self.assertEqual(r.rc, 1)
        self.assertIn("missing.tgz: No such file or directory", r.err)

    def test_no_broker(self):
        env_uri = os.environ.pop("FLUX_URI", None)
        os.environ["FLUX_URI"] = f"local://{self.dir}/nobody"
        try:
            r = run_flux(["restore", "--key=k", self.archive])
        finally:
            if env_uri is None:
                os.environ.pop("FLUX_URI")
            else:
                os.environ["FLUX_URI"] = env_uri
        self.assertEqual(r.rc, 1)
        self.assertIn("Unable to connect to Flux", r.err)


class FakeHandle:
    """send/wait like the sync client, answering from a dict of blobs."""

    def __init__(self, blobs):
        self.blobs = blobs
        self.sent = []
        self.pending = {}
        self.most = 0

    def send(self, topic, payload, nodeid):
        from fluxd.storage.blobref import from_digest
        token = len(self.sent)
        self.sent.append((topic, payload, nodeid))
        if topic.endswith(".load"):
            self.pending[token] = self.blobs.get(from_digest(payload, "sha1"))
        else:
            self.pending[token] = bytes.fromhex(hash_blob(payload)[5:])
        self.most = max(self.most, len(self.pending))
        return token

    def wait(self, token):
        answer = self.pending.pop(token)
        if answer is None:
            raise NotFound("No such file or directory")
        return answer


class RemoteTests(SynchronousTestCase):
    def test_read_ahead_in_walk_order_within_the_window(self):
        from fluxd.cli._snapshot import RemoteBlobs
        from fluxd.storage import archive
        blobs = Blobs()
        root = sample_tree(blobs)
        h = FakeHandle(blobs.blobs)
        source = RemoteBlobs(h, bypass=True, maxreqs=2)
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            archive.Dumper(source, tar, 0, archive.Progress("d")).dump(root)
        loads = list(h.sent)
        self.assertTrue(all(t == "content-backing.load" and n == 0
                            for t, _, n in loads))
        # every blob fetched exactly once, never more than 2 in flight
        # (plus the one asked for out of turn)
        self.assertEqual(len(loads), len({p for _, p, _ in loads}))
        self.assertLessEqual(h.most, 3)
        self.assertEqual(h.pending, {})
        with self.assertRaises(NotFound):
            RemoteBlobs(h).load(hash_blob(b"missing"))

    def test_sink_checks_answers(self):
        from fluxd.cli._snapshot import RemoteSink
        from fluxd.errors import ProtocolError
        h = FakeHandle({})
        sink = RemoteSink(h, "sha1", maxreqs=2)
        data = {hash_blob(b"%d" % i): b"%d" % i for i in range(5)}
        sink.store(data)
        self.assertEqual([t for t, _, _ in h.sent], ["content.store"] * 5)
        self.assertLessEqual(h.most, 2)
        with self.assertRaises(ProtocolError):
            sink.store({hash_blob(b"other"): b"not it"})
