#!/usr/bin/env python3
"""Benchmark: the KVS cost of each job's guest namespace.

Drives rank 0's KVS (a real :class:`~fluxd.kvs.service.KVSService` on a
``content.sqlite`` with ``synchronous=FULL``, its writes inline) through
the job services' :class:`~fluxd.job.kvsbatch.KVSBatcher` with the
writes of ``--jobs`` jobs, ``--wave`` of them at a time, in four batches
per wave (start, shell start, output and finish, the end), as a busy
instance makes them, in two layouts:

- ``primary``: the exec eventlog and output under ``job.<id>.guest`` in
  primary (fluxd before guest namespaces);
- ``guest``: in the job's namespace ``job-<id>``, created with the job,
  linked from ``job.<id>.guest``, copied back and removed at its end
  (one multi-namespace commit per batch).

Runs alternate between the layouts (``--reps`` each); it prints the CPU
seconds and wall seconds per 1000 jobs of each run and the median, with
the load average (the machine's load moves the wall figures, less the
CPU ones).

A third layout, ``folded``, is ``guest`` with the job's end written by
:meth:`~fluxd.job.kvsbatch.KVSBatcher.fold_namespace`: with
``--batches 1`` (a wave's jobs start and end between two commits, as
short jobs under load do) their namespaces are never made.

Usage: ``.venv/bin/python bench/guestns.py [--jobs N] [--wave N] [--reps N]
[--batches 1|2|4]``

Measured 2026-12-04 (``--jobs 3000``, median of 3, CPU ms a job):
``--batches 1``: primary 0.169, guest 0.217, folded 0.169;
``--batches 4`` (the namespace outlives a commit: nothing to fold):
primary 0.444, guest 0.626, folded 0.608.  In ``bench/throughput.py
--real -N 3000`` 75% of the jobs (1 broker) and 65% (4 brokers) were
folded.

Measured 2026-12-03 (guestns20, load average 5-6, median of 3, CPU s
per 1000 jobs): primary 1.26-1.29, guest 1.43-1.58.

The first version of guest namespaces (guestns19) was reverted for
``bench/throughput.py --real -N 16000 -s 4``: 135 submits/s instead of
1,687, rank 0 at 408 MiB instead of 154.  Each multi-namespace batch
loaded the directories it walked through one at a time and applied
``primary``'s operations once per job folded back: about 20 ms a job,
so that with 4 brokers (jobs ending faster) each batch took longer than
the jobs behind it needed to queue, and the batches (the submissions'
acknowledgements with them) doubled in size each round: 9.6 s for 610
jobs, then 19 s for 1,041, 38 s for 1,831.  Loading level by level,
each level at once, and one transaction for ``primary`` (guestns20)
ended it; the same day, interleaved, same load (load average 3-11)::

                       submit/s  jobs/s  rank0 RSS MiB  r0 ms/job
    -N 16000 -s 4  main     957      83          170.1       4.02
                   guest   1281      83          172.8       4.03
    -N 2000 -s 4   main    1413     114           75.6       3.26
                   guest   1703     112           76.6       3.61
    -N 2000 -s 1   main    1516      52           69.9       6.20
                   guest   1773      63           69.8       5.84

(before the fix, -N 16000 -s 4: 102 submits/s, 98 jobs/s, 461 MiB).
A batch also sends a namespace's setroot and removed events only once a
broker has fetched it: 2.8 events per job before, 0.33 after (main:
0.34).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from twisted.internet.task import Clock  # noqa: E402

from fluxd.formats import eventlog, fluid  # noqa: E402
from fluxd.job.kvsbatch import KVSBatcher  # noqa: E402
from fluxd.kvs import _sqlite  # noqa: E402
from fluxd.kvs.content import SqliteContentStore  # noqa: E402
from fluxd.kvs.service import OWNER_CRED  # noqa: E402
from fluxd.storage import treeobj as T  # noqa: E402
from fluxd.testing.kvs import KVSBroker  # noqa: E402
from fluxd.testing.threads import ThreadedCalls  # noqa: E402


def line(name, context=None):
    return eventlog.encode_entry(name, context, 1.0e9).encode()


class Layout:
    """Where a job's guest data goes."""

    def __init__(self, writer, guest, fold=False):
        self.w, self.guest, self.fold = writer, guest, fold

    def g(self, jobid, key, data):
        if self.guest:
            self.w.append(key, data, namespace=f"job-{jobid}")
        else:
            self.w.append(f"{fluid.encode(jobid, 'kvs')}.guest.{key}", data)

    def phases(self, jobid):
        w, key = self.w, fluid.encode(jobid, "kvs")
        ns = f"job-{jobid}"

        def start():
            w.append(key + ".eventlog", line("alloc"))
            if self.guest:
                w.create_namespace(ns, 1000)
                w.put(key + ".guest", T.create_symlink(".", ns))
            self.g(jobid, "exec.eventlog", line("init"))
            self.g(jobid, "exec.eventlog", line("starting"))

        def running():
            self.g(jobid, "output", line("header", {"version": 1}))
            for name in ("recoverable", "shell.init", "shell.start"):
                self.g(jobid, "exec.eventlog", line(name))
            w.append(key + ".eventlog", line("start"))

        def output():
            self.g(jobid, "output", line("data", {"stream": "stdout",
                                                  "rank": "0",
                                                  "data": "hello\n"}))
            for name in ("shell-exit", "complete"):
                self.g(jobid, "exec.eventlog", line(name))
            w.append(key + ".eventlog", line("finish"))

        def end():
            if self.fold:
                w.fold_namespace(ns, key + ".guest")
            elif self.guest:
                w.copy_namespace(ns, key + ".guest")
                w.remove_namespace(ns)
            w.append(key + ".guest.exec.eventlog", line("done"))
            for name in ("release", "free", "clean"):
                w.append(key + ".eventlog", line(name))
        return start, running, output, end


def run(jobs, wave, guest, fold=False, batches=4):
    tmp = tempfile.mkdtemp(prefix="fluxd-bench-guestns-")
    calls = ThreadedCalls()
    store = SqliteContentStore(calls, os.path.join(tmp, "content.sqlite"),
                               worker=_sqlite.InlineWorker)
    broker = KVSBroker(0, store)
    calls.settle(broker.start())
    clock = Clock()
    writer = KVSBatcher(clock, broker.kvs, OWNER_CRED)
    layout = Layout(writer, guest, fold)
    # every job's directory exists (submitted) before the waves
    for jobid in range(jobs):
        writer.append(f"{fluid.encode(jobid, 'kvs')}.eventlog",
                      line("submit"))
    d = writer.flush()
    clock.advance(0)
    calls.settle(d)
    cpu, wall = time.process_time(), time.perf_counter()
    for first in range(0, jobs, wave):
        phases = [layout.phases(j) for j in range(first,
                                                   min(first + wave, jobs))]
        for step in range(4):
            for job in phases:
                job[step]()
            if (step + 1) % (4 // batches) == 0:
                d = writer.flush()
                clock.advance(0)
                calls.settle(d)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    names = [n["namespace"] for n in broker.kvs.namespaces()]
    assert names == ["primary"], names
    calls.settle(broker.stop())
    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)
    return cpu * 1000 / jobs, wall * 1000 / jobs, writer.commits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--wave", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batches", type=int, default=4, choices=(1, 2, 4),
                        help="batches a wave's jobs take from start to end")
    args = parser.parse_args()
    print(f"{args.jobs} jobs, {args.wave} at a time, {args.batches} batches"
          " each; seconds per 1000 jobs")
    print("layout    cpu s   wall s  commits  load")
    figures = {"primary": [], "guest": [], "folded": []}
    for _ in range(args.reps):
        for name in figures:
            cpu, wall, commits = run(args.jobs, args.wave, name != "primary",
                                     name == "folded", args.batches)
            figures[name].append((cpu, wall))
            load = open("/proc/loadavg").read().split()[0]
            print(f"{name:8} {cpu:7.3f} {wall:8.3f} {commits:8d}  {load}")
    for name, runs in figures.items():
        print(f"median {name:8} cpu {statistics.median(c for c, _ in runs):.3f}"
              f"  wall {statistics.median(w for _, w in runs):.3f}")


if __name__ == "__main__":
    main()
