# -*- test-case-name: tests.unit.cli.test_cmd_dump -*-
"""What ``flux dump`` and ``flux restore`` share: blob sources and sinks.

Online, blobs travel over the broker's local socket, many requests in
flight at once (``--maxreqs``; flux-core's rc3 uses 128), through the
content cache (``content.load``/``content.store``) or around it
(``--no-cache``: ``content-backing.load``/``store`` on rank 0).

Offline (``--statedir=DIR``, a **[fluxd]** option: flux-core's commands
always need a broker, whose KVS module can be unloaded), the commands
open ``DIR/content.sqlite`` directly, with the statedir locked so that
no broker starts on it meanwhile; a broker running on it makes them
refuse.  The file is checked as the broker checks it at start
(:func:`fluxd.storage.check.check_store`).

No Twisted here: the ``flux`` command stays quick to start.
"""

import argparse
import collections
import os
import sys

from fluxd.errors import FluxError, InvalidArgument, NotFound, ProtocolError
from fluxd.message.types import NODEID_ANY
from fluxd.storage import blobref as _blobref
from fluxd.storage import check as _check
from fluxd.storage import sqlitedb
from fluxd.storage.sdnotify import SdNotify

__all__ = ["Parser", "RemoteBlobs", "RemoteSink", "Offline", "notifier",
           "STORE_FILE"]

STORE_FILE = "content.sqlite"
DEFAULT_MAXREQS = 128


class Parser(argparse.ArgumentParser):
    """argparse with errors raised as InvalidArgument (one line, rc 1)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        raise InvalidArgument(message)


def add_common(parser):
    """The options both commands have."""
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="List keys on stderr as they are processed")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="Don't show periodic progress updates")
    parser.add_argument("--checkpoint", action="store_true",
                        help="Use the KVS checkpoint in the content backing"
                             " store")
    parser.add_argument("--no-cache", action="store_true",
                        help="Bypass the broker content cache")
    parser.add_argument("--sd-notify", action="store_true",
                        help="Send progress to systemd (NOTIFY_SOCKET)")
    parser.add_argument("--maxreqs", type=int, default=DEFAULT_MAXREQS,
                        metavar="N",
                        help="Keep up to N content requests in flight"
                             f" (default {DEFAULT_MAXREQS})")
    parser.add_argument("--statedir", metavar="DIR",
                        help="Work on DIR/content.sqlite of a stopped"
                             " broker instead of a running one")


def check_common(args):
    """Refuse bad values before doing anything."""
    if args.maxreqs < 1:
        raise InvalidArgument("--maxreqs must be at least 1")


def notifier(args, h=None):
    """The ``sd_notify`` sender, when ``--sd-notify`` is given or the
    broker says it talks to systemd (``broker.sd-notify``), else None."""
    wanted = args.sd_notify
    if not wanted and h is not None:
        try:
            value = h.rpc("attr.get", {"name": "broker.sd-notify"})["value"]
        except FluxError:
            value = None
        wanted = value not in (None, "", "0")
    return SdNotify() if wanted else None


class RemoteBlobs:
    """Loads blobs from the broker, reading ahead in walk order.

    :param h: a :class:`fluxd.client.sync.Flux` handle.
    :param bypass: use ``content-backing.load`` on rank 0 (no cache).
    :param maxreqs: requests in flight at most.
    """

    def __init__(self, h, bypass=False, maxreqs=DEFAULT_MAXREQS):
        self._h = h
        self._topic = "content-backing.load" if bypass else "content.load"
        self._nodeid = 0 if bypass else NODEID_ANY
        self._maxreqs = maxreqs
        self._queue = collections.deque()
        self._wanted = set()        # queued and not loaded meanwhile
        self._inflight = {}

    def prefetch(self, refs):
        """Blobs about to be needed: they go to the front of the queue,
        so the read-ahead follows a depth-first walk."""
        refs = list(refs)
        self._queue.extendleft(reversed(refs))
        self._wanted.update(refs)
        self._fill()

    def _send(self, ref):
        self._inflight[ref] = self._h.send(
            self._topic, _blobref.to_digest(ref), self._nodeid)

    def _fill(self):
        while self._queue and len(self._inflight) < self._maxreqs:
            ref = self._queue.popleft()
            if ref in self._wanted and ref not in self._inflight:
                self._wanted.discard(ref)
                self._send(ref)

    def load(self, ref):
        """The blob named ``ref`` (FluxError from the broker)."""
        # asked for before its turn in the queue: fetched now, not twice
        self._wanted.discard(ref)
        if ref not in self._inflight:
            self._send(ref)
        token = self._inflight.pop(ref)
        try:
            data = self._h.wait(token) or b""
        finally:
            self._fill()
        return data


class RemoteSink:
    """Stores blobs through the broker, many in flight at once.

    :param h: a :class:`fluxd.client.sync.Flux` handle.
    :param hash_name: the instance hash (the answers are checked).
    :param bypass: use ``content-backing.store`` on rank 0 (no cache).
    """

    def __init__(self, h, hash_name, bypass=False, maxreqs=DEFAULT_MAXREQS):
        self._h = h
        self.hash_name = hash_name
        self._topic = "content-backing.store" if bypass else "content.store"
        self._nodeid = 0 if bypass else NODEID_ANY
        self._maxreqs = maxreqs

    def store(self, blobs):
        """Store ``{ref: bytes}``; returns once every one is answered."""
        inflight = collections.deque()
        for ref, data in blobs.items():
            inflight.append((ref, self._h.send(self._topic, data,
                                               self._nodeid)))
            if len(inflight) >= self._maxreqs:
                self._answer(*inflight.popleft())
        while inflight:
            self._answer(*inflight.popleft())

    def _answer(self, ref, token):
        try:
            digest = self._h.wait(token) or b""
        except FluxError as exc:
            raise FluxError(f"error storing blob: {exc}",
                            errnum=exc.errno) from None
        if _blobref.from_digest(digest, self.hash_name) != ref:
            raise ProtocolError(f"the broker stored {ref} under another name")


class Offline:
    """A stopped broker's ``content.sqlite``, opened directly.

    :param statedir: the broker's statedir.
    :param create: make the store when it does not exist (restore).
    :param readonly: open it read-only and never write it, not even a
        checkpoint of its ``-wal`` (``flux fsck``).
    :param checks: run the start-up checks first (:mod:`fluxd.storage.check`).
    :raises FluxError: when the store is missing (and not ``create``),
        corrupt, or in use by a running broker.
    """

    def __init__(self, statedir, create=False, readonly=False, checks=True):
        self.statedir = statedir
        self.path = os.path.join(statedir, STORE_FILE)
        if not os.path.isdir(statedir):
            raise NotFound(f"{statedir}: No such directory")
        self._lock = sqlitedb.StateLock(statedir)
        self._lock.acquire()
        self.conn = None
        self.readonly = readonly
        try:
            exists = _check.check_file(self.path)
            if not exists and not create:
                raise NotFound(f"{self.path}: No such file or directory")
            if exists and checks:
                _check.check_store(self.path)
            if readonly:
                self.conn = _check.open_readonly(self.path)
            else:
                self.conn = sqlitedb.connect(self.path)
            meta = sqlitedb.read_meta(self.conn) if exists else {}
            self.hash_name = meta.get("hash", "sha1")
            if create:
                sqlitedb.init_schema(self.conn, self.hash_name)
        except BaseException:
            self.close()
            raise

    def store(self):
        """The :class:`~fluxd.storage.sqlitedb.DirectStore` over the file."""
        return sqlitedb.DirectStore(self.conn, self.hash_name)

    def primary(self):
        """The stored primary root record.

        :raises NotFound: when there is none (no KVS ever ran).
        """
        rec = sqlitedb.read_roots(self.conn).get("primary")
        if rec is None:
            raise NotFound(f"{self.path}: no KVS checkpoint")
        return rec

    def close(self):
        """Checkpoint, close and unlock (idempotent)."""
        if self.conn is not None:
            try:
                if not self.readonly:
                    sqlitedb.checkpoint(self.conn)
            finally:
                self.conn.close()
                self.conn = None
        self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
