"""Jobs that run under test execution on real brokers: ``flux jobs`` rows
for each result, ``flux queue drain|idle``, ``flux job wait`` refusals, a
zero ``run_duration``, the events journal's backlog, refused
submissions that leave no trace, and the KVS transactions that 1,000 jobs
cost from ``flux submit --cc`` to INACTIVE.
"""

import json
import re
import threading

import pytest

from fluxd.client.sync import Flux
from fluxd.formats.fluid import decode
from tests.integration.four import run_on_four

TEST = "--setattr=system.exec.test.run_duration="
F58 = re.compile(r"^ƒ[1-9A-HJ-NP-Za-km-z]+$")


def submit(broker, *argv):
    result = broker.flux("submit", *argv)
    assert result.rc == 0 and F58.match(result.out.strip()), result
    return result.out.strip()


def kvs_commits(broker):
    with Flux(broker.uri) as h:
        return h.rpc("kvs.stats-get", {})["commits"]


def test_flux_jobs_rows_for_each_result(broker):
    jobs = {
        "ok": submit(broker, "--job-name=ok", TEST + "0", "true"),
        "fails": submit(broker, "--job-name=fails", TEST + "0.01s",
                        "--setattr=system.exec.test.wait_status=512", "true"),
        "mock": submit(broker, "--job-name=mock", "--setattr=system.exec."
                       "test.mock_exception=run", "true"),
        "late": submit(broker, "--job-name=late", "-t", "0.1s", TEST + "1h",
                       "true"),
        "gone": submit(broker, "--job-name=gone", TEST + "1h", "true"),
    }
    assert broker.flux("job", "wait-event", jobs["gone"], "start").rc == 0
    assert broker.flux("cancel", jobs["gone"]).rc == 0
    result = broker.flux("queue", "drain", "--timeout=60s")
    assert (result.rc, result.out, result.err) == (0, "", "")
    result = broker.flux("jobs", "-a", "-no",
                         "{name} {status} {status_abbrev} {result}"
                         " {returncode}")
    rows = dict((line.split(" ", 1)) for line in result.out.splitlines())
    assert rows == {
        "ok": "COMPLETED CD COMPLETED 0",
        "fails": "FAILED F FAILED 2",
        "mock": "FAILED F FAILED -15",
        "late": "TIMEOUT TO TIMEOUT -14",
        "gone": "CANCELED CA CANCELED -15"}, result
    # the default format shows each result's abbreviation
    table = broker.flux("jobs", "-a").out.splitlines()
    assert table[0].split()[:4] == ["JOBID", "USER", "NAME", "ST"]
    assert sorted(line.split()[2:4] for line in table[1:]) == [
        ["fails", "F"], ["gone", "CA"], ["late", "TO"], ["mock", "F"],
        ["ok", "CD"]]
    # the exception of a FAILED and a TIMEOUT job, as flux jobs shows it
    result = broker.flux("jobs", "-no", "{name} {exception.type}"
                         " {exception.note}", jobs["mock"], jobs["late"])
    assert sorted(result.out.splitlines()) == [
        "late timeout resource allocation expired",
        "mock exec mock run exception generated"]


def test_queue_drain_and_idle(broker):
    result = broker.flux("queue", "idle")
    assert (result.rc, result.out) == (0, "0 jobs\n")
    assert broker.flux("queue", "idle", "--quiet").out == ""
    long = submit(broker, "--flags=waitable", TEST + "1h", "true")
    held = submit(broker, "--urgency=hold", "true")
    assert broker.flux("job", "wait-event", long, "start").rc == 0
    result = broker.flux("queue", "drain", "--timeout=0.2s")
    assert (result.rc, result.err) == (1, "flux-queue: ERROR: drain:"
                                       " timeout\n")
    result = broker.flux("queue", "idle", "-t", "0.2s")
    assert (result.rc, result.err) == (1, "flux-queue: ERROR: idle:"
                                       " timeout\n")
    assert broker.flux("cancel", long).rc == 0
    # the held job is pending: the queue is idle, not drained
    result = broker.flux("queue", "idle", "--quiet", "--timeout=60s")
    assert (result.rc, result.out) == (0, "1 jobs\n")
    # flux job wait on a job that is not waitable: flux's message, exit 2
    result = broker.flux("job", "wait", held)
    assert (result.rc, result.err) == (2, "flux-job: job was not submitted"
                                       " with FLUX_JOB_WAITABLE\n")
    assert broker.flux("job", "wait", long).rc == 1
    result = broker.flux("job", "wait", long)
    assert (result.rc, result.err) == (2, "flux-job: invalid job id, or job"
                                       " may be inactive and not waitable\n")
    assert broker.flux("cancel", held).rc == 0
    result = broker.flux("queue", "drain", "--timeout=60s")
    assert (result.rc, result.out, result.err) == (0, "", "")


def test_zero_run_duration_finishes(broker):
    for value in ("0", "0s"):
        result = broker.flux("run", TEST + value, "true", timeout=60)
        assert (result.rc, result.out, result.err) == (0, "", "")
    result = broker.flux("submit", "--cc=1-20", "--wait", "--quiet",
                         TEST + "0", "true", timeout=60)
    assert (result.rc, result.err) == (0, "")


def test_journal_full_backlog(broker):
    first = submit(broker, "--flags=waitable", TEST + "0", "true")
    assert broker.flux("job", "wait", first).rc == 0
    held = submit(broker, "--urgency=hold", "true")
    seen, ended = [], threading.Event()

    def follow():
        with Flux(broker.uri) as h:
            for answer in h.stream("job-manager.events-journal",
                                   {"full": True}):
                if answer.get("id") == 0xFFFFFFFFFFFFFFFF:
                    ended.set()
                    return
                seen.extend((e["id"], e["entry"]["name"])
                            for e in answer["events"])
    # the backlog's end marker must come by itself (a daemon thread: the
    # broker's stop ends its connection if it does not)
    threading.Thread(target=follow, daemon=True).start()
    assert ended.wait(60)
    log = broker.flux("job", "eventlog", "-f", "json", first).out
    names = [json.loads(line)["name"] for line in log.splitlines()]
    assert [n for i, n in seen if i == decode(first)] == names
    assert [n for i, n in seen if i == decode(held)] == [
        "submit", "validate", "depend", "priority"]


@pytest.mark.slow
def test_kvs_transactions_of_1000_jobs(broker):
    """Batching, counted: 1,000 jobs through to INACTIVE."""
    with Flux(broker.uri) as h:
        ingest_before = h.rpc("job-ingest.stats-get", {})["requests"]
    before = kvs_commits(broker)
    result = broker.flux("submit", "--cc=1-1000", "--quiet", "--urgency=hold",
                         "true", timeout=120)
    assert (result.rc, result.err) == (0, "")
    submitted = kvs_commits(broker) - before
    with Flux(broker.uri) as h:
        requests = h.rpc("job-ingest.stats-get", {})["requests"] - \
            ingest_before
    # at most one KVS transaction and one ingest request per 10 jobs
    assert 0 < requests <= 100, requests
    assert 0 < submitted <= 100, submitted
    print(f"submit --cc=1-1000 (held): {requests} ingest requests,"
          f" {submitted} KVS transactions")
    assert broker.flux("cancel", "--all").rc == 0
    assert broker.flux("queue", "drain", "--timeout=60s").rc == 0

    # run them: every job's eventlog, R and exec eventlog to INACTIVE
    before = kvs_commits(broker)
    with Flux(broker.uri) as h:
        jm_before = h.rpc("job-manager.stats-get", {})["commits"]
    result = broker.flux("submit", "--cc=1-1000", "--quiet", TEST + "0",
                         "true", timeout=300)
    assert (result.rc, result.err) == (0, "")
    assert broker.flux("queue", "drain", "--timeout=300s").rc == 0
    commits = kvs_commits(broker) - before
    with Flux(broker.uri) as h:
        eventlogs = h.rpc("job-manager.stats-get", {})["commits"] - jm_before
    result = broker.flux("jobs", "-a", "-no", "{status}", "--count=3000")
    assert result.out.split().count("COMPLETED") == 1000
    # a job's eventlog has 10 events, plus J and jobspec: 12 job manager
    # transactions per job without batching; with the exec eventlog (4)
    # and R, 17 in all
    print(f"1000 jobs to INACTIVE: {commits} KVS transactions"
          f" ({commits / 1000:.3f} per job), {eventlogs} of them the job"
          f" manager's ({eventlogs / 1000:.3f} per job)")
    assert eventlogs <= 3 * 1000, eventlogs
    assert commits <= 6 * 1000, commits


FOUR = """
T = "--setattr=system.exec.test."
flux(3, "submit", "--job-name=ok", "-N4", T + "run_duration=0", "true")
flux(2, "submit", "--job-name=fails", T + "run_duration=0.01s",
     T + "wait_status=256", "true")
flux(1, "submit", "--job-name=late", "-t", "0.1s", T + "run_duration=1h",
     "true")
flux(3, "submit", "--job-name=gone", "--urgency=hold", "true")
flux(2, "cancel", "--states=pending")
flux(1, "queue", "drain", "--timeout=60s")
flux(3, "jobs", "-a", "-no", "{name} {status_abbrev} {nnodes}")
flux(2, "queue", "idle")
"""


@pytest.mark.slow
def test_four_brokers(tmp_path):
    runs = run_on_four(tmp_path, FOUR)
    assert all(run[2] == 0 for run in runs), runs
    cancel, drain, jobs, idle = runs[4:]
    assert cancel[4] == "flux-cancel: Canceled 1 job (0 errors)\n"
    assert drain[3:] == ["", ""]
    assert sorted(jobs[3].splitlines()) == [
        "fails F 1", "gone CA ", "late TO 1", "ok CD 4"]
    assert idle[3] == "0 jobs\n"


def test_refused_jobs_leave_no_trace(broker):
    """Each bad submission is refused with flux's message; nothing reaches
    the KVS; the broker goes on."""
    import base64
    import os
    from fluxd.errors import FluxError
    from fluxd.formats.jobspec import from_command
    from fluxd.security.sign import wrap_none

    good = from_command(["true"], environment={}, cwd="/")
    signed = wrap_none(json.dumps(good).encode(), os.getuid())
    header, payload, sig = signed.split(".")
    no_tasks = dict(good)
    del no_tasks["tasks"]
    cases = [
        ({"J": "x.y"}, "three parts"),
        ({"J": f"{header}.%%%.{sig}"}, "payload is not valid base64"),
        ({"J": ".".join([header, base64.b64encode(b"{not json").decode(),
                         sig])}, "invalid jobspec JSON"),
        ({"J": wrap_none(json.dumps(no_tasks).encode(), os.getuid())},
         "tasks"),
        ({"J": wrap_none(json.dumps(good).encode(), os.getuid() + 1)},
         f"signer={os.getuid() + 1} != requestor={os.getuid()}"),
        ({"J": signed, "urgency": 32}, "urgency range is [0:31]"),
        ({"J": signed, "flags": 64}, "invalid submit flags"),
    ]
    with Flux(broker.uri) as h:
        before = h.rpc("job-manager.stats-get", {})
        max_jobid = h.rpc("job-manager.getinfo", {})["max_jobid"]
        for extra, text in cases:
            request = dict({"urgency": 16, "flags": 0}, **extra)
            try:
                h.rpc("job-ingest.submit", request)
            except FluxError as exc:
                assert text in str(exc), (extra, str(exc))
                assert "\n" not in str(exc) and str(exc)
            else:
                raise AssertionError(f"{extra} was accepted")
        # in a batch request, the bad job gets its own error
        answer = h.rpc("job-ingest.submit", {"jobs": [
            {"J": "x.y", "urgency": 16, "flags": 0}]})
        assert "three parts" in answer["jobs"][0]["errstr"]
        after = h.rpc("job-manager.stats-get", {})
        assert after["commits"] == before["commits"]
        assert after["submitted"] == before["submitted"]
        assert h.rpc("job-manager.getinfo", {})["max_jobid"] == max_jobid
    assert broker.flux("jobs", "-a", "-n").out == ""
    assert broker.proc.poll() is None
    jobid = submit(broker, TEST + "0", "--flags=waitable", "true")
    assert broker.flux("job", "wait", jobid).rc == 0
