"""Other users' jobs run through the IMP (``[exec] imp``): a real guest
submits munge-signed jobs to a real broker, whose exec service runs their
shells as the guest through the IMP installed in a temporary prefix with
a real sudoers rule (root only; a private munged)."""

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from contextlib import ExitStack

import pytest

from fluxd.testing.munged import MUNGED, private_munged
from fluxd.testing.users import temporary_user
from tests.integration.test_guest_access import REPO, SYSTEM_PYTHON

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                       reason="needs root to create users"),
    pytest.mark.skipif(MUNGED is None or shutil.which("sudo") is None,
                       reason="needs munge and sudo (.ci/run installs them)"),
]

FLUX_SHELL = """#!{python}
import sys
sys.path.insert(0, {libdir!r})
from flux_shell.__main__ import main
sys.exit(main())
"""


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


@pytest.fixture
def instance(broker_factory):
    """A broker (run by root, the instance owner) with the IMP, a guest
    and a user the IMP refuses."""
    from flux_imp.install import install
    with ExitStack() as stack:
        top = tempfile.mkdtemp(prefix="fluxd-impexec-")
        stack.callback(shutil.rmtree, top, ignore_errors=True)
        os.chmod(top, 0o755)
        prefix = os.path.join(top, "prefix")
        sock = stack.enter_context(private_munged())
        guest = stack.enter_context(temporary_user("fluxg"))
        sudoers = f"/etc/sudoers.d/fluxd-test-{uuid.uuid4().hex[:12]}"
        stack.callback(lambda: os.path.exists(sudoers) and os.unlink(sudoers))
        launcher = install(prefix, ["root"], python=SYSTEM_PYTHON,
                           sudoers=sudoers)
        libdir = os.path.join(top, "lib")
        shutil.copytree(os.path.join(REPO, "fluxd"),
                        os.path.join(libdir, "fluxd"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(os.path.join(REPO, "shell"),
                        os.path.join(libdir, "flux_shell"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        shell = os.path.join(os.path.dirname(launcher), "flux-shell")
        write(shell, FLUX_SHELL.format(python=SYSTEM_PYTHON, libdir=libdir),
              0o755)
        imp_toml = os.path.join(prefix, "etc/flux/imp/conf.d/imp.toml")
        write(imp_toml, f'[exec]\nallowed-users = ["root"]\n'
                        f'allowed-shells = ["{shell}"]\n')
        sign = ('[sign]\nmax-ttl = 3600\ndefault-type = "munge"\n'
                f'allowed-types = ["munge"]\n[sign.munge]\n'
                f'socket-path = "{sock}"\n')
        write(os.path.join(prefix, "etc/flux/security/conf.d/sign.toml"),
              sign)
        security = os.path.join(top, "security")
        write(os.path.join(security, "sign.toml"), sign)
        os.chmod(security, 0o755)
        conf = os.path.join(top, "conf")
        write(os.path.join(conf, "system.toml"),
              '[access]\nallow-guest-user = true\n'
              f'[exec]\nimp = "{launcher}"\nkill-timeout = "0.5s"\n')
        rundir = os.path.join(top, "run")
        os.makedirs(rundir)
        os.chmod(rundir, 0o755)
        statedir = os.path.join(top, "state")
        os.makedirs(statedir)
        broker = broker_factory(
            config_path=conf, name="b",
            attrs={"rundir": rundir, "local-uri": f"local://{rundir}/local",
                   "statedir": statedir},
            env=dict(os.environ, FLUXD_SECURITY_CONF_DIR=security))
        # stopped before munged, the users and the prefix go
        stack.callback(broker.stop)

        class I:
            pass
        i = I()
        i.broker, i.guest, i.imp_toml, i.shell = broker, guest, imp_toml, \
            shell

        def flux(*argv):
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                   "PYTHONPATH": libdir, "FLUX_URI": broker.uri,
                   "FLUXD_SECURITY_CONF_DIR": security}
            proc = subprocess.run(
                [SYSTEM_PYTHON, "-c", "from fluxd.cli.main import main;"
                 " main()", *argv], user=guest.pw_uid, group=guest.pw_gid,
                env=env, cwd="/", capture_output=True, text=True, timeout=60)
            return proc.returncode, proc.stdout, proc.stderr
        i.flux = flux
        yield i


def exec_events(broker, jobid):
    return [line.split()[1] for line in broker.flux(
        "job", "eventlog", "-p", "exec", jobid).out.splitlines()]


def user_processes(uid):
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and os.stat(f"/proc/{pid}").st_uid == uid:
                found.append(pid)
        except FileNotFoundError:
            continue
    return found


def test_guest_job_runs_as_the_guest(instance):
    i = instance
    rc, out, err = i.flux("submit", "id", "-u")
    assert rc == 0, err
    jobid = out.strip()
    assert i.broker.flux("job", "status", jobid).rc == 0
    rc, out, err = i.flux("job", "attach", jobid)
    assert (rc, out) == (0, f"{i.guest.pw_uid}\n"), err
    assert "shell.start" in exec_events(i.broker, jobid)


def test_cancel_kills_the_guest_job(instance):
    i = instance
    rc, out, err = i.flux("submit", "sleep", "300")
    assert rc == 0, err
    jobid = out.strip()
    assert i.broker.flux("job", "wait-event", "-t", "60", jobid,
                         "start").rc == 0
    assert any(open(f"/proc/{p}/comm").read().strip() == "sleep"
               for p in user_processes(i.guest.pw_uid))
    rc, out, err = i.flux("cancel", jobid)
    assert rc == 0, err
    assert i.broker.flux("job", "wait-event", "-t", "60", jobid,
                         "clean").rc == 0
    assert user_processes(i.guest.pw_uid) == []


def test_refused_by_the_imp(instance):
    i = instance
    # the guest's shell is no longer allowed: the IMP refuses
    write(i.imp_toml, '[exec]\nallowed-users = ["root"]\n'
                      'allowed-shells = ["/bin/true"]\n')
    rc, out, err = i.flux("submit", "id", "-u")
    assert rc == 0, err
    jobid = out.strip()
    assert i.broker.flux("job", "wait-event", "-t", "60", jobid,
                         "clean").rc == 0
    events = [json.loads(line) for line in i.broker.flux(
        "job", "eventlog", "-f", "json", jobid).out.splitlines()]
    exceptions = [e["context"] for e in events if e["name"] == "exception"]
    assert [(e["type"], e["note"]) for e in exceptions] == [
        ("exec", "flux-imp: Fatal: exec: shell not in allowed-shells list")]


def test_broker_stop_ends_guest_jobs(instance):
    i = instance
    rc, out, err = i.flux("submit", "sleep", "300")
    assert rc == 0, err
    jobid = out.strip()
    assert i.broker.flux("job", "wait-event", "-t", "60", jobid,
                         "start").rc == 0
    assert user_processes(i.guest.pw_uid) != []
    # the broker waits for its IMPs, whose shells end their tasks
    i.broker.stop()
    assert user_processes(i.guest.pw_uid) == []


def test_guest_jobs_are_not_recoverable(instance):
    # the IMP's shells end with their broker: the restarted broker finds
    # no "recoverable" event (RFC 50) and fails the job at once
    i = instance
    rc, out, err = i.flux("submit", "sleep", "300")
    assert rc == 0, err
    jobid = out.strip()
    assert i.broker.flux("job", "wait-event", "-t", "60", jobid,
                         "start").rc == 0
    i.broker.kill()
    i.broker.start()
    assert i.broker.flux("job", "wait-event", "-t", "60", jobid,
                         "clean").rc == 0
    names = exec_events(i.broker, jobid)
    assert "recoverable" not in names and "reattach" in names
    events = [json.loads(line) for line in i.broker.flux(
        "job", "eventlog", "-f", "json", jobid).out.splitlines()]
    assert [(e["context"]["type"], e["context"]["note"]) for e in events
            if e["name"] == "exception"] == [
        ("exec", "job shells are not recoverable: those run by the IMP"
                 " end with their broker")]
    assert user_processes(i.guest.pw_uid) == []
