# -*- test-case-name: tests.unit.sched.test_constraints -*-
"""RFC 31 job constraints, as flux-core's ``librlist/match.c`` reads them.

A constraint is a JSON object with one operator:

- ``{"properties": ["batch", "^debug"]}``: every term must hold; a term
  matches a node having the property or named so, ``^`` negates;
- ``{"hostlist": ["node[1-4]", ...]}`` and ``{"ranks": ["0-3", ...]}``;
- ``{"and": [c, ...]}``, ``{"or": [c, ...]}``, ``{"not": [c, ...]}``
  (``not`` negates the ``and`` of its terms).

:func:`compile_constraint` turns one into a predicate over
``(rank, hostname, properties)``; errors carry flux-core's messages.
"""

import json

from fluxd.errors import InvalidArgument
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset

__all__ = ["compile_constraint", "ConstraintError"]

_BAD_PROPERTY_CHARS = "!&'\"`|()"


class ConstraintError(InvalidArgument):
    """A constraint that cannot be read; the message says why."""


def _dumps(value):
    # jansson's json_dumps(value, 0): ", " and ": " separators
    return json.dumps(value)


def _always(rank, hostname, properties):
    return True


def _properties(values):
    if not isinstance(values, list):
        raise ConstraintError("properties value must be an array")
    terms = []
    for value in values:
        if not isinstance(value, str):
            raise ConstraintError("non-string property specified")
        bad = next((c for c in value if c in _BAD_PROPERTY_CHARS), None)
        if bad is not None:
            raise ConstraintError(
                f"invalid character '{bad}' in property \"{value}\"")
        negate = value.startswith("^")
        terms.append((value[1:] if negate else value, negate))

    def match(rank, hostname, properties):
        for name, negate in terms:
            if (name in properties or hostname == name) == negate:
                return False
        return True
    return match


def _hostlist(values):
    hosts = set()
    for value in values if isinstance(values, list) else ():
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            hosts.update(Hostlist(value))
        except (InvalidArgument, ValueError):
            raise ConstraintError(f"invalid hostlist '{value}' in"
                                  f" {_dumps(values)}") from None
    return lambda rank, hostname, properties: hostname in hosts


def _ranks(values):
    ranks = IDset()
    for value in values if isinstance(values, list) else ():
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            ranks.update(IDset.decode(value))
        except (InvalidArgument, ValueError):
            raise ConstraintError(f"invalid idset '{value}' in"
                                  f" {_dumps(values)}") from None
    return lambda rank, hostname, properties: rank in ranks


def _conditional(op, values):
    if not isinstance(values, list):
        raise ConstraintError(f"{op} operator value must be an array")
    terms = [compile_constraint(value) for value in values]
    if op == "or":
        if not terms:
            return _always
        return lambda *node: any(term(*node) for term in terms)
    if op == "and":
        return lambda *node: all(term(*node) for term in terms)
    return lambda *node: not all(term(*node) for term in terms)


_OPERATORS = {"properties": _properties, "hostlist": _hostlist,
              "ranks": _ranks}


def compile_constraint(constraint):
    """Compile an RFC 31 constraint.

    :param constraint: the decoded JSON object.
    :returns: ``match(rank, hostname, properties) -> bool``.
    :raises ConstraintError: e.g. ``unknown constraint operator: foo``,
        ``constraint must only contain 1 element``.
    """
    if not isinstance(constraint, dict):
        raise ConstraintError("constraint must be JSON object")
    if len(constraint) > 1:
        raise ConstraintError("constraint must only contain 1 element")
    for op, values in constraint.items():
        if op in _OPERATORS:
            return _OPERATORS[op](values)
        if op in ("and", "or", "not"):
            return _conditional(op, values)
        raise ConstraintError(f"unknown constraint operator: {op}")
    return _always
