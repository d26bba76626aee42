# -*- test-case-name: tests.unit.job.test_jobtap_alloc -*-
"""``alloc-check`` (``flux jobtap load alloc-check.so``): resources are
never allocated twice.  Each job's R is added to the plugin's allocated
set at ``alloc`` and taken out at ``free`` (or a ``scheduler-restart``
exception, whose resources the job manager drops without a ``free``); a
job granted resources already allocated gets a fatal ``alloc-check``
exception ``resources already allocated``.  Jobs that held resources
before the plugin was loaded are not counted, as in flux-core."""

import json

from fluxd.formats.rv1 import RError, Rv1


def _run(p, topic, args):
    """Entered RUN: the ``alloc`` was just posted with the job's R."""
    if args["R"] is None:
        return
    try:
        R = Rv1.decode(json.dumps(args["R"]))
    except (RError, TypeError, ValueError) as exc:
        p.log.error("alloc-check: job {id}: R unreadable: {why}",
                    id=args["id"], why=exc)
        return
    allocated = p.data.get("allocated")
    p.job_subscribe(args["id"])
    if allocated is not None and allocated.overlaps(R):
        p.raise_exception(args["id"], "alloc-check", 0,
                          "resources already allocated")
        return
    p.set_aux(args["id"], "R", R)
    p.data["allocated"] = R.copy() if allocated is None \
        else allocated.union(R)


def _release(p, topic, args):
    if topic == "job.event.exception":
        context = args["entry"].get("context") or {}
        if context.get("severity") != 0 or \
                context.get("type") != "scheduler-restart":
            return
    R = p.aux(args["id"], "R")
    if R is not None:
        p.set_aux(args["id"], "R", None)
        p.data["allocated"] = p.data["allocated"].diff(R)
    if topic == "job.event.free":
        p.job_unsubscribe(args["id"])


def plugin_init(p):
    """Register ``job.state.run``, ``job.event.free`` and
    ``job.event.exception``."""
    p.register("job.state.run", _run)
    p.register("job.event.free", _release)
    p.register("job.event.exception", _release)
