"""``flux submit``, ``flux cancel``, ``flux job urgency|wait|purge`` and
``flux queue`` against real brokers (job-ingest and the job manager).

Jobs are held (urgency 0) unless a test needs otherwise, so that they
stay pending whether or not a scheduler runs.  The guest tests create a
real second user (root only), as tests/integration/test_guest_access.py.
"""

import os
import re
import subprocess

import pytest

from fluxd.client.sync import Flux
from fluxd.formats.fluid import decode
from tests.integration.four import run_on_four
from fluxd.testing.users import temporary_user

from tests.integration.test_guest_access import SYSTEM_PYTHON, shared_dir, start

F58 = re.compile(r"^ƒ[1-9A-HJ-NP-Za-km-z]+$")
__all__ = ["shared_dir"]     # the fixture, for the guest test


def ids_of(out):
    lines = out.split()
    assert all(F58.match(line) for line in lines), out
    return lines


def ingest_requests(broker):
    with Flux(broker.uri) as h:
        return h.rpc("job-ingest.stats-get", {})["requests"]


def test_cc_submits_in_few_requests(broker):
    before = ingest_requests(broker)
    result = broker.flux("submit", "--cc=1-1000", "--urgency=hold",
                         "--job-name=cc{cc}", "true", timeout=120)
    assert (result.rc, result.err) == (0, "")
    ids = ids_of(result.out)
    assert len(set(ids)) == 1000
    requests = ingest_requests(broker) - before
    assert 0 < requests <= 100, requests
    cancel = broker.flux("cancel", "--all", "--states=pending")
    assert cancel.err == "flux-cancel: Canceled 1000 jobs (0 errors)\n"


def test_refused_submissions(broker):
    result = broker.flux("submit", "--urgency=32", "true")
    assert (result.rc, result.out) == (1, "")
    assert result.err == "[Errno 22] urgency range is [0:31]\n"
    result = broker.flux("run", "--urgency=32", "true")
    assert (result.rc, result.err) == (1, "flux-run: ERROR: urgency range is"
                                       " [0:31]\n")
    result = broker.flux("submit", "--flags=bogus", "true")
    assert (result.rc, result.err) == (1, "flux-submit: ERROR: --flags:"
                                       " Unknown flag bogus\n")
    result = broker.flux("submit", "-n", "0x", "true")
    assert (result.rc, result.err) == (1, "flux-submit: ERROR: --ntasks:"
                                       " invalid int value '0x'\n")
    # a jobspec that ingest's validator refuses
    result = broker.flux("submit", "--setattr=system.duration=x", "true")
    assert (result.rc, result.err) == (1, "[Errno 22] attributes.system."
                                       "duration must be a number\n")
    result = broker.flux("run", "--setattr=.foo=1", "true")
    assert (result.rc, result.err) == (1, "flux-run: ERROR: Extraneous key"
                                       " (foo)\n")


def test_urgency_cancel_and_purge_messages(broker):
    # no job may start while its urgency changes (a scheduler may run)
    assert broker.flux("queue", "stop", "--quiet").rc == 0
    ids = ids_of(broker.flux("submit", "--cc=0-2", "--urgency=hold",
                             "--flags=waitable", "true").out)
    result = broker.flux("job", "urgency", "-v", ids[0], "EXPEDITE")
    assert (result.rc, result.err) == (0, "old urgency: job held\n")
    result = broker.flux("job", "urgency", "-v", ids[0], "hold")
    assert (result.rc, result.err) == (0, "old urgency: job expedited\n")
    result = broker.flux("job", "urgency", ids[0], "32")
    assert (result.rc, result.err) == (1, f"flux-job: {ids[0]}: urgency value"
                                       " is out of range\n")
    result = broker.flux("job", "urgency", "ƒ1", "hold")
    assert (result.rc, result.err) == (1, "flux-job: ƒ1: unknown job id\n")

    result = broker.flux("cancel", "--user=all", "--dry-run")
    assert (result.rc, result.err) == (0, "flux-cancel: Would cancel 3"
                                       " jobs\n")
    result = broker.flux("cancel", "-S", "bogus")
    assert (result.rc, result.err) == (1, "flux-cancel: ERROR: Invalid state"
                                       " bogus specified\n")
    result = broker.flux("cancel", "-m", "not needed", ids[0], "ƒ1")
    assert (result.rc, result.err) == (1, "flux-cancel: ERROR: ƒ1: unknown"
                                       " job id\n")
    result = broker.flux("cancel", "--user=all")
    assert (result.rc, result.err) == (0, "flux-cancel: Canceled 2 jobs (0"
                                       " errors)\n")
    assert broker.flux("cancel", "--user=all").err == \
        "flux-cancel: Matched 0 jobs\n"

    # wait for the three canceled jobs to end
    result = broker.flux("job", "wait", "--all", "-v")
    assert result.rc == 1
    assert sorted(result.err.splitlines()) == sorted(
        [f"{ids[0]}: Fatal exception type=cancel not needed"]
        + [f"{jobid}: Fatal exception type=cancel" for jobid in ids[1:]])
    result = broker.flux("job", "wait")
    assert (result.rc, result.err) == (2, "flux-job: there are no more"
                                       " waitable jobs\n")

    assert broker.flux("job", "purge").out == \
        "use --force to purge 0 of 3 inactive jobs\n"
    assert broker.flux("job", "purge", "--num-limit=1").out == \
        "use --force to purge 2 of 3 inactive jobs\n"
    assert broker.flux("job", "purge", "-f", "--num-limit=1").out == \
        "purged 2 inactive jobs, 1 remaining\n"
    assert broker.flux("job", "purge", "-f", ids[2]).out == \
        "purged 1 inactive jobs, 0 remaining\n"
    result = broker.flux("job", "purge", "-f", ids[2])
    assert (result.rc, result.err) == (1, f"flux-job: purge: {ids[2]}:"
                                       " unknown job id\n")


def test_queue_commands(broker):
    with Flux(broker.uri) as h:
        scheduler = h.rpc("job-manager.queue-status", {})["scheduler"]
    started = ("Scheduling is started" if scheduler
               else "Scheduling is stopped: Scheduler is offline")
    assert broker.flux("queue", "status").out == \
        f"Job submission is enabled\n{started}\n"
    assert broker.flux("queue", "disable", "-m", "maintenance").out == \
        "Job submission is disabled: maintenance\n"
    result = broker.flux("submit", "--urgency=hold", "true")
    assert (result.rc, result.err) == (1, "[Errno 22] job submission is"
                                       " disabled: maintenance\n")
    assert broker.flux("queue", "enable", "--quiet").out == ""
    assert broker.flux("queue", "stop", "-m", "fixing").out == \
        "Scheduling is stopped: fixing\n"
    ids_of(broker.flux("submit", "--urgency=hold", "true").out)
    lines = broker.flux("queue", "status", "-v").out.splitlines()
    assert lines[:2] == ["Job submission is enabled",
                         "Scheduling is stopped: fixing"]
    assert [re.sub(r"^\d+ ", "N ", line) for line in lines[2:]] == [
        "N alloc requests queued", "N alloc requests pending to scheduler",
        "N running jobs"]
    assert lines[3:] == ["0 alloc requests pending to scheduler",
                         "0 running jobs"]
    assert broker.flux("queue", "start").out == f"{started}\n"
    result = broker.flux("queue", "status", "batch")
    assert (result.rc, result.err) == (1, "flux-queue: ERROR: status: 'batch'"
                                       " is not a valid queue\n")
    result = broker.flux("queue", "stop", "batch")
    assert (result.rc, result.err) == (1, "flux-queue: ERROR: start: 'batch'"
                                       " is not a valid queue\n")


GUEST_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def test_guest_refusals(broker_factory, shared_dir):
    if os.geteuid() != 0 or SYSTEM_PYTHON is None:
        pytest.skip("needs root to create a user")
    broker = start(broker_factory, shared_dir, "guests",
                   {"access": {"allow-guest-user": True}})
    [job] = ids_of(broker.flux("submit", "--urgency=hold", "true").out)
    libdir = os.path.join(shared_dir, "lib")
    import shutil
    shutil.copytree(os.path.join(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))), "fluxd"),
        os.path.join(libdir, "fluxd"),
        ignore=shutil.ignore_patterns("__pycache__"))

    def guest_flux(*argv):
        env = dict(GUEST_ENV, PYTHONPATH=libdir, FLUX_URI=broker.uri)
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", "from fluxd.cli.main import main; main()",
             *argv], user=user.pw_uid, group=user.pw_gid, env=env,
            capture_output=True, text=True, timeout=60, cwd="/")
        return proc.returncode, proc.stdout, proc.stderr

    with temporary_user() as user:
        assert guest_flux("submit", "--urgency=expedite", "true") == (
            1, "", "[Errno 1] only the instance owner can submit with"
            " urgency >16\n")
        assert guest_flux("job", "urgency", job, "EXPEDITE") == (
            1, "", f"flux-job: {job}: guests can only reprioritize their own"
            " jobs\n")
        assert guest_flux("cancel", job) == (
            1, "", f"flux-cancel: ERROR: {job}: guests can only raise"
            " exceptions on their own jobs\n")
        assert guest_flux("cancel", "--user=all", "--dry-run") == (
            1, "", "flux-cancel: ERROR: guests can only raise exceptions on"
            " their own jobs\n")
        assert guest_flux("queue", "stop") == (
            1, "", "flux-queue: ERROR: start: Request requires owner"
            " credentials\n")
        rc, out, err = guest_flux("cancel", "--all")
        assert (rc, out, err) == (0, "", "flux-cancel: Matched 0 jobs\n")
    # the owner's job is untouched
    assert broker.flux("cancel", "--user=all", "--dry-run").err == \
        "flux-cancel: Would cancel 1 job\n"


FOUR = """
flux(3, "submit", "--cc=1-50", "--urgency=hold", "--flags=waitable", "true")
flux(2, "cancel", "--user=all", "--dry-run")
flux(1, "queue", "status")
flux(3, "cancel", "--user=all", "-m", "from rank 3")
flux(2, "job", "wait", "--all")
flux(1, "job", "purge", "-f", "--num-limit=10")
"""


def test_four_brokers(tmp_path):
    runs = run_on_four(tmp_path, FOUR)
    submit, dry, status, cancel, wait, purge = runs
    assert submit[2] == 0 and len(ids_of(submit[3])) == 50
    assert all(decode(jobid) > 0 for jobid in submit[3].split())
    assert dry[4] == "flux-cancel: Would cancel 50 jobs\n"
    assert status[3].startswith("Job submission is enabled\n")
    assert cancel[4] == "flux-cancel: Canceled 50 jobs (0 errors)\n"
    assert wait[2] == 1
    assert len(wait[4].splitlines()) == 50
    assert all(line.endswith(": Fatal exception type=cancel from rank 3")
               for line in wait[4].splitlines())
    assert purge[3] == "purged 40 inactive jobs, 10 remaining\n"
