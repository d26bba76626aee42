# -*- test-case-name: tests.unit.job.test_update -*-
"""``.update-duration``: allows ``job.update.attributes.system.duration``
(``flux update ID duration=...``).

A duration is a number >= 0 (0: unlimited).  A pending job's duration
may be changed by its owner, re-validated by the ``job.validate`` plugins
(``.limit-duration`` keeps it within the policy limits); the instance
owner's change skips that validation (``owner-allow-any``, default 1;
``flux jobtap load .update-duration owner-allow-any=0`` turns it off).
A running job's duration is the instance owner's alone to change (its
expiration moves: :mod:`fluxd.job._update`).
"""

from fluxd.job import jobs as J
from fluxd.job.jobtap import JobtapError
from fluxd.message.types import ROLE_OWNER


def _update(p, topic, args):
    value = args["value"]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise JobtapError("duration must be a number")
    if value < 0:
        raise JobtapError("duration must not be negative")
    owner = bool(args["cred"]["rolemask"] & ROLE_OWNER)
    if args["state"] & J.RUNNING and not owner:
        raise JobtapError("update of duration for running job not"
                          " supported")
    if owner and p.conf.get("owner-allow-any", 1):
        return {"validated": 1}
    return None


def plugin_init(p):
    """Register ``job.update.attributes.system.duration``."""
    p.register("job.update.attributes.system.duration", _update)
