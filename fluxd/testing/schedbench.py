# -*- test-case-name: tests.unit.sched.test_schedbench -*-
"""What the scheduler benchmarks share (``bench/sched.py``,
``bench/sched_simple.py``, ``bench/sched_e2e.py``; not used by the
broker): the simulated rank 0
around the real ``sched`` service, and the issue's job mix.

:class:`Cluster` runs the real resource and KVS services (memory content
store) and a small job manager (hello: nothing held; ready) on a
:class:`~twisted.internet.task.Clock`, then the scheduler; a bench sends
``sched.alloc`` streams and ``sched.free`` requests through its router as
the job manager would.  :func:`workload` is the fixed job mix of issue 18.
"""

import math
import random
import threading
import time

from twisted.internet.task import Clock

from fluxd.formats import fluid
from fluxd.formats.jobspec import from_command
from fluxd.formats.rv1 import from_config
from fluxd.message.router import method
from fluxd.module import Module
from fluxd.resource.service import ResourceService
from fluxd.sched.service import SchedulerService
from fluxd.testing.kvs import KVSBroker
from fluxd.testing.overlay import FakeOverlayStatus

__all__ = ["CORES", "GPUS", "RESERVATIONS", "Cluster", "JobManager",
           "config_entries", "jobspec", "submit_and_wait", "workload"]

#: the issue's nodes: 64 cores, 4 GPUs on a quarter of them
CORES, GPUS = 64, 4
#: reservation depth by queue policy
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


def config_entries(nodes, cores=CORES, gpus=GPUS):
    """``[[resource.config]]`` entries: ``nodes`` nodes named
    ``node0..``, ``gpus`` GPUs on the last quarter (none with 0)."""
    if not gpus:
        return [{"hosts": f"node[0-{nodes - 1}]", "cores": f"0-{cores - 1}"}]
    plain = nodes - max(nodes // 4, 1)
    return [{"hosts": f"node[0-{plain - 1}]", "cores": f"0-{cores - 1}"},
            {"hosts": f"node[{plain}-{nodes - 1}]",
             "cores": f"0-{cores - 1}", "gpus": f"0-{gpus - 1}"}]


def workload(count, seed=18):
    """``[(cores, gpus, nnodes, duration)]``: issue 18's job mix (70% one
    node or less, one in ten of those with GPUs; 20% 2-16 whole nodes;
    10% 17-1,024 whole nodes; durations log-uniform, 1 minute to 12
    hours)."""
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


def jobspec(cores, gpus, nnodes, duration, **attrs):
    """The jobspec of one workload job (``true``)."""
    if nnodes:
        return from_command(["true"], ntasks=nnodes, nodes=nnodes,
                            cores_per_task=cores, duration=duration,
                            environment={}, cwd="/", **attrs)
    return from_command(["true"], ntasks=1, cores_per_task=cores,
                        gpus_per_task=gpus or None, duration=duration,
                        environment={}, cwd="/", **attrs)


class Cluster:
    """Rank 0's services for ``nodes`` nodes, and the scheduler.

    :param settings: :class:`~fluxd.sched.schedconf.SchedSettings`, or
        None for the defaults.
    :param limit: the scheduler's ``limited`` mode, None: unlimited.
    :param on_start: called just before the scheduler is made (a
        benchmark starts measuring its memory there).
    :ivar ready_s: seconds from starting the scheduler until it is ready.
    """

    def __init__(self, nodes, settings=None, limit=None, cores=CORES,
                 gpus=GPUS, on_start=None):
        self.clock = Clock()
        self.clock.advance(1e9)
        self.kvs = KVSBroker(0)
        self.kvs.start()
        self.router = self.kvs.router
        rset = from_config(config_entries(nodes, cores, gpus))
        hosts = [f"node{i}" for i in range(nodes)]
        resource = ResourceService(
            self.clock, 0, nodes, self.router, hosts, rset=rset,
            local=rset.copy_ranks([0]),
            overlay=FakeOverlayStatus(f"0-{nodes - 1}"))
        resource.startService()
        self.router.add_module(resource)
        self.router.add_module(JobManager())
        if on_start is not None:
            on_start()
        start = time.perf_counter()
        self.sched = SchedulerService(self.clock, self.router, self.kvs.kvs,
                                      limit=limit)
        if settings is not None:
            self.sched.settings = settings
        self.sched.startService()
        self.router.add_module(self.sched)
        self.settle()
        self.ready_s = time.perf_counter() - start
        assert self.sched.ready
        self._ms = 0

    def next_id(self):
        """FLUID-like ids, one a millisecond: the job directories in the
        KVS stay as small as an instance's."""
        self._ms += 1
        return fluid.compose(self._ms, 0, 0)

    def settle(self, due_only=True):
        """Run what is due now (a reservation's wake-up stays), or, with
        ``due_only`` false, every pending call."""
        calls = self.clock.getDelayedCalls
        while calls() and (not due_only or any(
                c.getTime() <= self.clock.seconds() for c in calls())):
            self.clock.advance(0)

    def next_call(self):
        """When the next timer (a reservation's wake-up) fires, or None."""
        return min((c.getTime() for c in self.clock.getDelayedCalls()),
                   default=None)

    def alloc(self, jobid, spec, on_response):
        """Send one ``sched.alloc`` stream."""
        self.router.stream("sched.alloc", {
            "id": jobid, "priority": 16, "userid": 1, "t_submit": 0.0,
            "jobspec": spec}, cred=self.router.instance_cred,
            on_response=on_response)

    def free(self, jobid, R):
        """``sched.free`` as the job manager sends it (R included)."""
        self.router.call("sched.free", {"id": jobid, "R": R, "final": True},
                         cred=self.router.instance_cred)


def submit_and_wait(entries, batch, uri=None):
    """Submit ``job-ingest.submit`` entries to a real instance, ``batch``
    a request (four requests in flight), and wait until every job is
    ``clean`` (the throughput benchmarks).

    :returns: ``(start, submitted, end, pid)``: epoch seconds of the
        first submit, of the last acknowledgement and of the last
        ``clean``, and the broker's pid.
    """
    from fluxd.client.sync import Flux  # the stdlib client: threads
    count = len(entries)
    done = threading.Event()
    state = {"cleaned": 0, "last": None}

    def follow():
        with Flux(uri) as h:
            for events in h.stream("job-manager.events-journal", {}):
                for event in events["events"]:
                    if event["entry"]["name"] == "clean":
                        state["cleaned"] += 1
                        state["last"] = event["entry"]["timestamp"]
                if state["cleaned"] >= count:
                    done.set()
                    return
    threading.Thread(target=follow, daemon=True).start()
    with Flux(uri) as h:
        pid = int(h.rpc("attr.get", {"name": "broker.pid"})["value"])
        time.sleep(0.2)     # let the journal stream register
        start = time.time()
        tokens = []
        for first in range(0, count, batch):
            tokens.append(h.send("job-ingest.submit",
                                 {"jobs": entries[first:first + batch]}))
            if len(tokens) >= 4:
                h.wait(tokens.pop(0))
        for token in tokens:
            h.wait(token)
        submitted = time.time()
    done.wait()
    return start, submitted, max(state["last"] or time.time(), submitted), pid
