"""The admin guide's "Adding Queues" example (debug and batch queues
selected by node properties) and its "Managing the Flux queue" commands
on a real 4-broker instance: the queues start stopped, ``flux queue``
prints flux-core 0.88's lines, each queue's jobs run only on its nodes,
and stopping a queue withdraws its pending alloc requests."""

import pytest

from fluxd.testing.guide import QUEUES_POLICY
from tests.integration.resource_helpers import (
    flux_start, out, sections, write_config)

pytestmark = pytest.mark.slow

#: the guide's example on four nodes of 8 cores: test[1-2] debug,
#: test[3-4] batch
GUIDE_TOML = """\
[resource]
noverify = true

[[resource.config]]
hosts = "test[1-4]"
cores = "0-7"

[[resource.config]]
hosts = "test[1-2]"
properties = ["debug"]

[[resource.config]]
hosts = "test[3-4]"
properties = ["batch"]

""" + QUEUES_POLICY

TEST = "--setattr=system.exec.test.run_duration="

SCRIPT = f'''
show("status", "queue", "status")
show("start-none", "queue", "start")
show("start-all", "queue", "start", "--all")
show("status-v", "queue", "status", "-v")
show("list", "queue", "list")
debug = flux("submit", "-N2", "{TEST}1h", "true").stdout.strip()
batch = flux("submit", "-q", "batch", "-N2", "{TEST}1h", "true").stdout.strip()
for jobid in (debug, batch):
    flux("job", "wait-event", "-t", "60", jobid, "start")
show("ranks", "jobs", "-no", "{{queue}} {{nodelist}}", "--sort=queue")
# a third job waits for batch's nodes; stopping batch withdraws its alloc
waiting = flux("submit", "-q", "batch", "{TEST}0", "true").stdout.strip()
flux("job", "wait-event", "-t", "60", waiting, "priority")
show("before-stop", "queue", "status", "-v")
show("stop-batch", "queue", "stop", "batch", "-v")
show("disable-debug", "queue", "disable", "debug", "-m", "maintenance")
show("refused", "submit", "true")
show("unknown", "submit", "-q", "express", "true")
show("status-after", "queue", "status")
show("cancel", "cancel", debug, batch)
show("idle", "queue", "idle", "--timeout=60s")
show("start-batch", "queue", "start", "batch")
show("drain", "queue", "drain", "--timeout=60s")
show("done", "jobs", "-a", "-no", "{{queue}} {{status}}", "--sort=queue,status")
'''


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("guidequeues")
    conf = write_config(tmp / "conf.d", queues=GUIDE_TOML)
    proc = flux_start(tmp, SCRIPT, f"--config-path={conf}", size=4,
                      hosts="test[1-4]", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sections(proc.stdout)


def test_queues_start_stopped(steps):
    # the guide shows "Scheduling is enabled": flux-core 0.88 prints each
    # named queue's two lines, and named queues start stopped
    assert out(steps, "status") == (
        "batch: Job submission is enabled\n"
        "batch: Scheduling is stopped\n"
        "debug: Job submission is enabled\n"
        "debug: Scheduling is stopped\n")
    assert out(steps, "start-none", rc=1) == (
        "flux-queue: ERROR: Named queues are defined. Specify queues or use"
        " --all.\n")
    assert out(steps, "start-all") == (
        "batch: Scheduling is started\n"
        "debug: Scheduling is started\n")


def test_status_verbose_as_the_guide(steps):
    # the guide's "free requests pending" line is not printed by 0.88
    assert out(steps, "status-v") == (
        "batch: Job submission is enabled\n"
        "batch: Scheduling is started\n"
        "debug: Job submission is enabled\n"
        "debug: Scheduling is started\n"
        "0 alloc requests queued\n"
        "0 alloc requests pending to scheduler\n"
        "0 running jobs\n")


def test_list(steps):
    assert out(steps, "list") == (
        "QUEUE    EN ST TDEFAULT   TLIMIT     NNODES     NCORES      NGPUS\n"
        "batch     ✔  ✔       1m       4h        0-2       0-16        0-0\n"
        "debug*    ✔  ✔       1m      30m        0-2       0-16        0-0\n")


def test_each_queue_runs_on_its_nodes(steps):
    assert out(steps, "ranks") == "batch test[3-4]\ndebug test[1-2]\n"


def test_stop_withdraws_and_disable_refuses(steps):
    assert out(steps, "before-stop").splitlines()[-3:] == [
        "0 alloc requests queued", "1 alloc requests pending to scheduler",
        "2 running jobs"]
    # -v shows every queue; the waiting job's alloc was withdrawn
    assert out(steps, "stop-batch") == (
        "batch: Scheduling is stopped\n"
        "debug: Scheduling is started\n"
        "0 alloc requests queued\n"
        "0 alloc requests pending to scheduler\n"
        "2 running jobs\n")
    assert out(steps, "disable-debug") == (
        "debug: Job submission is disabled: maintenance\n")
    assert out(steps, "refused", rc=1).endswith(
        "job submission to debug is disabled: maintenance\n")
    # the constraints frobnicator refuses it first, as in flux-core
    assert out(steps, "unknown", rc=1).endswith(
        "[Errno 22] Invalid queue 'express' specified\n")
    assert out(steps, "status-after") == (
        "batch: Job submission is enabled\n"
        "batch: Scheduling is stopped\n"
        "debug: Job submission is disabled: maintenance\n"
        "debug: Scheduling is started\n")


def test_idle_then_drain(steps):
    # the stopped queue's job is still pending: idle counts it
    assert out(steps, "idle") == "1 jobs\n"
    assert out(steps, "start-batch") == "batch: Scheduling is started\n"
    assert out(steps, "drain") == ""
    assert out(steps, "done") == (
        "batch CANCELED\nbatch COMPLETED\ndebug CANCELED\n")
