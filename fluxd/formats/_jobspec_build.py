# -*- test-case-name: tests.unit.formats.test_jobspec_build -*-
"""Build RFC 25 version 1 jobspec the way ``flux submit`` does.

:func:`from_command` is ``JobspecV1.from_command()`` (per-task requests:
``-n``, ``-N``, ``-c``, ``-g``, ``-x``) and :func:`from_nodes_and_cores` is
``JobspecV1.per_resource()`` (per-resource requests: ``--cores``,
``--tasks-per-node``, ``--tasks-per-core``, ``--gpus-per-node``).  Both
return a plain dict with flux-core's key order, so ``json.dumps()`` of the
result reads like ``flux submit --dry-run``.

``--setattr``/``--setopt`` values go through :func:`parse_keyval` and
:func:`set_attribute` / :func:`set_shell_option`, which apply flux-core's
key rules (``system.`` implied, ``.KEY`` for the attributes root, values
JSON-decoded when they parse).
"""

import json
import math
import os
import sys
from collections.abc import Mapping

from fluxd.formats._jobspec_json import JobspecError, is_int, is_number

__all__ = [
    "from_command", "from_nodes_and_cores", "parse_keyval",
    "set_attribute", "set_shell_option", "duration_seconds",
]


def _fail(message):
    raise JobspecError(message)


# -- attributes ------------------------------------------------------------

def _set_tree(root, dotted, value):
    """Set ``root[a][b][c] = value`` for ``dotted == "a.b.c"``, creating
    intermediate dicts (``flux.util.set_treedict``)."""
    *parents, last = dotted.split(".")
    node = root
    for name in parents:
        node = node.setdefault(name, {})
        if not isinstance(node, dict):
            _fail(f"failed to set {dotted} to {value}: "
                  f"{name} is not a dictionary")
    node[last] = value


def set_attribute(jobspec, key, value):
    """Set a jobspec attribute by dotted key, as ``flux submit --setattr``.

    ``system.`` is implied unless the key starts with ``system.``,
    ``user.`` or ``attributes.``; a leading ``.`` addresses the attributes
    root itself (``.user.note`` sets ``attributes.user.note``).

    :param jobspec: the jobspec dict, modified in place.
    :param key: e.g. ``queue``, ``user.project``, ``system.job.name``.
    :param value: any JSON-compatible value.
    :raises JobspecError: when an intermediate key holds a non-dict.
    """
    if key.startswith("attributes."):
        key = key[len("attributes."):]
    elif key.startswith("."):
        key = key[1:]
    elif not key.startswith(("system.", "user.")):
        key = "system." + key
    if not key or "" in key.split("."):
        _fail(f"invalid attribute key '{key}'")
    _set_tree(jobspec.setdefault("attributes", {}), key, value)


def set_shell_option(jobspec, key, value):
    """Set ``attributes.system.shell.options.KEY`` (``--setopt``).

    :param key: dotted option name, e.g. ``verbose`` or ``output.stdout.type``.
    """
    set_attribute(jobspec, "system.shell.options." + key, value)


def parse_keyval(label, keyval):
    """Parse a ``KEY[=VAL]`` option argument like flux-core.

    VAL defaults to 1 and is JSON-decoded when it parses
    (``-o cpu-affinity=off`` stays a string, ``-S foo=[1,2]`` becomes a
    list).  ``^KEY=FILE`` reads
    the value as JSON from FILE.

    :param label: the option name for messages, e.g. ``--setattr``.
    :param keyval: the option argument.
    :returns: ``(key, value)``.
    :raises JobspecError: when FILE cannot be read or is not JSON.
    """
    key, sep, text = keyval.partition("=")
    if key.startswith("^"):
        key = key.lstrip("^")
        try:
            with open(text, encoding="utf-8") as stream:
                value = json.load(stream)
        except OSError as exc:
            _fail(f"{label}: {text}: {exc.strerror or exc}")
        except ValueError as exc:
            _fail(f"{label}: {text}: {exc}")
        return key, value
    if not sep:
        return key, 1
    try:
        return key, json.loads(text)
    except ValueError:
        return key, text


def _apply_keyvals(jobspec, label, items, setter):
    """Apply ``--setattr``/``--setopt`` style items: a mapping, or an
    iterable of ``"KEY[=VAL]"`` strings and ``(key, value)`` pairs."""
    if isinstance(items, Mapping):
        items = list(items.items())
    elif isinstance(items, str):
        items = [items]
    for item in items:
        if isinstance(item, str):
            key, value = parse_keyval(label, item)
        else:
            key, value = item
        setter(jobspec, key, value)


# -- common options ----------------------------------------------------------

def duration_seconds(duration):
    """Convert a time limit to seconds like the ``Jobspec.duration`` setter.

    :param duration: seconds (int/float), an RFC 23 FSD string, or a
        ``datetime.timedelta``.
    :returns: float seconds.
    :raises JobspecError: ``duration must not be negative``,
        ``duration must be a normal, finite value``, or an FSD error.
    """
    if isinstance(duration, str):
        from fluxd.formats.fsd import parse_fsd
        try:
            seconds = parse_fsd(duration)
        except ValueError as exc:
            _fail(str(exc))
    elif "datetime" in sys.modules and isinstance(
            duration, sys.modules["datetime"].timedelta):
        # (a timedelta means datetime was imported: flux run need not)
        seconds = duration.total_seconds()
    elif is_number(duration):
        seconds = float(duration)
    else:
        _fail("duration must be an int, float, string, or timedelta")
    if seconds < 0:
        _fail("duration must not be negative")
    if not math.isfinite(seconds):
        _fail("duration must be a normal, finite value")
    return seconds


def _finish(jobspec, *, duration, environment, cwd, job_name, queue,
            setattr, setopt):
    """``_set_extra_options()`` plus the CLI's setopt/setattr handling."""
    system = jobspec["attributes"]["system"]
    # An int 0 stays 0, as flux-core leaves the default untouched.
    if duration is not None and not (is_int(duration) and duration == 0):
        system["duration"] = duration_seconds(duration)
    if environment is None:
        environment = os.environ
    if not isinstance(environment, Mapping):
        _fail("environment must be a mapping")
    system["environment"] = dict(environment)
    if cwd is None:
        cwd = os.getcwd()
    if isinstance(cwd, os.PathLike):
        cwd = os.fspath(cwd)
    if not isinstance(cwd, str):
        _fail("cwd must be a string")
    system["cwd"] = cwd
    if job_name is not None:
        if not isinstance(job_name, str):
            _fail("job name must be a string")
        set_attribute(jobspec, "system.job.name", job_name)
    if queue is not None:
        if not isinstance(queue, str):
            _fail("queue must be a string")
        system["queue"] = queue
    _apply_keyvals(jobspec, "--setopt", setopt, set_shell_option)
    _apply_keyvals(jobspec, "--setattr", setattr, set_attribute)
    return jobspec


def _check_command(command):
    if isinstance(command, str) or not isinstance(command, (list, tuple)):
        _fail("command must be a list of strings")
    if not command:
        _fail("command array cannot have length of zero")
    if not all(isinstance(arg, str) for arg in command):
        _fail("command must be a list of strings")
    return list(command)


def _resource(kind, count, children=None, exclusive=False):
    vertex = {"type": kind, "count": count}
    if exclusive:
        vertex["exclusive"] = True
    if children:
        vertex["with"] = children
    return vertex


def _jobspec(resource, command, task_count):
    return {
        "resources": [resource],
        "tasks": [{"command": command, "slot": "task", "count": task_count}],
        "attributes": {"system": {"duration": 0}},
        "version": 1,
    }


def _positive(value, minimum):
    return is_int(value) and value >= minimum


# -- factories -------------------------------------------------------------

def from_command(command, *, ntasks=1, nodes=None, cores_per_task=1,
                 gpus_per_task=None, duration=0, queue=None, environment=None,
                 cwd=None, exclusive=False, setattr=(), setopt=(),
                 job_name=None):
    """Build V1 jobspec for ``command`` (``JobspecV1.from_command()``).

    Without ``nodes``: ``slot[ntasks] > core[cores_per_task]
    (> gpu[gpus_per_task])``, one task per slot.  With ``nodes``:
    ``node[nodes] > slot[ceil(ntasks / nodes)] > ...``, one task per slot
    when the tasks divide evenly, else ``total: ntasks``.

    :param command: the task's argv, a non-empty list of str.
    :param ntasks: number of tasks (>= 1).
    :param nodes: number of nodes (1 <= nodes <= ntasks), or None.
    :param cores_per_task: cores per task (>= 1).
    :param gpus_per_task: GPUs per task (>= 0; 0 or None adds no gpu vertex).
    :param duration: time limit (seconds, FSD string or timedelta); 0 means
        unlimited.
    :param queue: ``attributes.system.queue``.
    :param environment: the job environment; default a copy of
        ``os.environ``.
    :param cwd: working directory; default ``os.getcwd()``.
    :param exclusive: allocate whole nodes (needs ``nodes``).
    :param setattr: ``--setattr`` items (``"KEY[=VAL]"`` strings,
        ``(key, value)`` pairs or a mapping).
    :param setopt: ``--setopt`` shell options, same forms.
    :param job_name: ``attributes.system.job.name``.
    :returns: the jobspec dict.
    :raises JobspecError: with flux-core's message, e.g. ``node count must
        not be greater than task count``.
    """
    if not _positive(ntasks, 1):
        _fail("task count must be a integer >= 1")
    if not _positive(cores_per_task, 1):
        _fail("cores per task must be an integer >= 1")
    if gpus_per_task is not None and not _positive(gpus_per_task, 0):
        _fail("gpus per task must be an integer >= 0")
    if nodes is not None:
        if not _positive(nodes, 1):
            _fail("node count must be an integer >= 1 (if set)")
        if nodes > ntasks:
            _fail("node count must not be greater than task count")
    elif exclusive:
        _fail("exclusive can only be set with a node count")
    command = _check_command(command)
    children = [_resource("core", cores_per_task)]
    if gpus_per_task:
        children.append(_resource("gpu", gpus_per_task))
    if nodes is not None:
        per_node = -(-ntasks // nodes)  # ceil
        # uneven distribution: some slots stay empty, so count tasks in total
        task_count = ({"per_slot": 1} if ntasks % nodes == 0
                      else {"total": ntasks})
        slot = _resource("slot", per_node, children)
        slot["label"] = "task"
        top = _resource("node", nodes, [slot], exclusive)
    else:
        task_count = {"per_slot": 1}
        top = _resource("slot", ntasks, children)
        top["label"] = "task"
    return _finish(_jobspec(top, command, task_count), duration=duration,
                   environment=environment, cwd=cwd, job_name=job_name,
                   queue=queue, setattr=setattr, setopt=setopt)


def from_nodes_and_cores(command, *, ncores=None, nnodes=None,
                         per_resource_type=None, per_resource_count=None,
                         gpus_per_node=None, exclusive=False, duration=0,
                         queue=None, environment=None, cwd=None, setattr=(),
                         setopt=(), job_name=None):
    """Build V1 jobspec from node/core totals (``JobspecV1.per_resource()``).

    The job shell, not the jobspec task count, decides the number of tasks:
    ``attributes.system.shell.options.per-resource = {type, count}`` runs
    ``count`` tasks per allocated node or core (one per slot otherwise).

    - ``nnodes`` and ``ncores``: ``node[nnodes] > slot[1] > core[ncores /
      nnodes]`` (ncores must divide evenly);
    - ``ncores`` only: ``slot[ncores] > core[1]``;
    - ``nnodes`` only: ``node[nnodes] > slot[1] > core[1]``, exclusive.

    :param ncores: total cores (>= 1).
    :param nnodes: total nodes (>= 1).
    :param per_resource_type: ``"node"`` or ``"core"`` (with
        ``per_resource_count``).
    :param per_resource_count: tasks per such resource (>= 1).
    :param gpus_per_node: GPUs in each node's slot (needs ``nnodes``).
    :param exclusive: allocate whole nodes (needs ``nnodes``).
    :returns: the jobspec dict; the remaining keywords are as for
        :func:`from_command`.
    :raises JobspecError: with flux-core's message, e.g. ``number of cores
        must be evenly divisible by node count``.
    """
    per_resource = None
    if per_resource_type is not None and per_resource_count is not None:
        if not isinstance(per_resource_type, str):
            _fail("per_resource_type must be a string")
        if per_resource_type not in ("node", "core"):
            _fail(f"Invalid per_resource_type='{per_resource_type}' specified")
        if not is_int(per_resource_count):
            _fail("per_resource_count must be an integer")
        if per_resource_count < 1:
            _fail("per_resource_count must be >= 1")
        per_resource = {"type": per_resource_type, "count": per_resource_count}
    elif per_resource_type is not None:
        _fail("must specify a per_resource_count with per_resource_type")
    elif per_resource_count is not None:
        _fail("must specify a per_resource_type with per_resource_count")
    if ncores is not None and not _positive(ncores, 1):
        _fail("ncores must be an integer >= 1")
    if gpus_per_node is not None:
        if not _positive(gpus_per_node, 0):
            _fail("gpus_per_node must be an integer >= 0")
        if not nnodes:
            _fail("gpus_per_node must be specified with nnodes")
    if nnodes is not None:
        if not _positive(nnodes, 1):
            _fail("nnodes must be an integer >= 1")
    elif exclusive:
        _fail("exclusive can only be set with a node count")
    if nnodes and ncores:
        if ncores < nnodes:
            _fail("number of cores cannot be less than nnodes")
        if ncores % nnodes != 0:
            _fail("number of cores must be evenly divisible by node count")
        nslots, slot_size = 1, ncores // nnodes  # slots per node
    elif ncores:
        nslots, slot_size = ncores, 1
    elif nnodes:
        if not exclusive:
            _fail("Specifying nnodes also requires ncores or exclusive")
        nslots, slot_size = 1, 1
    else:
        _fail("must specify node or core count with per_resource")
    command = _check_command(command)
    children = [_resource("core", slot_size)]
    if gpus_per_node:
        children.append(_resource("gpu", gpus_per_node))
    slot = _resource("slot", nslots, children)
    slot["label"] = "task"
    top = _resource("node", nnodes, [slot], exclusive) if nnodes else slot
    jobspec = _jobspec(top, command, {"per_slot": 1})
    if per_resource:
        set_shell_option(jobspec, "per-resource", per_resource)
    return _finish(jobspec, duration=duration, environment=environment,
                   cwd=cwd, job_name=job_name, queue=queue, setattr=setattr,
                   setopt=setopt)
