# -*- test-case-name: tests.integration.test_imp -*-
"""A PAM session for the job's user (``[exec] pam-support``), by ctypes.

The IMP runs the ``auth`` stack of the PAM service ``flux`` for the
target user (the guide's example: ``pam_localuser``) and opens a session
before it forks the job shell (so ``pam_limits`` and the like apply to
the shell it starts); it closes the session when the shell has exited.
The conversation answers nothing: the IMP cannot prompt anyone.
"""

import ctypes

from flux_imp.conf import ImpError

__all__ = ["PamSession"]

PAM_SUCCESS = 0
PAM_CONV_ERR = 19
PAM_ESTABLISH_CRED = 0x2
PAM_DELETE_CRED = 0x4
PAM_SILENT = 0x8000

_CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                         ctypes.c_void_p, ctypes.c_void_p)


class _PamConv(ctypes.Structure):
    _fields_ = [("conv", _CONV), ("appdata_ptr", ctypes.c_void_p)]


def _no_conversation(num_msg, msg, resp, appdata):
    return PAM_CONV_ERR


class PamSession:
    """An open PAM session of service ``flux`` for ``user``.

    :param confdir: the PAM configuration directory (None: /etc/pam.d).
    :raises ImpError: ``exec: PAM stack failure: ...``.
    """

    def __init__(self, user, confdir=None):
        try:
            # the soname: find_library() would run ldconfig or a compiler
            self._lib = lib = ctypes.CDLL("libpam.so.0")
        except OSError:
            raise ImpError("exec: PAM stack failure: libpam not found") \
                from None
        lib.pam_strerror.restype = ctypes.c_char_p
        lib.pam_strerror.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self._conv = _PamConv(_CONV(_no_conversation), None)
        self._handle = ctypes.c_void_p()
        self._session = False
        err = lib.pam_start_confdir(
            b"flux", user.encode(), ctypes.byref(self._conv),
            confdir.encode() if confdir else None,
            ctypes.byref(self._handle))
        if err != PAM_SUCCESS:
            raise ImpError(f"exec: PAM stack failure: pam_start: error {err}")
        try:
            # the auth stack, silently (pam_localuser and the like: the
            # user is not asked anything)
            self._check(lib.pam_authenticate(self._handle, PAM_SILENT),
                        "pam_authenticate")
            self._check(lib.pam_setcred(self._handle, PAM_ESTABLISH_CRED),
                        "pam_setcred")
            self._check(lib.pam_open_session(self._handle, 0),
                        "pam_open_session")
            self._session = True
        except ImpError:
            lib.pam_end(self._handle, 1)
            raise

    def _check(self, err, what):
        if err != PAM_SUCCESS:
            text = self._lib.pam_strerror(self._handle, err).decode()
            raise ImpError(f"exec: PAM stack failure: {what}: {text}")

    def close(self):
        """Close the session and end the transaction."""
        if self._session:
            self._lib.pam_close_session(self._handle, 0)
            self._lib.pam_setcred(self._handle, PAM_DELETE_CRED)
            self._session = False
        self._lib.pam_end(self._handle, PAM_SUCCESS)
