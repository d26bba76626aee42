"""Starting a broker: the guide's command line verbatim, and every start-up
error in one line with a non-zero exit and nothing left behind."""

import os
import shutil
import socket
import subprocess

import pytest

from fluxd.testing.cli import flux_executable
from tests.integration.admin_helpers import Broker, Instance, run_fluxd


def guide_args(tmp_path):
    """The broker arguments ``systemctl status flux`` shows in the admin
    guide, with this test's directories for /run/flux and /var/lib/flux."""
    run, state = tmp_path / "run", tmp_path / "state"
    return [f"-Scron.directory={tmp_path}/cron.d", f"-Srundir={run}",
            f"-Sstatedir={state}", f"-Slocal-uri=local://{run}/local",
            "-Slog-stderr-level=6", "-Slog-stderr-mode=local",
            "-Sbroker.rc2_none", "-Sbroker.quorum=1",
            "-Sbroker.quorum-timeout=none", "-Sbroker.exit-norestart=42",
            "-Sbroker.sd-notify=1", "-Scontent.dump=auto",
            "-Scontent.restore=auto"]


def test_guide_command_line(tmp_path):
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "access.toml").write_text("[access]\nallow-guest-user = false\n")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(30)
    marker = tmp_path / "rc2-ran"
    work = tmp_path / "work"
    work.mkdir()
    # the guide's line, plus an initial program that rc2_none must skip
    broker = Broker(work, config_path=str(conf), attrs={},
                    extra=guide_args(tmp_path) + ["--", "touch", str(marker)],
                    env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify")))
    broker.uri = f"local://{tmp_path}/run/local"
    broker.attrs.clear()
    try:
        broker.start()
        assert b"READY=1" in notify.recv(4096)
        assert broker.flux("getattr", "broker.quorum-warn").out == "none\n"
        assert broker.flux("getattr", "broker.quorum").out == "1\n"
        assert broker.flux("config", "get", "access.allow-guest-user").out \
            == "false\n"
        # rc2_none: no initial program, the broker stays in RUN
        assert " run " in broker.flux("uptime").out
        assert not marker.exists()
        # log-stderr-mode=local at level 6: journal lines
        broker.wait_for("broker.info[0]: quorum-full: quorum->run")
        assert ("broker.warning[0]: cron.directory: has no effect in fluxd"
                " (fluxd has no cron service to load crontabs)"
                in broker.log_text)
        r = broker.flux("shutdown", "--quiet")
        assert r.rc == 0, r.err
        # exit-norestart after flux shutdown; content.dump=auto dumped
        assert broker.wait() == 42
        assert os.path.islink(tmp_path / "state" / "dump" / "RESTORE")
    finally:
        broker.stop()
        notify.close()
    assert not marker.exists()


def test_flux_start_broker_options_and_ping_host(tmp_path):
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "access.toml").write_text("[access]\nallow-guest-user = true\n")
    script = ("flux config get access.allow-guest-user;"
              " flux getattr broker.quorum-warn;"
              " flux getattr tbon.topo;"
              " flux ping -c 1 -i 0 h1")
    proc = subprocess.run(
        [flux_executable(), "start", "--test-size=2", "--test-hosts=h[0-1]",
         f"-o,--config-path={conf},-Sbroker.quorum-timeout=none,"
         "-Sbroker.rc2_none,-Stbon.fanout=2", "sh", "-c", script],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "FLUX_URI"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:4] == ["true", "none", "kary:2",
                         "flux-ping h1!broker (rank 1)"]
    assert lines[4].startswith("1!broker.ping pad=0 seq=0 time=")


def one_line(proc):
    """The single stderr line of a failed start (and no traceback)."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def base_args(tmp_path, name="x"):
    run = tmp_path / f"run-{name}"
    return [f"-Srundir={run}", f"-Slocal-uri=local://{run}/local"]


def test_bad_attribute_values(tmp_path):
    for item, message in (
            ("broker.quorum=abc", "fluxd: broker.quorum: invalid value 'abc'"
                                  " (expected a positive number of brokers)"),
            ("log-stderr-level=loud", "fluxd: log-stderr-level: invalid log"
                                      " level 'loud' (expected -1 to 7)"),
            ("broker.shutdown-timeout=soon",
             "fluxd: broker.shutdown-timeout: invalid duration 'soon'"
             " (expected an RFC 23 duration such as 30s, 5m or 1.5h)"),
            ("nosuch=1", "fluxd: --setattr nosuch: unknown attribute or not"
                         " settable on the command line")):
        proc, tmpdir = run_fluxd([f"-S{item}"] + base_args(tmp_path),
                                 tmp_path)
        assert one_line(proc) == message
        assert proc.stdout == ""
        assert os.listdir(tmpdir) == []
        assert not (tmp_path / "run-x").exists()


def test_config_error_without_usage_text(tmp_path):
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "a.toml").write_text("[access\n")
    proc, tmpdir = run_fluxd([f"--config-path={conf}"] + base_args(tmp_path),
                             tmp_path)
    assert one_line(proc).startswith(f"fluxd: {conf}/a.toml:1: ")
    assert proc.stdout == ""
    assert os.listdir(tmpdir) == []


def test_statedir_problems(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    for statedir, message in (
            (afile, f"fluxd: statedir {afile}: File exists"),
            ("/proc/1", "fluxd: statedir /proc/1: cannot create a file there"
                        " (No such file or directory)")):
        proc, tmpdir = run_fluxd([f"-Sstatedir={statedir}"]
                                 + base_args(tmp_path), tmp_path)
        assert one_line(proc) == message
        assert os.listdir(tmpdir) == []
        assert not (tmp_path / "run-x").exists()


@pytest.fixture
def readonly_dir(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a read-only tmpfs needs root")
    path = tmp_path / "ro"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs",
                    str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_statedir_on_read_only_mount(tmp_path, readonly_dir):
    proc, tmpdir = run_fluxd([f"-Sstatedir={readonly_dir}"]
                             + base_args(tmp_path), tmp_path)
    assert one_line(proc) == (f"fluxd: statedir {readonly_dir}: cannot create"
                              " a file there (Read-only file system)")
    assert os.listdir(tmpdir) == []


def test_rundir_cannot_be_created(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    proc, tmpdir = run_fluxd([f"-Srundir={afile}/run",
                              f"-Slocal-uri=local://{afile}/run/local"],
                             tmp_path)
    assert one_line(proc) == f"fluxd: rundir {afile}/run: Not a directory"
    assert os.listdir(tmpdir) == []


def test_quorum_larger_than_size(tmp_path):
    inst = Instance(tmp_path, 2)
    proc, tmpdir = run_fluxd([f"--config-path={inst.conf[0]}",
                              "-Shostname=n0", "-Sbroker.quorum=3"]
                             + base_args(tmp_path), tmp_path)
    assert one_line(proc) == ("fluxd: broker.quorum: 3 is more than the"
                              " instance size 2")
    assert os.listdir(tmpdir) == []
    assert not (tmp_path / "run-x").exists()


def test_port_in_use(tmp_path):
    inst = Instance(tmp_path, 2)
    port = inst.ports[0]
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    try:
        proc, tmpdir = run_fluxd([f"--config-path={inst.conf[0]}",
                                  "-Shostname=n0"] + base_args(tmp_path),
                                 tmp_path)
    finally:
        holder.close()
    line = one_line(proc)
    assert line.endswith("broker.err[0]: loading built-in modules failed:"
                         f" cannot listen on 127.0.0.1:{port}: Address"
                         " already in use"), line
    assert os.listdir(tmpdir) == []


def test_flux_start_alone_with_a_system_config(tmp_path):
    inst = Instance(tmp_path, 2)
    (inst.conf[0] / "access.toml").write_text(
        "[access]\nallow-guest-user = true\n")
    proc = subprocess.run(
        [flux_executable(), "start", "-c", str(inst.conf[0]), "sh", "-c",
         "flux getattr size; flux config get access.allow-guest-user"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "FLUX_URI"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1\ntrue\n"
    assert proc.stderr == (f"flux-start: warning: ignoring [bootstrap] in"
                           f" {inst.conf[0]}: a test instance makes its own\n")
