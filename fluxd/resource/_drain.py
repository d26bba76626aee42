# -*- test-case-name: tests.unit.resource.test_drain -*-
"""Which nodes are drained, since when and why (flux-core ``drain.c``).

:class:`DrainState` is the rank 0 resource service's drain table, pure
Python: one entry per broker rank of the instance holding whether it is
drained, the drain timestamp and the reason (or None).  It checks and
applies ``resource.drain`` / ``resource.undrain`` requests, replays the
``drain`` and ``undrain`` events of ``resource.eventlog`` (RFC 44 context:
``{idset, nodelist, reason?, overwrite?}``) so drains survive a restart,
and renders the ``drain`` object of a ``resource.status`` response.

The rules are flux-core's:

* a drain request without ``mode`` fails when a target is excluded or is
  already drained with a reason (``rank 1 already drained``, ``ranks 1-2
  already drained or excluded``; EEXIST when any was drained, else EINVAL);
* ``mode=update`` keeps existing drains and reasons (overwrite=0),
  ``overwrite`` replaces the reason (overwrite=1), ``force-overwrite``
  also the timestamp (overwrite=2);
* an undrain request fails if a target is not drained (``rank 1 not
  drained``) unless ``mode=force``, which skips those targets.

Excluded nodes can never be drained here (flux-core checks this only
without a mode; the resource spec says excluded nodes cannot be drained,
so every mode refuses them).
"""

from fluxd.errors import AlreadyExists, InvalidArgument
from fluxd.formats.idset import IDset

__all__ = ["DrainState", "DRAIN_MODES", "UNDRAIN_MODES"]

#: ``resource.drain`` modes -> overwrite level (None: no mode given)
DRAIN_MODES = {None: 0, "update": 0, "overwrite": 1, "force-overwrite": 2}
#: ``resource.undrain`` modes
UNDRAIN_MODES = (None, "force")


def _plural(ids):
    return f"rank{'s' if len(ids) > 1 else ''} {ids}"


class _Entry:
    __slots__ = ("drained", "timestamp", "reason")

    def __init__(self):
        self.drained = False
        self.timestamp = 0.0
        self.reason = None


class DrainState:
    """The drain table of an instance of ``size`` brokers.

    :param size: the instance size (ranks ``0..size-1``).
    """

    def __init__(self, size):
        self.size = size
        self._info = [_Entry() for _ in range(size)]

    # -- queries --------------------------------------------------------------

    def drained(self):
        """:returns: the drained ranks (an :class:`IDset`)."""
        return IDset(r for r, e in enumerate(self._info) if e.drained)

    def is_drained(self, rank):
        """:returns: True when ``rank`` is drained."""
        return 0 <= rank < self.size and self._info[rank].drained

    def reason(self, rank):
        """:returns: the drain reason of ``rank`` (None when it has none)."""
        return self._info[rank].reason

    def timestamp(self, rank):
        """:returns: when ``rank`` was drained (epoch seconds)."""
        return self._info[rank].timestamp

    def info(self):
        """The ``drain`` object of ``resource.status``: drained ranks
        grouped by identical timestamp and reason.

        :returns: ``{"1-2": {"timestamp": 1607544037.2, "reason": "x"}}``;
            a drain without reason has reason ``""``.
        """
        groups = {}
        for rank, entry in enumerate(self._info):
            if entry.drained:
                key = (entry.timestamp, entry.reason or "")
                groups.setdefault(key, IDset()).add(rank)
        result = {}
        for (timestamp, reason), ranks in sorted(
                groups.items(), key=lambda item: item[1].first()):
            result[ranks.encode()] = {"timestamp": timestamp,
                                      "reason": reason}
        return result

    # -- checks ---------------------------------------------------------------

    def check_range(self, ids):
        """Refuse an empty target set or ranks beyond the instance.

        :raises InvalidArgument: ``idset is empty``, ``idset is out of
            range``.
        """
        if not ids:
            raise InvalidArgument("idset is empty")
        if ids.last() >= self.size:
            raise InvalidArgument("idset is out of range")

    def check_drain(self, ids, exclude, mode=None):
        """Refuse a drain of excluded targets, or (without a mode) of
        targets already drained with a reason.

        :param ids: the target ranks (an :class:`IDset`).
        :param exclude: the excluded ranks.
        :param mode: the request's mode (a key of :data:`DRAIN_MODES`).
        :raises InvalidArgument: unknown mode, or ``rank 0 excluded``.
        :raises AlreadyExists: ``rank 1 already drained``, ``ranks 1-2
            already drained or excluded``.
        """
        if mode not in DRAIN_MODES:
            raise InvalidArgument("Invalid mode specified")
        excluded = ids & exclude
        drained = IDset()
        if mode is None:
            drained = IDset(r for r in ids if self._info[r].drained
                            and self._info[r].reason is not None)
        bad = excluded | drained
        if not bad:
            return
        what = " or ".join(text for text, ranks in (
            ("already drained", drained), ("excluded", excluded)) if ranks)
        message = f"{_plural(bad)} {what}"
        if drained:
            raise AlreadyExists(message)
        raise InvalidArgument(message)

    def check_undrain(self, ids, mode=None):
        """Find the targets an undrain request applies to.

        :returns: ``ids`` without the ranks that are not drained (only
            possible with ``mode="force"``).
        :raises InvalidArgument: ``invalid undrain mode 'x' specified``,
            ``rank 1 not drained``.
        """
        if mode not in UNDRAIN_MODES:
            raise InvalidArgument(f"invalid undrain mode '{mode}' specified")
        undrained = IDset(r for r in ids if not self._info[r].drained)
        if undrained and mode is None:
            raise InvalidArgument(f"{_plural(undrained)} not drained")
        return ids - undrained

    # -- updates --------------------------------------------------------------

    def drain(self, ids, timestamp, reason=None, overwrite=0):
        """Mark ``ids`` drained (flux-core ``update_draininfo_idset``).

        A rank already drained with a reason is left alone unless
        ``overwrite``; its timestamp only changes with ``overwrite=2``.

        :param ids: ranks (an :class:`IDset` or iterable) below ``size``;
            others are ignored (a replayed event may name ranks of a
            larger instance).
        """
        for rank in ids:
            if not 0 <= rank < self.size:
                continue
            entry = self._info[rank]
            if not overwrite and entry.drained and entry.reason is not None:
                continue
            entry.reason = reason
            if not entry.drained or overwrite == 2:
                entry.drained = True
                entry.timestamp = float(timestamp)

    def undrain(self, ids):
        """Mark ``ids`` not drained (reason and timestamp cleared)."""
        for rank in ids:
            if 0 <= rank < self.size:
                self._info[rank] = _Entry()

    def replay(self, entries, hostnames=None):
        """Rebuild the table from ``resource.eventlog`` entries.

        :param entries: decoded RFC 18 entries (other events are skipped).
        :param hostnames: optional list of this instance's hostnames by
            rank; when an event's ``nodelist`` names a host now at another
            rank, the drain follows the host (as flux-core does).
        :raises InvalidArgument: for a drain/undrain event without an
            ``idset``.
        """
        for number, entry in enumerate(entries, 1):
            name = entry.get("name")
            if name not in ("drain", "undrain"):
                continue
            context = entry.get("context") or {}
            try:
                ids = IDset(context["idset"])
            except (KeyError, TypeError, InvalidArgument):
                raise InvalidArgument(f"resource.eventlog line {number}:"
                                      f" {name} parse error") from None
            ids = _follow_hosts(ids, context.get("nodelist"), hostnames)
            if name == "drain":
                self.drain(ids, entry.get("timestamp", 0.0),
                           context.get("reason"),
                           context.get("overwrite", 1))
            else:
                self.undrain(ids)


def _follow_hosts(ids, nodelist, hostnames):
    """Map an event's ranks to this instance through its hostnames: a rank
    whose host now has another rank follows the host; a host no longer in
    the instance is dropped (flux-core ``decode_targets``)."""
    if not nodelist or not hostnames:
        return ids
    from fluxd.formats.hostlist import Hostlist
    try:
        hosts = list(Hostlist(nodelist))
    except InvalidArgument:
        return ids
    result = IDset()
    for index, rank in enumerate(ids):
        host = hosts[index] if index < len(hosts) else None
        if host is not None:
            current = hostnames[rank] if rank < len(hostnames) else None
            if current != host:
                if host not in hostnames:
                    continue
                rank = hostnames.index(host)
        result.add(rank)
    return result
