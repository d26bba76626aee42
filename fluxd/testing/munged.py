# -*- test-case-name: tests.unit.security.test_munge -*-
"""A private ``munged`` for tests: its own key, socket, pid and log file.

The daemon runs from a fresh temporary directory (world-traversable, so
that other test users can reach its socket) and is stopped and removed
when the block ends.  :class:`Munged` can also be stopped and started
again (same key and socket) in between, e.g. to show what a node does
while its munged is down.  Needs the ``munge`` package (``munged``).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager

__all__ = ["private_munged", "Munged", "MUNGED"]

MUNGED = shutil.which("munged", path="/usr/sbin:/sbin:/usr/bin:/bin")


class Munged:
    """One private munged in a temporary directory of its own.

    :ivar socket: the socket path (the same after a restart).
    :raises RuntimeError: when munged is missing.
    """

    def __init__(self):
        if MUNGED is None:
            raise RuntimeError("munged is not installed (package munge)")
        self.top = tempfile.mkdtemp(prefix="fluxd-munge-")
        os.chmod(self.top, 0o755)
        self.key = os.path.join(self.top, "munge.key")
        self.socket = os.path.join(self.top, "munge.socket")
        self.logpath = os.path.join(self.top, "munged.log")
        with open(self.key, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(os.urandom(1024))
        self.proc = None
        self._log = None

    def start(self, timeout=20):
        """Start the daemon and wait until its socket exists.

        :raises RuntimeError: when it exits or does not serve in time.
        """
        # its log goes to a file: munged logs every replayed credential,
        # and would block on a full pipe nobody reads
        self._log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [MUNGED, "--foreground", "--force", f"--key-file={self.key}",
             f"--socket={self.socket}",
             f"--pid-file={os.path.join(self.top, 'munged.pid')}",
             f"--log-file={self.logpath}",
             f"--seed-file={os.path.join(self.top, 'munged.seed')}",
             "--num-threads=2"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        # munged creates its socket once it serves; nothing else to await
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None:
                with open(self.logpath, "rb") as f:
                    raise RuntimeError("munged failed: "
                                       + f.read().decode().strip())
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("munged did not create its socket")
            time.sleep(0.01)
        return self

    def stop(self):
        """Stop the daemon (its socket goes with it); files are kept."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if os.path.exists(self.socket):
            os.unlink(self.socket)

    def close(self):
        """Stop the daemon and remove its directory."""
        self.stop()
        shutil.rmtree(self.top, ignore_errors=True)


@contextmanager
def private_munged():
    """Start munged on a socket of its own.

    :yields: the socket path.
    :raises RuntimeError: when munged is missing or does not start.
    """
    munged = Munged()
    try:
        yield munged.start().socket
    finally:
        munged.close()
