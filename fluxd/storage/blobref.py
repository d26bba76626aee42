# -*- test-case-name: tests.unit.storage.test_blobref -*-
"""RFC 10 blobrefs: the names of content-addressed blobs.

A blob is stored under the digest of its bytes.  The *blobref* is the
string ``<hashname>-<lowercase hex digest>``, e.g.
``sha1-f1d2d2f924e986ac86fdf7b36c94bcdf32beec15``; on the wire the
content service's ``load``/``store`` methods carry the raw digest bytes
instead.  An instance uses one hash algorithm (the ``content.hash``
broker attribute): ``sha1`` (the default) or ``sha256``.

Pure Python: the ``flux content`` command uses this module.
"""

import hashlib
import re

from fluxd.errors import InvalidArgument
from fluxd.storage.errors import BlobMismatch

__all__ = ["HASHES", "BlobrefError", "hash_blob", "digest", "from_digest",
           "to_digest", "validate", "is_blobref", "hash_name", "matches", "check",
           "check_hash_name", "MAX_BLOBREF_SIZE", "MAX_DIGEST_SIZE"]

#: hash name -> (hashlib constructor, digest size in bytes)
HASHES = {"sha1": (hashlib.sha1, 20), "sha256": (hashlib.sha256, 32)}

#: RFC 10 limits: the longest blobref string and digest
MAX_BLOBREF_SIZE = 72
MAX_DIGEST_SIZE = 32

_BLOBREF = re.compile(r"(sha1)-([0-9a-f]{40})|(sha256)-([0-9a-f]{64})")
_BY_SIZE = {size: name for name, (_, size) in HASHES.items()}


class BlobrefError(InvalidArgument):
    """invalid blobref"""


def check_hash_name(name):
    """Return ``name`` if it is a supported hash algorithm.

    :raises BlobrefError: otherwise (the message lists the choices).
    """
    if name not in HASHES:
        raise BlobrefError(f"unknown content hash {name!r}: use sha1 or sha256")
    return name


def digest(data, name="sha1"):
    """The raw digest of ``data`` (bytes) under hash ``name``."""
    return HASHES[check_hash_name(name)][0](data).digest()


def matches(raw, data):
    """True when ``data`` hashes to the raw digest ``raw`` (the hash is
    the one whose digest has that size); False for any other size."""
    name = _BY_SIZE.get(len(raw))
    return name is not None and HASHES[name][0](data).digest() == bytes(raw)


def check(blobref, data):
    """Check that ``data`` is the blob named ``blobref``; return ``data``.

    :raises BlobrefError: for a malformed blobref.
    :raises BlobMismatch: when it is not.
    """
    if not matches(to_digest(blobref), data):
        raise BlobMismatch(blobref)
    return data


def hash_blob(data, name="sha1"):
    """The blobref of ``data`` under hash ``name``."""
    return f"{name}-{HASHES[check_hash_name(name)][0](data).hexdigest()}"


def from_digest(raw, name=None):
    """Turn a raw digest into a blobref.

    :param raw: the digest bytes.
    :param name: the hash algorithm; None infers it from the digest size.
    :raises BlobrefError: when the size fits no (or not that) algorithm.
    """
    if not isinstance(raw, (bytes, bytearray)):
        raise BlobrefError("digest must be bytes")
    inferred = _BY_SIZE.get(len(raw))
    if inferred is None or (name is not None and name != inferred):
        want = f"{HASHES[name][1]} bytes" if name in HASHES else "20 or 32 bytes"
        raise BlobrefError(f"digest of {len(raw)} bytes is not a"
                           f" {name or 'sha1/sha256'} digest ({want})")
    return f"{inferred}-{bytes(raw).hex()}"


def validate(blobref, name=None):
    """Check a blobref string; return it.

    :param name: when given, the blobref must use this hash algorithm.
    :raises BlobrefError: naming what is wrong.
    """
    if not isinstance(blobref, str):
        raise BlobrefError(f"blobref must be a string, not {type(blobref).__name__}")
    match = _BLOBREF.fullmatch(blobref)
    if match is None:
        shown = blobref if len(blobref) <= 80 else blobref[:77] + "..."
        raise BlobrefError(f"invalid blobref {shown!r}")
    if name is not None and blobref.split("-", 1)[0] != name:
        raise BlobrefError(f"blobref {blobref} does not use the instance"
                           f" hash {name}")
    return blobref


def is_blobref(value):
    """True when ``value`` is a well-formed blobref string."""
    return isinstance(value, str) and _BLOBREF.fullmatch(value) is not None


def hash_name(blobref):
    """The hash algorithm named by a (valid) blobref."""
    return validate(blobref).split("-", 1)[0]


def to_digest(blobref):
    """The raw digest bytes named by a blobref.

    :raises BlobrefError: for a malformed blobref.
    """
    return bytes.fromhex(validate(blobref).split("-", 1)[1])
