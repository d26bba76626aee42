# -*- test-case-name: tests.unit.storage.test_txn -*-
"""Applying KVS transactions to a root directory (RFC 11 commit rules).

A transaction is an ordered list of operations ``{key, flags, dirent}``;
a ``null`` dirent unlinks the key, the ``APPEND`` flag appends a ``val``
to the key's value.  :func:`check_ops` validates a request's operations
up front, so a bad one fails the commit before anything is stored.
:class:`Transaction` applies them, copy-on-write, to an immutable root
directory: walking a key turns each ``dirref`` on the path into a private
``dir`` copy, so the previous root (and every cached directory) is left
intact and a failed transaction costs nothing to undo.
:func:`unroll` then serializes every new directory and every long ``val``
into blobs, giving the new root's blobref.

The rules follow flux-core's ``kvstxn.c``: a missing or non-directory
path component is replaced by a new directory (unless unlinking, which
then does nothing), a symlink on the path is followed within the same
namespace, appending to a ``val`` turns it into a ``valref``.

Pure Python; blobs come from a synchronous ``get_object(ref)`` that
raises :class:`~fluxd.storage.errors.MissingRef` when the caller must load
one first and retry.
"""

import base64

from fluxd.errors import InvalidArgument, ProtocolError
from fluxd.storage import treeobj as T
from fluxd.storage.errors import (
    Corrupt, IsADirectory, NotSupported, TooLarge, TooManyLinks)

__all__ = ["APPEND", "NO_MERGE", "TXN_COMPACT", "SYNC", "COMMIT_FLAGS",
           "check_sizes",
           "Op", "check_ops", "compact", "Transaction", "unroll",
           "SYMLINK_LIMIT"]

#: operation flag: append the val to the key's value
APPEND = 32
#: commit flags (RFC 11 / flux-core ``kvs.commit``)
NO_MERGE, TXN_COMPACT, SYNC = 1, 2, 4
COMMIT_FLAGS = NO_MERGE | TXN_COMPACT | SYNC

#: symlinks followed on one path before giving up with ELOOP (flux-core)
SYMLINK_LIMIT = 10


class Op:
    """One checked operation.

    :ivar key: the normalized key text.
    :ivar parts: its path components.
    :ivar flags: 0 or :data:`APPEND`.
    :ivar dirent: a tree object, or None to unlink.
    """

    __slots__ = ("key", "parts", "flags", "dirent")

    def __init__(self, key, parts, flags, dirent):
        self.key, self.parts, self.flags, self.dirent = key, parts, flags, dirent

    def __repr__(self):
        return f"Op({self.key!r}, {self.flags}, {self.dirent!r})"


def check_ops(ops, blob_limit=None):
    """Validate the ``ops`` array of a commit request.

    :param blob_limit: the largest value (bytes) a ``val`` may hold.
    :returns: a list of :class:`Op`.
    :raises InvalidArgument: naming the operation and the problem (EINVAL;
        EFBIG for an oversized value; EPROTO for a malformed operation).
    """
    if not isinstance(ops, list):
        raise ProtocolError("commit ops must be an array")
    checked = []
    for index, op in enumerate(ops):
        if not isinstance(op, dict) or set(op) != {"key", "flags", "dirent"}:
            raise ProtocolError(f"commit op {index} must be an object with"
                                " key, flags and dirent")
        key, flags, dirent = op["key"], op["flags"], op["dirent"]
        parts, _ = T.split_key(key)
        name = T.join_key(parts)
        if not parts:
            raise InvalidArgument(f"key {key!r}: cannot replace the root directory")
        if not isinstance(flags, int) or isinstance(flags, bool) or \
                flags not in (0, APPEND):
            raise InvalidArgument(f"key {name!r}: invalid operation flags {flags!r}")
        if dirent is not None:
            T.validate(dirent, f"key {name!r}")
            if blob_limit is not None:
                check_sizes(dirent, name, blob_limit)
        if flags & APPEND and (dirent is None or dirent["type"] != T.VAL):
            raise ProtocolError(f"key {name!r}: append needs a val tree object")
        checked.append(Op(name, parts, flags, dirent))
    return checked


def check_sizes(obj, name, limit):
    """Raise :class:`TooLarge` when a value of the tree object ``obj``
    (at ``name``) holds more than ``limit`` bytes."""
    if obj["type"] == T.VAL:
        size = len(obj["data"]) // 4 * 3
        if size > limit:
            size = len(T.decode_val(obj))
        if size > limit:
            raise TooLarge(f"key {name!r}: value of {size} bytes exceeds the"
                           f" blob size limit of {limit} bytes")
    elif obj["type"] == T.DIR:
        for entry in obj["data"].values():
            check_sizes(entry, name, limit)


def compact(ops):
    """Combine appends to the same key (the ``TXN_COMPACT`` commit flag).

    An append is folded into an earlier put or append of a ``val`` on the
    same key when no operation in between touches that key, one of its
    parent directories or anything below it, so the result is the same
    as applying every operation in turn, with fewer blobs.

    :param ops: checked :class:`Op` objects.
    :returns: a new list of :class:`Op`.
    """
    out = []
    open_vals = {}          # key -> index in out of a val put/append
    for op in ops:
        merged = False
        target = open_vals.get(op.key)
        if op.flags & APPEND and target is not None:
            prev = out[target]
            data = T.decode_val(prev.dirent) + T.decode_val(op.dirent)
            out[target] = Op(prev.key, prev.parts, prev.flags, T.create_val(data))
            merged = True
        if merged:
            continue
        # anything at, above or below this key ends the chance to merge
        for k in [k for k in open_vals
                  if k == op.key or k.startswith(op.key + ".")
                  or op.key.startswith(k + ".")]:
            del open_vals[k]
        out.append(op)
        if op.dirent is not None and op.dirent["type"] == T.VAL:
            open_vals[op.key] = len(out) - 1
    return out


class Transaction:
    """Apply operations to a root directory, copy-on-write.

    :param get_object: ``get_object(ref)`` returns the decoded tree object
        stored under ``ref`` or raises ``MissingRef(ref)``.
    :param hash_blob: ``hash_blob(bytes) -> blobref``.
    :param namespace: the namespace being changed (symlinks into another
        namespace cannot be followed by a commit).
    """

    def __init__(self, get_object, hash_blob, namespace):
        self._get = get_object
        self._hash = hash_blob
        self.namespace = namespace
        self._owned = set()
        #: blobs made by appends: blobref -> bytes
        self.blobs = {}
        #: blobrefs of the stored directories this transaction copied:
        #: once it is committed, older versions
        self.replaced = set()

    def apply(self, root, ops):
        """Apply ``ops`` (checked :class:`Op`) to the dir ``root``.

        ``root`` is not modified.  May raise ``MissingRef``: load the blob
        and call :meth:`resume` (or call again with a fresh
        :class:`Transaction`).

        :returns: the new root ``dir`` (sharing untouched entries).
        :raises FluxError: when an operation cannot be applied.
        """
        self._owned = set()
        self.blobs = {}
        self.replaced = set()
        self.root = self._own(root)
        self._ops = ops
        self._next = 0
        return self.resume()

    def resume(self):
        """Go on after a ``MissingRef`` once the blob can be had: the
        operations before the one that stopped stay applied (an operation
        stopped on the way down has only made private copies of the
        directories above, equal to the originals).

        :returns: the new root ``dir``.
        """
        ops, root = self._ops, self.root
        while self._next < len(ops):
            op = ops[self._next]
            self._link(root, op, op.parts, 0)
            self._next += 1
        return root

    def missing(self, have):
        """The blobrefs the remaining operations would stop on next:
        walking each remaining key as far as ``have(ref)`` allows (a
        look-ahead, so that a caller loads them together)."""
        refs = set()
        for op in self._ops[self._next:]:
            current = self.root
            for name in op.parts[:-1]:
                entry = current["data"].get(name)
                kind = entry["type"] if entry is not None else None
                if kind == T.DIR:
                    current = entry
                    continue
                if kind == T.DIRREF:
                    ref = entry["data"][0]
                    obj = have(ref)
                    if obj is None:
                        refs.add(ref)
                    elif obj.get("type") == T.DIR:
                        current = obj
                        continue
                break
        return refs

    def _own(self, dirobj):
        # A private shallow copy that this transaction may change in place.
        data = dirobj["data"]
        if data.__class__ is T.DirData and data.parts is None and \
                data.base is not None:
            # a working copy of an earlier transaction of the same batch:
            # copied from its own base, with the names it changed
            new = T.DirData(data, data.base)
            new.changed = None if data.changed is None else set(data.changed)
        else:
            new = T.DirData(data, data)
        copy = {"ver": 1, "type": T.DIR, "data": new}
        self._owned.add(id(copy["data"]))
        return copy

    def _new_dir(self):
        obj = {"ver": 1, "type": T.DIR, "data": T.DirData()}
        self._owned.add(id(obj["data"]))
        return obj

    def _subdir(self, parent, name, entry):
        kind = entry["type"]
        if kind == T.DIR:
            if id(entry["data"]) in self._owned:
                return entry
            sub = self._own(entry)
        else:   # DIRREF
            ref = entry["data"][0]
            obj = self._get(ref)
            self.replaced.add(ref)
            if obj.get("type") != T.DIR:
                raise Corrupt(f"dirref {entry['data'][0]} does not point to"
                              " a directory")
            sub = self._own(obj)
        data = parent["data"]
        data[name] = sub
        data.note(name)
        return sub

    def _link(self, root, op, parts, depth):
        current = root
        for i, name in enumerate(parts[:-1]):
            entry = current["data"].get(name)
            kind = entry["type"] if entry is not None else None
            if kind in (T.DIR, T.DIRREF):
                current = self._subdir(current, name, entry)
            elif kind == T.SYMLINK:
                self._follow(root, op, entry, parts[i + 1:], depth)
                return
            else:
                if op.dirent is None:
                    return      # unlinking below a missing key: nothing to do
                sub = self._new_dir()
                current["data"][name] = sub
                current["data"].note(name)
                current = sub
        name = parts[-1]
        data = current["data"]
        if op.dirent is None:
            data.pop(name, None)
        elif op.flags & APPEND:
            self._append(current, name, op)
        else:
            data[name] = op.dirent
        data.note(name)

    def _follow(self, root, op, link, rest, depth):
        if depth >= SYMLINK_LIMIT:
            raise TooManyLinks(f"key {op.key!r}: too many levels of symbolic links")
        data = link["data"]
        if "namespace" in data and data["namespace"] != self.namespace:
            raise InvalidArgument(f"key {op.key!r}: a commit cannot follow a"
                                  f" symlink into namespace {data['namespace']!r}")
        target, _ = T.split_key(data["target"])
        self._link(root, op, target + tuple(rest), depth + 1)

    def _store(self, data):
        ref = self._hash(data)
        self.blobs[ref] = data
        return ref

    def _append(self, parent, name, op):
        entry = parent["data"].get(name)
        new = T.decode_val(op.dirent)
        if entry is None:
            parent["data"][name] = op.dirent      # (noted by _link)
            return
        kind = entry["type"]
        if kind == T.VALREF:
            refs = entry["data"] + [self._store(new)]
        elif kind == T.VAL:
            refs = [self._store(T.decode_val(entry)), self._store(new)]
        elif kind == T.SYMLINK:
            raise NotSupported(f"key {op.key!r}: cannot append to a symlink")
        else:
            raise IsADirectory(f"key {op.key!r}: cannot append to a directory")
        parent["data"][name] = {"ver": 1, "type": T.VALREF, "data": refs}


def unroll(root, hash_blob):
    """Turn a working root into blobs.

    Every ``dir`` reached through ``dir`` entries is serialized, stored
    and replaced by a ``dirref`` (depth first); every ``val`` whose base64
    text exceeds :data:`~fluxd.storage.treeobj.VAL_INLINE_MAX` characters
    becomes a ``valref``.  ``root`` and its new sub-directories are
    changed in place and must not be used afterwards except as the
    returned (now immutable) objects.

    :returns: ``(rootref, blobs, objects)``: the new root's blobref,
        ``{blobref: bytes}`` to store, ``{blobref: decoded dir}`` of the
        new directories (root included) for the caller's cache.
    """
    blobs, objects = {}, {}
    rootref = _unroll_dir(root, hash_blob, blobs, objects)
    return rootref, blobs, objects


def _unroll_dir(dirobj, hash_blob, blobs, objects):
    data = dirobj["data"]
    changed = T.changed_names(data)
    # an entry kept from an encoded base is neither a dir nor a long val
    names = list(data) if changed is None else \
        [name for name in changed if name in data]
    for name in names:
        entry = data[name]
        kind = entry["type"]
        if kind == T.DIR:
            ref = _unroll_dir(entry, hash_blob, blobs, objects)
            data[name] = {"ver": 1, "type": T.DIRREF, "data": [ref]}
        elif kind == T.VAL and len(entry["data"]) > T.VAL_INLINE_MAX:
            value = base64.b64decode(entry["data"])
            ref = hash_blob(value)
            blobs[ref] = value
            data[name] = {"ver": 1, "type": T.VALREF, "data": [ref]}
    encoded = T.encode_dir(dirobj)
    ref = hash_blob(encoded)
    blobs[ref] = encoded
    objects[ref] = dirobj
    return ref
