#!/usr/bin/env python3
"""Benchmark: the sched service's alloc+free pairs per second (issue 16).

Drives the real ``sched`` service through its RFC 27 handlers in one
process, as the job manager would: a small fake job manager answers
hello and ready, sends ``sched.alloc`` streams and, once each is
answered, ``sched.free``.  Around it run the real resource service
(``resource.acquire``) and KVS services (memory content store: this
measures the scheduler, its R writes and the in-process messaging, not
the disk), all on a :class:`~twisted.internet.task.Clock` stepped as
fast as it goes.

Each cluster is first filled to ``--busy`` (default 90 %) with jobs that
stay, so most decisions happen on a mostly busy cluster; then pairs of
1-core jobs, and of whole-node (``-N1 --exclusive``) jobs, are measured
in ``limited=8`` mode (the default) and in unlimited mode with 256
allocs queued at once.

Usage: ``.venv/bin/python bench/sched_simple.py [--pairs N] [--busy F]``
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from twisted.internet import defer  # noqa: E402

from fluxd.formats.jobspec import from_command  # noqa: E402
from fluxd.testing.schedbench import Cluster  # noqa: E402

CORES = 32


class Pairs(Cluster):
    """A :class:`Cluster` of ``nodes`` nodes of 32 cores, no GPUs, with
    the allocs it sent and not yet answered."""

    def __init__(self, nodes, limit):
        super().__init__(nodes, limit=limit, cores=CORES, gpus=0)
        self.outstanding = {}

    def allocs(self, jobspec, count):
        """Send ``count`` allocs; returns {id: responses} of those answered
        (the others stay outstanding)."""
        for _ in range(count):
            jobid = self.next_id()
            got = self.outstanding[jobid] = []
            self.alloc(jobid, jobspec, got.append)
        self.settle(due_only=False)
        # ANNOTATE responses (reason_pending) come before the answer
        answered = {jobid: got for jobid, got in self.outstanding.items()
                    if got and got[-1]["type"] != 1}
        for jobid in answered:
            del self.outstanding[jobid]
        return answered

    def free_all(self, answered):
        for jobid, responses in answered.items():
            self.free(jobid, responses[-1]["R"])
        self.settle(due_only=False)


def spec(exclusive):
    if exclusive:
        return from_command(["true"], ntasks=1, nodes=1, exclusive=True,
                            environment={}, cwd="/")
    return from_command(["true"], environment={}, cwd="/")


def fill(cluster, fraction):
    """Occupy ``fraction`` of the cores with 1-core jobs that stay."""
    busy = int(cluster.sched.policy.totals()[1] * fraction)
    one = spec(False)
    while busy > 0:
        batch = min(busy, cluster.sched.limit or 4096)
        answered = cluster.allocs(one, batch)
        assert len(answered) == batch
        assert all(r[-1]["type"] == 0 for r in answered.values())
        busy -= batch


def measure(nodes, limit, exclusive, pairs, busy):
    cluster = Pairs(nodes, limit)
    fill(cluster, busy)
    batch = limit or 256
    jobspec = spec(exclusive)
    commits = cluster.sched.writer.commits
    done = sent = 0
    start, cpu = time.perf_counter(), time.process_time()
    while done < pairs:
        more = min(batch - len(cluster.outstanding), pairs - sent)
        answered = cluster.allocs(jobspec, more)
        sent += more
        for responses in answered.values():
            assert responses[-1]["type"] == 0, responses
        cluster.free_all(answered)
        done += len(answered)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    commits = cluster.sched.writer.commits - commits
    return pairs / elapsed, cpu / pairs * 1e6, pairs / max(commits, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4000)
    parser.add_argument("--busy", type=float, default=0.9)
    args = parser.parse_args()
    print(f"sched alloc+free pairs/s ({args.pairs} pairs, cluster"
          f" {args.busy:.0%} busy with jobs that stay, {CORES} cores/node)")
    print("pairs/s is wall clock (other processes share the cores); CPU is"
          " this process's time per pair")
    print(f"{'nodes':>6} {'mode':>10} {'job':>9} {'pairs/s':>8}"
          f" {'CPU us/pair':>12} {'R/commit':>9}")
    for nodes in (16, 1000):
        for limit in (8, None):
            for exclusive in (False, True):
                rate, cpu, per = measure(nodes, limit, exclusive,
                                         args.pairs, args.busy)
                mode = "limited=8" if limit else "unlimited"
                job = "-N1 excl" if exclusive else "1 core"
                print(f"{nodes:>6} {mode:>10} {job:>9} {rate:>8.0f}"
                      f" {cpu:>12.0f} {per:>9.1f}", flush=True)


if __name__ == "__main__":
    defer.setDebugging(False)
    main()
