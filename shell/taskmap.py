# -*- test-case-name: tests.unit.exec.test_shell -*-
"""Which tasks run where (RFC 34 task maps), from a jobspec and R.

Pure: the job shell and the exec service both use it.  Tasks are laid
out in block order over the job's ranks: rank 0 of R gets the first
tasks, and so on.  A jobspec with ``node`` resources asks for a number
of slots on each node; without, a rank holds as many slots as its cores
fill.  ``count.per_slot`` runs that many tasks in each slot;
``count.total`` spreads the total over the slots, the first slots taking
one more when it does not divide evenly.
"""

__all__ = ["TaskmapError", "ranks_of", "tasks_per_rank", "taskmap",
           "task_ids"]


class TaskmapError(ValueError):
    """A jobspec or R the shell cannot lay tasks out from."""


def _ids(text):
    """Decode an idset string (``0-3,5``) into a sorted list."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            lo_i, hi_i = int(lo), int(hi or lo)
        except ValueError:
            raise TaskmapError(f"invalid idset {text!r}") from None
        out.extend(range(lo_i, hi_i + 1))
    return sorted(set(out))


def ranks_of(R):
    """``{rank: ncores}`` of R's ``execution.R_lite``, in rank order."""
    try:
        entries = R["execution"]["R_lite"]
    except (KeyError, TypeError):
        raise TaskmapError("R has no execution.R_lite") from None
    cores = {}
    for entry in entries:
        children = entry.get("children") or {}
        ncores = len(_ids(children.get("core", "")))
        for rank in _ids(entry.get("rank", "")):
            cores[rank] = cores.get(rank, 0) + ncores
    if not cores:
        raise TaskmapError("R holds no ranks")
    return dict(sorted(cores.items()))


def _slot(resources):
    """``(nodes_asked, slots_per_node, cores_per_slot)`` of a jobspec."""
    res = resources[0] if resources else {}
    node = res.get("type") == "node"
    if node:
        res = (res.get("with") or [{}])[0]
    if res.get("type") != "slot":
        raise TaskmapError("jobspec has no task slot")
    cores = 1
    for child in res.get("with") or []:
        if child.get("type") == "core":
            cores = int(child.get("count", 1))
    return node, int(res.get("count", 1)), max(cores, 1)


def _per_resource(jobspec):
    """The ``per-resource`` shell option ``(type, count)``, or None."""
    # (looked up without raising: a job shell runs this once, cold, and
    # an exception touches much more than a few lookups)
    per = jobspec
    for key in ("attributes", "system", "shell", "options", "per-resource"):
        if not isinstance(per, dict) or key not in per:
            return None
        per = per[key]
    if not isinstance(per, dict) or per.get("type") not in ("node", "core"):
        raise TaskmapError("per-resource: type must be node or core")
    count = per.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise TaskmapError("per-resource: count must be an integer >= 1")
    return per["type"], count


def tasks_per_rank(jobspec, R):
    """The number of tasks of each rank: ``{rank: ntasks}``.

    The ``per-resource`` shell option ``{type, count}`` runs ``count``
    tasks per allocated node or core instead (what ``flux batch`` and
    ``flux alloc`` ask for: one broker per node).
    """
    ranks = ranks_of(R)
    per = _per_resource(jobspec if isinstance(jobspec, dict) else {})
    if per is not None:
        kind, count = per
        return {rank: count * (1 if kind == "node" else ncores)
                for rank, ncores in ranks.items()}
    try:
        node, per_node, cores_per_slot = _slot(jobspec.get("resources"))
        count = jobspec["tasks"][0]["count"]
    except (KeyError, IndexError, TypeError, AttributeError):
        raise TaskmapError("jobspec has no tasks") from None
    if node:
        slots = {rank: per_node for rank in ranks}
    else:
        slots = {rank: max(1, ncores // cores_per_slot)
                 for rank, ncores in ranks.items()}
    if "per_slot" in count:
        per = int(count["per_slot"])
        return {rank: n * per for rank, n in slots.items()}
    if "total" in count:
        total = int(count["total"])
        nslots = sum(slots.values())
        base, extra = divmod(total, nslots)
        out, slot = {}, 0
        for rank, n in slots.items():
            out[rank] = 0
            for _ in range(n):
                out[rank] += base + (1 if slot < extra else 0)
                slot += 1
        return out
    raise TaskmapError("jobspec task count needs per_slot or total")


def taskmap(counts):
    """The RFC 34 task map of ``{rank: ntasks}`` (ranks renumbered from
    0 in order, as job shell ranks are)."""
    blocks = []
    for nodeid, ntasks in enumerate(counts.values()):
        if blocks and blocks[-1][2] == ntasks \
                and blocks[-1][0] + blocks[-1][1] == nodeid:
            blocks[-1][1] += 1
        else:
            blocks.append([nodeid, 1, ntasks, 1])
    return {"version": 1, "map": blocks}


def task_ids(counts):
    """``{rank: range(first, end)}``: the global task ranks of each rank."""
    out, first = {}, 0
    for rank, ntasks in counts.items():
        out[rank] = range(first, first + ntasks)
        first += ntasks
    return out
