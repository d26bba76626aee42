"""``flux preflight`` on a temp-root install, a real munged and a real
broker reading that root's config (root only: the install chowns)."""

import os
import shutil
from types import SimpleNamespace

import pytest

from fluxd.testing.broker import BrokerProcess
from fluxd.testing.cli import run_flux_process
from fluxd.testing.munged import MUNGED, private_munged
from fluxd.testing.users import temporary_user
from tests.integration.admin_helpers import make_instance  # noqa: F401

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("visudo") is None,
                       reason="needs root and sudo's visudo"),
    pytest.mark.skipif(MUNGED is None, reason="munged not installed"),
]


def install(root, user):
    result = run_flux_process(["install-system", "--root", str(root),
                               "--user", user.pw_name])
    assert result.rc == 0, result.err
    cert = root / "etc/flux/system/curve.cert"
    assert run_flux_process(["keygen", str(cert)]).rc == 0
    os.chown(cert, user.pw_uid, user.pw_gid)
    os.chmod(cert, 0o400)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    top = tmp_path_factory.mktemp("preflight")
    with temporary_user("fluxp") as user, private_munged() as sock:
        root = top / "root"
        install(root, user)
        work = top / "broker"
        work.mkdir()
        broker = BrokerProcess(
            work, config_path=str(root / "etc/flux/system/conf.d"),
            attrs={"hostname": "test1"})
        broker.start()
        try:
            yield SimpleNamespace(root=root, user=user, munge=sock,
                                  uri=broker.uri, top=top)
        finally:
            broker.stop()


def preflight(node, *extra, root=None, munge=None, uri=None):
    return run_flux_process([
        "preflight", "--root", str(root or node.root), "--user",
        node.user.pw_name, "--munge-socket", munge or node.munge,
        "--uri", uri or node.uri, "--min-free", "1M", *extra])


def row(result, name):
    for line in result.out.splitlines():
        if line.split()[:1] == [name]:
            return line.split(None, 2)
    raise AssertionError(f"no {name} row in {result.out}")


def fix_of(result, name):
    lines = result.out.splitlines()
    for i, line in enumerate(lines):
        if line.split()[:1] == [name]:
            return lines[i + 1].strip()
    raise AssertionError(name)


def test_passes_on_an_installed_node(node):
    result = preflight(node)
    assert result.rc == 0, result.out + result.err
    assert result.out.splitlines()[0].split() == ["CHECK", "RESULT",
                                                  "DETAIL"]
    for name in ("munge", "user", "certificate", "config-owner",
                 "config-sync", "clock", "imp-config", "sudoers",
                 "statedir"):
        assert row(result, name)[1] == "pass", result.out
    assert row(result, "config-sync")[2] == (
        "1 ranks have this node's system, security and imp config")
    assert row(result, "systemd") == ["systemd", "n/a",
                                      f"--root is {node.root}"]


def test_world_readable_certificate_fails(node):
    cert = node.root / "etc/flux/system/curve.cert"
    os.chmod(cert, 0o444)
    try:
        result = preflight(node)
    finally:
        os.chmod(cert, 0o400)
    assert result.rc == 1
    assert row(result, "certificate") == [
        "certificate", "FAIL",
        f"{cert}: mode 0444, readable by group or others"]
    assert fix_of(result, "certificate") == (
        f"fix: chown {node.user.pw_name} {cert}; chmod 0400 {cert}")
    assert result.err == "flux-preflight: 1 check(s) failed: certificate\n"


def test_stopped_munged_fails(node):
    with private_munged() as sock:
        pass                                  # stopped and removed
    result = preflight(node, munge=sock)
    assert result.rc == 1
    name, status, detail = row(result, "munge")
    assert status == "FAIL" and detail.startswith(f"{sock}: ")
    assert fix_of(result, "munge") == (
        "fix: start munged on every node with the same key"
        " (systemctl enable --now munge)")
    assert row(result, "certificate")[1] == "pass"


def test_config_differing_from_the_broker_fails(node):
    other = node.top / "other"
    install(other, node.user)
    with open(other / "etc/flux/system/conf.d/system.toml", "a") as f:
        f.write("\n[heartbeat]\nperiod = \"3s\"\n")
    result = preflight(node, root=other)
    assert result.rc == 1
    assert row(result, "config-sync") == [
        "config-sync", "FAIL", "differs from this node: rank 0 system"]


def test_insecure_config_and_sudoers(node):
    conf = node.root / "etc/flux/imp/conf.d"
    sudoers = node.root / "etc/sudoers.d/flux"
    os.chmod(conf, 0o777)
    os.chmod(sudoers, 0o644)
    try:
        result = preflight(node)
    finally:
        os.chmod(conf, 0o755)
        os.chmod(sudoers, 0o440)
    assert result.rc == 1
    assert row(result, "config-owner")[1:] == [
        "FAIL", f"{conf}: writable by group or others"]
    assert row(result, "imp-config")[1:] == [
        "FAIL", f"{conf}: writable by group or others"]
    assert row(result, "sudoers")[1:] == [
        "FAIL", f"{sudoers}: owner 0, mode 0644 (want root, 0440)"]


def test_without_an_instance(node):
    gone = f"local://{node.top}/nobroker"
    result = preflight(node, uri=gone)
    assert result.rc == 0, result.out
    assert row(result, "config-sync")[1] == "n/a"
    assert row(result, "clock")[:2] == ["clock", "n/a"]


def test_bad_option_one_line(node):
    result = preflight(node, "--min-free", "lots")
    assert result.rc == 1 and result.out == ""
    assert result.err == ("flux-preflight: --min-free: 'lots' is not a"
                          " size (e.g. 1G)\n")


def test_config_sync_over_every_rank(make_instance, tmp_path):
    """Two brokers, each reading its node's /etc/flux under its own root:
    a file changed on rank 1's node is found from rank 0's."""
    inst = make_instance(2)
    for rank, broker in enumerate(inst):
        etc = tmp_path / f"node{rank}/etc/flux"
        system = etc / "system/conf.d"
        system.mkdir(parents=True)
        (system / "boot.toml").write_text(
            (inst.conf[rank] / "boot.toml").read_text())
        for sub in ("security/conf.d", "imp/conf.d"):
            (etc / sub).mkdir(parents=True)
        broker.config_path = str(system)
    inst.start()

    def sync_row():
        result = run_flux_process(["preflight", "--root",
                                   str(tmp_path / "node0"), "--uri",
                                   inst[0].uri])
        return row(result, "config-sync")

    assert sync_row() == ["config-sync", "pass", "2 ranks have this node's"
                          " system, security and imp config"]
    (tmp_path / "node1/etc/flux/system/conf.d/site.toml").write_text("# x\n")
    (tmp_path / "node1/etc/flux/imp/conf.d/imp.toml").write_text("[exec]\n")
    assert sync_row() == ["config-sync", "FAIL", "differs from this node:"
                          " rank 1 system, rank 1 imp"]


def test_imp_program_writable_fails(node):
    program = node.root / "usr/libexec/flux/flux-imp-privileged"
    os.chmod(program, 0o777)
    try:
        result = preflight(node)
    finally:
        os.chmod(program, 0o755)
    assert result.rc == 1
    assert row(result, "sudoers")[1:] == [
        "FAIL", f"the rule's program {program}: writable by group or others"]


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"),
                    reason="systemd runs here: the row is a real check")
def test_systemd_not_applicable_without_systemd(node):
    result = preflight(node, root="/")
    assert row(result, "systemd") == ["systemd", "n/a",
                                      "systemd is not running here"]
