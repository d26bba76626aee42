# -*- test-case-name: tests.unit.formats.test_rv1 -*-
"""RFC 20 resource sets (R version 1) and their set algebra.

An R names, for each broker rank of an instance, the resources that rank
holds (cores, GPUs), the rank's hostname and the properties assigned to it::

    {"version": 1,
     "execution": {"R_lite": [{"rank": "0-3", "children": {"core": "0-7"}}],
                   "starttime": 0.0, "expiration": 0.0,
                   "nodelist": ["node[0-3]"], "properties": {"batch": "0-1"}}}

:class:`Rv1` is that set: decoded and validated from JSON, encoded back the
way flux-core encodes it (so ``flux R`` prints what flux-core's prints), and
combined the ways flux-core's ``librlist`` combines resource sets (union,
difference, intersection, renumbering).  :func:`from_config` builds one from
the ``[[resource.config]]`` table of a broker's TOML configuration.

Operations return new sets unless their docstring says otherwise
(:meth:`Rv1.append` and :meth:`Rv1.set_property` update in place, as their
flux-core counterparts do).  The opaque ``scheduling`` key is carried along
unchanged and shared, never copied: treat it as immutable.
"""

import json

from fluxd.formats import _rjson
from fluxd.formats._rconfig import config_nodes
from fluxd.formats._rnode import (
    Node, RError, check_property_name, check_property_query, parse_ids,
)
from fluxd.formats._rverify import VERIFY_MODES, verify_node
from fluxd.formats.hostlist import Hostlist, HostlistError
from fluxd.formats.idset import IDset

__all__ = ["RError", "Rv1", "from_config", "VERIFY_MODES"]

# remap() renumbers resource ids from 0, except GPUs: their ids are device
# indexes (CUDA_VISIBLE_DEVICES), which must survive renumbering.
_NOREMAP = frozenset({"gpu"})


def _as_ids(ranks, what="ranks"):
    """Accept an IDset, an idset string or an iterable of ranks."""
    if isinstance(ranks, (IDset, str)):
        return parse_ids(ranks, what)
    return IDset(ranks)


class Rv1:
    """An RFC 20 resource set.

    The model is one :class:`~fluxd.formats._rnode.Node` per rank (hostname
    or None, children such as ``core`` and ``gpu``, property names) plus
    ``starttime`` and ``expiration`` (epoch seconds, 0.0 = unset),
    ``nslots`` (None = unset) and the opaque ``scheduling`` object.

    :param starttime: start of validity, epoch seconds (0 = unset).
    :param expiration: end of validity, epoch seconds (0 = unset).
    :param nslots: number of slots a scheduler allocated, or None.
    :param scheduling: opaque scheduler data (top-level ``scheduling`` key).
    """

    __hash__ = None  # mutable (append, set_property)

    def __init__(self, *, starttime=0.0, expiration=0.0, nslots=None,
                 scheduling=None):
        self._nodes = {}
        self.starttime = float(starttime)
        self.expiration = float(expiration)
        self.nslots = nslots
        self.scheduling = scheduling

    # -- construction and codec -------------------------------------------

    @classmethod
    def _make(cls, nodes, like, *, nslots=None, scheduling=None):
        """A set holding ``nodes`` (adopted, not copied), taking start and
        expiration times from ``like``."""
        result = cls(starttime=like.starttime, expiration=like.expiration,
                     nslots=nslots, scheduling=scheduling)
        result._nodes = nodes
        return result

    @classmethod
    def decode(cls, obj):
        """Validate and decode an R object (RFC 20, as flux-core reads it).

        :param obj: a dict, or JSON text (str or bytes).
        :returns: a new :class:`Rv1`.
        :raises RError: one line naming the problem, e.g. ``execution is
            missing required key 'R_lite'`` or ``ranks 4-5 not found in
            target resource list``.
        """
        nodes, start, expiration, nslots, sched = _rjson.decode_r(obj)
        result = cls(starttime=start, expiration=expiration, nslots=nslots,
                     scheduling=sched)
        result._nodes = nodes
        return result

    def encode(self):
        """Encode as flux-core's encoder does (see :func:`_rjson.encode_r`).

        :returns: a JSON-ready dict.
        """
        return _rjson.encode_r(self._nodes, self.starttime, self.expiration,
                               self.nslots, self.scheduling)

    def dumps(self):
        """:returns: the encoded R as one line of JSON, formatted like
            jansson's ``json_dumps(R, 0)`` (what ``flux R`` prints)."""
        return json.dumps(self.encode(), ensure_ascii=False)

    def dumps_short(self):
        """:returns: the short form, ``rank0/core[0-1] rank1/core[0-3]``
            (``flux R decode --short``); ``""`` when empty."""
        return _rjson.dumps_short(self._nodes)

    __str__ = dumps_short

    def __repr__(self):
        return f"Rv1({self.dumps_short()!r})"

    def add_rank(self, rank, hostname=None, cores="", gpus="", **children):
        """Add resources to a rank (in place), like ``rlist_append_rank``.

        :param rank: broker rank.
        :param hostname: the rank's hostname (kept if the rank exists).
        :param cores: core ids (idset string or :class:`IDset`).
        :param gpus: GPU ids.
        :param children: further resource types, name -> ids.
        :returns: self.
        :raises RError: for a bad idset, or ids the rank already holds.
        """
        wanted = {"core": cores, "gpu": gpus, **children}
        parsed = {name: parse_ids(ids, name) for name, ids in wanted.items()}
        node = self._nodes.get(rank)
        if node is None:
            node = self._nodes[rank] = Node(hostname)
        elif node.hostname is None:
            node.hostname = hostname
        overlap = node.overlap(parsed)
        if overlap:
            raise RError(f"rank {rank} already has"
                         f" {Node(None, overlap).short()}")
        node.add(parsed)
        if node.is_empty():
            del self._nodes[rank]
        return self

    def copy(self):
        """A copy as flux-core's ``rlist_copy()`` makes it (each node's
        children then print in the order of a flux-core copy, see
        :mod:`fluxd.formats._rorder`).

        :returns: an independent copy (``scheduling`` is shared).
        """
        nodes = {rank: node.copy() for rank, node in self._nodes.items()}
        return self._make(nodes, self, nslots=self.nslots,
                          scheduling=self.scheduling)

    def clone(self):
        """:returns: an independent copy that prints exactly as this set
            (for a change flux-core makes in place; ``scheduling`` is
            shared)."""
        nodes = {rank: node.clone() for rank, node in self._nodes.items()}
        return self._make(nodes, self, nslots=self.nslots,
                          scheduling=self.scheduling)

    # -- queries ----------------------------------------------------------

    def ranks(self):
        """:returns: the ranks as an :class:`IDset`."""
        return IDset(sorted(self._nodes))

    def nodelist(self):
        """The hostnames in rank order.

        :returns: a :class:`Hostlist` (empty for an empty set).
        :raises RError: when some rank has no hostname (R had no nodelist).
        """
        names = []
        for rank in sorted(self._nodes):
            hostname = self._nodes[rank].hostname
            if hostname is None:
                raise RError(f"no nodelist: rank {rank} has no hostname")
            names.append(hostname)
        return Hostlist(names)

    def hostname(self, rank):
        """:returns: the hostname of ``rank``, or None if it has none.
        :raises RError: when the rank is not in the set."""
        return self._node(rank).hostname

    def children(self, rank):
        """:returns: resource type -> :class:`IDset` for ``rank`` (copies).
        :raises RError: when the rank is not in the set."""
        return {name: ids.copy()
                for name, ids in self._node(rank).children.items()}

    def cores(self, rank):
        """:returns: the core ids of ``rank`` (an :class:`IDset`)."""
        return self._node(rank).children.get("core", IDset()).copy()

    def gpus(self, rank):
        """:returns: the GPU ids of ``rank`` (an :class:`IDset`)."""
        return self._node(rank).children.get("gpu", IDset()).copy()

    def rank_properties(self, rank):
        """:returns: the set of property names of ``rank``."""
        return set(self._node(rank).properties)

    def properties(self):
        """:returns: property name -> :class:`IDset` of ranks, by name."""
        return _rjson.properties_of(self._nodes)

    def _node(self, rank):
        try:
            return self._nodes[rank]
        except KeyError:
            raise RError(f"rank {rank} not found in resource set") from None

    def count(self, what):
        """Count ranks or resources, as ``flux R decode --count``.

        :param what: ``node``/``nodes``/``ranks`` for the number of ranks;
            ``core``/``cores``, ``gpu``/``gpus``, or any other resource type
            name for the number of such resources.
        :returns: an int (0 for a type the set does not hold).
        """
        if what in ("node", "nodes", "ranks", "rank"):
            return len(self._nodes)
        name = {"cores": "core", "gpus": "gpu"}.get(what, what)
        return sum(node.count(name) for node in self._nodes.values())

    def __len__(self):
        return len(self._nodes)

    def __bool__(self):
        return bool(self._nodes)

    def __eq__(self, other):
        if not isinstance(other, Rv1):
            return NotImplemented
        return (self._nodes == other._nodes
                and self.starttime == other.starttime
                and self.expiration == other.expiration
                and self.nslots == other.nslots
                and self.scheduling == other.scheduling)

    # -- set algebra --------------------------------------------------------

    def union(self, other):
        """All resources of both sets (``rlist_union``).

        A rank in both keeps this set's hostname (or takes the other's if it
        has none) and gets the union of children and properties.  Times and
        ``scheduling`` come from self (``scheduling`` from other if self has
        none).

        :returns: a new :class:`Rv1`.
        """
        # The copies follow rlist_union() (the difference, then other
        # appended to it), which sets the order children print in.
        result = self.copy()
        for rank, theirs in other._nodes.items():
            mine = result._nodes.get(rank)
            if mine is None:
                result._nodes[rank] = theirs.copy()
                continue
            rest = mine.copy()
            rest.subtract(theirs.children)
            if rest.is_empty():
                node = theirs.copy()
            else:
                node = rest
                node.add(theirs.copy().ordered_children())
            node.hostname = mine.hostname or theirs.hostname
            node.properties = mine.properties | theirs.properties
            result._nodes[rank] = node
        if result.scheduling is None:
            result.scheduling = other.scheduling
        result.nslots = None
        return result

    def _merge(self, other):
        for rank, theirs in other._nodes.items():
            mine = self._nodes.get(rank)
            if mine is None:
                self._nodes[rank] = theirs.copy()
                continue
            if mine.hostname is None:
                mine.hostname = theirs.hostname
            mine.add(theirs.copy().ordered_children())
            mine.properties |= theirs.properties
        if self.scheduling is None:
            self.scheduling = other.scheduling

    def overlaps(self, other):
        """:returns: True when the sets share any resource on any rank."""
        return any(rank in self._nodes and self._nodes[rank].overlap(
            node.children) for rank, node in other._nodes.items())

    def append(self, other):
        """Add the disjoint set ``other`` to this one, in place.

        This is ``flux R append``: sets that share resources are refused.

        :returns: self.
        :raises RError: ``R objects 'rank0/core0' and 'rank0/core[0-1]'
            overlap``.
        """
        if self.overlaps(other):
            raise RError(f"R objects '{self.dumps_short()}' and"
                         f" '{other.dumps_short()}' overlap")
        self._merge(other)
        self.nslots = None
        return self

    def diff(self, other):
        """Resources of self that are not in ``other`` (``rlist_diff``).

        Ranks left empty disappear.  Hostnames, properties, times and
        ``scheduling`` come from self.

        :returns: a new :class:`Rv1` sharing no resource with ``other``.
        """
        nodes = {}
        for rank, node in self._nodes.items():
            node = node.copy()  # rlist_diff() copies the whole set...
            theirs = other._nodes.get(rank)
            if theirs is not None:
                node = node.copy()  # ...and rnode_diff() copies again
                node.subtract(theirs.children)
            if not node.is_empty():
                nodes[rank] = node
        return self._make(nodes, self, scheduling=self.scheduling)

    def intersect(self, other):
        """Resources present in both sets (``rlist_intersect``).

        A rank whose hostnames are both known and differ is not the same
        node, so it does not intersect.  The result keeps the properties
        both sets give a rank; times and ``scheduling`` come from self
        (``scheduling`` is dropped when the result is empty).

        :returns: a new :class:`Rv1`.
        """
        nodes = {}
        for rank, theirs in other._nodes.items():
            mine = self._nodes.get(rank)
            if mine is None:
                continue
            if (mine.hostname is not None and theirs.hostname is not None
                    and mine.hostname != theirs.hostname):
                continue
            common = mine.overlap(theirs.children)
            if common:
                hostname = mine.hostname or theirs.hostname
                # rnode_intersect(): a new node, types in mine's order
                ordered = {name: common[name] for name in mine.order()
                           if name in common}
                nodes[rank] = Node(hostname, ordered,
                                   mine.properties & theirs.properties)
        return self._make(nodes, self,
                          scheduling=self.scheduling if nodes else None)

    def copy_ranks(self, ranks):
        """The part of the set on ``ranks`` (``rlist_copy_ranks``); ranks
        not in the set are ignored.

        :param ranks: :class:`IDset`, idset string or iterable of ranks.
        :returns: a new :class:`Rv1` (``scheduling`` dropped if empty).
        :raises RError: for a bad idset string.
        """
        wanted = _as_ids(ranks)
        nodes = {rank: node.copy() for rank, node in self._nodes.items()
                 if rank in wanted}
        return self._make(nodes, self,
                          scheduling=self.scheduling if nodes else None)

    def exclude_ranks(self, ranks):
        """The set without ``ranks`` (``rlist_remove_ranks``).

        :param ranks: :class:`IDset`, idset string or iterable of ranks.
        :returns: a new :class:`Rv1`.
        :raises RError: for a bad idset string.
        """
        unwanted = _as_ids(ranks)
        nodes = {rank: node.clone() for rank, node in self._nodes.items()
                 if rank not in unwanted}
        return self._make(nodes, self, scheduling=self.scheduling)

    def remap(self):
        """Renumber ranks 0..n-1 in rank order (``rlist_remap``).

        Each rank's resource ids are renumbered from 0 as well, except GPU
        ids, which are device indexes: ``rank[1,7]/core[4-5],gpu[1,3]``
        becomes ``rank[0-1]/core[0-1],gpu[1,3]``.

        :returns: a new :class:`Rv1`.
        """
        nodes = {}
        for new, old in enumerate(sorted(self._nodes)):
            node = self._nodes[old].clone()
            for name, ids in node.children.items():
                if name not in _NOREMAP:
                    node.children[name] = IDset(f"0-{len(ids) - 1}"
                                                if len(ids) > 1 else "0")
            nodes[new] = node
        return self._make(nodes, self, nslots=self.nslots,
                          scheduling=self.scheduling)

    def rerank(self, hosts):
        """Renumber ranks by each host's position in ``hosts``
        (``rlist_rerank``).

        :param hosts: a :class:`Hostlist` or hostlist string naming every
            node exactly once (a hostname held by several ranks is matched
            occurrence by occurrence, in rank order).
        :returns: a new :class:`Rv1`.
        :raises RError: ``Number of hosts (15) is less than node count
            (16)``, ``... is greater than ...``, ``Host foo16 not found in
            resources``, or an invalid hostlist.
        """
        if not isinstance(hosts, Hostlist):
            try:
                hosts = Hostlist(hosts)
            except HostlistError as exc:
                raise RError(f"invalid hostlist '{hosts}': {exc}") from None
        count, nnodes = len(hosts), len(self._nodes)
        if count > nnodes:
            raise RError(f"Number of hosts ({count}) is greater than node"
                         f" count ({nnodes})")
        if count < nnodes:
            raise RError(f"Number of hosts ({count}) is less than node"
                         f" count ({nnodes})")
        by_host = {}
        for rank in sorted(self._nodes):
            by_host.setdefault(self._nodes[rank].hostname, []).append(rank)
        for candidates in by_host.values():
            candidates.reverse()  # pop() then yields them in rank order
        nodes = {}
        for new, host in enumerate(hosts):
            candidates = by_host.get(host)
            if not candidates:
                raise RError(f"Host {host} not found in resources")
            nodes[new] = self._nodes[candidates.pop()].clone()
        return self._make(nodes, self, nslots=self.nslots,
                          scheduling=self.scheduling)

    # -- properties ---------------------------------------------------------

    def set_property(self, name, ranks=None):
        """Assign property ``name`` to ``ranks``, in place.

        :param name: property name (RFC 20 forbids ``! & ' " ^ ` | ( )``).
        :param ranks: :class:`IDset`, idset string or iterable of ranks;
            None for every rank of the set.
        :returns: self.
        :raises RError: ``ranks 4-5 not found in target resource list``,
            ``invalid character '^' in property "x^y"``, or a bad idset.
        """
        check_property_name(name)
        if ranks is None:
            targets = self.ranks()
        elif isinstance(ranks, str):
            try:
                targets = IDset.decode(ranks)
            except ValueError:
                raise RError(f"Invalid idset string '{ranks}'") from None
        else:
            targets = _as_ids(ranks)
        unknown = targets - self.ranks()
        if unknown:
            raise _rjson.unknown_ranks_error(unknown)
        for rank in targets:
            self._nodes[rank].properties.add(name)
        return self

    def filter_properties(self, expr):
        """The ranks matching a property query (``flux R decode -p``).

        :param expr: ``"batch,^debug"`` (comma = AND, ``^`` = NOT) or a list
            of such terms.  A term matches a rank that has the property or
            whose hostname is the term, as flux-core's matcher does.
        :returns: a new :class:`Rv1` (``scheduling`` dropped if empty).
        :raises RError: ``invalid character '|' in property "a|b"``.
        """
        terms = expr.split(",") if isinstance(expr, str) else list(expr)
        checks = []
        for term in terms:
            if not isinstance(term, str):
                raise RError("non-string property specified")
            if not term:
                continue  # flux splits with strtok(): empty terms vanish
            check_property_query(term)
            negate = term.startswith("^")
            checks.append((term[1:] if negate else term, negate))

        def matches(node):
            for prop, negate in checks:
                found = prop in node.properties or node.hostname == prop
                if found == negate:
                    return False
            return True

        nodes = {rank: node.copy() for rank, node in self._nodes.items()
                 if matches(node)}
        return self._make(nodes, self,
                          scheduling=self.scheduling if nodes else None)

    # -- verification -------------------------------------------------------

    def verify(self, actual, modes=None):
        """Check one rank's discovered resources against this set.

        This is ``flux R verify`` / ``rlist_verify_ex``: self is the
        expected (configured) set, ``actual`` what one broker found.

        :param actual: an :class:`Rv1` holding exactly one rank.
        :param modes: optional mapping with keys ``default``, ``hostname``,
            ``core``, ``gpu`` and values from :data:`VERIFY_MODES`
            (``[resource.verify]``); everything is ``strict`` by default.
        :returns: None when the resources match, or a message such as
            ``rank 0 (foo0) has extra resources: core[4-7],gpu1`` when
            ``actual`` holds more than expected (not an error).
        :raises RError: ``rank 1 (foo1) missing resources: gpu0``, ``rank 5
            got hostname 'foo7', expected 'foo5'``, ``rank 7 not found in
            expected ranks``, ``Verification supported on single rank
            only``, or an unknown mode.
        """
        return verify_node(self._nodes, actual._nodes, modes)



def from_config(entries, source=""):
    """Build a resource set from ``resource.config`` entries (the table of
    ``[[resource.config]]``, already read from the configuration).

    :param entries: list of dicts with keys ``hosts``, ``cores``, ``gpus``,
        ``properties`` (see :mod:`fluxd.formats._rconfig`).
    :param source: the file the entries came from, for error messages
        (``SOURCE: resource.config[N]: ...``); "" for flux-core's
        ``config[N]: ...``.
    :returns: a new :class:`Rv1`; ranks 0..n-1 follow the order hosts first
        appear.
    :raises RError: naming the entry and the problem.
    """
    result = Rv1()
    result._nodes = config_nodes(entries, source)
    return result
