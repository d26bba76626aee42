# -*- test-case-name: tests.unit.sched.test_firstfit -*-
"""First fit: flux-core's ``sched-simple`` in ``alloc-mode=first-fit``.

Requests without a node count get their slots from the ranks in order,
each rank filled before the next one is used (``rlist_alloc_first_fit``).
Requests naming ``nnodes`` take the ``nnodes`` up ranks with the most
free cores (ties: lower rank first) and deal the slots out over them in
turn (``rlist_alloc_nnodes``); ``exclusive`` ones take that many idle
ranks whole.  A request that the instance could never hold, even idle
and with every rank up, is *unsatisfiable*; one that only needs others
to finish waits (:class:`~fluxd.sched.policy.NoSpace`).  GPUs are
allocated with the cores of their slot (flux-core's sched-simple refuses
GPU requests; fluxd's allocates them).

Indexed: the pool keeps, for every count ``k``, a bit set of the up
ranks with at least ``k`` free cores (and one for GPUs), so a decision
finds the first rank that fits by a few big-integer operations instead
of walking the busy ranks; freeing or allocating ``k`` cores on a rank
flips ``k`` bits.  Feasibility answers are cached per request shape.
"""

from zope.interface import implementer

from fluxd.sched.constraints import ConstraintError, compile_constraint
from fluxd.sched.policy import (
    Allocation, ISchedPolicy, InvalidRequest, NoSpace, Share, Unsatisfiable)

__all__ = ["FirstFit"]


def _lowest(mask, count):
    """The ``count`` lowest set bits of ``mask``, as a mask."""
    taken = 0
    for _ in range(count):
        low = mask & -mask
        taken |= low
        mask ^= low
    return taken


def _bits(mask):
    """The positions of the set bits of ``mask``, ascending."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


class _Node:
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
        return self.free_c == self.cores and self.free_g == self.gpus


@implementer(ISchedPolicy)
class FirstFit:
    """The first-fit policy over one resource set.

    :param nodes: iterable of ``(rank, hostname, properties, cores,
        gpus)`` with ids as bit sets; every rank starts *down*
        (:meth:`mark_up` the usable ones), as sched-simple's do.
    :param expiration: the instance R's expiration (0: none).
    """

    def __init__(self, nodes, expiration=0.0):
        self.expiration = expiration
        self._nodes = [_Node(pos, *spec) for pos, spec in
                       enumerate(sorted(nodes, key=lambda n: n[0]))]
        self._by_rank = {n.rank: n for n in self._nodes}
        self._maxc = max((n.ncores for n in self._nodes), default=0)
        self._maxg = max((n.ngpus for n in self._nodes), default=0)
        # _core_ge[k]: up ranks with >= k free cores (k = 0: every up rank)
        self._core_ge = [0] * (self._maxc + 2)
        self._gpu_ge = [0] * (self._maxg + 2)
        self._idle = 0
        self.total = sum(n.ncores for n in self._nodes)
        self.avail = 0
        self._feasible = {}
        self._eligible = {}

    # -- bookkeeping -----------------------------------------------------------

    def _index(self, node, on):
        """Add (``on``) or remove the node's bits from the indexes."""
        bit = node.bit
        for k in range(node.nfree_c + 1):
            self._core_ge[k] ^= bit
        for k in range(node.nfree_g + 1):
            self._gpu_ge[k] ^= bit
        if node.idle():
            self._idle ^= bit
        self.avail += node.nfree_c if on else -node.nfree_c

    def _set_free(self, node, free_c, free_g):
        old_c, old_g, was_idle = node.nfree_c, node.nfree_g, node.idle()
        node.free_c, node.free_g = free_c, free_g
        node.nfree_c, node.nfree_g = free_c.bit_count(), free_g.bit_count()
        if not node.up:
            return
        # flip only the counts crossed: one bit per core taken or freed
        bit, new_c, new_g = node.bit, node.nfree_c, node.nfree_g
        core_ge = self._core_ge
        for k in range(min(old_c, new_c) + 1, max(old_c, new_c) + 1):
            core_ge[k] ^= bit
        if old_g != new_g:
            gpu_ge = self._gpu_ge
            for k in range(min(old_g, new_g) + 1, max(old_g, new_g) + 1):
                gpu_ge[k] ^= bit
        if was_idle != node.idle():
            self._idle ^= bit
        self.avail += new_c - old_c

    def _mark(self, ranks, up):
        for rank in ranks:
            node = self._by_rank.get(rank)
            if node is not None and node.up != up:
                node.up = up
                self._index(node, up)

    def mark_up(self, ranks):
        """Ranks jobs may use (unknown ranks are ignored)."""
        self._mark(ranks, True)

    def mark_down(self, ranks):
        """Ranks no new job may use (their jobs keep what they hold)."""
        self._mark(ranks, False)

    def totals(self):
        """``(avail, total)``: free cores on up ranks, and all cores."""
        return self.avail, self.total

    def free(self, shares):
        """Give back resources; ids not allocated are ignored (False)."""
        exact = True
        for share in shares:
            node = self._by_rank.get(share.rank)
            if node is None:
                exact = False
                continue
            cores, gpus = share.cores & node.cores, share.gpus & node.gpus
            if cores & node.free_c or gpus & node.free_g or \
                    cores != share.cores or gpus != share.gpus:
                exact = False
            self._set_free(node, node.free_c | cores, node.free_g | gpus)
        return exact

    def set_allocated(self, shares):
        """Take resources that jobs held across a restart (False when some
        were not free or not known)."""
        exact = True
        for share in shares:
            node = self._by_rank.get(share.rank)
            if node is None:
                exact = False
                continue
            if share.cores & ~node.free_c or share.gpus & ~node.free_g:
                exact = False
            self._set_free(node, node.free_c & ~share.cores,
                           node.free_g & ~share.gpus)
        return exact

    def snapshot(self):
        """``(all, allocated, down)`` share lists."""
        def share(node, cores, gpus):
            return Share(node.rank, node.hostname, cores, gpus, node.props)
        every = [share(n, n.cores, n.gpus) for n in self._nodes]
        used = [share(n, n.cores & ~n.free_c, n.gpus & ~n.free_g)
                for n in self._nodes if not n.idle()]
        down = [share(n, n.cores, n.gpus) for n in self._nodes if not n.up]
        return every, used, down

    # -- requests --------------------------------------------------------------

    def _eligible_mask(self, constraint):
        """Bit set of the ranks a constraint admits (None: all)."""
        if constraint is None:
            return None
        key = repr(constraint)
        mask = self._eligible.get(key)
        if mask is None:
            try:
                match = compile_constraint(constraint)
            except ConstraintError as exc:
                raise InvalidRequest(str(exc)) from None
            mask = 0
            for node in self._nodes:
                if match(node.rank, node.hostname, node.props):
                    mask |= node.bit
            if len(self._eligible) > 1024:
                self._eligible.clear()
            self._eligible[key] = mask
        return mask

    def _check_args(self, req):
        if req.nslots <= 0 or req.slot_size <= 0 or req.nnodes < 0 \
                or req.slot_gpus < 0:
            raise InvalidRequest("Invalid argument")
        if req.exclusive and req.nnodes <= 0:
            raise InvalidRequest(
                "exclusive allocation only supported with nnodes")
        if req.nnodes and req.nslots < req.nnodes:
            raise InvalidRequest("Invalid argument")

    def check(self, request):
        """Feasibility (``feasibility.check``): None, or raise."""
        self._check_args(request)
        if request.nslots * request.slot_size > self.total:
            raise Unsatisfiable("unsatisfiable request")
        self._check_feasible(request, self._eligible_mask(request.constraint))

    def _check_feasible(self, req, eligible):
        if eligible is not None and not any(
                n.ncores for n in self._nodes if n.bit & eligible):
            raise Unsatisfiable("no resources satisfy provided constraints")
        shape = req.shape()
        ok = self._feasible.get(shape)
        if ok is None:
            nodes = [n for n in self._nodes
                     if eligible is None or n.bit & eligible]
            ok = self._fits_empty(req, nodes)
            if len(self._feasible) > 4096:
                self._feasible.clear()
            self._feasible[shape] = ok
        if not ok:
            raise Unsatisfiable("unsatisfiable constrained request"
                                if eligible is not None
                                else "unsatisfiable request")

    def _fits_empty(self, req, nodes):
        """Whether ``req`` fits ``nodes`` when they are idle and up."""
        if req.nnodes:
            if len(nodes) < req.nnodes:
                return False
            if req.exclusive:
                return True
            best = sorted(nodes, key=lambda n: (-n.ncores, n.pos))
            counts = [[n.ncores, n.ngpus] for n in best[:req.nnodes]]
            return self._deal(req, counts) is not None
        slots = 0
        for n in nodes:
            fit = n.ncores // req.slot_size
            if req.slot_gpus:
                fit = min(fit, n.ngpus // req.slot_gpus)
            slots += fit
            if slots >= req.nslots:
                return True
        return False

    def alloc(self, request):
        """Allocate ``request`` (see the module docstring)."""
        req = request
        self._check_args(req)
        need = req.nslots * req.slot_size
        if need > self.total:
            raise Unsatisfiable("unsatisfiable request")
        eligible = self._eligible_mask(req.constraint)
        plan = None
        if need <= self.avail:
            if req.exclusive:
                plan = self._plan_exclusive(req, eligible)
            elif req.nnodes:
                plan = self._plan_nnodes(req, eligible)
            else:
                plan = self._plan_first_fit(req, eligible)
        if plan is None:
            self._check_feasible(req, eligible)
            raise NoSpace("insufficient resources")
        shares = []
        for node, ncores, ngpus in plan:
            cores = node.free_c if ncores == node.nfree_c \
                else _lowest(node.free_c, ncores)
            gpus = node.free_g if ngpus == node.nfree_g \
                else _lowest(node.free_g, ngpus)
            self._set_free(node, node.free_c & ~cores, node.free_g & ~gpus)
            shares.append(Share(node.rank, node.hostname, cores, gpus,
                                node.props))
        shares.sort(key=lambda s: s.rank)
        return Allocation(shares, req.nslots)

    def _plan_first_fit(self, req, eligible):
        size, gsize = req.slot_size, req.slot_gpus
        if size > self._maxc or gsize > self._maxg:
            return None
        mask = self._core_ge[size]
        if gsize:
            mask &= self._gpu_ge[gsize]
        if eligible is not None:
            mask &= eligible
        remaining, plan = req.nslots, []
        while remaining:
            if not mask:
                return None
            low = mask & -mask
            mask ^= low
            node = self._nodes[low.bit_length() - 1]
            fit = node.nfree_c // size
            if gsize:
                fit = min(fit, node.nfree_g // gsize)
            fit = min(fit, remaining)
            plan.append((node, fit * size, fit * gsize))
            remaining -= fit
        return plan

    def _by_most_free(self, eligible, wanted, also=None):
        """Up ranks by free cores (most first), then rank, at most
        ``wanted`` of them, restricted to ``eligible`` and ``also``."""
        found = []
        ge = self._core_ge
        for k in range(self._maxc, -1, -1):
            bucket = ge[k] & ~ge[k + 1]
            if eligible is not None:
                bucket &= eligible
            if also is not None:
                bucket &= also
            while bucket and len(found) < wanted:
                low = bucket & -bucket
                bucket ^= low
                found.append(self._nodes[low.bit_length() - 1])
            if len(found) == wanted:
                break
        return found

    def _plan_exclusive(self, req, eligible):
        nodes = self._by_most_free(eligible, req.nnodes, also=self._idle)
        if len(nodes) < req.nnodes:
            return None
        return [(n, n.nfree_c, n.nfree_g) for n in nodes]

    def _plan_nnodes(self, req, eligible):
        nodes = self._by_most_free(eligible, req.nnodes)
        if len(nodes) < req.nnodes:
            return None
        counts = [[n.nfree_c, n.nfree_g] for n in nodes]
        dealt = self._deal(req, counts)
        if dealt is None:
            return None
        return [(n, k * req.slot_size, k * req.slot_gpus)
                for n, k in zip(nodes, dealt) if k]

    @staticmethod
    def _deal(req, counts):
        """Deal ``req.nslots`` slots over nodes in turn, as
        ``rlist_alloc_nnodes`` does: a node leaves the round once it has no
        free core; the deal fails when the next node cannot hold a slot.

        :param counts: ``[free cores, free gpus]`` per node (consumed).
        :returns: slots per node, or None.
        """
        dealt = [0] * len(counts)
        turn = list(range(len(counts)))
        i, remaining = 0, req.nslots
        while remaining:
            if not turn:
                return None
            i %= len(turn)
            index = turn[i]
            free = counts[index]
            if free[0] < req.slot_size or free[1] < req.slot_gpus:
                return None
            free[0] -= req.slot_size
            free[1] -= req.slot_gpus
            dealt[index] += 1
            remaining -= 1
            if free[0] == 0:
                del turn[i]
            else:
                i += 1
        return dealt
