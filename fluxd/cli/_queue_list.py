# -*- test-case-name: tests.unit.cli.test_queue_list -*-
"""``flux queue list``: each queue's flags, defaults, limits and resources
(spec/cli.md section 2).

A :class:`QueueInfo` per queue (the anonymous queue alone when none is
named) is built from the instance config (``config.get``: ``[policy]``
and ``[queues.NAME].policy``, per key, the queue's winning), the job
manager's ``queue-status`` and the scheduler's resources
(``resource.sched-status``, narrowed to the nodes having the queue's
``requires`` properties).  Unset limits print as ``inf`` (time) and
``0-inf`` (ranges).
"""

import math

from fluxd.errors import InvalidArgument
from fluxd.formats.fsd import parse_fsd

__all__ = ["FORMATS", "HEADINGS", "QueueInfo", "queue_infos"]

_COMMON = "?:{queuem:<8.8} ?:{parent:<8.8} {enabled:>2} {started:>2} "
FORMATS = {
    "default": {
        "description": "Default flux-queue list format string",
        "format": _COMMON + (
            "{defaults.timelimit!F:>8} {limits.timelimit!F:>8} "
            "{limits.range.effective.nnodes:>10} "
            "{limits.range.effective.ncores:>10} "
            "{limits.range.effective.ngpus:>10}")},
    "policy": {
        "description": "flux-queue list with policy limits only",
        "format": _COMMON + (
            "{defaults.timelimit!F:>8} {limits.timelimit!F:>8} "
            "{limits.range.nnodes:>10} {limits.range.ncores:>10} "
            "{limits.range.ngpus:>10}")},
    "nodes": {
        "description": "Show queue status plus all/up/allocated/free nodes",
        "format": _COMMON + (
            "{resources.all.nnodes:>6} {resources.up.nnodes:>10} "
            "{resources.down.nnodes:>10} {resources.allocated.nnodes:>11} "
            "{resources.free.nnodes:>10}")},
}

HEADINGS = {
    "queue": "QUEUE", "queuem": "QUEUE", "parent": "PARENT",
    "submission": "SUBMIT", "scheduling": "SCHED",
    "enabled": "EN", "started": "ST",
    "enabled.ascii": "EN", "started.ascii": "ST",
    "defaults.timelimit": "TDEFAULT", "limits.timelimit": "TLIMIT",
    "limits.range.nnodes": "NNODES", "limits.range.ncores": "NCORES",
    "limits.range.ngpus": "NGPUS",
    "limits.range.effective.nnodes": "NNODES",
    "limits.range.effective.ncores": "NCORES",
    "limits.range.effective.ngpus": "NGPUS",
    "limits.min.nnodes": "MINNODES", "limits.max.nnodes": "MAXNODES",
    "limits.min.ncores": "MINCORES", "limits.max.ncores": "MAXCORES",
    "limits.min.ngpus": "MINGPUS", "limits.max.ngpus": "MAXGPUS",
}
for _item in ("nnodes", "ncores", "ngpus"):
    for _state in ("all", "free", "allocated", "up", "down"):
        HEADINGS[f"resources.{_state}.{_item}"] = _item[1:].upper() + (
            "" if _state == "all" else f":{_state[:5].upper()}")

_ITEMS = ("nnodes", "ncores", "ngpus")


class _Flag:
    """A ✔/✗ mark with its ascii form (``enabled.ascii``)."""

    def __init__(self, mark, ascii):
        self.mark, self.ascii = mark, ascii

    def __format__(self, spec):
        return format(self.mark, spec)

    def __str__(self):
        return self.mark


class _Obj:
    """Attribute access to a dict of values."""

    def __init__(self, **values):
        self.__dict__.update(values)


def _policy_get(policy, dotted):
    node = policy
    for seg in dotted.split("."):
        if not isinstance(node, dict) or seg not in node:
            return None
        node = node[seg]
    return node


def _duration(value):
    """An FSD limit in seconds; unset or ``0`` is infinite."""
    if value is None:
        return math.inf
    seconds = parse_fsd(value) if isinstance(value, str) else float(value)
    return math.inf if seconds == 0 else seconds


def _size(value, unset):
    if value is None or value == -1:
        return unset
    return value


def _fmt(value):
    return "inf" if value == math.inf else str(value)


class QueueInfo:
    """One row of ``flux queue list``.

    :param name: the queue (None: the anonymous queue).
    :param config: the instance config dict.
    :param status: the queue's ``queue-status`` answer.
    :param counts: ``{state: {nnodes, ncores, ngpus}}`` of its resources.
    """

    def __init__(self, name, config, status, counts):
        self.name = name or ""
        queues = config.get("queues") or {}
        entry = queues.get(name) or {} if name else {}
        self.parent = entry.get("parent") or ""
        default = _policy_get(config.get("policy") or {},
                              "jobspec.defaults.system.queue")
        self.is_default = bool(name) and default == name
        self.is_enabled = bool(status.get("enable"))
        self.is_started = bool(status.get("start"))
        self.blocked = status.get("blocked")

        def policy(dotted):
            for table in (entry.get("policy"), config.get("policy")):
                value = _policy_get(table or {}, dotted)
                if value is not None:
                    return value
            return None
        self.defaults = _Obj(timelimit=_duration(
            policy("jobspec.defaults.system.duration")))
        minimum = {k: _size(policy(f"limits.job-size.min.{k}"), 0)
                   for k in _ITEMS}
        maximum = {k: _size(policy(f"limits.job-size.max.{k}"), math.inf)
                   for k in _ITEMS}
        allres = counts.get("all") or {}
        effective = {k: min(maximum[k], allres.get(k, 0)) for k in _ITEMS}
        self.limits = _Obj(
            timelimit=_duration(policy("limits.duration")),
            min=_Obj(**minimum),
            max=_Obj(**{k: _fmt(v) for k, v in maximum.items()}),
            range=_Obj(effective=_Obj(**{
                k: f"{minimum[k]}-{_fmt(effective[k])}" for k in _ITEMS}),
                **{k: f"{minimum[k]}-{_fmt(maximum[k])}" for k in _ITEMS}))
        self.resources = _Obj(**{state: _Obj(**{
            k: (counts.get(state) or {}).get(k, 0) for k in _ITEMS})
            for state in ("all", "up", "down", "allocated", "free")})

    @property
    def queue(self):
        return self.name

    @property
    def queuem(self):
        return f"{self.name}*" if self.name and self.is_default else self.name

    @property
    def _paused(self):
        return self.blocked == "parent"

    @property
    def submission(self):
        return "enabled" if self.is_enabled else "disabled"

    @property
    def scheduling(self):
        if self.is_started:
            return "started"
        return "stopped (parent)" if self._paused else "stopped"

    @property
    def enabled(self):
        return _Flag("✔", "y") if self.is_enabled else _Flag("✗", "n")

    @property
    def started(self):
        if self.is_started:
            return _Flag("✔", "y")
        return _Flag("⏸", "p") if self._paused else _Flag("✗", "n")


def _counts(sched, requires):
    """``{state: {nnodes, ncores, ngpus}}`` of a SchedResourceList narrowed
    to the nodes with every property of ``requires``."""
    result = {}
    for state in ("all", "up", "down", "allocated", "free"):
        rset = sched[state]
        if requires:
            rset = rset.filter_properties(requires)
        result[state] = {"nnodes": len(rset), "ncores": rset.count("core"),
                         "ngpus": rset.count("gpu")}
    return result


def queue_infos(names, config, status_of, sched, only=None):
    """The rows to print.

    :param names: the named queues (``queue-list``), empty for the
        anonymous queue.
    :param config: the instance config dict.
    :param status_of: ``status_of(name)`` -> the ``queue-status`` answer.
    :param sched: the :class:`fluxd.resource._schedlist.SchedResourceList`.
    :param only: ``-q`` queue names, or None.
    :raises InvalidArgument: for a ``-q`` name that is not a queue.
    """
    if only:
        for name in only:
            if name not in names:
                raise InvalidArgument(f"{name}: no such queue")
        names = [n for n in names if n in only]
    queues = config.get("queues") or {}
    rows = []
    for name in names or [None]:
        requires = (queues.get(name) or {}).get("requires") if name else None
        rows.append(QueueInfo(name, config, status_of(name),
                              _counts(sched, requires)))
    return rows
