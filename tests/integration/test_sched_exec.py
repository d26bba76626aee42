"""Jobs from job-ingest to INACTIVE on a real broker: the job manager, the
sched service (first fit over the broker's discovered cores) and test
execution, driven with the synchronous client (RFC 27, 32)."""

import json
import os

import pytest

from fluxd.client.sync import Flux
from fluxd.errors import FluxError
from fluxd.formats import eventlog, fluid
from fluxd.formats.jobspec import from_command
from fluxd.storage import treeobj as T
from fluxd.storage.lookup import WAITCREATE, WATCH, WATCH_APPEND
from fluxd.security.sign import wrap_none

WAITABLE = 4


def spec(ntasks=1, **test):
    """A test job (``attributes.system.exec.test`` = ``test``)."""
    jobspec = from_command(["true"], ntasks=ntasks, environment={}, cwd="/")
    jobspec["attributes"]["system"]["exec"] = {"test": test}
    return jobspec


def submit(h, jobspec, flags=WAITABLE):
    J = wrap_none(json.dumps(jobspec).encode(), os.getuid())
    return h.rpc("job-ingest.submit", {"J": J, "urgency": 16,
                                       "flags": flags})["id"]


def kvs_get(h, key):
    answer = h.rpc("kvs.lookup", {"key": key, "namespace": "primary",
                                  "flags": 0})
    return T.decode_val(answer["val"]).rstrip(b"\0").decode()


def names(h, jobid, log="eventlog"):
    text = kvs_get(h, f"{fluid.encode(jobid, 'kvs')}.{log}")
    return [e["name"] for e in eventlog.decode(text)]


def entries(h, jobid, log="eventlog"):
    text = kvs_get(h, f"{fluid.encode(jobid, 'kvs')}.{log}")
    return eventlog.decode(text)


def wait(h, jobid):
    return h.rpc("job-manager.wait", {"id": jobid}, timeout=60)


def wait_event(uri, jobid, name, log="eventlog"):
    """Wait until the job's eventlog has ``name`` (as flux job wait-event:
    a kvs-watch of the eventlog, appends only)."""
    key = f"{fluid.encode(jobid, 'kvs')}.{log}"
    with Flux(uri) as watch:
        for answer in watch.stream("kvs-watch.lookup", {
                "key": key, "namespace": "primary",
                "flags": WATCH | WAITCREATE | WATCH_APPEND}):
            text = T.decode_val(answer["val"]).rstrip(b"\0").decode()
            for entry in eventlog.decode(text):
                if entry["name"] == name:
                    return entry
    raise AssertionError(f"watch ended before {name}")


@pytest.fixture
def h(broker):
    with Flux(broker.uri) as handle:
        yield handle


def test_jobs_go_through_every_state(broker, h):
    ids = [submit(h, spec(run_duration="0.05s")) for _ in range(6)]
    for jobid in ids:
        assert wait(h, jobid)["success"] is True
        assert names(h, jobid) == [
            "submit", "validate", "depend", "priority", "alloc", "start",
            "finish", "release", "free", "clean"]
        assert names(h, jobid, "guest.exec.eventlog") == [
            "init", "starting", "complete", "done"]
    R = json.loads(kvs_get(h, f"{fluid.encode(ids[0], 'kvs')}.R"))
    alloc = entries(h, ids[0])[4]
    assert R["execution"]["starttime"] <= alloc["timestamp"]
    assert R["execution"]["expiration"] == 0.0
    summary = alloc["context"]["annotations"]["sched"]["resource_summary"]
    assert summary.startswith("rank0/core")
    assert "sched: ready unlimited" in broker.log_text


def test_time_limit_cancel_and_denial(broker, h):
    timed = spec(run_duration="1h")
    timed["attributes"]["system"]["duration"] = 0.2
    jobid = submit(h, timed)
    result = wait(h, jobid)
    assert result["success"] is False
    exc = [e for e in entries(h, jobid) if e["name"] == "exception"][0]
    assert exc["context"]["type"] == "timeout"
    assert exc["context"]["note"] == "resource allocation expired"

    forever = submit(h, spec())
    wait_event(broker.uri, forever, "start")
    h.rpc("job-manager.raise", {"id": forever, "severity": 0,
                                "type": "cancel", "note": "enough"})
    assert wait(h, forever)["success"] is False
    finish = [e for e in entries(h, forever) if e["name"] == "finish"][0]
    assert finish["context"]["status"] == 15

    huge = submit(h, spec(ntasks=4096))
    assert wait(h, huge)["success"] is False
    exc = [e for e in entries(h, huge) if e["name"] == "exception"][0]
    assert (exc["context"]["type"], exc["context"]["note"]) == (
        "alloc", "unsatisfiable request")


def test_feasibility_and_resource_status(broker, h):
    assert h.rpc("feasibility.check", {"jobspec": spec()}) == {}
    with pytest.raises(FluxError) as info:
        h.rpc("feasibility.check", {"jobspec": spec(ntasks=4096)})
    assert str(info.value) == "unsatisfiable request"
    status = h.rpc("sched.resource-status")
    assert status["down"]["execution"]["R_lite"] == []
    assert status["all"]["execution"]["R_lite"][0]["rank"] == "0"


def test_a_plain_job_runs_in_a_job_shell(broker, h):
    plain = from_command(["true"], environment={}, cwd="/")
    jobid = submit(h, plain)
    assert wait(h, jobid)["success"] is True
    names = [e["name"] for e in entries(h, jobid)]
    assert "exception" not in names and "finish" in names


def test_running_jobs_survive_a_restart(broker_factory, tmp_path):
    statedir = tmp_path / "state"
    statedir.mkdir()
    broker = broker_factory(attrs={"statedir": str(statedir)})
    with Flux(broker.uri) as h:
        held = submit(h, spec(run_duration="1h"))
        quick = submit(h, spec(run_duration="1h", reattach_finish=1))
        for jobid in (held, quick):
            wait_event(broker.uri, jobid, "start")
        R = json.loads(kvs_get(h, f"{fluid.encode(held, 'kvs')}.R"))
    broker.stop()
    broker.start()
    with Flux(broker.uri) as h:
        assert wait(h, quick)["success"] is True
        assert names(h, quick, "guest.exec.eventlog") == [
            "init", "starting", "reattach", "re-starting", "complete", "done"]
        wait_event(broker.uri, held, "re-starting", "guest.exec.eventlog")
        # the scheduler's hello marked the held job's cores allocated
        status = h.rpc("sched.resource-status")
        assert status["allocated"]["execution"]["R_lite"] == \
            R["execution"]["R_lite"]
        h.rpc("job-manager.raise", {"id": held, "severity": 0,
                                    "type": "cancel", "note": ""})
        assert wait(h, held)["success"] is False
        assert h.rpc("sched.resource-status")["allocated"]["execution"][
            "R_lite"] == []
