# -*- test-case-name: tests.unit.kvs.test_content_service -*-
"""A least-recently-used cache bounded by the total size of its entries.

The content service keeps raw blobs in one, the KVS keeps decoded
directories in another.  Pure Python.
"""

from collections import OrderedDict

__all__ = ["LRUCache"]


class LRUCache:
    """``key -> value`` with a size per entry, evicting the least
    recently used entries once the sizes add up to more than
    ``max_bytes``.

    :param max_bytes: the budget; an entry larger than the budget is not
        kept at all.
    :param overhead: bytes charged per entry on top of its size (the
        key, the entry and the cache's own links: for small blobs they
        cost more than the data).
    """

    def __init__(self, max_bytes, overhead=0):
        self.max_bytes = max_bytes
        self.overhead = overhead
        self.size = 0
        self._entries = OrderedDict()

    def __len__(self):
        return len(self._entries)

    def __contains__(self, key):
        return key in self._entries

    def get(self, key, default=None):
        """The value (marking it recently used), or ``default``."""
        entry = self._entries.get(key)
        if entry is None:
            return default
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key, value, size):
        """Add or replace an entry, then evict down to the budget."""
        size += self.overhead
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old[1]
        if size > self.max_bytes:
            return
        self._entries[key] = (value, size)
        self.size += size
        while self.size > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= dropped

    def demote(self, keys):
        """Make the entries of ``keys`` (those present) the first to be
        evicted, without dropping them."""
        entries = self._entries
        for key in keys:
            if key in entries:
                entries.move_to_end(key, last=False)

    def clear(self):
        """Drop everything; returns how many entries were dropped."""
        count = len(self._entries)
        self._entries.clear()
        self.size = 0
        return count
