"""Munge-signed jobs on a real broker: a real second user submits with
``flux submit`` (root only; a private munged)."""

import os
import shutil
import subprocess

import pytest

from fluxd.testing.munged import MUNGED, private_munged
from fluxd.testing.users import temporary_user
from tests.integration.test_guest_access import (
    REPO, SYSTEM_PYTHON, shared_dir)

__all__ = ["shared_dir"]     # the fixture

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                       reason="needs root to create a user"),
    pytest.mark.skipif(MUNGED is None, reason="munged not installed"
                       " (.ci/run installs the munge package)"),
]

SIGN_SCRIPT = """
import sys
from fluxd.security.sign import load_sign_config, wrap
print(wrap(b'{}', int(sys.argv[2]), load_sign_config(sys.argv[1])))
"""


def security_dir(parent, name, text):
    path = os.path.join(parent, name)
    os.mkdir(path)
    os.chmod(path, 0o755)
    with open(os.path.join(path, "sign.toml"), "w") as f:
        f.write(text)
    os.chmod(os.path.join(path, "sign.toml"), 0o644)
    return path


def test_guest_submits_with_munge(broker_factory, shared_dir):
    with private_munged() as sock:
        munge = security_dir(shared_dir, "munge", (
            '[sign]\nmax-ttl = 1209600\ndefault-type = "munge"\n'
            f'allowed-types = ["munge"]\n[sign.munge]\nsocket-path = "{sock}"\n'))
        nonesign = security_dir(shared_dir, "none", (
            '[sign]\nmax-ttl = 1209600\ndefault-type = "none"\n'
            'allowed-types = ["none"]\n'))
        rundir = os.path.join(shared_dir, "b")
        os.makedirs(rundir)
        os.chmod(rundir, 0o755)
        config = os.path.join(shared_dir, "system.toml")
        with open(config, "w") as f:
            f.write("[access]\nallow-guest-user = true\n")
        broker = broker_factory(
            config_path=config, name="b",
            attrs={"rundir": rundir, "local-uri": f"local://{rundir}/local"},
            env=dict(os.environ, FLUXD_SECURITY_CONF_DIR=munge))
        libdir = os.path.join(shared_dir, "lib")
        shutil.copytree(os.path.join(REPO, "fluxd"),
                        os.path.join(libdir, "fluxd"),
                        ignore=shutil.ignore_patterns("__pycache__"))

        def as_user(user, argv, confdir):
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                   "PYTHONPATH": libdir, "FLUX_URI": broker.uri,
                   "FLUXD_SECURITY_CONF_DIR": confdir}
            proc = subprocess.run([SYSTEM_PYTHON, *argv], user=user.pw_uid,
                                  group=user.pw_gid, env=env, cwd="/",
                                  capture_output=True, text=True, timeout=60)
            return proc.returncode, proc.stdout, proc.stderr

        def guest_flux(user, *argv, confdir=munge):
            return as_user(user, ["-c", "from fluxd.cli.main import main;"
                                  " main()", *argv], confdir)

        with temporary_user() as guest:
            rc, out, err = guest_flux(guest, "submit", "--urgency=hold",
                                      "true")
            assert (rc, err) == (0, "")
            jobid = out.strip()
            rc, out, err = guest_flux(guest, "job", "info", jobid, "J")
            assert rc == 0, err
            assert out.split(".")[2].startswith("MUNGE:")
            listed = broker.flux("jobs", "-a", "-A", "-n",
                                 "--format={id.f58} {userid}").out
            assert listed == f"{jobid} {guest.pw_uid}\n"
            # signed with none by a guest: refused
            assert guest_flux(guest, "submit", "true", confdir=nonesign) == (
                1, "", "[Errno 1] only instance owner can use"
                " sign-type=none\n")
            # the owner may sign with none (as flux-core's ingest allows)
            assert broker.flux("submit", "--urgency=hold", "true",
                               env=dict(broker.env,
                                        FLUXD_SECURITY_CONF_DIR=nonesign)
                               ).rc == 0
            # a J the guest signed, submitted by the owner
            rc, out, err = as_user(guest, ["-c", SIGN_SCRIPT, munge,
                                           str(guest.pw_uid)], munge)
            assert rc == 0, err
            from fluxd.client.sync import Flux
            from fluxd.errors import FluxError
            with Flux(broker.uri) as h:
                with pytest.raises(FluxError) as caught:
                    h.rpc("job-ingest.submit", {"J": out.strip(),
                                                "urgency": 16, "flags": 0})
            assert str(caught.value) == \
                f"signer={guest.pw_uid} != requestor={os.getuid()}"
            # munged unreachable: one line, no traceback
            broken = security_dir(shared_dir, "broken", (
                '[sign]\nmax-ttl = 10\ndefault-type = "munge"\n'
                'allowed-types = ["munge"]\n[sign.munge]\n'
                f'socket-path = "{sock}.missing"\n'))
            rc, out, err = guest_flux(guest, "submit", "true",
                                      confdir=broken)
            assert rc == 1 and len(err.splitlines()) == 1
            assert "sign-munge-sign: Failed to access" in err
