"""``flux update`` by a real guest user on a real broker: the guest's own
munge-signed job may be changed within the limits that applied at
submission; above them, on another user's job, or after an instance
owner update, it is refused (root only: real users, a private munged)."""

import os
import shutil
import subprocess

import pytest

from fluxd.testing.munged import MUNGED, private_munged
from fluxd.testing.users import temporary_user
from tests.integration.test_guest_access import (
    REPO, SYSTEM_PYTHON, shared_dir)
from tests.integration.test_sign_munge import security_dir

__all__ = ["shared_dir"]     # the fixture

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                       reason="needs root to create a user"),
    pytest.mark.skipif(MUNGED is None, reason="munged not installed"
                       " (.ci/run installs the munge package)"),
]

CONFIG = """\
[access]
allow-guest-user = true

[policy.limits]
duration = "1h"
"""


def test_guest_updates_own_job_within_limits(broker_factory, shared_dir):
    with private_munged() as sock:
        munge = security_dir(shared_dir, "munge", (
            '[sign]\nmax-ttl = 1209600\ndefault-type = "munge"\n'
            f'allowed-types = ["munge"]\n[sign.munge]\nsocket-path = "{sock}"\n'))
        rundir = os.path.join(shared_dir, "b")
        os.makedirs(rundir)
        os.chmod(rundir, 0o755)
        config = os.path.join(shared_dir, "system.toml")
        with open(config, "w") as f:
            f.write(CONFIG)
        broker = broker_factory(
            config_path=config, name="b",
            attrs={"rundir": rundir, "local-uri": f"local://{rundir}/local"},
            env=dict(os.environ, FLUXD_SECURITY_CONF_DIR=munge))
        libdir = os.path.join(shared_dir, "lib")
        shutil.copytree(os.path.join(REPO, "fluxd"),
                        os.path.join(libdir, "fluxd"),
                        ignore=shutil.ignore_patterns("__pycache__"))

        def flux_as(user, *argv):
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                   "PYTHONPATH": libdir, "FLUX_URI": broker.uri,
                   "FLUXD_SECURITY_CONF_DIR": munge}
            proc = subprocess.run(
                [SYSTEM_PYTHON, "-c", "from fluxd.cli.main import main;"
                 " main()", *argv], user=user.pw_uid, group=user.pw_gid,
                env=env, cwd="/", capture_output=True, text=True, timeout=60)
            return proc.returncode, proc.stdout, proc.stderr

        def row(jobid):
            return broker.flux("jobs", "-a", "-A", "-n", "--format={name}"
                               " {duration} {urgency}", jobid).out.strip()

        with temporary_user() as alice, temporary_user() as bob:
            rc, out, err = flux_as(alice, "submit", "--urgency=hold",
                                   "-t", "10m", "--job-name=a", "true")
            assert (rc, err) == (0, "")
            job = out.strip()
            # within the limit: applied, and shown by flux jobs
            assert flux_as(alice, "update", job, "duration=30m",
                           "name=mine") == (0, "", "")
            assert row(job) == "mine 1800.0 0"
            # over the limit, or above the default urgency: nothing applied
            assert flux_as(alice, "update", job, "name=x", "duration=2h") \
                == (1, "", "flux-update: ERROR: requested duration (2h)"
                    " exceeds policy limit of 1h\n")
            assert flux_as(alice, "update", job, "name=x", "urgency=20") \
                == (1, "", "flux-update: ERROR: guests can only adjust"
                    " urgency <= default\n")
            assert row(job) == "mine 1800.0 0"
            # another guest may not touch it
            assert flux_as(bob, "update", job, "name=bobs") == (
                1, "", "flux-update: ERROR: guests may only update their"
                " own jobs\n")
            # the owner goes past the limit; the job is then immutable
            assert broker.flux("update", job, "duration=3h").rc == 0
            assert row(job) == "mine 10800.0 0"
            assert flux_as(alice, "update", job, "name=again") == (
                1, "", "flux-update: ERROR: job is immutable due to"
                " previous instance owner update\n")
            assert broker.flux("cancel", job).rc == 0
