# -*- test-case-name: tests.unit.job.test_update -*-
"""``.update-queue``: allows ``job.update.attributes.system.queue``
(``flux update ID queue=NAME``) for a pending job, with flux-core's
messages: the new queue must exist and be enabled, and the job's
constraints must be exactly its current queue's ``requires`` (they are
replaced by the new queue's, an additional update); the scheduler is
asked whether the job is feasible there, and the ``job.validate`` plugins
check the new queue's limits."""

from fluxd.errors import InvalidArgument
from fluxd.job import jobs as J
from fluxd.job.jobtap import JobtapError


def _constraints(requires):
    return {"properties": list(requires)} if requires else {}


def _update(p, topic, args):
    name = args["value"]
    if not isinstance(name, str) or not name:
        raise JobtapError("queue must be a string")
    if args["state"] & J.RUNNING:
        raise JobtapError("update of queue for running job not supported")
    system = ((args.get("jobspec") or {}).get("attributes") or {}).get(
        "system") or {}
    current = system.get("queue")
    if current == name:
        raise JobtapError(f"job queue is already set to {name}")
    queues = p.host.manager.queues
    try:
        new = queues.lookup(name)
        old = queues.lookup(current)
    except InvalidArgument as exc:
        raise JobtapError(str(exc)) from None
    if not new.enable:
        raise JobtapError(f"queue {name} is currently disabled")
    if (system.get("constraints") or {}) != _constraints(old.requires):
        raise JobtapError("job appears to have non-queue constraints,"
                          f" unable to update queue to {name}")
    return {"feasibility": 1, "updates": {
        "attributes.system.constraints": _constraints(new.requires)}}


def plugin_init(p):
    """Register ``job.update.attributes.system.queue``."""
    p.register("job.update.attributes.system.queue", _update)
