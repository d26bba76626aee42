#!/usr/bin/env python3
"""Benchmark: the per-job cost of signing and verifying J.

Through a private munged (its own key and socket, as the tests start
it), for a typical ``flux submit`` jobspec: microseconds per job for

- ``wrap`` with ``none`` and with ``munge`` (one munged round trip),
- ``verify`` of a munge J (one munged round trip, the sha256 and the
  header checks; munged answers REPLAYED from the second time on, which
  is ignored),
- sign + verify, the cost one job adds to ``flux submit`` + job-ingest.

Each figure is the median of ROUNDS rounds of COUNT jobs (the machine
may be shared).  Usage: ``.venv/bin/python bench/sign.py [--count 2000]
[--rounds 5]`` (needs the munge package).
"""

import argparse
import json
import os
import statistics
import time

from fluxd.formats.jobspec import from_command
from fluxd.security.sign import SignConfig, verify, wrap
from fluxd.testing.munged import private_munged


def per_job(fn, count, rounds):
    """Median microseconds per call of ``fn(i)`` over ``rounds``."""
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(count):
            fn(i)
        results.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    payload = json.dumps(from_command(["hostname"])).encode()
    uid = os.getuid()
    with private_munged() as sock:
        munge = SignConfig(1209600, "munge", ("munge", "none"), sock)
        signed = [wrap(payload, uid, munge) for _ in range(args.count)]
        rows = [
            ("wrap none", per_job(lambda i: wrap(payload, uid, munge, "none"),
                                  args.count, args.rounds)),
            ("wrap munge", per_job(lambda i: wrap(payload, uid, munge),
                                   args.count, args.rounds)),
            ("verify munge", per_job(lambda i: verify(signed[i], munge),
                                     args.count, args.rounds)),
            ("wrap + verify munge",
             per_job(lambda i: verify(wrap(payload, uid, munge), munge),
                     args.count, args.rounds)),
        ]
    print(f"jobspec {len(payload)} bytes, {args.count} jobs x"
          f" {args.rounds} rounds (median)")
    for name, micros in rows:
        print(f"{name:22s} {micros:8.1f} us/job  {1e6 / micros:10.0f} jobs/s")


if __name__ == "__main__":
    main()
