# -*- test-case-name: tests.unit.kvs.test_wiring -*-
"""Build the content-backing, content, kvs and kvs-watch services of one
broker.

Called from :func:`fluxd.broker.build_broker`.  Rank 0 gets a backing
store: ``content.sqlite`` in the ``-Sstatedir`` directory, or memory when
no statedir is given (state ends with the broker, as in Flux), run by a
:class:`~fluxd.kvs.backing.ContentBackingService` (restore at start, dump
at stop).  An existing ``content.sqlite`` is checked here, before twistd
daemonizes: a truncated or corrupt file stops the broker with one line on
the terminal (unless a restore will replace it).
"""

import os

from fluxd.config import parse_duration_key
from fluxd.errors import FluxError, InvalidArgument
from fluxd.kvs.backing import ContentBackingService, refusal
from fluxd.kvs.content import MemoryContentStore, SqliteContentStore
from fluxd.kvs.content_service import DEFAULT_BLOB_LIMIT, ContentService
from fluxd.kvs.service import KVSService
from fluxd.kvs.watch import WatchService
from fluxd.storage.blobref import check_hash_name
from fluxd.storage.check import check_file
from fluxd.storage.sdnotify import SdNotify

__all__ = ["build_kvs_modules", "STORE_FILE"]

STORE_FILE = "content.sqlite"


def _blob_limit(attrs):
    text = attrs.get_default("content.blob-size-limit")
    if text is None:
        return DEFAULT_BLOB_LIMIT
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if limit <= 0:
        raise InvalidArgument(f"content.blob-size-limit {text!r}: expected a"
                              " positive number of bytes")
    return limit


def _notifier(attrs, environ):
    # as the broker's own sd_notify: on with broker.sd-notify=1, off with
    # 0, and when unset on exactly when systemd passed NOTIFY_SOCKET
    setting = attrs.get_default("broker.sd-notify")
    notify = SdNotify(environ)
    if notify.address is None or setting in ("0", "false", "no"):
        return None
    return notify


def build_kvs_modules(reactor, rank, router, events, attrs, config, owner,
                      statedir=None, cwd=None, environ=None):
    """The KVS modules, in start order: content-backing (rank 0), content,
    kvs, kvs-watch.

    :param reactor: the reactor (the sqlite store's threads report to it).
    :param events: the broker's :class:`~fluxd.events.EventService`.
    :param attrs: the broker attributes (``content.hash``,
        ``content.blob-size-limit``).
    :param config: the :class:`fluxd.config.Config` (``[kvs]`` and
        ``[content-sqlite]`` keys).
    :param owner: the instance owner's uid.
    :param statedir: the ``-Sstatedir`` directory, or None for a memory
        store (a temporary statedir made for other state does not count).
    :param cwd: the broker's working directory (``auto`` dumps without a
        persistent statedir; relative dump/restore paths).
    :param environ: the environment (``NOTIFY_SOCKET``).
    :raises InvalidArgument: for unusable attribute values.
    :raises fluxd.kvs.backing.StartRefused: for a corrupt ``content.sqlite``.
    """
    hash_name = check_hash_name(attrs.get_default("content.hash", "sha1"))
    limit = _blob_limit(attrs)
    store = backing = None
    if rank == 0:
        persistent = None
        if statedir:
            os.makedirs(statedir, mode=0o700, exist_ok=True)
            if attrs.get_default("statedir-cleanup") != "1":
                persistent = statedir
            store = SqliteContentStore(
                reactor, os.path.join(statedir, STORE_FILE), hash_name,
                synchronous=config.get("content-sqlite.synchronous", "FULL"),
                journal_mode=config.get("content-sqlite.journal_mode", "WAL"))
        else:
            store = MemoryContentStore(hash_name)
        backing = ContentBackingService(
            store, attrs, owner, reactor, statedir=persistent,
            cwd=cwd or os.getcwd(),
            notify=_notifier(attrs, os.environ if environ is None else environ))
        if statedir and backing.restore_request() is None:
            try:
                check_file(store.path)
            except FluxError as exc:
                raise refusal(exc) from None
    period = None
    if config.is_set("kvs.checkpoint-period"):
        period = parse_duration_key(config, "kvs.checkpoint-period")
    content = ContentService(rank, router, store, hash_name, limit, owner=owner,
                             manage_store=backing is None)
    kvs = KVSService(rank, router, content, events, owner, blob_limit=limit,
                     checkpoint_period=period)
    modules = [content, kvs, WatchService(rank, kvs)]
    if backing is not None:
        modules.insert(0, backing)
    return modules
