# -*- test-case-name: tests.unit.sched.test_rbuild -*-
"""R (RFC 20) for allocations, and allocations back from R.

:func:`build_R` encodes the shares of an allocation exactly as flux-core's
``rlist_to_R`` does (what :meth:`fluxd.formats.rv1.Rv1.encode` produces
for the same set), but straight from the policy's bit sets: it runs once
per job, so it avoids building ``Rv1`` objects.  :func:`summary_of` is
``rlist_dumps`` (``rank0/core[0-1]``), the ``sched.resource_summary``
annotation, read from the R just built.  :func:`shares_of` reads an R
(``sched.free``, hello) into shares; :func:`policy_nodes` reads the
instance R (``resource.acquire``) into the node list a policy is built
from.
"""

import re
from functools import lru_cache

from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import RError
from fluxd.sched.policy import Share

__all__ = ["build_R", "groups_of", "jgf", "nodelist", "summary_of",
           "shares_of", "policy_nodes", "encode_mask", "ids_of", "RError"]


def encode_mask(mask, brackets=False):
    """An RFC 22 idset string of the ids set in ``mask``."""
    parts = []
    count = 0
    while mask:
        lo = (mask & -mask).bit_length() - 1
        run = mask >> lo
        length = (run ^ (run + 1)).bit_length() - 1
        hi = lo + length - 1
        parts.append(str(lo) if lo == hi else f"{lo}-{hi}")
        count += length
        mask &= ~(((1 << length) - 1) << lo)
    body = ",".join(parts)
    return f"[{body}]" if brackets and count > 1 else body


def groups_of(shares):
    """``{(cores, gpus): [rank]}``: ranks with identical children,
    ordered by first rank (give it to :func:`build_R` if made
    already)."""
    groups = {}
    for rank, _, cores, gpus, _ in shares:
        key = (cores, gpus)
        group = groups.get(key)
        if group is None:
            groups[key] = [rank]
        else:
            group.append(rank)
    return groups


def _ranks_mask(ranks):
    """The bit set of ``ranks`` (ascending, distinct; runs of consecutive
    ranks set at once)."""
    n = len(ranks)
    if n and ranks[-1] - ranks[0] == n - 1:
        return ((1 << n) - 1) << ranks[0]
    mask, i = 0, 0
    while i < n:
        j = i
        while j + 1 < n and ranks[j + 1] == ranks[j] + 1:
            j += 1
        mask |= ((1 << (j - i + 1)) - 1) << ranks[i]
        i = j + 1
    return mask


_HOST = re.compile(r"([A-Za-z0-9_.-]*[A-Za-z_.-])(0|[1-9][0-9]*)")


@lru_cache(maxsize=65536)
def _split(host):
    match = _HOST.fullmatch(host)
    return (match.group(1), int(match.group(2))) if match else None


def nodelist(hosts):
    """``Hostlist(hosts).encode()``, fast for the common names (a prefix
    and a number without leading zeros, ascending within a prefix); any
    other list goes to :class:`~fluxd.formats.hostlist.Hostlist`."""
    groups = []
    for host in hosts:
        split = _split(host)
        if split is None:
            return Hostlist(hosts).encode()
        prefix, number = split
        if groups and groups[-1][0] == prefix:
            ranges = groups[-1][1]
            if number <= ranges[-1][1]:
                return Hostlist(hosts).encode()
            if number == ranges[-1][1] + 1:
                ranges[-1][1] = number
            else:
                ranges.append([number, number])
        else:
            groups.append((prefix, [[number, number]]))
    out = []
    for prefix, ranges in groups:
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            out.append(f"{prefix}{ranges[0][0]}")
            continue
        body = ",".join(str(lo) if lo == hi else f"{lo}-{hi}"
                        for lo, hi in ranges)
        out.append(f"{prefix}[{body}]")
    return ",".join(out)


def _vertex(graph, parent, kind, ident, rank, path, exclusive):
    """Add one JGF vertex (and its containment edge) to ``graph``."""
    uniq = len(graph["nodes"])
    name = f"{kind}{ident}"
    path = f"{path}/{name}"
    graph["nodes"].append({"id": str(uniq), "metadata": {
        "type": kind, "basename": kind, "name": name, "id": ident,
        "uniq_id": uniq, "rank": rank, "exclusive": exclusive, "unit": "",
        "size": 1, "paths": {"containment": path}}})
    if parent is not None:
        graph["edges"].append({"source": str(parent), "target": str(uniq),
                               "metadata": {"name": {
                                   "containment": "contains"}}})
    return uniq, path


def jgf(shares):
    """The ``scheduling`` key of ``match-format = "rv1"``: the allocated
    resources as a JSON Graph Format containment tree (cluster, nodes,
    their cores and GPUs), as Fluxion writes it."""
    graph = {"nodes": [], "edges": []}
    root, top = _vertex(graph, None, "cluster", 0, -1, "", False)
    for share in shares:
        ident = share.rank
        if share.hostname:
            digits = share.hostname[len(share.hostname.rstrip(
                "0123456789")):]
            ident = int(digits) if digits else share.rank
        node, path = _vertex(graph, root, "node", ident, share.rank, top,
                             False)
        for kind, mask in (("core", share.cores), ("gpu", share.gpus)):
            for ident in _bits_of(mask):
                _vertex(graph, node, kind, ident, share.rank, path, True)
    return {"graph": graph}


def build_R(shares, nslots, starttime, expiration, scheduling=False,
            groups=None):
    """Encode an allocation as R version 1.

    :param shares: :class:`~fluxd.sched.policy.Share` objects, by rank.
    :param scheduling: add the ``scheduling`` key (JGF; ``rv1``).
    :param groups: :func:`groups_of` the shares, if made already.
    :returns: the R dict (``rlist_to_R``'s keys and order).
    """
    r_lite = []
    for (cores, gpus), ranks in (groups or groups_of(shares)).items():
        children = {}
        if cores:
            children["core"] = encode_mask(cores)
        if gpus:
            children["gpu"] = encode_mask(gpus)
        r_lite.append({"rank": encode_mask(_ranks_mask(ranks)),
                       "children": children})
    execution = {"R_lite": r_lite}
    if nslots:
        execution["nslots"] = nslots
    execution["starttime"] = float(starttime)
    execution["expiration"] = float(expiration)
    hosts = [s[1] for s in shares]  # hostname
    if hosts and None not in hosts:
        execution["nodelist"] = [hosts[0] if len(hosts) == 1
                                 else nodelist(hosts)]
    properties = {}
    for share in shares:
        if share[4]:  # properties
            for name in share[4]:
                properties[name] = properties.get(name, 0) | 1 << share[0]
    if properties:
        execution["properties"] = {name: encode_mask(properties[name])
                                   for name in sorted(properties)}
    R = {"version": 1, "execution": execution}
    if scheduling:
        R["scheduling"] = jgf(shares)
    return R


def _bracket(ids):
    """An idset string in brackets when it holds more than one id."""
    return f"[{ids}]" if "-" in ids or "," in ids else ids


def summary_of(R):
    """``rlist_dumps`` of an R built by :func:`build_R`:
    ``rank[0-1]/core[0-3],gpu0`` (``""`` if empty), read from its
    ``R_lite`` strings (nothing encoded again)."""
    out = []
    for entry in R["execution"]["R_lite"]:
        children = entry["children"]
        parts = []
        cores = children.get("core")
        if cores:
            parts.append("core" + _bracket(cores))
        gpus = children.get("gpu")
        if gpus:
            parts.append("gpu" + _bracket(gpus))
        out.append(f"rank{_bracket(entry['rank'])}/" + ",".join(parts))
    return " ".join(out)


@lru_cache(maxsize=4096)
def _mask_of(text):
    """The bit set of an idset string (cached: R repeats a few)."""
    mask = 0
    for lo, hi in IDset.decode(text).intervals():
        mask |= ((1 << (hi - lo + 1)) - 1) << lo
    return mask


def _entries(R):
    """``(rank, cores, gpus)`` per rank of an R's ``R_lite``."""
    try:
        r_lite = R["execution"]["R_lite"]
        for entry in r_lite:
            children = entry.get("children") or {}
            cores = _mask_of(children.get("core", ""))
            gpus = _mask_of(children.get("gpu", ""))
            for rank in _bits_of(_mask_of(entry["rank"])):
                yield rank, cores, gpus
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise RError(f"malformed R: {exc}") from None


def _bits_of(mask):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def ids_of(text):
    """The ids of an RFC 22 idset string, ascending (a list).

    :raises RError: when it does not decode.
    """
    try:
        return list(_bits_of(_mask_of(text)))
    except (ValueError, TypeError) as exc:
        raise RError(f"invalid idset {text!r}: {exc}") from None


def shares_of(R, skip_ranks=()):
    """The shares an R describes (hostnames and properties are not
    needed to give resources back, so they are left out).

    :param skip_ranks: ranks to leave out (already released).
    :raises RError: for an R without a readable ``R_lite``.
    """
    return [Share(rank, None, cores, gpus)
            for rank, cores, gpus in _entries(R) if rank not in skip_ranks]


def policy_nodes(R):
    """``(rank, hostname, properties, cores, gpus)`` per rank of the
    instance R, the input of a policy (read straight from ``R_lite``,
    ``nodelist`` and ``properties``: the instance R may name 10,000
    ranks).

    :raises RError: for an R that does not decode.
    """
    try:
        execution = R["execution"]
        ranks = {}
        for rank, cores, gpus in _entries(R):
            if rank in ranks:
                raise RError(f"rank {rank} appears twice in R_lite")
            ranks[rank] = (cores, gpus)
        order = sorted(ranks)
        names = []
        for text in execution.get("nodelist") or ():
            names.extend(Hostlist(text))
        if names and len(names) != len(order):
            raise RError(f"nodelist has {len(names)} hosts for"
                         f" {len(order)} ranks")
        props = {rank: [] for rank in order}
        for name, text in (execution.get("properties") or {}).items():
            for rank in _bits_of(_mask_of(text)):
                if rank in props:
                    props[rank].append(name)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise RError(f"malformed R: {exc}") from None
    return [(rank, names[i] if names else None, props[rank], *ranks[rank])
            for i, rank in enumerate(order)]
