# -*- test-case-name: tests.unit.sched.test_firstfit -*-
"""A jobspec as a scheduling request.

flux-core's sched-simple reads a jobspec with the ``jj`` reader (node,
slot, core and GPU counts, ``exclusive``, ``duration``) and takes
``attributes.system.constraints`` as is; :func:`request_of` does the
same, with the reader's messages (``Unable to determine slot size``...)
for jobspecs it cannot use.
"""

from fluxd.formats.jobspec import counts
from fluxd.sched.policy import InvalidRequest, Request

__all__ = ["request_of"]


def request_of(jobspec):
    """Summarise a jobspec.

    :returns: a :class:`~fluxd.sched.policy.Request`.
    :raises InvalidRequest: the jobspec cannot be read; the message says
        why (``level 1: create_count: integer count must be >= 1``...).
    """
    try:
        jj = counts(jobspec)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidRequest(str(exc)) from None
    constraint = None
    try:
        constraint = jobspec["attributes"]["system"].get("constraints")
    except (KeyError, TypeError, AttributeError):
        constraint = None
    return Request(jj.nslots, jj.slot_size, nnodes=jj.nnodes,
                   slot_gpus=jj.slot_gpus, exclusive=jj.exclusive,
                   constraint=constraint, duration=jj.duration)
