#!/usr/bin/env python3
"""Benchmark: the scheduler end to end, through a real 1-broker instance
configured with 10,000 nodes (issue 18).

``flux start --test-size=1 -Sresource.monitor-force-up`` with a
``[[resource.config]]`` of ``--nodes`` nodes of 64 cores (4 GPUs on a
quarter of them; only rank 0 has a broker: ``monitor-force-up`` counts
the others up), ``queue-policy = "easy"`` and each ``--match`` policy in
turn.  Inside, the jobs of the issue's mix (``bench/sched.py``'s seed:
1-64 cores, 2-16 or 17-1,024 whole nodes, their durations as time
limits) are submitted with test execution (``true`` that runs
``--run-duration``, default 0.001s, so reservations made from the limits
are dropped as jobs end early) in batches of ``--batch`` jobs per
``job-ingest.submit``; ``--simple`` submits 1-core jobs instead.

Printed per match policy: jobs acknowledged per second (submit/s), jobs
per second end to end (N / (last ``clean`` - first submit)) and rank 0's
RSS once every job is inactive.  The KVS stays in memory (no statedir):
this measures the scheduler and the job pipeline, not the disk.

Measured (2-core machine, load about 1): 10,000 nodes, 2,000 jobs of the
mix: first 267 jobs/s, lonodex 257 jobs/s (submit 334-376/s, rank 0 RSS
99 MiB); 4,000 1-core jobs (``--simple``): 1,107 jobs/s (submit
1,153/s).

2026-12-03, idle machine, after the policy's hot-path pass, the KVS's
incremental directory encoding and the broker's collector settings:
first 532 jobs/s, lonodex 545 (submit 695-701/s, rank 0 RSS 120 MiB);
``--simple -N 4000``: 1,311 jobs/s (submit 1,365/s, 102 MiB).

Usage: ``.venv/bin/python bench/sched_e2e.py [-N 2000] [--nodes 10000]
[--match first,lonodex] [--simple]``
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import tomli_w  # noqa: E402

from fluxd.security.sign import wrap_none  # noqa: E402
from fluxd.testing.schedbench import (  # noqa: E402
    config_entries, jobspec, submit_and_wait, workload)


def rss_mib(pid):
    """A process's VmRSS in MiB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f
                    if line.startswith("VmRSS:"))


def specs(count, duration, simple):
    """The signed jobs to submit, as ``job-ingest.submit`` entries."""
    jobs = [(1, 0, 0, 0.0)] * count if simple else workload(count)
    out = []
    for cores, gpus, nnodes, limit in jobs:
        spec = jobspec(cores, gpus, nnodes, limit)
        spec["attributes"]["system"].setdefault("exec", {})["test"] = {
            "run_duration": duration}
        signed = wrap_none(json.dumps(spec).encode(), os.getuid())
        out.append({"J": signed, "urgency": 16, "flags": 0})
    return out


def inner(count, batch, duration, simple):
    """Measure in the enclosing instance (FLUX_URI)."""
    start, submitted, end, pid = submit_and_wait(
        specs(count, duration, simple), batch)
    return {"submit_rate": count / (submitted - start),
            "rate": count / (end - start), "rss": rss_mib(pid)}


def config(nodes, match):
    """The instance's config (one TOML file's text)."""
    return tomli_w.dumps({
        "resource": {"noverify": True, "config": config_entries(nodes)},
        "sched-fluxion-qmanager": {"queue-policy": "easy"},
        "sched-fluxion-resource": {"match-policy": match}})


def outer(args):
    flux = os.path.join(os.path.dirname(sys.executable), "flux")
    kind = "1-core jobs" if args.simple else "jobs of the issue's mix"
    print(f"sched end to end: 1 broker, {args.nodes} nodes configured"
          f" (monitor-force-up), easy, {args.count} {kind}, test execution"
          f" ({args.duration}), KVS in memory")
    print(f"{'match':>10} {'submit/s':>9} {'jobs/s':>8} {'rank0 RSS MiB':>14}")
    for match in args.match.split(","):
        with tempfile.TemporaryDirectory(prefix="fluxd-sched-e2e-") as tmp:
            conf = os.path.join(tmp, "conf.d")
            os.mkdir(conf)
            with open(os.path.join(conf, "sched.toml"), "w") as f:
                f.write(config(args.nodes, match))
            proc = subprocess.run(
                [flux, "start", "--test-size=1", "--test-hosts=node0",
                 "-Sresource.monitor-force-up", f"--config-path={conf}",
                 sys.executable, os.path.abspath(__file__), "--inner",
                 "-N", str(args.count), "--batch", str(args.batch),
                 "--duration", args.duration,
                 *(["--simple"] if args.simple else [])],
                capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0:
            print(f"{match}: failed:\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{match:>10} {r['submit_rate']:>9.0f} {r['rate']:>8.0f}"
              f" {r['rss']:>14.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-N", "--count", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--match", default="first,lonodex")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--duration", default="0.001s")
    parser.add_argument("--simple", action="store_true",
                        help="1-core jobs instead of the issue's mix")
    parser.add_argument("--inner", action="store_true")
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner(args.count, args.batch, args.duration,
                               args.simple)))
    else:
        outer(args)


if __name__ == "__main__":
    main()
