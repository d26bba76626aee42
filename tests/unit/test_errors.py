"""Tests for :mod:`fluxd.errors`: the FluxError tree and errno mapping."""

import errno
import os

from twisted.trial.unittest import SynchronousTestCase

from fluxd import errors


class FluxErrorTests(SynchronousTestCase):
    def test_default_message_is_docstring_line(self):
        self.assertEqual(str(errors.NotFound()), "No such file or directory")
        self.assertEqual(str(errors.FluxError()), "Input/output error")

    def test_message_and_errno(self):
        exc = errors.InvalidArgument("bad thing")
        self.assertEqual((str(exc), exc.errno), ("bad thing", errno.EINVAL))
        self.assertIsInstance(exc, ValueError)
        self.assertIsInstance(errors.NotFound("x"), LookupError)

    def test_errnum_override(self):
        exc = errors.FluxError(errnum=errno.EXDEV)
        self.assertEqual((str(exc), exc.errno),
                         (os.strerror(errno.EXDEV), errno.EXDEV))


class FromErrnoTests(SynchronousTestCase):
    def test_known_errnos_give_their_class(self):
        for errnum, cls in ((errno.ENOENT, errors.NotFound),
                            (errno.EPERM, errors.PermissionDenied),
                            (errno.ENOSYS, errors.NoSuchService),
                            (errno.ETIMEDOUT, errors.TimedOut),
                            (errno.ECONNREFUSED, errors.NotConnected),
                            (errno.ENOSPC, errors.NoSpace)):
            exc = errors.from_errno(errnum, "why")
            self.assertEqual((type(exc), str(exc), exc.errno),
                             (cls, "why", errnum))

    def test_message_defaults_to_strerror(self):
        self.assertEqual(str(errors.from_errno(errno.EEXIST)),
                         os.strerror(errno.EEXIST))

    def test_unknown_errno_keeps_its_number(self):
        exc = errors.from_errno(errno.EXDEV)
        self.assertEqual((type(exc), exc.errno, str(exc)),
                         (errors.FluxError, errno.EXDEV,
                          os.strerror(errno.EXDEV)))
