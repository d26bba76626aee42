# -*- test-case-name: tests.unit.kvs.test_wiring -*-
"""Build the content, kvs and kvs-watch services of one broker.

Called from :func:`fluxd.broker.build_broker`.  Rank 0 gets a backing
store: ``content.sqlite`` in the ``-Sstatedir`` directory, or memory when
no statedir is given (state ends with the broker, as in Flux).
"""

import os

from fluxd.config import parse_duration_key
from fluxd.errors import InvalidArgument
from fluxd.kvs.blobref import check_hash_name
from fluxd.kvs.content import MemoryContentStore, SqliteContentStore
from fluxd.kvs.content_service import DEFAULT_BLOB_LIMIT, ContentService
from fluxd.kvs.service import KVSService
from fluxd.kvs.watch import WatchService

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


def build_kvs_modules(reactor, rank, router, events, attrs, config, owner,
                      statedir=None):
    """The KVS modules, in start order: content, kvs, kvs-watch.

    :param reactor: the reactor (the sqlite store's threads report to it).
    :param events: the broker's :class:`~fluxd.events.EventService`.
    :param attrs: the broker attributes (``content.hash``,
        ``content.blob-size-limit``).
    :param config: the :class:`fluxd.config.Config` (``[kvs]`` and
        ``[content-sqlite]`` keys).
    :param owner: the instance owner's uid.
    :param statedir: the ``-Sstatedir`` directory, or None for a memory
        store (a temporary statedir made for other state does not count).
    :raises InvalidArgument: for unusable attribute values.
    """
    hash_name = check_hash_name(attrs.get_default("content.hash", "sha1"))
    limit = _blob_limit(attrs)
    store = None
    if rank == 0:
        if statedir:
            os.makedirs(statedir, mode=0o700, exist_ok=True)
            store = SqliteContentStore(
                reactor, os.path.join(statedir, STORE_FILE), hash_name,
                synchronous=config.get("content-sqlite.synchronous", "FULL"),
                journal_mode=config.get("content-sqlite.journal_mode", "WAL"))
        else:
            store = MemoryContentStore(hash_name)
    period = None
    if config.is_set("kvs.checkpoint-period"):
        period = parse_duration_key(config, "kvs.checkpoint-period")
    content = ContentService(rank, router, store, hash_name, limit, owner=owner)
    kvs = KVSService(rank, router, content, events, owner, blob_limit=limit,
                     checkpoint_period=period)
    return [content, kvs, WatchService(rank, kvs)]
