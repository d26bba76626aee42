# -*- test-case-name: tests.unit.formats.test_rorder -*-
"""The order in which flux-core writes a node's children in R.

flux-core keeps a node's resource types (``core``, ``gpu``, ...) in a
czmq ``zhashx`` hash table and encodes them while iterating it, so the
order of the ``children`` keys in an R it prints is the table's iteration
order: bucket by bucket, and within a bucket the most recent insertion
first.  ``flux R encode -c 0-3 -g 0`` therefore prints ``{"gpu": "0",
"core": "0-3"}``: ``core`` is inserted when the node is created, ``gpu``
after it, and both land in bucket 0 of the initial 3-bucket table.
Copying a node (``zhashx_dup``) re-inserts its types in iteration order,
which reverses a bucket: the copy prints ``core`` first.

:class:`ChildTable` replays those insertions (the hash, the table sizes,
the growth and chain rules of zhashx) for the names alone, so that fluxd
prints children in the order flux-core would.
"""

__all__ = ["ChildTable"]

_MASK = (1 << 64) - 1

#: zhashx table sizes (czmq's zhash_primes.inc), up to 2^16: a node has a
#: handful of resource types, and past the last size the table stays put
_PRIMES = (
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 43, 47, 53, 59, 61, 103, 107, 109,
    113, 127, 229, 233, 239, 241, 251, 487, 491, 499, 503, 509, 997, 1009,
    1013, 1019, 1021, 2011, 2017, 2027, 2029, 2039, 4057, 4073, 4079, 4091,
    4093, 8161, 8167, 8171, 8179, 8191, 16349, 16361, 16363, 16369, 16381,
    32707, 32713, 32717, 32719, 32749, 65449, 65479, 65497, 65519, 65521,
)
_GROWTH = 5          # prime indexes skipped when the table grows
_LOAD_FACTOR = 75    # percent of the size that triggers growth


def _hash(name):
    """zhashx's modified Bernstein hash (64-bit ``size_t``, signed char)."""
    value = 0
    for byte in name.encode("utf-8", "surrogateescape"):
        char = byte - 256 if byte > 127 else byte
        value = ((33 * value) ^ (char & _MASK)) & _MASK
    return value


class ChildTable:
    """The names of one node's children, kept as flux-core's table keeps
    them.  Iterating yields them in flux-core's encoding order."""

    __slots__ = ("_prime", "_chain_limit", "_buckets", "_size")

    def __init__(self):
        self._prime = 0
        self._chain_limit = 1
        self._buckets = [[] for _ in range(_PRIMES[0])]
        self._size = 0

    def _rehash(self, prime):
        prime = min(prime, len(_PRIMES) - 1)
        buckets = [[] for _ in range(_PRIMES[prime])]
        for bucket in self._buckets:
            for name in bucket:
                buckets[_hash(name) % len(buckets)].insert(0, name)
        self._buckets = buckets
        self._prime = prime

    def _lookup(self, name):
        """zhashx's lookup: a chain longer than the limit before the name
        (or in all, when absent) grows the table."""
        bucket = self._buckets[_hash(name) % len(self._buckets)]
        position = bucket.index(name) if name in bucket else len(bucket)
        if position > self._chain_limit:
            self._rehash(self._prime + _GROWTH)
        return name in bucket

    def __contains__(self, name):
        return self._lookup(name)

    def add(self, name):
        """Look ``name`` up and insert it when absent, as flux-core adds a
        child to a node (``zhashx_lookup`` then ``zhashx_insert``)."""
        if not self._lookup(name):
            self._insert(name)

    def _insert(self, name):
        """``zhashx_insert``: grow when 75% full, then insert at the head
        of the name's bucket (nothing when already there)."""
        if self._size >= len(self._buckets) * _LOAD_FACTOR // 100:
            self._rehash(self._prime + _GROWTH)
            self._chain_limit += 1
        if self._lookup(name):
            return
        self._buckets[_hash(name) % len(self._buckets)].insert(0, name)
        self._size += 1

    def discard(self, name):
        """Remove ``name`` if present (``zhashx_delete``)."""
        if self._lookup(name):
            self._buckets[_hash(name) % len(self._buckets)].remove(name)
            self._size -= 1

    def dup(self):
        """A copy as ``zhashx_dup`` makes it: a new table, the names
        inserted in this one's iteration order."""
        result = ChildTable()
        for name in self:
            result._insert(name)
        return result

    def clone(self):
        """An identical table (a copy flux-core would not make)."""
        result = ChildTable()
        result._prime = self._prime
        result._chain_limit = self._chain_limit
        result._buckets = [list(bucket) for bucket in self._buckets]
        result._size = self._size
        return result

    def __iter__(self):
        for bucket in self._buckets:
            yield from bucket

    def __len__(self):
        return self._size

    def __repr__(self):
        return f"ChildTable({list(self)!r})"
