# -*- test-case-name: tests.unit.job.test_jobtap_builtins -*-
"""``.priority-default``: a job's priority is its urgency (RFC 30).

Held and expedited jobs never reach it: the host gives them the minimum
and the maximum priority.
"""


def _priority(p, topic, args):
    return {"priority": args["urgency"]}


def plugin_init(p):
    """Register ``job.state.priority`` and ``job.priority.get``."""
    p.register("job.state.priority", _priority)
    p.register("job.priority.get", _priority)
