# -*- test-case-name: tests.unit.formats.test_rv1 -*-
"""RFC 20 R version 1: the JSON side (validate and decode, encode, dump).

:func:`decode_r` checks a JSON R object against RFC 20 (as flux-core's
``rlist_from_json()`` reads it) and returns its per-rank model;
:func:`encode_r` writes the model back the way flux-core's
``rlist_to_R()`` does; :func:`dumps_short` is ``rlist_dumps()``, the
``rank[0-3]/core[0-1],gpu0`` text of ``flux R decode --short``.

Decoding follows flux-core where the RFC is silent:

- ``nodelist`` is optional; when present it must name exactly one host per
  rank, assigned in ascending rank order;
- ranks may appear in several ``R_lite`` entries as long as their children
  do not overlap (the entries are merged);
- ``R_lite`` may be an empty object (``{}``) as well as an array;
- ranks left with no resource at all are dropped after the nodelist and
  properties have been checked against them (flux-core's encoder leaves
  them out of ``R_lite`` too, so keeping them would only produce an R whose
  nodelist no longer matches);
- unknown keys (``attributes``, ``slots``, an entry's ``node``) are ignored;
- at most :data:`MAX_RANKS` ranks are accepted.
"""

import json

from fluxd.formats._rnode import (
    Node, RError, _jtype, check_property_name, parse_ids,
)
from fluxd.formats.hostlist import Hostlist, HostlistError
from fluxd.formats.idset import IDset

__all__ = ["decode_r", "encode_r", "dumps_short", "group_nodes",
           "properties_of", "unknown_ranks_error", "MAX_RANKS"]

#: Most ranks an R may describe.  The model keeps one object per rank, so a
#: hostile ``"rank": "0-2147483646"`` must be refused rather than expanded;
#: 2**20 is far beyond any real instance (and is libhostlist's own limit on
#: the hosts one bracket range may expand to).
MAX_RANKS = 2**20


def _require(table, key, where):
    if key not in table:
        raise RError(f"{where} is missing required key '{key}'")
    return table[key]


def _number(execution, key):
    value = execution.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RError(f"{key} must be a number, not {_jtype(value)}")
    if value < 0:
        raise RError(f"{key} must not be negative ({value})")
    return float(value)


def unknown_ranks_error(unknown):
    """Build flux-core's error for properties naming absent ranks.

    :param unknown: non-empty :class:`IDset` of ranks not in the set.
    :returns: an :class:`RError` (``ranks 4-5 not found in target resource
        list``).
    """
    noun = "rank" if len(unknown) == 1 else "ranks"
    return RError(f"{noun} {unknown} not found in target resource list")


def _decode_properties(properties, nodes):
    if not isinstance(properties, dict):
        raise RError("properties must be an object")
    parsed = []
    # Check every entry before applying any, as flux-core does.
    for name, value in properties.items():
        if not isinstance(value, str):
            shown = json.dumps(value, separators=(",", ":"))
            raise RError(f"properties value '{shown}' not a string")
        check_property_name(name)
        try:
            ranks = IDset.decode(value)
        except ValueError:
            raise RError(f"invalid idset '{value}' specified for property"
                         f" \"{name}\"") from None
        unknown = ranks - IDset(sorted(nodes))
        if unknown:
            raise unknown_ranks_error(unknown)
        parsed.append((name, ranks))
    for name, ranks in parsed:
        for rank in ranks:
            nodes[rank].properties.add(name)


def _decode_nodelist(nodelist, nodes):
    if not isinstance(nodelist, list) or not all(
            isinstance(item, str) for item in nodelist):
        raise RError("nodelist must be an array of strings")
    hosts = Hostlist()
    for item in nodelist:
        try:
            hosts.append(item)
        except HostlistError as exc:
            raise RError(f"nodelist: invalid hostlist '{item}': {exc}") \
                from None
    if len(hosts) != len(nodes):
        raise RError(f"nodelist has {len(hosts)} hosts but R_lite has"
                     f" {len(nodes)} ranks")
    for rank, host in zip(sorted(nodes), hosts):
        nodes[rank].hostname = host


def _decode_r_lite(r_lite):
    if isinstance(r_lite, dict) and not r_lite:
        r_lite = []  # flux-core iterates nothing and accepts it (t0026)
    if not isinstance(r_lite, list):
        raise RError(f"R_lite must be an array, not {_jtype(r_lite)}")
    nodes = {}
    for index, entry in enumerate(r_lite):
        where = f"R_lite[{index}]"
        if not isinstance(entry, dict):
            raise RError(f"{where} must be an object, not {_jtype(entry)}")
        ranks = parse_ids(_require(entry, "rank", where), f"{where}.rank")
        if len(ranks) > MAX_RANKS:
            raise RError(f"{where}.rank: {len(ranks)} ranks is more than"
                         f" the supported {MAX_RANKS}")
        children = _require(entry, "children", where)
        if not isinstance(children, dict):
            raise RError(f"{where}.children must be an object,"
                         f" not {_jtype(children)}")
        parsed = {name: parse_ids(ids, f"{where}.children.{name}")
                  for name, ids in children.items()}
        for rank in ranks:
            node = nodes.get(rank)
            if node is None:
                nodes[rank] = Node(None, parsed)
                continue
            overlap = node.overlap(parsed)
            if overlap:
                raise RError(f"{where}: rank {rank} resources"
                             f" {Node(None, overlap).short()} appear twice")
            # flux-core builds the entry's node, then adds it in its order
            node.add(Node(None, parsed).ordered_children())
        if len(nodes) > MAX_RANKS:
            raise RError(f"R_lite holds more than the supported {MAX_RANKS}"
                         " ranks")
    return nodes


def decode_r(obj):
    """Validate and decode an R object.

    :param obj: the decoded JSON (a dict), or JSON text (str or bytes).
    :returns: ``(nodes, starttime, expiration, nslots, scheduling)`` where
        ``nodes`` maps rank -> :class:`Node` and ``nslots`` is None when
        unset.  ``scheduling`` is the caller's object, not a copy.
    :raises RError: one line naming the offending key.
    """
    if isinstance(obj, (str, bytes, bytearray)):
        try:
            obj = json.loads(obj)
        except ValueError as exc:
            raise RError(f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RError(f"R must be a JSON object, not {_jtype(obj)}")
    version = _require(obj, "version", "R")
    if isinstance(version, bool) or not isinstance(version, int):
        raise RError(f"version must be an integer, not {_jtype(version)}")
    if version != 1:
        raise RError(f"invalid version={version}")
    execution = _require(obj, "execution", "R")
    if not isinstance(execution, dict):
        raise RError(f"execution must be an object, not {_jtype(execution)}")
    nodes = _decode_r_lite(_require(execution, "R_lite", "execution"))

    nslots = execution.get("nslots")
    if nslots is not None and (isinstance(nslots, bool)
                               or not isinstance(nslots, int)):
        raise RError(f"nslots must be an integer, not {_jtype(nslots)}")
    if nslots is not None and nslots <= 0:
        nslots = None  # flux-core treats nslots <= 0 as unset
    starttime = _number(execution, "starttime")
    expiration = _number(execution, "expiration")
    if starttime > 0 and expiration > 0 and expiration <= starttime:
        raise RError(f"expiration ({expiration}) must be greater than"
                     f" starttime ({starttime})")

    if "nodelist" in execution:
        _decode_nodelist(execution["nodelist"], nodes)
    if "properties" in execution:
        _decode_properties(execution["properties"], nodes)
    nodes = {rank: node for rank, node in nodes.items()
             if not node.is_empty()}
    return nodes, starttime, expiration, nslots, obj.get("scheduling")


def group_nodes(nodes):
    """Group ranks whose children are identical, ordered by first rank.

    :param nodes: mapping rank -> :class:`Node`.
    :returns: list of ``(IDset of ranks, representative Node)``.
    """
    groups = {}
    for rank in sorted(nodes):
        node = nodes[rank]
        key = node.key()
        group = groups.get(key)
        if group is None:
            groups[key] = (IDset([rank]), node)
        else:
            group[0].add(rank)
    # dicts keep insertion order, and ranks were visited in ascending
    # order, so groups are already ordered by their first rank.
    return list(groups.values())


def properties_of(nodes):
    """Collect properties as name -> :class:`IDset` of ranks.

    :param nodes: mapping rank -> :class:`Node`.
    :returns: a dict sorted by property name.
    """
    result = {}
    for rank in sorted(nodes):
        for name in nodes[rank].properties:
            result.setdefault(name, IDset()).add(rank)
    return dict(sorted(result.items()))


def encode_r(nodes, starttime, expiration, nslots, scheduling):
    """Encode the model as flux-core's ``rlist_to_R()`` does.

    ``R_lite`` groups ranks with identical children, ordered by first rank;
    ``nodelist`` (present only when every rank has a hostname) is one
    compressed hostlist; ``starttime``/``expiration`` are always written,
    as reals.

    :returns: a dict ready for :func:`json.dumps`.
    """
    r_lite = []
    for ranks, node in group_nodes(nodes):
        r_lite.append({
            "rank": ranks.encode(),
            "children": {name: node.children[name].encode()
                         for name in node.order()},
        })
    execution = {"R_lite": r_lite}
    if nslots:
        execution["nslots"] = nslots
    execution["starttime"] = float(starttime)
    execution["expiration"] = float(expiration)
    ranks = sorted(nodes)
    if all(nodes[rank].hostname is not None for rank in ranks):
        hosts = Hostlist([nodes[rank].hostname for rank in ranks])
        execution["nodelist"] = [hosts.encode()]
    properties = properties_of(nodes)
    if properties:
        execution["properties"] = {name: ids.encode()
                                   for name, ids in properties.items()}
    result = {"version": 1, "execution": execution}
    if scheduling is not None:
        result["scheduling"] = scheduling
    return result


def dumps_short(nodes):
    """Render ``rank[0-1]/core[0-3] rank2/core0,gpu0`` (``rlist_dumps``).

    :param nodes: mapping rank -> :class:`Node`.
    :returns: the text, ``""`` for an empty set.
    """
    return " ".join(f"rank{ranks.encode(brackets=True)}/{node.short()}"
                    for ranks, node in group_nodes(nodes))
