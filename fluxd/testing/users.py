# -*- test-case-name: tests.integration.test_guest_access -*-
"""Create and remove real Unix users for multi-user tests (root only)."""

import os
import pwd
import signal
import subprocess
import time
import uuid
from contextlib import contextmanager


@contextmanager
def temporary_user(prefix="fluxt"):
    """Create a system user for the duration of the block.

    :yields: the ``pwd`` entry of the new user.
    :raises RuntimeError: when not running as root.
    """
    if os.geteuid() != 0:
        raise RuntimeError("creating users needs root")
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        remove_user(name)


def _processes(uid):
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                pids.append(int(entry))
        except FileNotFoundError:
            continue
    return pids


def remove_user(name, timeout=10):
    """``userdel NAME``; processes of the user still running (which make
    userdel refuse) are SIGKILLed first.  Nothing when it is gone."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    deadline = time.monotonic() + timeout
    while True:
        for pid in _processes(uid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc = subprocess.run(["userdel", name], capture_output=True,
                              text=True)
        if proc.returncode == 0 or time.monotonic() > deadline:
            return
        time.sleep(0.05)
