# -*- test-case-name: tests.unit.sched.test_fluxion -*-
"""The scheduling policy: Fluxion's queue and match policies (pure).

:class:`Fluxion` is the :class:`~fluxd.sched.policy.ISchedPolicy` of the
``sched`` service.  A scheduling *pass* (:meth:`Fluxion.schedule`) walks
each queue's first ``queue-depth`` pending jobs in priority order:

- a job that fits now without delaying any reservation is allocated;
- ``fcfs``: the first job that does not fit blocks its queue;
- ``easy``: the first blocked job gets a reservation (its earliest start,
  from the durations of what runs); later jobs start now only if they
  leave it intact (backfill); ``hybrid`` reserves for up to
  ``reservation-depth`` blocked jobs, ``conservative`` for every one (up
  to ``max-reservation-depth``).

Reservations are kept between passes and dropped when they may have
become too late or wrong: a job ended before its expiration, ranks went
up or down, a queue's order changed ahead of a reserved job.  A reserved
job that cannot start at its time waits, keeping its reservation, while
an allocation running past its expected end holds ranks it reserves;
otherwise its reservation and those made after it (placed around it)
are made again, the others stand.  Each queue
is scheduled on its own (a blocked fcfs queue does not block the
others); reservations bind every queue.
"""

from bisect import bisect_left

from zope.interface import implementer

from fluxd.sched.constraints import ConstraintError, compile_constraint
from fluxd.sched.planner import INF, Planner, Reservation
from fluxd.sched.policy import (
    ISchedPolicy, InvalidRequest, Share, Unsatisfiable)
from fluxd.sched.pool import Pool
from fluxd.sched.schedconf import SchedSettings

__all__ = ["Fluxion", "REASON"]

#: ``sched.reason_pending`` of a job that waits for resources
REASON = "insufficient resources"

_NONE = object()


def _args(req):
    if req.nslots <= 0 or req.slot_size <= 0 or req.nnodes < 0 \
            or req.slot_gpus < 0:
        raise InvalidRequest("Invalid argument")
    if req.exclusive and req.nnodes <= 0:
        raise InvalidRequest("exclusive allocation only supported with nnodes")
    if req.nnodes and req.nslots < req.nnodes:
        raise InvalidRequest("Invalid argument")


def _fail_key(shape, req):
    """``(key, (size, count))``: a request with the same key (and the
    same reservations in its window) that is no smaller in both does not
    fit where this one did not."""
    where = repr(req.constraint)
    kind, per = shape.kind, shape.per
    if kind == "slots" or kind == "wholeslots":
        return (kind, shape.gsize, where), (shape.size, shape.need)
    if kind == "nodes":
        return (kind, shape.gsize * per, where), (shape.size * per,
                                                  shape.need)
    return (kind, shape.size * per, shape.gsize * per, where), (0,
                                                                shape.need)


@implementer(ISchedPolicy)
class Fluxion:
    """Queue policies and match policies over one resource set.

    :param nodes: ``(rank, hostname, properties, cores, gpus)`` per rank
        (ids as bit sets); every rank starts down.
    :param expiration: the instance R's expiration (0: none).
    :param settings: a :class:`~fluxd.sched.schedconf.SchedSettings`.
    """

    def __init__(self, nodes, expiration=0.0, settings=None):
        self.expiration = expiration
        self.settings = settings or SchedSettings()
        self.pool = Pool(nodes)
        self.planner = Planner(self.pool, self.settings.match)
        self.all = sum(n.bit for n in self.pool.nodes)
        self._eligible = {}
        self._feasible = {}
        #: jobid -> [req, shape, eligible, checked]: what a pass learns
        #: of a pending request once (none of it changes while it waits)
        self._reqs = {}
        #: jobid -> the t_estimate last annotated
        self._noted = {}
        #: jobid -> queue key of the reserved jobs
        self._keys = {}
        self.dirty = False
        #: the last pass left jobs it did not look at that may now run
        self.again = False
        #: the queue key of the last job reserved (a job queued ahead of
        #: it makes the reservations stale)
        self._last_key = None

    def configure(self, settings):
        """Adopt new settings (reservations are computed again)."""
        self.settings = settings
        self.planner.match = settings.match
        self._feasible.clear()
        self._reqs.clear()
        self.dirty = True

    def queued(self, job):
        """A job joined a queue."""
        if self.planner.reservations and self._last_key is not None \
                and (-job.priority, job.id) < self._last_key:
            self.dirty = True

    def reordered(self):
        """Priorities changed: reservations are computed again."""
        if self.planner.reservations:
            self.dirty = True

    def withdrawn(self, jobid):
        """A pending job left (cancelled): its reservation goes."""
        self._reqs.pop(jobid, None)
        self._keys.pop(jobid, None)
        self._noted.pop(jobid, None)
        if self.planner.unreserve(jobid) is not None:
            self.dirty = True

    # -- resources -------------------------------------------------------------

    def mark_up(self, ranks):
        """Ranks jobs may use (unknown ranks are ignored)."""
        if self.pool.mark(ranks, True):
            self.dirty = True

    def mark_down(self, ranks):
        """Ranks no new job may use (their jobs keep what they hold)."""
        if self.pool.mark(ranks, False):
            self.dirty = True

    def totals(self):
        """``(avail, total)`` cores."""
        return self.pool.avail, self.pool.total

    def _shares(self, shares, take):
        exact, counts, ids, changes, moves = True, {}, {}, [], {}
        by_rank = self.pool.by_rank
        for share in shares:
            node = by_rank.get(share.rank)
            if node is None:
                exact = False
                continue
            if node.pos in counts:  # a rank named twice: apply the first
                self.pool.set_free_many(changes)
                changes = []
            cores, gpus = share.cores & node.cores, share.gpus & node.gpus
            if cores != share.cores or gpus != share.gpus:
                exact = False
            if take:
                if cores & ~node.free_c or gpus & ~node.free_g:
                    exact = False
                free_c, free_g = node.free_c & ~cores, node.free_g & ~gpus
            else:
                if cores & node.free_c or gpus & node.free_g:
                    exact = False
                free_c, free_g = node.free_c | cores, node.free_g | gpus
            changes.append((node, free_c, free_g))
            dc, dg = moves.get(node.pos, (0, 0))
            moves[node.pos] = (dc + free_c.bit_count() - node.nfree_c,
                               dg + free_g.bit_count() - node.nfree_g)
            counts[node.pos] = (cores.bit_count(), gpus.bit_count())
            ids[node.pos] = (cores, gpus)
        self.pool.set_free_many(changes)
        self.planner.changed(moves, 1)
        return exact, counts, ids

    def free(self, shares, jobid=None, final=True, now=None):
        """Give back resources (all of a job's, or the ranks of a partial
        release); ranks the job does not hold (any, for a job not
        allocated here) are ignored (False)."""
        run = self.planner.running.get(jobid)
        exact = True
        if jobid is not None and run is None:
            return False  # not allocated here (freed already)
        if run is not None:
            # ranks already released (a partial free) are not the job's
            held = [s for s in shares if s.rank in self.pool.by_rank
                    and self.pool.by_rank[s.rank].pos in run.counts]
            exact = len(held) == len(shares)
            shares = held
        some, counts, _ = self._shares(shares, take=False)
        exact = exact and some
        if jobid is not None:
            self._released(jobid, None if final else list(counts), now)
        return exact

    def free_job(self, jobid, now=None):
        """Give back everything job ``jobid`` still holds here, from the
        policy's own record of its allocation (as Fluxion frees a job by
        its id); False when it holds nothing here."""
        run = self.planner.running.get(jobid)
        if run is None:
            return False
        self.pool.give_ids(run.ids)
        self.planner.changed(run.counts, 1)
        self._released(jobid, None, now)
        return True

    def _released(self, jobid, positions, now):
        end = self.planner.release(jobid, positions)
        if end is not None and now is not None and end > now + 1.0:
            # ended early: reservations may come sooner
            self.dirty = True

    def set_allocated(self, shares, jobid=None, end=0.0):
        """Take what a job held across a restart (False when some ids
        were not free or not known)."""
        exact, counts, ids = self._shares(shares, take=True)
        if jobid is not None and counts:
            self.planner.add_running(jobid, end, counts, ids)
        self.dirty = True
        return exact

    def snapshot(self):
        """``(all, allocated, down)`` share lists."""
        return tuple([Share(n.rank, n.hostname, c, g, n.props)
                      for n, c, g in part] for part in self.pool.snapshot())

    # -- requests --------------------------------------------------------------

    def eligible(self, constraint):
        """Bit set of the ranks an RFC 31 constraint admits."""
        if constraint is None:
            return self.all
        key = repr(constraint)
        mask = self._eligible.get(key)
        if mask is None:
            try:
                match = compile_constraint(constraint)
            except ConstraintError as exc:
                raise InvalidRequest(str(exc)) from None
            mask = 0
            for node in self.pool.nodes:
                if match(node.rank, node.hostname, node.props):
                    mask |= node.bit
            if len(self._eligible) > 1024:
                self._eligible.clear()
            self._eligible[key] = mask
        return mask

    def check(self, request):
        """Feasibility: None, or raise the reason it can never run."""
        _args(request)
        eligible = self.eligible(request.constraint)
        if request.nslots * request.slot_size > self.pool.total:
            raise Unsatisfiable("unsatisfiable request")
        if request.constraint is not None and not eligible:
            raise Unsatisfiable("no resources satisfy provided constraints")
        key = (request.shape(), self.settings.match.node_exclusive)
        ok = self._feasible.get(key)
        if ok is None:
            ok = self.pool.feasible(self.planner.shape(request), eligible)
            if len(self._feasible) > 4096:
                self._feasible.clear()
            self._feasible[key] = ok
        if not ok:
            raise Unsatisfiable("unsatisfiable constrained request"
                                if request.constraint is not None
                                else "unsatisfiable request")

    def _start(self, job, plan, now):
        taken = self.pool.take(plan, self.settings.match.ids_high)
        new = tuple.__new__  # no Python call a rank (see Share)
        shares = [new(Share, (node.rank, node.hostname, cores, gpus,
                              node.props))
                  for (node, _, _), (cores, gpus) in zip(plan, taken)]
        positions = [node.pos for node, _, _ in plan]
        counts = dict(zip(positions, [(c, g) for _, c, g in plan]))
        ids = dict(zip(positions, taken))
        self.planner.changed(counts, -1)
        if len(shares) > 1 and (shares[0][0] > shares[1][0] or any(
                a[0] > b[0] for a, b in zip(shares, shares[1:]))):
            shares.sort()
        duration = job.req.duration
        end = now + duration if duration > 0 else self.expiration
        self.planner.add_running(job.id, end, counts, ids)
        return shares, end

    def schedule(self, queues, now):
        """One pass over every queue.

        :param queues: a :class:`~fluxd.sched._queue.QueueSet`; allocated
            and denied jobs are taken out of it.
        :returns: ``[(kind, job, value)]`` with kind ``alloc`` (value:
            ``(shares, expiration)``), ``deny`` (the note) or ``annotate``
            (``{"t_estimate": T or None, "reason_pending": ...}``).
        """
        planner = self.planner
        if self.dirty:
            planner.clear_reservations()
            self._keys.clear()
            self.dirty = False
            self._last_key = None
        out, self.again = [], False
        for name, queue in queues.items():
            conf = self.settings.queue(name)
            deeper = len(queue) > conf.queue_depth
            done = len(out)
            self._pass(queues, queue, conf, now, out)
            if deeper and any(kind != "annotate" for kind, _, _ in
                              out[done:]):
                # jobs past the depth looked at: another pass
                self.again = True
        return out

    def wake(self, now):
        """When a pass must run though nothing ends then: the earliest
        reservation start after ``now`` (None: none)."""
        starts = [res.start for res in self.planner.reservations.values()
                  if res.start > now]
        return min(starts) if starts else None

    def _request(self, job):
        """``[req, shape, eligible, checked, key, size, count, cores,
        duration]`` of a pending job (raises InvalidRequest for a
        malformed one): ``key``, ``size`` and ``count`` are
        :func:`_fail_key`'s, ``cores`` the cores it asks for in all,
        ``duration`` its duration (0: unlimited)."""
        info = self._reqs.get(job.id)
        if info is None or info[0] is not job.req:
            req = job.req
            _args(req)
            shape = self.planner.shape(req)
            key, (size, count) = _fail_key(shape, req)
            info = [req, shape, self.eligible(req.constraint), False,
                    key, size, count, req.nslots * req.slot_size,
                    req.duration]
            if len(self._reqs) > 65536:
                self._reqs.clear()
            self._reqs[job.id] = info
        return info

    def _note(self, out, job, t_estimate):
        """Annotate a waiting job, unless nothing changed since the
        last time (a pass looks at the same blocked jobs again and
        again)."""
        if self._noted.get(job.id, _NONE) != t_estimate:
            self._noted[job.id] = t_estimate
            out.append(("annotate", job, {"t_estimate": t_estimate,
                                          "reason_pending": REASON}))

    def _late(self, res, job):
        """A reserved job cannot start at its time: the reservations
        made after its own (they may have been placed around it) go too
        and are made again; returns ``(ahead, dropped)``: whether one of
        a job queued ahead of ``job`` went (it is redone by another pass),
        whether any went."""
        ahead = False
        key = (-job.priority, job.id)
        later = self.planner.unreserve_after(res.seq)
        for other in later:
            queued = self._keys.pop(other, None)
            if queued is None or queued < key:
                ahead = True
        return ahead, bool(later)

    def _pass(self, queues, queue, conf, now, out):
        planner, pool = self.planner, self.pool
        reserved = 0
        # what did not fit in this pass, by kind: nothing bigger will
        # (resources only shrink during a pass; a new reservation clears it)
        failed = {}
        reservations, reqs, noted = (planner.reservations, self._reqs,
                                     self._noted)
        # the reservations by start (a job's window: how many of them it
        # overlaps, as Planner.window; the list changes in place)
        starts = planner._by_start
        for job in queue.head(conf.queue_depth):
            req = job.req
            jobid = job.id
            res = reservations.get(jobid)
            if res is not None and res.start > now:
                # its earliest start, from what ends when: nothing ended
                # early since (the reservations would have been dropped)
                reserved += 1
                continue
            info = reqs.get(jobid)
            try:
                if info is None or info[0] is not req:
                    info = self._request(job)
            except InvalidRequest as exc:
                queues.remove(jobid)
                self._noted.pop(jobid, None)
                out.append(("deny", job, "unable to allocate provided"
                                         f" jobspec: {exc}"))
                continue
            _, shape, eligible, checked, kind, size, count, cores, \
                duration = info
            if res is not None:
                # due: it starts now, or the plan was wrong (what it
                # waited for runs late)
                planner.unreserve(jobid)
                failed.clear()
            plan = None
            if cores <= pool.avail:
                key = (kind, bisect_left(starts, (
                    now + duration if duration > 0 else INF, -1))
                    if starts else 0)
                tried = failed.get(key)
                if tried is not None:
                    for a, b in tried:
                        if a <= size and b <= count:
                            break
                    else:
                        tried = None
                if tried is None:
                    plan = planner.fit_now(shape, eligible, now, duration)
                    if plan is None:
                        failed.setdefault(key, []).append((size, count))
            if plan is not None:
                queues.remove(job.id)
                self._noted.pop(job.id, None)
                self._reqs.pop(job.id, None)
                self._keys.pop(job.id, None)
                out.append(("alloc", job, self._start(job, plan, now)))
                continue
            if res is not None and planner.overdue(res, now):
                # what it waits for runs past its expected end and still
                # holds its ranks: it keeps its reservation (its free
                # runs a pass)
                planner.reserve(res)
                reserved += 1
                self._note(out, job, res.start)
                continue
            if res is not None:
                # late: what was reserved after it is redone (a stale
                # chain of reservations would leave jobs waiting on an
                # idle cluster)
                ahead, dropped = self._late(res, job)
                if ahead:
                    self.again = True
                failed.clear()
                if dropped:
                    # what was placed around it may have been all that
                    # stood in its way
                    plan = planner.fit_now(shape, eligible, now,
                                           req.duration)
                    if plan is not None:
                        queues.remove(job.id)
                        self._noted.pop(job.id, None)
                        self._reqs.pop(job.id, None)
                        out.append(("alloc", job,
                                    self._start(job, plan, now)))
                        continue
            if not checked:
                try:
                    self.check(req)
                except (Unsatisfiable, InvalidRequest) as exc:
                    queues.remove(job.id)
                    self._noted.pop(job.id, None)
                    self._reqs.pop(job.id, None)
                    out.append(("deny", job, str(exc)
                                if isinstance(exc, Unsatisfiable) else
                                "unable to allocate provided jobspec:"
                                f" {exc}"))
                    continue
                info[3] = True
            if reserved >= conf.reservations:
                if noted.get(job.id, _NONE) is not None:
                    self._note(out, job, None)
                if conf.policy == "fcfs":
                    break
                continue
            reserved += 1
            found = planner.earliest(shape, eligible, now, req.duration)
            if found is None:
                self._note(out, job, None)
                continue
            start, plan = found
            duration = req.duration if req.duration > 0 else INF
            res = Reservation(job.id, start, start + duration,
                              {node.pos: (c, g) for node, c, g in plan})
            planner.reserve(res)
            failed.clear()
            key = (-job.priority, job.id)
            self._keys[job.id] = key
            if self._last_key is None or key > self._last_key:
                self._last_key = key
            self._note(out, job, res.start)
