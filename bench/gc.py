#!/usr/bin/env python3
"""Benchmark: KVS garbage collection by dump and restore (issue 8).

Starts one ``twistd -n fluxd`` broker with ``content.restore=auto`` in a
temp statedir, writes N keys of 1 KiB of random bytes (incompressible)
in job-like directories (under ``gcbench``: the job manager owns
``job``), unlinks a fraction of them (as job purging
does), then runs ``flux shutdown --gc`` and starts the broker again.
Prints the size of ``content.sqlite`` before and after, the size of the
dump, the time of the stop (including the dump) and of the start
(including the restore), and ``flux dump``/``flux restore --key``
throughput against the running broker.

Usage: ``.venv/bin/python bench/gc.py [--keys N] [--purge FRACTION]``
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from fluxd.client.sync import Flux  # noqa: E402
from fluxd.storage import treeobj as T  # noqa: E402
from fluxd.testing.broker import BrokerProcess  # noqa: E402

BATCH = 1000


def write_keys(h, n):
    """N keys in directories of BATCH keys, many commits in flight."""
    tokens = []
    for i in range(n):
        op = {"key": f"gcbench.d{i // BATCH}.k{i % BATCH}", "flags": 0,
              "dirent": T.create_val(os.urandom(1024))}
        tokens.append(h.send("kvs.commit", {"namespace": "primary", "flags": 0,
                                            "ops": [op]}))
        if len(tokens) >= 256:
            h.wait(tokens.pop(0))
    for token in tokens:
        h.wait(token)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=20000)
    parser.add_argument("--purge", type=float, default=0.75)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fluxd-bench-gc-") as tmp:
        state = os.path.join(tmp, "state")
        db = os.path.join(state, "content.sqlite")
        broker = BrokerProcess(tmp, attrs={"statedir": state,
                                           "content.restore": "auto"})
        broker.start()
        try:
            with Flux(broker.uri) as h:
                start = time.perf_counter()
                write_keys(h, args.keys)
                spent = time.perf_counter() - start
                dirs = (args.keys + BATCH - 1) // BATCH
                purged = int(dirs * args.purge)
                h.rpc("kvs.commit", {"namespace": "primary", "flags": 0, "ops": [
                    {"key": f"gcbench.d{d}", "flags": 0, "dirent": None}
                    for d in range(purged)]})
                version = h.rpc("kvs.getroot", {"namespace": "primary"})["rootseq"]
            print(f"wrote {args.keys} keys of 1 KiB in {spent:.2f}s;"
                  f" unlinked {purged} of {dirs} directories;"
                  f" KVS version {version}")
            dump = os.path.join(tmp, "online.tgz")
            start = time.perf_counter()
            broker.flux("dump", "-q", dump)
            spent = time.perf_counter() - start
            keys = args.keys - purged * BATCH
            print(f"flux dump (online): {keys} keys in {spent:.2f}s"
                  f" ({keys / spent:.0f} keys/s), {os.path.getsize(dump)} bytes")
            start = time.perf_counter()
            broker.flux("restore", "-q", "--key=copy", dump)
            spent = time.perf_counter() - start
            print(f"flux restore --key: {keys} keys in {spent:.2f}s"
                  f" ({keys / spent:.0f} keys/s)")
            broker.flux("kvs", "unlink", "-R", "copy")
            start = time.perf_counter()
            broker.flux("shutdown", "--gc", "--quiet")
            broker.wait(600)
            stop = time.perf_counter() - start
            before = os.path.getsize(db)
            start = time.perf_counter()
            broker.start(timeout=600)
            started = time.perf_counter() - start
            after = os.path.getsize(db)
            print(f"content.sqlite before gc: {before} bytes; after: {after}"
                  f" bytes ({after / before:.0%})")
            print(f"flux shutdown --gc (with the dump): {stop:.2f}s;"
                  f" start with the restore: {started:.2f}s")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
