# -*- test-case-name: tests.unit.storage.test_fsck -*-
"""``flux fsck``: check every blob of a content store and every tree.

:func:`fsck` works on an open connection (a stopped broker's
``content.sqlite``, see :class:`fluxd.cli._snapshot.Offline`):

1. sqlite's full ``PRAGMA integrity_check`` (whatever the size);
2. a scan of every stored blob: it must decompress and hash to its
   blobref, else it is *damaged*;
3. a walk of the tree of every namespace root (RFC 11): each ``dirref``
   must name a stored, intact directory, each ``valref`` stored, intact
   blobs; a blob named but not stored is *missing*;
4. every stored blob that no walk reached is *unreachable* (garbage that
   ``flux shutdown --gc`` collects: normal, not an error).

Problems are reported as :class:`Problem` objects naming the key and the
blobref, in walk order.  Pure Python.
"""

import collections
import sqlite3
import zlib

from fluxd.errors import FluxError
from fluxd.storage import blobref as _blobref
from fluxd.storage import treeobj as T
from fluxd.storage.errors import CorruptStore
from fluxd.storage.sqlitedb import RAW, ZLIB, load_blob, read_roots

__all__ = ["Problem", "Report", "fsck"]


class Problem:
    """One damaged, missing or undecodable thing.

    :ivar kind: ``damaged``, ``missing``, ``invalid`` or ``store``.
    :ivar blobref: the blob concerned, or None.
    :ivar where: the namespace and key it was reached from, or None.
    :ivar reason: why, in a few words.
    """

    def __init__(self, kind, blobref, where, reason):
        self.kind, self.blobref, self.where, self.reason = \
            kind, blobref, where, reason

    def line(self):
        """The report line."""
        head = f"{self.where}: " if self.where else ""
        ref = f" {self.blobref}" if self.blobref else ""
        return f"{head}{self.kind}{ref}: {self.reason}"

    def __repr__(self):
        return f"<Problem {self.line()}>"


class Report:
    """What :func:`fsck` found.

    :ivar problems: the :class:`Problem` list (empty when all is well).
    :ivar blobs: how many blobs are stored.
    :ivar reachable: how many of them the walks reached.
    :ivar unreachable: the blobrefs of stored blobs no walk reached.
    :ivar keys: how many keys (values and symlinks) were walked.
    :ivar roots: ``{namespace: rootref}`` walked.
    """

    def __init__(self):
        self.problems = []
        self.blobs = 0
        self.reachable = 0
        self.unreachable = []
        self.keys = 0
        self.roots = {}

    @property
    def ok(self):
        """True when nothing is damaged or missing."""
        return not self.problems


def _scan(conn, report):
    """Check every stored blob; returns ``{digest: None or reason}``."""
    status = {}
    rows = conn.execute("SELECT hash, encoding, object FROM objects")
    while True:
        try:
            row = rows.fetchone()
        except sqlite3.Error as exc:
            report.problems.append(Problem("store", None, None,
                                           f"reading blobs failed: {exc}"))
            break
        if row is None:
            break
        digest, encoding, data = bytes(row[0]), row[1], row[2]
        reason = None
        if not isinstance(data, bytes):
            reason = "not stored as bytes"
        elif encoding == ZLIB:
            try:
                data = zlib.decompress(data)
            except zlib.error:
                reason = "does not decompress"
        elif encoding != RAW:
            reason = f"unknown encoding {encoding!r}"
        if reason is None and not _blobref.matches(digest, data):
            reason = "content does not match its hash"
        status[digest] = reason
    report.blobs = len(status)
    return status


def _ref_name(digest):
    try:
        return _blobref.from_digest(digest)
    except FluxError:
        return "digest " + digest.hex()


class _Walker:
    def __init__(self, conn, status, report):
        self.conn = conn
        self.status = status
        self.report = report
        self.reached = set()

    def _blob(self, ref, where):
        """True when ``ref`` is stored and intact (reported otherwise)."""
        try:
            digest = _blobref.to_digest(ref)
        except FluxError:
            self._problem("invalid", None, where, f"invalid blobref {ref!r}")
            return None
        if digest in self.reached:
            return digest
        self.reached.add(digest)
        if digest not in self.status:
            self._problem("missing", ref, where, "not in the store")
            return None
        if self.status[digest] is not None:
            self._problem("damaged", ref, where, self.status[digest])
            return None
        return digest

    def _problem(self, kind, ref, where, reason):
        self.report.problems.append(Problem(kind, ref, where, reason))

    def _dir(self, ref, where):
        digest = self._blob(ref, where)
        if digest is None:
            return None
        try:
            obj = T.decode(load_blob(self.conn, digest))
        except FluxError as exc:
            self._problem("invalid", ref, where, f"not a tree object ({exc})")
            return None
        if obj["type"] != T.DIR:
            self._problem("invalid", ref, where, "dirref to a non-directory")
            return None
        return obj

    def walk(self, namespace, rootref):
        """Walk one namespace's tree, depth first, without recursion."""
        todo = [((), rootref, True)]
        while todo:
            parts, item, is_ref = todo.pop()
            obj = self._dir(item, _label(namespace, parts)) if is_ref else item
            if obj is None:
                continue
            for name in sorted(obj["data"], reverse=True):
                entry = obj["data"][name]
                sub = parts + (name,)
                kind = entry["type"]
                if kind == T.DIRREF:
                    todo.append((sub, entry["data"][0], True))
                elif kind == T.DIR:
                    todo.append((sub, entry, False))
                else:
                    self.report.keys += 1
                    if kind == T.VALREF:
                        for ref in entry["data"]:
                            self._blob(ref, _label(namespace, sub))


def _label(namespace, parts):
    """``key`` in the primary namespace, ``NS::key`` elsewhere."""
    key = T.join_key(parts)
    return key if namespace == "primary" else f"{namespace}::{key}"


def fsck(conn, integrity=True):
    """Check a content store.

    :param conn: a connection to it (read-only is enough).
    :param integrity: run sqlite's ``integrity_check`` first.
    :returns: a :class:`Report`.
    """
    report = Report()
    if integrity:
        try:
            lines = []
            for (text,) in conn.execute("PRAGMA integrity_check(100)"):
                lines += [line.strip() for line in text.splitlines()
                          if line.strip()]
        except sqlite3.Error as exc:
            lines = [str(exc)]
        if lines != ["ok"]:
            for line in lines:
                report.problems.append(Problem("store", None, None,
                                               f"sqlite: {line}"))
    status = _scan(conn, report)
    walker = _Walker(conn, status, report)
    try:
        roots = read_roots(conn)
    except CorruptStore as exc:
        report.problems.append(Problem("store", None, None,
                                       f"roots unreadable: {exc}"))
        roots = {}
    for namespace in sorted(roots):
        rootref = roots[namespace]["rootref"]
        report.roots[namespace] = rootref
        walker.walk(namespace, rootref)
    for digest, reason in status.items():
        if reason is not None and digest not in walker.reached:
            report.problems.append(Problem("damaged", _ref_name(digest), None,
                                           reason + " (unreachable)"))
    report.reachable = len(walker.reached & set(status))
    report.unreachable = sorted(_ref_name(d) for d in status
                                if d not in walker.reached)
    return report
