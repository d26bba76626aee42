# -*- test-case-name: tests.unit.job.test_jobtap_builtins -*-
"""``.dependency-after``: the ``after*`` dependency schemes (RFC 26).

``afterstart`` (or ``after``) releases a job once its target started,
``afterany`` once the target is inactive, ``afterok`` once it completed,
``afternotok`` once it ended otherwise.  The dependency is described as
flux-core does (``after-success=ID``...).  A target that already ended
resolves it at once or rejects the job; a target that ends the wrong way
raises a fatal ``dependency`` exception on the waiting job; a target that
never ran satisfies only ``afterany``.  Messages are flux-core's.
"""

from fluxd.formats import fluid
from fluxd.job import jobs as J
from fluxd.job.jobtap import JobtapError

START, ANY, SUCCESS, FAILURE = 1, 2, 4, 8
_TYPES = {"after": START, "afterstart": START, "afterany": ANY,
          "afterok": SUCCESS, "afternotok": FAILURE}
_NAMES = {START: "after-start", ANY: "after-finish",
          SUCCESS: "after-success", FAILURE: "after-failure"}


def _dependency(p, topic, args):
    dep = args["dependency"]
    scheme, value = dep.get("scheme"), dep.get("value")
    kind = _TYPES.get(scheme)
    if kind is None:
        raise JobtapError(f"invalid dependency scheme: {scheme}")
    if not isinstance(value, str):
        raise JobtapError(f"dependency: after: {scheme}: value missing")
    try:
        target_id = fluid.decode(value)
    except ValueError:
        raise JobtapError(f'dependency: {scheme}: "{value}" is not a valid'
                          ' jobid') from None
    jobid = args["id"]
    target = p.host.manager.get(target_id)
    if target is None or target_id == jobid:
        raise JobtapError(f"dependency: {scheme}: id {value}: job not found")
    if target.userid != args["userid"]:
        raise JobtapError(f"{scheme}: Permission denied for job {value}")
    description = f"{_NAMES[kind]}={value}"
    p.job_dependency_add(jobid, description)
    if target.state == J.INACTIVE:
        _inactive_target(p, kind, target, value)
        p.job_dependency_remove(jobid, description)
        return
    if kind == START and target.start_sent:
        p.job_dependency_remove(jobid, description)
        return
    waiting = p.aux(target_id, "after_list")
    if waiting is None:
        waiting = []
        p.set_aux(target_id, "after_list", waiting)
    waiting.append((kind, jobid, description))
    refs = p.aux(jobid, "refs")
    if refs is None:
        refs = []
        p.set_aux(jobid, "refs", refs)
    refs.append(target_id)
    if kind == START:
        p.job_subscribe(target_id)


def _inactive_target(p, kind, target, value):
    """Reject the job when an inactive target cannot satisfy ``kind``."""
    if kind != ANY and not target.t_run:
        raise JobtapError(f"dependency: after: {value} never started")
    if kind == START and not target.start_sent:
        raise JobtapError(f"dependency: after: {value} never started")
    if kind == SUCCESS and target.result != J.COMPLETED:
        raise JobtapError(f"dependency: afterok: job {value} failed or was"
                          " canceled")
    if kind == FAILURE and target.result == J.COMPLETED:
        raise JobtapError(f"dependency: afternotok: job {value} succeeded")


def _release(p, waiting, mask):
    """Remove the dependencies of ``waiting`` whose type is in ``mask``;
    returns those left."""
    left = []
    for kind, depid, description in waiting:
        if not kind & mask:
            left.append((kind, depid, description))
            continue
        try:
            p.job_dependency_remove(depid, description)
        except JobtapError:
            _raise(p, depid, f"Failed to remove dependency {description}")
    return left


def _raise(p, depid, note):
    job = p.host.manager.get(depid)
    if job is not None and job.state != J.INACTIVE:
        p.raise_exception(depid, "dependency", 0, note)


def _start(p, topic, args):
    waiting = p.aux(args["id"], "after_list")
    if waiting:
        p.set_aux(args["id"], "after_list",
                  _release(p, waiting, START) or None)
    p.job_unsubscribe(args["id"])


def _inactive(p, topic, args):
    jobid = args["id"]
    waiting = p.aux(jobid, "after_list")
    if waiting:
        p.set_aux(jobid, "after_list", None)
        if not p.host.manager.get(jobid).t_run:
            left, why = _release(p, waiting, ANY), "job never started"
        else:
            mask = ANY | (SUCCESS if args["result"] == J.COMPLETED
                          else FAILURE)
            left, why = _release(p, waiting, mask), "can never be satisfied"
        for _kind, depid, description in left:
            _raise(p, depid, f"dependency {description} {why}")
    _forget_refs(p, jobid)


def _forget_refs(p, jobid):
    """A job leaving DEPEND other than by ``depend``: drop its entries
    from its targets' lists."""
    refs = p.aux(jobid, "refs")
    if not refs:
        return
    p.set_aux(jobid, "refs", None)
    for target_id in refs:
        waiting = p.aux(target_id, "after_list")
        if waiting:
            waiting[:] = [w for w in waiting if w[1] != jobid]


def _priority(p, topic, args):
    p.set_aux(args["id"], "refs", None)


def _query(p, topic, args):
    deps = []
    for job in p.host.manager.jobs():
        for kind, depid, description in p.aux(job.id, "after_list") or ():
            deps.append({"id": job.id, "depid": depid,
                         "type": _NAMES[kind], "description": description})
    return {"dependencies": deps}


def plugin_init(p):
    """Register the ``after*`` schemes and the state callbacks."""
    for scheme in _TYPES:
        p.register(f"job.dependency.{scheme}", _dependency)
    p.register("job.state.priority", _priority)
    p.register("job.state.inactive", _inactive)
    p.register("job.event.start", _start)
    p.register("plugin.query", _query)
