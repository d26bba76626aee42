# -*- test-case-name: tests.integration.test_jobs_restart -*-
"""Rebuild the job manager's jobs from the KVS at start.

Every ``job.XXXX.XXXX.XXXX.XXXX`` directory holds a job; its eventlog is
applied again to a fresh :class:`~fluxd.job.jobs.Job` (the same
:func:`~fluxd.job.jobs.apply` the live path uses), and each active job
takes up where it stopped: NEW is validated, DEPEND and PRIORITY move on,
SCHED gets ``flux-restart`` (and is reprioritized and queued again),
RUN is reattached to its exec service, CLEANUP finishes its cleanup.
``checkpoint.job-manager`` gives the highest job id ever issued (jobs
may have been purged since) and the queue's flags.
"""

import json

from twisted.logger import Logger

from fluxd.errors import FluxError, NotFound
from fluxd.formats import eventlog
from fluxd.job import jobs as J
from fluxd.job.jobs import EPILOG_READY
from fluxd.storage import treeobj as T
from fluxd.storage.lookup import READDIR

__all__ = ["restart"]

log = Logger(namespace="fluxd.job.manager")


async def _value(kvs, key, cred):
    obj = await kvs.lookup("primary", key, cred=cred)
    return T.decode_val(obj)


async def _names(kvs, key, cred):
    try:
        obj = await kvs.lookup("primary", key, READDIR, cred=cred)
    except NotFound:
        return []
    return sorted(obj["data"])


async def _job_dirs(kvs, cred):
    """Every job id with a directory under ``job``."""
    ids = []
    for a in await _names(kvs, "job", cred):
        for b in await _names(kvs, f"job.{a}", cred):
            for c in await _names(kvs, f"job.{a}.{b}", cred):
                for d in await _names(kvs, f"job.{a}.{b}.{c}", cred):
                    try:
                        ids.append(int(a + b + c + d, 16))
                    except ValueError:
                        log.warn("job.{path}: not a job directory",
                                 path=f"{a}.{b}.{c}.{d}")
    return ids


async def _load_job(kvs, jobid, key, cred):
    text = (await _value(kvs, f"{key}.eventlog", cred)).decode("utf-8")
    entries = eventlog.decode(text)
    if not entries or entries[0]["name"] != "submit":
        raise FluxError(f"{key}.eventlog does not begin with submit")
    first = entries[0]
    ctx = first.get("context") or {}
    job = J.Job(jobid, ctx.get("userid", 0), ctx.get("urgency", 16),
                first["timestamp"], ctx.get("flags", 0))
    for entry in entries:
        J.apply(job, entry)
    try:
        job.set_jobspec(json.loads(await _value(kvs, f"{key}.jobspec", cred)))
    except (NotFound, ValueError):
        log.warn("job {id}: jobspec unreadable", id=jobid)
    if job.has_resources or job.t_run:
        try:
            R = json.loads(await _value(kvs, f"{key}.R", cred))
        except (NotFound, ValueError):
            R = None
        if R is not None:
            from fluxd.job.manager import _summarize_R
            _summarize_R(job, R)
            if job.has_resources:
                job.R = R
    # the updates replayed above found no jobspec or R loaded yet
    for entry in entries:
        if entry["name"] in ("jobspec-update", "resource-update"):
            J.apply_update(job, entry["name"], entry.get("context") or {})
    if job.state == J.INACTIVE:
        job.jobspec = None
        job.R = None
    return job, entries


async def restart(manager):
    """Load the checkpoint and every job; resume the active ones."""
    from fluxd.job.manager import CHECKPOINT_KEY, job_key
    kvs, cred = manager.kvs, manager.router.instance_cred
    saved = {}
    try:
        saved = json.loads(await _value(kvs, CHECKPOINT_KEY, cred))
    except NotFound:
        pass
    except ValueError:
        log.warn("{key} is not JSON: ignored", key=CHECKPOINT_KEY)
    manager.max_jobid = max(manager.max_jobid, saved.get("max_jobid", 0))
    manager.queues.restore(saved.get("queues"), bool(manager._config.get(
        "job-manager.stop-queues-on-restart", False)))
    resumed = []
    for jobid in await _job_dirs(kvs, cred):
        key = job_key(jobid)
        try:
            job, entries = await _load_job(kvs, jobid, key, cred)
        except (FluxError, KeyError, TypeError, ValueError) as exc:
            log.error("job {id}: not restored: {why}", id=jobid, why=exc)
            continue
        manager._jobs[jobid] = job
        manager.max_jobid = max(manager.max_jobid, jobid)
        if job.state == J.INACTIVE:
            manager._inactive.append(job)
        else:
            resumed.append((job, entries))
        if job.waitable and not job.waited:
            manager._unwaited.append(jobid)
    manager._inactive = type(manager._inactive)(
        sorted(manager._inactive, key=lambda j: j.t_inactive))
    for job in manager._inactive:
        manager.jobtap.on_inactive_add(job)
    for job, entries in sorted(resumed, key=lambda je: je[0].id):
        _resume(manager, job, entries)
    if manager._jobs:
        log.info("job-manager: restart: {n} jobs, {a} active",
                 n=len(manager._jobs), a=len(resumed))


def _lost_perilogs(manager, job, entries):
    """Prologs and epilogs started and not finished died with the broker
    that ran them: each is finished now with SIGKILL as its status (a
    lost prolog fails the job first); an epilog is not run again.

    :returns: True when there were some (the job has moved on then).
    """
    open_ = []
    for entry in entries:
        name, ctx = entry["name"], entry.get("context") or {}
        if name in ("prolog-start", "epilog-start"):
            open_.append((name[:-6], ctx.get("description")))
            if name == "epilog-start":
                job.ext()[EPILOG_READY] = True
        elif name in ("prolog-finish", "epilog-finish"):
            key = (name[:-7], ctx.get("description"))
            if key in open_:
                open_.remove(key)
    for kind, description in open_:
        if kind == "prolog" and job.state == J.RUN:
            manager.raise_exception(job, "prolog", 0, "prolog lost when"
                                    " the job manager restarted")
        manager.post(job, f"{kind}-finish", {"description": description,
                                             "status": 9})
    return bool(open_)


def _resume(manager, job, entries):
    if _lost_perilogs(manager, job, entries):
        return
    state = job.state
    if state == J.NEW:
        manager.post(job, "validate")
    elif state == J.DEPEND:
        manager.jobtap.restart_depend(job)
        if job.state == J.DEPEND:
            manager._act(job, J.DEPEND)
    elif state == J.PRIORITY:
        manager._act(job, J.PRIORITY)
    elif state == J.SCHED:
        manager.post(job, "flux-restart")
    elif state == J.RUN:
        manager.exec.start(job, reattach=True)
    elif state == J.CLEANUP:
        names = {e["name"] for e in entries}
        if "start" in names and "finish" not in names and job.R is not None:
            manager.exec.start(job, reattach=True)
        else:
            manager._cleanup(job)
