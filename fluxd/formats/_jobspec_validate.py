# -*- test-case-name: tests.unit.formats.test_jobspec_validate -*-
"""The two jobspec validators of flux-core (RFC 14 canonical, RFC 25 V1).

flux-core checks jobspec in two places, with different rules and words:

- :func:`validate` is the Python binding's ``flux.job.validate_jobspec()``
  (``Jobspec``/``JobspecV1`` construction), which the default job-ingest
  ``jobspec`` validator plugin runs, normally with ``--require-version=1``.
  It checks the RFC 14 structure of every resource vertex and task, but in
  V1 mode it does *not* enforce the ``node>slot>core`` graph: infeasible
  graphs are left to the scheduler.
- :func:`validate_v1_strict` is libjob's ``flux_jobspec1_check()`` (used by
  the C submit API and ``t/util/jobspec1-validate``): strict key sets and
  only the RFC 25 graphs, with jansson's error texts for shape errors.

The messages are flux-core's.  Where flux-core's Python code would crash
with an unrelated ``TypeError`` (a ``with`` that is not a list, a
dependency that is not a mapping) this module says what is wrong instead.
A few inputs that flux-core's Python validator lets through only for them
to fail later are rejected here, each with a message of its own:

- empty ``resources`` or ``tasks`` lists (RFC 14 requires one entry);
- ``true``/``false`` where a number is expected (Python's ``bool`` is an
  ``int``);
- count strings that are not positive (``"0"``, ``""``; libjob's
  ``count_decode()`` refuses them too);
- constraint arguments given as a string instead of a list.

Conversely, bracketed RFC 45 ranges (``"[2+]"``), which RFC 45 allows but
flux-core's Python parser trips over, are accepted.
"""

from collections.abc import Mapping

from fluxd.formats._jobspec_json import (
    JanssonError, JobspecError, is_int, is_number, jtype, load, unpack,
)
from fluxd.formats._rfc45 import COUNT_MAX, Count
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset

__all__ = ["validate", "validate_v1_strict"]

TOP_LEVEL_KEYS = ("resources", "tasks", "attributes", "version")

_CONSTRAINT_BAD_CHARS = frozenset("&'\"`|()")


def _fail(message):
    raise JobspecError(message)


def _is_sequence(value):
    # A str is a Sequence, but never a list of resources, tasks or args.
    return isinstance(value, (list, tuple))


def _check_keys(expected, given, *, optional=False, extra_ok=False):
    """``Missing key (X)`` / ``Extraneous key (X)`` as flux-core words them."""
    given = list(given)
    if not optional:
        for key in expected:
            if key not in given:
                _fail(f"Missing key ({key})")
    if not extra_ok:
        for key in given:
            if key not in expected:
                _fail(f"Extraneous key ({key})")


# -- counts ----------------------------------------------------------------

def _check_range(rng):
    """Check an RFC 14 range (``{min, max?, operand?, operator?}``)."""
    if "min" not in rng:
        _fail("min must be in range")
    _check_keys(("min", "max", "operand", "operator"), rng, optional=True)
    for key in ("min", "max", "operand"):
        if key in rng:
            if not is_int(rng[key]):
                _fail(f"{key} must be an int")
            if rng[key] < 1:
                _fail(f"{key} must be > 0")
    if "max" in rng and rng["max"] < rng["min"]:
        _fail("max must be >= min")
    if ("operand" in rng) != ("operator" in rng):
        _fail("operand and operator must both be in range if either is")
    if "operator" in rng:
        operator = rng["operator"]
        if not isinstance(operator, str) or len(operator) != 1:
            _fail("operator must be a single character str")
        if operator not in ("+", "*", "^"):
            _fail("operator must be one of ['+', '*', '^']")
        if operator in ("*", "^") and rng["operand"] < 2:
            _fail("operand must be > 1 for '*' or '^' operator")
        if operator == "^" and rng["min"] < 2:
            _fail("min must be > 1 for '^' operator")


def _check_count_string(text):
    """An RFC 45 count string: an idset of positive values or a range."""
    try:
        # count_decode() also reads JSON objects, which RFC 45 does not
        if text.startswith("{"):
            raise JobspecError(text)
        count = Count.decode(text)
    except JobspecError:
        _fail("count string must be a valid idset or range")
    if count.kind == "range":
        # count_decode() does not insist on min >= 2 for '^'; the Python
        # binding does, with these words.
        rng = {"min": count.min, "operand": count.operand,
               "operator": count.operator}
        if count.max != COUNT_MAX:
            rng["max"] = count.max
        _check_range(rng)


def _check_resource(res):
    """One resource vertex, as ``Jobspec._validate_resource()``."""
    if not isinstance(res, Mapping):
        _fail("resource must be a mapping")
    if "type" not in res:
        _fail("type is a required key for resources")
    if not isinstance(res["type"], str):
        _fail("type must be a string")
    if "count" not in res:
        _fail("count is a required key for resources")
    count = res["count"]
    if isinstance(count, Mapping):
        _check_range(count)
    elif isinstance(count, str):
        _check_count_string(count)
    elif not is_int(count):
        _fail("count must be an int or mapping")
    else:
        # zero is fine for e.g. gpu, not for the structural types
        if res["type"] in ("node", "slot", "core") and count < 1:
            _fail("node, slot, or core count must be > 0")
        if count < 0:
            _fail("count must be >= 0")
    for key in ("id", "unit", "label"):
        if key in res and not isinstance(res[key], str):
            _fail(f"{key} must be a string")
    if "exclusive" in res and not isinstance(res["exclusive"], bool):
        _fail("exclusive must be a boolean")
    if res["type"] == "slot" and "label" not in res:
        _fail("slots must have labels")


def _vertices(resources):
    """Yield resource vertices in pre-order (a parent before its children),
    as flux-core's ``Jobspec.__iter__``, without recursion.

    :raises JobspecError: when a ``with`` is not a list (checked only after
        its vertex has been yielded, so the vertex's own errors come first).
    """
    stack = [iter(resources)]
    while stack:
        res = next(stack[-1], _END)
        if res is _END:
            stack.pop()
            continue
        yield res
        if "with" in res:
            children = res["with"]
            if not _is_sequence(children):
                _fail("with must be a sequence")
            stack.append(iter(children))


_END = object()


# -- tasks and attributes --------------------------------------------------

def _check_task(task):
    """One task, as ``Jobspec._validate_task()``."""
    if not isinstance(task, Mapping):
        _fail("task must be a mapping")
    _check_keys(("command", "slot", "count"), task, extra_ok=True)
    count = task["count"]
    if not isinstance(count, Mapping):
        _fail("count must be a mapping")
    if len(count) != 1:
        _fail("count must have exactly one key set")
    if not {"per_slot", "per_resource", "total"} & set(count):
        _fail("count per_slot, per_resource, or total must be set")
    for key in ("total", "per_slot"):
        if key in count:
            if not is_int(count[key]):
                _fail(f"count {key} must be an int")
            if count[key] <= 0:
                _fail(f"count {key} must be > 0")
    if not isinstance(task["slot"], str):
        _fail("slot must be a string")
    if "attributes" in task and not isinstance(task["attributes"], Mapping):
        _fail("attributes must be a mapping")
    command = task["command"]
    if isinstance(command, (str, list, tuple)) and len(command) == 0:
        _fail("command array cannot have length of zero")
    if not _is_sequence(command) or not all(isinstance(arg, str)
                                            for arg in command):
        _fail("command must be a list of strings")


def _check_constraint(constraint):
    """An RFC 31 constraint object."""
    if not isinstance(constraint, Mapping):
        _fail("constraints must be a mapping")
    for operator, args in constraint.items():
        if not _is_sequence(args):
            _fail(f"argument to constraint {operator} must be a sequence")
        if operator in ("and", "or", "not"):
            for sub in args:
                _check_constraint(sub)
        elif operator == "properties":
            for name in args:
                if not isinstance(name, str):
                    _fail(f"invalid property {name!r}: not a string")
                if _CONSTRAINT_BAD_CHARS & set(name):
                    _fail(f"invalid character in property '{name}'")
        elif operator == "hostlist":
            # Only the syntax: which hosts exist is the scheduler's concern.
            for hosts in args:
                try:
                    if not isinstance(hosts, str):
                        raise TypeError("not a string")
                    Hostlist(hosts)
                except (ValueError, TypeError) as exc:
                    _fail(f"invalid hostlist constraint '{hosts}': {exc}")
        elif operator == "ranks":
            for ranks in args:
                try:
                    IDset.decode(ranks)
                except (ValueError, TypeError) as exc:
                    _fail(f"invalid ranks constraint '{ranks}': {exc}")
        else:
            _fail(f"unknown constraint operator '{operator}'")


def _check_system(system):
    if "dependencies" in system:
        deps = system["dependencies"]
        if not _is_sequence(deps):
            _fail("attributes.system.dependencies must be a list")
        for dep in deps:
            if not isinstance(dep, Mapping):
                _fail("dependency must be a mapping")
            _check_keys(("scheme", "value"), dep, extra_ok=True)
            if not isinstance(dep["scheme"], str):
                _fail("dependency scheme must be a string")
            if not isinstance(dep["value"], str):
                _fail("dependency value must be a string")
    if "constraints" in system:
        _check_constraint(system["constraints"])


def _check_canonical(obj):
    """RFC 14 checks, as ``Jobspec.__init__()``."""
    resources, tasks = obj["resources"], obj["tasks"]
    attributes, version = obj["attributes"], obj["version"]
    if not _is_sequence(resources):
        _fail("resources must be a sequence")
    if not _is_sequence(tasks):
        _fail("tasks must be a sequence")
    if not isinstance(attributes, Mapping):
        _fail("attributes must be a mapping")
    if not is_int(version):
        _fail("version must be an integer")
    if version < 1:
        _fail("version must be >= 1")
    # RFC 14: both lists hold at least one entry (flux-core's Python
    # binding lets empty lists through to fail later).
    if not resources:
        _fail("resources must not be empty")
    if not tasks:
        _fail("tasks must not be empty")
    for res in _vertices(resources):
        _check_resource(res)
    for task in tasks:
        _check_task(task)
    _check_keys(("system", "user"), attributes, optional=True)
    if "system" in attributes:
        if not isinstance(attributes["system"], Mapping):
            _fail("attributes.system must be a mapping")
        _check_system(attributes["system"])


def _check_v1_counts(resources):
    for res in _vertices(resources):
        count = res["count"]
        if not is_int(count):
            _fail(f"resource count must be an integer for type "
                  f"'{res['type']}' (got '{type(count).__name__}')")


def _check_v1(obj):
    """The extra RFC 25 checks of ``JobspecV1``."""
    attributes = obj["attributes"]
    if "system" not in attributes:
        _fail("attributes.system is a required key")
    system = attributes["system"]
    if "duration" not in system:
        _fail("attributes.system.duration is a required key")
    if not is_number(system["duration"]):
        _fail("attributes.system.duration must be a number")
    for task in obj["tasks"]:
        if not {"per_slot", "total"} & set(task["count"]):
            _fail("count per_slot or total must be set")
    _check_v1_counts(obj["resources"])


def validate(obj, version=None):
    """Validate jobspec like ``flux.job.validate_jobspec()``.

    Version 1 rules (RFC 25: integer counts, ``per_slot`` or ``total``
    tasks, ``attributes.system.duration`` required) apply when ``version``
    is 1 or the jobspec says ``version: 1``; otherwise the RFC 14 canonical
    rules alone.  The RFC 25 resource graph is not enforced here (see
    :func:`validate_v1_strict`).

    :param obj: the jobspec, a mapping as returned by ``load()``, or JSON /
        YAML text to load first.
    :param version: None to follow ``obj["version"]``, or 1 to require V1
        (job-ingest's default ``--require-version=1``).
    :raises JobspecError: the first problem found, in flux-core's words,
        e.g. ``Missing key (tasks)``, ``version must be 1``,
        ``attributes.system.duration is a required key``.
    :raises ValueError: when ``version`` is neither None nor 1.
    """
    if version not in (None, 1):
        raise ValueError(f"unsupported jobspec version {version!r}")
    if isinstance(obj, (str, bytes, bytearray)):
        obj = load(obj)
    try:
        _validate(obj, version)
    except RecursionError:
        _fail("jobspec is nested too deeply")


def _validate(obj, version):
    if not isinstance(obj, Mapping):
        _fail(f"jobspec must be a mapping, got {jtype(obj)}")
    _check_keys(TOP_LEVEL_KEYS, obj)
    v1 = version == 1 or (is_int(obj["version"]) and obj["version"] == 1)
    if v1 and obj["version"] != 1:
        _fail("version must be 1")
    _check_canonical(obj)
    if v1:
        _check_v1(obj)


# -- flux_jobspec1_check() ---------------------------------------------------

_TOP = [("resources", "o", False), ("tasks", "o", False),
        ("attributes", "o", False), ("version", "i", False)]
_SLOT = [("type", "s", False), ("count", "i", False), ("with", "o", False),
         ("label", "s", False), ("exclusive", "b", True)]
_NODE = [("type", "s", False), ("count", "i", False), ("with", "o", False),
         ("unit", "s", True)]
_LEAF = [("type", "s", False), ("count", "i", False)]
_TASK = [("command", "o", False), ("slot", "s", False), ("count", "o", False)]


def _unpack(prefix, value, fields, strict=True):
    try:
        return unpack(value, fields, strict)
    except JanssonError as exc:
        _fail(f"{prefix}: {exc}")


def _strict_slot(slot):
    fields = _unpack("slot vertex", slot, _SLOT)
    if fields["count"] < 1:
        _fail("slot count must be >= 1")
    children = fields["with"]
    if not isinstance(children, list):
        _fail("slot with must be an array")
    if len(children) not in (1, 2):
        _fail("slot with array must have 1-2 elements")
    for child in children:
        leaf = _unpack("slot with", child, _LEAF)
        if leaf["type"] not in ("core", "gpu"):
            _fail("slot with type must be core or gpu")
        least = 1 if leaf["type"] == "core" else 0
        if leaf["count"] < least:
            _fail(f"slot {leaf['type']} count must be >= {least}")


def _strict_resources(resources):
    try:
        vertex = unpack({"r": resources}, [("r", "[o]", False)])["r"]
    except JanssonError as exc:
        _fail(f"resources section: {exc}")
    kind = _unpack("resource vertex", vertex, [("type", "s", False)],
                   strict=False)["type"]
    if kind == "node":
        node = _unpack("node vertex", vertex, _NODE)
        if node["count"] < 1:
            _fail("node count must be >= 1")
        if not isinstance(node["with"], list):
            _fail("node with must be an array")
        if len(node["with"]) != 1:
            _fail("node with array must have 1 elements")
        _strict_slot(node["with"][0])
    elif kind == "slot":
        _strict_slot(vertex)
    else:
        _fail("unknown resource vertex type")


def _strict_tasks(tasks):
    try:
        task = unpack({"t": tasks}, [("t", "[o]", False)])["t"]
    except JanssonError as exc:
        _fail(f"tasks section: {exc}")
    fields = _unpack("tasks section", task, _TASK)
    command = fields["command"]
    if not isinstance(command, list):
        _fail("tasks command must be an array")
    if not command:
        _fail("tasks command array length must be >= 1")
    if not all(isinstance(arg, str) for arg in command):
        _fail("tasks command array entry must be a string")
    count = fields["count"]
    if not isinstance(count, dict) or len(count) != 1:
        _fail("tasks count must have exactly one key set")
    for key in ("per_slot", "total"):
        if is_int(count.get(key)):
            if count[key] < 1:
                _fail(f"tasks {key} count must be >= 1")
            return
    _fail("tasks count object is malformed")


def _strict_system(system):
    has_duration = False
    for key, value in system.items():
        if key == "duration":
            if not is_number(value):
                _fail("attributes.system.duration must be a number")
            has_duration = True
        elif key in ("environment", "constraints"):
            if not isinstance(value, dict):
                _fail(f"attributes.system.{key} must be a dictionary")
        elif key == "dependencies":
            if not isinstance(value, list):
                _fail("attributes.system.dependencies must be an array")
            for dep in value:
                if not isinstance(dep, dict):
                    _fail("attributes.system.dependencies elements"
                          " must be an object")
                if not (isinstance(dep.get("scheme"), str)
                        and isinstance(dep.get("value"), str)):
                    _fail("attributes.system.dependencies elements"
                          " must contain scheme and value strings")
        elif key == "shell":
            options = value.get("options") if isinstance(value, dict) else None
            if options is not None and not isinstance(options, dict):
                _fail("attributes.shell.options must be a dictionary")
    if not has_duration:
        _fail("attributes.system.duration is required")


def _strict_attributes(attributes):
    if not isinstance(attributes, dict):
        _fail("attributes must be an object")
    has_system = False
    for key, value in attributes.items():
        if key in ("user", "system"):
            # json_object_size() is 0 for anything but a non-empty object
            if not isinstance(value, dict) or not value:
                _fail(f"if present, attributes.{key} must contain values")
            if key == "system":
                _strict_system(value)
                has_system = True
        else:
            _fail(f"unknown attributes section {key}")
    if not has_system:
        _fail("attributes.system is required")


def validate_v1_strict(obj):
    """Validate V1 jobspec like libjob's ``flux_jobspec1_check()``.

    Exactly the RFC 25 shapes pass: one ``node>slot>(core[,gpu])`` or
    ``slot>(core[,gpu])`` resource, integer counts, strict vertex key sets,
    a task with ``command``/``slot``/``count`` only, and
    ``attributes.system.duration``.

    :param obj: the jobspec (decoded JSON), or JSON / YAML text.
    :raises JobspecError: with flux-core's message, e.g.
        ``jobspec object: Object item not found: tasks``,
        ``slot with type must be core or gpu``,
        ``attributes.system.duration is required``.
    """
    if isinstance(obj, (str, bytes, bytearray)):
        obj = load(obj)
    fields = _unpack("jobspec object", obj, _TOP)
    if fields["version"] != 1:
        _fail("only version 1 jobspec is supported")
    _strict_resources(fields["resources"])
    _strict_tasks(fields["tasks"])
    _strict_attributes(fields["attributes"])
