#!/usr/bin/env python3
"""Benchmark: rank 0's memory with many retained jobs, and what listing
them costs (job-list, ``flux jobs``).

Starts one broker (no scheduler: jobs wait in SCHED), submits N jobs in
batches through ``job-ingest.submit``, then cancels them all
(``job-manager.raiseall``) so that N inactive jobs are retained.  Prints
the broker's resident memory (VmRSS) at start, with N pending jobs and
with N inactive ones, and the time of ``job-list.list`` (the default
``flux jobs`` attributes, 1000 and all jobs), ``job-list.job-stats``,
``job-list.list-id``, and of the ``flux jobs`` command itself.

Usage: ``.venv/bin/python bench/jobs_list.py [--jobs N]``
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from fluxd.cli._jobinfo import fields_to_attrs  # noqa: E402
from fluxd.client.sync import Flux  # noqa: E402
from fluxd.formats.jobspec import from_command  # noqa: E402
from fluxd.security.sign import wrap_none  # noqa: E402
from fluxd.testing.broker import BrokerProcess  # noqa: E402
from fluxd.testing.cli import flux_executable  # noqa: E402

BATCH = 500
DEFAULT_FIELDS = ["id.f58", "queue", "username", "name", "status_abbrev",
                  "ntasks", "nnodes", "contextual_time", "contextual_info"]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def submit_all(h, n):
    spec = from_command(["sleep", "0"])
    spec["attributes"]["system"].pop("environment", None)
    J = wrap_none(json.dumps(spec).encode(), os.getuid())
    ids, tokens = [], []
    for start in range(0, n, BATCH):
        jobs = [{"J": J, "urgency": 16, "flags": 0}
                for _ in range(min(BATCH, n - start))]
        tokens.append(h.send("job-ingest.submit", {"jobs": jobs}))
        if len(tokens) >= 4:
            ids += [j["id"] for j in _json(h.wait(tokens.pop(0)))["jobs"]]
    for token in tokens:
        ids += [j["id"] for j in _json(h.wait(token))["jobs"]]
    return ids


def _json(raw):
    return json.loads(raw) if raw else {}


def timed(fn, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=16000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fluxd-bench-jobs-") as tmp:
        broker = BrokerProcess(tmp)
        broker.start()
        pid = broker.proc.pid
        env = dict(os.environ, FLUX_URI=broker.uri)
        try:
            print(f"rank 0 RSS at start: {rss_mb(pid):.1f} MB")
            with Flux(broker.uri) as h:
                start = time.perf_counter()
                ids = submit_all(h, args.jobs)
                spent = time.perf_counter() - start
                h.rpc("job-list.list-id", {"id": ids[-1], "attrs": [],
                                           "state": 8})
                print(f"submitted {len(ids)} jobs in {spent:.1f} s"
                      f" ({len(ids) / spent:.0f}/s)")
                print(f"rank 0 RSS, {len(ids)} pending: {rss_mb(pid):.1f} MB")
                h.rpc("job-manager.raiseall", {
                    "dry_run": False, "userid": 0xFFFFFFFF, "states": 62,
                    "severity": 0, "type": "cancel", "note": "bench"})
                h.rpc("job-list.list-id", {"id": ids[-1], "attrs": [],
                                           "state": 64})
                while h.rpc("job-list.job-stats", {})["job_states"][
                        "inactive"] < len(ids):
                    h.rpc("job-list.list-id", {"id": ids[-1], "attrs": []})
                print(f"rank 0 RSS, {len(ids)} inactive: {rss_mb(pid):.1f}"
                      " MB")
                attrs = fields_to_attrs(DEFAULT_FIELDS)
                for count, label in ((1000, "1000 jobs"), (0, "all jobs")):
                    payload = {"max_entries": count, "attrs": attrs,
                               "userid": 0xFFFFFFFF, "states": 0,
                               "results": 0, "since": 0.0}
                    t, answer = timed(lambda p=payload: h.rpc(
                        "job-list.list", p))
                    print(f"job-list.list, default attrs, {label}"
                          f" ({len(answer['jobs'])}): {t * 1000:.1f} ms")
                payload = dict(payload, attrs=["all"])
                t, _ = timed(lambda: h.rpc("job-list.list", payload))
                print(f"job-list.list, all attrs, all jobs: {t * 1000:.1f} ms")
                t, _ = timed(lambda: h.rpc("job-list.job-stats", {}))
                print(f"job-list.job-stats: {t * 1000:.1f} ms")
                t, _ = timed(lambda: h.rpc("job-list.list-id",
                                           {"id": ids[0], "attrs": ["all"]}),
                             repeat=50)
                print(f"job-list.list-id: {t * 1000:.2f} ms")
            for argv in (["jobs", "-a"], ["jobs", "-a", "-c", "0", "-n"],
                         ["jobs", "--stats-only"], ["job", "last"]):
                t, p = timed(lambda a=argv: subprocess.run(
                    [flux_executable(), *a], capture_output=True, env=env),
                    repeat=3)
                print(f"flux {' '.join(argv)}: {t * 1000:.0f} ms"
                      f" ({len(p.stdout.splitlines())} lines)")
            print(f"rank 0 RSS at the end: {rss_mb(pid):.1f} MB")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
