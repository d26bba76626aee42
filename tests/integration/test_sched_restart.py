"""A rank 0 restart with running jobs on a real 4-broker instance (issue
18's recovery): the scheduler's ``hello`` reclaims what every running job
holds, so the running jobs keep their R and new jobs get only the free
cores and nodes; nothing is allocated twice."""

import json
import shutil

import pytest

from tests.integration.admin_helpers import make_instance  # noqa: F401

pytestmark = pytest.mark.slow

RESOURCES = """\
[resource]
noverify = true

[[resource.config]]
hosts = "n[0-3]"
cores = "0-3"
"""


def _wait_for(flag):
    return ["sh", "-c", f"while [ ! -e {flag} ]; do sleep 0.1; done"]


def _submit(flux, *args):
    result = flux("submit", *args)
    assert result.rc == 0, result.err
    return result.out.strip()


def _R_lite(broker, jobid):
    R = json.loads(broker.flux("job", "info", jobid, "R").out)
    return [(e["rank"], e["children"]["core"])
            for e in R["execution"]["R_lite"]]


def test_running_jobs_keep_their_resources_across_a_rank0_restart(
        make_instance, tmp_path):
    inst = make_instance(4, files={"resource.toml": RESOURCES})
    state = tmp_path / "state0"
    state.mkdir()
    inst[0].attrs["statedir"] = str(state)
    flag = tmp_path / "go-on"
    try:
        inst.start()
        flux = inst[0].flux
        # first (highest ranks first, highest ids in a rank first): A
        # takes ranks 2-3 whole, B rank 1's core 3
        a = _submit(flux, "-N2", "--exclusive", *_wait_for(flag))
        b = _submit(flux, "-n1", *_wait_for(flag))
        for jobid in (a, b):
            flux("job", "wait-event", "-t", "60", "-p", "exec", jobid,
                 "shell.start")
        before = {jobid: _R_lite(inst[0], jobid) for jobid in (a, b)}
        assert before == {a: [("2-3", "0-3")], b: [("1", "3")]}

        inst[0].kill()
        inst.start([0])
        for jobid in (a, b):
            flux("job", "wait-event", "-t", "60", "-p", "exec", jobid,
                 "reattach-finish")
        # the running jobs kept their R, and the scheduler holds it
        assert {jobid: _R_lite(inst[0], jobid) for jobid in (a, b)} == before
        rows = flux("resource", "list", "-no",
                    "{state} {nnodes} {ncores}").out.split("\n")
        assert rows[:2] == ["free 2 7", "allocated 3 9"], rows
        # safe mode after the kill: the admin lets jobs in again
        for action in ("enable", "start"):
            result = flux("queue", action)
            assert result.rc == 0, result.err
        # new jobs get only what is free: the idle node, then the three
        # cores B left on rank 1; one more core has to wait
        c, d, e = (_submit(flux, *args) for args in (
            ("-N1", "--exclusive", *_wait_for(flag)),
            ("-n3", *_wait_for(flag)), ("-n1", "true")))
        for jobid in (c, d):
            result = flux("job", "wait-event", "-t", "60", jobid, "start")
            assert result.rc == 0, (jobid, result.err, flux(
                "jobs", "-a", "-o", "{id} {status} {nodelist}").out)
        assert _R_lite(inst[0], c) == [("0", "0-3")]
        assert _R_lite(inst[0], d) == [("1", "0-2")]
        status = flux("jobs", "-no", "{status}", e).out.strip()
        assert status == "SCHED", status
        # once the others end, the waiting job runs
        flag.write_text("")
        for jobid in (a, b, c, d, e):
            result = flux("job", "wait-event", "-t", "60", jobid, "clean")
            assert result.rc == 0, result.err
        assert flux("jobs", "-no", "{result}", a, b, c, d, e).out.split() \
            == ["COMPLETED"] * 5
    finally:
        inst.stop()
        for broker in inst.brokers:
            shutil.rmtree(broker.attrs["rundir"], ignore_errors=True)
