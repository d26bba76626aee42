# -*- test-case-name: tests.unit.cli.test_pstree -*-
"""``{instance.*}`` fields of ``flux jobs`` and ``flux pstree``: what a
running job that is a Flux instance (a ``uri`` memo) says about itself,
asked over a connection to it, as flux-core's ``InstanceInfo``:

``instance.stats``
    its job counts (``PD:1 R:2 CD:3 F:0``; ``.total``, ``.pending``,
    ``.running``, ``.successful``, ``.failed``, ``.inactive``...);
``instance.resources.STATE.nnodes|ncores|ngpus``
    its scheduler's resources, STATE one of ``all``, ``up``, ``down``,
    ``allocated``, ``free``;
``instance.utilization`` / ``instance.gpu_utilization``
    allocated cores (GPUs) over all;
``instance.progress``
    inactive jobs over all jobs.

Any other job, or an instance that cannot be asked (gone, not the
user's), renders every field empty.
"""

from fluxd.errors import FluxError

__all__ = ["InstanceInfo", "StatsInfo", "instance_heading", "EMPTY"]


def instance_heading(field):
    """flux's heading of an ``instance.X`` field without a fixed one."""
    heading = field[len("instance."):].upper()
    if heading.startswith("RESOURCES."):
        heading = heading[len("RESOURCES."):]
    return heading


class _Empty:
    """Renders as an empty string whatever is looked up in it."""

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return self

    def __str__(self):
        return ""

    def __format__(self, spec):
        return "".__format__(spec.rstrip("bcdoxXeEfFgGn%"))


EMPTY = _Empty()


class StatsInfo:
    """The counts of ``job-list.job-stats`` as flux's ``JobStats``."""

    def __init__(self, answer):
        states = answer.get("job_states") or {}
        for name in ("depend", "priority", "sched", "run", "cleanup",
                     "inactive", "total"):
            setattr(self, name, states.get(name, 0))
        for name in ("successful", "failed", "timeout", "canceled",
                     "inactive_purged"):
            setattr(self, name, answer.get(name, 0))
        self.pending = self.depend + self.priority + self.sched
        self.running = self.run + self.cleanup
        self.active = self.total - self.inactive
        # flux counts canceled and timed out jobs as failed
        self.failed += self.timeout + self.canceled

    def __str__(self):
        return (f"PD:{self.pending} R:{self.running} CD:{self.successful}"
                f" F:{self.failed}")

    def __format__(self, spec):
        return str(self).__format__(spec)


class _Counts:
    def __init__(self, rset):
        self.nnodes = rset.count("nodes")
        self.ncores = rset.count("cores")
        self.ngpus = rset.count("gpus")


class _Resources:
    def __init__(self, sched_list):
        for state in ("all", "up", "down", "allocated", "free"):
            setattr(self, state, _Counts(getattr(sched_list, state)))


class InstanceInfo:
    """The ``instance`` of one job.

    :param handle: a connection to the job's instance, or None (not an
        instance, or unreachable): every field is then empty.
    """

    def __init__(self, handle=None):
        self.initialized = False
        if handle is None:
            return
        from fluxd.resource._schedlist import SchedResourceList
        try:
            self.stats = StatsInfo(handle.rpc("job-list.job-stats", {}))
            self.resources = _Resources(SchedResourceList(
                handle.rpc("resource.sched-status", {}, nodeid=0)))
        except FluxError:
            return
        self.initialized = True

    def __getattr__(self, attr):
        # only reached for what __init__ did not set: an uninitialized
        # instance's fields, all empty
        if attr.startswith("__"):
            raise AttributeError(attr)
        return EMPTY

    @property
    def utilization(self):
        """Allocated cores / all cores ("" when unknown)."""
        if self.initialized and self.resources.all.ncores:
            return self.resources.allocated.ncores / self.resources.all.ncores
        return ""

    @property
    def gpu_utilization(self):
        """Allocated GPUs / all GPUs ("" when there are none)."""
        if self.initialized and self.resources.all.ngpus:
            return self.resources.allocated.ngpus / self.resources.all.ngpus
        return ""

    @property
    def progress(self):
        """Inactive jobs / all jobs ("" when there are none)."""
        if self.initialized and self.stats.total:
            return self.stats.inactive / self.stats.total
        return ""


def attach(job, connect):
    """Give ``job`` (a :class:`fluxd.cli._jobinfo.JobInfo`) its
    ``instance``: asked when it is a running instance, else empty."""
    handle = None
    if job.uri and job.state_single == "R":
        try:
            handle = connect(job.uri)
        except FluxError:
            handle = None
    try:
        job._values["instance"] = InstanceInfo(handle)
    finally:
        if handle is not None:
            handle.close()
    return job
