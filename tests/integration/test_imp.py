"""The IMP installed under a temporary prefix, run through sudo by real
users, with J signed by a real private munged (root only)."""

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack

import pytest

from fluxd.testing.munged import MUNGED, private_munged
from fluxd.testing.users import temporary_user
from tests.integration.multiuser import REPO, SYSTEM_PYTHON

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                       reason="needs root to create users"),
    pytest.mark.skipif(MUNGED is None or shutil.which("sudo") is None,
                       reason="needs munge and sudo (.ci/run installs them)"),
]

SIGN_SCRIPT = """
import sys
from fluxd.security.sign import SignConfig, wrap, wrap_none
config = SignConfig(60, "munge", ["munge"], sys.argv[1])
mech = sys.argv[3] if len(sys.argv) > 3 else "munge"
sign = wrap_none if mech == "none" else lambda p, u: wrap(p, u, config)
print(sign(b'{"version": 1}', int(sys.argv[2])))
"""

TEST_SHELL = """#!/bin/sh
echo ready $(id -u)
exec sleep 300
"""

#: a task in a session of its own (out of the shell's process group),
#: then the shell waits (``wait``) or leaves it behind (``exit``)
TREE_SHELL = """#!/bin/sh
setsid sleep 300 &
task=$!
# ready once setsid(1) has made the task a session leader
until [ "$(cut -d' ' -f6 /proc/$task/stat)" = $task ]; do sleep 0.01; done
echo ready $(id -u) $task
[ "$1" = exit ] && exit 0
exec sleep 300
"""

PROLOG = """#!/bin/sh
id -u
env | sort
"""


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class Env:
    """Everything one IMP installation needs."""

    def run(self, user, *argv, stdin="", env=None, check=None):
        proc = subprocess.run(
            [self.launcher, *argv], user=user.pw_uid, group=user.pw_gid,
            extra_groups=[], input=stdin, capture_output=True, text=True,
            env=dict({"PATH": "/usr/bin:/bin"}, **(env or {})), cwd="/",
            timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    def sign(self, user, mechanism="munge", userid=None):
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", SIGN_SCRIPT, self.socket,
             str(user.pw_uid if userid is None else userid), mechanism],
            user=user.pw_uid, group=user.pw_gid, extra_groups=[],
            env={"PYTHONPATH": self.libdir, "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=60, cwd="/")
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def exec_(self, J, shell="/usr/bin/id", *args, caller=None, env=None):
        return self.run(caller or self.flux, "exec", shell,
                        *(args or ("-u",)), stdin=json.dumps({"J": J}),
                        env=env)


@pytest.fixture(scope="module")
def imp():
    from flux_imp.install import install
    with ExitStack() as stack:
        e = Env()
        top = tempfile.mkdtemp(prefix="fluxd-imp-")
        stack.callback(shutil.rmtree, top, ignore_errors=True)
        os.chmod(top, 0o755)
        e.prefix = os.path.join(top, "prefix")
        e.socket = stack.enter_context(private_munged())
        e.flux = stack.enter_context(temporary_user("fluxi"))
        e.other = stack.enter_context(temporary_user("fluxo"))
        e.job = stack.enter_context(temporary_user("fluxj"))
        sudoers = f"/etc/sudoers.d/fluxd-test-{uuid.uuid4().hex[:12]}"
        stack.callback(lambda: os.path.exists(sudoers) and os.unlink(sudoers))
        e.launcher = install(e.prefix, [e.flux.pw_name, e.other.pw_name],
                             python=SYSTEM_PYTHON, sudoers=sudoers)
        e.libdir = os.path.join(top, "lib")
        shutil.copytree(os.path.join(REPO, "fluxd"),
                        os.path.join(e.libdir, "fluxd"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        e.shell = os.path.join(e.prefix, "libexec/test-shell")
        write(e.shell, TEST_SHELL, 0o755)
        e.tree_shell = os.path.join(e.prefix, "libexec/tree-shell")
        write(e.tree_shell, TREE_SHELL, 0o755)
        e.prolog = os.path.join(e.prefix, "libexec/prolog")
        write(e.prolog, PROLOG, 0o755)
        e.imp_toml = os.path.join(e.prefix, "etc/flux/imp/conf.d/imp.toml")
        write(e.imp_toml, f"""
[exec]
allowed-users = ["{e.flux.pw_name}"]
allowed-shells = ["/usr/bin/id", "{e.shell}", "{e.tree_shell}"]
[run.prolog]
allowed-users = ["{e.flux.pw_name}"]
allowed-environment = ["FLUX_ALLOWED_*"]
path = "{e.prolog}"
""")
        e.sign_toml = os.path.join(e.prefix,
                                   "etc/flux/security/conf.d/sign.toml")
        write(e.sign_toml, f"""
[sign]
max-ttl = 3600
default-type = "munge"
allowed-types = ["munge"]
[sign.munge]
socket-path = "{e.socket}"
""")
        # signed first, for the expiry test
        e.early = e.sign(e.job)
        e.early_time = time.time()
        yield e


def fatal(message):
    return f"flux-imp: Fatal: {message}\n"


def test_exec_runs_as_the_signer(imp):
    assert imp.exec_(imp.sign(imp.job)) == (0, f"{imp.job.pw_uid}\n", "")
    assert imp.run(imp.flux, "version")[1].startswith("flux-imp v")


def test_exec_input_from_helper(imp):
    J = imp.sign(imp.job)
    helper = os.path.join(tempfile.mkdtemp(prefix="fluxd-imp-h-"), "J.json")
    os.chmod(os.path.dirname(helper), 0o755)
    write(helper, json.dumps({"J": J}))
    try:
        rc, out, err = imp.run(imp.flux, "exec", "/usr/bin/id", "-u",
                               env={"FLUX_IMP_EXEC_HELPER": f"cat {helper}"})
        assert (rc, out, err) == (0, f"{imp.job.pw_uid}\n", "")
        rc, out, err = imp.run(imp.flux, "exec", "/usr/bin/id", "-u",
                               env={"FLUX_IMP_EXEC_HELPER": "false"})
        assert (rc, err) == (1, fatal("exec: helper false failed with"
                                      " status=0x0100"))
    finally:
        shutil.rmtree(os.path.dirname(helper))


def test_exec_refusals(imp):
    J = imp.sign(imp.job)
    assert imp.exec_(J, caller=imp.other) == (1, "", fatal(
        f"exec: user {imp.other.pw_name} not in allowed-users list"))
    assert imp.exec_(J, "/bin/sh", "-c", "id -u") == (1, "", fatal(
        "exec: shell not in allowed-shells list"))
    assert imp.exec_(imp.sign(imp.job, "none")) == (1, "", fatal(
        "exec: signature validation failed: sign-unwrap: header"
        " mechanism=none not allowed"))
    head, _, cred = J.split(".")
    forged = ".".join([head, base64.b64encode(b'{"x": 1}').decode(), cred])
    assert imp.exec_(forged) == (1, "", fatal(
        "exec: signature validation failed: sign-munge-verify: SHA256 hash"
        " mismatch"))
    # a J the job user signed in the name of the caller
    assert imp.exec_(imp.sign(imp.job, userid=imp.flux.pw_uid)) == (
        1, "", fatal("exec: signature validation failed: sign-munge-verify:"
                     " uid mismatch"))
    root = type(imp.job)(("root", "x", 0, 0, "", "/root", "/bin/sh"))
    assert imp.exec_(imp.sign(root)) == (1, "", fatal(
        "exec: switching to user root not supported"))
    ghost = type(imp.job)(("ghost", "x", 54321, 54321, "", "/", "/bin/sh"))
    rc, out, err = imp.exec_(imp.sign(ghost))
    assert (rc, out) == (1, "")
    assert err.startswith(fatal("exec: userid 54321 is invalid on")[:-1])
    assert imp.exec_("junk") == (1, "", fatal(
        "exec: signature validation failed: sign-unwrap: J must have three"
        " parts (HEADER.PAYLOAD.SIGNATURE)"))
    rc, _, err = imp.run(imp.flux, "exec", "/usr/bin/id", "-u", stdin="{")
    assert rc == 1 and err.startswith(fatal("exec: invalid json input:")[:-1])
    assert imp.run(imp.flux, "exec", "/usr/bin/id") == (1, "", fatal(
        "exec: missing arguments to exec subcommand"))


def test_exec_expired(imp):
    # max-ttl 1 s; the J was signed when the fixture started
    while time.time() < imp.early_time + 2.5:
        time.sleep(0.1)
    with open(imp.sign_toml) as f:
        saved = f.read()
    try:
        write(imp.sign_toml, saved.replace("max-ttl = 3600", "max-ttl = 1"))
        assert imp.exec_(imp.early) == (1, "", fatal(
            "exec: signature validation failed: sign-munge-verify: max-ttl"
            " exceeded"))
    finally:
        write(imp.sign_toml, saved)
    assert imp.exec_(imp.early)[0] == 0


def alive(pid):
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start_tree(imp, how):
    proc = subprocess.Popen(
        [imp.launcher, "exec", imp.tree_shell, how], user=imp.flux.pw_uid,
        group=imp.flux.pw_gid, extra_groups=[], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin"}, cwd="/")
    proc.stdin.write(json.dumps({"J": imp.sign(imp.job)}))
    proc.stdin.close()
    ready, uid, task = proc.stdout.readline().split()
    assert (ready, uid) == ("ready", str(imp.job.pw_uid))
    return proc, int(task)


def _reap(proc):
    """Kill ``proc`` if still running and close its pipes."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def test_kill_reaches_tasks_outside_the_shell_group(imp):
    proc, task = start_tree(imp, "wait")
    try:
        assert alive(task) and os.getsid(task) == task
        assert imp.run(imp.flux, "kill", "9", str(proc.pid)) == (0, "", "")
        assert proc.wait(timeout=30) != 0
        assert not alive(task)
    finally:
        _reap(proc)


def test_tasks_left_by_the_shell_are_killed(imp):
    proc, task = start_tree(imp, "exit")
    try:
        # the shell exits at once; the IMP kills what it left, then exits
        assert proc.wait(timeout=30) == 0
        assert not alive(task)
    finally:
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("what", ["file", "dir", "owner", "parent"])
def test_insecure_config_refused(imp, what):
    path = {"file": imp.imp_toml, "owner": imp.imp_toml,
            "dir": os.path.dirname(imp.imp_toml),
            "parent": os.path.join(imp.prefix, "etc")}[what]
    st = os.stat(path)
    try:
        if what == "owner":
            os.chown(path, imp.flux.pw_uid, -1)
            problem = "not owned by root"
        else:
            os.chmod(path, st.st_mode | 0o020)
            problem = "writable by group or others"
        assert imp.exec_(imp.sign(imp.job)) == (1, "", fatal(
            f"{path}: {problem}"))
    finally:
        os.chown(path, 0, 0)
        os.chmod(path, st.st_mode)
    assert imp.exec_(imp.sign(imp.job))[0] == 0


def test_launcher_ignores_caller_environment(imp):
    # PYTHONPATH and the like cannot reach the IMP (sudo resets the
    # environment, the interpreter runs isolated)
    evil = tempfile.mkdtemp(prefix="fluxd-imp-evil-")
    os.chmod(evil, 0o755)
    try:
        write(os.path.join(evil, "flux_imp", "__init__.py"), "raise SystemExit(99)\n")
        rc, out, _ = imp.exec_(imp.sign(imp.job), env={"PYTHONPATH": evil})
        assert (rc, out) == (0, f"{imp.job.pw_uid}\n")
    finally:
        shutil.rmtree(evil)


def test_run_prolog(imp):
    env = {"FLUX_JOB_ID": "f123", "FLUX_JOB_USERID": "1001",
           "FLUX_ALLOWED_X": "yes", "FLUX_OTHER": "no"}
    rc, out, err = imp.run(imp.flux, "run", "prolog", env=env)
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "0"
    names = {line.split("=", 1)[0]: line.split("=", 1)[1]
             for line in lines[1:] if "=" in line}
    assert names["FLUX_JOB_ID"] == "f123"
    assert names["FLUX_JOB_USERID"] == "1001"
    assert names["FLUX_ALLOWED_X"] == "yes"
    assert names["FLUX_OWNER_USERID"] == str(imp.flux.pw_uid)
    assert names["PATH"] == "/usr/sbin:/usr/bin:/sbin:/bin"
    assert "FLUX_OTHER" not in names
    assert imp.run(imp.other, "run", "prolog", env=env) == (
        1, "", fatal("run: permission denied"))
    assert imp.run(imp.flux, "run", "epilog") == (
        1, "", fatal("run: epilog: no configuration found"))


def test_kill_only_jobs_it_started(imp):
    proc = subprocess.Popen(
        [imp.launcher, "exec", imp.shell, "x"], user=imp.flux.pw_uid,
        group=imp.flux.pw_gid, extra_groups=[], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin"}, cwd="/")
    try:
        proc.stdin.write(json.dumps({"J": imp.sign(imp.job)}))
        proc.stdin.close()
        assert proc.stdout.readline() == f"ready {imp.job.pw_uid}\n"
        # PID: the process the caller started (sudo)
        assert imp.run(imp.other, "kill", "15", str(proc.pid)) == (
            1, "", fatal(f"kill: user {imp.other.pw_name} not in"
                         " allowed-users list"))
        assert imp.run(imp.flux, "kill", "15", str(os.getpid())) == (
            1, "", fatal(f"kill: {os.getpid()}: not a job started by"
                         f" flux-imp for {imp.flux.pw_name}"))
        assert proc.poll() is None
        assert imp.run(imp.flux, "kill", "15", str(proc.pid)) == (0, "", "")
        assert proc.wait(timeout=30) in (-signal.SIGTERM, 128 + 15)
        assert os.listdir(os.path.join(imp.prefix, "run/flux-imp")) == []
    finally:
        _reap(proc)


def test_pam_session(imp):
    """``pam-support``: the ``flux`` PAM session (here from the prefix's
    pam.d) applies pam_limits to the job shell, and a stack that fails
    stops the job."""
    limits_shell = os.path.join(imp.prefix, "libexec/limits-shell")
    write(limits_shell, "#!/bin/sh\nulimit -Hn\n", 0o755)
    limits = os.path.join(imp.prefix, "etc/limits.conf")
    write(limits, f"{imp.job.pw_name} hard nofile 77\n"
                  f"{imp.job.pw_name} soft nofile 77\n")
    pam = os.path.join(imp.prefix, "etc/pam.d/flux")
    with open(imp.imp_toml) as f:
        saved = f.read()
    try:
        write(imp.imp_toml, saved.replace(
            'allowed-shells = [', f'pam-support = true\nallowed-shells = ['
            f'"{limits_shell}", '))
        # the guide's stack
        write(pam, "auth required pam_localuser.so\n"
                   f"session required pam_limits.so conf={limits}\n")
        assert imp.exec_(imp.sign(imp.job), limits_shell, "x") == (
            0, "77\n", "")
        write(pam, "auth required pam_permit.so\n"
                   "session required pam_deny.so\n")
        rc, out, err = imp.exec_(imp.sign(imp.job), limits_shell, "x")
        assert (rc, out) == (1, "")
        assert err.startswith(fatal("exec: PAM stack failure:"
                                    " pam_open_session:")[:-1])
        write(pam, "auth required pam_deny.so\n"
                   "session required pam_permit.so\n")
        rc, out, err = imp.exec_(imp.sign(imp.job), limits_shell, "x")
        assert (rc, out) == (1, "")
        assert err.startswith(fatal("exec: PAM stack failure:"
                                    " pam_authenticate:")[:-1])
    finally:
        write(imp.imp_toml, saved)
        os.unlink(pam)
    # without pam-support the shell keeps the default limit
    write(imp.imp_toml, saved.replace('allowed-shells = [',
                                      f'allowed-shells = ["{limits_shell}", '))
    try:
        rc, out, _ = imp.exec_(imp.sign(imp.job), limits_shell, "x")
        assert rc == 0 and out != "77\n"
    finally:
        write(imp.imp_toml, saved)


def test_without_privilege(imp):
    """Run directly (not through sudo) the IMP has no privilege: it
    refuses, unless allow-unprivileged-exec, and then cannot switch."""
    privileged = os.path.join(imp.prefix, "libexec/flux/flux-imp-privileged")

    def direct():
        proc = subprocess.run(
            [privileged, "exec", "/usr/bin/id", "-u"], user=imp.flux.pw_uid,
            group=imp.flux.pw_gid, extra_groups=[],
            input=json.dumps({"J": imp.sign(imp.job)}), capture_output=True,
            text=True, env={"PATH": "/usr/bin:/bin"}, cwd="/", timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    assert direct() == (1, "", fatal("exec: IMP not installed setuid,"
                                     " operation disabled."))
    with open(imp.imp_toml) as f:
        saved = f.read()
    try:
        write(imp.imp_toml, saved.replace(
            "[exec]\n", "[exec]\nallow-unprivileged-exec = true\n"))
        assert direct() == (0, f"{imp.flux.pw_uid}\n", (
            "flux-imp: Warning: Running without privilege, userid switching"
            " not available\n"))
    finally:
        write(imp.imp_toml, saved)


def test_install_command(tmp_path, capsys):
    from flux_imp.install import main
    prefix = tmp_path / "p"
    assert main([str(prefix), "flux"]) == 0
    launcher = capsys.readouterr().out.strip()
    assert launcher == str(prefix / "libexec/flux/flux-imp")
    with open(prefix / "libexec/flux/flux-imp-privileged") as f:
        text = f.read()
    assert text.startswith("#!/usr/bin/python3 -I\n")
    assert f"main(prefix={str(prefix)!r})" in text
    st = os.stat(prefix / "lib/flux-imp/flux_imp/main.py")
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o644)
    assert main([str(prefix)]) == 1
    assert "PREFIX USER" in capsys.readouterr().err
    # a rule visudo refuses is not installed
    target = tmp_path / "rule"
    assert main([str(prefix), "bad user!", str(target)]) == 1
    assert "sudoers rule refused" in capsys.readouterr().err
    assert not target.exists()
