#!/usr/bin/env python3
"""Benchmark: how fast the ``flux`` command starts, and ``flux start``.

1. Wall time of ``flux getattr rank`` against a real broker, beside
   ``python3 -c pass`` (the same interpreter) measured in the same loop,
   run for run alternately, so that both see the same machine load.  The
   aim: getattr within 2x of the bare interpreter.
2. ``flux start --test-size=4 true`` run N times in a row (default 200):
   median, 90th percentile and maximum wall time, and how many runs took
   more than 3x the median (the aim: none; a port race once made one run
   in 14 wait 60 s).

Commands run as on a user's machine, with bytecode caches: an inherited
``PYTHONDONTWRITEBYTECODE`` is dropped for them (with it, every run would
compile fluxd's modules from source again).

Usage: ``.venv/bin/python bench/cli.py [--runs N] [--starts N]``
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from fluxd.testing.broker import BrokerProcess  # noqa: E402
from fluxd.testing.cli import flux_executable  # noqa: E402


#: the environment of every measured command (bytecode caches allowed)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(argv, env=ENV):
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def getattr_beside_python(runs):
    """``(getattr times, python -c pass times)``, interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        broker = BrokerProcess(tmp).start()
        try:
            env = dict(ENV, FLUX_URI=broker.uri)
            getattr_argv = [flux_executable(), "getattr", "rank"]
            python_argv = [sys.executable, "-c", "pass"]
            for _ in range(3):  # warm the page cache
                wall(getattr_argv, env)
                wall(python_argv)
            flux, python = [], []
            for _ in range(runs):
                flux.append(wall(getattr_argv, env))
                python.append(wall(python_argv))
        finally:
            broker.stop()
    return flux, python


def starts(count):
    """Wall times of ``count`` consecutive ``flux start --test-size=4``."""
    times = []
    for i in range(count):
        start = time.perf_counter()
        proc = subprocess.run([flux_executable(), "start", "--test-size=4",
                               "true"], capture_output=True, text=True,
                              env=ENV, timeout=300)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"run {i}: flux start failed:"
                             f" {proc.stderr.strip()}")
    return times


def ms(seconds):
    return f"{seconds * 1000:7.1f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50,
                        help="getattr/python pairs (default 50)")
    parser.add_argument("--starts", type=int, default=200,
                        help="consecutive flux start runs (default 200)")
    args = parser.parse_args()

    flux, python = getattr_beside_python(args.runs)
    fmed, pmed = statistics.median(flux), statistics.median(python)
    print(f"flux getattr rank:     median {ms(fmed)}  min {ms(min(flux))}")
    print(f"python3 -c pass:       median {ms(pmed)}  min {ms(min(python))}")
    print(f"ratio (median, min):   {fmed / pmed:5.2f}x   "
          f"{min(flux) / min(python):5.2f}x   (aim: within 2x)")
    sys.stdout.flush()

    if args.starts:
        times = starts(args.starts)
        med = statistics.median(times)
        p90 = sorted(times)[int(len(times) * 0.9) - 1]
        slow = [t for t in times if t > 3 * med]
        print(f"flux start --test-size=4 true x{len(times)}: median"
              f" {med:.2f} s  p90 {p90:.2f} s  max {max(times):.2f} s"
              f"  min {min(times):.2f} s")
        print(f"  runs over 3x the median: {len(slow)}"
              f" (max/median {max(times) / med:.2f}x)")


if __name__ == "__main__":
    main()
