# -*- test-case-name: tests.unit.security.test_munge -*-
"""A private ``munged`` for tests: its own key, socket, pid and log file.

The daemon runs from a fresh temporary directory (world-traversable, so
that other test users can reach its socket) and is stopped and removed
when the block ends.  Needs the ``munge`` package (``munged``,
``mungekey``).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager

__all__ = ["private_munged", "MUNGED"]

MUNGED = shutil.which("munged", path="/usr/sbin:/sbin:/usr/bin:/bin")


@contextmanager
def private_munged():
    """Start munged on a socket of its own.

    :yields: the socket path.
    :raises RuntimeError: when munged is missing or does not start.
    """
    if MUNGED is None:
        raise RuntimeError("munged is not installed (package munge)")
    top = tempfile.mkdtemp(prefix="fluxd-munge-")
    os.chmod(top, 0o755)
    key = os.path.join(top, "munge.key")
    sock = os.path.join(top, "munge.socket")
    pidfile = os.path.join(top, "munged.pid")
    with open(key, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(os.urandom(1024))
    proc = None
    logpath = os.path.join(top, "munged.log")
    # its log goes to a file: munged logs every replayed credential, and
    # would block on a full pipe nobody reads
    log = open(logpath, "wb")
    try:
        proc = subprocess.Popen(
            [MUNGED, "--foreground", "--force", f"--key-file={key}",
             f"--socket={sock}", f"--pid-file={pidfile}",
             f"--log-file={logpath}",
             f"--seed-file={os.path.join(top, 'munged.seed')}",
             "--num-threads=2"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        # munged creates its socket once it serves; nothing else to await
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if proc.poll() is not None:
                with open(logpath, "rb") as f:
                    raise RuntimeError("munged failed: "
                                       + f.read().decode().strip())
            if time.monotonic() > deadline:
                raise RuntimeError("munged did not create its socket")
            time.sleep(0.01)
        yield sock
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(top, ignore_errors=True)
