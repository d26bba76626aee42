#!/usr/bin/env python3
"""Benchmark: from ``flux batch`` to the nested instance's first job.

Inside ``flux start --test-size=2`` (real brokers, real job shells), for
``-N1`` and ``-N2`` batch jobs whose script runs ``flux run true``:

- ``batch->first job``: wall time from just before ``flux batch`` starts
  to the inner first job's ``start`` event (its ``t_run``), the figure
  the issue asks for;
- ``batch->outer start``: to the outer job's own ``start`` (the
  submission, scheduling and the job shells);
- the rest (outer start -> inner first job) is the nested instance's
  bootstrap: PMI exchange, certificates, the inner brokers' start-up and
  the first inner job's scheduling and shell.

Each figure is the median of RUNS runs (the machine may be shared).

Usage: ``.venv/bin/python bench/nested.py [--runs 5]``
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

BIN = os.path.dirname(sys.executable)
FLUX = os.path.join(BIN, "flux")

INSIDE = textwrap.dedent("""
    import json, os, subprocess, sys, time
    flux = sys.argv[1]
    nodes, runs = sys.argv[2], int(sys.argv[3])
    out = []
    for _ in range(runs):
        t0 = time.time()
        jobid = subprocess.run([flux, "batch", f"-N{nodes}", "script.sh"],
                               capture_output=True, text=True,
                               check=True).stdout.strip()
        subprocess.run([flux, "job", "wait-event", jobid, "clean"],
                       capture_output=True, check=True)
        outer = json.loads(subprocess.run(
            [flux, "jobs", "-n", "-o", "{t_run}", jobid],
            capture_output=True, text=True, check=True).stdout)
        with open(f"flux-{jobid}.out") as f:
            inner = float(f.read().split()[-1])
        out.append([outer - t0, inner - t0])
    print(json.dumps(out))
""")

SCRIPT = """#!/bin/sh
flux run true
flux jobs -a -n -o "{t_run}"
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "inside.py"), "w") as f:
            f.write(INSIDE)
        with open(os.path.join(tmp, "script.sh"), "w") as f:
            f.write(SCRIPT)
        env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])
        env.pop("FLUX_URI", None)
        print(f"{'batch':>8} {'batch->outer start':>20}"
              f" {'batch->first job':>18} {'bootstrap':>10}  (median of"
              f" {args.runs}, seconds)")
        for nodes in (1, 2):
            proc = subprocess.run(
                [FLUX, "start", "--test-size=2", sys.executable,
                 "inside.py", FLUX, str(nodes), str(args.runs)],
                capture_output=True, text=True, cwd=tmp, env=env,
                timeout=600)
            if proc.returncode != 0:
                sys.exit(proc.stderr)
            rows = json.loads(proc.stdout)
            outer = statistics.median(r[0] for r in rows)
            inner = statistics.median(r[1] for r in rows)
            print(f"{'-N' + str(nodes):>8} {outer:>20.3f} {inner:>18.3f}"
                  f" {inner - outer:>10.3f}")


if __name__ == "__main__":
    main()
