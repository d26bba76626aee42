# -*- test-case-name: tests.integration.test_guest_access -*-
"""Create and remove real Unix users for multi-user tests (root only)."""

import os
import pwd
import subprocess
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
        subprocess.run(["userdel", name], capture_output=True)
