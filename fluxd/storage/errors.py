# -*- test-case-name: tests.unit.storage.test_txn -*-
"""The error tree of the storage layer, each with the errno flux-core uses.

Two families, both :class:`fluxd.errors.FluxError`:

- the *store* errors: :class:`StoreError` (``content store error``,
  EIO) and below it :class:`CorruptStore` (ENOTRECOVERABLE; a blob
  whose bytes do not hash to its blobref is a :class:`BlobMismatch`),
  :class:`StoreInUse` (EBUSY) and :class:`ArchiveError` (a dump
  archive that cannot be read or written);
- the *tree* errors of RFC 11 lookups and commits: :class:`IsADirectory`,
  :class:`NotADirectory`, :class:`TooManyLinks`, :class:`NotSupported`
  (and :class:`NoNamespace`), :class:`Corrupt`, :class:`TooLarge`.

:class:`MissingRef` is no error: pure tree walks raise it to ask their
caller for a blob.  Pure Python, like :mod:`fluxd.errors`.
"""

import errno as _errno

from fluxd.errors import FluxError, InvalidArgument

__all__ = ["StoreError", "CorruptStore", "BlobMismatch", "StoreInUse",
           "ArchiveError", "IsADirectory", "NotADirectory", "TooManyLinks",
           "NotSupported", "Corrupt", "TooLarge", "NoNamespace", "MissingRef"]


# -- the store ----------------------------------------------------------------

class StoreError(FluxError):
    """content store error"""


class CorruptStore(StoreError):
    """content store is corrupt"""

    errno = _errno.ENOTRECOVERABLE


class BlobMismatch(CorruptStore):
    """A stored blob does not hash to its blobref.

    :ivar blobref: the blobref whose blob is damaged.
    """

    def __init__(self, blobref, message=None):
        super().__init__(message or f"blob {blobref} is corrupt: its content"
                         " does not match its hash")
        self.blobref = blobref


class StoreInUse(StoreError):
    """content store is in use"""

    errno = _errno.EBUSY


class ArchiveError(StoreError):
    """archive error"""


# -- RFC 11 trees -------------------------------------------------------------

class IsADirectory(FluxError):
    """Is a directory"""

    errno = _errno.EISDIR


class NotADirectory(FluxError):
    """Not a directory"""

    errno = _errno.ENOTDIR


class TooManyLinks(FluxError):
    """Too many levels of symbolic links"""

    errno = _errno.ELOOP


class NotSupported(FluxError):
    """Operation not supported"""

    errno = _errno.EOPNOTSUPP


class NoNamespace(NotSupported):
    """Operation not supported"""

    # flux-core answers ENOTSUP (== EOPNOTSUPP on Linux) for a namespace
    # that does not exist or was removed; the message says which.


class Corrupt(FluxError):
    """State not recoverable"""

    errno = _errno.ENOTRECOVERABLE


class TooLarge(InvalidArgument):
    """File too large"""

    errno = _errno.EFBIG


class MissingRef(Exception):
    """A blob needed to go on is not in the local cache (not an error).

    Pure tree walks raise this; the caller loads ``ref`` and retries.
    """

    def __init__(self, ref):
        super().__init__(ref)
        self.ref = ref
