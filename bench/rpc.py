#!/usr/bin/env python3
"""Benchmark: no-op RPC round trips against a real broker, and CLI latency.

Starts one ``twistd -n fluxd`` broker in a temp dir, then measures from a
client process (the stdlib client, as the ``flux`` command uses):

- sequential round trips per second of ``broker.ping``;
- round trips per second with 100 requests in flight;
- wall time of ``flux getattr rank`` (median of repeated runs).

Usage: ``.venv/bin/python bench/rpc.py [--seconds N] [--runs N]``
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from fluxd.client.sync import Flux  # noqa: E402
from fluxd.testing.broker import BrokerProcess  # noqa: E402
from fluxd.testing.cli import flux_executable  # noqa: E402


def sequential(uri, seconds):
    with Flux(uri) as h:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            h.rpc_raw("broker.ping", b"{}")
            n += 1
        return n / (time.perf_counter() - start)


def pipelined(uri, seconds, depth=100):
    with Flux(uri) as h:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            tokens = [h.send("broker.ping", b"{}") for _ in range(depth)]
            for token in tokens:
                h.wait(token)
            n += depth
        return n / (time.perf_counter() - start)


def cli_wall(uri, runs):
    env = dict(os.environ, FLUX_URI=uri)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([flux_executable(), "getattr", "rank"], env=env,
                       check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def python_floor(runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = BrokerProcess(tmp).start()
        try:
            seq = sequential(broker.uri, args.seconds)
            pipe = pipelined(broker.uri, args.seconds)
            median, best = cli_wall(broker.uri, args.runs)
            floor = python_floor(args.runs)
        finally:
            broker.stop()
    print(f"sequential no-op RPC:     {seq:10.0f} RPC/s")
    print(f"100 in flight no-op RPC:  {pipe:10.0f} RPC/s")
    print(f"flux getattr rank wall:   {median * 1000:10.1f} ms median"
          f" ({best * 1000:.1f} ms best)")
    print(f"python -c pass wall:      {floor * 1000:10.1f} ms median")


if __name__ == "__main__":
    main()
