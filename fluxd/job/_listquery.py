# -*- test-case-name: tests.unit.job.test_listquery -*-
"""What job-list answers, computed from the job manager's records (RFC 43).

job-list keeps no copy of the jobs: every request reads the
:class:`fluxd.job.jobs.Job` records of the job manager's table and turns
the ones it selects into JSON objects here.  Pure functions, no Twisted:

* :func:`job_attrs` -- one job as ``{"id": N, attr: value...}`` with
  job-list's attribute names and its rules for absent values (a pending
  job has no ``t_run``, an active one no ``result``...);
* :class:`Query` -- a ``job-list.list`` request checked once: the user,
  states and results (OR-ed when both are given, as flux's ``flux jobs
  -f pending,failed`` asks), ``since``, names, queues, ids and the
  ranks/hosts a job ran on;
* :func:`list_jobs` -- the selected jobs in job-list's order: pending by
  priority (highest first) then submission, running by start time, then
  inactive by the time they ended, most recent first (walking a
  :class:`fluxd.job._listindex.JobIndex`, so that the inactive jobs past
  the limit are never looked at);
* :func:`job_stats` -- the ``job-list.job-stats`` counters;
* :func:`history` -- one user's jobs, most recently submitted first, cut
  by a Python-style ``[start:stop:step]`` slice (``flux job last``).

Jobs still in NEW (not validated yet) and jobs that were never validated
(``invalidate``) are not listed, as in flux.
"""

from operator import attrgetter

from fluxd.errors import InvalidArgument, ProtocolError
from fluxd.job import jobs as J

__all__ = ["ALL_ATTRS", "EXTRA_ATTRS", "VALID_ATTRS", "USERID_ANY",
           "job_attrs", "check_attrs", "Query", "list_jobs", "listed",
           "job_stats", "became_inactive", "count_inactive",
           "parse_slice", "history"]

#: what ``"all"`` stands for, in job-list's order
ALL_ATTRS = (
    "userid", "urgency", "priority", "t_submit", "t_depend", "t_run",
    "t_cleanup", "t_inactive", "state", "name", "cwd", "queue", "project",
    "bank", "ntasks", "ncores", "duration", "nnodes", "ranks", "nodelist",
    "success", "exception_occurred", "exception_type", "exception_severity",
    "exception_note", "result", "expiration", "annotations", "waitstatus",
    "dependencies",
)
#: fluxd: attributes that may be asked for by name (not part of "all")
EXTRA_ATTRS = ("t_priority", "t_sched")
VALID_ATTRS = frozenset(ALL_ATTRS + EXTRA_ATTRS)
#: ``userid`` meaning every user (FLUX_USERID_UNKNOWN)
USERID_ANY = 0xFFFFFFFF

_RESULTS_ALL = J.COMPLETED | J.FAILED | J.CANCELED | J.TIMEOUT
_STATES_ALL = J.ACTIVE | J.INACTIVE | J.NEW


def listed(job):
    """True when job-list shows ``job``: validated, and not invalidated.

    A job reaches INACTIVE through CLEANUP, which only a fatal exception or
    a ``finish`` leads to; an inactive job with neither was invalidated.
    """
    if job.state == J.NEW:
        return False
    if job.state == J.INACTIVE:
        return bool(job.exception_occurred or job.waitstatus is not None)
    return True


_ABSENT = object()


def _always(attr):
    return attrgetter(attr)


def _unless_none(attr):
    get = attrgetter(attr)

    def value(job):
        v = get(job)
        return _ABSENT if v is None else v
    return value


def _stamp(attr):
    get = attrgetter(attr)

    def value(job):
        return get(job) or _ABSENT
    return value


def _once_ran(attr, convert=None):
    get = attrgetter(attr)

    def value(job):
        v = get(job)
        if not job.t_run or v is None or v == "" or (convert and v < 0):
            return _ABSENT
        return convert(v) if convert else v
    return value


def _once_inactive(compute):
    def value(job):
        return compute(job) if job.state == J.INACTIVE else _ABSENT
    return value


def _exception(attr):
    get = attrgetter(attr)

    def value(job):
        v = get(job)
        if job.state != J.INACTIVE or not job.exception_occurred or v is None:
            return _ABSENT
        return v
    return value


def _dependencies(job):
    deps = job.dependencies
    return _ABSENT if deps is None else list(deps)


#: attribute -> getter answering the value or _ABSENT (flux's
#: ``store_attr()`` rules: no ``t_run`` before the job ran...)
_GETTERS = {
    "userid": _always("userid"), "urgency": _always("urgency"),
    "state": _always("state"), "t_submit": _always("t_submit"),
    "priority": _unless_none("priority"),
    **{attr: _stamp(attr) for attr in ("t_depend", "t_priority", "t_sched",
                                       "t_run", "t_cleanup", "t_inactive")},
    **{attr: _unless_none(attr) for attr in (
        "name", "cwd", "queue", "project", "bank", "ntasks", "ncores",
        "nnodes", "waitstatus")},
    "duration": lambda job: (float(job.duration) if job.duration >= 0
                             else _ABSENT),
    "ranks": _once_ran("ranks"), "nodelist": _once_ran("nodelist"),
    "expiration": _once_ran("expiration", float),
    "success": _once_inactive(lambda job: job.result == J.COMPLETED),
    "exception_occurred": _once_inactive(
        lambda job: bool(job.exception_occurred)),
    "result": _once_inactive(attrgetter("result")),
    **{attr: _exception(attr) for attr in (
        "exception_type", "exception_severity", "exception_note")},
    "annotations": lambda job: job.annotations or _ABSENT,
    "dependencies": _dependencies,
}


def check_attrs(attrs):
    """Check a request's ``attrs``: a list of attribute names or ``all``.

    :returns: the attribute names, ``all`` expanded, each once.
    :raises FluxError: EPROTO ``invalid payload: attrs must be an array``
        or ``attr has no string value``; EINVAL ``X is not a valid
        attribute``.
    """
    if not isinstance(attrs, list):
        raise ProtocolError("invalid payload: attrs must be an array")
    names = []
    for attr in attrs:
        if not isinstance(attr, str):
            raise InvalidArgument("attr has no string value")
        expanded = ALL_ATTRS if attr == "all" else (attr,)
        for name in expanded:
            if name not in VALID_ATTRS:
                raise InvalidArgument(f"{name} is not a valid attribute")
            if name not in names:
                names.append(name)
    return names


def job_attrs(job, attrs):
    """One job as job-list answers it.

    :param attrs: names checked by :func:`check_attrs`.
    :returns: ``{"id": N, ...}`` without the attributes the job has no
        value for yet.
    """
    out = {"id": job.id}
    for attr in attrs:
        value = _GETTERS[attr](job)
        if value is not _ABSENT:
            out[attr] = value
    return out


def _int_field(body, name, default, minimum=0, maximum=None):
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) \
            or value < minimum or (maximum is not None and value > maximum):
        raise ProtocolError(f"invalid payload: {name} must be an integer"
                            f" >= {minimum}")
    return value


def _str_set(body, name):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str)
                                              for v in value):
        raise ProtocolError(f"invalid payload: {name} must be a string or"
                            " an array of strings")
    return frozenset(value)


class Query:
    """One ``job-list.list`` request, checked.

    :param body: the request payload: ``max_entries`` (0 = no limit),
        ``attrs``, ``userid``, ``states``, ``results``, ``since``, and the
        optional ``name``, ``queue`` (a name or a list), ``ids`` (a list),
        ``ranks`` (an idset) and ``hosts`` (a hostlist) a job must have run
        on (fluxd).
    :raises FluxError: EPROTO for a malformed payload, EINVAL for a bad
        attribute, idset or hostlist.
    """

    def __init__(self, body):
        if not isinstance(body, dict):
            raise ProtocolError("invalid payload: expected an object")
        self.max_entries = _int_field(body, "max_entries", 1000)
        self.attrs = check_attrs(body.get("attrs", []))
        self.userid = _int_field(body, "userid", USERID_ANY,
                                 maximum=USERID_ANY)
        self.states = _int_field(body, "states", 0)
        self.results = _int_field(body, "results", 0)
        if self.states & ~_STATES_ALL or self.results & ~_RESULTS_ALL:
            raise ProtocolError("invalid payload: unknown states or results")
        since = body.get("since", 0.0)
        if not isinstance(since, (int, float)) or isinstance(since, bool) \
                or since < 0:
            raise ProtocolError("invalid payload: since must be a number"
                                " >= 0")
        self.since = float(since)
        self.names = _str_set(body, "name")
        self.queues = _str_set(body, "queue")
        ids = body.get("ids")
        if ids is not None and (not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in ids)):
            raise ProtocolError("invalid payload: ids must be an array of"
                                " job ids")
        self.ids = None if ids is None else frozenset(ids)
        self.ranks = self.hosts = None
        if body.get("ranks") is not None:
            from fluxd.formats.idset import IDset
            self.ranks = IDset(_text(body, "ranks"))
        if body.get("hosts") is not None:
            from fluxd.formats.hostlist import Hostlist
            self.hosts = frozenset(Hostlist(_text(body, "hosts")))

    def _state_ok(self, job):
        if not self.states and not self.results:
            return True
        if self.states & job.state:
            return True
        return bool(self.results and job.state == J.INACTIVE
                    and self.results & job.result)

    def _where_ok(self, job):
        if self.ranks is not None:
            from fluxd.formats.idset import IDset
            if not job.ranks or not IDset(job.ranks) & self.ranks:
                return False
        if self.hosts is not None:
            from fluxd.formats.hostlist import Hostlist
            if not job.nodelist or self.hosts.isdisjoint(
                    Hostlist(job.nodelist)):
                return False
        return True

    def wants_active(self):
        """Whether active jobs may match."""
        return bool(self.states & J.ACTIVE or not (self.states
                                                   or self.results))

    def wants_inactive(self):
        """Whether inactive jobs may match."""
        return bool(self.states & J.INACTIVE or self.results
                    or not self.states)

    def matches(self, job):
        """True when ``job`` is one the request selects."""
        if not listed(job):
            return False
        if self.userid != USERID_ANY and job.userid != self.userid:
            return False
        if self.ids is not None and job.id not in self.ids:
            return False
        if not self._state_ok(job):
            return False
        if job.state == J.INACTIVE and job.t_inactive <= self.since:
            return False
        if self.names is not None and job.name not in self.names:
            return False
        if self.queues is not None and job.queue not in self.queues:
            return False
        return self._where_ok(job)


def _text(body, name):
    value = body[name]
    if not isinstance(value, str):
        raise ProtocolError(f"invalid payload: {name} must be a string")
    return value


def _pending_key(job):
    priority = -1 if job.priority is None else job.priority
    return (-priority, job.t_submit, job.id)


def _running_key(job):
    return (job.t_run, job.id)


def list_jobs(index, query):
    """The jobs ``query`` selects, as job-list orders and limits them:
    pending ones by priority, then running ones by start time, then the
    inactive ones newest first, until ``max_entries``.

    :param index: a :class:`fluxd.job._listindex.JobIndex`.
    :param query: a :class:`Query`.
    :returns: a list of JSON objects (:func:`job_attrs`).
    """
    limit = query.max_entries
    selected = []
    if query.wants_active():
        pending, running = [], []
        for job in index.active():
            if query.matches(job):
                (pending if job.state & J.PENDING else running).append(job)
        pending.sort(key=_pending_key)
        running.sort(key=_running_key, reverse=True)
        selected = (pending + running)[:limit or None]
    if query.wants_inactive() and not (limit and len(selected) >= limit):
        for job in index.inactive():
            if job.t_inactive <= query.since:
                break           # the rest became inactive earlier still
            if query.matches(job):
                selected.append(job)
                if limit and len(selected) >= limit:
                    break
    return [job_attrs(job, query.attrs) for job in selected]


_STATE_KEYS = ((J.DEPEND, "depend"), (J.PRIORITY, "priority"),
               (J.SCHED, "sched"), (J.RUN, "run"), (J.CLEANUP, "cleanup"),
               (J.INACTIVE, "inactive"))
_RESULT_KEYS = ((J.COMPLETED, "successful"), (J.FAILED, "failed"),
                (J.TIMEOUT, "timeout"), (J.CANCELED, "canceled"))


def _empty_stats():
    return {"job_states": {name: 0 for _, name in _STATE_KEYS} | {"total": 0},
            "successful": 0, "failed": 0, "timeout": 0, "canceled": 0,
            "inactive_purged": 0}


def _count(stats, job):
    states = stats["job_states"]
    for bit, name in _STATE_KEYS:
        if job.state == bit:
            states[name] += 1
    states["total"] += 1
    if job.state == J.INACTIVE:
        for bit, name in _RESULT_KEYS:
            if job.result == bit:
                stats[name] += 1


def job_stats(jobs, inactive_seen):
    """The ``job-list.job-stats`` answer.

    :param jobs: an iterable of Job records.
    :param inactive_seen: ``{queue or None: n}``, how many jobs became
        inactive since job-list started (counting those inactive then):
        the ones no longer in ``jobs`` were purged.
    :returns: ``{"job_states": {depend..inactive, total}, "successful",
        "failed", "timeout", "canceled", "inactive_purged", "queues":
        [{"name": Q, ...the same counters}]}``.
    """
    overall = _empty_stats()
    queues = {}
    for job in jobs:
        if not listed(job):
            continue
        _count(overall, job)
        if job.queue is not None:
            if job.queue not in queues:
                queues[job.queue] = _empty_stats()
            _count(queues[job.queue], job)
    for name, seen in inactive_seen.items():
        if name is not None and name not in queues:
            queues[name] = _empty_stats()
        stats = overall if name is None else queues[name]
        stats["inactive_purged"] = max(
            0, seen - stats["job_states"]["inactive"])
    overall["queues"] = [dict(stats, name=name)
                         for name, stats in sorted(queues.items())]
    return overall


def became_inactive(job, entry):
    """True when ``entry`` is the event that made ``job`` a listed
    inactive job (for the purge counters)."""
    return (entry.get("name") == "clean" and job.state == J.INACTIVE
            and listed(job))


def count_inactive(jobs):
    """``{queue or None: n}`` of the listed inactive jobs in ``jobs``."""
    counts = {}
    for job in jobs:
        if job.state == J.INACTIVE and listed(job):
            counts[None] = counts.get(None, 0) + 1
            if job.queue is not None:
                counts[job.queue] = counts.get(job.queue, 0) + 1
    return counts



def _slice_int(text, whole):
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"invalid slice '{whole}'") from None


def parse_slice(text):
    """``[start:stop:step]`` (each part optional) or ``[index]``.

    :returns: a :class:`slice`.
    :raises InvalidArgument: ``invalid slice 'X'`` (EINVAL).
    """
    if not isinstance(text, str) or not (text.startswith("[")
                                         and text.endswith("]")):
        raise InvalidArgument(f"invalid slice '{text}'")
    parts = text[1:-1].split(":")
    if len(parts) > 3:
        raise InvalidArgument(f"invalid slice '{text}'")
    if len(parts) == 1:
        index = _slice_int(parts[0], text)
        if index is None:
            raise InvalidArgument(f"invalid slice '{text}'")
        return slice(index, None if index == -1 else index + 1)
    values = [_slice_int(part, text) for part in parts]
    if len(values) == 3 and values[2] == 0:
        raise InvalidArgument(f"invalid slice '{text}': step is zero")
    return slice(*values)


def history(jobs, userid, text):
    """The ids of ``userid``'s jobs (those not yet validated included),
    most recently submitted first, cut by the slice ``text``."""
    cut = parse_slice(text)
    mine = [job for job in jobs if job.userid == userid
            and (job.state == J.NEW or listed(job))]
    mine.sort(key=lambda job: (job.t_submit, job.id), reverse=True)
    return [job.id for job in mine[cut]]
