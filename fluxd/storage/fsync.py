# -*- test-case-name: tests.unit.storage.test_fsync -*-
"""The one fsync helper of fluxd: files and directories forced to disk.

An ``fsync`` blocks until the disk has the data: tens of milliseconds on
a busy disk, seconds on a slow one.  In the broker it must never run in
the reactor thread (DESIGN.md: nothing blocks the reactor); the callers
run it in the content store's writer thread or through
:func:`fluxd.util.blocking.run_blocking`.  Every sync goes through
:func:`fsync_path`, which tells the functions registered with
:func:`watch` first, so a test can check which thread syncs what.

Pure Python: ``flux dump``/``flux restore`` use it too.
"""

import os
import threading

__all__ = ["fsync_path", "fsync_fd", "watch"]

_watchers = []
_lock = threading.Lock()


def watch(callback):
    """Call ``callback(path)`` in the syncing thread before each sync.

    :returns: a function that removes the watch.
    """
    with _lock:
        _watchers.append(callback)

    def remove():
        with _lock:
            if callback in _watchers:
                _watchers.remove(callback)
    return remove


def _tell(path):
    with _lock:
        watchers = list(_watchers)
    for callback in watchers:
        callback(path)


def fsync_fd(fd, path):
    """Force an open file's data to disk.

    :param path: its name (for the watchers and error messages).
    :raises OSError: as ``os.fsync``.
    """
    _tell(path)
    os.fsync(fd)


def fsync_path(path):
    """Force a file (its data) or a directory (its entries: a rename or
    a new link in it) to disk.

    :raises OSError: when it cannot be opened or synced.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        fsync_fd(fd, path)
    finally:
        os.close(fd)
