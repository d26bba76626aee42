# -*- test-case-name: tests.unit.resource.test_status -*-
"""The system view of an instance's resources, as ``flux resource status``
and ``flux resource drain`` show it (spec/cli.md section 1).

The input is a ``resource.status`` response (exactly what
``flux resource status --from-stdin`` reads)::

    {"R": {...RFC 20 R...}, "online": "0,2-3", "offline": "1",
     "exclude": "0", "torpid": "", "drain": {"1": {"timestamp": 1607544037.2,
                                                   "reason": "testing"}}}

plus, from the scheduler and the job manager, the ranks that are
allocated and those running housekeeping.  :class:`ResourceStatus` derives
the node states (RFC 22 idsets of broker ranks):

* ``avail``: not excluded, drained or torpid;
* ``exclude``, ``torpid``, ``online``, ``offline``, ``allocated``,
  ``housekeeping``: as given;
* ``draining``: drained and still allocated; ``drained``: drained, free.

:func:`status_lines` turns them into display lines: one per state and
online/offline status (drain states one per rank, carrying the reason and
timestamp), merged whenever the chosen format renders them alike apart from
the node count, ranks and node list.  Offline lines show ``state*``.

The scheduler view (``flux resource list|info|R``) is
:class:`SchedResourceList` and :func:`list_lines`, re-exported here.
"""

from typing import NamedTuple

from fluxd.cli.formatting import AltField, Deduplicator
from fluxd.errors import InvalidArgument
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import Rv1

__all__ = [
    "STATUS_STATES", "DEFAULT_STATUS_STATES", "STATUS_HEADINGS",
    "InvalidState", "check_states", "DrainInfo", "ResourceStatus",
    "queue_ranks", "include_ranks", "StatusLine", "status_lines",
    "SchedResourceList", "ListLine", "list_lines", "LIST_STATES",
    "DEFAULT_LIST_STATES", "LIST_HEADINGS", "sched_R",
]

#: valid ``-s`` values of ``flux resource status`` (and ``-s help`` order)
STATUS_STATES = ("all", "online", "avail", "offline", "exclude", "drain",
                 "draining", "drained", "torpid", "allocated",
                 "housekeeping")
#: what ``flux resource status`` shows without ``-s``
DEFAULT_STATUS_STATES = ("avail", "exclude", "draining", "drained",
                         "torpid", "housekeeping")
#: fields of a status line -> heading
STATUS_HEADINGS = {
    "state": "STATE", "statex": "STATE", "nnodes": "NNODES",
    "ranks": "RANKS", "nodelist": "NODELIST", "reason": "REASON",
    "timestamp": "TIME", "status": "STATUS", "up": "UP", "up.ascii": "UP",
    "color_up": "", "color_off": "",
}

# Line-producing states, in display order.
_SET_STATES = ("avail", "exclude", "allocated", "torpid", "housekeeping")
_DRAIN_STATES = ("draining", "drained")


class InvalidState(InvalidArgument):
    """invalid resource state"""


def check_states(states, valid):
    """Refuse a state name not in ``valid``.

    :raises InvalidState: ``Invalid resource state X specified``.
    """
    for state in states:
        if state not in valid:
            raise InvalidState(f"Invalid resource state {state} specified")


class DrainInfo(NamedTuple):
    """One drain entry: the ranks drained with this reason and time."""

    ranks: IDset
    timestamp: float
    reason: str


def include_ranks(targets, hostlist):
    """Resolve ``-i TARGETS`` (an idset, else a hostlist) to ranks.

    Hosts not in ``hostlist`` are ignored, as flux does.

    :param targets: e.g. ``"0,2"`` or ``"foo[1,3]"``.
    :param hostlist: rank -> hostname mapping of the instance.
    :returns: an :class:`IDset`.
    :raises InvalidArgument: when ``targets`` is neither.
    """
    try:
        return IDset(targets)
    except InvalidArgument:
        pass
    wanted = set(Hostlist(targets))
    return IDset(rank for rank, host in hostlist.items() if host in wanted)


def _hostnames(rset):
    """rank -> hostname for the ranks of ``rset`` that have one."""
    names = {}
    for rank in rset.ranks():
        host = rset.hostname(rank)
        if host is not None:
            names[rank] = host
    return names


def queue_ranks(rset, config, queues):
    """The ranks of ``rset`` in any of ``queues`` (``-q``): a queue holds
    the nodes having every property its ``requires`` lists (all nodes
    without ``requires``).

    :param rset: an :class:`Rv1`.
    :param config: the instance config as a dict (``queues`` table used).
    :param queues: queue names.
    :returns: an :class:`IDset`.
    :raises InvalidArgument: ``NAME: no such queue``.
    """
    table = (config or {}).get("queues") or {}
    ranks = IDset()
    for queue in queues:
        if queue not in table:
            raise InvalidArgument(f"{queue}: no such queue")
        requires = (table[queue] or {}).get("requires")
        members = rset.filter_properties(requires) if requires else rset
        ranks |= members.ranks()
    return ranks


class ResourceStatus:
    """The node states derived from a ``resource.status`` response.

    :param rstatus: the response (dict); None for an empty instance.
    :param allocated: ranks holding jobs or housekeeping (scheduler view).
    :param housekeeping: ranks running housekeeping.
    :raises InvalidArgument: for a malformed response (bad R or idset).

    Attributes (all :class:`IDset`): ``all``, ``online``, ``offline``,
    ``exclude``, ``torpid``, ``allocated``, ``housekeeping``, ``drained``,
    ``draining``, ``avail``; ``drain_info`` is a list of
    :class:`DrainInfo`.
    """

    def __init__(self, rstatus=None, allocated=None, housekeeping=None):
        if rstatus is None:
            rstatus = {}
        if not isinstance(rstatus, dict):
            raise InvalidArgument("resource status must be a JSON object")
        self.rstatus = rstatus
        self.rset = Rv1.decode(rstatus["R"]) if rstatus.get("R") else Rv1()
        self.hostnames = _hostnames(self.rset)
        self._allocated = IDset(allocated or "")
        self._housekeeping = IDset(housekeeping or "")
        self._recalculate()

    def _idset(self, key):
        value = self.rstatus.get(key) or ""
        if not isinstance(value, str):
            raise InvalidArgument(f"resource status: {key} must be an idset"
                                  " string")
        return IDset(value)

    def _recalculate(self, include=None):
        self.all = self.rset.ranks()
        self.offline = self._idset("offline")
        self.online = self._idset("online")
        self.exclude = self._idset("exclude")
        self.torpid = self._idset("torpid")
        self.allocated = self._allocated.copy()
        self.housekeeping = self._housekeeping.copy()
        if include is not None:
            for name in ("all", "offline", "online", "exclude", "torpid",
                         "allocated", "housekeeping"):
                setattr(self, name, getattr(self, name) & include)
        drained = IDset()
        self.drain_info = []
        self._drain_lookup = {}
        drain = self.rstatus.get("drain") or {}
        if not isinstance(drain, dict):
            raise InvalidArgument("resource status: drain must be an object")
        for ranks, entry in drain.items():
            ranks = IDset(ranks)
            if include is not None:
                ranks &= include
            entry = entry or {}
            info = DrainInfo(ranks, entry.get("timestamp", 0.0),
                             entry.get("reason") or "")
            drained |= ranks
            self.drain_info.append(info)
            for rank in ranks:
                self._drain_lookup[rank] = info
        # Drained nodes that still hold jobs are "draining".
        self.draining = drained & self.allocated
        self.drained = drained - self.draining
        self.avail = self.all - (self.exclude | self.drained | self.draining
                                 | self.torpid)

    def filter(self, include):
        """Restrict every state to ``-i TARGETS`` (ranks or hosts).

        :param include: an idset or hostlist string, or an :class:`IDset`.
        :raises InvalidArgument: when it is neither.
        """
        if not isinstance(include, IDset):
            include = include_ranks(include, self.hostnames)
        self._recalculate(include)

    def filter_ranks(self, ranks):
        """Restrict every state to ``ranks`` (an :class:`IDset`)."""
        self._recalculate(IDset(ranks))

    def __getitem__(self, state):
        return getattr(self, state)

    def get_idset(self, *states):
        """:returns: the union of the named states' ranks."""
        ids = IDset()
        for state in states:
            ids |= self[state]
        return ids

    def nodelist(self, ranks):
        """:returns: the :class:`Hostlist` of ``ranks``, in rank order
            (ranks without a hostname are left out)."""
        return Hostlist([self.hostnames[r] for r in ranks
                         if r in self.hostnames])

    def get_drain_info(self, rank):
        """:returns: the :class:`DrainInfo` of a drained rank, or None."""
        return self._drain_lookup.get(rank)


class StatusLine:
    """One line of ``flux resource status``: a state, online or offline,
    and the nodes in it.  Fields are the keys of :data:`STATUS_HEADINGS`.
    """

    def __init__(self, state, online, ranks, hosts, reason="",
                 timestamp=""):
        self._state = state
        self._online = online
        self._ranks = IDset(ranks)
        self.hostlist = Hostlist(hosts)
        # Counted per merged line, duplicates included (a node both
        # excluded and drained counts twice in a merged line, as in flux).
        self._count = len(self._ranks)
        self.reason = reason
        self.timestamp = timestamp

    def update(self, ranks, hosts):
        """Merge another line's nodes (duplicates kept, hosts sorted)."""
        ranks = IDset(ranks)
        self._count += len(ranks)
        self._ranks |= ranks
        self.hostlist.append(hosts)
        self.hostlist.sort()

    @property
    def statex(self):
        """The state without the offline marker."""
        return self._state

    @property
    def state(self):
        """The state, with ``*`` appended when the nodes are offline."""
        return self._state if self._online else self._state + "*"

    @property
    def offline(self):
        return not self._online

    @property
    def status(self):
        return "online" if self._online else "offline"

    @property
    def up(self):
        return AltField("✔", "y") if self._online else AltField("✗", "n")

    @property
    def color_up(self):
        return "\033[01;32m" if self._online else "\033[01;31m"

    @property
    def color_off(self):
        return "\033[0;0m"

    @property
    def nodelist(self):
        return str(self.hostlist)

    @property
    def ranks(self):
        return str(self._ranks)

    @property
    def nnodes(self):
        return self._count

    def __repr__(self):
        return f"StatusLine({self.state} {self.hostlist})"


def _expand_states(states):
    """``-s`` list -> the states to show (``drain`` expanded; only
    ``online``/``offline`` given means those of the default states)."""
    states = list(states)
    if not [s for s in states if s not in ("online", "offline")]:
        states.extend(DEFAULT_STATUS_STATES)
    if "drain" in states:
        states.remove("drain")
        states.extend(_DRAIN_STATES)
    return states


def status_lines(rstatus, formatter, states=None, skip_empty=False):
    """The lines ``flux resource status`` prints, in order.

    :param rstatus: a :class:`ResourceStatus`.
    :param formatter: the output :class:`~fluxd.cli.formatting.Formatter`;
        lines it renders alike (ignoring nnodes, ranks, nodelist) merge.
    :param states: the ``-s`` list (checked against
        :data:`STATUS_STATES`), or None for the defaults, in which case
        empty lines are skipped.
    :param skip_empty: skip empty lines even with ``states``.
    :returns: a list of :class:`StatusLine`.
    :raises InvalidState: for an unknown state.
    """
    explicit = states is not None
    states = list(states) if explicit else list(DEFAULT_STATUS_STATES)
    check_states(states, STATUS_STATES)
    states = set(_expand_states(states))
    skip_empty = skip_empty or not explicit
    # Empty offline lines only when offline nodes were asked for; online
    # or offline alone restricts the lines to that status.
    skip_empty_offline = "offline" not in states
    include = {True: "online" in states or "offline" not in states,
               False: "offline" in states or "online" not in states}
    torpid = rstatus.torpid
    for drain_state in _DRAIN_STATES:
        if "all" in states or drain_state in states:
            torpid = torpid - rstatus[drain_state]
    sets = {state: rstatus[state] for state in _SET_STATES}
    sets["torpid"] = torpid

    lines = Deduplicator(formatter,
                         except_fields=["nodelist", "ranks", "nnodes"],
                         combine=lambda line, new: line.update(new.ranks,
                                                               new.hostlist))
    for state in _SET_STATES:
        if not states & {state, "all"}:
            continue
        for online in (True, False):
            if not include[online]:
                continue
            ranks = sets[state] & rstatus["online" if online else "offline"]
            lines.append(StatusLine(state, online, ranks,
                                    rstatus.nodelist(ranks)))
    for state in _DRAIN_STATES:
        if not states & {state, "all"}:
            continue
        ranks = rstatus[state]
        if not ranks and include[True]:
            lines.append(StatusLine(state, True, "", ""))
        for rank in ranks:
            online = rank in rstatus.online
            if not include[online]:
                continue
            info = rstatus.get_drain_info(rank)
            lines.append(StatusLine(state, online, [rank],
                                    rstatus.nodelist([rank]),
                                    reason=info.reason,
                                    timestamp=info.timestamp))
    return [line for line in lines
            if line.nnodes or not (skip_empty
                                   or (line.offline and skip_empty_offline))]


# The scheduler view lives in its own module; part of this module's API.
from fluxd.resource._schedlist import (  # noqa: E402
    DEFAULT_LIST_STATES, LIST_HEADINGS, LIST_STATES, ListLine,
    SchedResourceList, list_lines, sched_R,
)
