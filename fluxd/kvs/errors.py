# -*- test-case-name: tests.unit.kvs.test_txn -*-
"""Errors of the KVS and content store, each with the errno flux-core uses.

Pure Python, like :mod:`fluxd.errors`, which these extend.
"""

import errno as _errno

from fluxd.errors import FluxError, InvalidArgument

__all__ = ["IsADirectory", "NotADirectory", "TooManyLinks", "NotSupported",
           "Corrupt", "TooLarge", "NoNamespace", "MissingRef"]


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
