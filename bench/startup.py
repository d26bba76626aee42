#!/usr/bin/env python3
"""Benchmark: instance start-up and tear-down, broker memory, overlay hops.

- seconds from ``flux start --test-size=N true`` to exit, for N in SIZES;
- peak resident memory per broker (VmHWM) and its proportional share
  (Pss: brokers are forked from one pre-imported process and share pages)
  for a running instance of the largest N;
- the cost of one overlay hop, on ``flux start --test-size=16
  -o,-Stbon.topo=kary:2``: sequential ``flux ping`` to rank 0 and to rank
  15, four hops below it (15 -> 7 -> 3 -> 1 -> 0); per hop = (deep -
  rank 0) / 4.  Both pings alternate ROUNDS times (the median is
  printed: the machine may be shared).  Also the CPU time (user + system,
  from /proc) that the brokers on the path spend per deep ping: ranks 1,
  3 and 7 each forward the request and its response.

Usage: ``.venv/bin/python bench/startup.py [--sizes 1,4,16,64] [--runs 1]
[--count 500] [--rounds 5]`` (``--sizes ''`` measures the hops only)
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
#: ranks on the path from rank 0 down to rank 15 in a kary:2 tree
PATH_RANKS = (0, 1, 3, 7, 15)
HOPS = len(PATH_RANKS) - 1


def start_to_exit(n, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([FLUX, "start", f"--test-size={n}", "true"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


MEMORY_PROBE = textwrap.dedent("""
    import json, os
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
    print(json.dumps({"hwm": hwm, "pss": pss}))
""")

PING_PROBE = textwrap.dedent("""
    import json, os, subprocess, sys
    d = os.environ["FLUXD_START_DIR"]
    count, rounds = int(sys.argv[1]), int(sys.argv[2])
    path = [int(r) for r in sys.argv[3].split(",")]
    pids = {b["rank"]: b["pid"]
            for b in json.load(open(os.path.join(d, "brokers.json")))}
    flux = os.path.join(os.path.dirname(sys.executable), "flux")
    tick = os.sysconf("SC_CLK_TCK")

    def cpu(rank):
        fields = open(f"/proc/{pids[rank]}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    def ping(rank):
        out = subprocess.run([flux, "ping", "-c", str(count), "-i", "0",
                              str(rank)], capture_output=True, text=True,
                             check=True).stdout
        return float(out.strip().splitlines()[-1].split("time=")[1].split()[0])

    ping(path[-1])   # warm up every link
    result = {"rank0": [], "deep": [], "cpu": {r: [] for r in path}}
    for _ in range(rounds):
        result["rank0"].append(ping(0))
        before = {r: cpu(r) for r in path}
        result["deep"].append(ping(path[-1]))
        for r in path:
            result["cpu"][r].append((cpu(r) - before[r]) / count * 1e6)
    print(json.dumps(result))
""")


def _probe(n, script, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run([FLUX, "start", f"--test-size={n}",
                              "-o,-Stbon.topo=kary:2", sys.executable, f.name,
                              *args],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    return json.loads(out.strip().splitlines()[-1])


def memory(n):
    result = _probe(n, MEMORY_PROBE)
    hwm = result["hwm"]
    print(f"peak RSS per broker (N={n}):      {statistics.mean(hwm):6.1f} MiB mean,"
          f" {max(hwm):.1f} MiB max (counts pages shared with the other brokers)")
    pss = result["pss"]
    print(f"proportional set size per broker: {statistics.mean(pss):6.1f} MiB mean"
          " (shared pages divided among the brokers sharing them)", flush=True)


def hops(count, rounds):
    result = _probe(16, PING_PROBE, str(count), str(rounds),
                    ",".join(map(str, PATH_RANKS)))
    rank0 = statistics.median(result["rank0"])
    deep = statistics.median(result["deep"])
    print(f"flux ping rank 0 (N=16, kary:2):        {rank0:6.3f} ms median of"
          f" {rounds} x {count} (runs: "
          + " ".join(f"{x:.3f}" for x in result["rank0"]) + ")")
    print(f"flux ping rank {PATH_RANKS[-1]} ({HOPS} hops down):       {deep:6.3f} ms"
          " (runs: " + " ".join(f"{x:.3f}" for x in result["deep"]) + ")")
    best = min(d - r for d, r in zip(result["deep"], result["rank0"]))
    print(f"per overlay hop (deep - rank 0) / {HOPS}:  {(deep - rank0) / HOPS:6.3f} ms"
          f" (medians; best round {best / HOPS:.3f} ms)")
    cpu = {int(r): statistics.median(v) for r, v in result["cpu"].items()}
    print("CPU per deep ping (user+sys, us):      "
          + "  ".join(f"rank {r}: {cpu[r]:.0f}" for r in PATH_RANKS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,16,64")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--count", type=int, default=500,
                        help="pings per measurement")
    parser.add_argument("--rounds", type=int, default=5,
                        help="measurements of each ping (median printed)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    for n in sizes:
        print(f"flux start --test-size={n:<3} true:  {start_to_exit(n, args.runs):6.2f} s",
              flush=True)
    if sizes:
        memory(max(sizes))
    hops(args.count, args.rounds)


if __name__ == "__main__":
    main()
