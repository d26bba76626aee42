"""Other users' jobs run through the IMP (``[exec] imp``): a real guest
submits munge-signed jobs to a real broker, whose exec service runs their
shells as the guest through the IMP installed in a temporary prefix with
a real sudoers rule (root only; a private munged)."""

import json
import os
import shutil
import uuid

import pytest

from tests.integration.multiuser import (
    NEEDS_ROOT_AND_MUNGE, SYSTEM_PYTHON, sign_toml, write)
from tests.integration.test_system_instance import (
    user_commands, user_processes)

pytestmark = [
    *NEEDS_ROOT_AND_MUNGE,
    pytest.mark.skipif(shutil.which("sudo") is None,
                       reason="needs sudo (.ci/run installs it)"),
]

FLUX_SHELL = """#!{python}
import sys
sys.path.insert(0, {libdir!r})
from flux_shell.__main__ import main
sys.exit(main())
"""


@pytest.fixture
def instance(multiuser, broker_factory):
    """A broker (run by root, the instance owner) with the IMP, a guest
    and a user the IMP refuses."""
    from flux_imp.install import install
    mu = multiuser
    prefix = mu.path("prefix")
    guest = mu.user("fluxg")
    sudoers = f"/etc/sudoers.d/fluxd-test-{uuid.uuid4().hex[:12]}"
    mu.callback(lambda: os.path.exists(sudoers) and os.unlink(sudoers))
    launcher = install(prefix, ["root"], python=SYSTEM_PYTHON,
                       sudoers=sudoers)
    shell = os.path.join(os.path.dirname(launcher), "flux-shell")
    write(shell, FLUX_SHELL.format(python=SYSTEM_PYTHON, libdir=mu.libdir),
          0o755)
    imp_toml = os.path.join(prefix, "etc/flux/imp/conf.d/imp.toml")
    write(imp_toml, f'[exec]\nallowed-users = ["root"]\n'
                    f'allowed-shells = ["{shell}"]\n')
    write(os.path.join(prefix, "etc/flux/security/conf.d/sign.toml"),
          sign_toml(mu.socket, max_ttl=3600))
    security = mu.security(max_ttl=3600)
    conf = mu.path("conf")
    write(os.path.join(conf, "system.toml"),
          '[access]\nallow-guest-user = true\n'
          f'[exec]\nimp = "{launcher}"\nkill-timeout = "0.5s"\n')
    rundir = mu.rundir("run")
    statedir = mu.path("state")
    os.makedirs(statedir)
    broker = broker_factory(
        config_path=conf, name="b",
        attrs={"rundir": rundir, "local-uri": f"local://{rundir}/local",
               "statedir": statedir},
        env=dict(os.environ, FLUXD_SECURITY_CONF_DIR=security))
    # stopped before munged, the users and the prefix go
    mu.callback(broker.stop)

    class I:
        pass
    i = I()
    i.broker, i.guest, i.imp_toml, i.shell = broker, guest, imp_toml, shell

    def flux(*argv):
        return mu.flux_as(guest, broker.uri, *argv, confdir=security)
    i.flux = flux
    yield i


def exec_events(broker, jobid):
    return [line.split()[1] for line in broker.flux(
        "job", "eventlog", "-p", "exec", jobid).out.splitlines()]


def test_guest_job_runs_as_the_guest(instance):
    i = instance
    rc, out, err = i.flux("submit", "id", "-u")
    assert rc == 0, err
    jobid = out.strip()
    assert i.broker.flux("job", "status", jobid).rc == 0
    rc, out, err = i.flux("job", "attach", jobid)
    assert (rc, out) == (0, f"{i.guest.pw_uid}\n"), err
    assert "shell.start" in exec_events(i.broker, jobid)


def _started_sleep(i):
    """The guest's ``sleep 300`` job, once it started."""
    rc, out, err = i.flux("submit", "sleep", "300")
    assert rc == 0, err
    jobid = out.strip()
    assert i.broker.flux("job", "wait-event", "-t", "60", jobid,
                         "start").rc == 0
    return jobid


def test_cancel_kills_the_guest_job(instance):
    i = instance
    jobid = _started_sleep(i)
    assert "sleep" in user_commands(i.guest.pw_uid)
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


def test_guest_job_survives_a_broker_restart(instance):
    # a clean stop (systemctl restart), then kill -9: the shell, run by
    # the IMP in a session of its own, goes on; its relay holds the
    # output and connects again; the job ends with its whole output
    i = instance
    flag = os.path.join(os.path.dirname(i.shell), "go-on")
    rc, out, err = i.flux("submit", "sh", "-c", "i=0; while [ $i -lt 20 ];"
                          " do echo $i; i=$((i+1)); [ $i = 10 ] && while"
                          f" [ ! -e {flag} ]; do sleep 0.1; done; done; true")
    assert rc == 0, err
    jobid = out.strip()
    assert i.broker.flux("job", "wait-event", "-t", "60", "-p", "exec",
                         jobid, "shell.start").rc == 0
    for stop in (i.broker.stop, i.broker.kill):
        stop()
        # the task (its sleeps come and go every 0.1 s) runs on
        assert "sh" in user_commands(i.guest.pw_uid)
        i.broker.start()
        assert i.broker.flux("job", "wait-event", "-t", "60", "-p", "exec",
                             jobid, "reattach-finish").rc == 0
    open(flag, "w").close()
    rc, out, err = i.flux("job", "attach", jobid)
    assert (rc, out, err) == (0, "".join(f"{n}\n" for n in range(20)), "")
    names = exec_events(i.broker, jobid)
    assert names.count("recoverable") == 1
    assert names.count("reattach") == 2


def test_instance_shutdown_ends_guest_jobs(instance):
    i = instance
    _started_sleep(i)
    rundir = os.path.dirname(i.broker.uri[len("local://"):])
    assert os.listdir(os.path.join(rundir, "imp-shells-0.d")) != []
    assert i.broker.flux("shutdown").rc == 0
    i.broker.wait(timeout=60)
    assert user_processes(i.guest.pw_uid) == []
    assert os.listdir(os.path.join(rundir, "imp-shells-0.d")) == []
