# -*- test-case-name: tests.unit.formats.test_rv1 -*-
"""Check a broker's discovered resources against the configured R.

When a broker starts in a system instance, the resource module compares
what the node really has (one rank of R, from hwloc) with what the
configuration says it should have, as flux-core's ``rlist_verify_ex()``
does.  Missing resources are an error (the node is drained); extra ones are
only reported.  ``[resource.verify]`` may relax the check per resource type
(RFC 20 R version 1, flux-config-resource(5)).
"""

from fluxd.formats._rnode import RError

__all__ = ["VERIFY_MODES", "verify_node"]

#: Modes of ``[resource.verify]``: ``strict`` reports both missing and extra
#: resources, ``allow-extra`` and ``allow-missing`` tolerate one side,
#: ``ignore`` skips the type (or, for ``hostname``, the name comparison).
VERIFY_MODES = ("strict", "allow-extra", "allow-missing", "ignore")


def _mode_lookup(modes):
    """Return a function giving the mode of a resource type."""
    modes = dict(modes or {})
    for key, value in modes.items():
        if value not in VERIFY_MODES:
            raise RError(f"invalid verify mode '{value}' for {key}")
    default = modes.get("default", "strict")
    return lambda name: modes.get(name, default)


def _beyond(a, b, mode, skip):
    """Short rendering of what node ``a`` has beyond node ``b``, leaving
    out the core and gpu types whose mode is in ``skip``."""
    rest = a.copy()
    rest.subtract(b.children)
    for name in ("core", "gpu"):
        if mode(name) in skip:
            rest.children.pop(name, None)
    return rest.short()


def verify_node(expected, actual, modes=None):
    """Compare the one rank of ``actual`` with the same rank of ``expected``.

    :param expected: mapping rank -> Node (the configured set).
    :param actual: mapping rank -> Node holding exactly one rank.
    :param modes: optional mapping ``default``/``hostname``/``core``/``gpu``
        -> a mode of :data:`VERIFY_MODES`; ``strict`` when absent.
    :returns: None on an exact match, or the ``rank N (host) has extra
        resources: ...`` message.
    :raises RError: for missing resources, a different hostname (both
        known), a rank absent from ``expected``, more than one rank in
        ``actual`` or an unknown mode.
    """
    mode = _mode_lookup(modes)
    if len(actual) != 1:
        raise RError("Verification supported on single rank only")
    (rank, got), = actual.items()
    exp = expected.get(rank)
    if exp is None:
        raise RError(f"rank {rank} not found in expected ranks")
    # A missing hostname on either side is not compared: flux-core keeps
    # that leniency for R written before nodelists existed.
    if (mode("hostname") == "strict" and got.hostname is not None
            and exp.hostname is not None and got.hostname != exp.hostname):
        raise RError(f"rank {rank} got hostname '{got.hostname}',"
                     f" expected '{exp.hostname}'")
    host = got.hostname or "unknown"
    missing = _beyond(exp, got, mode, ("ignore", "allow-missing"))
    if missing:
        raise RError(f"rank {rank} ({host}) missing resources: {missing}")
    extra = _beyond(got, exp, mode, ("ignore", "allow-extra"))
    if extra:
        return f"rank {rank} ({host}) has extra resources: {extra}"
    return None
