# -*- test-case-name: tests.unit.sched.test_fluxion -*-
"""What a scheduling policy is, to the scheduler service.

The service (:mod:`fluxd.sched.service`) speaks RFC 27 to the job
manager, keeps the queues, writes R and answers; the *policy*
(:mod:`fluxd.sched.fluxion`) decides which pending jobs get which
resources, and when.  A policy is pure Python, synchronous and
Twisted-free, so it can be tested and benchmarked alone.

A request is a :class:`Request` (the jobspec summary of flux-core's
``jj`` reader plus the RFC 31 constraint); an allocation is a list of
per-rank :class:`Share` objects.  Resource ids travel as Python ints used
as bit sets (bit ``i`` set: id ``i``).
"""

import operator

from zope.interface import Attribute, Interface

__all__ = ["ISchedPolicy", "Request", "Share",
           "Unsatisfiable", "InvalidRequest", "PolicyError"]


class PolicyError(Exception):
    """A request the policy cannot allocate; ``str()`` is the note."""


class Unsatisfiable(PolicyError):
    """Never: not even the whole instance, idle and up, could hold it
    (flux's EOVERFLOW)."""


class InvalidRequest(PolicyError):
    """The request itself is malformed (flux's EINVAL)."""


class Request:
    """One job's resource request.

    :ivar nnodes: whole nodes asked for (0: none named).
    :ivar nslots: total slots.
    :ivar slot_size: cores per slot.
    :ivar slot_gpus: GPUs per slot.
    :ivar exclusive: whole nodes (only with ``nnodes``).
    :ivar constraint: an RFC 31 constraint object, or None.
    :ivar duration: seconds (0: unlimited).
    """

    __slots__ = ("nnodes", "nslots", "slot_size", "slot_gpus", "exclusive",
                 "constraint", "duration")

    def __init__(self, nslots, slot_size, *, nnodes=0, slot_gpus=0,
                 exclusive=False, constraint=None, duration=0.0):
        self.nnodes = nnodes
        self.nslots = nslots
        self.slot_size = slot_size
        self.slot_gpus = slot_gpus
        self.exclusive = exclusive
        self.constraint = constraint
        self.duration = duration

    def shape(self):
        """A hashable key of everything but the duration."""
        return (self.nnodes, self.nslots, self.slot_size, self.slot_gpus,
                self.exclusive, _freeze(self.constraint))

    def __repr__(self):
        return (f"Request(nnodes={self.nnodes}, nslots={self.nslots},"
                f" slot_size={self.slot_size}, slot_gpus={self.slot_gpus},"
                f" exclusive={self.exclusive})")


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


class Share(tuple):
    """The resources one rank gives an allocation (a tuple: the policy
    makes one per rank of every allocation, so it is built in C:
    ``tuple.__new__(Share, (rank, hostname, cores, gpus, properties))``,
    no Python call).

    :ivar rank: the broker rank.
    :ivar hostname: its hostname (None when R names none).
    :ivar cores: core ids, as a bit set.
    :ivar gpus: GPU ids, as a bit set.
    :ivar properties: the rank's property names (a frozenset).
    """

    __slots__ = ()

    def __new__(cls, rank, hostname, cores, gpus=0,
                properties=frozenset()):
        return tuple.__new__(cls, (rank, hostname, cores, gpus, properties))

    rank = property(operator.itemgetter(0))
    hostname = property(operator.itemgetter(1))
    cores = property(operator.itemgetter(2))
    gpus = property(operator.itemgetter(3))
    properties = property(operator.itemgetter(4))

    def __repr__(self):
        return (f"Share(rank={self.rank}, cores={self.cores:#x},"
                f" gpus={self.gpus:#x})")


class ISchedPolicy(Interface):
    """A scheduling policy (pure, synchronous): decides which pending
    jobs get which resources, and when."""

    expiration = Attribute(
        "The instance's own expiration (epoch seconds, 0: none): R of an"
        " unlimited job expires then")

    again = Attribute(
        "True when the last pass moved a queue that holds jobs it did not"
        " look at (its queue depth): the service runs another")

    def schedule(queues, now):
        """One scheduling pass over the pending jobs.

        :param queues: a :class:`~fluxd.sched._queue.QueueSet` of jobs
            (``id``, ``priority``, ``req``, ``queue``); allocated and
            denied ones are taken out.
        :returns: ``[(kind, job, value)]``: ``alloc`` with ``(shares,
            expiration)``, ``deny`` with the note, ``annotate`` with the
            ``sched`` annotations.
        """

    def wake(now):
        """The time a pass must run even if nothing happens (a reserved
        job's start), or None."""

    def check(request):
        """Feasibility: return None when ``request`` could ever be
        allocated, else raise :class:`Unsatisfiable` or
        :class:`InvalidRequest` with the reason."""

    def queued(job):
        """A job joined a queue."""

    def reordered():
        """Pending jobs changed priority."""

    def withdrawn(jobid):
        """A pending job left its queue without an allocation."""

    def configure(settings):
        """Adopt new :class:`~fluxd.sched.schedconf.SchedSettings`."""

    def free(shares, jobid=None, final=True, now=None):
        """Return resources (a list of :class:`Share`; ids or ranks the
        policy does not hold are ignored); ``final`` False: only these
        ranks of the job's allocation (a partial release).

        :returns: True when every id was allocated, False otherwise.
        """

    def free_job(jobid, now=None):
        """Return everything job ``jobid`` still holds, from the policy's
        own record of its allocation (R is not needed, as Fluxion frees
        a job by id).

        :returns: False when the policy holds nothing of that job.
        """

    def set_allocated(shares, jobid=None, end=0.0):
        """Mark resources allocated (a job that held them before a
        restart, running until ``end``).

        :returns: True when every id was free, False otherwise.
        """

    def mark_up(ranks):
        """Ranks (an iterable) that jobs may use again."""

    def mark_down(ranks):
        """Ranks (an iterable) that no new job may use."""

    def totals():
        """``(avail, total)`` cores: free on up ranks, and all."""

    def snapshot():
        """``(all, allocated, down)`` as lists of :class:`Share` (for
        ``sched.resource-status``)."""
