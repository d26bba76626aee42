# -*- test-case-name: tests.unit.formats.test_jobspec_rfc45 -*-
"""Jobspec resource counts: RFC 14 integers and ranges, RFC 45 strings.

A resource vertex's ``count`` (RFC 14) is one of

- a positive integer, ``4``;
- a range object ``{"min": 2, "max": 32, "operand": 2, "operator": "*"}``
  (``max`` absent = unbounded; ``operator`` one of ``+ * ^``);
- a string (RFC 45): an RFC 22 idset of the acceptable values,
  ``"4,9,16,25"``, or a range ``min-max[:operand[:operator]]`` or
  ``min+[:operand[:operator]]``, optionally in brackets: ``"2-32:2:*"``,
  ``"[100+]"``.

:class:`Count` follows flux-core's libjob ``count.c``: :meth:`Count.decode`
is ``count_decode()`` and :meth:`Count.create` is ``count_create()``
(used by the ``jjc`` count reader), with the same error texts.
"""

import json

from fluxd.formats._jobspec_json import (
    JanssonError, JobspecError, is_int, unpack,
)
from fluxd.formats.idset import IDset

__all__ = ["Count", "CountError", "COUNT_MAX"]

#: The "unbounded" maximum of a range (C ``UINT_MAX``).
COUNT_MAX = 2**32 - 1

_OPERATORS = ("+", "*", "^")


class CountError(JobspecError):
    """Invalid resource count"""


def _positive(text):
    """Read a leading run of digits like ``strtoui_check()``.

    The first character must be a digit 1-9 (no sign, space or leading
    zero).

    :returns: ``(value, rest)`` or None when no valid number starts text.
    """
    if not text or text[0] not in "123456789":
        return None
    end = 1
    while end < len(text) and text[end] in "0123456789":
        end += 1
    value = int(text[:end])
    if value > COUNT_MAX:
        return None
    return value, text[end:]


class Count:
    """One resource count: an integer, an idset of values, or a range.

    Exactly one of :attr:`integer`, :attr:`idset` and the range fields
    (:attr:`min`, :attr:`max`, :attr:`operand`, :attr:`operator`) is
    meaningful; :attr:`kind` says which.
    """

    __slots__ = ("integer", "idset", "min", "max", "operand", "operator")

    def __init__(self, *, integer=None, idset=None, min=None, max=COUNT_MAX,
                 operand=1, operator="+"):
        self.integer = integer
        self.idset = idset
        self.min = min
        self.max = max
        self.operand = operand
        self.operator = operator

    @property
    def kind(self):
        """``"integer"``, ``"idset"`` or ``"range"``."""
        if self.integer is not None:
            return "integer"
        if self.idset is not None:
            return "idset"
        return "range"

    @property
    def is_integer(self):
        """True for a plain integer count (exactly one acceptable value)."""
        return self.integer is not None

    # -- construction ------------------------------------------------------

    @classmethod
    def decode(cls, text):
        """Decode an RFC 45 count string (``count_decode()``).

        A plain positive integer gives an integer count; otherwise an RFC 22
        idset without id 0; otherwise a range.  A string starting with ``{``
        is read as a JSON range object.

        :param text: e.g. ``"4"``, ``"4,9,16"``, ``"2-32:2:*"``, ``"[100+]"``.
        :returns: a :class:`Count`.
        :raises CountError: ``invalid count 'TEXT'``.
        """
        if not isinstance(text, str):
            raise CountError(
                f"count must be a string, not {type(text).__name__}")
        count = cls._decode(text)
        if count is None:
            raise CountError(f"invalid count '{text}'")
        return count

    @classmethod
    def _decode(cls, text):
        if text.startswith("{"):
            try:
                return cls.create(json.loads(text))
            except (ValueError, CountError):
                return None
        body = text
        if len(text) >= 2 and text[0] == "[" and text[-1] == "]":
            body = text[1:-1]
        if "[" in body or "]" in body:
            return None  # mismatched or nested brackets
        parsed = _positive(body)
        if parsed is None:
            return None
        low, rest = parsed
        if rest == "":
            return cls(integer=low)
        try:
            ids = IDset.decode(text)
        except ValueError:
            ids = None
        if ids:  # non-empty and, since body starts with 1-9, no id 0
            return cls(idset=ids)
        return cls._decode_range(low, rest)

    @classmethod
    def _decode_range(cls, low, rest):
        high = COUNT_MAX
        if rest.startswith("-"):
            parsed = _positive(rest[1:])
            if parsed is None:
                return None
            high, rest = parsed
            if high < low:
                return None
        elif rest.startswith("+"):
            rest = rest[1:]
        else:
            return None
        operand, operator = 1, "+"
        if rest:
            if not rest.startswith(":"):
                return None
            parsed = _positive(rest[1:])
            if parsed is None:
                return None
            operand, rest = parsed
            if rest:
                # ":OP" and nothing after it
                if (len(rest) != 2 or rest[0] != ":"
                        or rest[1] not in _OPERATORS):
                    return None
                operator = rest[1]
                if operator != "+" and operand < 2:
                    return None
        return cls(min=low, max=high, operand=operand, operator=operator)

    @classmethod
    def create(cls, value):
        """Build a count from a jobspec ``count`` value (``count_create()``).

        :param value: an int, an RFC 45 string or a range dict.
        :returns: a :class:`Count`.
        :raises CountError: with flux-core's ``create_count: ...`` texts,
            or jansson's text for a malformed range object.
        """
        if isinstance(value, str):
            count = cls._decode(value)
            if count is None:
                raise CountError(f"create_count: Failed to decode '{value}' "
                                 "as idset or range")
            return count
        if is_int(value):
            if value < 1:
                raise CountError("create_count: integer count must be >= 1")
            return cls(integer=value)
        if not isinstance(value, dict) or not value:
            raise CountError("create_count: Malformed jobspec resource count")
        try:
            fields = unpack(value, [("min", "I", False), ("max", "I", True),
                                    ("operand", "I", True),
                                    ("operator", "s", True)])
        except JanssonError as exc:
            raise CountError(str(exc)) from None
        low = fields["min"]
        high = fields.get("max", COUNT_MAX)
        operand = fields.get("operand", 1)
        if low < 1 or high < 1 or operand < 1:
            raise CountError(
                "create_count: min, max, and operand must be >= 1")
        # C looks only at the first character of the operator string.
        operator = fields["operator"][:1] if "operator" in fields else "+"
        if operator not in _OPERATORS:
            raise CountError(f"create_count: unknown operator '{operator}'")
        if operator == "^" and low < 2:
            raise CountError("create_count: min must be >= 2 for '^' operator")
        if operator != "+" and operand < 2:
            raise CountError("create_count: operand must be >= 2 for '*' "
                             "or '^' operators")
        if high < low:
            raise CountError("create_count: max must be >= min")
        return cls(min=low, max=high, operand=operand, operator=operator)

    # -- values ------------------------------------------------------------

    def first(self):
        """:returns: the smallest acceptable value (``count_first()``)."""
        if self.integer is not None:
            return self.integer
        if self.idset is not None:
            return self.idset.first()
        return self.min

    def next(self, value):
        """:returns: the acceptable value after ``value``, or None
            (``count_next()``; an integer count has no next value)."""
        if self.integer is not None:
            return None
        if self.idset is not None:
            for candidate in self.idset:
                if candidate > value:
                    return candidate
            return None
        if self.operator == "+":
            nxt = value + self.operand
        elif self.operator == "*":
            nxt = value * self.operand
        else:
            nxt = value ** self.operand
        return nxt if nxt <= self.max else None

    def __iter__(self):
        """Iterate the acceptable values in ascending order (a ``min+``
        range with operator ``+`` runs up to :data:`COUNT_MAX`)."""
        value = self.first()
        while value is not None:
            yield value
            if self.integer is None and self.idset is None \
                    and self.operator != "+" and value < 2:
                return  # 1*k or 1^k would repeat forever
            value = self.next(value)

    # -- encoding ----------------------------------------------------------

    def encode(self, brackets=False, short=True):
        """Encode as an RFC 45 string (``count_encode()``).

        :param brackets: wrap ranges (and idsets of 2+ values) in ``[...]``.
        :param short: omit an operand of 1 and the ``+`` operator.
        :returns: e.g. ``"4"``, ``"4,9,16"``, ``"2-32:2:*"``, ``"4+"``.
        """
        if self.idset is not None:
            return self.idset.encode(brackets=brackets)
        if self.integer is not None:
            return str(self.integer)
        if self.min == self.max:
            return str(self.min)
        if self.max == COUNT_MAX:
            text = f"{self.min}+"
        else:
            text = f"{self.min}-{self.max}"
        if not short or self.operand > 1:
            text += f":{self.operand}"
        if not short or self.operator != "+":
            text += f":{self.operator}"
        return f"[{text}]" if brackets else text

    def to_json(self):
        """:returns: the count as a jobspec value: an int, an idset string
            or a range dict (``max`` omitted when unbounded)."""
        if self.integer is not None:
            return self.integer
        if self.idset is not None:
            return self.idset.encode()
        obj = {"min": self.min}
        if self.max != COUNT_MAX:
            obj["max"] = self.max
        obj["operand"] = self.operand
        obj["operator"] = self.operator
        return obj

    def __str__(self):
        return self.encode()

    def __repr__(self):
        return f"Count('{self.encode(short=False)}')"

    def __eq__(self, other):
        if not isinstance(other, Count):
            return NotImplemented
        return (self.kind == other.kind
                and self.encode(short=False) == other.encode(short=False))

    __hash__ = None
