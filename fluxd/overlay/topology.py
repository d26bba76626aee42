# -*- test-case-name: tests.unit.overlay.test_topology -*-
"""TBON topology: which broker is whose parent, from a topology URI.

A Flux instance of ``size`` brokers is a tree rooted at rank 0 (the
leader).  Its shape comes from a topology URI ``scheme[:arg]``, as in
flux-core's ``src/modules/overlay/topology.c`` and ``libutil/kary.c``
(``spec/broker.md`` section 4):

``kary:K``
    parent(i) = (i-1) // K.  ``kary:0`` is *flat*: rank 0 is the parent
    of every other rank.  ``kary:32`` is the default of test instances.
``mincrit[:K]``
    At most three levels: ranks 1..K are routers under rank 0 and rank
    ``i > K`` hangs under router ``(i-K-1) % K + 1``.  Without K the
    smallest K >= 2 that keeps a router's fanout at or below 1024 is
    chosen, or 0 (flat) when rank 0 alone can serve 1024 children.
``binomial``
    The binomial tree of the smallest order covering ``size``: a node
    of order k has children ``r + 2**j`` for ``j < k``.
``custom``
    Flat unless a parent map says otherwise (config bootstrap's
    ``parent`` keys).  A parent map must describe a tree: rank 0 has no
    parent, every parent is a valid rank, and there are no cycles.

A URI of None is also flat, as ``topology_create(NULL, ...)`` is.

This module is pure: no Twisted, no I/O.  Everything is computed once in
:class:`Topology`'s constructor (O(size)), so the queries the overlay asks
on every message (:meth:`Topology.next_hop`) cost O(tree height).

Where we differ from flux-core: queries about a rank outside
``0..size-1`` raise :class:`TopologyError` (flux returns 0 or -1), K
values must be plain decimal digits (``strtoul`` would take ``+3`` or
``-1``), and a custom topology given host names requires one name per
rank.
"""

from collections.abc import Mapping

from fluxd.errors import InvalidArgument

__all__ = ["Topology", "TopologyError", "MINCRIT_MAX_FANOUT"]

#: Router fanout ``mincrit`` without K tries to stay under (flux's value).
MINCRIT_MAX_FANOUT = 1024

# binomial trees are sized by powers of two; flux stops at 2**30 (int).
_BINOMIAL_MAX_ORDER = 31


class TopologyError(InvalidArgument):
    """invalid topology"""


def _parse_k(path):
    """A K argument: decimal digits only, or None when malformed."""
    if not path or not path.isascii() or not path.isdigit():
        return None
    return int(path)


def _kary(size, path):
    k = _parse_k(path)
    if k is None:
        raise TopologyError("kary k value must be an integer >= 0")
    if k == 0:
        return [None] + [0] * (size - 1)
    return [None] + [(i - 1) // k for i in range(1, size)]


def _mincrit_router_fanout(size, k):
    """Leaves per router when ``k`` routers share the non-critical ranks."""
    leaves = size - (1 + k)
    return -(-leaves // k)   # ceiling division


def _mincrit_choose_k(size, max_fanout=MINCRIT_MAX_FANOUT):
    # k=0 (flat) whenever the leader can take everyone; never k=1, which
    # only moves the leader's work to rank 1 without any tree benefit.
    if size <= max_fanout + 1:
        return 0
    k = 2
    while _mincrit_router_fanout(size, k) > max_fanout:
        k += 1
    return k


def _mincrit(size, path):
    if path:
        k = _parse_k(path)
        if k is None:
            raise TopologyError("mincrit k value must be an integer >= 0")
    else:
        k = _mincrit_choose_k(size)
    parents = [None] + [0] * (size - 1)
    if k > 0:
        for i in range(k + 1, size):
            parents[i] = (i - k - 1) % k + 1
    return parents


def _binomial(size, path):
    if path:
        raise TopologyError(
            f"unknown binomial topology directive: '{path}'")
    order = next((k for k in range(_BINOMIAL_MAX_ORDER) if size <= 1 << k),
                 None)
    if order is None:
        raise TopologyError("binomial: internal overflow")
    parents = [None] + [0] * (size - 1)
    # iterative form of: node r of order k adopts r + 2**j (order j), j < k
    stack = [(0, order)]
    while stack:
        root, k = stack.pop()
        for j in range(k):
            child = root + (1 << j)
            if child < size:
                parents[child] = root
                stack.append((child, j))
    return parents


def _custom(size, path, parents, hosts):
    if path:
        raise TopologyError(f"unknown custom topology directive: '{path}'")
    tree = [None] + [0] * (size - 1)
    if parents is None:
        return tree
    if not isinstance(parents, Mapping):
        raise TopologyError("custom topology parents must map rank to parent")
    if hosts is not None and len(hosts) != size:
        raise TopologyError("topology size does not match host array size")

    def name(rank):
        return hosts[rank] if hosts is not None else None

    # first occurrence wins, as flux's gethostrank() scans from rank 0
    rank_of = {}
    for index, host in enumerate(hosts or ()):
        rank_of.setdefault(host, index)

    def lookup(parent):
        if isinstance(parent, str):
            return rank_of.get(parent)
        if isinstance(parent, int) and not isinstance(parent, bool) \
                and 0 <= parent < size:
            return parent
        return None

    def is_descendant(rank, ancestor):
        # walk up from rank; the tree built so far never holds a cycle
        while tree[rank] is not None:
            rank = tree[rank]
            if rank == ancestor:
                return True
        return False

    for rank in parents:
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 0:
            raise TopologyError(f"invalid rank {rank!r} in custom topology")
    # rank order, as flux walks its hosts array: the cycle check below
    # relies on every parent set so far forming a tree
    for rank in sorted(parents):
        parent = parents[rank]
        if parent is None:
            continue
        host = name(rank)
        who = f"{host} (rank {rank})" if host is not None else f"rank {rank}"
        if rank == 0:
            who0 = f"rank 0 ({host})" if host is not None else "rank 0"
            raise TopologyError(
                f"{who0} may not have a parent in a tree topology")
        if rank >= size:
            raise TopologyError("topology size does not match host array size")
        parent_rank = lookup(parent)
        if parent_rank is None:
            raise TopologyError(f'invalid parent "{parent}" for {who}')
        if parent_rank == rank or is_descendant(parent_rank, rank):
            raise TopologyError(
                f'parent "{parent}" for {who} violates rule against cycles')
        tree[rank] = parent_rank
    return tree


_SCHEMES = {
    "kary": lambda size, path, parents, hosts: _kary(size, path),
    "mincrit": lambda size, path, parents, hosts: _mincrit(size, path),
    "binomial": lambda size, path, parents, hosts: _binomial(size, path),
    "custom": _custom,
}


class Topology:
    """The tree of an instance: parents, children, levels and routes.

    :param uri: ``kary:K``, ``mincrit[:K]``, ``binomial``, ``custom`` (an
        empty argument such as ``custom:`` is the same as none), or None
        for flat.
    :param size: the number of brokers (>= 1).
    :param parents: for ``custom`` only (other schemes ignore it, as
        flux's plugins ignore the hosts array): a mapping of rank to its
        parent, given as a rank or, with ``hosts``, as a host name.
        Ranks not in the mapping (or mapped to None) hang under rank 0.
    :param hosts: for ``custom`` only: the host name of each rank, used
        to resolve parent names and in error messages (flux's wording
        then names hosts: ``rank 0 (test0) may not have a parent in a
        tree topology``).
    :raises TopologyError: on a bad URI, a size below 1, or a parent map
        that is not a tree; the one-line message follows flux-core's.
    """

    def __init__(self, uri, size, *, parents=None, hosts=None):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise TopologyError(f"invalid topology size {size}")
        if uri is None:
            scheme, path = "kary", "0"
        else:
            scheme, _, path = uri.partition(":")
        build = _SCHEMES.get(scheme)
        if build is None:
            raise TopologyError(f"unknown topology scheme '{scheme}'")
        if hosts is not None:
            hosts = list(hosts)
        self._uri = uri
        self._size = size
        self._parent = build(size, path, parents, hosts)
        self._children = [[] for _ in range(size)]
        for rank in range(1, size):
            self._children[self._parent[rank]].append(rank)
        # breadth-first order from the root: levels top-down, then subtree
        # sizes bottom-up in reverse order
        order = [0]
        self._level = [0] * size
        for rank in order:
            for child in self._children[rank]:
                self._level[child] = self._level[rank] + 1
                order.append(child)
        self._count = [0] * size
        for rank in reversed(order):
            parent = self._parent[rank]
            if parent is not None:
                self._count[parent] += self._count[rank] + 1
        self._maxlevel = max(self._level)

    # -- properties --------------------------------------------------------

    @property
    def uri(self):
        """The topology URI this tree was built from (None: flat)."""
        return self._uri

    @property
    def size(self):
        """The number of ranks."""
        return self._size

    @property
    def maxlevel(self):
        """The depth of the deepest rank (0 for a single broker)."""
        return self._maxlevel

    def __len__(self):
        return self._size

    def __repr__(self):
        return f"<Topology {self._uri} size={self._size}>"

    # -- per-rank queries --------------------------------------------------

    def _check(self, rank):
        if isinstance(rank, bool) or not isinstance(rank, int) \
                or not 0 <= rank < self._size:
            raise TopologyError(
                f"{rank} is not a valid rank in this instance")

    def parent(self, rank):
        """The parent of ``rank``, or None for rank 0.

        :raises TopologyError: when ``rank`` is outside the instance.
        """
        self._check(rank)
        return self._parent[rank]

    def children(self, rank):
        """The children of ``rank`` in ascending order (a new list)."""
        self._check(rank)
        return list(self._children[rank])

    def level(self, rank):
        """The depth of ``rank``: 0 for rank 0, 1 for its children..."""
        self._check(rank)
        return self._level[rank]

    def descendants(self, rank):
        """How many ranks are below ``rank`` (flux's descendant count)."""
        self._check(rank)
        return self._count[rank]

    def subtree(self, rank):
        """The ranks below ``rank`` (not ``rank`` itself), ascending."""
        self._check(rank)
        out = []
        stack = list(self._children[rank])
        while stack:
            r = stack.pop()
            out.append(r)
            stack.extend(self._children[r])
        out.sort()
        return out

    def ancestors(self, rank):
        """The ranks above ``rank``, nearest first (its parent ... 0)."""
        self._check(rank)
        out = []
        parent = self._parent[rank]
        while parent is not None:
            out.append(parent)
            parent = self._parent[parent]
        return out

    def is_ancestor(self, ancestor, rank):
        """Whether ``ancestor`` is above ``rank`` in the tree."""
        self._check(ancestor)
        self._check(rank)
        return self._level[ancestor] < self._level[rank] and \
            self._child_toward(ancestor, rank) is not None

    def _child_toward(self, at, target):
        """The child of ``at`` whose subtree holds ``target``, or None."""
        rank = target
        # climbing stops at the level just below ``at``
        while self._level[rank] > self._level[at] + 1:
            rank = self._parent[rank]
        if self._level[rank] == self._level[at] + 1 \
                and self._parent[rank] == at:
            return rank
        return None

    def child_route(self, at, target):
        """The child of ``at`` to forward a message for ``target`` to.

        :returns: a child rank, or None when ``target`` is not below ``at``
            (or is ``at`` itself).
        :raises TopologyError: when a rank is outside the instance.
        """
        self._check(at)
        self._check(target)
        if target == at:
            return None
        return self._child_toward(at, target)

    def route(self, from_rank, to_rank):
        """The next hop from ``from_rank`` towards ``to_rank``.

        Downward when ``to_rank`` is in ``from_rank``'s subtree (the child
        whose subtree holds it), otherwise upward (the parent).

        :returns: the next rank on the path, or ``from_rank`` itself when
            the two are equal (the message has arrived).
        :raises TopologyError: when a rank is outside the instance.
        """
        self._check(from_rank)
        self._check(to_rank)
        if to_rank == from_rank:
            return from_rank
        child = self._child_toward(from_rank, to_rank)
        if child is not None:
            return child
        return self._parent[from_rank]

    #: The name the overlay service uses for :meth:`route`.
    next_hop = route

    # -- whole-tree queries ------------------------------------------------

    def internal_ranks(self):
        """Ranks with at least one child, ascending (flux's internal ranks).

        A single broker has none.
        """
        return [r for r in range(self._size) if self._children[r]]

    def critical_ranks(self):
        """Rank 0 and every router: the ``broker.critical-ranks`` set."""
        return sorted({0, *self.internal_ranks()})

    def to_json(self, rank=0):
        """The subtree at ``rank`` as ``overlay.topology`` returns it.

        :returns: ``{"rank": r, "size": descendants + 1, "children":
            [...]}``, nested for each child in ascending rank order.
        """
        self._check(rank)
        # iterative post-order so deep trees (kary:1) do not recurse
        built = {}
        stack = [(rank, False)]
        while stack:
            r, done = stack.pop()
            if done:
                built[r] = {"rank": r, "size": self._count[r] + 1,
                            "children": [built.pop(c)
                                         for c in self._children[r]]}
            else:
                stack.append((r, True))
                stack.extend((c, False) for c in self._children[r])
        return built[rank]

    def parents(self):
        """The parent of every rank as a list (None for rank 0)."""
        return list(self._parent)
