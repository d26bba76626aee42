# -*- test-case-name: tests.unit.sched.test_planner -*-
"""Resources in time: what runs until when, and what is reserved (pure).

The :class:`Planner` holds the :class:`~fluxd.sched.pool.Pool` (free
now), the running allocations with their end (R's expiration) in end
order, and the *reservations* of the queue policies: a blocked job's
start time and the counts it will take on each rank then.

A job of duration ``d`` may start now on a rank only with what the
reservations overlapping ``[now, now + d)`` leave there (their counts
summed: a safe bound).  The ranks a reservation names are few, so a
decision asks the pool's indexes about every other rank and visits only
those (:meth:`Planner.fit_now`).

:meth:`Planner.earliest` finds when a blocked job could start: it walks
the running allocations' ends (and the reservations' ends) in time order
from now, keeping the counts of the ranks they touch apart and the
request's capacity up to date incrementally, until the capacity covers
the request; the ranks are then chosen at that time.  Its cost grows
with what must end before the job fits, not with the instance.
"""

import bisect
import heapq

from fluxd.sched.match import select
from fluxd.sched.pool import Shape, _mask, first_bits

__all__ = ["Planner", "Reservation"]

INF = float("inf")


class Reservation:
    """Counts reserved for one job from ``start`` to ``end``."""

    __slots__ = ("jobid", "start", "end", "counts", "mask", "seq")

    def __init__(self, jobid, start, end, counts):
        self.jobid, self.start, self.end = jobid, start, end
        #: {pos: (ncores, ngpus)}, and those positions as a bit set
        self.counts = counts
        self.mask = _mask(sorted(counts))
        #: the order reservations were made in (set by the planner)
        self.seq = 0


class _Running:
    __slots__ = ("end", "counts", "ids", "split")

    def __init__(self, end, counts, ids):
        #: {pos: (ncores, ngpus)} and {pos: (cores, gpus)} (bit sets)
        self.end, self.counts, self.ids = end, counts, ids
        #: ``(full, part)`` once :meth:`Planner.earliest` asked (None
        #: until then): see :func:`_split`
        self.split = None


def _split(run, nodes):
    """``(full, part)`` of a running allocation: the mask of the ranks
    it holds every core of (idle once it ends: nothing else can hold a
    GPU there without a core) and the counts of the others."""
    full, part = [], {}
    for pos, cg in run.counts.items():
        if cg[0] == nodes[pos].ncores:
            full.append(pos)
        else:
            part[pos] = cg
    full.sort()
    run.split = (_mask(full), part)
    return run.split


class Planner:
    """Free resources now, running allocations and reservations.

    :param pool: the :class:`~fluxd.sched.pool.Pool`.
    :param match: the :class:`~fluxd.sched.match.MatchPolicy`.
    """

    def __init__(self, pool, match):
        self.pool = pool
        self.match = match
        self.running = {}
        self._ends = []          # sorted (end, jobid)
        self.reservations = {}   # jobid -> Reservation
        self._by_start = []      # sorted (start, jobid)
        self._views = {}
        self._seq = 0

    # -- running ---------------------------------------------------------------

    def add_running(self, jobid, end, counts, ids):
        """Record a running allocation (``counts``: {pos: (c, g)};
        ``ids``: {pos: (cores, gpus)} as bit sets)."""
        old = self.running.pop(jobid, None)
        if old is not None:
            self._drop_end(old.end, jobid)
        end = INF if not end else end
        self.running[jobid] = _Running(end, counts, ids)
        bisect.insort(self._ends, (end, jobid))

    def _drop_end(self, end, jobid):
        i = bisect.bisect_left(self._ends, (end, jobid))
        if i < len(self._ends) and self._ends[i] == (end, jobid):
            del self._ends[i]

    def release(self, jobid, positions=None):
        """Forget a running allocation, or only its ``positions`` (a
        partial release); returns its end, or None if unknown."""
        run = self.running.get(jobid)
        if run is None:
            return None
        if positions is not None:
            for pos in positions:
                run.counts.pop(pos, None)
                run.ids.pop(pos, None)
            run.split = None
            if run.counts:
                return run.end
        del self.running[jobid]
        self._drop_end(run.end, jobid)
        return run.end

    # -- reservations ----------------------------------------------------------

    def reserve(self, res):
        """Add a reservation."""
        self.unreserve(res.jobid)
        if not res.seq:  # a new one (one put back keeps its place)
            self._seq += 1
            res.seq = self._seq
        self.reservations[res.jobid] = res
        key = (res.start, res.jobid)
        i = bisect.bisect_left(self._by_start, key)
        self._by_start.insert(i, key)
        # the views of prefixes past i now hold it too (and one more)
        self._views = {k if k <= i else k + 1:
                       view if k <= i else self._apply(view, res)
                       for k, view in self._views.items()}

    def unreserve(self, jobid):
        """Remove a job's reservation (returns it, or None)."""
        res = self.reservations.pop(jobid, None)
        if res is not None:
            i = bisect.bisect_left(self._by_start, (res.start, jobid))
            del self._by_start[i]
            # the views of longer prefixes held it: built again if asked
            self._views = {k: view for k, view in self._views.items()
                           if k <= i}
        return res

    def overdue(self, res, now):
        """Whether an allocation still running past its expected end
        (``now``) holds ranks ``res`` reserves: the reservation is late
        only by that (the job's end comes)."""
        i = bisect.bisect_right(self._ends, (now, INF))
        for _, jobid in self._ends[:i]:
            counts = self.running[jobid].counts
            small, big = (counts, res.counts) \
                if len(counts) < len(res.counts) else (res.counts, counts)
            if any(pos in big for pos in small):
                return True
        return False

    def unreserve_after(self, seq):
        """Remove the reservations made after the one numbered ``seq``
        (they were placed around it); returns their job ids."""
        later = [jobid for jobid, res in self.reservations.items()
                 if res.seq > seq]
        if len(later) > len(self.reservations) // 2:
            kept = [res for res in self.reservations.values()
                    if res.seq <= seq]
            self.clear_reservations()
            for res in sorted(kept, key=lambda r: r.seq):
                self.reservations[res.jobid] = res
                bisect.insort(self._by_start, (res.start, res.jobid))
        else:
            for jobid in later:
                self.unreserve(jobid)
        return later

    def _apply(self, view, res):
        """``view`` with ``res`` taken in (its count dicts and slack set
        change in place; a new mask)."""
        mask, cfree, gfree, slack = view
        nodes = self.pool.nodes
        if not res.mask & mask:
            # the usual case: ranks no other reservation of the view names
            for pos, (c, g) in res.counts.items():
                node = nodes[pos]
                left = cfree[pos] = node.nfree_c - c
                gfree[pos] = node.nfree_g - g
                if left > 0:
                    slack.add(pos)
            return mask | res.mask, cfree, gfree, slack
        for pos, (c, g) in res.counts.items():
            left = cfree.get(pos)
            if left is None:
                node = nodes[pos]
                left = cfree[pos] = node.nfree_c - c
                gfree[pos] = node.nfree_g - g
                if left > 0:
                    slack.add(pos)
            else:
                left = cfree[pos] = left - c
                gfree[pos] -= g
                if left <= 0:
                    slack.discard(pos)
        return mask | res.mask, cfree, gfree, slack

    def clear_reservations(self):
        """Drop every reservation."""
        self.reservations.clear()
        self._by_start.clear()
        self._views.clear()

    def window(self, now, duration):
        """How many reservations a job of ``duration`` (0: unlimited)
        starting now overlaps (they start in order): jobs with the same
        count see the same reservations."""
        until = now + duration if duration > 0 else INF
        return bisect.bisect_left(self._by_start, (until, -1))

    def _view(self, until):
        """``(mask, cfree, gfree, slack)``: the ranks the reservations
        starting before ``until`` name, their cores and GPUs left now
        ({pos: count}: ints, no object a rank) and the positions of those
        with cores left.  Built from the longest cached shorter
        prefix."""
        k = bisect.bisect_left(self._by_start, (until, -1))
        view = self._views.get(k)
        if view is None:
            base = max((j for j in self._views if j < k), default=None)
            if base is None:
                base, view = 0, (0, {}, {}, set())
            else:
                mask, cfree, gfree, slack = self._views[base]
                view = (mask, dict(cfree), dict(gfree), set(slack))
            for _, jobid in self._by_start[base:k]:
                view = self._apply(view, self.reservations[jobid])
            self._views[k] = view
        return view

    def changed(self, moves, sign):
        """The pool's free counts moved by ``sign`` times ``moves``
        ({pos: (ncores, ngpus)}): the cached views follow."""
        for _, cfree, gfree, slack in self._views.values():
            if len(cfree) < len(moves):
                pairs = [(pos, moves.get(pos)) for pos in cfree]
            else:
                pairs = [(pos, cg) for pos, cg in moves.items()
                         if pos in cfree]
            for pos, cg in pairs:
                if cg is None:
                    continue
                left = cfree[pos] = cfree[pos] + sign * cg[0]
                gfree[pos] += sign * cg[1]
                if left > 0:
                    slack.add(pos)
                else:
                    slack.discard(pos)

    # -- decisions -------------------------------------------------------------

    def shape(self, req):
        """The :class:`~fluxd.sched.pool.Shape` of a request here."""
        return Shape(req, self.match.node_exclusive)

    def fit_now(self, shape, eligible, now, duration):
        """``[(node, ncores, ngpus)]`` a job could take now for
        ``duration`` seconds (0: unlimited) without touching any
        reservation, or None."""
        pool = self.pool
        until = now + duration if duration > 0 else INF
        mask, cfree, gfree, slack = self._view(until) if self._by_start \
            else (0, None, None, ())
        index = pool.up & eligible & ~mask
        if shape.kind == "slots" and index & pool.core_ge(
                shape.size * shape.need) & pool.gpu_ge(
                    shape.gsize * shape.need):
            have = shape.need  # one rank holds it all
        else:
            have = pool.capacity(shape, index) if index else 0
        touched = []
        if slack and have < shape.need:
            nodes = pool.nodes
            for pos in slack:
                node = nodes[pos]
                c, g = cfree[pos], gfree[pos]
                if node.up and node.bit & eligible:
                    fit = shape.cap(c, g, node)
                    if fit > 0:
                        have += fit
                        touched.append((node, c, g))
        if have < shape.need:
            return None
        return select(pool, self.match, shape,
                      pool.candidates(shape, index), touched)

    def earliest(self, shape, eligible, now, duration):
        """``(start, [(node, ncores, ngpus)])``: the earliest time a job
        fits given the running allocations' ends and the reservations, or
        None when it never does (down ranks, unlimited jobs)."""
        pool, nodes = self.pool, self.pool.nodes
        d = duration if duration > 0 else INF
        starts = self._by_start
        entered = bisect.bisect_left(starts, (now + d, -1))
        mask, effc, effg, _ = self._view(now + d) if starts \
            else (0, {}, {}, ())
        # the cores and GPUs left at the time walked to, of the ranks
        # whose counts differ from the pool's (ints: no object a rank)
        effc, effg = dict(effc), dict(effg)
        usable = pool.up & eligible
        have = pool.capacity(shape, usable & ~mask)
        cap = _capacity(shape, nodes, usable)
        for pos, c in effc.items():
            have += cap(pos, c, effg[pos])
        need = shape.need
        # reservations already counted (started before now + d) give
        # their counts back when they end
        later = []
        reservations = self.reservations
        for _, jobid in starts[:entered]:
            res = reservations[jobid]
            if res.end < INF:
                heapq.heappush(later, (res.end, jobid))
        runs, i, n = self._ends, 0, len(self._ends)
        running = self.running
        fresh = []
        # ranks an ended job held whole (idle from then on), outside effc:
        # counted by mask, visited only once the job fits
        freed = 0
        while i < n or later:
            t = runs[i][0] if i < n else INF
            if later and later[0][0] < t:
                t = later[0][0]
            if t == INF:
                break
            if t < now:
                t = now
            moves = []
            while i < n and runs[i][0] <= t:
                run = running[runs[i][1]]
                i += 1
                full, part = run.split or _split(run, nodes)
                if full:
                    if fresh:
                        fresh.sort()
                        mask |= _mask(fresh)
                        fresh = []
                    both = full & (mask | freed)
                    if both:
                        full ^= both
                        held = run.counts
                        moves.append(({pos: held[pos] for pos in
                                       first_bits(both, len(held))}, 1))
                    if full:
                        freed |= full
                        have += pool.idle_capacity(shape, full & usable)
                if part:
                    moves.append((part, 1))
            while later and later[0][0] <= t:
                _, jobid = heapq.heappop(later)
                moves.append((reservations[jobid].counts, 1))
            # reservations starting before t + d now overlap the window
            while entered < len(starts) and starts[entered][0] < t + d:
                jobid = starts[entered][1]
                entered += 1
                res = reservations[jobid]
                if res.end <= t:
                    continue
                moves.append((res.counts, -1))
                if res.end < INF:
                    heapq.heappush(later, (res.end, jobid))
            for moved, sign in moves:
                for pos, (c, g) in moved.items():
                    c0 = effc.get(pos)
                    if c0 is None:
                        node = nodes[pos]
                        if freed and freed >> pos & 1:
                            c0, g0 = node.ncores, node.ngpus
                        else:
                            c0, g0 = node.nfree_c, node.nfree_g
                        # its share of the index capacity moves here
                        fresh.append(pos)
                    else:
                        g0 = effg[pos]
                    c1 = effc[pos] = c0 + sign * c
                    g1 = effg[pos] = g0 + sign * g
                    have += cap(pos, c1, g1) - cap(pos, c0, g0)
            if have >= need:
                touched = [(nodes[pos], c, effg[pos])
                           for pos, c in effc.items()
                           if c > 0 and cap(pos, c, effg[pos]) > 0]
                if fresh:
                    fresh.sort()
                    mask |= _mask(fresh)
                    fresh = []
                extra = freed & usable & ~mask
                if extra:
                    for pos in first_bits(extra, extra.bit_count()):
                        node = nodes[pos]
                        if cap(pos, node.ncores, node.ngpus) > 0:
                            touched.append((node, node.ncores, node.ngpus))
                index = usable & ~mask & ~freed
                plan = select(pool, self.match, shape,
                              pool.candidates(shape, index), touched)
                if plan is not None:
                    return t, plan
        return None


def _capacity(shape, nodes, usable):
    """``cap(pos, c, g)``: the units of ``shape`` rank ``pos`` holds with
    ``c``/``g`` free (0 unless it is in ``usable``), fast paths for the
    common kinds (``usable`` read as bytes: testing a bit of a 10,000-bit
    integer would copy it)."""
    kind, size, gsize, per = shape.kind, shape.size, shape.gsize, shape.per
    table = usable.to_bytes((usable.bit_length() + 8) // 8, "little")
    top = usable.bit_length()
    if kind == "slots" and not gsize:
        def cap(pos, c, g):
            return c // size if c >= size and pos < top \
                and table[pos >> 3] >> (pos & 7) & 1 else 0
    elif kind == "nodes" and not gsize:
        least = size * per

        def cap(pos, c, g):
            return 1 if c >= least and pos < top \
                and table[pos >> 3] >> (pos & 7) & 1 else 0
    elif kind in ("whole", "wholeslots"):
        # idle ranks only: a rank holds units once everything is free
        slots, whole = shape.slots, kind == "whole"

        def cap(pos, c, g):
            if pos >= top or not table[pos >> 3] >> (pos & 7) & 1:
                return 0
            node = nodes[pos]
            if c != node.ncores or g != node.ngpus:
                return 0
            fit = slots(c, g)
            if whole:
                return 1 if fit >= per else 0
            return fit
    else:
        def cap(pos, c, g):
            if pos >= top or not table[pos >> 3] >> (pos & 7) & 1:
                return 0
            return shape.cap(c, g, nodes[pos])
    return cap
