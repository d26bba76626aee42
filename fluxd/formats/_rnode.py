# -*- test-case-name: tests.unit.formats.test_rv1 -*-
"""Building blocks of RFC 20 resource sets: one execution target (a node).

:class:`Rv1 <fluxd.formats.rv1.Rv1>` keeps one :class:`Node` per broker
rank.  A node has an optional hostname, its *children* (resource type name
-> RFC 22 idset of logical ids: ``core``, ``gpu`` and whatever else an R
names) and the set of property names assigned to it.  Only non-empty child
sets are stored, so two nodes compare equal exactly when they hold the same
resources, whatever route built them.

This module also holds what the decoder, the ``[[resource.config]]`` builder
and the set algebra share: :class:`RError`, property-name checks and the
``core[0-3],gpu0`` short rendering of a node's children.
"""

from fluxd.errors import InvalidArgument
from fluxd.formats._rorder import ChildTable
from fluxd.formats.idset import IDset, IdsetError

__all__ = [
    "RError", "Node", "check_property_name", "check_property_query",
    "child_order", "children_short", "parse_ids",
]


class RError(InvalidArgument):
    """invalid resource set (R)"""


# RFC 20 reserves these characters in property names: they are the
# operators of the constraint language ("!" and "^" negate, "&" and "|"
# combine, quotes and parentheses group).  flux-core's own check omits "!",
# the RFC (our source of truth) includes it.
_BAD_PROPERTY_CHARS = "!&'\"^`|()"

# A property *query* (``flux R decode -p``) may use "^" as "not".
_BAD_QUERY_CHARS = "!&'\"`|()"


def _first_bad(text, bad):
    for char in text:
        if char in bad:
            return char
    return None


def check_property_name(name):
    """Check that ``name`` may be used as a property name (RFC 20).

    :param name: the candidate name.
    :raises RError: ``invalid character '^' in property "de^bug"``, or when
        the name is not a non-empty string.
    """
    if not isinstance(name, str):
        raise RError(f"property name {name!r} is not a string")
    if not name:
        raise RError("property name must not be empty")
    bad = _first_bad(name, _BAD_PROPERTY_CHARS)
    if bad is not None:
        raise RError(f"invalid character '{bad}' in property \"{name}\"")


def check_property_query(term):
    """Check one term of a property query such as ``^batch``.

    :raises RError: ``invalid character '|' in property "a|b"``.
    """
    bad = _first_bad(term, _BAD_QUERY_CHARS)
    if bad is not None:
        raise RError(f"invalid character '{bad}' in property \"{term}\"")


def parse_ids(text, what):
    """Decode an idset string, naming ``what`` in the error.

    :param text: RFC 22 string (or an :class:`IDset`, returned as a copy).
    :param what: e.g. ``"R_lite[0].rank"``; used as the message prefix.
    :returns: a new :class:`IDset`.
    :raises RError: ``R_lite[0].rank: invalid idset '0-': error parsing
        range '0-'``.
    """
    if isinstance(text, IDset):
        return text.copy()
    if not isinstance(text, str):
        raise RError(f"{what} must be an idset string, not {_jtype(text)}")
    try:
        return IDset.decode(text)
    except IdsetError as exc:
        raise RError(f"{what}: invalid idset '{text}': {exc}") from None


def _jtype(value):
    """The JSON type name of a decoded value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a real"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def child_order(names):
    """Order resource type names as flux prints them: ``core`` first.

    :param names: iterable of child names.
    :returns: a list, ``core`` first and the rest sorted.
    """
    names = sorted(names)
    if "core" in names:
        names.remove("core")
        names.insert(0, "core")
    return names


def children_short(children):
    """Render children as ``core[0-3],gpu0`` (``rlist_dumps`` style).

    :param children: mapping name -> :class:`IDset`; empty sets are skipped.
    :returns: the rendering, ``""`` when every set is empty.
    """
    return ",".join(f"{name}{children[name].encode(brackets=True)}"
                    for name in child_order(children) if children[name])


class Node:
    """The resources of one broker rank.

    Besides the children themselves a node remembers, in a
    :class:`~fluxd.formats._rorder.ChildTable`, the order flux-core would
    print them in (:meth:`order`): a new node has ``core`` first in its
    table, as flux-core's ``rnode_new()``, and a :meth:`copy` reorders them
    as flux-core's copies do.

    :param hostname: the node's hostname, or None when R has no nodelist.
    :param children: mapping resource type -> :class:`IDset` (copied; empty
        sets are dropped), added in the mapping's order.
    :param properties: iterable of property names.
    """

    __slots__ = ("hostname", "children", "properties", "_table")
    __hash__ = None

    def __init__(self, hostname=None, children=None, properties=()):
        self.hostname = hostname
        self.children = {}
        self._table = ChildTable()
        self._table.add("core")
        self.add(children or {})
        self.properties = set(properties)

    def copy(self):
        """A copy as flux-core's ``rnode_copy()`` makes it (the children
        re-inserted into a new table, which changes their printed order).

        :returns: an independent copy.
        """
        result = self.clone()
        result._table = self._table.dup()
        return result

    def clone(self):
        """:returns: an independent copy that prints its children in the
            same order (for a change flux-core makes in place)."""
        result = Node(self.hostname, None, self.properties)
        result.children = {name: IDset(ids)
                           for name, ids in self.children.items()}
        result._table = self._table.clone()
        return result

    def order(self):
        """:returns: the names of the non-empty children, in the order
            flux-core prints them."""
        return [name for name in self._table if name in self.children]

    def ordered_children(self):
        """:returns: the children as a dict in :meth:`order`."""
        return {name: self.children[name] for name in self.order()}

    def is_empty(self):
        """:returns: True when the node holds no resource at all."""
        return not self.children

    def count(self, name):
        """:returns: how many ids of resource type ``name`` the node has."""
        ids = self.children.get(name)
        return len(ids) if ids is not None else 0

    def overlap(self, children):
        """Find ids of ``children`` that this node already holds.

        :param children: mapping name -> :class:`IDset`.
        :returns: mapping name -> overlapping :class:`IDset` (only non-empty
            entries); empty when the two are disjoint.
        """
        result = {}
        for name, ids in children.items():
            mine = self.children.get(name)
            if mine is not None:
                common = mine & ids
                if common:
                    result[name] = common
        return result

    def add(self, children):
        """Add ids to this node (union, no overlap check).

        :param children: mapping name -> :class:`IDset`.
        """
        for name, ids in children.items():
            if not ids:
                continue
            self._table.add(name)
            mine = self.children.get(name)
            if mine is None:
                self.children[name] = IDset(ids)
            else:
                mine.update(ids)

    def subtract(self, children):
        """Remove ids from this node; types left empty disappear.

        :param children: mapping name -> :class:`IDset`.
        """
        for name, ids in children.items():
            mine = self.children.get(name)
            if mine is not None:
                mine.difference_update(ids)
                if not mine:
                    del self.children[name]
                    if name != "core":  # flux-core keeps an empty core
                        self._table.discard(name)

    def key(self):
        """A hashable summary of the children, for grouping equal nodes.

        :returns: tuple of ``(name, intervals)`` in :func:`child_order`.
        """
        return tuple((name, tuple(self.children[name].intervals()))
                     for name in child_order(self.children))

    def short(self):
        """:returns: the children as ``core[0-3],gpu0``."""
        return children_short(self.children)

    def __eq__(self, other):
        if not isinstance(other, Node):
            return NotImplemented
        return (self.hostname == other.hostname
                and self.children == other.children
                and self.properties == other.properties)

    def __repr__(self):
        props = ",".join(sorted(self.properties))
        return f"Node({self.hostname!r}, {self.short()!r}, {{{props}}})"
