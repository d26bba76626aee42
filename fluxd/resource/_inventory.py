# -*- test-case-name: tests.unit.resource.test_inventory -*-
"""Where an instance's resource set (RFC 20 R) comes from, and the checks
made against it (flux-core ``inventory.c``, ``topo.c``, ``exclude.c``).

* :func:`configured_R`: ``[[resource.config]]`` or ``resource.path``,
  renumbered by the broker ``hostlist`` when ranks come from
  ``[bootstrap]`` (so administrators need not rewrite R when they reorder
  hosts), plus the optional ``resource.scheduling`` key;
* :func:`discover_local`: this broker's node (cores, GPUs) when nothing
  is configured; rank 0 assembles the instance R from every rank's
  discovery;
* :func:`verify_modes` / :func:`verify_share`: each broker compares its
  share of a configured R with its node and reports what is missing (the
  broker then drains itself with that reason);
* :func:`targets_to_ranks` / :func:`exclude_ranks`: drain targets and
  ``resource.exclude`` given as an idset or an RFC 29 hostlist.

Errors are :class:`~fluxd.errors.InvalidArgument` with flux-core's
wording, e.g. ``error parsing [resource.config] array: config[1]: core 0
of host test2 is already configured`` or ``invalid targets: invalid
hosts: test99``.
"""

import json
import os

from fluxd.errors import InvalidArgument
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import RError, Rv1, from_config

__all__ = ["configured_R", "discover_local", "verify_modes", "verify_share",
           "targets_to_ranks", "exclude_ranks", "hostnames_of",
           "NVIDIA_GPUS"]

#: the directory the NVIDIA driver lists its GPUs in
NVIDIA_GPUS = "/proc/driver/nvidia/gpus"


def _read_R(path):
    try:
        with open(path, "rb") as fp:
            data = fp.read()
    except OSError as exc:
        raise InvalidArgument(f"{path}: {exc.strerror}") from None
    try:
        return Rv1.decode(data)
    except RError as exc:
        raise InvalidArgument(f"{path}: {exc}") from None


def _load_scheduling(path):
    try:
        with open(path, "rb") as fp:
            return json.loads(fp.read())
    except OSError as exc:
        raise InvalidArgument("error loading resource.scheduling:"
                              f" {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidArgument("error loading resource.scheduling:"
                              f" {exc}") from None


def configured_R(config, hostlist=None, rank=0):
    """The configured resource set, or None when none is configured.

    :param config: the broker :class:`fluxd.config.Config`.
    :param hostlist: the broker ``hostlist`` attribute (rank -> host); R
        is renumbered to it when the config has a ``[bootstrap]`` table.
    :param rank: this broker's rank (``resource.scheduling`` is read on
        rank 0 only, the scheduler's rank).
    :returns: an :class:`~fluxd.formats.rv1.Rv1` or None.
    :raises InvalidArgument: for a bad ``[[resource.config]]`` entry, an
        unreadable or invalid ``resource.path``, a host set that does not
        match the instance, or an unusable ``resource.scheduling``.
    """
    entries = config.get("resource.config", None)
    path = config.get("resource.path", None)
    if entries is not None:
        try:
            rset = from_config(entries)
        except RError as exc:
            raise InvalidArgument("error parsing [resource.config] array:"
                                  f" {exc}") from None
    elif path:
        rset = _read_R(path)
    else:
        rset = None
    scheduling = config.get("resource.scheduling", None)
    if scheduling and rank == 0:
        if rset is None:
            raise InvalidArgument("resource.scheduling requires"
                                  " resource.path or [resource.config]")
        rset.scheduling = _load_scheduling(scheduling)
    if rset is not None and hostlist and config.is_set("bootstrap"):
        try:
            rset = rset.rerank(hostlist)
        except RError as exc:
            raise InvalidArgument(f"error reranking R: {exc}") from None
    return rset


def _ids(count):
    if count <= 0:
        return ""
    return "0" if count == 1 else f"0-{count - 1}"


def discover_local(rank, hostname, norestrict=False, affinity=None,
                   cpu_count=None, gpu_dir=NVIDIA_GPUS):
    """Describe this broker's node as a one-rank R.

    :param rank: this broker's rank.
    :param hostname: its host name (the ``hostname`` attribute).
    :param norestrict: count every CPU of the machine
        (``resource.norestrict``) instead of those this process may run on.
    :param affinity: ``affinity()`` -> the usable CPUs (default
        ``os.sched_getaffinity(0)``).
    :param cpu_count: ``cpu_count()`` (default :func:`os.cpu_count`).
    :param gpu_dir: where the NVIDIA driver lists GPUs (missing: none).
    :returns: an :class:`~fluxd.formats.rv1.Rv1` with one rank.
    """
    if norestrict:
        ncores = (cpu_count or os.cpu_count)() or 1
    else:
        ncores = len((affinity or (lambda: os.sched_getaffinity(0)))())
    try:
        ngpus = len(os.listdir(gpu_dir))
    except OSError:
        ngpus = 0
    return Rv1().add_rank(rank, hostname, cores=_ids(ncores),
                          gpus=_ids(ngpus))


def verify_modes(config):
    """How to verify this node against a configured R.

    :returns: None when verification is off (``resource.noverify``, or
        ``resource.verify = false``), else the ``[resource.verify]`` mode
        table (``true`` means strict for everything).
    """
    if config.get("resource.noverify", False):
        return None
    modes = config.get("resource.verify", None)
    if modes is None or modes is True:
        return {} if modes is True else {
            "default": "allow-extra", "gpu": "ignore", "hostname": "strict"}
    if modes is False:
        return None
    return dict(modes)


def verify_share(rset, local, modes):
    """Compare this broker's share of ``rset`` with its node.

    :param rset: the configured instance R.
    :param local: :func:`discover_local` of this broker.
    :param modes: :func:`verify_modes` (not None).
    :returns: ``(reason, note)``: ``reason`` is the drain reason when the
        node falls short (``rank 1 (test2) missing resources: core[2-7]``),
        else None; ``note`` reports extra resources, or None.
    """
    try:
        return None, rset.verify(local, modes)
    except RError as exc:
        return str(exc), None


def hostnames_of(rset):
    """:returns: rank -> hostname for the ranks of ``rset`` with one."""
    names = {}
    for rank in rset.ranks():
        host = rset.hostname(rank)
        if host is not None:
            names[rank] = host
    return names


def targets_to_ranks(targets, hostnames):
    """Resolve drain targets: an idset, else a hostlist.

    :param targets: e.g. ``"1-2"`` or ``"test[2-3]"``.
    :param hostnames: rank -> hostname of the instance, or None while the
        instance R is unknown.
    :returns: an :class:`IDset` (possibly empty, e.g. for ``""``).
    :raises InvalidArgument: ``R is unavailable for mapping hostnames to
        ranks``, ``invalid targets: Hostlist cannot be decoded``,
        ``invalid targets: invalid hosts: test99``.
    """
    if not isinstance(targets, str):
        raise InvalidArgument("targets must be a string")
    try:
        return IDset(targets)
    except InvalidArgument:
        pass
    if hostnames is None:
        raise InvalidArgument("R is unavailable for mapping hostnames to"
                              " ranks")
    try:
        hosts = Hostlist(targets)
    except InvalidArgument:
        raise InvalidArgument("invalid targets: Hostlist cannot be decoded") \
            from None
    known = set(hostnames.values())
    missing = [host for host in hosts if host not in known]
    if missing:
        raise InvalidArgument("invalid targets: invalid hosts:"
                              f" {Hostlist(missing).encode()}")
    wanted = set(hosts)
    return IDset(rank for rank, host in hostnames.items() if host in wanted)


def exclude_ranks(text, hostnames, size):
    """Resolve ``resource.exclude``.

    :param text: the configured idset or hostlist (None: nothing).
    :param hostnames: rank -> hostname used for a hostlist.
    :param size: the instance size.
    :returns: an :class:`IDset`.
    :raises InvalidArgument: ``error decoding exclude set X: ...`` or
        ``exclude set X is out of range``.
    """
    if not text:
        return IDset()
    try:
        ids = targets_to_ranks(text, hostnames)
    except InvalidArgument as exc:
        raise InvalidArgument(f"error decoding exclude set {text}:"
                              f" {exc}") from None
    if ids and ids.last() >= size:
        raise InvalidArgument(f"exclude set {text} is out of range")
    return ids
