# -*- test-case-name: tests.unit.kvs.test_backing -*-
"""The ``content-backing`` service: rank 0's store, from restore to dump.

In flux-core, rc1 loads ``content-sqlite``, restores a dump into it and
loads the KVS; rc3 unloads the KVS, flushes the content cache and dumps
(spec/broker.md section 2.1).  fluxd's KVS is built in, so this module
does that work where the same order holds: it starts before the content
service and stops after it.

At start (rank 0):

- ``content.restore=auto``: if ``${statedir}/dump/RESTORE`` is a
  symlink, the dump it names is restored into a *fresh*
  ``content.sqlite`` (the old file is replaced only once the new one is
  complete), values over 100 MiB skipped as flux-core's rc1 does
  (``--size-limit=100M``); the link is then removed.  A path instead of
  ``auto`` is restored the same way.  The restored root becomes the
  primary namespace at sequence 0, so the KVS version counts commits
  since the last garbage collection (``kvs.gc-threshold``).
- **A restore never discards newer state** (:func:`restore_verdict`):
  each dump records in the store it came from which archive holds which
  root (``dump.archive``, ``dump.rootref`` in the meta table), and each
  restore what it restored.  The archive is restored only over a missing
  or empty store, over the very state it was dumped from, or over a
  damaged store (kept beside, as ``content.sqlite.damaged``).  A store
  with commits newer than the archive is kept, with one line saying so;
  an ``auto`` link is then removed, as it is once restored.
- then the store opens, after its checks; a truncated or corrupt file is
  refused with one line and left as it is (:class:`StartRefused`);
- once the statedir is locked, partial dumps (``dump/.YYYYMMDD_HHMMSS.tgz``,
  hidden while being written) left by an interrupted dump are removed.

At stop: when ``content.dump`` is set (``-S``, or ``flux shutdown
--gc``/``--dump``), the primary root as stored is dumped (``flux dump
--checkpoint --ignore-failed-read``): ``auto`` writes
``${statedir}/dump/YYYYMMDD_HHMMSS.tgz`` and points ``dump/RESTORE`` at
it.  The dump runs in rc3 (:meth:`ContentBackingService.finalize`, the
broker's FINALIZE state), so ``flux shutdown`` streams its progress and
returns after it; should a commit still change the KVS after it, the
service dumps again when it stops.  The archive is written under a
hidden name and renamed when complete, and the link made last, so a
failed or interrupted dump is never restored.  The auto paths use the
statedir when it persists (``-Sstatedir`` without
``statedir-cleanup=1``), else the broker's working directory, as
flux-core does.  Renames and fsyncs run in a thread, never in the
reactor's.

RPCs (owner): ``content-backing.load`` (raw digest -> blob) and
``content-backing.store`` (blob -> raw digest) reach the store without
the content cache (``flux dump/restore --no-cache``);
``content-backing.stats-get`` adds the full-disk state.
"""

import io
import os
import re
import time

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import FluxError, ProtocolError
from fluxd.interfaces import IFinalizeStep
from fluxd.message.router import method
from fluxd.module import Module
from fluxd.storage import archive
from fluxd.storage import blobref as _blobref
from fluxd.storage.errors import CorruptStore
from fluxd.storage.fsync import fsync_path
from fluxd.storage.sqlitedb import root_record
from fluxd.util.blocking import run_blocking

__all__ = ["ContentBackingService", "StartRefused", "auto_base",
           "RESTORE_SIZE_LIMIT", "restore_verdict"]

#: values skipped by the restore at start (flux-core rc1: --size-limit=100M)
RESTORE_SIZE_LIMIT = 100 * 1024 * 1024
#: the hidden name of an auto dump being written
_PARTIAL = re.compile(r"\.\d{8}_\d{6}(-\d+)?\.tgz")


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


def restore_verdict(state, path):
    """Whether the archive ``path`` may be restored over what is stored.

    :param state: what the store's ``inspect()`` found.
    :returns: ``"restore"`` (nothing newer would be lost), ``"damaged"``
        (restore, keeping the damaged store aside), ``"done"`` (this
        archive was restored and nothing committed since) or ``"newer"``
        (the store has commits the archive lacks: refuse).
    """
    if not state["exists"]:
        return "restore"
    if state["corrupt"] is not None:
        return "damaged"
    primary = state["primary"]
    if primary is None:
        return "restore"
    meta = state["meta"]
    rootref = primary["rootref"]
    if meta.get("dump.archive") == path and meta.get("dump.rootref") == rootref:
        return "restore"
    if meta.get("restore.archive") == path and \
            meta.get("restore.rootref") == rootref:
        return "done"
    return "newer"


class _Lines(io.StringIO):
    """Collects text a worker thread writes; logged later in the reactor."""

    def lines(self):
        return [line.strip("\r") for line in self.getvalue().splitlines()
                if line.strip("\r")]


@implementer(IFinalizeStep)
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
        # the dump made in rc3: (request, rootref, path), or None
        self._dumped = None

    # -- start: restore, open --------------------------------------------------

    def startService(self):
        super().startService()
        return defer.Deferred.fromCoroutine(self._start())

    async def _start(self):
        base = auto_base(self.statedir, self.cwd)
        request = self.restore_request()
        link = os.path.join(base, "RESTORE")
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
        if self.statedir is not None:
            # the store holds the statedir's lock now: no other broker
            # can be writing a dump there
            for path in await run_blocking(self._clock, _remove_partial, base):
                self.log.warn("content.dump: removed {path}, the partial"
                              " archive of an interrupted dump", path=path)

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
        return os.path.realpath(os.path.join(self.cwd, value)), None

    async def _restore(self, path, link):
        if not os.path.exists(path):
            self.log.warn("content.restore: {path} does not exist: nothing"
                          " restored", path=path)
            if link is not None:
                os.unlink(link)
            return
        state = await self.store.inspect()
        verdict = restore_verdict(state, path)
        if verdict in ("newer", "done"):
            self._not_restored(verdict, path, link, state["primary"])
            return
        keep = None
        if verdict == "damaged":
            keep = _free_name(self.store.path + ".damaged")
            self.log.warn("content.restore: {why}; it is kept as {keep}",
                          why=state["corrupt"], keep=keep)
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
            direct.set_meta({"restore.archive": path,
                             "restore.rootref": rootref,
                             "dump.archive": None, "dump.rootref": None})
            progress.end()
            return rootref, progress.keys, progress.blobs

        if keep is None:
            result = await self.store.restore_fresh(build)
        else:
            result = await self.store.restore_fresh(build, keep_old=keep)
        rootref, keys, blobs = result
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

    def _not_restored(self, verdict, path, link, primary):
        if verdict == "done":
            self.log.info("content.restore: {path} was restored before and"
                          " nothing was committed since: not restored again",
                          path=path)
        elif link is not None:
            self.log.warn(
                "content.restore: not restoring {path}: the KVS has commits"
                " newer than that dump (primary namespace at sequence {seq});"
                " the RESTORE link is removed, the dump kept", path=path,
                seq=primary["sequence"])
        else:
            self.log.warn(
                "content.restore: not restoring {path}: {db} has commits"
                " newer than that archive (primary namespace at sequence"
                " {seq}); move {db} aside to restore it", path=path,
                db=getattr(self.store, "path", "the store"),
                seq=primary["sequence"])
        if link is not None:
            os.unlink(link)

    # -- rc3 and stop: dump, close ---------------------------------------------

    def finalize(self):
        """rc3 (:class:`~fluxd.interfaces.IFinalizeStep`): the dump asked
        for by ``content.dump``, while ``flux shutdown`` still streams the
        log.

        :returns: a Deferred firing with 0 (a failed dump is logged; it
            does not fail rc3).
        """
        return defer.Deferred.fromCoroutine(self._finalize())

    async def _finalize(self):
        request = self.attributes.get_default("content.dump")
        if self.opened and request:
            await self.store.flush()
            dumped = await self._dump(request)
            if dumped is not None:
                self._dumped = (request,) + dumped
        return 0

    def stopService(self):
        super().stopService()
        return defer.Deferred.fromCoroutine(self._stop())

    async def _stop(self):
        if self.opened:
            await self.store.flush()
            request = self.attributes.get_default("content.dump")
            if request and await self._dump_stale(request):
                await self._dump(request)
        self.opened = False
        await self.store.close()

    async def _dump_stale(self, request):
        """Whether the rc3 dump (if any) misses what is stored now."""
        if self._dumped is None or self._dumped[0] != request:
            return True
        primary = (await self.store.roots()).get("primary")
        if primary is not None and primary["rootref"] == self._dumped[1]:
            return False
        self.log.info("content.dump: the KVS changed after the dump to"
                      " {path}: dumping again", path=self._dumped[2])
        return True

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
        """Dump the stored primary root.

        :returns: ``(rootref, path)`` once the archive is in place, or
            None when the dump failed (logged).
        """
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
            fsync_path(tmp)
            return progress.keys, primary["rootref"]

        try:
            await run_blocking(self._clock, os.makedirs, directory,
                               exist_ok=True)
            keys, rootref = await self.store.read_direct(run)
            await run_blocking(self._clock, os.replace, tmp, path)
            # what this archive holds, recorded in the store before the
            # link makes it restorable (see restore_verdict)
            await self.store.record_meta({"dump.archive": os.path.realpath(path),
                                          "dump.rootref": rootref})
            await run_blocking(self._clock, _link_and_sync, path, link)
        except (FluxError, OSError) as exc:
            for line in errors.lines():
                self.log.error("content.dump: {line}", line=line)
            self.log.error("content.dump: dumping to {path} failed: {why}",
                           path=path, why=getattr(exc, "strerror", None) or exc)
            await run_blocking(self._clock, _unlink_quietly, tmp)
            return None
        for line in errors.lines():
            self.log.warn("content.dump: {line}", line=line)
        if self._dumped is not None and link is not None and \
                self._dumped[2] != path:
            # superseded by this one: the RESTORE link has moved on
            await run_blocking(self._clock, _unlink_quietly, self._dumped[2])
        self.last_dump = {"path": path, "keys": keys}
        self.log.info("content.dump: archived {keys} keys to {path} in"
                      " {secs:.1f}s", keys=keys, path=path,
                      secs=self._clock.seconds() - started)
        return rootref, path

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


def _remove_partial(base):
    """Remove the hidden archives of interrupted auto dumps; returns them."""
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    removed = []
    for name in sorted(names):
        if _PARTIAL.fullmatch(name):
            path = os.path.join(base, name)
            _unlink_quietly(path)
            removed.append(path)
    return removed


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _free_name(path):
    """``path``, or ``path-N`` for the first N that does not exist."""
    found, n = path, 1
    while os.path.lexists(found):
        found = f"{path}-{n}"
        n += 1
    return found


def _link_and_sync(path, link):
    """Point ``link`` at ``path`` (when given) and sync the directory."""
    if link is not None:
        tmp = link + ".new"
        _unlink_quietly(tmp)
        os.symlink(os.path.basename(path), tmp)
        os.replace(tmp, link)
    fsync_path(os.path.dirname(path))
