"""Shared pieces of the lifecycle integration tests."""

import os
import shutil
import subprocess
import tempfile

import pytest

from fluxd.testing.broker import BrokerProcess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


@pytest.fixture
def make_broker(tmp_path):
    """``make_broker(name, **BrokerProcess kwargs)``: not started; every
    broker made is stopped at the end."""
    made = []

    def make(name="b", **kw):
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        broker = BrokerProcess(workdir, **kw)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.stop()


def journal(broker):
    """The broker's stderr lines in journal form (``app.sev[rank]: ...``)."""
    return [line.rstrip("\n") for line in broker.log_text.splitlines(True)
            if "[0]: " in line and not line.startswith("20")]


def write_script(path, body):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


@pytest.fixture
def shared_dir():
    """A world-readable directory for tests that run a second user."""
    path = tempfile.mkdtemp(prefix="fluxd-lifecycle-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_as_guest(user, shared, code, env=None, timeout=60):
    """Run Python ``code`` as ``user`` with a world-readable copy of the
    fluxd package (the checkout may be private) on the system Python."""
    libdir = os.path.join(shared, "lib")
    if not os.path.isdir(libdir):
        shutil.copytree(os.path.join(REPO, "fluxd"), os.path.join(libdir, "fluxd"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        for dirpath, dirnames, filenames in os.walk(libdir):
            os.chmod(dirpath, 0o755)
    full_env = {"PYTHONPATH": libdir, "PATH": "/usr/bin:/bin", **(env or {})}
    return subprocess.run([SYSTEM_PYTHON, "-c", code], user=user.pw_uid,
                          group=user.pw_gid, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
