# -*- test-case-name: tests.unit.sched.test_firstfit -*-
"""What a scheduling policy is, to the scheduler service.

The service (:mod:`fluxd.sched.service`) speaks RFC 27 to the job
manager, keeps the queue, writes R and answers; the *policy* only decides
which resources a request gets.  A policy is pure Python, synchronous and
Twisted-free, so it can be tested and benchmarked alone and replaced
(fluxion-like policies later) without touching the protocol.

A request is a :class:`Request` (the jobspec summary of flux-core's
``jj`` reader plus the RFC 31 constraint); an allocation is an
:class:`Allocation`, a list of per-rank :class:`Share` objects.  Resource
ids travel as Python ints used as bit sets (bit ``i`` set: id ``i``).
"""

from zope.interface import Attribute, Interface

__all__ = ["ISchedPolicy", "Request", "Share", "Allocation", "NoSpace",
           "Unsatisfiable", "InvalidRequest", "PolicyError"]


class PolicyError(Exception):
    """A request the policy cannot allocate; ``str()`` is the note."""


class NoSpace(PolicyError):
    """Not now: the request fits the instance but not its free resources
    (flux's ENOSPC); the job waits."""


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


class Share:
    """The resources one rank gives an allocation.

    :ivar rank: the broker rank.
    :ivar hostname: its hostname (None when R names none).
    :ivar cores: core ids, as a bit set.
    :ivar gpus: GPU ids, as a bit set.
    :ivar properties: the rank's property names (a frozenset).
    """

    __slots__ = ("rank", "hostname", "cores", "gpus", "properties")

    def __init__(self, rank, hostname, cores, gpus=0, properties=frozenset()):
        self.rank = rank
        self.hostname = hostname
        self.cores = cores
        self.gpus = gpus
        self.properties = properties


class Allocation:
    """What a policy gave one request: shares in rank order."""

    __slots__ = ("shares", "nslots")

    def __init__(self, shares, nslots):
        self.shares = shares
        self.nslots = nslots


class ISchedPolicy(Interface):
    """A resource allocation policy (pure, synchronous)."""

    expiration = Attribute(
        "The instance's own expiration (epoch seconds, 0: none): R of an"
        " unlimited job expires then")

    def alloc(request):
        """Allocate ``request`` now.

        :returns: an :class:`Allocation`.
        :raises NoSpace: it must wait for resources.
        :raises Unsatisfiable: it can never be allocated.
        :raises InvalidRequest: it is malformed.
        """

    def check(request):
        """Feasibility: return None when ``request`` could ever be
        allocated, else raise :class:`Unsatisfiable` or
        :class:`InvalidRequest` with the reason."""

    def free(shares):
        """Return resources (a list of :class:`Share`; ids or ranks the
        policy does not hold are ignored).

        :returns: True when every id was allocated, False otherwise.
        """

    def set_allocated(shares):
        """Mark resources allocated (jobs that held them before a restart).

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
