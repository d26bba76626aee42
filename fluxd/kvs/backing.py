# -*- test-case-name: tests.unit.kvs.test_backing -*-
"""The ``content-backing`` service: rank 0's store, from restore to dump.

In flux-core, rc1 loads ``content-sqlite``, restores a dump into it and
loads the KVS; rc3 unloads the KVS, flushes the content cache and dumps
(spec/broker.md section 2.1).  fluxd's KVS is built in, so this module
does that work where the same order holds: it starts before the content
service and stops after it, so its stop runs once the KVS and every
service that commits to it have stopped.

At start (rank 0):

- ``content.restore=auto``: if ``${statedir}/dump/RESTORE`` is a
  symlink, the dump it names is restored into a *fresh*
  ``content.sqlite`` (the old file is replaced only once the new one is
  complete), values over 100 MiB skipped as flux-core's rc1 does
  (``--size-limit=100M``); the link is then removed.  A path instead of
  ``auto`` is restored at every start.  The restored root becomes the
  primary namespace at sequence 0, so the KVS version counts commits
  since the last garbage collection (``kvs.gc-threshold``).
- then the store opens; a truncated or corrupt file is refused with one
  line and left as it is (:class:`StartRefused`).

At stop, after the last commit: when ``content.dump`` is set (``-S``, or
``flux shutdown --gc``/``--dump``), the primary root as stored is dumped
(``flux dump --checkpoint --ignore-failed-read``): ``auto`` writes
``${statedir}/dump/YYYYMMDD_HHMMSS.tgz`` and points ``dump/RESTORE`` at
it.  The archive is written under a hidden name and renamed when
complete, and the link made last, so a failed or interrupted dump is
never restored.  The auto paths use the statedir when it persists
(``-Sstatedir`` without ``statedir-cleanup=1``), else the broker's
working directory, as flux-core does.

RPCs (owner): ``content-backing.load`` (raw digest -> blob) and
``content-backing.store`` (blob -> raw digest) reach the store without
the content cache (``flux dump/restore --no-cache``);
``content-backing.stats-get`` adds the full-disk state.
"""

import io
import os
import time

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.errors import FluxError, ProtocolError
from fluxd.kvs import archive
from fluxd.kvs import blobref as _blobref
from fluxd.kvs.sqlitedb import CorruptStore, root_record
from fluxd.message.router import method
from fluxd.module import Module

__all__ = ["ContentBackingService", "StartRefused", "auto_base",
           "RESTORE_SIZE_LIMIT"]

#: values skipped by the restore at start (flux-core rc1: --size-limit=100M)
RESTORE_SIZE_LIMIT = 100 * 1024 * 1024


class StartRefused(FluxError):
    """the content store cannot be used"""


def refusal(exc, prefix=""):
    """The one-line error that stops a broker for an unusable store."""
    if isinstance(exc, OSError) and not isinstance(exc, FluxError):
        where = f"{exc.filename}: " if exc.filename else ""
        return StartRefused(f"{prefix}{where}{exc.strerror or exc}: refusing"
                            " to start", errnum=exc.errno)
    if isinstance(exc, CorruptStore):
        return StartRefused(f"{prefix}{exc}: refusing to start; the file is"
                            " left as it is (move it aside, or restore a dump"
                            " with -Scontent.restore=FILE)", errnum=exc.errno)
    return StartRefused(f"{prefix}{exc}: refusing to start", errnum=exc.errno)


def auto_base(statedir, cwd):
    """Where ``auto`` dumps live: the persistent statedir, else ``cwd``."""
    return os.path.join(statedir or cwd, "dump")


class _Lines(io.StringIO):
    """Collects text a worker thread writes; logged later in the reactor."""

    def lines(self):
        return [line.strip("\r") for line in self.getvalue().splitlines()
                if line.strip("\r")]


class ContentBackingService(Module):
    """Rank 0's backing store: restore at start, dump at stop.

    :param store: the :class:`~fluxd.interfaces.IContentStore` (memory or
        ``content.sqlite``) with ``read_direct``/``restore_fresh``.
    :param attributes: the broker attributes (``content.dump``,
        ``content.restore``; read when used, so ``flux shutdown --gc``
        counts).
    :param owner: the instance owner (owner of the restored root).
    :param clock: ``IReactorTime`` (dump names, durations).
    :param statedir: the persistent statedir, or None (auto paths then
        use ``cwd``).
    :param cwd: the broker's working directory.
    :param notify: an ``sd_notify`` callable for long dumps/restores, or
        None.
    """

    name = "content-backing"
    log = Logger()

    def __init__(self, store, attributes, owner, clock, statedir=None,
                 cwd=None, notify=None, rank=0):
        super().__init__(rank)
        self.store = store
        self.attributes = attributes
        self.owner = owner
        self._clock = clock
        self.statedir = statedir
        self.cwd = cwd or os.getcwd()
        self.notify = notify
        self.opened = False
        self.last_dump = None
        self.last_restore = None
        self.stats = {"loads": 0, "stores": 0}

    # -- start: restore, open --------------------------------------------------

    def startService(self):
        super().startService()
        return defer.Deferred.fromCoroutine(self._start())

    async def _start(self):
        request = self.restore_request()
        link = os.path.join(auto_base(self.statedir, self.cwd), "RESTORE")
        if request is None and os.path.islink(link) and \
                not self.attributes.get_default("content.restore"):
            self.log.warn("content.restore is not set: {link} is not"
                          " restored (start with -Scontent.restore=auto"
                          " to finish garbage collection)", link=link)
        if request is not None:
            try:
                await self._restore(*request)
            except (FluxError, OSError) as exc:
                raise refusal(exc, "content.restore: ") from None
        try:
            await self.store.open()
        except FluxError as exc:
            raise refusal(exc) from None
        self.opened = True

    def restore_request(self):
        """``(archive path, link or None)`` to restore now, or None."""
        value = self.attributes.get_default("content.restore")
        link = os.path.join(auto_base(self.statedir, self.cwd), "RESTORE")
        if not value:
            return None
        if value == "auto":
            if not os.path.islink(link):
                return None
            return os.path.realpath(link), link
        return os.path.join(self.cwd, value), None

    async def _restore(self, path, link):
        if not os.path.exists(path):
            self.log.warn("content.restore: {path} does not exist: nothing"
                          " restored", path=path)
            if link is not None:
                os.unlink(link)
            return
        self.log.info("restoring content from {path}", path=path)
        started = self._clock.seconds()
        warnings = _Lines()

        def build(direct):
            progress = archive.Progress("flux-restore", None, self.notify)
            with archive.open_for_read(path) as tar:
                restorer = archive.Restorer(direct, self.store.hash_name,
                                            progress, RESTORE_SIZE_LIMIT,
                                            warnings=warnings)
                rootref = restorer.restore(tar)
            # restoring, so the sequence starts again at 0 (as flux-core)
            direct.set_root("primary", root_record(
                rootref, 0, self.owner, 0, restorer.timestamp or None))
            progress.end()
            return rootref, progress.keys, progress.blobs

        rootref, keys, blobs = await self.store.restore_fresh(build)
        for line in warnings.lines():
            self.log.warn("content.restore: {line}", line=line)
        if link is not None:
            os.unlink(link)
        self.last_restore = {"path": path, "keys": keys, "rootref": rootref}
        self.log.info("content.restore: restored {keys} keys ({blobs} blobs)"
                      " from {path} in {secs:.1f}s; checkpoint {ref}"
                      " (sequence 0)", keys=keys, blobs=blobs, path=path,
                      secs=self._clock.seconds() - started,
                      ref=archive.short_blobref(rootref))

    # -- stop: dump, close -----------------------------------------------------

    def stopService(self):
        super().stopService()
        return defer.Deferred.fromCoroutine(self._stop())

    async def _stop(self):
        if self.opened:
            await self.store.flush()
            request = self.attributes.get_default("content.dump")
            if request:
                await self._dump(request)
        self.opened = False
        await self.store.close()

    def dump_paths(self, request):
        """``(archive path, RESTORE link or None)`` for a ``content.dump``
        value."""
        if request != "auto":
            return os.path.join(self.cwd, request), None
        base = auto_base(self.statedir, self.cwd)
        stamp = time.strftime("%Y%m%d_%H%M%S",
                              time.localtime(self._clock.seconds()))
        path, n = os.path.join(base, f"{stamp}.tgz"), 1
        while os.path.exists(path):
            path = os.path.join(base, f"{stamp}-{n}.tgz")
            n += 1
        return path, os.path.join(base, "RESTORE")

    async def _dump(self, request):
        path, link = self.dump_paths(request)
        directory = os.path.dirname(path)
        tmp = os.path.join(directory, "." + os.path.basename(path))
        self.log.info("dumping content to {path}", path=path)
        started = self._clock.seconds()
        errors = _Lines()

        def run(direct):
            primary = direct.roots().get("primary")
            if primary is None:
                raise archive.ArchiveError("no KVS checkpoint to dump")
            progress = archive.Progress("flux-dump", None, self.notify)
            with archive.open_for_write(tmp) as tar:
                dumper = archive.Dumper(direct, tar, primary["timestamp"],
                                        progress, ignore_failed_read=True,
                                        errors=errors)
                dumper.dump(primary["rootref"])
            progress.end()
            _fsync(tmp)
            return progress.keys

        try:
            os.makedirs(directory, exist_ok=True)
            keys = await self.store.read_direct(run)
            os.replace(tmp, path)
            if link is not None:
                _replace_symlink(os.path.basename(path), link)
            _fsync(directory)
        except (FluxError, OSError) as exc:
            for line in errors.lines():
                self.log.error("content.dump: {line}", line=line)
            self.log.error("content.dump: dumping to {path} failed: {why}",
                           path=path, why=getattr(exc, "strerror", None) or exc)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return
        for line in errors.lines():
            self.log.warn("content.dump: {line}", line=line)
        self.last_dump = {"path": path, "keys": keys}
        self.log.info("content.dump: archived {keys} keys to {path} in"
                      " {secs:.1f}s", keys=keys, path=path,
                      secs=self._clock.seconds() - started)

    # -- RPC -----------------------------------------------------------------

    def _ref(self, request):
        raw = request.message.payload or b""
        try:
            return _blobref.from_digest(raw, self.store.hash_name)
        except FluxError:
            raise ProtocolError(f"expected a {self.store.hash_name} digest,"
                                f" got {len(raw)} bytes") from None

    @method("load")
    def rpc_load(self, request):
        """``content-backing.load``: raw digest -> blob, from the store."""
        self.stats["loads"] += 1
        return self.store.load(self._ref(request))

    @method("store")
    async def rpc_store(self, request):
        """``content-backing.store``: blob -> raw digest, once durable."""
        self.stats["stores"] += 1
        data = request.message.payload or b""
        ref = _blobref.hash_blob(data, self.store.hash_name)
        await self.store.write({ref: data}, {})
        return _blobref.to_digest(ref)

    @method("stats-get")
    def flux_stats_get(self, request):
        """Counters, the store's counters, and the full-disk state."""
        out = dict(self.stats)
        out["store"] = dict(getattr(self.store, "stats", {}))
        space = getattr(self.store, "space", None)
        if space is not None:
            out["space"] = space.stats()
        out["last-dump"] = self.last_dump
        out["last-restore"] = self.last_restore
        return out


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_symlink(target, link):
    tmp = link + ".new"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)
