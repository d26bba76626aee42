"""Building the KVS modules for a broker."""

import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.attributes import Attributes
from fluxd.config import config_from_object, default_config
from fluxd.errors import InvalidArgument
from fluxd.events import EventService
from fluxd.kvs.backing import StartRefused
from fluxd.kvs.content import MemoryContentStore, SqliteContentStore
from fluxd.kvs.wiring import build_kvs_modules
from fluxd.message.router import Router


class WiringTests(SynchronousTestCase):
    def build(self, attrs=None, config=None, rank=0, statedir=None):
        router = Router(rank)
        return build_kvs_modules(None, rank, router, EventService(rank, router),
                                 Attributes(attrs or {}),
                                 config or default_config(), 1000, statedir)

    def test_memory_without_statedir(self):
        backing, content, kvs, watch = self.build()
        self.assertEqual([m.name for m in (backing, content, kvs, watch)],
                         ["content-backing", "content", "kvs", "kvs-watch"])
        self.assertIsInstance(content.store, MemoryContentStore)
        self.assertIs(backing.store, content.store)
        self.assertIsNone(backing.statedir)
        self.assertIsNone(kvs.checkpoint_period)

    def test_sqlite_in_statedir(self):
        base = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, base, True)
        statedir = os.path.join(base, "state")
        config = config_from_object({"kvs": {"checkpoint-period": "30m"},
                                     "content-sqlite": {"synchronous": "NORMAL"}})
        backing, content, kvs, _ = self.build({"content.hash": "sha256"},
                                              config, statedir=statedir)
        self.assertEqual(backing.statedir, statedir)
        self.assertIsInstance(content.store, SqliteContentStore)
        self.assertEqual(content.store.path, os.path.join(statedir, "content.sqlite"))
        self.assertEqual(content.store.hash_name, "sha256")
        self.assertEqual(content.store._sync, "NORMAL")
        self.assertEqual(kvs.checkpoint_period, 1800.0)
        self.assertTrue(os.path.isdir(statedir))
        self.assertEqual(os.stat(statedir).st_mode & 0o777, 0o700)

    def test_follower_has_no_store(self):
        modules = self.build(rank=2)
        self.assertEqual([m.name for m in modules],
                         ["content", "kvs", "kvs-watch"])
        self.assertIsNone(modules[0].store)

    def test_bad_attributes(self):
        with self.assertRaises(InvalidArgument) as cm:
            self.build({"content.hash": "md5"})
        self.assertIn("md5", str(cm.exception))
        for bad in ("0", "-5", "lots"):
            with self.assertRaises(InvalidArgument) as cm:
                self.build({"content.blob-size-limit": bad})
            self.assertIn("content.blob-size-limit", str(cm.exception))
        _, content, kvs, _ = self.build({"content.blob-size-limit": "4096"})
        self.assertEqual((content.blob_limit, kvs.blob_limit), (4096, 4096))


class MaintenanceWiringTests(SynchronousTestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.base, True)
        self.statedir = os.path.join(self.base, "state")

    def build(self, attrs=None, environ=None):
        router = Router(0)
        return build_kvs_modules(None, 0, router, EventService(0, router),
                                 Attributes(attrs or {}), default_config(),
                                 1000, self.statedir, cwd=self.base,
                                 environ=environ or {})

    def test_statedir_cleanup_means_auto_paths_in_cwd(self):
        backing = self.build({"statedir-cleanup": "1"})[0]
        self.assertIsNone(backing.statedir)
        self.assertEqual(backing.cwd, self.base)

    def test_corrupt_store_refused_before_anything_runs(self):
        os.makedirs(self.statedir)
        path = os.path.join(self.statedir, "content.sqlite")
        with open(path, "wb") as f:
            f.write(b"not a database at all" * 10)
        with self.assertRaises(StartRefused) as cm:
            self.build()
        self.assertEqual(str(cm.exception), f"{path} is not an sqlite database:"
                         " refusing to start; the file is left as it is (move"
                         " it aside, or restore a dump with"
                         " -Scontent.restore=FILE)")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"not a database at all" * 10)
        # a pending restore replaces the file: no check then
        dump = os.path.join(self.statedir, "dump")
        os.makedirs(dump)
        with open(os.path.join(dump, "x.tgz"), "wb"):
            pass
        os.symlink("x.tgz", os.path.join(dump, "RESTORE"))
        backing = self.build({"content.restore": "auto"})[0]
        self.assertEqual(backing.restore_request(),
                         (os.path.join(dump, "x.tgz"), os.path.join(dump, "RESTORE")))

    def test_sd_notify_follows_the_broker_setting(self):
        sock = {"NOTIFY_SOCKET": "/run/systemd/notify"}
        self.assertIsNone(self.build()[0].notify)
        self.assertIsNotNone(self.build(environ=sock)[0].notify)
        self.assertIsNone(self.build({"broker.sd-notify": "0"}, sock)[0].notify)
