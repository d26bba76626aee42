"""The node access check (``flux-pam-account``), run as pam_exec runs it
(as root, ``PAM_USER`` and ``PAM_TYPE`` in the environment) against a
real broker where a real guest has a running test-exec job, or none."""

import os
import shutil
import subprocess

import pytest

from fluxd.testing.cli import run_flux_process
from fluxd.testing.munged import MUNGED, private_munged
from fluxd.testing.users import temporary_user
from tests.integration.test_guest_access import (
    REPO, SYSTEM_PYTHON, shared_dir)

__all__ = ["shared_dir"]     # the fixture

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None
                       or shutil.which("visudo") is None,
                       reason="needs root to create users and install"),
    pytest.mark.skipif(MUNGED is None, reason="munged not installed"),
]


def pam_exec(script, user, uri, kind="account", owner="flux"):
    env = {"PATH": "/usr/bin:/bin", "PAM_USER": user, "PAM_TYPE": kind,
           "PAM_SERVICE": "sshd", "PAM_RHOST": "localhost"}
    proc = subprocess.run([script, "--uri", uri, "--owner", owner], env=env,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr


@pytest.fixture
def security(shared_dir):
    """A security config dir signing with a private munged."""
    with private_munged() as sock:
        path = os.path.join(shared_dir, "security")
        os.mkdir(path)
        os.chmod(path, 0o755)
        with open(os.path.join(path, "sign.toml"), "w") as f:
            f.write('[sign]\nmax-ttl = 1209600\ndefault-type = "munge"\n'
                    'allowed-types = ["munge"]\n'
                    f'[sign.munge]\nsocket-path = "{sock}"\n')
        os.chmod(os.path.join(path, "sign.toml"), 0o644)
        yield path


def test_login_only_while_a_job_runs(broker_factory, shared_dir, security,
                                     tmp_path):
    with temporary_user("fluxo") as owner:
        result = run_flux_process(["install-system", "--root",
                                   str(tmp_path / "root"), "--user",
                                   owner.pw_name])
        assert result.rc == 0, result.err
    script = str(tmp_path / "root/usr/libexec/flux/flux-pam-account")
    rundir = os.path.join(shared_dir, "b")
    os.makedirs(rundir)
    os.chmod(rundir, 0o755)
    config = os.path.join(shared_dir, "system.toml")
    with open(config, "w") as f:
        f.write("[access]\nallow-guest-user = true\n"
                "[exec.testexec]\nallow-guests = true\n")
    broker = broker_factory(
        config_path=config, name="b",
        attrs={"rundir": rundir, "local-uri": f"local://{rundir}/local"},
        env=dict(os.environ, FLUXD_SECURITY_CONF_DIR=security))
    libdir = os.path.join(shared_dir, "lib")
    shutil.copytree(os.path.join(REPO, "fluxd"), os.path.join(libdir, "fluxd"),
                    ignore=shutil.ignore_patterns("__pycache__"))

    def guest_flux(user, *argv):
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
               "PYTHONPATH": libdir, "FLUX_URI": broker.uri,
               "FLUXD_SECURITY_CONF_DIR": security}
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", "from fluxd.cli.main import main; main()",
             *argv], user=user.pw_uid, group=user.pw_gid, env=env, cwd="/",
            capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    with temporary_user() as alice, temporary_user() as bob:
        jobid = guest_flux(alice, "submit",
                           "--setattr=system.exec.test.run_duration=300s",
                           "true")
        assert broker.flux("job", "wait-event", jobid, "start").rc == 0
        assert pam_exec(script, alice.pw_name, broker.uri) == (0, "")
        assert pam_exec(script, bob.pw_name, broker.uri) == (
            1, f"flux-pam-account: access denied: {bob.pw_name} has no"
               " running job on this node (rank 0)\n")
        # root and the instance owner, always
        assert pam_exec(script, "root", broker.uri) == (0, "")
        assert pam_exec(script, bob.pw_name, broker.uri,
                        owner=bob.pw_name) == (0, "")
        # not an account module: refused
        assert pam_exec(script, alice.pw_name, broker.uri, kind="auth") == (
            1, "flux-pam-account: only an account module (PAM_TYPE=auth)\n")
        # once the job is over, alice is refused too
        assert broker.flux("cancel", jobid).rc == 0
        assert broker.flux("job", "wait-event", jobid, "clean").rc == 0
        assert pam_exec(script, alice.pw_name, broker.uri)[0] == 1
        # broker down: closed, but root still gets in
        broker.stop()
        rc, err = pam_exec(script, alice.pw_name, broker.uri)
        assert rc == 1 and err.count("\n") == 1
        assert err.startswith(f"flux-pam-account: access denied to"
                              f" {alice.pw_name}: cannot ask the flux broker"
                              f" at {broker.uri}: ")
        assert pam_exec(script, "root", broker.uri) == (0, "")
        assert pam_exec(script, "nosuchuser-x", broker.uri) == (
            1, "flux-pam-account: access denied: unknown user"
               " 'nosuchuser-x'\n")
