# -*- test-case-name: tests.unit.formats.test_hostlist -*-
"""RFC 29 hostlists, as flux-core's libhostlist implements them.

A hostlist is an ordered list of host names (duplicates allowed) written in
a compressed form: ``foo[1-3,7],bar`` is ``foo1 foo2 foo3 foo7 bar``.  This
module follows the C implementation wherever it differs from the RFC text
(see the formats digest, section 1):

- space and TAB separate expressions as well as ``,``;
- each ``[...]`` element has its own zero-padding width (``foo[005,4]`` is
  ``foo005 foo4``);
- text after ``]`` turns every id into a verbatim single host, and only the
  first bracket group of an expression is expanded;
- appending joins a range onto the tail only when it continues it with a
  compatible width, so order and duplicates survive encoding
  (``foo[3,2,1]``, ``foo[1,1-2,1]``);
- :meth:`Hostlist.sort` keeps duplicates (``[0-12,12-15,15-20]``) and
  :meth:`Hostlist.uniq` sorts and merges.

Hostlists are stored as ranges and never expanded to count, encode, index
or sort: ``x[0-1048575]`` is one range.

As in libhostlist, :meth:`Hostlist.uniq` merges ranges rather than
names, so a name spelt two ways (``a10`` and ``a1[0]``) survives it twice;
:func:`union`, :func:`intersect` and :func:`xor` also drop such repeats.

Deliberate departures from flux-core, all for inputs where the C code
misbehaves: ids above 2**64-1 are an ERANGE error (C wraps or clamps them
silently); an element with stray text (``1x-3``, a leading space or ``+``)
is EINVAL where ``strtoul()`` would accept it; a host whose numeric suffix
exceeds 2**64-1 is kept as a single host (C drops it); host names are not
truncated at 1023 bytes; lookups match names exactly even past the
10-digit limit of C's digit-shifting search; and sorting ranges whose
zero-padding widths conflict across an overlap (where C trips an
assertion) gives the sorted id sequence.
"""

import errno as _errno
import numbers
from bisect import bisect_right
from collections.abc import Iterable

from fluxd.errors import InvalidArgument, NotFound, ValueRangeError
from fluxd.formats import _hostrange
from fluxd.formats._hostrange import Range

__all__ = [
    "Hostlist", "HostlistError", "HostlistRangeError", "HostlistIndexError",
    "decode", "union", "intersect", "difference", "xor",
]

# Hosts of a range whose prefix ends in one of these re-parse to another
# prefix when appended one by one ("f00" + "7" is "f" + "007").
_DIGIT_CHARS = frozenset("0123456789")


class HostlistError(InvalidArgument):
    """Invalid hostlist"""


class HostlistRangeError(HostlistError, ValueRangeError):
    """Hostlist range too large"""

    errno = _errno.ERANGE


class HostlistIndexError(NotFound, IndexError):
    """Hostlist index out of range"""


def _invalid(text, exc):
    """Turn a parser ``ValueError(code, reason)`` into a HostlistError."""
    code, reason = exc.args
    cls = HostlistRangeError if code == "ERANGE" else HostlistError
    return cls(f"Invalid hostlist: '{text}': {reason}")


def _push(ranges, r):
    """Append range ``r`` (owned by the caller) to a range array.

    As libhostlist's ``hostlist_append_range()``: ``r`` is joined onto the
    tail when both are numeric with one prefix, ``r`` starts right after
    the tail ends, and the widths are compatible (``foo9,foo10`` is
    ``foo[9-10]``, ``foo9,foo010`` stays ``foo[9,010]``).
    """
    if ranges and not r.single:
        tail = ranges[-1]
        if (not tail.single and tail.hi == r.lo - 1
                and tail.prefix == r.prefix):
            ok, width, _ = _hostrange.width_equiv(tail.lo, tail.width,
                                                  r.lo, r.width)
            if ok:
                tail.width = width
                tail.hi = r.hi
                return
    ranges.append(r)


def _decode_ranges(text):
    """Decode a hostlist string into a new range array.

    :returns: ``(ranges, count)``.
    :raises HostlistError: for malformed input (EINVAL).
    :raises HostlistRangeError: for a range of more than 2**20 hosts.
    """
    ranges = []
    count = 0
    for tok in _hostrange.tokens(text):
        lb = tok.find("[")
        if lb < 0:
            if "]" in tok:
                raise HostlistError(f"Invalid hostlist: '{text}':"
                                    f" unmatched ']' in '{tok}'")
            r = Range.for_host(tok)
            _push(ranges, r)
            count += 1
            continue
        prefix, rest = tok[:lb], tok[lb + 1:]
        rb = rest.find("]")
        if rb < 0:
            raise HostlistError(f"Invalid hostlist: '{text}':"
                                f" unmatched '[' in '{tok}'")
        try:
            elements = _hostrange.parse_idlist(rest[:rb])
        except ValueError as exc:
            raise _invalid(text, exc) from None
        suffix = rest[rb + 1:]
        for lo, hi, width in elements:
            count += hi - lo + 1
            if suffix:
                # With a suffix every id becomes a verbatim host that never
                # joins a range; a second bracket group stays literal text.
                for n in range(lo, hi + 1):
                    ranges.append(Range(prefix + str(n).zfill(width) + suffix,
                                        single=True))
            else:
                _push(ranges, Range(prefix, lo, hi, width))
    return ranges, count


def _check_host(host):
    """Validate a host name given to find/contains.

    :raises HostlistError: for a name containing ``,``, ``[``, ``]``, space
        or TAB (EINVAL in libhostlist).
    """
    if not isinstance(host, str):
        raise TypeError(f"host name must be a string, not {type(host).__name__}")
    if not _hostrange.INVALID_HOST_CHARS.isdisjoint(host):
        raise HostlistError(f"invalid host name '{host}'")


class Hostlist:
    """An ordered list of host names with RFC 29 encoding.

    :param hosts: None or ``""`` for an empty list; a hostlist string to
        decode; another :class:`Hostlist` (its hosts are appended by name,
        as the Python bindings do); or an iterable whose items are hostlist
        strings or :class:`Hostlist` objects, appended in turn.
    :raises HostlistError: if a string is not a valid hostlist.
    :raises TypeError: if an item is neither a string nor a Hostlist.

    >>> str(Hostlist("foo1,foo2,foo3,bar"))
    'foo[1-3],bar'
    """

    __slots__ = ("_ranges", "_count", "_starts", "_positions", "_scanned")
    __hash__ = None  # mutable

    def __init__(self, hosts=None):
        self._ranges = []
        self._count = 0
        self._starts = None
        self._positions = None
        self._scanned = 0
        if hosts is None:
            return
        if isinstance(hosts, str):
            self._ranges, self._count = _decode_ranges(hosts)
        elif isinstance(hosts, Hostlist):
            self._extend_names_of(hosts)
        elif isinstance(hosts, Iterable):
            for item in hosts:
                if not isinstance(item, (str, Hostlist)):
                    raise TypeError("Hostlist(): expected string or Hostlist"
                                    f" items, got {type(item).__name__}")
                self.append(item)
        else:
            raise TypeError("Hostlist(): expected string or Iterable,"
                            f" got {type(hosts).__name__}")

    @classmethod
    def decode(cls, s):
        """Decode an RFC 29 hostlist string.

        :param s: e.g. ``"foo[1-3],bar"``; ``""`` is the empty list.
        :returns: a new :class:`Hostlist`.
        :raises HostlistError: if ``s`` is None or malformed (EINVAL).
        :raises HostlistRangeError: if one range holds more than 2**20
            hosts (ERANGE).
        """
        if s is None:
            raise HostlistError("Invalid hostlist: None")
        if not isinstance(s, str):
            raise TypeError(f"hostlist must be a string, not {type(s).__name__}")
        return cls(s)

    # --- internal helpers --------------------------------------------------

    def _changed(self):
        self._starts = None
        self._positions = None
        self._scanned = 0

    def _push_name(self, name):
        """Append one host name as ``hostlist_append(name)`` would."""
        if _hostrange.INVALID_HOST_CHARS.isdisjoint(name):
            if name:
                _push(self._ranges, Range.for_host(name))
                self._count += 1
        else:
            ranges, count = _decode_ranges(name)
            for r in ranges:
                _push(self._ranges, r)
            self._count += count

    def _extend_names(self, names):
        for name in names:
            self._push_name(name)
        self._changed()

    def _extend_names_of(self, other):
        """Append every host of ``other`` by name (re-parsing each name).

        Appending ``f00[7-8]`` host by host gives ``f[007-008]``, as in
        flux-core's Python bindings; ranges whose prefix does not end in a
        digit come out unchanged, so they are copied whole.
        """
        for r in other._ranges:
            if (r.single or r.prefix[-1:] in _DIGIT_CHARS
                    or not _hostrange.INVALID_HOST_CHARS.isdisjoint(r.prefix)):
                for name in r.hosts():
                    self._push_name(name)
            else:
                _push(self._ranges, r.copy())
                self._count += r.count()
        self._changed()

    @classmethod
    def _from_names(cls, names):
        result = cls()
        result._extend_names(names)
        return result

    def _range_starts(self):
        if self._starts is None:
            starts, total = [], 0
            for r in self._ranges:
                starts.append(total)
                total += r.count()
            self._starts = starts
        return self._starts

    def _host_at(self, i):
        k = bisect_right(self._range_starts(), i) - 1
        return self._ranges[k].host(i - self._starts[k])

    # --- encoding ----------------------------------------------------------

    def encode(self):
        """Compress to an RFC 29 string (order and duplicates kept).

        :returns: e.g. ``"foo[1-3,5],bar"``; ``""`` when empty.
        """
        return _hostrange.encode(self._ranges)

    def __str__(self):
        return self.encode()

    def __repr__(self):
        return f"Hostlist('{self.encode()}')"

    def __eq__(self, other):
        """Equal when both encode to the same string.

        A string operand is decoded first (an invalid one is never equal).
        """
        if isinstance(other, str):
            try:
                other = Hostlist(other)
            except HostlistError:
                return False
        if not isinstance(other, Hostlist):
            return NotImplemented
        return self.encode() == other.encode()

    # --- size, iteration, indexing -----------------------------------------

    def __len__(self):
        return self._count

    def count(self):
        """Number of hosts (duplicates included)."""
        return self._count

    def __iter__(self):
        for r in self._ranges:
            yield from r.hosts()

    def expand(self):
        """All host names, in order, as a list."""
        return list(self)

    def __getitem__(self, index):
        """Index like a Python list.

        :param index: an int (negative counts from the end) for one host
            name; a slice or an iterable of ints for a new :class:`Hostlist`
            built host by host (``hl[1,3]``).
        :raises HostlistIndexError: (an IndexError) when out of range.
        :raises TypeError: for any other index type.
        """
        if isinstance(index, numbers.Integral):
            i = int(index)
            if i < 0:
                i += self._count
            if not 0 <= i < self._count:
                raise HostlistIndexError(f"Hostlist index {index} out of range")
            return self._host_at(i)
        if isinstance(index, slice):
            return self._from_names(self._host_at(i)
                                    for i in range(self._count)[index])
        if isinstance(index, Iterable) and not isinstance(index, str):
            def names():
                for i in index:
                    if not isinstance(i, numbers.Integral):
                        raise TypeError(f"Invalid Hostlist index '{i}'")
                    yield self[i]
            return self._from_names(names())
        raise TypeError("Hostlist index must be integer or slice")

    def nth(self, i):
        """The host at 0-based position ``i``, as ``hostlist_nth()``.

        :raises HostlistError: if ``i`` is negative (EINVAL).
        :raises NotFound: if ``i`` is past the end (ENOENT).
        """
        if i < 0:
            raise HostlistError(f"invalid host index {i}")
        if i >= self._count:
            raise NotFound(f"host index {i} out of range"
                           f" (hostlist has {self._count} hosts)")
        return self._host_at(i)

    def index(self, idx_expr):
        """Select hosts by an idset of positions, as ``flux hostlist -n``.

        :param idx_expr: an RFC 22 idset of 0-based positions (``"1,3-4"``);
            with a leading ``-`` the ids count from the end, ``1`` being the
            last host (``"-1,3-4"`` of ``foo[1-10]`` is ``foo[7-8,10]``).
            The result keeps the list's order.  An int is accepted too.
        :returns: a new :class:`Hostlist`.
        :raises HostlistError: if the idset is malformed.
        :raises HostlistIndexError: if a position is out of range.
        """
        from fluxd.formats.idset import IDset
        text = str(idx_expr)
        negative = text.startswith("-")
        try:
            ids = IDset.decode(text[1:] if negative else text)
        except InvalidArgument as exc:
            raise HostlistError(f"invalid index '{text}': {exc}") from None
        if negative:
            return self._from_names(self[-x] for x in reversed(ids))
        return self._from_names(self[x] for x in ids)

    # --- lookup ------------------------------------------------------------

    def _first_positions(self):
        if self._positions is None:
            positions = {}
            for i, name in enumerate(self):
                positions.setdefault(name, i)
            self._positions = positions
        return self._positions

    def find(self, host):
        """Position of the first occurrence of ``host``.

        :returns: the 0-based index, or -1 if absent.
        :raises HostlistError: if ``host`` contains ``,``, ``[``, ``]``,
            space or TAB.
        """
        _check_host(host)
        if self._positions is not None:
            return self._positions.get(host, -1)
        # Scan the ranges until the scans have cost as much as building a
        # name -> position table would, then build it: a few lookups in
        # x[0-1048575] stay instant, many lookups in a fragmented list stay
        # O(1) each.
        self._scanned += len(self._ranges)
        if self._scanned > self._count + 64:
            return self._first_positions().get(host, -1)
        base = 0
        for r in self._ranges:
            offset = r.offset_of(host)
            if offset >= 0:
                return base + offset
            base += r.count()
        return -1

    def __contains__(self, host):
        if not isinstance(host, str):
            return False
        try:
            return self.find(host) >= 0
        except HostlistError:
            return False

    def find_indices(self, hosts, ignore_nomatch=False):
        """Positions of several hosts (the bindings' ``Hostlist.index()``).

        :param hosts: a hostlist string or :class:`Hostlist`.
        :param ignore_nomatch: skip hosts that are absent instead of failing.
        :returns: a list of ints, one per host found, in ``hosts`` order.
        :raises NotFound: ``host 'foo1' not found`` (or ``hosts '...' not
            found``) unless ``ignore_nomatch``.
        """
        if not isinstance(hosts, Hostlist):
            hosts = Hostlist(hosts)
        ids, missing = [], []
        for host in hosts:
            i = self.find(host)
            if i < 0:
                missing.append(host)
            else:
                ids.append(i)
        if missing and not ignore_nomatch:
            plural = "s" if len(missing) > 1 else ""
            raise NotFound(f"host{plural} '{self._from_names(missing)}'"
                           " not found")
        return ids

    # --- modification ------------------------------------------------------

    def append(self, hosts):
        """Append hosts at the end.

        :param hosts: a hostlist string, a :class:`Hostlist` (its ranges are
            appended as ``hostlist_append_list()`` does), or an iterable of
            those.
        :returns: the number of hosts added.
        :raises HostlistError: if a string is malformed; nothing is added.
        """
        if isinstance(hosts, str):
            ranges, count = _decode_ranges(hosts)
        elif isinstance(hosts, Hostlist):
            ranges = [r.copy() for r in hosts._ranges]
            count = hosts._count
        elif isinstance(hosts, Iterable):
            added = 0
            for item in hosts:
                if not isinstance(item, (str, Hostlist)):
                    raise TypeError("Hostlist.append(): expected string or"
                                    f" Hostlist, got {type(item).__name__}")
                added += self.append(item)
            return added
        else:
            raise TypeError("Hostlist.append(): expected string or Hostlist,"
                            f" got {type(hosts).__name__}")
        for r in ranges:
            _push(self._ranges, r)
        self._count += count
        self._changed()
        return count

    def _delete(self, hosts, all_occurrences):
        if isinstance(hosts, Hostlist):
            names = iter(hosts)
        elif isinstance(hosts, str):
            names = iter(Hostlist(hosts))
        else:
            raise TypeError("Hostlist.delete(): expected string or Hostlist,"
                            f" got {type(hosts).__name__}")
        self._ranges, removed = _hostrange.delete_hosts(
            self._ranges, names, all_occurrences)
        self._count -= removed
        self._changed()
        return removed

    def delete(self, hosts):
        """Remove the first occurrence of each given host.

        A range that loses a host in its middle is split in two and stays
        split: ``foo[2-5]`` minus ``foo3`` is ``foo[2,4-5]``.

        :param hosts: a hostlist string or :class:`Hostlist`.
        :returns: the number of hosts removed.
        :raises HostlistError: if ``hosts`` is malformed.
        """
        return self._delete(hosts, all_occurrences=False)

    def delete_all(self, hosts):
        """Remove every occurrence of each given host.

        The same as calling :meth:`delete` until it removes nothing.

        :returns: the number of hosts removed.
        """
        return self._delete(hosts, all_occurrences=True)

    def sort(self):
        """Sort in place, keeping duplicates; returns ``self``.

        ``foo[0-3],foo[0-3]`` sorts to ``foo[0,0-1,1-2,2-3,3]``.
        """
        self._ranges = _hostrange.sort_ranges(self._ranges)
        self._changed()
        return self

    def uniq(self):
        """Sort in place and drop duplicates; returns ``self``.

        Like libhostlist this merges ranges, so a name spelt with two
        prefixes (``a1[0]`` and ``a10``) or held by two ranges of
        conflicting zero-padding (``a[99-100]``, ``a[095-100]``) stays
        twice; :func:`union` and friends remove those too.
        """
        self._ranges = _hostrange.uniq_ranges(self._ranges)
        self._count = sum(r.count() for r in self._ranges)
        self._changed()
        return self

    def copy(self):
        """An independent copy with the same ranges."""
        result = Hostlist()
        result._ranges = [r.copy() for r in self._ranges]
        result._count = self._count
        return result

    __copy__ = copy


def decode(s):
    """Decode a hostlist string (or iterable of them) to a :class:`Hostlist`."""
    return Hostlist(s)


def _coerce(hosts):
    return hosts if isinstance(hosts, Hostlist) else Hostlist(hosts)


def _may_repeat(ranges):
    """Whether a uniq'd range array could still hold a name twice.

    libhostlist's uniq compares ranges, not names, so one name can survive
    twice when it is spelt with two prefixes (``a1[0]`` and ``a10``) or
    sits in two ranges of conflicting zero-padding (``a[99-100]`` and
    ``a[095-100]`` both hold ``a100``).  Neither can happen unless some
    numeric prefix repeats or ends in a digit, or a single host ends in a
    digit.
    """
    seen = set()
    for r in ranges:
        if r.prefix[-1:] in _DIGIT_CHARS:
            return True
        if not r.single:
            if r.prefix in seen:
                return True
            seen.add(r.prefix)
    return False


def _set_uniq(hosts):
    """``uniq()``, then drop any name libhostlist's uniq left twice."""
    hosts.uniq()
    if _may_repeat(hosts._ranges):
        names = list(hosts)
        unique = dict.fromkeys(names)
        if len(unique) != len(names):
            hosts = Hostlist._from_names(unique).uniq()
    return hosts


def union(*lists):
    """All hosts of all lists, sorted, each name once.

    :param lists: hostlist strings or :class:`Hostlist` objects.
    :returns: a new :class:`Hostlist`.
    """
    result = Hostlist()
    for hosts in lists:
        result.append(_coerce(hosts))
    return _set_uniq(result)


def intersect(a, b):
    """Hosts of ``a`` that are also in ``b``, sorted, each name once.

    :returns: a new :class:`Hostlist`.
    """
    a, b = _coerce(a), _coerce(b)
    return _set_uniq(Hostlist._from_names(h for h in a if h in b))


def difference(a, b):
    """Hosts of ``a`` that are not in ``b``, in ``a``'s order with dups.

    :returns: a new :class:`Hostlist`.
    """
    a, b = _coerce(a), _coerce(b)
    return Hostlist._from_names(h for h in a if h not in b)


def xor(a, b):
    """Hosts in exactly one of ``a`` and ``b``, sorted, each name once.

    :returns: a new :class:`Hostlist`.
    """
    a, b = _coerce(a), _coerce(b)
    result = difference(a, b)
    result.append(difference(b, a))
    return _set_uniq(result)
