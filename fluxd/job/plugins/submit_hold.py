# -*- test-case-name: tests.unit.job.test_jobtap_builtins -*-
"""``.submit-hold``: every new job is held (urgency 0) until released
with ``flux job urgency ID default``."""

from fluxd.job import jobs as J


def _hold(p, topic, args):
    if args["urgency"] != J.URGENCY_HOLD:
        p.set_urgency(args["id"], J.URGENCY_HOLD)


def plugin_init(p):
    """Register ``job.new``."""
    p.register("job.new", _hold)
