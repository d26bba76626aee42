# -*- test-case-name: tests.unit.storage.test_treeobj -*-
"""RFC 11 tree objects and KVS keys.

A tree object is the JSON object ``{"ver": 1, "type": T, "data": D}``:

========== ==============================================================
``val``     base64 text of the value bytes
``valref``  non-empty array of blobrefs; the value is their concatenation
``dir``     object mapping entry names to tree objects
``dirref``  array of exactly one blobref of a serialized ``dir``
``symlink`` ``{"target": KEY}`` or ``{"namespace": NS, "target": KEY}``
``hdir``    specified by RFC 11 but implemented by no one: refused here
========== ==============================================================

Tree objects are serialized as compact JSON with sorted keys, as
flux-core's ``treeobj_encode()`` does, so the same directory always
hashes to the same blobref.

Keys are ``.``-separated paths from the namespace root (``.`` alone).
One leading ``.`` is ignored and one trailing ``.`` means "this must be
a directory", as in flux-core.  **[fluxd]** flux-core silently collapses
empty path components (``a..b`` becomes ``a.b``); fluxd refuses them, so
a typo never writes somewhere unexpected.

Pure Python: the ``flux kvs`` command uses this module.
"""

import base64
import binascii
import json
import re

from fluxd.errors import InvalidArgument
from fluxd.storage import blobref as _blobref
from fluxd.formats.jsonenc import compact

__all__ = [
    "VAL", "VALREF", "DIR", "DIRREF", "SYMLINK", "HDIR", "TYPES",
    "TreeobjError", "BadKey", "create_val", "create_valref", "create_dir",
    "create_dirref", "create_symlink", "validate", "encode", "decode",
    "decode_val", "blobrefs", "split_key", "normalize_key", "join_key",
    "VAL_INLINE_MAX", "DirData", "changed_names", "encode_dir",
]

VAL, VALREF, DIR, DIRREF, SYMLINK, HDIR = (
    "val", "valref", "dir", "dirref", "symlink", "hdir")
TYPES = (VAL, VALREF, DIR, DIRREF, SYMLINK, HDIR)

#: a ``val`` whose base64 text is longer than this is moved to the content
#: store on commit and replaced by a ``valref`` (flux-core's
#: BLOBREF_MAX_STRING_SIZE)
VAL_INLINE_MAX = 72

# How deep ``validate`` follows nested ``dir`` objects before giving up;
# far beyond any real key depth, it only stops a hostile request from
# exhausting the stack.
_MAX_NESTING = 256
#: compact JSON, sorted keys, UTF-8 as is (tree objects, dir entries)
_sorted_dumps = compact(sort_keys=True, ensure_ascii=False)


class TreeobjError(InvalidArgument):
    """invalid tree object"""


class BadKey(InvalidArgument):
    """invalid key"""


# -- construction -----------------------------------------------------------

def create_val(data):
    """A ``val`` holding ``data`` (bytes, or str encoded as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return {"ver": 1, "type": VAL,
            "data": base64.b64encode(bytes(data)).decode("ascii")}


def create_valref(refs):
    """A ``valref`` over a non-empty list of blobrefs."""
    refs = list(refs)
    if not refs:
        raise TreeobjError("valref needs at least one blobref")
    for ref in refs:
        _blobref.validate(ref)
    return {"ver": 1, "type": VALREF, "data": refs}


def create_dir(entries=None):
    """A ``dir`` with ``entries`` (name -> tree object), empty by default."""
    return {"ver": 1, "type": DIR, "data": dict(entries or {})}


def create_dirref(ref):
    """A ``dirref`` to the serialized directory ``ref``."""
    return {"ver": 1, "type": DIRREF, "data": [_blobref.validate(ref)]}


def create_symlink(target, namespace=None):
    """A ``symlink`` to key ``target`` (in ``namespace`` when given)."""
    data = {"target": target}
    if namespace is not None:
        data["namespace"] = namespace
    obj = {"ver": 1, "type": SYMLINK, "data": data}
    validate(obj)
    return obj


# -- validation ---------------------------------------------------------------

def _fail(message, where):
    raise TreeobjError(f"{where}: {message}" if where else message)


def validate(obj, where="", _depth=0):
    """Check that ``obj`` is a well-formed RFC 11 tree object.

    Nested ``dir`` entries are checked too.  Blobrefs are checked for
    form only: whether the blobs exist is the store's business.

    :param where: a prefix for error messages (e.g. ``key 'a.b'``).
    :returns: ``obj``.
    :raises TreeobjError: naming the problem.
    """
    if not isinstance(obj, dict):
        _fail(f"tree object must be a JSON object, not {_json_type(obj)}", where)
    if set(obj) != {"ver", "type", "data"}:
        extra = sorted(set(obj) - {"ver", "type", "data"})
        missing = sorted({"ver", "type", "data"} - set(obj))
        what = f"missing {', '.join(missing)}" if missing else \
            f"unexpected {', '.join(map(str, extra))}"
        _fail(f"tree object has {what}", where)
    if obj["ver"] != 1 or isinstance(obj["ver"], bool):
        _fail(f"tree object version {obj['ver']!r} is not 1", where)
    kind, data = obj["type"], obj["data"]
    if kind == VAL:
        if not isinstance(data, str):
            _fail("val data must be a base64 string", where)
        _b64decode(data, where)
    elif kind in (VALREF, DIRREF):
        if not isinstance(data, list) or not data:
            _fail(f"{kind} data must be a non-empty array of blobrefs", where)
        if kind == DIRREF and len(data) != 1:
            _fail(f"dirref must hold exactly one blobref, not {len(data)}", where)
        for ref in data:
            if not _blobref.is_blobref(ref):
                _fail(f"{kind} holds an invalid blobref {_brief(ref)}", where)
    elif kind == DIR:
        if not isinstance(data, dict):
            _fail("dir data must be a JSON object", where)
        if _depth >= _MAX_NESTING:
            _fail("dir objects are nested too deeply", where)
        for name, entry in data.items():
            if not name or "." in name:
                _fail(f"dir entry name {name!r} is empty or contains '.'", where)
            validate(entry, f"{where + ': ' if where else ''}entry {name!r}",
                     _depth + 1)
    elif kind == SYMLINK:
        if not isinstance(data, dict) or "target" not in data or \
                not set(data) <= {"target", "namespace"}:
            _fail("symlink data must be {\"target\": KEY} with an optional"
                  " \"namespace\"", where)
        if not isinstance(data["target"], str) or not data["target"]:
            _fail("symlink target must be a non-empty string", where)
        if "namespace" in data and (not isinstance(data["namespace"], str)
                                    or not data["namespace"]):
            _fail("symlink namespace must be a non-empty string", where)
    elif kind == HDIR:
        _fail("hdir tree objects are not supported", where)
    else:
        _fail(f"unknown tree object type {_brief(kind)}", where)
    return obj


def _b64decode(text, where=""):
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        _fail("val data is not valid base64", where)


def _json_type(value):
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string",
            bool: "a boolean"}.get(type(value), "a number")


def _brief(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- (de)serialization --------------------------------------------------------

def encode(obj):
    """Serialize a tree object (compact JSON, sorted keys) to bytes."""
    return _sorted_dumps(obj).encode("utf-8")


#: a ``dir`` with at least this many entries keeps each entry's JSON text
#: once encoded (:func:`encode_dir`); smaller ones are encoded whole
PARTS_MIN = 32


class DirData(dict):
    """The entries of a ``dir`` that a commit copied to change (a dict).

    It remembers the dict it was copied from (``base``) and, once
    :func:`encode_dir` has serialized it, each entry's JSON text
    (``parts``, ``{name: '"name":{...}'}``, with ``names`` sorted), so
    that the next copy re-serializes only the entries that changed: a
    directory of thousands of jobs costs one entry per commit, not all.
    Stored directories are never modified, so an entry still holding
    the same object as in ``base`` still has the same text.

    A copy made from ``base`` also notes the names it sets or removes
    (``changed``, see :meth:`note`): when ``base`` holds its entry
    texts, only those names are looked at again (:func:`changed_names`),
    not every entry of a directory of thousands of jobs.
    """

    __slots__ = ("base", "parts", "names", "changed")

    def __init__(self, entries=(), base=None):
        super().__init__(entries)
        self.base, self.parts, self.names = base, None, None
        self.changed = set() if base is not None else None

    def note(self, name):
        """Record that entry ``name`` was set or removed (whoever changes
        a copy must call this, or :func:`changed_names` would miss it)."""
        changed = self.changed
        if changed is not None:
            changed.add(name)


def changed_names(data):
    """The names of ``data``'s entries that may differ from its base's,
    or None when every entry must be looked at: ``data`` is a
    :class:`DirData` copied from one that :func:`encode_dir` serialized
    (so holds no ``dir`` and no long ``val`` entry: unrolled before)."""
    if data.__class__ is not DirData or data.changed is None:
        return None
    base = data.base
    if base.__class__ is not DirData or base.parts is None:
        return None
    return data.changed


#: text JSON writes as it is between quotes (names, base64, blobrefs)
_PLAIN = re.compile(r"[A-Za-z0-9+/=_.-]*").fullmatch


def _part(name, entry):
    """``"name":{entry}`` as :func:`encode` writes it; the usual entries
    (a ``val``, ``valref`` or ``dirref`` of plain text, ``ver`` 1) are
    formatted directly (a job directory's entries are re-encoded at every
    commit that adds one)."""
    if entry.__class__ is dict and len(entry) == 3 and \
            name.__class__ is str and _PLAIN(name):
        kind, data, ver = entry.get("type"), entry.get("data"), \
            entry.get("ver")
        if ver.__class__ is int and ver == 1:
            if kind == VAL and data.__class__ is str and _PLAIN(data):
                return f'"{name}":{{"data":"{data}","type":"val","ver":1}}'
            if (kind == DIRREF or kind == VALREF) and data.__class__ is list:
                try:
                    # every ref plain: then so are they all run together
                    plain = _PLAIN("".join(data))
                except TypeError:   # not all strings
                    plain = None
                if plain:
                    refs = '","'.join(data)
                    refs = f'"{refs}"' if data else ""
                    return (f'"{name}":{{"data":[{refs}],"type":"{kind}",'
                            '"ver":1}')
    return _sorted_dumps(name) + ":" + _sorted_dumps(entry)


def encode_dir(obj):
    """Serialize a ``dir`` exactly as :func:`encode`, reusing the entry
    texts of the directory its :class:`DirData` was copied from.

    Afterwards ``obj``'s data holds its own entry texts and forgets its
    base (so no chain of old versions stays alive); ``obj`` must not be
    changed any more.
    """
    data = obj["data"]
    if not isinstance(data, DirData) or len(data) < PARTS_MIN or \
            len(obj) != 3 or obj.get("ver") != 1 or obj.get("type") != DIR:
        if isinstance(data, DirData):
            data.base = data.changed = None
        ver = obj.get("ver")
        if len(obj) == 3 and obj.get("type") == DIR and \
                ver.__class__ is int and ver == 1 and \
                data.__class__ in (dict, DirData) and len(data) < PARTS_MIN:
            # a small directory: its entries formatted as above
            return ('{"data":{' + ",".join(
                [_part(name, data[name]) for name in sorted(data)])
                + '},"type":"dir","ver":1}').encode("utf-8")
        return encode(obj)
    changed = changed_names(data)
    base = data.base
    while isinstance(base, DirData) and base.parts is None:
        base = base.base
    if changed is not None:
        # only the names noted: the others hold their base's entries
        parts, names, resort = dict(base.parts), base.names, False
        for name in changed:
            entry = data.get(name)
            if entry is None:
                if parts.pop(name, None) is not None:
                    resort = True
                continue
            old = base.get(name)
            if old is not entry:
                parts[name] = _part(name, entry)
                resort = resort or old is None
        if resort:
            names = sorted(parts)
    elif not isinstance(base, DirData):
        parts = {name: _part(name, entry) for name, entry in data.items()}
        names = sorted(parts)
    else:
        parts, names, added = dict(base.parts), base.names, False
        for name, entry in data.items():
            old = base.get(name)
            if old is not entry:
                parts[name] = _part(name, entry)
                added = added or old is None
        if added or len(parts) != len(data):
            for name in [n for n in base if n not in data]:
                del parts[name]
            names = sorted(parts)
    data.base, data.parts, data.names, data.changed = None, parts, names, None
    return ('{"data":{' + ",".join([parts[n] for n in names])
            + '},"type":"dir","ver":1}').encode("utf-8")


def decode(data, where=""):
    """Parse and validate a serialized tree object.

    :raises TreeobjError: for invalid JSON or an invalid object.
    """
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        _fail("not a JSON tree object", where)
    return validate(obj, where)


def decode_val(obj):
    """The bytes held by a ``val`` tree object."""
    if obj.get("type") != VAL:
        raise TreeobjError(f"expected a val tree object, not {obj.get('type')!r}")
    return _b64decode(obj["data"])


def blobrefs(obj):
    """All blobrefs a tree object refers to (nested dirs included)."""
    kind = obj["type"]
    if kind in (VALREF, DIRREF):
        return list(obj["data"])
    if kind == DIR:
        refs = []
        for entry in obj["data"].values():
            refs.extend(blobrefs(entry))
        return refs
    return []


# -- keys ---------------------------------------------------------------------

def split_key(key):
    """Split a key into its path components.

    :returns: ``(components, want_dir)``; ``components`` is an empty tuple
        for the root ``.``, ``want_dir`` is True for a trailing ``.`` after
        a key (the root alone is just the root).
    :raises BadKey: for a non-string or empty key, a NUL character or an
        empty path component (``a..b``, ``..``).
    """
    if not isinstance(key, str) or not key:
        raise BadKey("key must be a non-empty string")
    if "\0" in key:
        raise BadKey(f"key {key!r} contains a NUL character")
    if key == ".":
        return (), False
    text, want_dir = key, False
    if text.startswith("."):
        text = text[1:]
    if text.endswith("."):
        text, want_dir = text[:-1], True
    parts = tuple(text.split("."))
    if "" in parts:
        raise BadKey(f"invalid key {key!r}: empty path component")
    return parts, want_dir


def normalize_key(key):
    """The canonical text of a key (``.`` for the root).

    :raises BadKey: as :func:`split_key`.
    """
    parts, _ = split_key(key)
    return join_key(parts)


def join_key(parts):
    """Join path components back into a key (``.`` for none)."""
    return ".".join(parts) if parts else "."

