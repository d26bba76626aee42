# -*- test-case-name: tests.unit.security.test_munge -*-
"""MUNGE credentials through libmunge (the ``libmunge2`` package), by ctypes.

Only the two calls the signing mechanism needs: :meth:`Munge.encode`
asks the local ``munged`` for a credential over some bytes, and
:meth:`Munge.decode` has it check one, returning the bytes, the uid that
encoded them and the encode time.  Nothing here runs ``munge`` or
``unmunge``: each call is one round trip to munged over its socket.

Stdlib only (no Twisted): the ``flux`` commands, the broker and the IMP
use it.  The calls block for the round trip (a fraction of a
millisecond on this host: ``bench/sign.py``).
"""

import ctypes
import ctypes.util

__all__ = ["Munge", "MungeError", "EMUNGE_CRED_EXPIRED",
           "EMUNGE_CRED_REPLAYED"]

#: munge_err_t values (munge.h) this module names
EMUNGE_SUCCESS = 0
EMUNGE_CRED_EXPIRED = 15
EMUNGE_CRED_REPLAYED = 17
#: munge_opt_t values (munge.h)
_MUNGE_OPT_ENCODE_TIME = 6
_MUNGE_OPT_SOCKET = 8

_lib = None


class MungeError(Exception):
    """A libmunge call failed; ``code`` is its munge_err_t."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def _library():
    global _lib
    if _lib is not None:
        return _lib
    # the soname first: find_library() runs ldconfig or a compiler, which
    # the IMP (root) must not
    try:
        lib = ctypes.CDLL("libmunge.so.2")
    except OSError:
        name = ctypes.util.find_library("munge")
        try:
            lib = ctypes.CDLL(name or "libmunge.so")
        except OSError:
            raise MungeError("libmunge is not installed (package"
                             " libmunge2)") from None
    lib.munge_ctx_create.restype = ctypes.c_void_p
    lib.munge_ctx_create.argtypes = []
    lib.munge_ctx_destroy.restype = None
    lib.munge_ctx_destroy.argtypes = [ctypes.c_void_p]
    lib.munge_ctx_strerror.restype = ctypes.c_char_p
    lib.munge_ctx_strerror.argtypes = [ctypes.c_void_p]
    lib.munge_strerror.restype = ctypes.c_char_p
    lib.munge_strerror.argtypes = [ctypes.c_int]
    lib.munge_ctx_set.restype = ctypes.c_int
    lib.munge_ctx_get.restype = ctypes.c_int
    lib.munge_encode.restype = ctypes.c_int
    lib.munge_encode.argtypes = [ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.c_void_p, ctypes.c_char_p,
                                 ctypes.c_int]
    lib.munge_decode.restype = ctypes.c_int
    lib.munge_decode.argtypes = [ctypes.c_char_p, ctypes.c_void_p,
                                 ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(ctypes.c_int),
                                 ctypes.POINTER(ctypes.c_uint32),
                                 ctypes.POINTER(ctypes.c_uint32)]
    libc = ctypes.CDLL(None)
    lib.free_ = libc.free
    lib.free_.argtypes = [ctypes.c_void_p]
    lib.free_.restype = None
    _lib = lib
    return lib


class Munge:
    """A libmunge context bound to one munged socket.

    :param socket_path: munged's socket (``[sign.munge] socket-path``);
        None: libmunge's default (``/run/munge/munge.socket.2``).
    :raises MungeError: when libmunge cannot be loaded or the socket set.
    """

    def __init__(self, socket_path=None):
        self._lib = _library()
        self._socket = socket_path
        self._context().close()     # the socket path is checked here

    def _context(self):
        # a fresh context per call: munge_decode() leaves the cipher and
        # MAC of the credential it read in its context, which a later
        # munge_encode() would reuse (a failed decode leaves invalid ones)
        return _Context(self._lib, self._socket)

    def encode(self, data):
        """A credential over ``data`` (bytes) from munged.

        :returns: the credential text (``MUNGE:...:``).
        :raises MungeError: when munged refuses or cannot be reached.
        """
        cred = ctypes.c_void_p()
        ctx = self._context()
        try:
            err = self._lib.munge_encode(ctypes.byref(cred), ctx.ptr, data,
                                         len(data))
            if err != EMUNGE_SUCCESS:
                raise MungeError(ctx.error(err), err)
            return ctypes.string_at(cred).decode("ascii")
        finally:
            if cred.value:
                self._lib.free_(cred)
            ctx.close()

    def decode(self, cred):
        """Have munged check ``cred``.

        :returns: ``(data, uid, encode_time, code)``; ``code`` is
            :data:`EMUNGE_SUCCESS`, :data:`EMUNGE_CRED_EXPIRED` or
            :data:`EMUNGE_CRED_REPLAYED` (munged decodes those too; the
            caller decides whether they count).
        :raises MungeError: for every other failure.
        """
        buf = ctypes.c_void_p()
        size = ctypes.c_int()
        uid = ctypes.c_uint32()
        gid = ctypes.c_uint32()
        when = ctypes.c_long()
        ctx = self._context()
        try:
            err = self._lib.munge_decode(cred.encode("ascii", "replace"),
                                         ctx.ptr, ctypes.byref(buf),
                                         ctypes.byref(size),
                                         ctypes.byref(uid), ctypes.byref(gid))
            if err not in (EMUNGE_SUCCESS, EMUNGE_CRED_EXPIRED,
                           EMUNGE_CRED_REPLAYED):
                raise MungeError(ctx.error(err), err)
            data = ctypes.string_at(buf, size.value) if buf.value else b""
            got = self._lib.munge_ctx_get(
                ctx.ptr, ctypes.c_int(_MUNGE_OPT_ENCODE_TIME),
                ctypes.byref(when))
            if got != EMUNGE_SUCCESS:
                raise MungeError("munge_ctx_get ENCODE_TIME:"
                                 f" {ctx.error(got)}", got)
        finally:
            if buf.value:
                self._lib.free_(buf)
            ctx.close()
        return data, uid.value, when.value, err


class _Context:
    """One munge_ctx_t, destroyed by :meth:`close`."""

    def __init__(self, lib, socket_path):
        self._lib = lib
        self.ptr = ctypes.c_void_p(lib.munge_ctx_create())
        if not self.ptr.value:
            raise MungeError("munge_ctx_create failed")
        if socket_path is not None:
            err = lib.munge_ctx_set(self.ptr, ctypes.c_int(_MUNGE_OPT_SOCKET),
                                    ctypes.c_char_p(socket_path.encode()))
            if err != EMUNGE_SUCCESS:
                message = self.error(err)
                self.close()
                raise MungeError(f"munge_opt_set {socket_path}: {message}",
                                 err)

    def error(self, err):
        """The context's message for ``err``."""
        text = self._lib.munge_ctx_strerror(self.ptr) \
            or self._lib.munge_strerror(err)
        return text.decode("utf-8", "replace")

    def close(self):
        """Destroy the context."""
        if self.ptr.value:
            self._lib.munge_ctx_destroy(self.ptr)
            self.ptr = ctypes.c_void_p()
