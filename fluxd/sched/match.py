# -*- test-case-name: tests.unit.sched.test_match -*-
"""Match policies (``[sched-fluxion-resource] match-policy``), pure.

A :class:`MatchPolicy` says in which order ranks (and ids within a rank)
are chosen among those that fit, and whether every allocation takes
whole ranks:

- ``first``: Fluxion's ``policy=high node_centric=true
  stop_on_1_matches=true``: highest rank first, ids in a rank highest
  first, the first match taken (the default); ``firstnodex``: the same,
  ranks taken whole;
- ``low`` / ``high``: lowest / highest ids first (ranks and ids within);
- ``lonode`` / ``hinode``: lowest / highest rank first, ids in a rank
  the same way; ``lonodex`` / ``hinodex``: the same, ranks taken whole;
- ``locality``: best fit, the ranks with the fewest free cores that fit
  first (packing partly used ranks before opening idle ones);
- ``variation``: ranks of one class (same properties) when one class can
  hold the request, so a job does not straddle node types;
- a custom string ``policy=low|high node_centric=true|false
  node_exclusive=true|false stop_on_1_matches=true|false``.

:func:`select` picks the ranks of one allocation from ranks given as a
mask (free counts in the pool) and ranks given with counts of their own
(``touched``: counts that differ from the pool's, at a future time or
after reservations).

Ids within a rank follow the policy's direction, whatever
``node_centric`` says.  In flux-sched, every ``policy=high`` string
builds the same matcher (``resource/policies/dfu_match_policy_factory.cpp``:
``high_first_t``, the multilevel id policy of
``dfu_match_multilevel_id_impl.hpp`` ordered by greater score), which
scores each vertex, cores and GPUs included, by its id, and
``node_centric`` only adds a per-node term shared by every vertex below
a node: it orders the nodes, not the ids inside one.  Fluxion's expected
outputs agree: t3001 with ``-P high``, ``-P first`` and ``-P hinode``
(``t/data/resource/expected/basics/001.R.out``, ``041.R.out`` and
``057.R.out``: core35 before core17, socket1's cores 18-35 before
socket0's, cores 28-35 then 20-27 on node1) and the node-locality
test's ``hinode`` case
(``expected/node_locality/002.R.out``: 37 one-core slots take node7
whole, then node6's core35); ``lonode`` takes core0 there
(``012.R.out``).
"""

from fluxd.sched.pool import first_bits

__all__ = ["MatchPolicy", "MatchError", "select"]


class MatchError(ValueError):
    """An unknown match policy."""


_BUILTIN = {
    "first": ("high", False, "order"),
    "firstnodex": ("high", True, "order"),
    "low": ("low", False, "order"),
    "high": ("high", False, "order"),
    "lonode": ("low", False, "order"),
    "hinode": ("high", False, "order"),
    "lonodex": ("low", True, "order"),
    "hinodex": ("high", True, "order"),
    "locality": ("low", False, "locality"),
    "variation": ("low", False, "variation"),
}


class MatchPolicy:
    """How ranks are chosen.

    :ivar name: as configured.
    :ivar high: highest rank first.
    :ivar ids_high: highest ids first within a rank.
    :ivar node_exclusive: every allocation takes whole ranks.
    :ivar mode: ``order``, ``locality`` or ``variation``.
    """

    def __init__(self, name="first"):
        self.name = name
        if name in _BUILTIN:
            order, self.node_exclusive, self.mode = _BUILTIN[name]
            self.high = self.ids_high = order == "high"
            return
        attrs = {}
        for token in name.split():
            key, sep, value = token.partition("=")
            key = "stop_on_1_matches" if key == "set_stop_on_1_matches" \
                else key
            if not sep or key not in ("policy", "node_centric",
                                      "node_exclusive", "stop_on_1_matches") \
                    or value not in (("low", "high") if key == "policy"
                                     else ("true", "false")):
                raise MatchError(f"unknown match policy '{name}'")
            attrs[key] = value
        if not attrs:
            raise MatchError(f"unknown match policy '{name}'")
        # ids in a rank follow the rank order, node-centric or not
        self.high = self.ids_high = attrs.get("policy", "high") == "high"
        self.node_exclusive = attrs.get("node_exclusive") == "true"
        self.mode = "order"

    def __repr__(self):
        return f"MatchPolicy({self.name!r})"


def _first(pool, policy, shape, mask, count):
    """The positions of the first ``count`` ranks of ``mask`` in the
    policy's order (every candidate holds a unit at least: ``count``
    of them are enough), read from the masks a byte at a time."""
    if policy.mode == "locality" and shape.kind in ("slots", "nodes"):
        return _by_free(pool, mask, count)
    if policy.mode == "variation":
        return _by_class(pool, shape, mask, count)
    return first_bits(mask, count, policy.high)


def _by_free(pool, mask, count):
    """Best fit: the ranks with the fewest free cores first, by rank
    within a count."""
    out = []
    for bucket in pool.core_eq:
        part = mask & bucket
        if part:
            out.extend(first_bits(part, count - len(out)))
            if len(out) >= count:
                break
    return out


def _by_class(pool, shape, mask, count):
    """The ranks of the smallest class (same properties) that alone
    holds the request first, then the others, by rank (classes and
    capacities from the pool's indexes: no rank is visited)."""
    best = None
    for cmask in pool.classes.values():
        part = mask & cmask
        if not part:
            continue
        size = part.bit_count()
        if (best is None or size < best[0]) \
                and pool.capacity(shape, part) >= shape.need:
            best = (size, part)
    if best is None:
        return first_bits(mask, count)
    out = first_bits(best[1], count)
    if len(out) < count:
        out.extend(first_bits(mask & ~best[1], count - len(out)))
    return out


def select(pool, policy, shape, mask, touched=()):
    """Choose the ranks of one allocation.

    :param mask: ranks to take with the pool's free counts, each of
        which holds one unit at least (:meth:`Pool.candidates`).
    :param touched: ``(node, cores, gpus)`` of ranks with counts of
        their own (not in ``mask``), taken first.
    :returns: ``[(node, ncores, ngpus)]``, or None when they do not hold
        ``shape.need`` units.
    """
    need, kind = shape.need, shape.kind
    # one unit a rank: the ranks alone are chosen
    single = kind == "nodes" or kind == "whole"
    cap = shape.cap
    chosen, units = [], 0
    done = False
    if touched:
        for node, c, g in sorted(touched, key=lambda t: t[0].pos,
                                 reverse=policy.high):
            fit = cap(c, g, node)
            if fit <= 0:
                continue
            take = min(fit, need - units)
            chosen.append(node if single else (node, take))
            units += take
            if units >= need:
                done = True
                break
    if not done and mask and single:
        # every candidate holds exactly one unit: take the first ones
        nodes = pool.nodes
        positions = _first(pool, policy, shape, mask, need - units)
        chosen.extend([nodes[pos] for pos in positions])
        units += len(positions)
        done = units >= need
    elif not done and mask:
        nodes = pool.nodes
        for pos in _first(pool, policy, shape, mask, need - units):
            node = nodes[pos]
            fit = cap(node.nfree_c, node.nfree_g, node)
            if fit <= 0:
                continue
            take = min(fit, need - units)
            chosen.append(node if single else (node, take))
            units += take
            if units >= need:
                done = True
                break
    if not done:
        return None
    return _counts(shape, chosen)


def _counts(shape, chosen):
    """``[(node, ncores, ngpus)]`` of the chosen ranks (``(node, slots)``
    pairs, or nodes alone for one unit a rank)."""
    kind = shape.kind
    if kind == "slots":
        size, gsize = shape.size, shape.gsize
        return [(n, k * size, k * gsize) for n, k in chosen]
    if kind == "nodes":
        # deal the slots as evenly as possible, the first ranks one more
        base, extra = divmod(shape.nslots, len(chosen))
        if not extra:
            c, g = base * shape.size, base * shape.gsize
            return [(n, c, g) for n in chosen]
        return [(n, (base + (i < extra)) * shape.size,
                 (base + (i < extra)) * shape.gsize)
                for i, n in enumerate(chosen)]
    if kind == "whole":
        return [(n, n.ncores, n.ngpus) for n in chosen]
    return [(n, n.ncores, n.ngpus) for n, _ in chosen]
