# -*- test-case-name: tests.unit.resource.test_schedlist -*-
"""The scheduler view of an instance's resources (``flux resource list``,
``info`` and ``R``; spec/cli.md section 1).

The input is a ``resource.sched-status`` response (what
``flux resource list --from-stdin`` reads): three RFC 20 resource sets,
any of which may be missing or null::

    {"all": {...R...}, "down": {...R...}, "allocated": {...R...}}

From them :class:`SchedResourceList` derives ``up`` (all but down) and
``free`` (up but allocated); allocation is per core, so a node can be both
free and allocated.  :func:`list_lines` groups each state's resources into
display lines by property set and, when the instance configures queues
(``[queues.NAME] requires = [...]``), by the queues a node belongs to.
Public names are re-exported by :mod:`fluxd.resource.status`.
"""

from fluxd.cli.formatting import Formatter
from fluxd.errors import InvalidArgument
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.rv1 import Rv1

#: valid ``-s`` values of ``flux resource list``
LIST_STATES = ("up", "down", "allocated", "free", "all")
#: what ``flux resource list`` shows without ``-s``
DEFAULT_LIST_STATES = ("free", "allocated", "down")
#: fields of a list line -> heading
LIST_HEADINGS = {
    "state": "STATE", "queue": "QUEUE", "properties": "PROPERTIES",
    "propertiesx": "PROPERTIES", "nnodes": "NNODES", "ncores": "NCORES",
    "ngpus": "NGPUS", "ranks": "RANKS", "nodelist": "NODELIST",
    "rlist": "LIST",
}

# Fields whose values decide which resources share a line.
_UNIQ_FIELDS = ("state", "properties", "propertiesx", "queue")


def _decode(resp, state):
    value = resp.get(state)
    if not value:
        return Rv1()
    try:
        return Rv1.decode(value)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{state}: {exc}") from None


class SchedResourceList:
    """The ``all``, ``down`` and ``allocated`` sets of the scheduler, and
    the derived ``up`` and ``free`` sets (all :class:`Rv1`).

    :param resp: the ``resource.sched-status`` response (dict or None).
    :raises InvalidArgument: for a malformed response.
    """

    def __init__(self, resp=None):
        if resp is None:
            resp = {}
        if not isinstance(resp, dict):
            raise InvalidArgument("resource list input must be a JSON"
                                  " object")
        self.all = _decode(resp, "all")
        self.down = _decode(resp, "down")
        self.allocated = _decode(resp, "allocated")
        self._derive()

    def _derive(self):
        self.up = self.all.diff(self.down)
        self.free = self.up.diff(self.allocated)

    def __getitem__(self, state):
        if state not in LIST_STATES:
            raise InvalidArgument(f"unknown state {state}")
        return getattr(self, state)

    def hostnames(self):
        """:returns: rank -> hostname of the ranks in ``all`` that have
            one."""
        return {rank: self.all.hostname(rank) for rank in self.all.ranks()
                if self.all.hostname(rank) is not None}

    def filter(self, include):
        """Keep only ``-i TARGETS`` (an idset or hostlist string).

        :raises InvalidArgument: when it is neither.
        """
        from fluxd.resource.status import include_ranks
        self.filter_ranks(include_ranks(include, self.hostnames()))

    def filter_ranks(self, ranks):
        """Keep only ``ranks`` (an :class:`~fluxd.formats.idset.IDset`)."""
        self.all = self.all.copy_ranks(ranks)
        self.down = self.down.copy_ranks(ranks)
        self.allocated = self.allocated.copy_ranks(ranks)
        self._derive()


class ListLine:
    """One line of ``flux resource list``: the resources of one state that
    share the fields of :data:`_UNIQ_FIELDS` the format shows.

    :param rset: the resources (:class:`Rv1`).
    :param state: ``free``, ``allocated``, ...
    :param config: the instance config dict (its ``queues`` table), or None.
    :param queue: the queue an *empty* line stands for, or None.
    """

    def __init__(self, rset, state, config=None, queue=None):
        self.rset = rset
        self.state = state
        self.config = config or {}
        self._queue = queue

    def add(self, other):
        """Merge another line's resources into this one."""
        self.rset = self.rset.union(other.rset)

    @property
    def rankset(self):
        """The ranks as an :class:`~fluxd.formats.idset.IDset`."""
        return self.rset.ranks()

    @property
    def ranks(self):
        return str(self.rset.ranks())

    @property
    def nnodes(self):
        return len(self.rset)

    @property
    def ncores(self):
        return self.rset.count("core")

    @property
    def ngpus(self):
        return self.rset.count("gpu")

    @property
    def nodelist(self):
        names = [self.rset.hostname(r) for r in self.rset.ranks()]
        return str(Hostlist([name for name in names if name is not None]))

    @property
    def rlist(self):
        return self.rset.dumps_short()

    def _property_names(self):
        return list(self.rset.properties())

    @property
    def properties(self):
        return ",".join(self._property_names())

    @property
    def queue(self):
        if self._queue is not None:
            return self._queue
        queues = self.config.get("queues") or {}
        if not queues or not self.rset:
            return ""
        have = set(self._property_names())
        return ",".join(name for name, conf in queues.items()
                        if set((conf or {}).get("requires") or ()) <= have)

    @property
    def propertiesx(self):
        queues = set(self.queue.split(",")) if self.queue else set()
        return ",".join(p for p in self._property_names()
                        if p not in queues)

    def __repr__(self):
        return f"ListLine({self.state} {self.rset.dumps_short()!r})"


def _split_by_properties(rset):
    """``rset`` split into sets whose nodes have identical properties."""
    groups = {}
    for rank in rset.ranks():
        key = frozenset(rset.rank_properties(rank))
        groups.setdefault(key, []).append(rank)
    return [rset.copy_ranks(ranks) for ranks in groups.values()]


def _uniq_formatter(formatter):
    """The formatter deciding which resources share a line: the unique
    fields the format shows.  A lone field other than ``state`` (``-o
    {nnodes}``) merges everything into one line."""
    fields = formatter.fields
    names = []
    if len(fields) > 1 or "state" in fields:
        names = [field for field in fields if field in _UNIQ_FIELDS]
    return Formatter("".join("{%s}:" % name for name in names),
                     headings=formatter.headings)


def list_lines(resources, formatter, states=None, config=None, queues=None,
               skip_empty=False):
    """The lines ``flux resource list`` prints, in order: by state as
    listed, then by first rank (empty lines last within their state).

    :param resources: a :class:`SchedResourceList` (already filtered by
        ``-i``/``-q`` if asked).
    :param formatter: the output :class:`Formatter`.
    :param states: the ``-s`` list (default :data:`DEFAULT_LIST_STATES`).
    :param config: the instance config dict, for the ``queue`` field.
    :param queues: the ``-q`` queues: an empty state gets one line per
        queue (per configured queue without ``-q``).
    :param skip_empty: drop lines without resources.
    :returns: a list of :class:`ListLine`.
    :raises InvalidState: for an unknown state.
    """
    from fluxd.resource.status import check_states
    states = list(states) if states is not None else list(DEFAULT_LIST_STATES)
    check_states(states, LIST_STATES)
    keyfmt = _uniq_formatter(formatter)
    if not queues:
        queues = list((config or {}).get("queues") or {}) or [None]
    lines = {}

    def add(line):
        key = keyfmt.format(line)
        if key in lines:
            lines[key].add(line)
        else:
            lines[key] = line

    for state in states:
        rset = resources[state]
        if not rset:
            for queue in queues:
                add(ListLine(Rv1(), state, config, queue))
            continue
        for part in _split_by_properties(rset):
            add(ListLine(part, state, config))
    position = {state: index for index, state in enumerate(states)}
    items = sorted(lines.values(), key=lambda line: (
        position[line.state],
        line.rankset.first() if line.rset else float("inf")))
    if skip_empty:
        items = [line for line in items if line.rset]
    return items


def sched_R(resources, states=("all",)):
    """The resource set ``flux resource R`` prints: the union of the
    given states' sets.

    :returns: an :class:`Rv1`.
    :raises InvalidState: for an unknown state.
    """
    from fluxd.resource.status import check_states
    check_states(states, LIST_STATES)
    result = Rv1()
    for state in states:
        result = result.union(resources[state])
    return result
