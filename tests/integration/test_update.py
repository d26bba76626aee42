"""``flux update`` and the jobtap builtins on real brokers: guest and
owner updates, the policy limits re-checked, a running test job's time
limit moved, updates surviving a restart, ``--dependency=singleton``,
``flux job post-event`` and ``flux job last``."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest
import tomli_w

from fluxd.client.sync import Flux
from fluxd.testing.users import temporary_user
from tests.integration.test_guest_access import SYSTEM_PYTHON, shared_dir

pytestmark = pytest.mark.slow
__all__ = ["shared_dir"]

F58 = re.compile(r"^ƒ[1-9A-HJ-NP-Za-km-z]+$")
FOREVER = "--setattr=system.exec.test.run_duration=1h"
LIMITS = {"policy": {"limits": {"duration": "1h"}},
          "access": {"allow-guest-user": True}}


def submit(broker, *argv):
    result = broker.flux("submit", *argv)
    assert result.rc == 0 and F58.match(result.out.strip()), result
    return result.out.strip()


def refused(broker, *argv):
    result = broker.flux(*argv)
    assert result.rc == 1 and result.out == "", result
    assert len(result.err.splitlines()) == 1, result
    return result.err


def rows(broker, fmt, *ids):
    result = broker.flux("jobs", "-a", "-no", fmt, *ids)
    assert result.rc == 0, result
    return result.out.splitlines()


def test_update_limits_restart_and_guests(broker_factory, shared_dir):
    rundir = os.path.join(shared_dir, "run")
    os.makedirs(rundir)
    os.chmod(rundir, 0o755)
    config_path = os.path.join(shared_dir, "update.toml")
    with open(config_path, "wb") as f:
        tomli_w.dump(LIMITS, f)
    broker = broker_factory(config_path=config_path, attrs={
        "rundir": rundir, "local-uri": f"local://{rundir}/local",
        "statedir": os.path.join(shared_dir, "state")})
    job = submit(broker, "--urgency=hold", "-t", "10m", "true")
    assert broker.flux("update", "-v", job, "duration=+20m").err == \
        "flux-update: updated attributes.system.duration to 1800.0\n"
    assert broker.flux("update", job, "name=renamed").rc == 0
    assert rows(broker, "{name} {duration}", job) == ["renamed 1800.0"]
    # the instance owner's duration updates skip validation by default;
    # with owner-allow-any=0 they are re-validated against the limits
    assert broker.flux("jobtap", "load", ".update-duration",
                       "owner-allow-any=0").rc == 0
    assert refused(broker, "update", job, "duration=2h") == (
        "flux-update: ERROR: requested duration (2h) exceeds policy limit"
        " of 1h\n")
    assert refused(broker, "update", job, "foo=1") == (
        "flux-update: ERROR: update of attributes.system.foo not"
        " supported\n")
    assert refused(broker, "update", job, "name=x", "foo=1") == (
        "flux-update: ERROR: update of attributes.system.foo not"
        " supported\n")
    assert refused(broker, "update", job, "duration=-1h") == (
        "flux-update: ERROR: current duration for " + job +
        " (30m) cannot be reduced by 1h\n")
    result = broker.flux("update", "-n", job, "duration=5m", "queue=q")
    assert json.loads(result.out) == {"attributes.system.duration": 300.0,
                                      "attributes.system.queue": "q"}
    assert broker.flux("update", job).rc == 2
    events = broker.flux("job", "eventlog", job).out
    assert events.count("jobspec-update") == 2
    # a real second user may not update (nor post to) the owner's job
    libdir = os.path.join(shared_dir, "lib")
    shutil.copytree(os.path.join(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))), "fluxd"),
        os.path.join(libdir, "fluxd"),
        ignore=shutil.ignore_patterns("__pycache__"))
    if os.geteuid() == 0 and SYSTEM_PYTHON is not None:
        with temporary_user() as user:
            def guest(*argv):
                proc = subprocess.run(
                    [SYSTEM_PYTHON, "-c",
                     "from fluxd.cli.main import main; main()", *argv],
                    user=user.pw_uid, group=user.pw_gid, cwd="/",
                    env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                         "PYTHONPATH": libdir, "FLUX_URI": broker.uri},
                    capture_output=True, text=True, timeout=60)
                return proc.returncode, proc.stdout, proc.stderr
            assert guest("update", job, "duration=1m") == (
                1, "", "flux-update: ERROR: guests may only update their"
                " own jobs\n")
            assert guest("job", "post-event", job, "note") == (
                1, "", f"flux-job: {job}: Request requires owner"
                " credentials\n")
            assert guest("job", "last") == (
                1, "", "flux-job: job history is empty\n")
    # the owner posts an event; flux job last is the job manager's history
    assert broker.flux("job", "post-event", job, "note", "x=1").rc == 0
    assert refused(broker, "job", "post-event", job, "clean") == (
        f"flux-job: {job}: event clean cannot be posted by hand\n")
    assert broker.flux("job", "last").out == job + "\n"
    # the updates survive a restart (jobspec-update replayed)
    broker.stop()
    broker.start()
    assert rows(broker, "{name} {duration}", job) == ["renamed 1800.0"]
    names = [json.loads(line)["name"] for line in broker.flux(
        "job", "eventlog", "-f", "json", job).out.splitlines()]
    assert "note" in names
    # the broker went on through every refusal
    assert broker.flux("update", job, "name=after").rc == 0
    # urgency in the same request: checked first, applied with the rest
    assert refused(broker, "update", job, "name=u", "urgency=40") == (
        "flux-update: ERROR: urgency value is out of range\n")
    assert broker.flux("update", "-v", job, "name=urgent",
                       "urgency=hold").err == (
        "flux-update: updated attributes.system.job.name to urgent\n"
        "flux-update: updated urgency to 0\n")
    assert rows(broker, "{name} {urgency} {state}", job) == [
        "urgent 0 SCHED"]
    # expedited out of its hold, the job runs
    assert broker.flux("update", job, "urgency=expedite").rc == 0
    assert broker.flux("job", "wait-event", "-t", "60", job, "clean").rc == 0
    assert rows(broker, "{name} {urgency} {result}", job) == [
        "urgent 31 COMPLETED"]


def test_running_job_time_limit_moves(broker):
    job = submit(broker, FOREVER, "-t", "1h", "true")
    assert broker.flux("job", "wait-event", "-t", "60", job, "start").rc == 0
    began = time.monotonic()
    # the owner shortens a running job: its test-exec timer moves
    assert broker.flux("update", job, "duration=3s").rc == 0
    assert broker.flux("job", "wait-event", "-t", "60", job, "clean").rc == 0
    assert time.monotonic() - began < 30
    assert rows(broker, "{result}", job) == ["TIMEOUT"]
    names = [json.loads(line)["name"] for line in broker.flux(
        "job", "eventlog", "-f", "json", job).out.splitlines()]
    assert names.index("jobspec-update") < names.index("resource-update")
    info = json.loads(broker.flux("job", "info", job, "R").out)
    assert info["execution"]["expiration"] - \
        info["execution"]["starttime"] == pytest.approx(3.0)


def test_singleton(broker):
    first = submit(broker, FOREVER, "--job-name=solo", "true")
    waiting = submit(broker, "--dependency=singleton", "--job-name=solo",
                     FOREVER, "true")
    other = submit(broker, "--dependency=singleton", "--job-name=other",
                   "--setattr=system.exec.test.run_duration=0.01s", "true")
    assert rows(broker, "{state} {contextual_info}", waiting) == [
        "DEPEND depends:singleton"]
    assert broker.flux("job", "wait-event", "-t", "60", other, "clean").rc \
        == 0
    assert refused(broker, "submit", "--dependency=singleton", "true") == (
        "[Errno 22] singleton jobs require a job name\n")
    assert broker.flux("cancel", first).rc == 0
    assert broker.flux("job", "wait-event", "-t", "60", waiting,
                       "start").rc == 0
    assert broker.flux("cancel", waiting).rc == 0


QUEUES = """\
[policy]
jobspec.defaults.system.duration = "1m"
jobspec.defaults.system.queue = "debug"

[queues.debug]
policy.limits.duration = "30m"

[queues.batch]
policy.limits.duration = "4h"

[queues.short]
parent = "batch"
policy.limits.duration = "10m"
"""


def test_queue_updates_and_virtual_queues(broker_factory, tmp_path):
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "queues.toml").write_text(QUEUES)
    broker = broker_factory(config_path=str(conf))
    job = submit(broker, "-t", "2h", "--queue=batch",
                 "--setattr=system.exec.test.run_duration=0.01s", "true")
    # the destination queue's limits apply (as the owner: owner-allow-any
    # is about durations only)
    assert refused(broker, "update", job, "queue=debug") == (
        "flux-update: ERROR: requested duration (2h) exceeds policy limit"
        " of 30m for queue debug\n")
    assert refused(broker, "update", job, "queue=nope") == (
        "flux-update: ERROR: 'nope' is not a valid queue\n")
    assert refused(broker, "update", job, "queue=batch") == (
        "flux-update: ERROR: job queue is already set to batch\n")
    assert broker.flux("update", job, "duration=5m", "queue=short").rc == 0
    assert rows(broker, "{queue} {duration}", job) == ["short 300.0"]
    # short is started, its parent is not: the job waits, no alloc sent
    assert broker.flux("queue", "start", "short").rc == 0
    with Flux(broker.uri) as h:
        status = h.rpc("job-manager.queue-status", {"name": "short"})
    assert (status["start"], status["parent"], status["blocked"],
            status["alloc_pending"], status["running"]) == (
        True, "batch", "parent", 0, 0)
    assert rows(broker, "{state}", job) == ["SCHED"]
    assert broker.flux("queue", "start", "batch").rc == 0
    assert broker.flux("job", "wait-event", "-t", "60", job, "clean").rc == 0
    assert rows(broker, "{result}", job) == ["COMPLETED"]
