"""The guide's multi-user system instance, for real (root only): users
flux, alice and bob, a real munged, ``flux install-system`` into a
temporary root, three brokers on loopback run as ``flux`` with the
system config shape (:mod:`tests.integration.system_helpers`).  Guests'
jobs run as the guests through the IMP (on every rank), follow
ownership, and every owner-only operation refuses them; the IMP's
refusals show up as exceptions on the job.  Users, munged, files and
processes are all removed afterwards."""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from contextlib import contextmanager

import pytest

from tests.integration.multiuser import NEEDS_ROOT_AND_MUNGE, MultiUser
from tests.integration.system_helpers import (
    running_system, runtime_problem, system_instance)

pytestmark = [
    *NEEDS_ROOT_AND_MUNGE,
    pytest.mark.skipif(shutil.which("sudo") is None
                       or shutil.which("visudo") is None
                       or shutil.which("runuser") is None,
                       reason="needs sudo, visudo and runuser"),
]


@pytest.fixture(scope="module")
def system():
    yield from running_system()


def user_processes(uid):
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and os.stat(f"/proc/{pid}").st_uid == uid:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        found.append(int(pid))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def user_commands(uid):
    """The command names of ``uid``'s live processes, one per process
    (a process gone between the listing and the read left out)."""
    names = []
    for pid in user_processes(uid):
        try:
            with open(f"/proc/{pid}/comm") as f:
                names.append(f.read().strip())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return names


def exceptions(s, jobid):
    events = [json.loads(line) for line in s.brokers[0].flux(
        "job", "eventlog", "-f", "json", jobid).out.splitlines()]
    return [(e["context"]["type"], e["context"]["note"]) for e in events
            if e["name"] == "exception"]


def submit(s, user, *argv):
    rc, out, err = s.as_user(user, "submit", *argv)
    assert rc == 0, err
    return out.strip()


def wait_event(s, jobid, name):
    result = s.brokers[0].flux("job", "wait-event", "-t", "60", jobid, name)
    assert result.rc == 0, result.err


def test_brokers_run_as_flux(system):
    s = system
    for broker in s.brokers:
        assert os.stat(f"/proc/{broker.proc.pid}").st_uid == s.owner.pw_uid
    st = os.stat(s.cert)
    assert (st.st_uid, st.st_mode & 0o777) == (s.owner.pw_uid, 0o400)
    # [systemd] and sdexec: accepted, one warning line each
    log = s.brokers[0].log_text.splitlines()
    for key in ("[systemd]", "exec.service"):
        assert [line for line in log if line.startswith("broker.warning")
                and f": {key}: " in line] == [
            f"broker.warning[0]: {s.conf}/system.toml: {key}: has no effect"
            " in fluxd (fluxd runs its shells itself, not in systemd"
            " units)"], log


def test_guests_jobs_run_as_themselves(system):
    s = system
    for user in (s.alice, s.bob):
        assert s.as_user(user, "run", "id", "-un")[:2] == (
            0, f"{user.pw_name}\n")
    # every rank's shell goes through that rank's IMP
    rc, out, err = s.as_user(s.alice, "run", "-N3", "-l", "sh", "-c",
                             "echo $(id -u) $(id -g) $(hostname)")
    assert rc == 0, err
    uid, gid = s.alice.pw_uid, s.alice.pw_gid
    assert sorted(out.splitlines()) == [
        f"{r}: {uid} {gid} {os.uname().nodename}" for r in range(3)]
    # the owner's own jobs do not need the IMP
    rc, out, err = s.as_user(s.owner, "run", "id", "-u")
    assert (rc, out) == (0, f"{s.owner.pw_uid}\n"), err


def test_bob_cannot_touch_alices_job(system):
    s = system
    job = submit(s, s.alice, "sleep", "300")
    wait_event(s, job, "start")
    assert s.as_user(s.bob, "cancel", job) == (
        1, "", f"flux-cancel: ERROR: {job}: guests can only raise"
        " exceptions on their own jobs\n")
    assert s.as_user(s.bob, "job", "urgency", job, "0") == (
        1, "", f"flux-job: {job}: guests can only reprioritize their own"
        " jobs\n")
    assert s.as_user(s.bob, "update", job, "urgency=0") == (
        1, "", "flux-update: ERROR: guests may only update their own"
        " jobs\n")
    assert s.as_user(s.bob, "job", "attach", job) == (
        1, "", f"flux-job: Failed to attach to {job}: that is not your"
        " job\n")
    assert exceptions(s, job) == []
    # alice cancels her own: her tasks are gone
    assert s.as_user(s.alice, "cancel", job) == (0, "", "")
    wait_event(s, job, "clean")
    assert user_processes(s.alice.pw_uid) == []


def test_alice_cannot_administer(system):
    s = system
    for argv in (("resource", "drain", "n1"), ("queue", "stop"),
                 ("config", "reload")):
        rc, out, err = s.as_user(s.alice, *argv)
        assert (rc, out) == (1, ""), argv
        assert err.endswith("Request requires owner credentials\n"), err
        assert len(err.splitlines()) == 1
    assert s.brokers[0].flux("resource", "drain", "-n").out == ""
    assert s.brokers[0].flux("queue", "status").out == (
        "Job submission is enabled\nScheduling is started\n")


@contextmanager
def edited(path, old, new):
    """``path`` with ``old`` replaced by ``new`` for the block."""
    with open(path) as f:
        saved = f.read()
    assert old in saved
    with open(path, "w") as f:
        f.write(saved.replace(old, new))
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(saved)


@contextmanager
def group_writable(path):
    mode = stat.S_IMODE(os.stat(path).st_mode)
    os.chmod(path, mode | 0o020)
    try:
        yield
    finally:
        os.chmod(path, mode)


def refused(s, user, change, fatal, before_release=None):
    """A job of ``user`` submitted held, ``change`` made, then released:
    one exec exception with the IMP's ``fatal`` line; nothing ran."""
    marker = f"/tmp/fluxd-ran-{user.pw_name}"
    job = submit(s, user, "--urgency=hold", "touch", marker)
    with change():
        if before_release is not None:
            before_release()
        assert s.brokers[0].flux("job", "urgency", job, "16").rc == 0
        wait_event(s, job, "clean")
    assert exceptions(s, job) == [("exec", f"flux-imp: Fatal: {fatal}")]
    assert not os.path.exists(marker)
    return job


def test_imp_refusals_are_job_exceptions(system):
    s = system
    sign = os.path.join(s.security, "sign.toml")
    owner = s.owner.pw_name
    shell = f"{s.root}/usr/libexec/flux/flux-shell"
    refused(s, s.alice, lambda: edited(
        s.imp_toml, f'[exec]\nallowed-users = [ "{owner}" ]',
        '[exec]\nallowed-users = [ "root" ]'),
        f"exec: user {owner} not in allowed-users list")
    refused(s, s.alice, lambda: edited(
        s.imp_toml, f'allowed-shells = [ "{shell}" ]',
        'allowed-shells = [ "/bin/true" ]'),
        "exec: shell not in allowed-shells list")
    refused(s, s.bob, lambda: group_writable(s.imp_toml),
            f"{s.imp_toml}: writable by group or others")
    refused(s, s.bob, lambda: edited(
        sign, 'default-type = "munge"\nallowed-types = [ "munge" ]',
        'default-type = "none"\nallowed-types = [ "none" ]'),
        "exec: signature validation failed: sign-unwrap: header"
        " mechanism=munge not allowed")
    submitted = time.time()

    def after_ttl():
        # the J must be older than the new max-ttl (1 s)
        while time.time() < submitted + 2.5:
            time.sleep(0.1)
    refused(s, s.alice, lambda: edited(sign, "max-ttl = 1209600",
                                       "max-ttl = 1"),
            "exec: signature validation failed: sign-munge-verify: max-ttl"
            " exceeded", before_release=after_ttl)
    carol = s.mu.user("carol")

    @contextmanager
    def carol_gone():
        assert subprocess.run(["userdel", carol.pw_name]).returncode == 0
        yield
    refused(s, carol, carol_gone, f"exec: userid {carol.pw_uid} is invalid"
            f" on {socket.gethostname()}")
    # the IMP runs again once the config is fixed
    assert s.as_user(s.alice, "run", "id", "-u")[:2] == (
        0, f"{s.alice.pw_uid}\n")


#: tasks that ignore SIGTERM and leave a child in a session of its own
#: (out of reach of the shell's process-group kill)
STUBBORN = "trap '' TERM; setsid sleep 300 & sleep 300; wait"


def shells_of(uid):
    found = []
    for pid in user_processes(uid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"flux-shell" in f.read():
                    found.append(pid)
        except FileNotFoundError:
            continue
    return found


def running(s, user, nodes):
    job = submit(s, user, f"-N{nodes}", "sh", "-c", STUBBORN)
    wait_event(s, job, "start")
    # every rank's tasks have started (their own session's sleep too)
    deadline = time.monotonic() + 30
    while user_commands(user.pw_uid).count("sleep") < 2 * nodes:
        assert time.monotonic() < deadline, "tasks did not start"
        time.sleep(0.05)
    return job


def test_guest_cancels_own_job_tasks_gone(system):
    s = system
    job = running(s, s.bob, 3)
    assert s.as_user(s.bob, "cancel", job) == (0, "", "")
    wait_event(s, job, "clean")
    assert user_processes(s.bob.pw_uid) == []


def test_owner_cancel_of_hung_shells_goes_through_flux_imp_kill(system):
    """The shells and their relays stop answering (SIGSTOP): after 5
    kill-timeouts the exec service kills them with ``flux-imp kill``
    (the brokers, as ``flux``, cannot signal alice's processes
    themselves); the IMP kills the whole tree, tasks included."""
    s = system
    job = running(s, s.alice, 3)
    shells = shells_of(s.alice.pw_uid)
    # each rank's shell and its relay (flux_shell.relay)
    assert len(shells) == 6
    for pid in shells:
        os.kill(pid, signal.SIGSTOP)
    assert s.brokers[0].flux("cancel", job).rc == 0
    wait_event(s, job, "clean")
    assert user_processes(s.alice.pw_uid) == []
    assert os.listdir(os.path.join(s.root, "run/flux-imp")) == []


def preflight(s):
    proc = subprocess.run(
        [s.flux, "preflight", "--root", s.root, "--user", s.owner.pw_name,
         "--munge-socket", s.munged.socket, "--uri", s.uri, "--min-free",
         "1M"], capture_output=True, text=True, timeout=120)
    rows = {}
    lines = proc.stdout.splitlines()
    for i, line in enumerate(lines[1:], 1):
        if line.startswith(" "):
            continue
        name, status, detail = (line.split(None, 2) + [""])[:3]
        fix = lines[i + 1].strip() if i + 1 < len(lines) \
            and lines[i + 1].startswith(" ") else None
        rows[name] = (status, detail, fix)
    return proc.returncode, rows, proc.stderr


def test_preflight_on_the_system_instance(system):
    s = system
    rc, rows, err = preflight(s)
    assert (rc, err) == (0, ""), rows
    assert {name: row[0] for name, row in rows.items()} == {
        "munge": "pass", "user": "pass", "certificate": "pass",
        "config-owner": "pass", "config-sync": "pass", "clock": "pass",
        "imp-config": "pass", "sudoers": "pass", "statedir": "pass",
        "systemd": "n/a"}
    assert rows["config-sync"][1] == ("3 ranks have this node's system,"
                                      " security and imp config")
    # the certificate made world-readable
    os.chmod(s.cert, 0o444)
    try:
        rc, rows, err = preflight(s)
    finally:
        os.chmod(s.cert, 0o400)
    assert (rc, err) == (1, "flux-preflight: 1 check(s) failed:"
                            " certificate\n")
    assert rows["certificate"] == (
        "FAIL", f"{s.cert}: mode 0444, readable by group or others",
        f"fix: chown {s.owner.pw_name} {s.cert}; chmod 0400 {s.cert}")
    # munged stopped: the check fails, and so does a guest's submission
    s.munged.stop()
    try:
        rc, rows, err = preflight(s)
        submitted = s.as_user(s.alice, "submit", "true")
    finally:
        s.munged.start()
    assert (rc, err) == (1, "flux-preflight: 1 check(s) failed: munge\n")
    status, detail, fix = rows["munge"]
    assert status == "FAIL" and detail.startswith(f"{s.munged.socket}: ")
    assert fix == ("fix: start munged on every node with the same key"
                   " (systemctl enable --now munge)")
    assert submitted[0] == 1 and len(submitted[2].splitlines()) == 1
    assert "sign-munge-sign: Failed to access" in submitted[2]
    # started again: everything passes, and guests' jobs run
    assert preflight(s)[0] == 0
    assert s.as_user(s.alice, "run", "id", "-u")[:2] == (
        0, f"{s.alice.pw_uid}\n")


def sighup(s):
    """``systemctl reload flux`` on the leader: SIGHUP, then the
    broker's ``config reloaded`` line."""
    broker = s.brokers[0]
    seen = len(broker.output)
    os.kill(broker.proc.pid, signal.SIGHUP)
    broker.wait_for("config reloaded", start=seen)


def test_sighup_rereads_sign_and_access(system):
    s = system
    # the guests sign with munge whatever the node's files say
    client = s.mu.security("client")
    sign = os.path.join(s.security, "sign.toml")
    system_toml = os.path.join(s.conf, "system.toml")

    def alice_submits():
        return s.as_user(s.alice, "submit", "--urgency=hold", "true",
                         security=client)
    rc, out, err = alice_submits()
    assert rc == 0, err
    assert s.brokers[0].flux("cancel", out.strip()).rc == 0
    with edited(sign, 'default-type = "munge"\nallowed-types = [ "munge" ]',
                'default-type = "none"\nallowed-types = [ "none" ]'):
        # not before the reload
        rc, out, err = alice_submits()
        assert rc == 0, err
        assert s.brokers[0].flux("cancel", out.strip()).rc == 0
        sighup(s)
        assert alice_submits() == (
            1, "", "[Errno 22] sign-unwrap: header mechanism=munge not"
            " allowed\n")
    with edited(system_toml, "allow-guest-user = true",
                "allow-guest-user = false"):
        sighup(s)
        assert alice_submits() == (
            1, "", "flux-submit: ERROR: guest access is not allowed\n")
    sighup(s)
    rc, out, err = alice_submits()
    assert rc == 0, err
    assert s.brokers[0].flux("cancel", out.strip()).rc == 0


def test_everything_is_removed():
    """A one-broker system instance with a running guest job whose task
    escaped the shell's process group: ``flux shutdown`` stops the
    instance (the shell is killed with its tree by flux-imp kill once its
    grace is over), then the users, munged, sudoers rule, files and
    processes are gone."""
    import pwd
    problem = runtime_problem()
    if problem is not None:
        pytest.skip(problem)
    mu = MultiUser()
    try:
        s = system_instance(mu, size=1)
        running(s, s.alice, 1)
        users = [s.owner, s.alice, s.bob]
        munged = s.munged.proc.pid
        brokers = [b.proc.pid for b in s.brokers]
        assert s.brokers[0].flux("shutdown").rc == 0
        assert s.brokers[0].wait(timeout=60) == 0
        assert "shell still running 5.0s after the instance stopped:" \
            " killed" in s.brokers[0].log_text
        assert user_processes(s.alice.pw_uid) == []
    finally:
        mu.close()
    for user in users:
        with pytest.raises(KeyError):
            pwd.getpwnam(user.pw_name)
        assert user_processes(user.pw_uid) == []
    for pid in [munged, *brokers]:
        assert not os.path.exists(f"/proc/{pid}")
    assert not os.path.exists(s.sudoers)
    assert not os.path.exists(mu.top)
    assert not os.path.exists(os.path.dirname(s.munged.socket))
