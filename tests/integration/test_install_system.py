"""``flux install-system --root DIR``: the system files, their owners and
modes, idempotence and edited files (root only: it chowns and visudo)."""

import json
import os
import shutil

import pytest

from fluxd.admin.install import MANIFEST
from fluxd.testing.cli import run_flux_process
from fluxd.testing.users import temporary_user

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("visudo") is None,
    reason="needs root and sudo's visudo")


@pytest.fixture
def owner():
    with temporary_user("fluxi") as pw:
        yield pw


def install(root, *extra, user):
    return run_flux_process(["install-system", "--root", str(root),
                             "--user", user, *extra])


def owner_mode(path):
    st = os.stat(path)
    return st.st_uid, st.st_mode & 0o7777


def test_layout_owners_and_modes(tmp_path, owner):
    root = tmp_path / "root"
    result = install(root, user=owner.pw_name)
    assert result.rc == 0, result.err
    uid = owner.pw_uid
    for name, want in {
            "etc/systemd/system/flux.service": (0, 0o644),
            "etc/flux/system/conf.d/system.toml": (0, 0o644),
            "etc/flux/security/conf.d/sign.toml": (0, 0o644),
            "etc/flux/imp/conf.d/imp.toml": (0, 0o644),
            "etc/pam.d/flux": (0, 0o644),
            "etc/sudoers.d/flux": (0, 0o440),
            "usr/libexec/flux/flux-imp": (0, 0o755),
            "usr/libexec/flux/flux-imp-privileged": (0, 0o755),
            "usr/libexec/flux/flux-pam-account": (0, 0o755),
            "usr/libexec/flux/flux-shell": (0, 0o755),
            "usr/lib/flux-imp/flux_imp/main.py": (0, 0o644),
            "etc/flux/system/conf.d": (0, 0o755),
            "etc/flux/system/prolog.d": (0, 0o755),
            "etc/flux/system/epilog.d": (0, 0o755),
            "etc/flux/imp/conf.d": (0, 0o755),
            "etc/sudoers.d": (0, 0o750),
            "var/lib/flux": (uid, 0o700)}.items():
        assert owner_mode(root / name) == want, name
    unit = (root / "etc/systemd/system/flux.service").read_text()
    bindir = os.path.dirname(shutil.which(
        "flux", path=os.path.dirname(os.sys.executable)))
    assert "Type=notify" in unit and f"User={owner.pw_name}\n" in unit
    assert f'allowed-users = [ "{owner.pw_name}" ]' in (
        root / "etc/flux/imp/conf.d/imp.toml").read_text()
    assert f"ExecStart={bindir}/twistd -n" in unit
    assert f"ExecReload={bindir}/flux config reload" in unit
    sudoers = (root / "etc/sudoers.d/flux").read_text()
    assert (f"{owner.pw_name} ALL=(root) NOPASSWD: "
            f"{root}/usr/libexec/flux/flux-imp-privileged") in sudoers
    assert "session required pam_limits.so" in (
        root / "etc/pam.d/flux").read_text()
    assert (root / "usr/libexec/flux/flux-pam-account").read_text(
    ).startswith(f"#!{bindir}/python3 -I\n")
    assert (root / "usr/libexec/flux/flux-shell").read_text().startswith(
        f"#!{bindir}/python3\n")
    assert "no certificate yet" in result.out
    manifest = json.loads((root / MANIFEST).read_text())
    assert "etc/flux/imp/conf.d/imp.toml" in manifest


def test_second_run_changes_nothing(tmp_path, owner):
    root = tmp_path / "root"
    assert install(root, user=owner.pw_name).rc == 0
    before = {p: os.stat(p).st_mtime_ns for p in root.rglob("*")}
    result = install(root, user=owner.pw_name)
    assert result.rc == 0, result.err
    assert f"{root}: nothing to do, every file is installed" in result.out
    assert "installed" not in result.out.replace("is installed", "")
    assert {p: os.stat(p).st_mtime_ns for p in root.rglob("*")} == before


def test_modes_and_certificate_fixed(tmp_path, owner):
    root = tmp_path / "root"
    assert install(root, user=owner.pw_name).rc == 0
    os.chmod(root / "etc/flux/imp/conf.d", 0o777)
    os.chmod(root / "etc/sudoers.d/flux", 0o666)
    os.chmod(root / "etc/pam.d", 0o700)           # the system's: left alone
    cert = root / "etc/flux/system/curve.cert"
    cert.write_text("cert")
    os.chmod(cert, 0o644)
    result = install(root, user=owner.pw_name)
    assert result.rc == 0, result.err
    assert owner_mode(root / "etc/flux/imp/conf.d") == (0, 0o755)
    assert owner_mode(root / "etc/sudoers.d/flux") == (0, 0o440)
    assert owner_mode(root / "etc/pam.d") == (0, 0o700)
    assert (f"fixed owner/mode of {root}/etc/sudoers.d/flux (root, 0440)"
            in result.out)
    assert owner_mode(cert) == (owner.pw_uid, 0o400)
    assert f"fixed owner/mode of {cert}" in result.out


def test_edited_file_refused_then_forced(tmp_path, owner):
    root = tmp_path / "root"
    assert install(root, user=owner.pw_name).rc == 0
    edited = root / "etc/flux/system/conf.d/system.toml"
    edited.write_text("# my cluster\n")
    unit = root / "etc/systemd/system/flux.service"
    unit.unlink()
    result = install(root, user=owner.pw_name)
    assert result.rc == 1
    assert result.err == (f"flux-install-system: {edited}: edited since it"
                          " was installed (use --force to overwrite it)\n")
    assert edited.read_text() == "# my cluster\n"
    assert not unit.exists()          # nothing written when refused
    result = install(root, "--force", user=owner.pw_name)
    assert result.rc == 0, result.err
    assert f"overwriting {edited} (--force)" in result.out
    assert "[access]" in edited.read_text() and unit.exists()


def test_missing_user_created_and_errors(tmp_path):
    import pwd
    import subprocess
    import uuid
    name = f"fluxn{uuid.uuid4().hex[:8]}"
    try:
        result = install(tmp_path / "r", user=name)
        assert result.rc == 0, result.err
        assert f"created system user {name}" in result.out
        assert owner_mode(tmp_path / "r/var/lib/flux")[0] == \
            pwd.getpwnam(name).pw_uid
    finally:
        subprocess.run(["userdel", name], capture_output=True)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/etc/flux").mkdir(parents=True)
    (tmp_path / "bad" / MANIFEST).write_text("{not json")
    result = install(tmp_path / "bad", user="root")
    assert result.rc == 1 and result.err.count("\n") == 1
    assert result.err.startswith(f"flux-install-system: {tmp_path}/bad/"
                                 f"{MANIFEST}: ")
