#!/usr/bin/env python3
"""Benchmark: the per-job cost of signing and verifying J.

Through a private munged (its own key and socket, as the tests start
it), for a typical ``flux submit`` jobspec: microseconds per job for

- ``wrap`` with ``none`` and with ``munge`` (one munged round trip),
- ``verify`` of a munge J (one munged round trip, the sha256 and the
  header checks; munged answers REPLAYED from the second time on, which
  is ignored),
- sign + verify, the cost one job adds to ``flux submit`` + job-ingest;
- end to end, on one real broker whose ingest verifies munge: the wall
  time of ``flux submit --cc=1-SUBMIT --urgency=hold true`` signed with
  ``none`` and with ``munge`` (alternating), in jobs per second.

Each figure is the median of ROUNDS rounds (the machine may be shared).
Usage: ``.venv/bin/python bench/sign.py [--count 2000] [--rounds 5]
[--submit 2000]`` (needs the munge package; ``--submit 0`` skips the
broker).
"""

import argparse
import json
import os
import statistics
import tempfile
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


def submit_rates(sock, count, rounds):
    """``flux submit --cc`` on one broker, none vs munge: us per job."""
    from fluxd.testing.broker import BrokerProcess
    with tempfile.TemporaryDirectory(prefix="fluxd-bench-sign-") as top:
        confdirs = {}
        for mech in ("none", "munge"):
            path = confdirs[mech] = os.path.join(top, mech)
            os.mkdir(path)
            with open(os.path.join(path, "sign.toml"), "w") as f:
                f.write(f'[sign]\nmax-ttl = 1209600\ndefault-type = "{mech}"\n'
                        'allowed-types = ["munge", "none"]\n[sign.munge]\n'
                        f'socket-path = "{sock}"\n')
        broker = BrokerProcess(
            os.path.join(top, "b"),
            env=dict(os.environ, FLUXD_SECURITY_CONF_DIR=confdirs["munge"]))
        os.mkdir(broker.workdir)
        broker.start()
        try:
            times = {"none": [], "munge": []}
            for _ in range(rounds):
                for mech in ("none", "munge"):
                    env = dict(broker.env,
                               FLUXD_SECURITY_CONF_DIR=confdirs[mech])
                    start = time.perf_counter()
                    result = broker.flux("submit", f"--cc=1-{count}",
                                         "--urgency=hold", "true", env=env,
                                         timeout=600)
                    times[mech].append(time.perf_counter() - start)
                    if result.rc != 0:
                        raise SystemExit(f"submit failed: {result.err}")
        finally:
            broker.stop()
    return [(f"flux submit --cc {mech}",
             statistics.median(times[mech]) / count * 1e6)
            for mech in ("none", "munge")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--submit", type=int, default=2000)
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
        if args.submit:
            rows += submit_rates(sock, args.submit, args.rounds)
    print(f"jobspec {len(payload)} bytes, {args.count} jobs x"
          f" {args.rounds} rounds (median)")
    for name, micros in rows:
        print(f"{name:22s} {micros:8.1f} us/job  {1e6 / micros:10.0f} jobs/s")


if __name__ == "__main__":
    main()
