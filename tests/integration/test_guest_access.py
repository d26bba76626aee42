"""Guest access over the local socket with a second, real user (root only).

The guest runs the stdlib client under the system's own Python (the
project venv's interpreter lives under /root, which other users cannot
enter) from a world-readable copy of the fluxd package (the checkout may
sit in a private directory): the client imports no third-party package.
"""

import os
import shutil
import subprocess
import tempfile

import pytest
import tomli_w

from fluxd.testing.users import temporary_user
from tests.integration.multiuser import REPO, SYSTEM_PYTHON

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                                reason="needs root to create a user")

GUEST_SCRIPT = """
import sys
from fluxd.client.sync import Flux
from fluxd.errors import FluxError
try:
    with Flux(sys.argv[1]) as h:
        print("connected", h.userid, h.rolemask)
        print("getattr", h.rpc("attr.get", {"name": "rank"})["value"])
        try:
            h.rpc("attr.set", {"name": "log-level", "value": "3"})
            print("set ok")
        except FluxError as e:
            print("set", e.errno, e)
except FluxError as e:
    print("refused", e.errno, e)
"""


@pytest.fixture
def shared_dir():
    path = tempfile.mkdtemp(prefix="fluxd-guest-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


EVENT_SCRIPT = """
import sys
from fluxd.client.sync import Flux
from fluxd.errors import FluxError
with Flux(sys.argv[1]) as h:
    for topic in sys.argv[2:]:
        try:
            h.rpc("event.publish", {"topic": topic, "payload": {
                "namespace": "primary", "rootseq": 1000000,
                "rootref": "sha1-0000000000000000000000000000000000000000",
                "owner": h.userid, "keys": []}})
            print("published", topic)
        except FluxError as e:
            print("refused", e.errno, e)
"""


def run_as(user, uri, script=GUEST_SCRIPT, args=()):
    libdir = os.path.join(os.path.dirname(uri[len("local://"):]), "..", "lib")
    if not os.path.isdir(libdir):
        shutil.copytree(os.path.join(REPO, "fluxd"),
                        os.path.join(libdir, "fluxd"),
                        ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": os.path.abspath(libdir), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([SYSTEM_PYTHON, "-c", script, uri, *args],
                          user=user.pw_uid, group=user.pw_gid, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def start(broker_factory, shared_dir, name, config=None):
    rundir = os.path.join(shared_dir, name)
    os.makedirs(rundir)
    os.chmod(rundir, 0o755)
    config_path = None
    if config is not None:
        config_path = os.path.join(shared_dir, f"{name}.toml")
        with open(config_path, "wb") as f:
            tomli_w.dump(config, f)
    return broker_factory(config_path=config_path, name=name,
                          attrs={"rundir": rundir,
                                 "local-uri": f"local://{rundir}/local"})


def test_guest_refused_by_default(broker_factory, shared_dir):
    broker = start(broker_factory, shared_dir, "default")
    with temporary_user() as user:
        lines = run_as(user, broker.uri)
    assert lines[0].startswith("refused 1 ")
    # the broker keeps serving its owner
    assert broker.flux("getattr", "rank").out == "0\n"


def test_guest_allowed_but_not_owner(broker_factory, shared_dir):
    broker = start(broker_factory, shared_dir, "guest",
                   {"access": {"allow-guest-user": True}})
    with temporary_user() as user:
        lines = run_as(user, broker.uri)
        assert lines[0] == f"connected {user.pw_uid} 2"
    assert lines[1] == "getattr 0"
    assert lines[2] == "set 1 Request requires owner credentials"


def test_guest_cannot_forge_service_events(broker_factory, shared_dir):
    """A guest's forged ``kvs.namespace-primary-setroot`` once emptied the
    KVS: now it is refused, naming the topic, and the owner's keys stay,
    also after a restart."""
    broker = start(broker_factory, shared_dir, "forge",
                   {"access": {"allow-guest-user": True}})
    assert broker.flux("kvs", "put", "mine=kept").rc == 0
    topics = ["kvs.namespace-primary-setroot", "kvs.dropcache",
              "kvs.namespace-primary-removed", "job-exception",
              "shell-7.kill", "resource.x", "user.hello"]
    with temporary_user() as user:
        lines = run_as(user, broker.uri, EVENT_SCRIPT, topics)
    for topic, line in zip(topics[:-1], lines):
        assert line == (f"refused 1 event topic '{topic}' is reserved for the"
                        " instance: guests may not publish it")
    assert lines[-1] == "published user.hello"
    assert broker.flux("kvs", "get", "mine").out == "kept\n"
    assert broker.flux("kvs", "put", "after=1").rc == 0
    assert broker.flux("kvs", "get", "mine").out == "kept\n"
