# -*- test-case-name: tests.unit.sched.test_request -*-
"""A jobspec as a scheduling request.

flux-core's sched-simple reads a jobspec with the ``jj`` reader (node,
slot, core and GPU counts, ``exclusive``, ``duration``) and takes
``attributes.system.constraints`` as is; :func:`request_of` does the
same, with the reader's messages (``Unable to determine slot size``...)
for jobspecs it cannot use.

Every alloc request goes through here, so the shapes ``flux submit``
builds (``slot>core[,gpu]`` and ``node>slot>core[,gpu]`` with integer
counts) are read directly; anything else goes to the full reader
(:func:`fluxd.formats.jobspec.counts`), which gives the same answer for
those shapes (``tests/unit/sched/test_request.py`` holds them to it).
"""

from fluxd.formats.jobspec import counts
from fluxd.sched.policy import InvalidRequest, Request

__all__ = ["request_of"]

_VERTEX_KEYS = frozenset({"type", "count", "with", "label", "exclusive",
                          "unit", "id"})


def _count(vertex, minimum=1):
    value = vertex.get("count")
    if type(value) is not int or value < minimum or \
            not _VERTEX_KEYS.issuperset(vertex):
        return None
    excl = vertex.get("exclusive", False)
    return value if type(excl) is bool else None


def _fast(jobspec):
    """``(nnodes, nslots, slot_size, slot_gpus, exclusive, duration)`` for
    the common shapes, or None."""
    if type(jobspec) is not dict or jobspec.get("version") != 1:
        return None
    resources = jobspec.get("resources")
    if type(resources) is not list or len(resources) != 1 \
            or type(resources[0]) is not dict:
        return None
    top, nnodes, exclusive = resources[0], 0, False
    if top.get("type") == "node":
        nnodes = _count(top)
        below = top.get("with")
        if nnodes is None or type(below) is not list or len(below) != 1 \
                or type(below[0]) is not dict:
            return None
        exclusive = top.get("exclusive", False)
        top = below[0]
    if top.get("type") != "slot":
        return None
    nslots = _count(top)
    children = top.get("with")
    if nslots is None or type(children) is not list \
            or not 1 <= len(children) <= 2:
        return None
    size = gpus = None
    for child in children:
        if type(child) is not dict or "with" in child:
            return None
        if child.get("type") == "core" and size is None:
            size = _count(child)
            if size is None:
                return None
        elif child.get("type") == "gpu" and gpus is None:
            gpus = _count(child, 0)
            if gpus is None:
                return None
        else:
            return None
    if size is None:
        return None
    try:
        duration = jobspec["attributes"]["system"]["duration"]
    except (KeyError, TypeError):
        return None
    if type(duration) not in (int, float):
        return None
    return (nnodes, nslots * (nnodes or 1), size, gpus or 0, exclusive,
            float(duration))


def request_of(jobspec):
    """Summarise a jobspec.

    :returns: a :class:`~fluxd.sched.policy.Request`.
    :raises InvalidRequest: the jobspec cannot be read; the message says
        why (``level 1: create_count: integer count must be >= 1``...).
    """
    fast = _fast(jobspec)
    if fast is not None:
        nnodes, nslots, size, gpus, exclusive, duration = fast
    else:
        try:
            jj = counts(jobspec)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidRequest(str(exc)) from None
        nnodes, nslots, size, gpus = (jj.nnodes, jj.nslots, jj.slot_size,
                                      jj.slot_gpus)
        exclusive, duration = jj.exclusive, jj.duration
    try:
        constraint = jobspec["attributes"]["system"].get("constraints")
    except (KeyError, TypeError, AttributeError):
        constraint = None
    return Request(nslots, size, nnodes=nnodes, slot_gpus=gpus,
                   exclusive=exclusive, constraint=constraint,
                   duration=duration)
