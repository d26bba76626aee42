# -*- test-case-name: tests.unit.formats.test_hostlist -*-
"""Host ranges: the private building blocks of RFC 29 hostlists.

flux-core's libhostlist keeps a hostlist as an ordered array of *host
ranges*.  A range is either a single host kept verbatim (a name without a
numeric suffix, or one that came out of a bracket expression followed by a
suffix) or ``prefix`` plus the ids ``lo..hi`` printed zero-padded to
``width`` characters.  This module holds that range type, the parser of one
bracket expression, the encoder, and the sort and uniq algorithms;
:mod:`fluxd.formats.hostlist` builds the public :class:`Hostlist` on them.

Ranges are never expanded, so ``x[0-1048575]`` costs one object.
"""

from bisect import bisect_right

__all__ = []

#: Largest number of hosts one ``lo-hi`` element may hold (libhostlist's
#: MAX_RANGE): anything larger is taken as a typo and fails with ERANGE.
MAX_RANGE = 1 << 20

#: Largest number of comma elements inside one pair of brackets.
MAX_RANGES = 10240

#: Ids are C ``unsigned long`` in flux-core.
ULONG_MAX = (1 << 64) - 1

#: What the tokenizer splits a hostlist string on (outside brackets).
SEPARATORS = "\t, "

#: Characters a single host name may not contain.
INVALID_HOST_CHARS = frozenset(",[]\t ")

_DIGITS = "0123456789"


def ndigits(n):
    """Number of decimal digits of a non-negative integer (0 has one)."""
    return len(str(n))


def width_equiv(n, wn, m, wm):
    """Decide whether two zero-padding widths may share one range.

    This is libhostlist's ``width_equiv()``: range A starts at ``n`` printed
    ``wn`` wide, range B at ``m`` printed ``wm`` wide.  They are compatible
    unless *both* numbers would print differently under the other width.
    When compatible, one width is copied onto the other; the copy never
    changes how the numbers of the range it lands on print, so callers may
    keep or drop it.

    :returns: ``(compatible, new_wn, new_wm)``.
    """
    if wn == wm:
        return True, wn, wm
    dn, dm = ndigits(n), ndigits(m)
    npad, nmpad = max(0, wn - dn), max(0, wm - dn)
    mpad, mnpad = max(0, wm - dm), max(0, wn - dm)
    if npad != nmpad:
        if mpad != mnpad:
            return False, wn, wm
        return True, wn, wn
    return True, wm, wm


class Range:
    """One element of a hostlist's range array.

    ``single`` ranges hold exactly one host whose full name is ``prefix``;
    the numeric fields are unused.  Numeric ranges hold
    ``prefix + "%0*lu" % (width, id)`` for every id in ``lo..hi``.
    """

    __slots__ = ("prefix", "lo", "hi", "width", "single")

    def __init__(self, prefix, lo=0, hi=0, width=0, single=False):
        self.prefix = prefix
        self.lo = lo
        self.hi = hi
        self.width = width
        self.single = single

    @classmethod
    def for_host(cls, name):
        """The range a lone host name becomes when appended.

        A name ending in ASCII digits is ``prefix`` + number (width = the
        number of digits, so ``foo007`` keeps its zeros); any other name is
        a single host.  A numeric suffix too large for a C unsigned long is
        kept as a single host (flux-core silently drops such a name).
        """
        prefix = name.rstrip(_DIGITS)
        if len(prefix) == len(name):
            return cls(name, single=True)
        digits = name[len(prefix):]
        num = int(digits)
        if num > ULONG_MAX:
            return cls(name, single=True)
        return cls(prefix, num, num, len(digits))

    def copy(self):
        """A new, independent range with the same contents."""
        return Range(self.prefix, self.lo, self.hi, self.width, self.single)

    def count(self):
        """Number of hosts in the range."""
        return 1 if self.single else self.hi - self.lo + 1

    def number(self, n):
        """``n`` printed the way this range prints its ids."""
        return str(n).zfill(self.width)

    def host(self, depth):
        """The host at offset ``depth`` (0-based) of the range."""
        if self.single:
            return self.prefix
        return self.prefix + str(self.lo + depth).zfill(self.width)

    def hosts(self):
        """Iterate over the range's host names in order."""
        if self.single:
            yield self.prefix
            return
        prefix, width = self.prefix, self.width
        for n in range(self.lo, self.hi + 1):
            yield prefix + str(n).zfill(width)

    def numstr(self):
        """The ``lo`` or ``lo-hi`` text used inside brackets."""
        if self.lo < self.hi:
            return f"{self.number(self.lo)}-{self.number(self.hi)}"
        return self.number(self.lo)

    def offset_of(self, name):
        """Offset of host ``name`` in this range, or -1.

        A name belongs to a numeric range when it is the prefix followed by
        decimal digits that are exactly how the range prints that id: so
        ``foo[1-5]`` holds ``foo3`` but not ``foo03``, and ``f00[7-8]``
        holds ``f007``.  This is what libhostlist's ``hostrange_hn_within()``
        decides with its width and digit-shifting rules.
        """
        if self.single:
            return 0 if name == self.prefix else -1
        if not name.startswith(self.prefix):
            return -1
        digits = name[len(self.prefix):]
        if not digits or digits.lstrip(_DIGITS):
            return -1
        n = int(digits)
        if n < self.lo or n > self.hi:
            return -1
        if len(digits) != max(self.width, len(str(n))):
            return -1
        return n - self.lo

    def same_group(self, other):
        """True if both are numeric ranges with the same prefix.

        Such neighbours share one bracket group when encoded.
        """
        return (not self.single and not other.single
                and self.prefix == other.prefix)

    def compatible(self, other):
        """True if both are numeric, same prefix, and width-compatible."""
        return (self.same_group(other)
                and width_equiv(self.lo, self.width, other.lo, other.width)[0])

    def sort_key(self):
        """A key that orders ranges as libhostlist's ``hostrange_cmp()``.

        Prefixes compare as strings (code point order is UTF-8 byte
        order, as ``memcmp`` sees it), a single host before a numeric range
        with the same prefix.  For numeric ranges, ``hostrange_cmp`` compares
        ``lo`` when the widths are compatible and the widths otherwise; that
        is the same as ordering zero-padded ranges of width ``w`` just before
        the unpadded ranges whose ``lo`` has ``w`` digits.
        """
        if self.single:
            return (self.prefix, 0, 0, 0, 0)
        digits = len(str(self.lo))
        if self.width > digits:
            return (self.prefix, 1, self.width, 0, self.lo)
        return (self.prefix, 1, digits, 1, self.lo)

    def __repr__(self):
        if self.single:
            return f"Range({self.prefix!r})"
        return f"Range({self.prefix!r}, {self.lo}, {self.hi}, {self.width})"


# --- decoding ---------------------------------------------------------------

def tokens(text):
    """Split a hostlist string into expressions.

    As libhostlist's ``next_tok()``: runs of space, TAB and comma separate
    expressions, except inside brackets (a bracket depth counter, which a
    stray ``]`` can drive negative: the rest of the string then stays one
    token and fails later).
    """
    if "[" not in text and "]" not in text:
        fields = text.replace("\t", ",").replace(" ", ",").split(",")
        return [f for f in fields if f]
    result = []
    level = 0
    start = None
    for i, ch in enumerate(text):
        if level == 0 and ch in SEPARATORS:
            if start is not None:
                result.append(text[start:i])
                start = None
            continue
        if start is None:
            start = i
        if ch == "[":
            level += 1
        elif ch == "]":
            level -= 1
    if start is not None:
        result.append(text[start:])
    return result


def parse_element(text):
    """Parse one ``N`` or ``LO-HI`` element of a bracket idlist.

    :returns: ``(lo, hi, width)``, the width being the length of ``LO``.
    :raises ValueError: ``("EINVAL", reason)`` or ``("ERANGE", reason)``.
    """
    lo_text, dash, hi_text = text.partition("-")
    if (not lo_text or lo_text.lstrip(_DIGITS)
            or (hi_text and hi_text.lstrip(_DIGITS))):
        raise ValueError("EINVAL", f"invalid range '{text}'")
    lo = int(lo_text)
    # "1-" is "1": libhostlist takes a missing HI to mean HI = LO.
    hi = int(hi_text) if hi_text else lo
    if lo > ULONG_MAX or hi > ULONG_MAX:
        raise ValueError("ERANGE", f"number out of range in '{text}'")
    if lo > hi:
        raise ValueError("EINVAL", f"invalid range '{text}'")
    if hi - lo + 1 > MAX_RANGE:
        raise ValueError("ERANGE",
                         f"range '{text}' is too large"
                         f" (more than {MAX_RANGE} hosts)")
    return lo, hi, len(lo_text)


def parse_idlist(text):
    """Parse the comma-separated idlist between ``[`` and ``]``.

    :returns: a list of ``(lo, hi, width)``.
    :raises ValueError: as :func:`parse_element`.
    """
    elements = text.split(",")
    if len(elements) > MAX_RANGES:
        raise ValueError("EINVAL",
                         f"too many ranges in brackets (more than {MAX_RANGES})")
    return [parse_element(e) for e in elements]


# --- encoding ---------------------------------------------------------------

def encode(ranges):
    """Compress a range array into its RFC 29 string.

    Consecutive numeric ranges with one prefix form one group; a group is
    bracketed unless it is a single one-host range.  Single hosts print
    verbatim.  Nothing is reordered.
    """
    parts = []
    i, n = 0, len(ranges)
    while i < n:
        r = ranges[i]
        if r.single:
            parts.append(r.prefix)
            i += 1
            continue
        j = i + 1
        while j < n and r.same_group(ranges[j]):
            j += 1
        if j == i + 1 and r.lo == r.hi:
            parts.append(r.prefix + r.number(r.lo))
        else:
            inner = ",".join(x.numstr() for x in ranges[i:j])
            parts.append(f"{r.prefix}[{inner}]")
        i = j
    return ",".join(parts)


# --- sort and uniq ----------------------------------------------------------

def _runs(ranges):
    """Split key-sorted ranges into runs libhostlist treats as one.

    A run is a maximal stretch of numeric ranges with one prefix whose
    neighbours are width-compatible; single hosts are runs of their own.
    In key order every pair inside a run is compatible (zero-padded width
    ``w`` ranges first, then unpadded ones of at least ``w`` digits).
    """
    i, n = 0, len(ranges)
    while i < n:
        j = i + 1
        if not ranges[i].single:
            while j < n and ranges[j - 1].compatible(ranges[j]):
                j += 1
        yield ranges[i:j]
        i = j


def _merged_sequence(run):
    """Range array for the sorted multiset of ids of a compatible run.

    libhostlist's ``hostlist_coalesce()`` splits overlapping neighbours
    into pieces until the ids read in nondecreasing order, then
    ``hostlist_collapse()`` joins pieces that continue each other (hi + 1
    == lo).  The outcome is the sorted id sequence cut wherever the next id
    is not the previous one plus one: ``[0-3],[0-3]`` becomes
    ``[0,0-1,1-2,2-3,3]``.  Computed here from a coverage sweep rather than
    by repeated splitting, so large duplicated ranges stay cheap.
    """
    first = run[0]
    prefix, width = first.prefix, first.width
    if len(run) == 1:
        return [first.copy()]
    events = {}
    for r in run:
        events[r.lo] = events.get(r.lo, 0) + 1
        events[r.hi + 1] = events.get(r.hi + 1, 0) - 1
    points = sorted(events)
    out = []
    cur = None          # [lo, hi] of the piece being grown
    depth = 0
    for k, x in enumerate(points[:-1]):
        depth += events[x]
        if depth == 0:
            continue
        end = points[k + 1] - 1
        if depth == 1:
            if cur is not None and cur[1] == x - 1:
                cur[1] = end
            else:
                if cur is not None:
                    out.append(Range(prefix, cur[0], cur[1], width))
                cur = [x, end]
            continue
        for v in range(x, end + 1):
            # the first copy of v continues the piece ending at v - 1; each
            # further copy starts a new piece
            if cur is not None and cur[1] == v - 1:
                cur[1] = v
            else:
                if cur is not None:
                    out.append(Range(prefix, cur[0], cur[1], width))
                cur = [v, v]
            for _ in range(depth - 1):
                out.append(Range(prefix, cur[0], cur[1], width))
                cur = [v, v]
    out.append(Range(prefix, cur[0], cur[1], width))
    return out


def sort_ranges(ranges):
    """Sort a range array the way ``hostlist_sort()`` does (keeps dups).

    :returns: a new list of new ranges.
    """
    ordered = sorted(ranges, key=Range.sort_key)
    out = []
    for run in _runs(ordered):
        if run[0].single:
            out.append(run[0].copy())
        else:
            out.extend(_merged_sequence(run))
    return out


def uniq_ranges(ranges):
    """Sort and drop duplicates the way ``hostlist_uniq()`` does.

    After sorting, each range is joined into its predecessor when both are
    the same single host, or numeric, width-compatible, and touching or
    overlapping.

    :returns: a new list of new ranges.
    """
    out = []
    for r in sorted(ranges, key=Range.sort_key):
        if out:
            tail = out[-1]
            if r.single:
                if tail.single and tail.prefix == r.prefix:
                    continue
            elif tail.compatible(r) and r.lo <= tail.hi + 1:
                if r.hi > tail.hi:
                    tail.hi = r.hi
                continue
        out.append(r.copy())
    return out


# --- deletion ---------------------------------------------------------------

def delete_hosts(ranges, names, all_occurrences=False):
    """Remove hosts from a range array in place of ``hostlist_delete()``.

    ``hostlist_delete()`` removes, for each name in turn, the first
    occurrence still present.  Which occurrences go does not depend on the
    order, so this removes, per distinct name, its first ``k`` occurrences
    (``k`` = how often the name was given), or all of them.  A range that
    loses ids in the middle is split in place and never re-joined to its
    neighbours, as in libhostlist.

    :param ranges: the range array (not modified).
    :param names: iterable of host names to remove.
    :param all_occurrences: remove every occurrence of each name.
    :returns: ``(new_ranges, removed_count)``.
    """
    pending = {}
    for name in names:
        pending[name] = pending.get(name, 0) + 1
    if not pending:
        return [r.copy() for r in ranges], 0
    if all_occurrences:
        # a negative budget never reaches zero: every occurrence goes
        pending = dict.fromkeys(pending, -1)
    # Index numeric candidates by every prefix they could be printed
    # with: "f007" is "f" + 007, "f0" + 07 and "f00" + 7.
    by_prefix = {}
    for name in pending:
        base = name.rstrip(_DIGITS)
        digits = name[len(base):]
        for k in range(len(digits)):
            num = int(digits[k:])
            by_prefix.setdefault(base + digits[:k], []).append(
                (num, len(digits) - k, name))
    for cands in by_prefix.values():
        cands.sort()
    nums = {p: [c[0] for c in cands] for p, cands in by_prefix.items()}

    out = []
    removed = 0
    for r in ranges:
        if r.single:
            left = pending.get(r.prefix, 0)
            if left:
                pending[r.prefix] = left - 1
                removed += 1
            else:
                out.append(r.copy())
            continue
        cands = by_prefix.get(r.prefix)
        if cands is None:
            out.append(r.copy())
            continue
        keys = nums[r.prefix]
        k = bisect_right(keys, r.lo - 1)
        gone = []
        while k < len(cands) and cands[k][0] <= r.hi:
            num, width, name = cands[k]
            k += 1
            if width != max(r.width, len(str(num))):
                continue
            left = pending[name]
            if left and (not gone or gone[-1] != num):
                pending[name] = left - 1
                gone.append(num)
        if not gone:
            out.append(r.copy())
            continue
        removed += len(gone)
        lo = r.lo
        for num in gone:
            if num > lo:
                out.append(Range(r.prefix, lo, num - 1, r.width))
            lo = num + 1
        if lo <= r.hi:
            out.append(Range(r.prefix, lo, r.hi, r.width))
    return out, removed
