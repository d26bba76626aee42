"""Key lookup: flags, symlinks, errors."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError
from fluxd.storage import treeobj as T
from fluxd.storage.errors import MissingRef
from fluxd.storage.lookup import (
    READDIR, READLINK, TREEOBJ, Redirect, walk)
from tests.unit.storage.test_txn import Blobs, put


def link(key, target, ns=None):
    return {"key": key, "flags": 0, "dirent": T.create_symlink(target, ns)}


class WalkTests(SynchronousTestCase):
    def setUp(self):
        self.b = Blobs()
        self.root = self.b.commit(self.b.empty(), [
            put("a.b.c", b"1"), put("v", b"2"),
            link("l", "a.b"), link("lv", "v"), link("ns", "x.y", "other"),
            link("loop", "loop"), link("top", ".")])

    def look(self, key, flags=0):
        parts, want_dir = T.split_key(key)
        return walk(self.b.get, self.root, parts, flags, want_dir)

    def err(self, key, flags, num):
        with self.assertRaises(FluxError) as cm:
            self.look(key, flags)
        self.assertEqual(cm.exception.errno, num, key)

    def test_values_and_dirs(self):
        self.assertEqual(T.decode_val(self.look("a.b.c")), b"1")
        d = self.look("a.b", READDIR)
        self.assertEqual(d["type"], "dir")
        self.assertEqual(sorted(d["data"]), ["c"])
        self.assertEqual(self.look("a", TREEOBJ)["type"], "dirref")
        self.assertEqual(self.look("a.", 0)["type"], "dir")

    def test_root(self):
        self.assertEqual(self.look(".", TREEOBJ), T.create_dirref(self.root))
        self.assertIn("a", self.look(".", READDIR)["data"])
        self.err(".", 0, errno.EISDIR)

    def test_errors(self):
        self.err("nosuch", 0, errno.ENOENT)
        self.err("a.nosuch.x", 0, errno.ENOENT)
        self.err("v.x", 0, errno.ENOENT)
        self.err("a.b", 0, errno.EISDIR)
        self.err("v", READDIR, errno.ENOTDIR)
        self.err("v.", 0, errno.ENOTDIR)
        self.err("v", READLINK, errno.EINVAL)
        self.err("loop", 0, errno.ELOOP)
        self.err("a", READDIR | READLINK, errno.EINVAL)
        self.err("a", 4, errno.EPROTO)

    def test_symlinks(self):
        self.assertEqual(T.decode_val(self.look("l.c")), b"1")
        self.assertEqual(T.decode_val(self.look("lv")), b"2")
        self.assertEqual(self.look("l", READDIR)["type"], "dir")
        self.assertEqual(self.look("l", READLINK)["data"], {"target": "a.b"})
        self.assertEqual(self.look("l", TREEOBJ)["type"], "symlink")
        self.assertEqual(T.decode_val(self.look("top.v")), b"2")

    def test_redirect(self):
        with self.assertRaises(Redirect) as cm:
            self.look("ns.z")
        self.assertEqual((cm.exception.namespace, cm.exception.parts),
                         ("other", ("x", "y", "z")))
        self.assertEqual(cm.exception.depth, 1)

    def test_missing(self):
        self.b.hidden.add(self.root)
        with self.assertRaises(MissingRef):
            self.look("v")
