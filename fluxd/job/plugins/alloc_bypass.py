# -*- test-case-name: tests.unit.job.test_jobtap_alloc -*-
"""``alloc-bypass`` (``flux jobtap load alloc-bypass.so``): a job whose
jobspec carries ``attributes.system.alloc-bypass.R`` gets that R without
the scheduler (instance owner only; ``Guest user cannot use alloc
bypass``).  The R is checked in ``job.validate`` (``alloc-bypass:
invalid R: ...``); entering SCHED the job's R is written to the KVS, the
job flagged ``alloc-bypass`` (``set-flags``, so a restart and the
scheduler's hello know it) and ``alloc {bypass: true}`` posted.  The job
manager posts its ``free`` without telling the scheduler, which never had
the resources."""

import json

from fluxd.formats.rv1 import RError, Rv1
from fluxd.job.jobtap import JobtapError

FLAG = "alloc-bypass"


def _bypass_R(jobspec):
    system = ((jobspec or {}).get("attributes") or {}).get("system") or {}
    bypass = system.get("alloc-bypass")
    return bypass.get("R") if isinstance(bypass, dict) else None


def _validate(p, topic, args):
    R = _bypass_R(args["jobspec"])
    if R is None:
        return
    if args["userid"] != p.host.manager.router.instance_cred.userid:
        raise JobtapError("Guest user cannot use alloc bypass")
    try:
        Rv1.decode(json.dumps(R))
    except (RError, TypeError, ValueError) as exc:
        raise JobtapError(f"alloc-bypass: invalid R: {exc}") from None


def _sched(p, topic, args):
    R = _bypass_R(args["jobspec"])
    if R is None:
        return
    from fluxd.job.manager import _summarize_R, job_key
    manager = p.host.manager
    job = p.job(args["id"])
    manager.batcher.put_value(f"{job_key(job.id)}.R", json.dumps(
        R, separators=(",", ":")).encode())
    manager.post(job, "set-flags", {"flags": [FLAG]})
    job.R = R
    _summarize_R(job, R)
    manager.post(job, "alloc", {"bypass": True})


def plugin_init(p):
    """Register ``job.validate`` and ``job.state.sched``."""
    p.register("job.validate", _validate)
    p.register("job.state.sched", _sched)
