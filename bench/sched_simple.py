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
from twisted.internet.task import Clock  # noqa: E402

from fluxd.formats import fluid  # noqa: E402
from fluxd.formats.jobspec import from_command  # noqa: E402
from fluxd.formats.rv1 import from_config  # noqa: E402
from fluxd.message.router import method  # noqa: E402
from fluxd.module import Module  # noqa: E402
from fluxd.resource.service import ResourceService  # noqa: E402
from fluxd.sched.service import SchedulerService  # noqa: E402
from fluxd.testing.kvs import KVSBroker  # noqa: E402
from fluxd.testing.overlay import FakeOverlayStatus  # noqa: E402

CORES = 32


class JobManager(Module):
    """Hello (nothing held) and ready."""

    name = "job-manager"

    @method("sched-hello", streaming=True)
    def hello(self, request):
        return None

    @method("sched-ready")
    def ready(self, request):
        return {"count": 0}


class Cluster:
    """The services of rank 0 for ``nodes`` nodes of 32 cores."""

    def __init__(self, nodes, limit):
        self.clock = Clock()
        self.clock.advance(1e9)
        self.kvs = KVSBroker(0)
        self.kvs.start()
        self.router = self.kvs.router
        rset = from_config([{"hosts": f"node[0-{nodes - 1}]",
                             "cores": f"0-{CORES - 1}"}])
        hosts = [f"node{i}" for i in range(nodes)]
        resource = ResourceService(
            self.clock, 0, nodes, self.router, hosts, rset=rset,
            local=rset.copy_ranks([0]),
            overlay=FakeOverlayStatus(f"0-{nodes - 1}"))
        resource.startService()
        self.router.add_module(resource)
        self.router.add_module(JobManager())
        self.sched = SchedulerService(self.clock, self.router, self.kvs.kvs,
                                      limit=limit)
        self.sched.startService()
        self.router.add_module(self.sched)
        self.settle()
        assert self.sched.ready
        self.ms = 0
        self.outstanding = {}

    def next_id(self):
        """FLUID-like ids, 1000 jobs a second: job directories in the KVS
        stay as small as an instance's (sequential small ids would pile
        every job into one directory)."""
        self.ms += 1
        return fluid.compose(self.ms, 0, 0)

    def settle(self):
        while self.clock.getDelayedCalls():
            self.clock.advance(0)

    def allocs(self, jobspec, count):
        """Send ``count`` allocs; returns {id: responses} of those answered
        (the others stay outstanding)."""
        for _ in range(count):
            jobid = self.next_id()
            got = self.outstanding[jobid] = []
            self.router.stream(
                "sched.alloc", {"id": jobid, "priority": 16, "userid": 1,
                                "t_submit": 0.0, "jobspec": jobspec},
                cred=self.router.instance_cred, on_response=got.append)
        self.settle()
        # ANNOTATE responses (reason_pending) come before the answer
        answered = {jobid: got for jobid, got in self.outstanding.items()
                    if got and got[-1]["type"] != 1}
        for jobid in answered:
            del self.outstanding[jobid]
        return answered

    def free(self, answered):
        for jobid, responses in answered.items():
            R = responses[-1]["R"]
            self.router.call("sched.free", {"id": jobid, "R": R,
                                            "final": True},
                             cred=self.router.instance_cred)
        self.settle()


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
    cluster = Cluster(nodes, limit)
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
        cluster.free(answered)
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
