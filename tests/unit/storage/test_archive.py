"""flux dump/restore archives: layout, formats, tree walk, restore rules."""

import io
import os
import shutil
import socket
import tarfile
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument, NotFound
from fluxd.storage import archive
from fluxd.storage import treeobj as T
from fluxd.storage.blobref import hash_blob
from fluxd.storage.sdnotify import SdNotify


class Blobs:
    """A blob source and sink in a dict."""

    def __init__(self):
        self.blobs = {}
        self.batches = 0

    def put(self, data):
        ref = hash_blob(data)
        self.blobs[ref] = data
        return ref

    def load(self, ref):
        try:
            return self.blobs[ref]
        except KeyError:
            raise NotFound("No such file or directory") from None

    def store(self, blobs):
        self.batches += 1
        self.blobs.update(blobs)

    def dir(self, entries):
        return T.create_dirref(self.put(T.encode(T.create_dir(entries))))


def sample_tree(blobs):
    """A root with every kind of tree object; returns its blobref."""
    r1, r2 = blobs.put(b"first half|"), blobs.put(b"second half\0")
    sub = blobs.dir({"c": T.create_valref([r1, r2]), "d": T.create_val(b"")})
    empty = blobs.dir({})
    inline = T.create_dir({"f": T.create_val(b"inline\0")})
    root = {"a": T.create_val(b"1\0"), "b": sub, "e": inline, "empty": empty,
            "l": T.create_symlink("a"),
            "m": T.create_symlink("x.y", "other")}
    return blobs.put(T.encode(T.create_dir(root)))


def members(data):
    """``{name: (type, bytes or linkname, TarInfo)}`` of a tar in bytes."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for m in tar:
            content = m.linkname if m.issym() else tar.extractfile(m).read()
            out[m.name] = (m.type, content, m)
    return out


def tar_of(entries, mtime=1000):
    """A tar (bytes) from ``{path: bytes or ("link", target)}``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, value in entries.items():
            info = tarfile.TarInfo(path)
            info.mtime = mtime
            if isinstance(value, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, value[1]
                tar.addfile(info)
            else:
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
    return buf.getvalue()


class Buffer(io.BytesIO):
    """A stdout/stdin stand-in with ``.buffer``."""

    @property
    def buffer(self):
        return self


class DumpTests(SynchronousTestCase):
    def dump(self, blobs, rootref, **kw):
        out = Buffer()
        tar = archive.open_for_write("-", stdout=out)
        progress = archive.Progress("flux-dump", kw.pop("stream", None))
        dumper = archive.Dumper(blobs, tar, 1234567, progress, uid=1001,
                                gid=1002, **kw)
        try:
            dumper.dump(rootref)
        finally:
            tar.close()
        return out.getvalue(), dumper, progress

    def test_layout(self):
        blobs = Blobs()
        data, _, progress = self.dump(blobs, sample_tree(blobs))
        got = members(data)
        self.assertEqual(list(got), ["a", "b/c", "b/d", "e/f", "l", "m"])
        self.assertEqual({k: v[1] for k, v in got.items()}, {
            "a": b"1\0", "b/c": b"first half|second half\0", "b/d": b"",
            "e/f": b"inline\0", "l": "a", "m": "other::x.y"})
        for name, (kind, _, info) in got.items():
            self.assertEqual(kind, tarfile.SYMTYPE if name in "lm"
                             else tarfile.REGTYPE)
            self.assertEqual((info.mode, info.mtime, info.uid, info.gid),
                             (0o644, 1234567, 1001, 1002))
        self.assertEqual(progress.keys, 6)

    def test_verbose_and_progress(self):
        blobs = Blobs()
        verbose, counter = io.StringIO(), io.StringIO()
        self.dump(blobs, sample_tree(blobs), verbose=verbose)
        self.assertEqual(verbose.getvalue(), "a\nb/c\nb/d\ne/f\nl\nm\n")
        _, _, progress = self.dump(blobs, sample_tree(blobs), stream=counter)
        progress.end()
        self.assertEqual(counter.getvalue(), "".join(
            f"\rflux-dump: archived {n} keys" for n in range(1, 7))
            + "\rflux-dump: archived 6 keys\n")

    def test_missing_blobs(self):
        blobs = Blobs()
        root = sample_tree(blobs)
        del blobs.blobs[hash_blob(b"second half\0")]
        with self.assertRaises(archive.ArchiveError) as cm:
            self.dump(blobs, root)
        self.assertEqual(str(cm.exception), "b/c: missing blobref 1: No such"
                         " file or directory")
        errors = io.StringIO()
        data, dumper, _ = self.dump(blobs, root, ignore_failed_read=True,
                                    errors=errors)
        self.assertEqual(errors.getvalue(), "b/c: missing blobref 1: No such"
                         " file or directory\n")
        self.assertEqual(dumper.failed_reads, 1)
        self.assertEqual(list(members(data)), ["a", "b/d", "e/f", "l", "m"])

    def test_missing_directory_and_root(self):
        blobs = Blobs()
        root = sample_tree(blobs)
        sub = T.decode(blobs.blobs[root])["data"]["b"]["data"][0]
        del blobs.blobs[sub]
        with self.assertRaises(archive.ArchiveError) as cm:
            self.dump(blobs, root)
        self.assertEqual(str(cm.exception), "b: missing blobref: No such file"
                         " or directory")
        with self.assertRaises(archive.ArchiveError) as cm:
            self.dump(blobs, hash_blob(b"nothing"))
        self.assertEqual(str(cm.exception), "cannot load root tree object: No"
                         " such file or directory")

    def test_root_must_be_a_directory(self):
        blobs = Blobs()
        with self.assertRaises(archive.ArchiveError) as cm:
            self.dump(blobs, blobs.put(T.encode(T.create_val(b"x"))))
        self.assertIn("non-directory", str(cm.exception))

    def test_prefetch_follows_the_walk(self):
        blobs = Blobs()
        root = sample_tree(blobs)
        asked = []

        class Prefetching(Blobs):
            def prefetch(self, refs):
                asked.append(list(refs))
        source = Prefetching()
        source.blobs = blobs.blobs
        self.dump(source, root)
        first = T.decode(blobs.blobs[root])["data"]
        self.assertEqual(asked[0], first["b"]["data"] + first["empty"]["data"])


class FormatTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_format_by_extension(self):
        magic = {".tar": None, ".tgz": b"\x1f\x8b", ".tar.gz": b"\x1f\x8b",
                 ".tar.bz2": b"BZh", ".tar.xz": b"\xfd7zXZ\x00"}
        for ext, head in magic.items():
            path = os.path.join(self.dir, "dump" + ext)
            tar = archive.open_for_write(path)
            info = tarfile.TarInfo("k")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"v"))
            tar.close()
            with open(path, "rb") as f:
                raw = f.read()
            if head is None:
                self.assertEqual(raw[257:262], b"ustar", ext)
            else:
                self.assertTrue(raw.startswith(head), ext)
            with archive.open_for_read(path) as tar:
                self.assertEqual(tar.getnames(), ["k"])

    def test_unknown_extension_and_bad_files(self):
        with self.assertRaises(archive.ArchiveError) as cm:
            archive.open_for_write(os.path.join(self.dir, "dump.zip"))
        self.assertIn("unknown archive format: use .tar, .tgz", str(cm.exception))
        with self.assertRaises(archive.ArchiveError) as cm:
            archive.open_for_write(os.path.join(self.dir, "no", "x.tar"))
        self.assertIn("No such file or directory", str(cm.exception))
        missing = os.path.join(self.dir, "missing.tgz")
        with self.assertRaises(archive.ArchiveError) as cm:
            archive.open_for_read(missing)
        self.assertEqual(str(cm.exception), f"{missing}: No such file or"
                         " directory")
        junk = os.path.join(self.dir, "junk.tgz")
        with open(junk, "wb") as f:
            f.write(b"this is not an archive" * 50)
        with self.assertRaises(archive.ArchiveError) as cm:
            archive.open_for_read(junk)
        self.assertIn("not a readable archive", str(cm.exception))

    def test_stdin_stream(self):
        data = tar_of({"a/b": b"v" * 100})
        with archive.open_for_read("-", stdin=Buffer(data)) as tar:
            blobs = Blobs()
            ref = archive.Restorer(blobs, "sha1", archive.Progress("x")).restore(tar)
        self.assertIn(ref, blobs.blobs)


class RestoreTests(SynchronousTestCase):
    def restore(self, entries, **kw):
        blobs = Blobs()
        progress = archive.Progress("flux-restore", kw.pop("stream", None))
        restorer = archive.Restorer(blobs, kw.pop("hash_name", "sha1"),
                                    progress, **kw)
        with tarfile.open(fileobj=io.BytesIO(entries if isinstance(entries, bytes)
                                             else tar_of(entries))) as tar:
            ref = restorer.restore(tar)
        return blobs, ref, restorer, progress

    def root(self, blobs, ref):
        return T.decode(blobs.blobs[ref])["data"]

    def test_inline_values_below_72_bytes(self):
        blobs, ref, _, progress = self.restore({"short": b"x" * 71,
                                                "long": b"y" * 72})
        root = self.root(blobs, ref)
        self.assertEqual(root["short"], T.create_val(b"x" * 71))
        self.assertEqual(root["long"], T.create_valref([hash_blob(b"y" * 72)]))
        self.assertEqual((progress.keys, progress.blobs), (2, 2))

    def test_directories_symlinks_and_time(self):
        data = tar_of({"./a/b/c": b"1", "a/l": ("link", "a.b.c"),
                       "m": ("link", "ns::k")}, mtime=4242)
        blobs, ref, restorer, _ = self.restore(data)
        root = self.root(blobs, ref)
        self.assertEqual(root["m"], T.create_symlink("k", "ns"))
        a = T.decode(blobs.blobs[root["a"]["data"][0]])["data"]
        self.assertEqual(a["l"], T.create_symlink("a.b.c"))
        self.assertEqual(a["b"]["type"], T.DIRREF)
        self.assertEqual(restorer.timestamp, 4242)

    def test_sha256(self):
        blobs, ref, _, _ = self.restore({"k": b"z" * 100}, hash_name="sha256")
        self.assertTrue(ref.startswith("sha256-"))
        self.assertTrue(all(r.startswith("sha256-") for r in blobs.blobs))

    def test_size_limit_skips(self):
        warnings = io.StringIO()
        blobs, ref, restorer, _ = self.restore(
            {"big": b"b" * 2000, "small": b"s"}, size_limit=1024,
            warnings=warnings, stream=io.StringIO())
        self.assertEqual(warnings.getvalue(),
                         "\rbig size 2000 exceeds 1024 limit, skipping\n")
        self.assertEqual(list(self.root(blobs, ref)), ["small"])
        self.assertEqual(restorer.skipped, 1)

    def test_bad_paths(self):
        cases = {"a/../b": "a/../b: cannot be a KVS key",
                 "a.b/c": "a.b/c: cannot be a KVS key"}
        for path, text in cases.items():
            with self.assertRaises(archive.ArchiveError) as cm:
                self.restore({path: b"v"})
            self.assertTrue(str(cm.exception).startswith(text), path)
        with self.assertRaises(archive.ArchiveError) as cm:
            self.restore({"x": b"1", "x/y": b"2"})
        self.assertEqual(str(cm.exception), "x in x/y is not a directory")

    def test_damaged_archive(self):
        data = tar_of({"k%d" % i: os.urandom(3000) for i in range(5)})
        with self.assertRaises(archive.ArchiveError) as cm:
            self.restore(data[:len(data) // 2])
        self.assertTrue(str(cm.exception).startswith("error reading archive"))

    def test_sink_batches(self):
        entries = {f"k{i}": os.urandom(200) for i in range(3000)}
        blobs, ref, _, progress = self.restore(entries)
        self.assertGreater(blobs.batches, 1)
        self.assertEqual(progress.blobs, 3001)
        self.assertEqual(len(self.root(blobs, ref)), 3000)


class RoundTripTests(SynchronousTestCase):
    def round_trip(self, entries):
        blobs = Blobs()
        with tarfile.open(fileobj=io.BytesIO(tar_of(entries))) as tar:
            ref = archive.Restorer(blobs, "sha1",
                                   archive.Progress("r")).restore(tar)
        out = Buffer()
        tar = archive.open_for_write("-", stdout=out)
        archive.Dumper(blobs, tar, 0, archive.Progress("d")).dump(ref)
        tar.close()
        return {k: (v[1] if v[0] == tarfile.REGTYPE else ("link", v[1]))
                for k, v in members(out.getvalue()).items()}

    names = st.text(alphabet="abcdefghij_-0123456789", min_size=1, max_size=6)

    @settings(max_examples=60, deadline=None)
    @given(st.dictionaries(st.lists(names, min_size=1, max_size=4).map("/".join),
                           st.one_of(st.binary(max_size=300),
                                     names.map(lambda t: ("link", t))),
                           max_size=20))
    def test_restore_then_dump_gives_the_same_keys(self, entries):
        # a key cannot also be a directory: keep only paths no other one
        # passes through
        keys = {k: v for k, v in entries.items()
                if not any(o.startswith(k + "/") for o in entries)}
        self.assertEqual(self.round_trip(keys), keys)


class HelperTests(SynchronousTestCase):
    def test_parse_size(self):
        for text, value in {"0": 0, "100": 100, "1.5k": 1536, "2K": 2048,
                            "100M": 100 * 2 ** 20, "1G": 2 ** 30,
                            "10b": 10}.items():
            self.assertEqual(archive.parse_size(text), value, text)
        for bad in ("", "k", "-1", "lots", "1Q", "nan"):
            with self.assertRaises(InvalidArgument) as cm:
                archive.parse_size(bad)
            self.assertEqual(str(cm.exception), f"invalid size '{bad}'")

    def test_short_blobref(self):
        self.assertEqual(archive.short_blobref("sha1-0123456789abcdef" + "0" * 24),
                         "sha1-01234567")

    def test_restore_progress_text(self):
        stream = io.StringIO()
        progress = archive.Progress("flux-restore", stream)
        progress.add(blobs=1)
        progress.add(keys=1)
        progress.end()
        self.assertEqual(stream.getvalue(),
                         "\rflux-restore: restored 0 keys (1 blobs)"
                         "\rflux-restore: restored 1 keys (1 blobs)"
                         "\rflux-restore: restored 1 keys (1 blobs)\n")

    def test_sd_notify(self):
        path = os.path.join(tempfile.mkdtemp(), "notify")
        self.addCleanup(shutil.rmtree, os.path.dirname(path), True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        self.addCleanup(sock.close)
        notify = SdNotify({"NOTIFY_SOCKET": path})
        progress = archive.Progress("flux-dump", None, notify)
        progress.add(keys=1)
        progress.end()
        self.assertEqual(sock.recv(4096), b"EXTEND_TIMEOUT_USEC=10000000\n"
                         b"STATUS=flux-dump(1) has archived 1 keys")
        self.assertEqual(sock.recv(4096),
                         b"STATUS=flux-dump(1) has archived 1 keys")
        self.assertIsNone(SdNotify({}).address)
        self.assertEqual(SdNotify({"NOTIFY_SOCKET": "@x"}).address, "\0x")
        SdNotify({"NOTIFY_SOCKET": path + ".gone"})("READY=1")
