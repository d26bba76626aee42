# -*- test-case-name: tests.unit.exec.test_shell_plugins -*-
"""Builtin ``cpu-affinity`` plugin: bind tasks to the job's cores here.

``-o cpu-affinity=``, as flux 0.88's shell reads it:

- ``on`` (the default): the shell binds itself, and so every task, to
  all the cores R gives the job on this node;
- ``per-task``: those cores are shared out, each task bound to its own
  share (in order: the first tasks take one more core when they do not
  divide evenly; with more tasks than cores, tasks share cores);
- ``map:LIST``: task N (local id) is bound to entry N of LIST, a ``;``
  separated list of cpu lists (``0-1,3``) or masks (``0x3``), reused
  from the start when there are more tasks than entries;
- ``off``: tasks keep the shell's own affinity.

Core ids of R are taken as CPU ids (the resource module counts a node's
cores as the CPUs it sees).  When R names cpus this node does not have,
the shell warns and binds nothing, as flux does.  Another value ends
the job with an error (flux takes it as ``on``).

A task inherits its binding: for ``per-task`` and ``map`` the shell
binds itself to the task's cpus just before it starts the task
(``task.init``) and takes the job's back once it runs (``task.fork``),
which keeps tasks started by ``posix_spawn`` (a ``task.exec`` binding
would need a ``fork`` of the shell per task, about 3 ms more per job:
``bench/shell.py``).
"""

import os

#: the cpus of a process that runs one job's shell after another
#: (:mod:`flux_shell.worker`) before its first job: between jobs it keeps
#: the last job's binding, which the next job's shell changes only when
#: it binds other cpus (moving a process to another cpu is the costly
#: part of ``sched_setaffinity``); None in a shell forked for its job
base_cpus = None

__all__ = ["NAME", "flux_plugin_init", "local_ids", "parse_cpus",
           "share"]

NAME = "cpu-affinity"


def parse_cpus(text):
    """A cpu list (``0-2,5``) or a hex mask (``0x5``) as a sorted list."""
    text = str(text).strip()
    if text.lower().startswith("0x"):
        mask = int(text, 16)
        return [i for i in range(mask.bit_length()) if mask >> i & 1]
    out = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        lo_i, hi_i = int(lo), int(hi if sep else lo)
        if lo_i < 0 or hi_i < lo_i:
            raise ValueError(part)
        out.update(range(lo_i, hi_i + 1))
    if not out:
        raise ValueError(text)
    return sorted(out)


def local_ids(R, rank, kind):
    """The ids of ``kind`` (``core``, ``gpu``) R gives on broker
    ``rank``."""
    out = set()
    try:
        entries = R["execution"]["R_lite"]
    except (KeyError, TypeError):
        return []
    for entry in entries:
        ids = (entry.get("children") or {}).get(kind)
        if ids and rank in parse_cpus(entry.get("rank", "")):
            out.update(parse_cpus(ids))
    return sorted(out)


def share(ids, ntasks):
    """``ids`` shared out over ``ntasks`` tasks: a list per task."""
    if not ids or ntasks <= 0:
        return [[] for _ in range(max(ntasks, 0))]
    if ntasks > len(ids):
        return [[ids[i * len(ids) // ntasks]] for i in range(ntasks)]
    base, extra = divmod(len(ids), ntasks)
    out, first = [], 0
    for i in range(ntasks):
        n = base + (1 if i < extra else 0)
        out.append(ids[first:first + n])
        first += n
    return out


def masks(value, cores, ntasks):
    """The cpus of each local task for the option value (None: off).

    :raises ValueError: for a bad value.
    """
    value = "on" if value is None or value == 1 else str(value)
    if value == "off":
        return None
    if value == "on":
        return [cores] * ntasks
    if value == "per-task":
        return share(cores, ntasks)
    if value.startswith("map:"):
        try:
            entries = [parse_cpus(e) for e in value[4:].split(";")]
        except ValueError:
            raise ValueError(f"invalid cpu list in {value!r}") from None
        return [entries[i % len(entries)] for i in range(ntasks)]
    raise ValueError(f"invalid option {value!r} (expected off, on,"
                     " per-task or map:LIST)")


def flux_plugin_init(p):
    """Register ``shell.init`` (compute the masks), ``task.init`` and
    ``task.fork``."""
    state = {}

    def init(shell, topic, task):
        cores = local_ids(shell.spec["R"], shell.broker_rank, "core")
        try:
            state["masks"] = masks(p.getopt("cpu-affinity"), cores,
                                   len(shell.local_ranks))
        except ValueError as exc:
            raise ValueError(f"cpu-affinity: {exc}") from None
        own = os.sched_getaffinity(0)
        base = own if base_cpus is None else set(base_cpus)
        if state["masks"] is None:
            _bind(own, base)
            return
        online = set(base)
        wanted = {c for m in state["masks"] for c in m} | set(cores)
        if not wanted <= online:
            online |= _online()
        missing = sorted(wanted - online)
        if missing or not cores:
            shell.log(4, f"cpu-affinity: cpus {missing or cores} are not"
                      " all on this node: affinity disabled")
            _bind(own, base)
            return
        _bind(own, cores)
        if all(m == cores for m in state["masks"]):
            return          # on: the tasks inherit the shell's binding
        state["own"] = cores
        p.add_handler("task.init", bind)
        p.add_handler("task.fork", restore)

    def bind(shell, topic, task):
        os.sched_setaffinity(0, state["masks"][task.localid])

    def restore(shell, topic, task):
        os.sched_setaffinity(0, state["own"])

    p.add_handler("shell.init", init)


def unbind():
    """Give a process that ran other jobs' shells its cpus of before
    them (see :data:`base_cpus`)."""
    if base_cpus is not None:
        _bind(os.sched_getaffinity(0), base_cpus)


def _bind(own, cpus):
    """Bind this process (on ``own``) to ``cpus``, unless it is so."""
    if own != set(cpus):
        os.sched_setaffinity(0, cpus)


def _online():
    try:
        with open("/sys/devices/system/cpu/online", encoding="ascii") as f:
            return set(parse_cpus(f.read()))
    except (OSError, ValueError):
        return set(range(os.cpu_count() or 1))
