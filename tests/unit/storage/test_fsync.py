"""Every fsync of restore, dump and startlog runs off the reactor thread.

The test's own thread plays the reactor thread: a fake reactor queues the
worker threads' ``callFromThread`` calls and runs them there
(:class:`fluxd.testing.threads.ThreadedCalls`), and lends a real thread
pool.  :func:`fluxd.storage.fsync.watch` records the thread of each sync.
"""

import os
import shutil
import tempfile
import threading
import time

from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import SynchronousTestCase

from fluxd.admin.services import StartlogKeeper
from fluxd.admin.startlog import SafeMode
from fluxd.attributes import Attributes
from fluxd.kvs import _sqlite
from fluxd.kvs.backing import ContentBackingService
from fluxd.kvs.content import SqliteContentStore
from fluxd.storage import fsync
from fluxd.storage.sqlitedb import root_record
from fluxd.testing.threads import ThreadedCalls
from tests.unit.storage.helpers import tree


class PooledReactor(ThreadedCalls):
    """``callFromThread``, ``seconds`` and a real thread pool."""

    def __init__(self):
        super().__init__()
        self.pool = ThreadPool(1, 2, "fsync-test")
        self.pool.start()

    def getThreadPool(self):
        return self.pool

    def seconds(self):
        return time.time()


class OffTheReactorTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-fsync-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.reactor = PooledReactor()
        self.addCleanup(self.reactor.pool.stop)
        self.reactor_thread = threading.get_ident()
        self.synced = []
        self.addCleanup(fsync.watch(
            lambda path: self.synced.append((path, threading.get_ident()))))

    def assertAllOffReactor(self, at_least):
        self.assertGreaterEqual(len(self.synced), at_least, self.synced)
        on_reactor = [path for path, ident in self.synced
                      if ident == self.reactor_thread]
        self.assertEqual(on_reactor, [])

    def backing(self, attrs):
        statedir = os.path.join(self.dir, "state")
        os.makedirs(statedir, exist_ok=True)
        store = SqliteContentStore(self.reactor, os.path.join(
            statedir, "content.sqlite"), worker=_sqlite.ThreadWorker)
        return ContentBackingService(store, Attributes(attrs), 0, self.reactor,
                                     statedir=statedir, cwd=self.dir)

    def test_dump_and_restore(self):
        backing = self.backing({})
        self.reactor.settle(backing.startService())
        rootref, blobs = tree({"a.b": b"x" * 300, "c": b"1"})
        self.reactor.settle(backing.store.write(blobs, {"primary": root_record(
            rootref, 3, 0)}))
        backing.attributes.set_initial("content.dump", "auto")
        self.synced.clear()
        self.reactor.settle(backing.finalize())     # the dump of --gc
        self.reactor.settle(backing.stopService())
        self.assertAllOffReactor(2)                 # the archive, its directory
        self.synced.clear()
        backing = self.backing({"content.restore": "auto"})
        self.reactor.settle(backing.startService())
        self.assertEqual(backing.last_restore["keys"], 2)
        self.reactor.settle(backing.stopService())
        self.assertAllOffReactor(2)                 # the new file, the statedir

    def test_startlog(self):
        keeper = StartlogKeeper(self.reactor, self.dir, SafeMode())
        self.assertEqual(self.reactor.settle(keeper.begin()), 0)
        self.assertEqual(self.reactor.settle(keeper.finish()), 0)
        self.assertAllOffReactor(2)
        self.assertEqual([os.path.basename(p) for p, _ in self.synced],
                         ["startlog", "startlog"])
