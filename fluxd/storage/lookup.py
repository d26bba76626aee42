# -*- test-case-name: tests.unit.storage.test_lookup -*-
"""Resolving a key against a root directory (RFC 11 lookup).

:func:`walk` follows a key from a root blobref through ``dir`` and
``dirref`` entries, following symlinks on the way (and at the end unless
``READLINK`` or ``TREEOBJ`` is asked), and applies the lookup flags to
what it finds, with flux-core's error numbers: ENOENT for a missing key,
EISDIR for a directory read as a value, ENOTDIR for a value read as a
directory, EINVAL for ``READLINK`` of something else, ELOOP after
:data:`~fluxd.storage.txn.SYMLINK_LIMIT` symlinks.

A symlink into another namespace ends the walk with :class:`Redirect`:
the caller checks access and continues there.  A ``valref`` is returned
as is; the caller fetches and joins its blobs.

Pure Python with the same ``get_object``/``MissingRef`` contract as
:mod:`fluxd.storage.txn`.
"""

from fluxd.errors import InvalidArgument, NotFound, ProtocolError
from fluxd.storage import treeobj as T
from fluxd.storage.errors import Corrupt, IsADirectory, NotADirectory, TooManyLinks
from fluxd.storage.txn import SYMLINK_LIMIT

__all__ = ["READDIR", "READLINK", "WATCH", "WAITCREATE", "TREEOBJ",
           "WATCH_FULL", "WATCH_UNIQ", "WATCH_APPEND", "STREAM",
           "WATCH_INITIAL_SENTINEL", "LOOKUP_FLAGS", "WATCH_FLAGS",
           "Redirect", "walk"]

READDIR, READLINK, WATCH, WAITCREATE, TREEOBJ = 1, 2, 4, 8, 16
WATCH_FULL, WATCH_UNIQ, WATCH_APPEND, STREAM = 64, 128, 256, 512
WATCH_INITIAL_SENTINEL = 1024
#: flags a plain ``kvs.lookup`` accepts
LOOKUP_FLAGS = READDIR | READLINK | TREEOBJ
#: flags that send a lookup to ``kvs-watch.lookup`` instead
WATCH_FLAGS = (WATCH | WAITCREATE | WATCH_FULL | WATCH_UNIQ | WATCH_APPEND
               | STREAM | WATCH_INITIAL_SENTINEL)


class Redirect(Exception):
    """The walk reached a symlink into another namespace.

    :ivar namespace: where to continue.
    :ivar parts: the key components to look up there.
    :ivar depth: symlinks followed so far.
    """

    def __init__(self, namespace, parts, depth):
        super().__init__(namespace)
        self.namespace, self.parts, self.depth = namespace, parts, depth


def _dir_of(get_object, ref):
    obj = get_object(ref)
    if obj.get("type") != T.DIR:
        raise Corrupt(f"dirref {ref} does not point to a directory")
    return obj


def walk(get_object, rootref, parts, flags=0, want_dir=False, depth=0):
    """Look up key ``parts`` under the root directory ``rootref``.

    :param flags: ``READDIR``, ``READLINK`` and/or ``TREEOBJ``.
    :param want_dir: the key had a trailing ``.``: it must be a directory.
    :param depth: symlinks already followed (for :class:`Redirect` chains).
    :returns: the tree object found: with ``TREEOBJ`` exactly what is
        stored (the root as a ``dirref``); otherwise a ``dir`` for
        ``READDIR``, the ``symlink`` for ``READLINK``, else a ``val`` or
        ``valref``.
    :raises MissingRef: when a blob must be loaded first.
    :raises Redirect: at a symlink into another namespace.
    :raises FluxError: ENOENT, EISDIR, ENOTDIR, EINVAL, ELOOP, EPROTO.
    """
    if flags & ~LOOKUP_FLAGS:
        raise ProtocolError(f"invalid lookup flags 0x{flags:x}")
    if flags & READLINK and flags & READDIR:
        raise InvalidArgument("READLINK and READDIR cannot be combined")
    if want_dir and not flags & TREEOBJ:
        flags |= READDIR
    comps = list(parts)
    if not comps:
        if flags & TREEOBJ:
            return T.create_dirref(rootref)
        if flags & READLINK:
            raise InvalidArgument("Invalid argument")
        if not flags & READDIR:
            raise IsADirectory()
        return _dir_of(get_object, rootref)
    current = _dir_of(get_object, rootref)
    i = 0
    while True:
        name = comps[i]
        last = i == len(comps) - 1
        entry = current["data"].get(name)
        if entry is None:
            raise NotFound()
        kind = entry["type"]
        if kind == T.SYMLINK and (not last or not flags & (READLINK | TREEOBJ)):
            depth += 1
            if depth > SYMLINK_LIMIT:
                raise TooManyLinks()
            target, _ = T.split_key(entry["data"]["target"])
            rest = tuple(comps[i + 1:])
            if "namespace" in entry["data"]:
                raise Redirect(entry["data"]["namespace"], target + rest, depth)
            comps = list(target + rest)
            if not comps:
                return walk(get_object, rootref, (), flags, want_dir, depth)
            current = _dir_of(get_object, rootref)
            i = 0
            continue
        if last:
            return _final(get_object, entry, flags)
        if kind == T.DIR:
            current = entry
        elif kind == T.DIRREF:
            current = _dir_of(get_object, entry["data"][0])
        else:
            raise NotFound()    # a value where a directory was expected
        i += 1


def _final(get_object, entry, flags):
    if flags & TREEOBJ:
        if flags & READDIR and entry["type"] not in (T.DIR, T.DIRREF):
            raise NotADirectory()
        return entry
    kind = entry["type"]
    if flags & READLINK:
        if kind != T.SYMLINK:
            raise InvalidArgument("Invalid argument")
        return entry
    if kind in (T.DIR, T.DIRREF):
        if not flags & READDIR:
            raise IsADirectory()
        return entry if kind == T.DIR else _dir_of(get_object, entry["data"][0])
    if flags & READDIR:
        raise NotADirectory()
    return entry
