"""The README's main job runs and shows a live multi-broker instance."""

import os
import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs():
    proc = subprocess.run([sys.executable, "-m", "fluxd.demo"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "$ flux getattr size\n4\n" in out
    assert "\n└─ 3 " in out and ": full\n" in out
    assert "3!broker.ping pad=0 seq=2" in out
    assert "Module                    Idle  S Sendq Recvq Service" in out
    assert "rank[0-14]/core[0-7],gpu0 rank15/core[0-63],gpu[0-1]" in out
    # every broker describes its own node (no [resource] configuration)
    cores = 4 * len(os.sched_getaffinity(0))
    assert re.search(r"\$ flux resource list\n"
                     r" +STATE NNODES NCORES NGPUS NODELIST\n"
                     rf" +free +4 +{cores} +\d+ \S+\n", out), out
    assert re.search(r"\$ flux resource status\n +STATE UP NNODES NODELIST\n"
                     r" +avail +✔ +4 \S+\n", out), out
    # real jobs through ingest, job manager, scheduler and test execution
    jobs = out.split("$ flux jobs -a\n", 1)[1].split("$ ", 1)[0]
    rows = [line.split() for line in jobs.splitlines()[1:]]
    assert jobs.splitlines()[0].split() == [
        "JOBID", "USER", "NAME", "ST", "NTASKS", "NNODES", "TIME", "INFO"]
    assert [(r[2], r[3]) for r in rows] == [
        ("running", "CA"), ("too-long", "TO"), ("fails", "F"),
        ("two-nodes", "CD")] + [("true", "CD")] * 6 + [
        ("hostnames", "CD")], jobs
    # the real job: a shell on each of two nodes, output labelled by task
    real = out.split("--job-name=hostnames", 1)[1].split("$ ", 1)[0]
    assert sorted(line.split(": ", 1)[0] for line in
                  real.splitlines()[1:]) == ["0", "1"], real
    assert re.search(r"^1: \S+ task 1 of 2$", real, re.M), real
    assert re.search(r" allocated +1 +\d+ +\d+ \S+\n", out), out
    assert "Traceback" not in out
