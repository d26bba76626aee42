# -*- test-case-name: tests.unit.job.test_jobtap_limits -*-
"""``.validate-duration``: in an instance that expires (one running as a
job of another), a job may not ask for more time than the instance has
left: ``job duration (2h) exceeds remaining instance lifetime (1.5h)``.
A standalone instance has no expiration and accepts every duration."""

from fluxd.job.jobtap import JobtapError
from fluxd.job.limits import check_lifetime


def _validate(p, topic, args):
    expiration = p.expiration()
    if expiration <= 0:
        return
    message = check_lifetime(args["jobspec"], expiration,
                             p.clock.seconds())
    if message is not None:
        raise JobtapError(message)


def plugin_init(p):
    """Register ``job.validate``."""
    p.register("job.validate", _validate)
