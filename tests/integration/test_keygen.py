"""Real-process checks of ``flux keygen`` and of loading its certificate."""

import os
import pathlib
import shutil
import stat
import subprocess
import tempfile

import pytest

from fluxd.errors import PermissionDenied
from fluxd.security.keys import load_cluster_cert
from fluxd.testing.cli import run_flux_process

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


def test_keygen_writes_private_certificate(tmp_path):
    path = str(tmp_path / "curve.cert")
    result = run_flux_process(["keygen", "--name=cluster",
                               "--meta=site=lab", path])
    assert (result.rc, result.out, result.err) == (0, "", "")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    cert = load_cluster_cert(path)
    assert cert.name == "cluster"
    assert cert.meta("site") == "lab"
    text = open(path).read()
    assert text.startswith("#   fluxd cluster certificate and **secret** key")
    assert '#       name = "cluster"' in text


def test_keygen_errors_are_one_line(tmp_path):
    for argv in (["keygen", "a", "b"], ["keygen", "--name=bad name", "x"],
                 ["keygen", "-n", "a", str(tmp_path / "no" / "x")]):
        result = run_flux_process(argv)
        assert result.rc == 1, argv
        assert result.out == ""
        assert result.err.startswith("flux-keygen: ")
        assert result.err.count("\n") == 1, result.err
        assert "Traceback" not in result.err


def test_broker_side_refusals_name_the_fix(tmp_path):
    path = str(tmp_path / "curve.cert")
    assert run_flux_process(["keygen", "-n", "c", path]).rc == 0
    os.chmod(path, 0o644)
    with pytest.raises(PermissionDenied) as info:
        load_cluster_cert(path)
    assert str(info.value) == (f"{path}: readable by group/other: "
                               f"chmod 600 {path}")


LOAD_SCRIPT = """
import sys
from fluxd.errors import FluxError
from fluxd.security.keys import load_cluster_cert
try:
    load_cluster_cert(sys.argv[1])
except FluxError as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                    reason="needs root to create a second user")
def test_another_users_certificate_is_refused(tmp_path):
    """Unreadable, or not owned by the loader: refused in one line.

    Loading refuses before any third-party import, so the other user runs
    the system Python on a world-readable copy of the package.
    """
    from fluxd.testing.users import temporary_user
    # pytest's tmp_path sits below a 0700 directory the other user cannot
    # enter: use a directory of our own, world-traversable
    shared = pathlib.Path(tempfile.mkdtemp(prefix="fluxd-keygen-"))
    os.chmod(shared, 0o755)
    try:
        _check_another_user(shared, temporary_user)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _check_another_user(shared, temporary_user):
    shutil.copytree(os.path.join(REPO, "fluxd"), shared / "lib" / "fluxd",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for dirpath, dirnames, filenames in os.walk(shared / "lib"):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    root_cert = str(shared / "root.cert")
    assert run_flux_process(["keygen", "-n", "c", root_cert]).rc == 0
    with temporary_user() as user:
        env = {"PYTHONPATH": str(shared / "lib"), "PATH": "/usr/bin:/bin"}

        def load_as_user(path):
            proc = subprocess.run([SYSTEM_PYTHON, "-c", LOAD_SCRIPT, path],
                                  user=user.pw_uid, group=user.pw_gid,
                                  env=env, capture_output=True, text=True,
                                  timeout=60)
            assert proc.returncode == 0, proc.stderr
            return proc.stdout.strip()

        assert load_as_user(root_cert) == \
            f"PermissionDenied {root_cert}: Permission denied"
        # and the broker (root here) refuses a file another user owns
        os.chown(root_cert, user.pw_uid, user.pw_gid)
        with pytest.raises(PermissionDenied) as info:
            load_cluster_cert(root_cert)
        assert str(info.value) == (
            f"{root_cert}: owned by uid {user.pw_uid}, not by the user "
            "running the broker (uid 0)")
