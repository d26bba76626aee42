#!/usr/bin/env python3
"""Benchmark: instance start-up and tear-down, broker memory, deep ping.

- seconds from ``flux start --test-size=N true`` to exit, for N in SIZES;
- peak resident memory per broker (VmHWM) and its proportional share
  (Pss: brokers are forked from one pre-imported process and share pages)
  for a running instance of the largest N;
- ``flux ping`` round trip to a rank 4 hops below rank 0 (kary:2, N >= 31).

Usage: ``.venv/bin/python bench/startup.py [--sizes 1,4,16,64] [--runs 1]``
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

BIN = os.path.dirname(sys.executable)
FLUX = os.path.join(BIN, "flux")


def start_to_exit(n, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([FLUX, "start", f"--test-size={n}", "true"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


PROBE = textwrap.dedent("""
    import json, os, subprocess, sys
    d = os.environ["FLUXD_START_DIR"]
    brokers = json.load(open(os.path.join(d, "brokers.json")))
    hwm, pss = [], []
    for b in brokers:
        for line in open(f"/proc/{b['pid']}/status"):
            if line.startswith("VmHWM:"):
                hwm.append(int(line.split()[1]) / 1024)
        for line in open(f"/proc/{b['pid']}/smaps_rollup"):
            if line.startswith("Pss:"):
                pss.append(int(line.split()[1]) / 1024)
    flux = os.path.join(os.path.dirname(sys.executable), "flux")
    out = subprocess.run([flux, "ping", "-c", "50", "-i", "0", "15"],
                         capture_output=True, text=True, check=True).stdout
    last = out.strip().splitlines()[-1]
    ms = float(last.split("time=")[1].split()[0])
    print(json.dumps({"hwm": hwm, "pss": pss, "ping15": ms}))
""")


def probe(n):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(PROBE)
    try:
        out = subprocess.run([FLUX, "start", f"--test-size={n}",
                              "-o,-Stbon.topo=kary:2", sys.executable, f.name],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,16,64")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        print(f"flux start --test-size={n:<3} true:  {start_to_exit(n, args.runs):6.2f} s",
              flush=True)
    n = max(max(sizes), 31)
    result = probe(n)
    hwm = result["hwm"]
    print(f"peak RSS per broker (N={n}):      {statistics.mean(hwm):6.1f} MiB mean,"
          f" {max(hwm):.1f} MiB max (counts pages shared with the other brokers)")
    pss = result["pss"]
    print(f"proportional set size per broker: {statistics.mean(pss):6.1f} MiB mean"
          " (shared pages divided among the brokers sharing them)")
    print(f"flux ping to rank 15 (4 hops, kary:2): {result['ping15']:6.3f} ms mean")


if __name__ == "__main__":
    main()
