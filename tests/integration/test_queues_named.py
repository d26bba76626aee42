"""Named queues (RFC 33) on a real broker: they start stopped, ``flux
queue`` controls each of them, submissions name one (or get the default
queue), the flags survive a restart (``--nocheckpoint`` and
``stop-queues-on-restart`` too), and a reload that removes a queue with
jobs is refused whole."""

import pytest

pytestmark = pytest.mark.slow

QUEUES = """\
[policy]
jobspec.defaults.system.duration = "1m"
jobspec.defaults.system.queue = "debug"

[queues.debug]
policy.limits.duration = "30m"

[queues.batch]
policy.limits.duration = "4h"
"""


def ok(broker, *argv):
    result = broker.flux(*argv)
    assert result.rc == 0, result
    return result.out


def refused(broker, *argv):
    result = broker.flux(*argv)
    assert result.rc != 0 and result.out == "", result
    assert len(result.err.splitlines()) == 1, result
    return result.err


@pytest.fixture
def conf(tmp_path):
    directory = tmp_path / "conf.d"
    directory.mkdir()
    (directory / "queues.toml").write_text(QUEUES)
    return directory


@pytest.fixture
def broker(broker_factory, tmp_path, conf):
    return broker_factory(config_path=str(conf),
                          attrs={"statedir": str(tmp_path / "state")})


def test_named_queues_start_stopped_and_are_controlled_one_by_one(broker):
    assert ok(broker, "queue", "status") == (
        "batch: Job submission is enabled\n"
        "batch: Scheduling is stopped\n"
        "debug: Job submission is enabled\n"
        "debug: Scheduling is stopped\n")
    assert refused(broker, "queue", "start") == (
        "flux-queue: ERROR: Named queues are defined. Specify queues or use"
        " --all.\n")
    assert refused(broker, "queue", "stop", "express") == (
        "flux-queue: ERROR: start: 'express' is not a valid queue\n")
    assert ok(broker, "queue", "start", "--all") == (
        "batch: Scheduling is started\n"
        "debug: Scheduling is started\n")
    assert ok(broker, "queue", "stop", "batch", "-m", "maint") == (
        "batch: Scheduling is stopped: maint\n")
    assert ok(broker, "queue", "disable", "-q", "debug", "-m", "closed") == (
        "debug: Job submission is disabled: closed\n")
    assert ok(broker, "queue", "status", "-v") == (
        "batch: Job submission is enabled\n"
        "batch: Scheduling is stopped: maint\n"
        "debug: Job submission is disabled: closed\n"
        "debug: Scheduling is started\n"
        "0 alloc requests queued\n"
        "0 alloc requests pending to scheduler\n"
        "0 running jobs\n")
    assert ok(broker, "queue", "list") == (
        "QUEUE    EN ST TDEFAULT   TLIMIT     NNODES     NCORES      NGPUS\n"
        "batch     ✔  ✗       1m       4h        0-1        0-2        0-0\n"
        "debug*    ✗  ✔       1m      30m        0-1        0-2        0-0\n"
    ).replace("0-2", f"0-{_ncores(broker)}")
    assert ok(broker, "queue", "list", "-q", "batch", "-n", "-o",
              "{queue} {submission} {scheduling} {enabled.ascii}"
              " {started.ascii}") == "batch enabled stopped y n\n"
    assert refused(broker, "queue", "list", "-q", "express") == (
        "flux-queue: ERROR: express: no such queue\n")
    # flux uptime has no single queue to report on, and still works
    assert " run " in ok(broker, "uptime"), ok(broker, "uptime")


def _ncores(broker):
    out = ok(broker, "resource", "list", "-no", "{ncores}")
    return int(out.split()[0])


def test_submission_needs_a_valid_enabled_queue(broker):
    ok(broker, "queue", "disable", "debug", "-m", "closed")
    assert refused(broker, "submit", "-q", "express", "true").endswith(
        "[Errno 22] Invalid queue 'express' specified\n")
    # no queue named: the default queue, which is disabled
    assert refused(broker, "submit", "true").endswith(
        "job submission to debug is disabled: closed\n")
    jobid = ok(broker, "submit", "-q", "batch", "true").strip()
    # batch is stopped: the job waits, listed with its queue
    rows = ok(broker, "jobs", "-q", "batch").splitlines()
    assert rows[0].split()[:3] == ["JOBID", "QUEUE", "USER"]
    assert rows[1].split()[:2] == [jobid, "batch"]
    assert ok(broker, "jobs", "-q", "debug", "-n") == ""
    ok(broker, "queue", "enable", "debug")
    ok(broker, "queue", "start", "debug")
    other = ok(broker, "submit", "true").strip()
    assert ok(broker, "job", "wait-event", "-t", "30", other, "clean")
    assert ok(broker, "jobs", "-a", "-no", "{queue}", other) == "debug\n"
    assert ok(broker, "jobs", "-no", "{state}", jobid) == "SCHED\n"
    ok(broker, "queue", "start", "batch")
    assert ok(broker, "job", "wait-event", "-t", "30", jobid, "clean")


def test_flags_survive_a_restart(broker, conf):
    ok(broker, "queue", "start", "--all")
    ok(broker, "queue", "stop", "batch", "--nocheckpoint", "-m", "brief")
    ok(broker, "queue", "disable", "debug", "-m", "closed")
    broker.stop()
    broker.start()
    assert ok(broker, "queue", "status") == (
        "batch: Job submission is enabled\n"
        "batch: Scheduling is started\n"
        "debug: Job submission is disabled: closed\n"
        "debug: Scheduling is started\n")
    (conf / "jm.toml").write_text(
        "[job-manager]\nstop-queues-on-restart = true\n")
    broker.stop()
    broker.start()
    assert ok(broker, "queue", "status", "batch") == (
        "batch: Job submission is enabled\n"
        "batch: Scheduling is stopped: Automatically stopped due to"
        " restart\n")


def test_reload_removing_a_queue_with_jobs_is_refused(broker, conf):
    jobid = ok(broker, "submit", "-q", "batch", "true").strip()
    (conf / "queues.toml").write_text(QUEUES.replace(
        '[queues.batch]\npolicy.limits.duration = "4h"\n',
        '[queues.express]\n'))
    err = refused(broker, "config", "reload")
    assert "batch" in err and "still has active jobs" in err, err
    # nothing of the refused config was applied
    assert ok(broker, "queue", "list", "-no", "{queue}") == "batch\ndebug\n"
    assert ok(broker, "config", "get", "queues.batch.policy.limits.duration"
              ) == "4h\n"
    ok(broker, "cancel", jobid)
    ok(broker, "job", "wait-event", "-t", "30", jobid, "clean")
    ok(broker, "config", "reload")
    assert ok(broker, "queue", "list", "-no", "{queue}") == "debug\nexpress\n"


def test_guests_may_not_control_queues(broker):
    """A request stamped with a guest's credential (the owner's handle may
    ask for that) is refused with flux's message."""
    from fluxd.client.sync import Flux
    from fluxd.errors import FluxError
    with Flux(broker.uri, userid=4242, rolemask=2) as guest:
        for topic, body in (("queue-start", {"start": True, "all": True}),
                            ("queue-enable", {"enable": False, "all": True,
                                              "reason": "x"})):
            with pytest.raises(FluxError) as info:
                guest.rpc(f"job-manager.{topic}", body)
            assert (info.value.errno, str(info.value)) == (
                1, "Request requires owner credentials")
        assert guest.rpc("job-manager.queue-list", {}) == {
            "queues": ["batch", "debug"]}
    assert ok(broker, "queue", "status", "debug") == (
        "debug: Job submission is enabled\n"
        "debug: Scheduling is stopped\n")
