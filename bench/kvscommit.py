#!/usr/bin/env python3
"""Benchmark: CPU of rank 0's KVS commit path per job, in process.

Drives a :class:`~fluxd.testing.kvs.KVSBroker` (no sockets, no reactor)
with job-shaped commit batches as :mod:`fluxd.job.kvsbatch` sends them:
each batch advances four jobs by one phase each (submit: J, jobspec and
the first eventlog lines; alloc: R, the guest namespace created, its
exec eventlog; start: output and exec eventlog; finish: the last lines,
the guest namespace copied into ``job.<id>.guest`` and removed), so
about one commit per job and twenty operations, under ``job.<dothex>``
directories growing to ``--jobs`` jobs (ids made as if submitted at
``--rate`` jobs/s).  ``--sqlite`` stores into a
``content.sqlite`` in a temp dir (inline, ``synchronous=OFF``: the
fsync is not rank 0's CPU) instead of memory.  Prints µs of CPU per job
for each quarter of the run; ``--profile`` prints the top of a cProfile.
``--r-group K`` writes R alone instead, one commit a job, as the
scheduler does, K commits queued while the previous batch is written.

Usage: ``.venv/bin/python bench/kvscommit.py [--jobs N] [--rate R] [--sqlite]
[--profile]``
"""

import argparse
import cProfile
import json
import os
import pstats
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from fluxd.formats import fluid  # noqa: E402
from fluxd.kvs import _sqlite  # noqa: E402
from fluxd.kvs.content import SqliteContentStore  # noqa: E402
from fluxd.storage import treeobj as T  # noqa: E402
from fluxd.storage.txn import APPEND  # noqa: E402
from fluxd.testing.kvs import GatedStore, KVSBroker  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402


class _Reactor(Clock):
    def callFromThread(self, fn, *args):
        fn(*args)


def put(key, value):
    return {"key": key, "flags": 0, "dirent": T.create_val(value)}


def append(key, value):
    return {"key": key, "flags": APPEND, "dirent": T.create_val(value)}


def ev(name, **ctx):
    entry = {"timestamp": time.time(), "name": name}
    if ctx:
        entry["context"] = ctx
    return json.dumps(entry, separators=(",", ":")) + "\n"


J = "x" * 1500
JOBSPEC = json.dumps({"version": 1, "resources": [{"type": "slot", "count": 1,
                      "with": [{"type": "core", "count": 1}], "label": "task"}],
                      "tasks": [{"command": ["true"], "slot": "task",
                                 "count": {"per_slot": 1}}],
                      "attributes": {"system": {"cwd": "/home/u"}}})
R = json.dumps({"version": 1, "execution": {"R_lite": [
    {"rank": "0", "children": {"core": "0"}}], "starttime": 1.7e9,
    "expiration": 1.7e9 + 3600, "nodelist": ["node0"]}})


def phase(n, jobid):
    key = "job." + fluid.encode(jobid, "dothex")
    guest = f"job-{jobid}"
    if n == 0:
        return [{"op": "commit", "namespace": "primary", "ops": [
            put(f"{key}.J", J), put(f"{key}.jobspec", JOBSPEC),
            append(f"{key}.eventlog", ev("submit", userid=1000, urgency=16)
                   + ev("validate") + ev("depend") + ev("priority", priority=16))]}]
    if n == 1:
        return [{"op": "commit", "namespace": "primary", "ops": [
            put(f"{key}.R", R), append(f"{key}.eventlog", ev("alloc"))]},
            {"op": "create", "namespace": guest, "owner": 1000},
            {"op": "commit", "namespace": guest, "ops": [
                append("exec.eventlog", ev("init") + ev("starting"))]}]
    if n == 2:
        return [{"op": "commit", "namespace": "primary", "ops": [
            append(f"{key}.eventlog", ev("start"))]},
            {"op": "commit", "namespace": guest, "ops": [
                append("exec.eventlog", ev("shell.init") + ev("shell.start")),
                put("output", ev("header") + ev("data", stream="stdout")),
                put("exec.ack.0", "1")]}]
    return [{"op": "commit", "namespace": guest, "ops": [
        append("exec.eventlog", ev("complete", status=0) + ev("done"))]},
        {"op": "copy", "from": guest, "namespace": "primary",
         "key": f"{key}.guest"},
        {"op": "remove", "namespace": guest},
        {"op": "commit", "namespace": "primary", "ops": [
            append(f"{key}.eventlog", ev("finish", status=0)
                   + ev("release", ranks="all", final=True) + ev("free")
                   + ev("clean"))]}]


def run(args):
    tmp = tempfile.mkdtemp(prefix="kvscommit-")
    try:
        store = None
        if args.sqlite:
            store = SqliteContentStore(_Reactor(), os.path.join(
                tmp, "content.sqlite"), synchronous="OFF",
                worker=_sqlite.InlineWorker)
            store.open()
        if args.r_group:
            # the write of a batch waits while the next commits queue up
            store = GatedStore(store)
        broker = KVSBroker(store=store)
        broker.start()
        if args.r_group:
            store.release()
        # ids as submitted at ``--rate`` jobs/s (the job-id directories
        # they make depend on it)
        now = [0.0]
        gen = fluid.FluidGenerator(0, clock=lambda: now[0])
        ids = []
        for _ in range(args.jobs + 3):
            ids.append(gen.next())
            now[0] += 1.0 / args.rate
        failures = []
        if args.r_group:
            # the jobs are there already (submitted, queued)
            for i in range(0, args.jobs, 256):
                broker.kvs.commit("primary", [
                    op for jobid in ids[i:i + 256] for op in (
                        put(f"job.{fluid.encode(jobid, 'dothex')}.J", J),
                        append(f"job.{fluid.encode(jobid, 'dothex')}"
                               ".eventlog", ev("submit")))])
                while store.gated:
                    store.release()
        quarter = args.jobs // 4
        times = []
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        t0 = time.process_time()
        for i in range(args.jobs + 3):
            if args.r_group:
                if i < args.jobs:
                    key = "job." + fluid.encode(ids[i], "dothex")
                    broker.kvs.commit("primary", [put(f"{key}.R", R)]) \
                        .addErrback(failures.append)
                if (i + 1) % args.r_group == 0 or i == args.jobs + 2:
                    while store.gated:
                        store.release()
                if (i + 1) % quarter == 0:
                    t1 = time.process_time()
                    times.append((t1 - t0) / quarter * 1e6)
                    t0 = t1
                continue
            steps = []
            for n in range(4):
                j = i - n
                if 0 <= j < args.jobs:
                    steps += phase(n, ids[j])
            d = broker.kvs.commit_batch(steps)
            d.addErrback(failures.append)
            if (i + 1) % quarter == 0:
                t1 = time.process_time()
                times.append((t1 - t0) / quarter * 1e6)
                t0 = t1
        if prof:
            prof.disable()
        if failures:
            print(failures[0])
            return 1
        print("us/job per quarter:", " ".join(f"{t:.0f}" for t in times),
              f" mean {sum(times) / len(times):.0f}")
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
        broker.stop()
        if store is not None:
            store.close()
        return 0
    finally:
        shutil.rmtree(tmp)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=16000)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="job ids made as if submitted at this rate")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--r-group", type=int, default=0, metavar="K",
                        help="instead: one commit of R per job, K queued"
                        " while a write is pending (the scheduler's)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
