#!/usr/bin/env python3
"""Benchmark: the scheduler's queue and match policies (issue 18).

Drives the real ``sched`` service through its RFC 27 handlers in one
process, as the job manager would (a small job manager answers hello and
ready; the bench sends ``sched.alloc`` streams in unlimited mode and,
when each job's simulated duration has passed, ``sched.free``), with the
real resource and KVS services (memory content store), all on a
:class:`~twisted.internet.task.Clock`: time is simulated, so a 12-hour
job costs nothing to wait for.

Clusters of 16, 1,000 and 10,000 nodes of 64 cores, 4 GPUs on a quarter
of them; jobs from a fixed seed, all submitted at the start: 70% one node
or less (1-64 cores, one in ten with 1-4 GPUs), 20% 2-16 whole nodes, 10%
17-1,024 whole nodes (denied where the cluster is smaller); durations
log-uniform from 1 minute to 12 hours.

Printed per cluster, queue policy and match policy: allocations per
second of wall time (everything: messages, R writes, frees), the policy's
own time per allocation (``us/alloc``: the cost of a decision),
utilisation (core-seconds used / cores x makespan), mean wait (simulated
minutes), the time from starting the scheduler until it is ready (the
resource service's acquire included), the memory it holds then (``MB``:
tracemalloc, its policy) and once every job is submitted and queued
(``MB q``: everything allocated since, the alloc requests included; the
first pass has run).

Usage: ``.venv/bin/python bench/sched.py [--quick] [--jobs N]
[--nodes 16,1000,10000] [--policies fcfs,easy,conservative]
[--match first,lonodex]``
"""

import argparse
import heapq
import math
import os
import random
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from twisted.internet import defer  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402

from fluxd.formats import fluid  # noqa: E402
from fluxd.formats.jobspec import from_command  # noqa: E402
from fluxd.formats.rv1 import from_config  # noqa: E402
from fluxd.message.router import method  # noqa: E402
from fluxd.module import Module  # noqa: E402
from fluxd.resource.service import ResourceService  # noqa: E402
from fluxd.sched.match import MatchPolicy  # noqa: E402
from fluxd.sched.schedconf import QueueSettings, SchedSettings  # noqa: E402
from fluxd.sched.service import SchedulerService  # noqa: E402
from fluxd.testing.kvs import KVSBroker  # noqa: E402
from fluxd.testing.overlay import FakeOverlayStatus  # noqa: E402

CORES, GPUS = 64, 4
RESERVATIONS = {"fcfs": 0, "easy": 1, "hybrid": 64, "conservative": 100000}


class JobManager(Module):
    """Hello (nothing held) and ready."""

    name = "job-manager"

    @method("sched-hello", streaming=True)
    def hello(self, request):
        return None

    @method("sched-ready")
    def ready(self, request):
        return {"count": 0}


def workload(count, seed=18):
    """``[(cores, gpus, nnodes, duration)]``: the fixed job mix."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(count):
        duration = math.exp(rng.uniform(math.log(60), math.log(12 * 3600)))
        kind = rng.random()
        if kind < 0.7:
            gpus = rng.randint(1, GPUS) if rng.random() < 0.1 else 0
            jobs.append((rng.randint(1, CORES), gpus, 0, duration))
        elif kind < 0.9:
            jobs.append((CORES, 0, rng.randint(2, 16), duration))
        else:
            jobs.append((CORES, 0, rng.randint(17, 1024), duration))
    return jobs


def jobspec(cores, gpus, nnodes, duration):
    if nnodes:
        return from_command(["true"], ntasks=nnodes, nodes=nnodes,
                            cores_per_task=cores, duration=duration,
                            environment={}, cwd="/")
    return from_command(["true"], ntasks=1, cores_per_task=cores,
                        gpus_per_task=gpus or None, duration=duration,
                        environment={}, cwd="/")


class Cluster:
    """Rank 0's services for ``nodes`` nodes, and the scheduler."""

    def __init__(self, nodes, settings):
        self.clock = Clock()
        self.clock.advance(1e9)
        self.kvs = KVSBroker(0)
        self.kvs.start()
        self.router = self.kvs.router
        quarter = nodes - max(nodes // 4, 1)
        rset = from_config([
            {"hosts": f"node[0-{quarter - 1}]", "cores": f"0-{CORES - 1}"},
            {"hosts": f"node[{quarter}-{nodes - 1}]",
             "cores": f"0-{CORES - 1}", "gpus": f"0-{GPUS - 1}"}])
        hosts = [f"node{i}" for i in range(nodes)]
        resource = ResourceService(
            self.clock, 0, nodes, self.router, hosts, rset=rset,
            local=rset.copy_ranks([0]),
            overlay=FakeOverlayStatus(f"0-{nodes - 1}"))
        resource.startService()
        self.router.add_module(resource)
        self.router.add_module(JobManager())
        tracemalloc.start()
        self.base = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        self.sched = SchedulerService(self.clock, self.router, self.kvs.kvs,
                                      limit=None)
        self.sched.settings = settings
        self.sched.startService()
        self.router.add_module(self.sched)
        self.settle()
        self.ready_s = time.perf_counter() - start
        self.memory = tracemalloc.get_traced_memory()[0] - self.base
        assert self.sched.ready
        self.policy_s = 0.0
        policy = self.sched.policy
        schedule = policy.schedule

        def timed(queues, now):
            t0 = time.perf_counter()
            try:
                return schedule(queues, now)
            finally:
                self.policy_s += time.perf_counter() - t0
        policy.schedule = timed

    def settle(self):
        """Run what is due now (a reservation's wake-up stays)."""
        while any(c.getTime() <= self.clock.seconds()
                  for c in self.clock.getDelayedCalls()):
            self.clock.advance(0)

    def next_call(self):
        """When the next timer (a reservation's wake-up) fires, or None."""
        return min((c.getTime() for c in self.clock.getDelayedCalls()),
                   default=None)


def run(nodes, policy, match, jobs):
    settings = SchedSettings(QueueSettings(policy, 32, RESERVATIONS[policy]),
                             match=MatchPolicy(match))
    cluster = Cluster(nodes, settings)
    clock, router, cred = cluster.clock, cluster.router, \
        cluster.router.instance_cred
    t0 = clock.seconds()
    info, answered = {}, []

    def on_response(body):
        if body["type"] != 1:  # not an annotation: the answer
            answered.append(body)

    for i, job in enumerate(jobs):
        jobid = fluid.compose(i + 1, 0, 0)
        info[jobid] = job
        router.stream("sched.alloc", {
            "id": jobid, "priority": 16, "userid": 1, "t_submit": 0.0,
            "jobspec": jobspec(*job)}, cred=cred, on_response=on_response)
    ends, held = [], {}
    used = waited = 0.0
    allocs = denied = 0
    # memory with every job submitted (traced, then tracing stops: the
    # timed part runs untraced)
    cluster.settle()
    queued = tracemalloc.get_traced_memory()[0] - cluster.base
    tracemalloc.stop()
    start, cpu0 = time.perf_counter(), time.process_time()
    while True:
        for last in answered:
            jobid = last["id"]
            if last["type"] != 0:
                denied += 1
                continue
            allocs += 1
            cores, gpus, nnodes, duration = info[jobid]
            now = clock.seconds()
            waited += now - t0
            used += cores * max(nnodes, 1) * duration
            heapq.heappush(ends, (now + duration, jobid))
            held[jobid] = last["R"]
        answered.clear()
        wake = cluster.next_call()
        if not ends and wake is None:
            break
        if wake is not None and (not ends or wake < ends[0][0]):
            clock.advance(wake - clock.seconds())
            cluster.settle()
            continue
        t, jobid = heapq.heappop(ends)
        clock.advance(t - clock.seconds())
        batch = [jobid]
        while ends and ends[0][0] <= t:
            batch.append(heapq.heappop(ends)[1])
        for jobid in batch:
            # as the job manager does: R in the request
            router.call("sched.free", {"id": jobid, "R": held.pop(jobid),
                                       "final": True}, cred=cred)
        cluster.settle()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    makespan = clock.seconds() - t0
    util = used / (nodes * CORES * makespan) if makespan else 0.0
    pending = len(jobs) - allocs - denied
    return dict(rate=allocs / wall, cpu_rate=allocs / cpu, us=cluster.policy_s / max(allocs, 1) * 1e6,
                util=util, wait=waited / max(allocs, 1) / 60, allocs=allocs,
                denied=denied, pending=pending, ready=cluster.ready_s,
                memory=cluster.memory, queued=queued)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=16000)
    parser.add_argument("--quick", action="store_true",
                        help="2,000 jobs (iterating)")
    parser.add_argument("--nodes", default="16,1000,10000")
    parser.add_argument("--policies", default="fcfs,easy,conservative")
    parser.add_argument("--match", default="first,lonodex")
    args = parser.parse_args()
    count = 2000 if args.quick else args.jobs
    jobs = workload(count)
    print(f"sched: {count} jobs (seed 18), {CORES} cores/node, {GPUS} GPUs"
          " on a quarter of the nodes, simulated time")
    print("allocs/s: wall clock, everything (other processes share the"
          " cores); us/alloc: the policy's time per allocation")
    print(f"{'nodes':>6} {'policy':>12} {'match':>8} {'allocs/s':>9}"
          f" {'us/alloc':>9} {'util':>6} {'wait min':>9} {'denied':>7}"
          f" {'ready s':>8} {'MB':>6} {'MB q':>6}")
    for nodes in (int(n) for n in args.nodes.split(",")):
        for policy in args.policies.split(","):
            for match in args.match.split(","):
                r = run(nodes, policy, match, jobs)
                print(f"{nodes:>6} {policy:>12} {match:>8} {r['rate']:>9.0f} cpu {r['cpu_rate']:>5.0f}"
                      f" {r['us']:>9.0f} {r['util']:>6.1%} {r['wait']:>9.0f}"
                      f" {r['denied']:>7} {r['ready']:>8.2f}"
                      f" {r['memory'] / 1e6:>6.1f}"
                      f" {r['queued'] / 1e6:>6.1f}", flush=True)
                assert r["pending"] == 0, r


if __name__ == "__main__":
    defer.setDebugging(False)
    main()
