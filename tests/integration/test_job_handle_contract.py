"""The fake job broker of the CLI unit tests (tests/unit/cli/fakejobs.py)
and a real broker answer the requests the commands make alike.

Each check runs against both: the fake, and a real broker's job-ingest
and job manager through the stdlib client.  Jobs are held, so that no
scheduler or execution is needed (scheduling is stopped where urgencies
change, in case a scheduler runs).
"""

import json
import os

import pytest

from fluxd.client.sync import Flux
from fluxd.errors import FluxError
from fluxd.formats.fluid import encode
from fluxd.formats.jobspec import from_command
from fluxd.security.sign import wrap_none

from tests.unit.cli.fakejobs import FakeJobBroker

ANY_JOB = 0xFFFFFFFFFFFFFFFF


@pytest.fixture(params=["fake", "real"])
def handle(request, broker_factory):
    if request.param == "fake":
        yield FakeJobBroker(script=lambda jobspec: [])
        return
    broker = broker_factory()
    with Flux(broker.uri) as h:
        yield h


def J(h):
    jobspec = from_command(["true"], environment={}, cwd="/")
    return wrap_none(json.dumps(jobspec).encode(), os.getuid())


def refused(call, *args):
    try:
        call(*args)
    except FluxError as exc:
        return exc.errno, str(exc)
    raise AssertionError(f"{args} was accepted")


def submit(h, count=1, urgency=0, flags=4):
    entry = {"J": J(h), "urgency": urgency, "flags": flags}
    if count == 1:
        return [h.rpc("job-ingest.submit", entry)["id"]]
    reply = h.rpc("job-ingest.submit", {"jobs": [entry] * count})
    return [answer["id"] for answer in reply["jobs"]]


def test_submit_single_and_batch(handle):
    [jobid] = submit(handle)
    assert isinstance(jobid, int)
    good = {"J": J(handle), "urgency": 0, "flags": 0}
    reply = handle.rpc("job-ingest.submit", {"jobs": [
        good, dict(good, urgency=32), good]})
    first, bad, last = reply["jobs"]
    assert jobid < first["id"] < last["id"]
    assert bad == {"errnum": 22, "errstr": "urgency range is [0:31]"}
    assert refused(handle.rpc, "job-ingest.submit",
                   dict(good, urgency=-1)) == (22, "urgency range is [0:31]")


def stop_scheduling(h):
    # a scheduler, if one runs, must not take the jobs whose urgency changes
    h.rpc("job-manager.queue-start", {"start": False, "all": False})


def test_urgency_raise_kill(handle):
    stop_scheduling(handle)
    [jobid] = submit(handle)
    assert handle.rpc("job-manager.urgency", {"id": jobid, "urgency": 31}) \
        == {"old_urgency": 0}
    assert handle.rpc("job-manager.urgency", {"id": jobid, "urgency": 0}) \
        == {"old_urgency": 31}
    assert refused(handle.rpc, "job-manager.urgency",
                   {"id": jobid, "urgency": 32}) == (
        22, "urgency value is out of range")
    assert refused(handle.rpc, "job-manager.urgency",
                   {"id": 12345, "urgency": 1}) == (2, "unknown job id")
    assert refused(handle.rpc, "job-manager.raise",
                   {"id": 12345, "severity": 0, "type": "cancel"}) == (
        2, "unknown job id")
    assert refused(handle.rpc, "job-manager.kill",
                   {"id": jobid, "signum": 15}) == (22, "job is not running")


def test_raiseall_wait_purge(handle):
    stop_scheduling(handle)
    ids = submit(handle, 3)
    reply = handle.rpc("job-manager.raiseall", {
        "dry_run": True, "userid": 0xFFFFFFFF, "states": 62, "severity": 0,
        "type": "cancel"})
    assert reply == {"count": 3, "errors": 0}
    assert handle.rpc("job-manager.raise", {
        "id": ids[0], "severity": 0, "type": "cancel", "note": "bye"}) in \
        ({}, None)
    assert handle.rpc("job-manager.raiseall", {
        "dry_run": False, "userid": os.getuid(), "states": 14,
        "severity": 0, "type": "cancel", "note": ""}) == \
        {"count": 2, "errors": 0}
    answers = sorted((handle.rpc("job-manager.wait", {"id": ANY_JOB})
                      for _ in ids), key=lambda a: a["id"])
    assert answers == [
        {"id": ids[0], "success": False,
         "errstr": "Fatal exception type=cancel bye"},
        {"id": ids[1], "success": False,
         "errstr": "Fatal exception type=cancel"},
        {"id": ids[2], "success": False,
         "errstr": "Fatal exception type=cancel"}]
    assert refused(handle.rpc, "job-manager.wait", {"id": ANY_JOB}) == (
        10, "there are no more waitable jobs")
    assert handle.rpc("job-manager.purge", {"force": False}) == \
        {"count": 0, "remaining": 3}
    assert handle.rpc("job-manager.purge", {"force": True, "num_limit": 1}) \
        == {"count": 2, "remaining": 1}
    assert refused(handle.rpc, "job-manager.purge",
                   {"force": True, "jobs": [ids[0]]}) == (
        2, f"{encode(ids[0], 'f58')}: unknown job id")
    [held] = submit(handle, flags=0)
    assert refused(handle.rpc, "job-manager.wait", {"id": held}) == (
        10, "job was not submitted with FLUX_JOB_WAITABLE")
    assert refused(handle.rpc, "job-manager.wait", {"id": ids[0]}) == (
        10, "invalid job id, or job may be inactive and not waitable")
    assert refused(handle.rpc, "job-manager.purge",
                   {"force": True, "jobs": [held]}) == (
        22, f"{encode(held, 'f58')}: job is not inactive")


def test_queue(handle):
    status = handle.rpc("job-manager.queue-status", {})
    assert status["enable"] is True
    assert {"alloc_queued", "alloc_pending", "running"} <= set(status)
    assert handle.rpc("job-manager.queue-list", {}) == {"queues": []}
    handle.rpc("job-manager.queue-enable", {"enable": False, "all": False})
    status = handle.rpc("job-manager.queue-status", {})
    assert (status["enable"], status["disable_reason"]) == (
        False, "disabled by administrator")
    assert refused(handle.rpc, "job-ingest.submit",
                   {"J": J(handle), "urgency": 0, "flags": 0}) == (
        22, "job submission is disabled: disabled by administrator")
    handle.rpc("job-manager.queue-enable", {"enable": True, "all": False})
    handle.rpc("job-manager.queue-start", {"start": False, "all": False,
                                           "reason": "why"})
    status = handle.rpc("job-manager.queue-status", {})
    assert (status["start"], status["stop_reason"]) == (False, "why")
    handle.rpc("job-manager.queue-start", {"start": False, "all": False})
    assert "stop_reason" not in handle.rpc("job-manager.queue-status", {})
    assert refused(handle.rpc, "job-manager.queue-status",
                   {"name": "batch"}) == (22, "'batch' is not a valid queue")
