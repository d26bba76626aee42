# -*- test-case-name: tests.unit.job.test_jobtap_limits -*-
"""What ``.limit-job-size`` and ``.limit-duration`` share: each holds the
part of :class:`fluxd.job.limits.PolicyLimits` it checks, rebuilt on
``conf.update``, and refuses a job in ``job.validate``.  Copies of one J
(``flux submit --cc``) share one jobspec object, never changed (an update
makes a new one): the outcome for the last jobspec seen is reused."""

from fluxd.job import validate
from fluxd.job._jobtapapi import JobtapError
from fluxd.job.limits import PolicyLimits

__all__ = ["register"]


def register(p, kinds):
    """Register the callbacks of a limit plugin checking ``kinds``."""
    p.data["limits"] = PolicyLimits({}, kinds)

    def conf_update(p, topic, args):
        try:
            p.data["limits"] = PolicyLimits(args["conf"], kinds)
        except ValueError as exc:
            raise JobtapError(str(exc)) from None
        p.data["last"] = None

    def check(p, topic, args):
        limits = p.data["limits"]
        if not limits.active:
            return
        jobspec = args["jobspec"]
        last = p.data.get("last")
        if last is not None and last[0] is jobspec:
            message = last[1]     # a copy of the last job (--cc)
        else:
            try:
                message = limits.check(jobspec)
            except validate.ERRORS as exc:
                message = str(exc)
            p.data["last"] = (jobspec, message)
        if message is not None:
            raise JobtapError(message)

    p.register("conf.update", conf_update)
    p.register("job.validate", check)
