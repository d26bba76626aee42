# -*- test-case-name: tests.unit.formats.test_jobspec -*-
"""Shared plumbing for the RFC 14 / RFC 25 jobspec modules.

Three things live here because every other ``_jobspec_*`` module needs
them and they must not import each other in a circle:

- :class:`JobspecError`, the one exception the jobspec API raises;
- :func:`load`, which turns YAML or JSON text into a JSON-compatible dict
  (RFC 14 jobspec travels as JSON; users write it as YAML);
- a small emulation of jansson's ``json_unpack_ex()`` type checks and error
  texts.  flux-core's C readers (``flux_jobspec1_check()``, the libjob
  ``jj``/``jjc`` count readers) report their errors in jansson's words,
  e.g. ``Object item not found: count`` or ``Expected integer, got real``,
  and users (and flux-core's tests) see those words verbatim.
"""

import json
import math

from fluxd.errors import InvalidArgument

__all__ = ["JobspecError", "load", "dumps", "jtype", "JanssonError",
           "unpack"]


class JobspecError(InvalidArgument):
    """Invalid jobspec"""


class JanssonError(Exception):
    """A jansson unpack failure; ``str()`` is jansson's ``error.text``."""


def jtype(value):
    """Name a JSON value's type the way jansson's error messages do.

    :param value: a value decoded from JSON (dict, list, str, int, float,
        bool or None).
    :returns: ``object``, ``array``, ``string``, ``integer``, ``real``,
        ``true``, ``false`` or ``null``.
    """
    # bool first: in Python True is also an int.
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    return type(value).__name__


def is_int(value):
    """:returns: True for a JSON integer (a Python int that is not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    """:returns: True for a JSON integer or real (never a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_one(value, fmt):
    """Check one value against a jansson format character or sub-format."""
    if isinstance(fmt, tuple):
        return unpack(value, *fmt)
    if fmt == "o":
        return value
    if fmt == "s":
        if not isinstance(value, str):
            raise JanssonError(f"Expected string, got {jtype(value)}")
    elif fmt in ("i", "I"):
        if not is_int(value):
            raise JanssonError(f"Expected integer, got {jtype(value)}")
    elif fmt == "b":
        if not isinstance(value, bool):
            raise JanssonError(f"Expected true or false, got {jtype(value)}")
    elif fmt == "F":
        if not is_number(value):
            raise JanssonError(
                f"Expected real or integer, got {jtype(value)}")
    elif fmt == "[o]":
        # "[o]": an array whose first element is taken (not strict).
        if not isinstance(value, list):
            raise JanssonError(f"Expected array, got {jtype(value)}")
        if not value:
            raise JanssonError("Array index 0 out of range")
        return value[0]
    else:
        raise ValueError(f"unsupported unpack format {fmt!r}")
    return value


def unpack(value, fields, strict=False):
    """Emulate ``json_unpack_ex()`` for an object format such as
    ``"{s:s s:i s?b !}"``.

    Keys are checked in format order and the first failure wins, exactly
    as jansson does, so the error text matches flux-core's.

    :param value: the JSON value to unpack.
    :param fields: a sequence of ``(key, fmt, optional)`` where ``fmt`` is
        one of ``s i I b F o [o]`` or a nested ``(fields, strict)`` tuple.
    :param strict: reject keys that the format does not name (``!``).
    :returns: a dict of the unpacked values (absent optional keys omitted).
    :raises JanssonError: with jansson's error text.
    """
    if not isinstance(value, dict):
        raise JanssonError(f"Expected object, got {jtype(value)}")
    result = {}
    for key, fmt, optional in fields:
        if key not in value:
            if optional:
                continue
            raise JanssonError(f"Object item not found: {key}")
        result[key] = _check_one(value[key], fmt)
    if strict:
        names = {key for key, _, _ in fields}
        extra = [key for key in value if key not in names]
        if extra:
            raise JanssonError(f"{len(extra)} object item(s) left unpacked: "
                               + ", ".join(extra))
    return result


_LOADER = []


def _loader():
    """PyYAML's safe loader minus implicit timestamps, built on first use
    (so that building jobspec, as ``flux submit`` does, never imports
    PyYAML).

    YAML 1.1 turns ``2024-01-01`` into a ``datetime.date``, which cannot be
    represented in JSON; jobspec values such as environment variables must
    stay strings.
    """
    if not _LOADER:
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        Loader.yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in resolvers
                    if tag != "tag:yaml.org,2002:timestamp"]
            for first, resolvers in
            yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        _LOADER.append(Loader)
    return _LOADER[0]


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _yaml_message(exc):
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return problem


def _check_json(root):
    """Reject anything JSON cannot carry (non-str keys, NaN, sets, bytes).

    Iterative, and each container is visited once: YAML aliases can make a
    small document describe a huge (or cyclic) graph.
    """
    stack = [(root, "jobspec")]
    done = set()
    open_ = set()  # containers on the current path (cycle detection)
    while stack:
        value, path = stack.pop()
        if path is None:  # end-of-children marker
            open_.discard(id(value))
            done.add(id(value))
            continue
        if isinstance(value, (dict, list)):
            if id(value) in open_:
                # A YAML alias to an enclosing node has no JSON form.
                raise JobspecError(f"invalid jobspec: {path} refers to itself")
            if id(value) in done:
                continue
            open_.add(id(value))
            stack.append((value, None))
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise JobspecError(f"invalid jobspec: key {key!r} in "
                                       f"{path} is not a string")
                stack.append((item, f"{path}.{key}"))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, f"{path}[{index}]"))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise JobspecError(
                    f"invalid jobspec: {path} is not a finite number")
        elif value is not None and not isinstance(value, (str, int, bool)):
            raise JobspecError(f"invalid jobspec: {path} has a value of type "
                               f"{type(value).__name__}, not JSON")


def load(text):
    """Parse jobspec text written as JSON or YAML.

    JSON is tried first (it is what ``flux job submit`` and the wire carry);
    anything else is read as YAML with PyYAML's safe loader, as flux-core's
    ``y2j.py`` does, except that dates stay strings.

    :param text: the document, ``str`` or UTF-8 ``bytes``.
    :returns: the jobspec as a dict of JSON-compatible values.  It is *not*
        validated: call :func:`~fluxd.formats.jobspec.validate`.
    :raises JobspecError: with a one-line message when the text is not
        JSON/YAML, is not a mapping, or holds values JSON cannot represent.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JobspecError(f"invalid jobspec: not UTF-8 ({exc.reason} "
                               f"at byte {exc.start})") from None
    if not isinstance(text, str):
        raise JobspecError(
            f"jobspec must be str or bytes, not {type(text).__name__}")
    json_error = None
    try:
        obj = json.loads(text, parse_constant=_reject_constant,
                         parse_float=_finite_float)
    except RecursionError:
        raise JobspecError("invalid jobspec: nested too deeply") from None
    except ValueError as exc:
        json_error = exc
        import yaml
        try:
            obj = yaml.load(text, Loader=_loader())  # noqa: S506 - safe loader
        except yaml.YAMLError as yexc:
            # Text that starts like a JSON object was meant as JSON: its
            # JSON error is the more useful one.
            if text.lstrip().startswith("{"):
                raise JobspecError(
                    f"invalid jobspec JSON: {json_error}") from None
            raise JobspecError(
                f"invalid jobspec YAML: {_yaml_message(yexc)}") from None
        except RecursionError:
            raise JobspecError("invalid jobspec: nested too deeply") from None
    if not isinstance(obj, dict):
        raise JobspecError(f"jobspec must be a mapping, got {jtype(obj)}")
    if json_error is not None:
        # JSON text can only hold JSON values (string keys, finite numbers:
        # checked while parsing); YAML can hold anything
        _check_json(obj)
    return obj


def dumps(jobspec):
    """Encode jobspec as JSON, as ``Jobspec.dumps()`` (and so
    ``flux submit --dry-run``) does.

    :param jobspec: the jobspec dict.
    :returns: the JSON text (non-ASCII characters kept as they are).
    :raises JobspecError: when a value cannot be represented in JSON.
    """
    try:
        return json.dumps(jobspec, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise JobspecError(f"jobspec cannot be encoded as JSON: {exc}") \
            from None
