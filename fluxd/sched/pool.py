# -*- test-case-name: tests.unit.sched.test_pool -*-
"""The free resources of the instance, indexed (pure, synchronous).

Every rank is a :class:`Node` with its core and GPU ids as bit sets.  The
pool keeps, for every count ``k``, a bit set of the up ranks with at
least ``k`` free cores (``core_ge[k]``; one for GPUs too), the set of idle
ranks and, for whole-node requests, sets by *total* cores and GPUs.  A
question such as "which up ranks can hold 4 cores and a GPU" is then a
couple of big-integer operations whatever the size of the instance, and
allocating or freeing ``k`` cores on a rank flips ``k`` bits.

:class:`Shape` turns a request into a *capacity* function: how much of
the request one rank could hold with ``c`` free cores and ``g`` free
GPUs (slots, or 1 when the rank qualifies as one of ``nnodes``), and
:meth:`Pool.capacity` sums it over a mask of ranks from the indexes, by
buckets of equal free counts, without visiting the ranks.
"""

__all__ = ["Node", "Pool", "Shape", "bits", "first_bits"]

#: the set bits of every byte value, ascending
_BYTE_BITS = [tuple(i for i in range(8) if value >> i & 1)
              for value in range(256)]


def bits(mask, high=False):
    """Yield the positions of the set bits of ``mask`` (ascending, or
    descending with ``high``)."""
    if high:
        while mask:
            top = mask.bit_length() - 1
            yield top
            mask ^= 1 << top
    else:
        while mask:
            low = mask & -mask
            yield low.bit_length() - 1
            mask ^= low


def first_bits(mask, count, high=False):
    """The positions of the first ``count`` set bits of ``mask`` (lowest
    first, or highest with ``high``), as a list.  A big mask (10,000
    ranks) is read once as bytes: a bit costs no big-integer operation."""
    if mask.bit_length() <= 256:
        out = []
        for pos in bits(mask, high):
            if len(out) >= count:
                break
            out.append(pos)
        return out
    data = mask.to_bytes((mask.bit_length() + 7) // 8, "little")
    out = []
    table = _BYTE_BITS
    if not high:
        # from the byte of the lowest set bit (busy low ranks cost nothing)
        for i in range(((mask & -mask).bit_length() - 1) // 8, len(data)):
            value = data[i]
            if value == 255:
                out.extend(range(i * 8, i * 8 + 8))
            elif value:
                base = i * 8
                out.extend([base + j for j in table[value]])
            else:
                continue
            if len(out) >= count:
                return out[:count]
        return out
    for i in range(len(data) - 1, -1, -1):
        value = data[i]
        if value == 255:
            out.extend(range(i * 8 + 7, i * 8 - 1, -1))
        elif value:
            base = i * 8
            out.extend([base + j for j in reversed(table[value])])
        else:
            continue
        if len(out) >= count:
            return out[:count]
    return out


def pick_ids(mask, count, high=False):
    """``count`` ids of ``mask`` (lowest or highest first), as a mask."""
    taken = 0
    for pos in bits(mask, high):
        if not count:
            break
        taken |= 1 << pos
        count -= 1
    return taken


class Node:
    """One rank of the pool."""

    __slots__ = ("pos", "bit", "rank", "hostname", "props", "cores", "gpus",
                 "ncores", "ngpus", "free_c", "free_g", "nfree_c", "nfree_g",
                 "up")

    def __init__(self, pos, rank, hostname, props, cores, gpus):
        self.pos, self.bit, self.rank = pos, 1 << pos, rank
        self.hostname, self.props = hostname, frozenset(props)
        self.cores, self.gpus = cores, gpus
        self.ncores, self.ngpus = cores.bit_count(), gpus.bit_count()
        self.free_c, self.free_g = cores, gpus
        self.nfree_c, self.nfree_g = self.ncores, self.ngpus
        self.up = False

    def idle(self):
        """Whether nothing of the rank is allocated."""
        return self.free_c == self.cores and self.free_g == self.gpus


class Shape:
    """A request as capacity: ``need`` units, ``cap(c, g, node)`` units a
    rank holds with ``c`` free cores and ``g`` free GPUs.

    Kinds: ``slots`` (slots anywhere), ``nodes`` (``nnodes`` ranks that
    each hold ``per`` slots), ``whole`` (``nnodes`` idle ranks) and
    ``wholeslots`` (slots on idle ranks taken whole: node-exclusive
    match policies).
    """

    __slots__ = ("kind", "size", "gsize", "per", "need", "nslots")

    def __init__(self, req, node_exclusive=False):
        self.size, self.gsize, self.nslots = (req.slot_size, req.slot_gpus,
                                              req.nslots)
        if req.nnodes:
            self.per = -(-req.nslots // req.nnodes)
            self.need = req.nnodes
            self.kind = "whole" if req.exclusive or node_exclusive \
                else "nodes"
        else:
            self.per, self.need = 1, req.nslots
            self.kind = "wholeslots" if node_exclusive else "slots"

    def slots(self, c, g):
        """Slots ``c`` cores and ``g`` GPUs hold."""
        size = self.size
        if c < size:
            return 0
        fit = c // size
        if self.gsize:
            gfit = g // self.gsize
            if gfit < fit:
                return gfit
        return fit

    def cap(self, c, g, node):
        """Units of the request a rank holds with ``c``/``g`` free."""
        kind = self.kind
        if kind == "slots":
            return self.slots(c, g)
        if kind == "nodes":
            return 1 if self.slots(c, g) >= self.per else 0
        if c != node.ncores or g != node.ngpus:
            return 0
        fit = self.slots(c, g)
        if kind == "whole":
            return 1 if fit >= self.per else 0
        return fit


def _unkey(key):
    """``(old_c, new_c, old_g, new_g, flip)`` of a bucket move key: one
    int for a rank's move between buckets (its free counts before and
    after, whether it stops or starts being idle), built inline as
    ``(((old_c << 20 | new_c) << 20 | old_g) << 20 | new_g) << 1 | flip``
    (a tuple a rank would be one more object for the cyclic GC; counts
    below 2**20)."""
    return (key >> 61, key >> 41 & 0xFFFFF, key >> 21 & 0xFFFFF,
            key >> 1 & 0xFFFFF, key & 1)


def _by_count(nodes, attr, top):
    """``eq[k]``: the ranks whose ``attr`` is ``k``."""
    positions = [[] for _ in range(top + 1)]
    for node in nodes:
        positions[getattr(node, attr)].append(node.pos)
    return [_mask(p) for p in positions]


def _mask(positions):
    """A bit set of ``positions`` (ascending, distinct; runs set at
    once)."""
    n = len(positions)
    if n and positions[-1] - positions[0] == n - 1:
        # one run (the usual plan: consecutive free ranks)
        return ((1 << n) - 1) << positions[0]
    mask, i = 0, 0
    while i < n:
        j = i
        while j + 1 < n and positions[j + 1] == positions[j] + 1:
            j += 1
        mask |= ((1 << (j - i + 1)) - 1) << positions[i]
        i = j + 1
    return mask


def _cumulative(eq):
    """``ge[k]``: the union of ``eq[k:]`` (one more, empty, at the end)."""
    ge = [0] * (len(eq) + 1)
    for k in range(len(eq) - 1, -1, -1):
        ge[k] = ge[k + 1] | eq[k]
    return ge


class Pool:
    """The instance's ranks and their free ids.

    The indexes are *buckets*: ``core_eq[k]`` holds the up ranks with
    exactly ``k`` free cores (``gpu_eq`` likewise), so allocating or
    freeing on a rank moves its bit between two buckets; ``core_ge(k)``
    (at least ``k``) is their union, cached until the next change.

    :param nodes: iterable of ``(rank, hostname, properties, cores,
        gpus)``, ids as bit sets; every rank starts *down*.
    """

    def __init__(self, nodes):
        self.nodes = [Node(pos, *spec) for pos, spec in
                      enumerate(sorted(nodes, key=lambda n: n[0]))]
        self.by_rank = {n.rank: n for n in self.nodes}
        self.maxc = max((n.ncores for n in self.nodes), default=0)
        self.maxg = max((n.ngpus for n in self.nodes), default=0)
        self.core_eq = [0] * (self.maxc + 1)
        self.gpu_eq = [0] * (self.maxg + 1)
        # static: ranks by total cores / GPUs (whole-node requests)
        self.tcore_eq = _by_count(self.nodes, "ncores", self.maxc)
        self.tgpu_eq = _by_count(self.nodes, "ngpus", self.maxg)
        self.tcore_ge = _cumulative(self.tcore_eq)
        self.tgpu_ge = _cumulative(self.tgpu_eq)
        self._ge = {}
        #: ranks by property set (``variation``'s node classes)
        classes = {}
        for node in self.nodes:
            classes.setdefault(node.props, []).append(node.pos)
        self.classes = {props: _mask(p) for props, p in classes.items()}
        self.idle = 0
        self.up = 0
        self.total = sum(n.ncores for n in self.nodes)
        self.avail = 0

    def core_ge(self, k):
        """Up ranks with at least ``k`` free cores."""
        mask = self._ge.get(k)
        if mask is None:
            mask = self._cumulate(k, self.core_eq, self.maxc, 0)
        return mask

    def gpu_ge(self, k):
        """Up ranks with at least ``k`` free GPUs."""
        mask = self._ge.get(-1 - k)
        if mask is None:
            mask = self._cumulate(k, self.gpu_eq, self.maxg, -1)
        return mask

    def _cumulate(self, k, eq, top, sign):
        """The union of ``eq[k:]`` (the up ranks for ``k <= 0``), from
        the nearest cached one above and cached on the way down (keys
        ``k`` for cores, ``-1 - k`` for GPUs)."""
        if k <= 0:
            return self.up
        if k > top:
            return 0
        cache = self._ge
        j = k + 1
        while j <= top and (-1 - j if sign else j) not in cache:
            j += 1
        mask = cache[-1 - j if sign else j] if j <= top else 0
        for i in range(j - 1, k - 1, -1):
            mask |= eq[i]
            cache[-1 - i if sign else i] = mask
        return mask

    # -- bookkeeping -----------------------------------------------------------

    def _index(self, node, on):
        bit = node.bit
        self.core_eq[node.nfree_c] ^= bit
        self.gpu_eq[node.nfree_g] ^= bit
        if node.idle():
            self.idle ^= bit
        self.up ^= bit
        self.avail += node.nfree_c if on else -node.nfree_c
        self._ge.clear()

    def set_free(self, node, free_c, free_g):
        """Give ``node`` these free id sets (indexes follow)."""
        old_c, old_g, was_idle = node.nfree_c, node.nfree_g, node.idle()
        node.free_c, node.free_g = free_c, free_g
        new_c = node.nfree_c = free_c.bit_count()
        new_g = node.nfree_g = free_g.bit_count()
        if not node.up:
            return
        bit = node.bit
        if old_c != new_c:
            core_eq = self.core_eq
            core_eq[old_c] ^= bit
            core_eq[new_c] ^= bit
            self.avail += new_c - old_c
        if old_g != new_g:
            gpu_eq = self.gpu_eq
            gpu_eq[old_g] ^= bit
            gpu_eq[new_g] ^= bit
        if was_idle != (free_c == node.cores and free_g == node.gpus):
            self.idle ^= bit
        if self._ge:
            self._ge.clear()

    def set_free_many(self, changes):
        """:meth:`set_free` for many ranks at once: ``[(node, free_c,
        free_g)]``; ranks that move between the same buckets move as one
        mask (a run of ranks costs about one operation)."""
        moves = {}
        for node, free_c, free_g in changes:
            old_c, old_g = node.nfree_c, node.nfree_g
            was_idle = node.free_c == node.cores and node.free_g == node.gpus
            node.free_c, node.free_g = free_c, free_g
            new_c = node.nfree_c = free_c.bit_count()
            new_g = node.nfree_g = free_g.bit_count()
            if node.up:
                flip = was_idle != (free_c == node.cores
                                    and free_g == node.gpus)
                key = (((old_c << 20 | new_c) << 20 | old_g) << 20
                       | new_g) << 1 | flip
                group = moves.get(key)
                if group is None:
                    moves[key] = [node.pos]
                else:
                    group.append(node.pos)
        self._move(moves)

    def give_ids(self, ids):
        """Free ``{pos: (cores, gpus)}`` (id bit sets the ranks hold
        allocated: a running job's record): their union with the free
        ids, as :meth:`set_free_many`."""
        moves = {}
        nodes = self.nodes
        for pos, (cores, gpus) in ids.items():
            node = nodes[pos]
            old_c, old_g = node.nfree_c, node.nfree_g
            fc, fg = node.free_c, node.free_g
            if not fc and not fg and cores == node.cores \
                    and gpus == node.gpus:
                # the job held the whole rank: idle again
                node.free_c, node.free_g = cores, gpus
                new_c = node.nfree_c = node.ncores
                new_g = node.nfree_g = node.ngpus
                if node.up:
                    key = (new_c << 40 | new_g) << 1 | (1 if cores or gpus
                                                        else 0)
                    group = moves.get(key)
                    if group is None:
                        moves[key] = [pos]
                    else:
                        group.append(pos)
                continue
            was_idle = fc == node.cores and fg == node.gpus
            if not fc and cores == node.cores:
                # the job held the whole of its cores there
                fc = node.free_c = cores
                new_c = node.nfree_c = node.ncores
            else:
                fc = node.free_c = fc | cores
                new_c = node.nfree_c = fc.bit_count()
            if gpus:
                fg = node.free_g = fg | gpus
                new_g = node.nfree_g = fg.bit_count()
            else:
                new_g = old_g
            if node.up:
                flip = was_idle != (fc == node.cores and fg == node.gpus)
                key = (((old_c << 20 | new_c) << 20 | old_g) << 20
                       | new_g) << 1 | flip
                group = moves.get(key)
                if group is None:
                    moves[key] = [pos]
                else:
                    group.append(pos)
        self._move(moves)

    def _move(self, moves):
        """Move the ranks ``{key: [pos]}`` between buckets (keys from
        :func:`_key`)."""
        core_eq, gpu_eq = self.core_eq, self.gpu_eq
        for key, positions in moves.items():
            old_c, new_c, old_g, new_g, flip = _unkey(key)
            positions.sort()  # linear for the ascending or descending runs
            mask = _mask(positions)
            if old_c != new_c:
                core_eq[old_c] ^= mask
                core_eq[new_c] ^= mask
                self.avail += (new_c - old_c) * len(positions)
            if old_g != new_g:
                gpu_eq[old_g] ^= mask
                gpu_eq[new_g] ^= mask
            if flip:
                self.idle ^= mask
        if moves:
            self._ge.clear()

    def mark(self, ranks, up):
        """Ranks jobs may use (``up``) or not; returns those changed."""
        changed = []
        for rank in ranks:
            node = self.by_rank.get(rank)
            if node is not None and node.up != up:
                node.up = up
                self._index(node, up)
                changed.append(rank)
        return changed

    def take(self, plan, high=False):
        """Allocate ``[(node, ncores, ngpus)]`` from the free ids; returns
        the ``(cores, gpus)`` masks taken, in plan order."""
        taken, moves = [], {}
        append = taken.append
        for node, ncores, ngpus in plan:
            old_c, old_g = node.nfree_c, node.nfree_g
            fc, fg = node.free_c, node.free_g
            was_idle = fc == node.cores and fg == node.gpus
            if was_idle and ncores == old_c and ngpus == old_g:
                # a whole idle rank (whole-node jobs: most ranks taken)
                append((fc, fg))
                node.free_c = node.free_g = node.nfree_c = node.nfree_g = 0
                if node.up:
                    key = (old_c << 61 | old_g << 21) | (1 if fc or fg
                                                         else 0)
                    group = moves.get(key)
                    if group is None:
                        moves[key] = [node.pos]
                    else:
                        group.append(node.pos)
                continue
            if ncores == old_c:
                # every free core (a whole rank, or what is left of one)
                cores, new_c = fc, 0
            else:
                cores = pick_ids(fc, ncores, high)
                new_c = old_c - cores.bit_count()
            if not ngpus:
                gpus, new_g = 0, old_g
            elif ngpus == old_g:
                gpus, new_g = fg, 0
            else:
                gpus = pick_ids(fg, ngpus, high)
                new_g = old_g - gpus.bit_count()
            append((cores, gpus))
            node.free_c, node.free_g = fc ^ cores, fg ^ gpus
            node.nfree_c, node.nfree_g = new_c, new_g
            if node.up:
                flip = was_idle and bool(cores or gpus)
                key = (((old_c << 20 | new_c) << 20 | old_g) << 20
                       | new_g) << 1 | flip
                group = moves.get(key)
                if group is None:
                    moves[key] = [node.pos]
                else:
                    group.append(node.pos)
        self._move(moves)
        return taken

    # -- capacity --------------------------------------------------------------

    def capacity(self, shape, mask):
        """Units of ``shape`` the up ranks of ``mask`` hold now, from the
        indexes (no rank is visited)."""
        kind, size, gsize = shape.kind, shape.size, shape.gsize
        if size > self.maxc or gsize > self.maxg:
            return 0
        if kind == "nodes":
            return (self.core_ge(size * shape.per)
                    & self.gpu_ge(gsize * shape.per) & mask).bit_count()
        if kind == "whole":
            if size * shape.per > self.maxc or gsize * shape.per > self.maxg:
                return 0
            return (self.idle & self.up & mask
                    & self.tcore_ge[size * shape.per]
                    & self.tgpu_ge[gsize * shape.per]).bit_count()
        if kind == "slots":
            return self.bucket_sum(self.core_eq, self.gpu_eq,
                                   mask & self.up, shape)
        return self.bucket_sum(self.tcore_eq, self.tgpu_eq,
                               mask & self.idle & self.up, shape)

    def bucket_sum(self, core_eq, gpu_eq, mask, shape):
        """Slots of ``shape`` the ranks of ``mask`` hold, given the ranks
        by exact count ``core_eq[k]``/``gpu_eq[k]`` (free or total)."""
        size, gsize = shape.size, shape.gsize
        total = 0
        if not gsize:
            for k in range(size, len(core_eq)):
                bucket = mask & core_eq[k]
                if bucket:
                    total += bucket.bit_count() * (k // size)
            return total
        for g in range(gsize, len(gpu_eq)):
            gmask = mask & gpu_eq[g]
            if not gmask:
                continue
            for k in range(size, len(core_eq)):
                bucket = gmask & core_eq[k]
                if bucket:
                    total += bucket.bit_count() * min(k // size, g // gsize)
        return total

    def feasible(self, shape, mask):
        """Whether the ranks of ``mask``, idle and up, could hold
        ``shape`` (feasibility)."""
        return self.idle_capacity(shape, mask) >= shape.need

    def idle_capacity(self, shape, mask):
        """Units of ``shape`` the ranks of ``mask`` hold once idle (every
        id free, up or not), from the static indexes."""
        size, gsize, per = shape.size, shape.gsize, shape.per
        if shape.kind in ("slots", "wholeslots"):
            if size > self.maxc or gsize > self.maxg:
                return 0
            return self.bucket_sum(self.tcore_eq, self.tgpu_eq, mask, shape)
        if size * per > self.maxc or gsize * per > self.maxg:
            return 0
        return (self.tcore_ge[size * per] & self.tgpu_ge[gsize * per]
                & mask).bit_count()

    def candidates(self, shape, mask):
        """The up ranks of ``mask`` that hold at least one unit now."""
        size, gsize, per = shape.size, shape.gsize, shape.per
        if shape.kind == "slots":
            if size > self.maxc or gsize > self.maxg:
                return 0
            return self.core_ge(size) & self.gpu_ge(gsize) & mask
        if size * per > self.maxc or gsize * per > self.maxg:
            return 0
        if shape.kind == "nodes":
            return self.core_ge(size * per) & self.gpu_ge(gsize * per) & mask
        return (self.idle & self.up & mask & self.tcore_ge[size * per]
                & self.tgpu_ge[gsize * per])

    def snapshot(self):
        """``(every, allocated, down)`` as ``(node, cores, gpus)``."""
        every = [(n, n.cores, n.gpus) for n in self.nodes]
        used = [(n, n.cores & ~n.free_c, n.gpus & ~n.free_g)
                for n in self.nodes if not n.idle()]
        down = [(n, n.cores, n.gpus) for n in self.nodes if not n.up]
        return every, used, down
