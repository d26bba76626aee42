# -*- test-case-name: tests.unit.client.test_uri -*-
"""``local://`` URIs: the one parser that clients and the broker share.

A broker's ``local-uri`` attribute and a client's ``FLUX_URI`` name the
broker's UNIX socket as ``local://PATH`` (``local:///run/flux/local``:
the path is everything after ``local://``).  A client also takes a bare
absolute socket path.  Pure and stdlib only: the ``flux`` command
imports it.
"""

from fluxd.errors import InvalidArgument, NotConnected

__all__ = ["SCHEME", "SYSTEM_URI", "local_uri_path", "socket_path"]

SCHEME = "local://"

#: the system instance's socket, used when FLUX_URI is unset (as flux does)
SYSTEM_URI = "local:///run/flux/local"


def local_uri_path(uri):
    """The socket path of a ``local://PATH`` URI.

    :raises InvalidArgument: ``local-uri URI: expected local:///PATH`` for
        another scheme or an empty path.
    """
    if not isinstance(uri, str) or not uri.startswith(SCHEME) \
            or len(uri) == len(SCHEME):
        raise InvalidArgument(f"local-uri {uri}: expected local:///PATH")
    return uri[len(SCHEME):]


def socket_path(uri):
    """The socket a client connects to: ``local://PATH`` or a bare
    absolute path.

    :raises NotConnected: ``Unable to connect to Flux: unsupported URI
        URI`` for anything else.
    """
    if uri.startswith("/"):
        return uri
    try:
        return local_uri_path(uri)
    except InvalidArgument:
        raise NotConnected(
            f"Unable to connect to Flux: unsupported URI {uri}") from None
