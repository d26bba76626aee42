# -*- test-case-name: tests.unit.formats.test_jobspec_counts -*-
"""Summarise a jobspec's resource request (flux-core libjob ``jj``/``jjc``).

The simple scheduler does not walk the RFC 14 resource graph; it asks
"how many nodes, how many slots, how many cores and GPUs per slot, whole
nodes or not, for how long".  flux-core answers with two readers:

- ``jj`` (``jj_get_counts()``): integer counts only; the node count is
  multiplied by the counts above the node vertex and the slot count is
  the total over all nodes;
- ``jjc`` (``jjc_get_counts()``): the same walk, but each count is an
  RFC 14 range / RFC 45 string (:class:`~fluxd.formats._rfc45.Count`),
  kept per level, with the multiplier above the node as ``nodefactor``.

:func:`counts` parses like ``jjc`` (so ranges and idset strings are
accepted, with its error texts) and fills the integer fields the way
``jj`` does, using each count's smallest value.  Unknown resource types
are ignored by both readers, and so here.
"""

from dataclasses import dataclass, field

from fluxd.formats._jobspec_json import (
    JanssonError, JobspecError, is_int, unpack,
)
from fluxd.formats._rfc45 import Count, CountError

__all__ = ["JobspecCounts", "counts"]

_VERTEX = [("type", "s", False), ("count", "o", False),
           ("exclusive", "b", True), ("with", "o", True)]


@dataclass
class JobspecCounts:
    """The resource request of one jobspec, as the scheduler sees it.

    Integer fields follow flux-core's ``jj`` reader: ``nnodes`` is the
    total node count (0 when the request names no node), ``nslots`` the
    total slot count, ``slot_size``/``slot_gpus`` the cores/GPUs in one
    slot.  The ``*_count`` fields keep the per-level
    :class:`~fluxd.formats._rfc45.Count` objects of the ``jjc`` reader.
    """

    nnodes: int
    nslots: int
    slot_size: int
    slot_gpus: int
    exclusive: bool
    duration: float
    queue: str | None = None
    cwd: str | None = None
    environment: dict | None = None
    ntasks: int = 0
    nodefactor: int = 0
    nnodes_count: Count | None = field(default=None, repr=False)
    nslots_count: Count | None = field(default=None, repr=False)
    slot_size_count: Count | None = field(default=None, repr=False)
    slot_gpus_count: Count | None = field(default=None, repr=False)

    @property
    def ncores(self):
        """Total cores requested (``nslots * slot_size``)."""
        return self.nslots * self.slot_size

    @property
    def ngpus(self):
        """Total GPUs requested (``nslots * slot_gpus``)."""
        return self.nslots * self.slot_gpus

    def summary(self):
        """:returns: the line flux-core's ``jj-reader`` test tool prints,
            e.g. ``nnodes=4 nslots=4 slot_size=1 slot_gpus=0
            exclusive=false duration=60.0``."""
        return (f"nnodes={self.nnodes} nslots={self.nslots} "
                f"slot_size={self.slot_size} slot_gpus={self.slot_gpus} "
                f"exclusive={'true' if self.exclusive else 'false'} "
                f"duration={self.duration:.1f}")

    def range_summary(self):
        """:returns: the line flux-core's ``jjc-reader`` prints: per-level
            counts in RFC 45 short form, e.g. ``nodefactor=4 nnodes=1
            nslots=4 slot_size=4+ slot_gpus=0 exclusive=false
            duration=3600.0``."""
        def text(count):
            return "0" if count is None else count.encode()
        return (f"nodefactor={self.nodefactor} "
                f"nnodes={text(self.nnodes_count)} "
                f"nslots={text(self.nslots_count)} "
                f"slot_size={text(self.slot_size_count)} "
                f"slot_gpus={text(self.slot_gpus_count)} "
                f"exclusive={'true' if self.exclusive else 'false'} "
                f"duration={self.duration:.1f}")


class _Walk:
    """State of one ``jjc_read_level()`` descent."""

    def __init__(self):
        self.nnodes = self.nslots = self.slot_size = self.slot_gpus = None
        self.nodefactor = 0
        self.exclusive = False
        self.totals = {}  # type -> sum over vertices of the path product

    def vertex(self, vertex, level, nodefactor, product):
        try:
            fields = unpack(vertex, _VERTEX)
        except JanssonError as exc:
            raise JobspecError(f"level {level}: {exc}") from None
        kind, value = fields["type"], fields["count"]
        if kind == "gpu" and is_int(value) and value == 0:
            # The V1 validator allows a zero GPU count; jjc would not.
            count = Count(integer=0)
        else:
            try:
                count = Count.create(value)
            except CountError as exc:
                raise JobspecError(f"level {level}: {exc}") from None
        product *= count.first()
        self.totals[kind] = self.totals.get(kind, 0) + product
        if kind == "node":
            if nodefactor < 0:
                raise JobspecError("Non-integer count not allowed above node")
            self.nnodes = count
            self.nodefactor = nodefactor
            if fields.get("exclusive"):
                self.exclusive = True
        else:
            # negative flags a non-integer count above any node below
            nodefactor = (nodefactor * count.first() if count.is_integer
                          else -1)
        if kind == "slot":
            self.nslots = count
        elif kind == "core":
            self.slot_size = count
        elif kind == "gpu":
            self.slot_gpus = count
        if "with" in fields:
            self.level(fields["with"], level + 1, nodefactor, product)

    def level(self, vertices, level, nodefactor, product):
        if not isinstance(vertices, list):
            raise JobspecError(f"level {level}: must be an array")
        for vertex in vertices:
            self.vertex(vertex, level, nodefactor, product)


def _ntasks(obj, nnodes, nslots, totals):
    """Tasks implied by ``tasks[0].count`` (and the shell's per-resource
    option that ``--tasks-per-node``/``--tasks-per-core`` set)."""
    def per(kind, each):
        if kind == "node" and nnodes:
            return each * nnodes
        if kind == "slot":
            return each * nslots
        return each * totals.get(kind, 0)

    shell = obj["attributes"]["system"].get("shell")
    options = shell.get("options") if isinstance(shell, dict) else None
    per_resource = (options.get("per-resource")
                    if isinstance(options, dict) else None)
    if isinstance(per_resource, dict) and per_resource.get("type"):
        each = per_resource.get("count", 1)
        if is_int(each) and each > 0:
            return per(per_resource["type"], each)
    try:
        count = obj["tasks"][0]["count"]
    except (KeyError, IndexError, TypeError):
        return nslots
    if not isinstance(count, dict):
        return nslots
    if is_int(count.get("total")):
        return count["total"]
    if is_int(count.get("per_slot")):
        return count["per_slot"] * nslots
    request = count.get("per_resource")
    if isinstance(request, dict) and is_int(request.get("count")):
        return per(request.get("type"), request["count"])
    return nslots


def counts(obj):
    """Summarise the resource request of a jobspec.

    :param obj: the jobspec (decoded JSON), normally already validated.
    :returns: a :class:`JobspecCounts`.
    :raises JobspecError: with flux-core ``jjc``'s message, e.g.
        ``at top level: Object item not found: version``,
        ``at top level: getting duration: Object item not found: system``,
        ``level 1: create_count: integer count must be >= 1``,
        ``Non-integer count not allowed above node``,
        ``Unable to determine slot count``,
        ``Unable to determine slot size``.
    """
    try:
        top = unpack(obj, [("version", "i", False), ("resources", "o", False)])
    except JanssonError as exc:
        raise JobspecError(f"at top level: {exc}") from None
    try:
        duration = unpack(obj, [("attributes", ([("system", ([(
            "duration", "F", False)], False), False)], False), False)])
    except JanssonError as exc:
        raise JobspecError(
            f"at top level: getting duration: {exc}") from None
    duration = float(duration["attributes"]["system"]["duration"])
    walk = _Walk()
    try:
        walk.level(top["resources"], 0, 1, 1)
    except RecursionError:
        raise JobspecError("resources are nested too deeply") from None
    if walk.nslots is None:
        raise JobspecError("Unable to determine slot count")
    if walk.slot_size is None:
        raise JobspecError("Unable to determine slot size")
    nnodes = walk.nodefactor * walk.nnodes.first() if walk.nnodes else 0
    nslots = walk.nslots.first() * (nnodes or 1)
    system = obj["attributes"]["system"]
    return JobspecCounts(
        nnodes=nnodes,
        nslots=nslots,
        slot_size=walk.slot_size.first(),
        slot_gpus=walk.slot_gpus.first() if walk.slot_gpus else 0,
        exclusive=walk.exclusive,
        duration=duration,
        queue=system.get("queue"),
        cwd=system.get("cwd"),
        environment=system.get("environment"),
        ntasks=_ntasks(obj, nnodes, nslots, walk.totals),
        nodefactor=walk.nodefactor,
        nnodes_count=walk.nnodes,
        nslots_count=walk.nslots,
        slot_size_count=walk.slot_size,
        slot_gpus_count=walk.slot_gpus,
    )
