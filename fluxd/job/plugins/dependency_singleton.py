# -*- test-case-name: tests.unit.job.test_jobtap_more -*-
"""``.dependency-singleton``: ``flux submit --dependency=singleton``.

A job with this dependency waits (``singleton``) while its user has any
other active job of the same explicit name (``attributes.system.job.
name``); when every active job of that user and name is itself a waiting
singleton, the oldest is released.  A singleton without a job name is
refused (``singleton jobs require a job name``), as flux-core does.

The active jobs are counted from the job manager's table when a waiting
singleton's user and name may be released, so the plugin adds nothing to
jobs that do not use it.  At restart the dependency callback runs again
for each waiting job and the waiting list is rebuilt.
"""

from fluxd.job import jobs as J
from fluxd.job.jobtap import JobtapError

DESCRIPTION = "singleton"


def _key(args):
    system = ((args.get("jobspec") or {}).get("attributes") or {}).get(
        "system") or {}
    job = system.get("job")
    name = job.get("name") if isinstance(job, dict) else None
    return (args["userid"], name) if isinstance(name, str) else None


def _others(p, key, jobid=None):
    """Active jobs of ``key`` other than ``jobid`` and the singletons
    still waiting."""
    count = 0
    for job in p.host.manager.jobs():
        if job.state == J.INACTIVE or job.id == jobid \
                or job.userid != key[0] or job.jobspec is None \
                or DESCRIPTION in (job.dependencies or ()):
            continue
        if _key({"userid": job.userid, "jobspec": job.jobspec}) == key:
            count += 1
    return count


def _dependency(p, topic, args):
    key = _key(args)
    if key is None:
        raise JobtapError("singleton jobs require a job name")
    jobid = args["id"]
    waiting = p.data.setdefault(key, [])
    if not waiting and not _others(p, key, jobid):
        if args.get("restart"):   # its dependency-add is in the eventlog
            p.job_dependency_remove(jobid, DESCRIPTION)
        if not waiting:
            p.data.pop(key, None)
        return
    p.job_dependency_add(jobid, DESCRIPTION)
    if jobid not in waiting:
        waiting.append(jobid)


def _inactive(p, topic, args):
    """A job ended: release the oldest waiting singleton of each of its
    user's names that has no other active job left."""
    if not p.data:
        return
    for key in [k for k in p.data if k[0] == args["userid"]]:
        waiting = p.data[key]
        if args["id"] in waiting:
            waiting.remove(args["id"])
        if waiting and not _others(p, key):
            first = waiting.pop(0)
            try:
                p.job_dependency_remove(first, DESCRIPTION)
            except JobtapError:
                p.raise_exception(first, "dependency", 0,
                                  "failed to remove singleton dependency")
        if not waiting:
            del p.data[key]


def _query(p, topic, args):
    return {"singletons": {f"{uid}:{name}": list(ids)
                           for (uid, name), ids in p.data.items()}}


def plugin_init(p):
    """Register ``job.dependency.singleton``, ``job.state.inactive``."""
    p.register("job.dependency.singleton", _dependency)
    p.register("job.state.inactive", _inactive)
    p.register("plugin.query", _query)
