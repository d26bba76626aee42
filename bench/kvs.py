#!/usr/bin/env python3
"""Benchmark: the KVS on content.sqlite (every commit durable).

Starts one ``twistd -n fluxd`` broker with a statedir in a temp dir
(``content.sqlite``, WAL, ``synchronous=FULL``) and measures from a
client process with the stdlib client:

- commits/s with one key per commit, sequential and with 100 in flight
  (flux-core 0.88 does about 282/s sequential on its test machine);
- commits/s (and keys/s) with 100 keys per commit;
- lookup latency from a local client, then on a 2-broker instance
  (``flux start --test-size=2``) from rank 0 and from the follower;
- bytes on disk per job-sized record: jobs written as the job manager
  would (J, jobspec, R, an eventlog appended in five commits) under
  ``job.<dothex id>``, with jobs interleaved as a busy instance has them;
- the start time of a broker on a ``--store-mb`` (100) MB content.sqlite
  (1 KiB random values, as written by the store itself) against an empty
  statedir: the price of the start-up checks (header, WAL, sqlite's
  quick or integrity check, the roots).

Usage: ``.venv/bin/python bench/kvs.py [--seconds N] [--jobs N] [--store-mb N]``
"""

import argparse
import base64
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from fluxd.client.sync import Flux  # noqa: E402
from fluxd.formats import fluid  # noqa: E402
from fluxd.storage import sqlitedb  # noqa: E402
from fluxd.storage import treeobj as T  # noqa: E402
from fluxd.storage.blobref import hash_blob, to_digest  # noqa: E402
from fluxd.storage.txn import APPEND  # noqa: E402
from fluxd.testing.broker import BrokerProcess  # noqa: E402
from fluxd.testing.cli import flux_executable  # noqa: E402


def put(key, value, flags=0):
    if isinstance(value, str):
        value = value.encode()
    return {"key": key, "flags": flags, "dirent": T.create_val(value)}


def commit(ops):
    return {"namespace": "primary", "flags": 0, "ops": ops}


def timed(seconds, step):
    """Call ``step()`` (returns units done) for ``seconds``; units/s."""
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        n += step()
    return n / (time.perf_counter() - start)


def sequential_commits(h, seconds, keys_per_commit, tag):
    counter = iter(range(10 ** 9))

    def step():
        i = next(counter)
        # keys spread over 100 directories, as job ids spread over the
        # job.<dothex> tree: one ever-growing directory would measure the
        # cost of rewriting it instead
        h.rpc("kvs.commit", commit([put(f"bench.{tag}.d{i % 100}.c{i}.n{j}", b"v")
                                    for j in range(keys_per_commit)]))
        return 1
    return timed(seconds, step)


def pipelined_commits(h, seconds, depth=100):
    counter = iter(range(10 ** 9))

    def step():
        tokens = []
        for _ in range(depth):
            i = next(counter)
            tokens.append(h.send("kvs.commit", commit(
                [put(f"bench.pipe.d{i % 100}.k{i}", b"v")])))
        for token in tokens:
            h.wait(token)
        return depth
    return timed(seconds, step)


def lookup_latency(h, key, count=2000):
    payload = {"key": key, "namespace": "primary", "flags": 0}
    h.rpc("kvs.lookup", payload)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        h.rpc("kvs.lookup", payload)
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def cli_get_wall(uri, key, runs=10):
    env = dict(os.environ, FLUX_URI=uri)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([flux_executable(), "kvs", "get", key], env=env,
                       check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# -- job-sized records ----------------------------------------------------------

def _job_parts(rng):
    jobspec = json.dumps({
        "version": 1,
        "resources": [{"type": "slot", "count": 1, "label": "task",
                       "with": [{"type": "core", "count": 1}]}],
        "tasks": [{"command": ["sleep", "0"], "slot": "task",
                   "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 0, "cwd": "/home/user/work",
                                  "shell": {"options": {"rlimit": {
                                      "nofile": 1048576, "nproc": 4096,
                                      "stack": 8388608}}}}}})
    J = base64.b64encode(rng(1100)).decode() + "." + \
        base64.b64encode(jobspec.encode()).decode() + ".none"
    R = json.dumps({"version": 1, "execution": {
        "R_lite": [{"rank": "0", "children": {"core": "3"}}],
        "starttime": 1.7e9, "expiration": 1.7e9 + 3600,
        "nodelist": ["node0"]}})
    t = 1.7e9

    def ev(name, **ctx):
        entry = {"timestamp": t, "name": name}
        if ctx:
            entry["context"] = ctx
        return json.dumps(entry, separators=(",", ":")) + "\n"
    eventlog = [
        [ev("submit", userid=1000, urgency=16, flags=0, version=1)],
        [ev("validate"), ev("depend"), ev("priority", priority=16)],
        [ev("alloc")],
        [ev("start")],
        [ev("finish", status=0), ev("release", ranks="all", final=True),
         ev("free"), ev("clean")],
    ]
    return J, jobspec, R, eventlog


def job_records(uri, jobs, inflight=64):
    """Write ``jobs`` jobs in five commits each, interleaved; returns the
    bytes of values written per job."""
    gen = fluid.FluidGenerator(0)
    payload_bytes = 0
    with Flux(uri) as h:
        pending = collections.deque()
        phases = collections.deque()
        for _ in range(jobs):
            jobid = gen.next()
            key = "job." + fluid.encode(jobid, "dothex")
            J, jobspec, R, eventlog = _job_parts(os.urandom)
            payload_bytes += len(J) + len(jobspec) + len(R) + \
                sum(len(e) for batch in eventlog for e in batch)
            steps = [
                [put(f"{key}.J", J), put(f"{key}.jobspec", jobspec)] +
                [put(f"{key}.eventlog", e, APPEND) for e in eventlog[0]],
                [put(f"{key}.eventlog", e, APPEND) for e in eventlog[1]],
                [put(f"{key}.R", R)] +
                [put(f"{key}.eventlog", e, APPEND) for e in eventlog[2]],
                [put(f"{key}.eventlog", e, APPEND) for e in eventlog[3]],
                [put(f"{key}.eventlog", e, APPEND) for e in eventlog[4]],
            ]
            phases.append(collections.deque(steps))
        # round-robin: each in-flight job advances one commit at a time
        active = collections.deque()
        while phases or active or pending:
            while len(active) < inflight and phases:
                active.append(phases.popleft())
            while active and len(pending) < inflight:
                job = active.popleft()
                pending.append(h.send("kvs.commit", commit(job.popleft())))
                if job:
                    active.append(job)
            if pending:
                h.wait(pending.popleft())
    return payload_bytes / jobs


def disk_bytes(statedir):
    total = 0
    for name in ("content.sqlite", "content.sqlite-wal"):
        path = os.path.join(statedir, name)
        if os.path.exists(path):
            total += os.path.getsize(path)
    return total


# -- follower latency (runs inside ``flux start --test-size=2``) ---------------

def inside_instance(args):
    rundir = os.environ["FLUXD_START_DIR"]
    uri = [f"local://{rundir}/rank-{r}/local" for r in (0, 1)]
    with Flux(uri[0]) as h:
        h.rpc("kvs.commit", commit([put("bench.lat.key", b"value")]))
    out = {}
    for rank in (0, 1):
        with Flux(uri[rank]) as h:
            start = time.perf_counter()
            h.rpc("kvs.lookup", {"key": "bench.lat.key", "namespace": "primary",
                                 "flags": 0})
            cold = time.perf_counter() - start
            median, p99 = lookup_latency(h, "bench.lat.key", args.lookups)
            out[rank] = {"cold": cold, "median": median, "p99": p99}
    print(json.dumps(out))


def follower_latency(args):
    proc = subprocess.run(
        [flux_executable(), "start", "--test-size=2", sys.executable,
         os.path.abspath(__file__), "--inside", "--lookups", str(args.lookups)],
        capture_output=True, text=True, timeout=300)
    if proc.returncode:
        raise SystemExit(f"flux start failed: {proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def big_store(path, megabytes):
    """A content.sqlite of about ``megabytes`` MB: 1 KiB random values in
    directories of 1000 keys, one transaction, closed cleanly."""
    conn = sqlitedb.connect(path)
    sqlitedb.init_schema(conn, "sha1")
    top = {}
    keys = megabytes * 700
    for d in range((keys + 999) // 1000):
        rows, entries = [], {}
        for k in range(min(1000, keys - d * 1000)):
            data = os.urandom(1024)
            ref = hash_blob(data)
            rows.append((to_digest(ref), data))
            entries[f"k{k}"] = T.create_valref([ref])
        blob = T.encode(T.create_dir(entries))
        rows.append((to_digest(hash_blob(blob)), blob))
        sqlitedb.write_batch(conn, rows, [])
        top[f"d{d}"] = T.create_dirref(hash_blob(blob))
    root = T.encode(T.create_dir(top))
    sqlitedb.write_batch(conn, [(to_digest(hash_blob(root)), root)], [
        ("primary", sqlitedb.root_record(hash_blob(root), 1, os.getuid()))])
    sqlitedb.checkpoint(conn)
    conn.close()


def start_times(megabytes, runs=5):
    """Median start-to-ready seconds: empty statedir, then a big store."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="fluxd-bench-start-") as tmp:
        big = os.path.join(tmp, "big")
        os.makedirs(big)
        big_store(os.path.join(big, "content.sqlite"), megabytes)
        size = os.path.getsize(os.path.join(big, "content.sqlite"))
        for label, statedir in (("empty", os.path.join(tmp, "empty")),
                                ("big", big)):
            times = []
            for i in range(runs):
                work = os.path.join(tmp, f"{label}{i}")
                os.makedirs(work)
                broker = BrokerProcess(work, attrs={"statedir": statedir})
                start = time.perf_counter()
                broker.start(timeout=300)
                times.append(time.perf_counter() - start)
                broker.stop()
            out[label] = statistics.median(times)
    return size, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--store-mb", type=int, default=100)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside_instance(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        statedir = os.path.join(tmp, "state")
        broker = BrokerProcess(tmp, attrs={"statedir": statedir}).start()
        try:
            with Flux(broker.uri) as h:
                seq1 = sequential_commits(h, args.seconds, 1, "seq")
                pipe1 = pipelined_commits(h, args.seconds)
                seq100 = sequential_commits(h, args.seconds, 100, "hundred")
                local = lookup_latency(h, "bench.seq.d0.c0.n0", args.lookups)
            cli = cli_get_wall(broker.uri, "bench.seq.d0.c0.n0")
        finally:
            broker.stop()
        jobdir = os.path.join(tmp, "jobs")
        os.makedirs(jobdir)
        jobstate = os.path.join(tmp, "jobstate")
        # an empty store first: its size is the baseline
        BrokerProcess(jobdir, attrs={"statedir": jobstate}).start().stop()
        base = disk_bytes(jobstate)
        broker = BrokerProcess(jobdir, attrs={"statedir": jobstate}).start()
        try:
            start = time.perf_counter()
            payload = job_records(broker.uri, args.jobs)
            job_secs = time.perf_counter() - start
        finally:
            broker.stop()
        per_job = (disk_bytes(jobstate) - base) / args.jobs
    follower = follower_latency(args)
    if args.store_mb:
        size, started = start_times(args.store_mb)
    print(f"1 key/commit, sequential:   {seq1:10.0f} commits/s"
          "   (flux-core: 282/s)")
    print(f"1 key/commit, 100 in flight:{pipe1:10.0f} commits/s")
    print(f"100 keys/commit, sequential:{seq100:10.0f} commits/s"
          f" ({seq100 * 100:.0f} keys/s)")
    print(f"lookup, local client:       {local[0] * 1e6:10.0f} us median"
          f" ({local[1] * 1e6:.0f} us p99)")
    print(f"flux kvs get wall:          {cli * 1000:10.1f} ms median")
    for rank, label in (("0", "rank 0"), ("1", "follower (rank 1)")):
        r = follower[rank]
        print(f"lookup on 2-broker {label + ':':19s}{r['median'] * 1e6:6.0f} us"
              f" median ({r['p99'] * 1e6:.0f} us p99, first {r['cold'] * 1e6:.0f} us)")
    print(f"job records: {args.jobs} jobs x 5 commits in {job_secs:.2f} s"
          f" ({args.jobs * 5 / job_secs:.0f} commits/s)")
    print(f"bytes on disk per job:      {per_job:10.0f} B"
          f" (values written: {payload:.0f} B/job)")
    if args.store_mb:
        print(f"start to ready, empty statedir:   {started['empty']:.3f} s median;"
              f" on a {size / 1e6:.0f} MB content.sqlite:"
              f" {started['big']:.3f} s median")


if __name__ == "__main__":
    main()
