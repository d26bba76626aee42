# -*- test-case-name: tests.unit.formats.test_idset -*-
"""RFC 22 idsets: sets of non-negative integer ids and their string form.

An idset string is a comma-separated list of ids and ``lo-hi`` ranges in
strictly ascending order, optionally wrapped in one pair of brackets:
``0-3,7,9-10`` or ``[0-3,7,9-10]``.  Flux uses it for broker ranks, core and
GPU ids in R (RFC 20), and anywhere else a set of small integers travels as
text.

Decoding follows flux-core's ``idset_decode_ex()`` rather than the looser
RFC text:

- one outer ``[...]`` pair is stripped; any other bracket is an error;
- empty tokens (``1,,2``, ``,1``, ``1,``) are skipped;
- a token is ``N`` or ``A-B`` with ``B > A`` strictly; digits only, no sign,
  no whitespace and no leading zero except ``0`` itself;
- each token must start above the previous token's high id;
- ids are limited to ``0 .. 2**31 - 1`` (the largest idset universe).

The set is held as sorted, disjoint, non-adjacent ``(lo, hi)`` intervals and
is never expanded, so ``0-2147483646`` costs two integers.
"""

import operator
from bisect import bisect_left, bisect_right

from fluxd.errors import InvalidArgument, NotFound, ValueRangeError

__all__ = [
    "IDset", "IdsetError", "IdsetRangeError", "decode_idset",
    "IDSET_MAX_ID",
]

#: Largest id an idset may hold: flux-core caps the universe at 2**31 ids.
IDSET_MAX_ID = 2**31 - 1

# strtoul() fails with ERANGE above ULONG_MAX; flux reports that as a
# parse error, not as a universe overflow.
_ULONG_MAX = 2**64 - 1

_DIGITS = frozenset("0123456789")


class IdsetError(InvalidArgument):
    """Invalid idset"""


class IdsetRangeError(IdsetError, ValueRangeError):
    """set universe size would exceed maximum"""


def _hi_key(interval):
    return interval[1]


def _lo_key(interval):
    return interval[0]


def _parse_number(text):
    """Parse one decimal id the way flux's ``strtoul_check()`` does.

    :returns: the integer, or None when the text is not a valid id.
    """
    # Only ASCII digits: str.isdigit() would accept other scripts' digits,
    # and strtoul() would accept a sign or leading whitespace.
    if not text or not _DIGITS.issuperset(text):
        return None
    if text[0] == "0" and len(text) > 1:  # RFC 22 forbids leading zeros
        return None
    value = int(text)
    if value > _ULONG_MAX:
        return None
    return value


def _parse_token(token):
    """Split an idset token into ``(lo, hi)``.

    :raises IdsetError: on anything but ``N`` or ``A-B`` with ``B > A``.
    :raises IdsetRangeError: when an id is beyond :data:`IDSET_MAX_ID`.
    """
    lo_text, dash, hi_text = token.partition("-")
    lo = _parse_number(lo_text)
    hi = _parse_number(hi_text) if dash else lo
    if lo is None or hi is None or (dash and hi <= lo):
        raise IdsetError(f"error parsing range '{token}'")
    if hi > IDSET_MAX_ID:
        raise IdsetRangeError(
            f"error appending '{token}': "
            "set universe size would exceed maximum")
    return lo, hi


def _strip_brackets(text):
    if len(text) >= 2 and text[0] == "[" and text[-1] == "]":
        text = text[1:-1]
    if "[" in text or "]" in text:
        raise IdsetError("mismatched or nested brackets")
    return text


def _decode_intervals(text):
    """Decode an idset string into normalized intervals."""
    if not isinstance(text, str):
        raise TypeError(
            f"idset must be decoded from str, not {type(text).__name__}")
    intervals = []
    maxid = -1
    for token in _strip_brackets(text).split(","):
        if not token:
            continue
        lo, hi = _parse_token(token)
        if lo <= maxid:
            raise IdsetError(f"range '{token}' is out of order")
        maxid = hi
        # "1-3,4-5" is legal but not maximally compressed: join the runs
        # here so the interval list stays canonical.
        if intervals and intervals[-1][1] + 1 == lo:
            intervals[-1] = (intervals[-1][0], hi)
        else:
            intervals.append((lo, hi))
    return intervals


def _check_id(value, *, for_removal=False):
    """Validate a single id given through the Python API.

    :param for_removal: ids above the maximum are harmless when removing.
    :raises TypeError: for non-integers (including bool).
    """
    if isinstance(value, bool):
        raise TypeError("idset ids must be integers, not bool")
    value = operator.index(value)
    if value < 0:
        raise IdsetError(f"invalid id {value}: ids must be non-negative")
    if value > IDSET_MAX_ID and not for_removal:
        raise IdsetRangeError(
            f"id {value}: set universe size would exceed maximum")
    return value


def _ids_to_intervals(ids):
    intervals = []
    for value in sorted({_check_id(i) for i in ids}):
        if intervals and intervals[-1][1] + 1 == value:
            intervals[-1] = (intervals[-1][0], value)
        else:
            intervals.append((value, value))
    return intervals


def _union(a, b):
    merged = []
    for lo, hi in sorted(a + b):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _intersection(a, b):
    result = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            result.append((lo, hi))
        # advance whichever interval ends first; the other may still
        # overlap the next one.
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return result


def _difference(a, b):
    result = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= hi:
            if b[k][0] > lo:
                result.append((lo, b[k][0] - 1))
            lo = max(lo, b[k][1] + 1)
            if lo > hi:
                break
            k += 1
        if lo <= hi:
            result.append((lo, hi))
    return result


class IDset:
    """A mutable set of non-negative integer ids (RFC 22).

    Iteration is in ascending order.  ``str()`` gives the compressed RFC 22
    form without brackets (``0-3,7``), which is what Flux JSON uses.

    :param ids: None or ``""`` for an empty set, an idset string to decode,
        another :class:`IDset` to copy, or an iterable of ints.
    :raises IdsetError: when a string does not decode or an id is negative.
    :raises IdsetRangeError: when an id exceeds :data:`IDSET_MAX_ID`.
    :raises TypeError: when an element is not an integer.
    """

    __slots__ = ("_iv", "_count")
    __hash__ = None  # mutable, like set

    def __init__(self, ids=None):
        self._count = None
        if ids is None:
            self._iv = []
        elif isinstance(ids, str):
            self._iv = _decode_intervals(ids)
        elif isinstance(ids, IDset):
            self._iv = list(ids._iv)
            self._count = ids._count
        else:
            self._iv = _ids_to_intervals(ids)

    @classmethod
    def decode(cls, s):
        """Decode an RFC 22 idset string.

        :param s: e.g. ``"0-3,7"`` or ``"[0-3,7]"``; ``""`` and ``"[]"`` give
            the empty set.
        :returns: a new :class:`IDset`.
        :raises IdsetError: with flux-core's message (``error parsing range
            '1-x'``, ``range '2' is out of order``, ``mismatched or nested
            brackets``).
        :raises IdsetRangeError: when an id exceeds :data:`IDSET_MAX_ID`.
        """
        result = cls()
        result._iv = _decode_intervals(s)
        return result

    @classmethod
    def _from_intervals(cls, intervals):
        result = cls()
        result._iv = intervals
        return result

    def encode(self, ranges=True, brackets=False):
        """Encode as an RFC 22 string.

        :param ranges: compress runs of two or more ids into ``lo-hi``
            (``IDSET_FLAG_RANGE``); otherwise list every id.
        :param brackets: wrap in ``[...]`` when the set holds two or more
            ids (``IDSET_FLAG_BRACKETS``); a singleton or empty set is never
            bracketed.
        :returns: the encoded string, ``""`` for the empty set.
        """
        if ranges:
            body = ",".join(str(lo) if lo == hi else f"{lo}-{hi}"
                            for lo, hi in self._iv)
        else:
            body = ",".join(map(str, self))
        if brackets and len(self) > 1:
            return f"[{body}]"
        return body

    def __str__(self):
        return self.encode()

    def __repr__(self):
        return f"IDset('{self.encode()}')"

    def __len__(self):
        if self._count is None:
            self._count = sum(hi - lo + 1 for lo, hi in self._iv)
        return self._count

    def __bool__(self):
        return bool(self._iv)

    def __iter__(self):
        for lo, hi in self._iv:
            yield from range(lo, hi + 1)

    def __reversed__(self):
        for lo, hi in reversed(self._iv):
            yield from range(hi, lo - 1, -1)

    def __contains__(self, value):
        # Behave like a Python set: anything that is not a member, whatever
        # its type, is simply "not in".
        if not isinstance(value, int):
            return False
        k = bisect_right(self._iv, value, key=_lo_key) - 1
        return k >= 0 and self._iv[k][1] >= value

    def __eq__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self._iv == other._iv

    def __copy__(self):
        return IDset(self)

    def copy(self):
        """:returns: an independent copy of this set."""
        return IDset(self)

    def intervals(self):
        """:returns: the set as a list of ascending, disjoint, non-adjacent
            ``(lo, hi)`` tuples (inclusive)."""
        return list(self._iv)

    def expand(self):
        """:returns: every id as an ascending list (beware of huge sets)."""
        return list(self)

    def first(self):
        """:returns: the smallest id.
        :raises NotFound: when the set is empty."""
        if not self._iv:
            raise NotFound("idset is empty")
        return self._iv[0][0]

    def last(self):
        """:returns: the largest id.
        :raises NotFound: when the set is empty."""
        if not self._iv:
            raise NotFound("idset is empty")
        return self._iv[-1][1]

    def nth(self, i):
        """Return the ``i``-th smallest id (0-based).

        :param i: index; negative values count from the largest id, as for
            Python sequences.
        :returns: the id.
        :raises NotFound: when ``i`` is out of range.
        """
        i = operator.index(i)
        count = len(self)
        index = i + count if i < 0 else i
        if not 0 <= index < count:
            raise NotFound(f"idset index {i} out of range (count {count})")
        for lo, hi in self._iv:
            size = hi - lo + 1
            if index < size:
                return lo + index
            index -= size
        raise AssertionError("unreachable: count and intervals disagree")

    # -- mutation -------------------------------------------------------

    def _range_args(self, lo, hi, *, for_removal=False):
        lo = _check_id(lo, for_removal=for_removal)
        hi = lo if hi is None else _check_id(hi, for_removal=for_removal)
        if hi < lo:
            raise IdsetError(f"invalid range {lo}-{hi}: high id below low id")
        return lo, hi

    def add(self, id_or_range_lo, hi=None):
        """Add one id, a range of ids, or every id of another set.

        :param id_or_range_lo: an id (the low end of the range when ``hi``
            is given), or an :class:`IDset`, idset string or iterable of ids
            to merge in (then ``hi`` must be None).
        :param hi: inclusive high end of the range.
        :returns: self, so calls can be chained.
        :raises IdsetError: for a negative id or ``hi < lo``.
        :raises IdsetRangeError: for an id above :data:`IDSET_MAX_ID`.
        """
        if hi is None and not isinstance(id_or_range_lo, int):
            return self.update(id_or_range_lo)
        lo, hi = self._range_args(id_or_range_lo, hi)
        iv = self._iv
        # Everything that overlaps or touches [lo, hi] collapses into one
        # interval: from the first interval ending at or after lo-1 up to
        # the last one starting at or before hi+1.
        i = bisect_left(iv, lo - 1, key=_hi_key)
        j = bisect_right(iv, hi + 1, key=_lo_key)
        if i < j:
            lo = min(lo, iv[i][0])
            hi = max(hi, iv[j - 1][1])
        iv[i:j] = [(lo, hi)]
        self._count = None
        return self

    def discard(self, id, hi=None):
        """Remove one id, a range of ids, or every id of another set.

        Ids that are not members are ignored.

        :param id: an id (the low end of the range when ``hi`` is given), or
            an :class:`IDset`, idset string or iterable of ids.
        :param hi: inclusive high end of the range.
        :returns: self.
        :raises IdsetError: for a negative id or ``hi < lo``.
        """
        if hi is None and not isinstance(id, int):
            self.difference_update(id)
            return self
        lo, hi = self._range_args(id, hi, for_removal=True)
        iv = self._iv
        i = bisect_left(iv, lo, key=_hi_key)
        j = bisect_right(iv, hi, key=_lo_key)
        if i >= j:
            return self
        keep = []
        if iv[i][0] < lo:
            keep.append((iv[i][0], lo - 1))
        if iv[j - 1][1] > hi:
            keep.append((hi + 1, iv[j - 1][1]))
        iv[i:j] = keep
        self._count = None
        return self

    def remove(self, id):
        """Remove one id that must be a member.

        :raises NotFound: when ``id`` is not in the set.
        """
        if id not in self:
            raise NotFound(f"id {id} is not in idset '{self}'")
        self.discard(id)

    def clear(self):
        """Remove every id."""
        self._iv = []
        self._count = None

    def update(self, *others):
        """Add every id of ``others`` (IDsets, idset strings or iterables).

        :returns: self.
        """
        for other in others:
            self._iv = _union(self._iv, _coerce(other)._iv)
        self._count = None
        return self

    def intersection_update(self, *others):
        """Keep only ids also found in every one of ``others``."""
        for other in others:
            self._iv = _intersection(self._iv, _coerce(other)._iv)
        self._count = None
        return self

    def difference_update(self, *others):
        """Remove every id found in any of ``others``."""
        for other in others:
            self._iv = _difference(self._iv, _coerce(other)._iv)
        self._count = None
        return self

    def symmetric_difference_update(self, other):
        """Keep ids found in exactly one of self and ``other``."""
        self._iv = self.symmetric_difference(other)._iv
        self._count = None
        return self

    # -- set algebra ----------------------------------------------------

    def union(self, *others):
        """:returns: a new set with the ids of self and all ``others``
            (IDsets, idset strings or iterables of ids)."""
        return self.copy().update(*others)

    def intersection(self, *others):
        """:returns: a new set with the ids common to self and ``others``."""
        return self.copy().intersection_update(*others)

    def difference(self, *others):
        """:returns: a new set with the ids of self not in any ``others``."""
        return self.copy().difference_update(*others)

    def symmetric_difference(self, other):
        """:returns: a new set with the ids in exactly one of the two."""
        other = _coerce(other)
        return IDset._from_intervals(_union(
            _difference(self._iv, other._iv),
            _difference(other._iv, self._iv)))

    def issubset(self, other):
        """:returns: True when every id of self is in ``other``."""
        return not _difference(self._iv, _coerce(other)._iv)

    def issuperset(self, other):
        """:returns: True when every id of ``other`` is in self."""
        return not _difference(_coerce(other)._iv, self._iv)

    def isdisjoint(self, other):
        """:returns: True when the sets share no id."""
        return not _intersection(self._iv, _coerce(other)._iv)

    # Operators take only IDsets, as set operators take only sets; the
    # named methods above also accept strings and iterables.
    def __or__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self.union(other)

    def __and__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self.intersection(other)

    def __sub__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self.difference(other)

    def __xor__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self.symmetric_difference(other)

    def __ior__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self.update(other)

    def __iand__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self.intersection_update(other)

    def __isub__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self.difference_update(other)

    def __ixor__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self.symmetric_difference_update(other)

    def __le__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self.issubset(other)

    def __lt__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self != other and self.issubset(other)

    def __ge__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self.issuperset(other)

    def __gt__(self, other):
        if not isinstance(other, IDset):
            return NotImplemented
        return self != other and self.issuperset(other)


def _coerce(other):
    """Accept an IDset, an idset string or an iterable of ids."""
    if isinstance(other, IDset):
        return other
    if isinstance(other, int):
        raise TypeError("expected an IDset, idset string or iterable of ids,"
                        f" not {type(other).__name__}")
    return IDset(other)


def decode_idset(s):
    """Decode an RFC 22 idset string; alias of :meth:`IDset.decode`.

    :param s: the idset string.
    :returns: a new :class:`IDset`.
    :raises IdsetError: when ``s`` is not a valid idset.
    :raises IdsetRangeError: when an id exceeds :data:`IDSET_MAX_ID`.
    """
    return IDset.decode(s)
