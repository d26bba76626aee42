# -*- test-case-name: tests.unit.job.test_jobtap_builtins -*-
"""``.begin-time``: the ``begin-time`` dependency scheme (``flux submit
--begin-time``): the job stays in DEPEND until the time given (seconds
since the epoch) has come."""

from fluxd.job.jobtap import JobtapError


def _dependency(p, topic, args):
    value = args["dependency"].get("value")
    try:
        when = float(value)
    except (TypeError, ValueError):
        raise JobtapError(f"begin-time: invalid value: {value}") from None
    jobid = args["id"]
    description = f"begin-time={when:.3f}"
    p.job_dependency_add(jobid, description)
    delay = when - p.clock.seconds()
    if delay <= 0:
        p.job_dependency_remove(jobid, description)
        return
    call = p.clock.callLater(delay, _release, p, jobid, description)
    p.set_aux(jobid, "timer", call)


def _release(p, jobid, description):
    p.set_aux(jobid, "timer", None)
    job = p.host.manager.get(jobid)
    if job is not None and description in (job.dependencies or ()):
        p.job_dependency_remove(jobid, description)


def _inactive(p, topic, args):
    call = p.aux(args["id"], "timer")
    if call is not None:
        if call.active():
            call.cancel()
        p.set_aux(args["id"], "timer", None)


def plugin_init(p):
    """Register ``job.dependency.begin-time`` and ``job.state.inactive``."""
    p.register("job.dependency.begin-time", _dependency)
    p.register("job.state.inactive", _inactive)
