# -*- test-case-name: tests.unit.formats.test_rconfig -*-
"""Build an RFC 20 resource set from ``[[resource.config]]`` (TOML).

A system instance describes its nodes in its broker configuration::

    [[resource.config]]
    hosts = "test[1-15]"
    cores = "0-7"
    gpus = "0"

    [[resource.config]]
    hosts = "test16"
    cores = "0-63"
    gpus = "0-1"
    properties = ["fatnode"]

Each entry has ``hosts`` (RFC 29 hostlist, required) and optionally
``cores`` and ``gpus`` (RFC 22 idsets) and ``properties`` (array of names).
Entries accumulate: a host may appear in several entries, each adding
resources or properties, but no resource may be configured twice.  Ranks
are assigned as flux-core's ``rlist_from_config()`` assigns them: in the
order hosts first appear, entry by entry, host by host within an entry's
hostlist.  Every host must end up with at least one resource.

This module works on the table alone: reading configuration files (and
an R file named by ``resource.path``) is the caller's business, e.g.
``flux R parse-config`` or the broker's resource service.
:func:`fluxd.formats.rv1.from_config` wraps the nodes built here.
"""

import json

from fluxd.formats._rnode import Node, RError, _jtype, check_property_name
from fluxd.formats.hostlist import Hostlist, HostlistError
from fluxd.formats.idset import IDset

__all__ = ["config_nodes"]

_ENTRY_KEYS = ("hosts", "cores", "gpus", "properties")


def _entry_ids(entry, key, label):
    text = entry.get(key)
    if text is None:
        return None
    if not isinstance(text, str):
        raise RError(f"{label}: {key} must be a string, not {_jtype(text)}")
    try:
        return IDset.decode(text)
    except ValueError:
        raise RError(f"{label}: invalid idset {key}='{text}'") from None


def _entry_properties(entry, label):
    properties = entry.get("properties")
    if properties is None:
        return ()
    if not isinstance(properties, list):
        raise RError(f"{label}: properties must be an array")
    for prop in properties:
        if not isinstance(prop, str):
            raise RError(f"{label}: invalid property"
                         f" {json.dumps(prop, ensure_ascii=False)}")
        try:
            check_property_name(prop)
        except RError as exc:
            raise RError(f"{label}: {exc}") from None
    return properties


def _check_entry(entry, label):
    if not isinstance(entry, dict):
        raise RError(f"{label}: entry must be a table, not {_jtype(entry)}")
    unknown = [key for key in entry if key not in _ENTRY_KEYS]
    if unknown:
        raise RError(f"{label}: unknown key '{unknown[0]}'")
    if "hosts" not in entry:
        raise RError(f"{label}: missing required key 'hosts'")
    hosts = entry["hosts"]
    if not isinstance(hosts, str):
        raise RError(f"{label}: hosts must be a string, not {_jtype(hosts)}")
    try:
        hostlist = Hostlist(hosts)
    except HostlistError:
        raise RError(f"{label}: invalid hostlist '{hosts}'") from None
    if len(hostlist) == 0:
        raise RError(f"{label}: empty hostlist specified")
    children = {}
    for key, name in (("cores", "core"), ("gpus", "gpu")):
        ids = _entry_ids(entry, key, label)
        if ids is not None:
            children[name] = ids
    return hostlist, children, _entry_properties(entry, label)


def config_nodes(entries, source=""):
    """Build the nodes of a resource set from ``resource.config`` entries.

    :param entries: the ``resource.config`` array: a list of dicts with keys
        ``hosts``, ``cores``, ``gpus``, ``properties``.
    :param source: where the entries came from (a file name); when given,
        errors start with ``SOURCE: resource.config[N]:`` instead of
        flux-core's ``config[N]:``.
    :returns: a dict rank -> :class:`~fluxd.formats._rnode.Node` with
        hostnames and properties; ranks 0..n-1 follow the order hosts first
        appear.
    :raises RError: naming the entry and the problem, e.g.
        ``config[1]: invalid hostlist 'foo[p]'``, ``config[0]: invalid idset
        cores='0-'``, ``config[1]: core 1 of host foo2 is already
        configured``, ``resource.config: foo11 assigned no resources``,
        ``no hosts configured``.
    """
    prefix = f"{source}: " if source else ""
    array = "resource.config" if source else "config"
    if not isinstance(entries, list):
        raise RError(f"{prefix}resource config must be an array")
    nodes = {}     # rank -> Node
    ranks = {}     # hostname -> rank, in order of first appearance
    for index, entry in enumerate(entries):
        label = f"{prefix}{array}[{index}]"
        hostlist, children, properties = _check_entry(entry, label)
        for host in hostlist:
            rank = ranks.setdefault(host, len(ranks))
            node = nodes.get(rank)
            if node is None:
                node = nodes[rank] = Node(host)
            overlap = node.overlap(children)
            if overlap:
                what = " ".join(f"{name} {ids}"
                                for name, ids in overlap.items())
                raise RError(f"{label}: {what} of host {host} is already"
                             " configured")
            node.add(children)
            node.properties.update(properties)
    if not nodes:
        raise RError(f"{prefix}no hosts configured")
    empty = [nodes[rank].hostname for rank in sorted(nodes)
             if nodes[rank].is_empty()]
    if empty:
        raise RError(f"{prefix}resource.config: {Hostlist(empty).encode()}"
                     " assigned no resources")
    return nodes
