"""Building the KVS modules for a broker."""

import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.attributes import Attributes
from fluxd.config import config_from_object, default_config
from fluxd.errors import InvalidArgument
from fluxd.events import EventService
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
        content, kvs, watch = self.build()
        self.assertEqual([m.name for m in (content, kvs, watch)],
                         ["content", "kvs", "kvs-watch"])
        self.assertIsInstance(content.store, MemoryContentStore)
        self.assertIsNone(kvs.checkpoint_period)

    def test_sqlite_in_statedir(self):
        base = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, base, True)
        statedir = os.path.join(base, "state")
        config = config_from_object({"kvs": {"checkpoint-period": "30m"},
                                     "content-sqlite": {"synchronous": "NORMAL"}})
        content, kvs, _ = self.build({"content.hash": "sha256"}, config,
                                     statedir=statedir)
        self.assertIsInstance(content.store, SqliteContentStore)
        self.assertEqual(content.store.path, os.path.join(statedir, "content.sqlite"))
        self.assertEqual(content.store.hash_name, "sha256")
        self.assertEqual(content.store._sync, "NORMAL")
        self.assertEqual(kvs.checkpoint_period, 1800.0)
        self.assertTrue(os.path.isdir(statedir))
        self.assertEqual(os.stat(statedir).st_mode & 0o777, 0o700)

    def test_follower_has_no_store(self):
        content, _, _ = self.build(rank=2)
        self.assertIsNone(content.store)

    def test_bad_attributes(self):
        with self.assertRaises(InvalidArgument) as cm:
            self.build({"content.hash": "md5"})
        self.assertIn("md5", str(cm.exception))
        for bad in ("0", "-5", "lots"):
            with self.assertRaises(InvalidArgument) as cm:
                self.build({"content.blob-size-limit": bad})
            self.assertIn("content.blob-size-limit", str(cm.exception))
        content, kvs, _ = self.build({"content.blob-size-limit": "4096"})
        self.assertEqual((content.blob_limit, kvs.blob_limit), (4096, 4096))
