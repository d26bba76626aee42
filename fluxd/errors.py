# -*- test-case-name: tests.unit.test_errors -*-
"""The fluxd error tree.

Every error that crosses a service boundary, the wire or the ``flux``
command line is a :class:`FluxError` carrying a POSIX errno, as Flux RPC
error responses do (RFC 6: ``errnum`` plus an optional error string).
Each class's docstring is its default user-facing message.

This module is pure: it imports nothing from Twisted, so the format
modules and the synchronous client can raise these errors cheaply.
"""

import errno as _errno
import os

__all__ = [
    "FluxError", "InvalidArgument", "ValueRangeError", "NotFound",
    "PermissionDenied", "NoSuchService", "ProtocolError", "AlreadyExists",
    "TimedOut", "HostUnreachable", "Busy", "NoSpace", "NotConnected",
    "from_errno",
]


class FluxError(Exception):
    """Input/output error"""

    errno = _errno.EIO

    def __init__(self, message=None, *, errnum=None):
        """
        :param message: the one-line text shown to users; when omitted the
            class docstring's first line (or ``strerror(errnum)``) is used.
        :param errnum: override the class errno (used by :func:`from_errno`).
        """
        if errnum is not None:
            self.errno = errnum
        if message is None:
            if type(self) is FluxError and errnum is not None:
                message = os.strerror(errnum)
            else:
                message = (type(self).__doc__ or "").strip().splitlines()[0]
        self.message = message
        super().__init__(message)

    def __str__(self):
        return self.message


class InvalidArgument(FluxError, ValueError):
    """Invalid argument"""

    errno = _errno.EINVAL


class ValueRangeError(InvalidArgument):
    """Numerical result out of range"""

    errno = _errno.ERANGE


class NotFound(FluxError, LookupError):
    """No such file or directory"""

    errno = _errno.ENOENT


class PermissionDenied(FluxError):
    """Operation not permitted"""

    errno = _errno.EPERM


class NoSuchService(FluxError):
    """Function not implemented"""

    errno = _errno.ENOSYS


class ProtocolError(FluxError):
    """Protocol error"""

    errno = _errno.EPROTO


class AlreadyExists(FluxError):
    """File exists"""

    errno = _errno.EEXIST


class TimedOut(FluxError):
    """Connection timed out"""

    errno = _errno.ETIMEDOUT


class HostUnreachable(FluxError):
    """No route to host"""

    errno = _errno.EHOSTUNREACH


class Busy(FluxError):
    """Device or resource busy"""

    errno = _errno.EBUSY


class NoSpace(FluxError):
    """No space left on device"""

    errno = _errno.ENOSPC


class NotConnected(FluxError):
    """Connection refused"""

    errno = _errno.ECONNREFUSED


_BY_ERRNO = {
    cls.errno: cls
    for cls in (InvalidArgument, ValueRangeError, NotFound, PermissionDenied,
                NoSuchService, ProtocolError, AlreadyExists, TimedOut,
                HostUnreachable, Busy, NoSpace, NotConnected)
}


def from_errno(errnum, message=None):
    """Build the most specific :class:`FluxError` for an errno.

    Used when an RPC error response (errnum + string) is turned back into an
    exception on the client side.

    :param errnum: a POSIX errno value.
    :param message: the error string, or None for ``strerror(errnum)``.
    :returns: a :class:`FluxError` instance (not raised).
    """
    cls = _BY_ERRNO.get(errnum)
    if cls is None:
        return FluxError(message or os.strerror(errnum), errnum=errnum)
    if message is None:
        message = os.strerror(errnum)
    return cls(message)
