# -*- test-case-name: tests.unit.job.test_jobs -*-
"""The job record and its RFC 21 states, kept by the job manager.

A :class:`Job` is what the instance knows of one job: built from the
``submit`` event and updated by every later event of its eventlog through
:func:`apply`, the one place where an event changes a job.  The job
manager applies each event as it posts it; at start it rebuilds every job
by applying its eventlog again, so the two can never disagree.

Records are compact (``__slots__``, no jobspec once the job is inactive):
an instance keeps every inactive job until it is purged, and rank 0's
memory must stay flat as they pile up.  job-list reads these records
directly (``fluxd.interfaces.IJobTable``).
"""

import copy
import os

from fluxd.errors import InvalidArgument

# RFC 21 states (bits) and their names.
NEW, DEPEND, PRIORITY, SCHED, RUN, CLEANUP, INACTIVE = 1, 2, 4, 8, 16, 32, 64
PENDING = DEPEND | PRIORITY | SCHED
RUNNING = RUN | CLEANUP
ACTIVE = PENDING | RUNNING
STATE_NAMES = {NEW: "NEW", DEPEND: "DEPEND", PRIORITY: "PRIORITY",
               SCHED: "SCHED", RUN: "RUN", CLEANUP: "CLEANUP",
               INACTIVE: "INACTIVE"}
STATE_SINGLE = {NEW: "N", DEPEND: "D", PRIORITY: "P", SCHED: "S", RUN: "R",
                CLEANUP: "C", INACTIVE: "I"}
#: names accepted where a set of states is given (``flux cancel -S``...)
STATE_WORDS = {"new": NEW, "depend": DEPEND, "priority": PRIORITY,
               "sched": SCHED, "run": RUN, "cleanup": CLEANUP,
               "inactive": INACTIVE, "pending": PENDING, "running": RUNNING,
               "active": ACTIVE}

# Results (INACTIVE jobs only).
COMPLETED, FAILED, CANCELED, TIMEOUT = 1, 2, 4, 8
RESULT_NAMES = {COMPLETED: "COMPLETED", FAILED: "FAILED",
                CANCELED: "CANCELED", TIMEOUT: "TIMEOUT"}
RESULT_ABBREV = {COMPLETED: "CD", FAILED: "F", CANCELED: "CA", TIMEOUT: "TO"}

# Submit flags (RFC 41 / flux_job_submit).
FLAG_DEBUG, FLAG_WAITABLE, FLAG_NOVALIDATE = 2, 4, 8
FLAG_NAMES = {"debug": FLAG_DEBUG, "waitable": FLAG_WAITABLE,
              "novalidate": FLAG_NOVALIDATE}

# Urgency (RFC 30).
URGENCY_HOLD, URGENCY_DEFAULT, URGENCY_EXPEDITE = 0, 16, 31
URGENCY_GUEST_MAX = 16
PRIORITY_MIN, PRIORITY_MAX = 0, 4294967295

#: the job id that means "any job" (``job-manager.wait``)
ANY_JOB = 0xFFFFFFFFFFFFFFFF

_TIMESTAMP = {DEPEND: "t_depend", PRIORITY: "t_priority", SCHED: "t_sched",
              RUN: "t_run", CLEANUP: "t_cleanup", INACTIVE: "t_inactive"}


class Job:
    """One job, as its eventlog describes it.

    Fields follow job-list's attribute names (RFC 43) where one exists.
    ``jobspec`` (the redacted jobspec dict) is kept while the job is
    active and dropped at INACTIVE; ``R`` likewise.
    """

    __slots__ = (
        "id", "userid", "urgency", "priority", "state", "flags", "t_submit",
        "t_depend", "t_priority", "t_sched", "t_run", "t_cleanup",
        "t_inactive", "name", "queue", "cwd", "project", "bank", "ntasks",
        "ncores", "nnodes", "duration", "expiration", "ranks", "nodelist",
        "result", "waitstatus", "exception_occurred", "exception_severity",
        "exception_type", "exception_note", "annotations", "dependencies",
        "jobspec", "R", "has_resources", "alloc_pending", "waited",
        "start_sent", "eventlog_seq", "_ext")

    def __init__(self, jobid, userid, urgency, t_submit, flags=0,
                 jobspec=None):
        self.id = jobid
        self.userid = userid
        self.urgency = urgency
        self.priority = None
        self.state = NEW
        self.flags = flags
        self.t_submit = t_submit
        self.t_depend = self.t_priority = self.t_sched = 0.0
        self.t_run = self.t_cleanup = self.t_inactive = 0.0
        self.name = self.queue = self.cwd = self.project = self.bank = None
        self.ntasks = self.ncores = self.nnodes = None
        self.duration = 0.0
        self.expiration = 0.0
        self.ranks = self.nodelist = None
        self.result = 0
        self.waitstatus = None
        self.exception_occurred = False
        self.exception_severity = None
        self.exception_type = None
        self.exception_note = None
        self.annotations = None
        self.dependencies = None
        self.jobspec = None
        self.R = None
        self.has_resources = False
        self.alloc_pending = False
        self.waited = False
        self.start_sent = False     # a ``start`` event was posted
        self.eventlog_seq = 0
        self._ext = None
        if jobspec is not None:
            self.set_jobspec(jobspec)

    def __repr__(self):
        return f"<Job {self.id} {STATE_NAMES.get(self.state)}>"

    # -- derived facts -------------------------------------------------------

    @property
    def active(self):
        """True until INACTIVE."""
        return self.state != INACTIVE

    @property
    def waitable(self):
        """Submitted with the waitable flag."""
        return bool(self.flags & FLAG_WAITABLE)

    @property
    def success(self):
        """True/False once inactive (COMPLETED is success), else None."""
        if self.state != INACTIVE:
            return None
        return self.result == COMPLETED

    def ext(self):
        """A dict for data other services keep with the job (jobtap
        plugins, annotations of the scheduler...); created on first use."""
        if self._ext is None:
            self._ext = {}
        return self._ext

    def set_jobspec(self, jobspec):
        """Take the summary fields job-list shows from a (redacted) jobspec
        and keep it while the job is active."""
        self.jobspec = jobspec
        attrs = jobspec.get("attributes") or {}
        system = attrs.get("system") or {}
        tasks = jobspec.get("tasks") or [{}]
        command = (tasks[0] or {}).get("command") or []
        name = system.get("job", {}).get("name") if isinstance(
            system.get("job"), dict) else None
        if not name and command:
            name = os.path.basename(str(command[0]))
        self.name = _intern(name)
        self.queue = _intern(system.get("queue"))
        self.cwd = _intern(system.get("cwd"))
        self.project = _intern(system.get("project"))
        self.bank = _intern(system.get("bank"))
        duration = system.get("duration", 0)
        self.duration = float(duration) if isinstance(
            duration, (int, float)) and not isinstance(duration, bool) \
            and duration else 0.0
        self.ntasks, self.ncores, nnodes = _sizes(jobspec)
        if nnodes:
            self.nnodes = nnodes


_interned = {}


def _intern(value):
    """Share equal strings between records (queues, cwds, names repeat)."""
    if not isinstance(value, str):
        return None if value is None else str(value)
    return _interned.setdefault(value, value)


def _sizes(jobspec):
    """``(ntasks, ncores, nnodes)`` of a V1 jobspec, as job-list counts
    them; unknown shapes give ``(1, 1, None)``."""
    from fluxd.formats.jobspec import counts
    try:
        c = counts(jobspec)
    except (InvalidArgument, TypeError, KeyError, ValueError):
        return 1, 1, None
    ncores = c.ncores
    ntasks = c.ntasks or c.nslots or 1
    return ntasks, ncores or 1, c.nnodes or None


def compute_result(job):
    """RFC 21 result of an inactive job (libjob/result.c)."""
    if job.t_run and job.waitstatus == 0:
        return COMPLETED
    if job.exception_occurred and job.exception_severity == 0:
        if job.exception_type == "cancel":
            return CANCELED
        if job.exception_type == "timeout":
            return TIMEOUT
    return FAILED


def set_state(job, state, timestamp):
    """Move ``job`` to ``state`` and stamp the state's ``t_*`` field."""
    job.state = state
    field = _TIMESTAMP.get(state)
    if field is not None:
        setattr(job, field, timestamp)
    if state == INACTIVE:
        job.result = compute_result(job)
        job.jobspec = None
        job.R = None


#: the job's ext() key counting prologs and epilogs started, not finished
PERILOG_ACTIVE = "perilog-active"
#: the job's ext() key set once ``job.epilog-ready`` was dispatched
EPILOG_READY = "epilog-ready"


def perilog_active(job):
    """How many prologs/epilogs of ``job`` are running (``prolog-start``
    and ``epilog-start`` without their ``-finish``): the start request
    and the ``free`` wait for none."""
    return (job._ext or {}).get(PERILOG_ACTIVE, 0)


def apply(job, entry):
    """Apply one eventlog entry to ``job`` (RFC 21 transitions).

    :param entry: ``{"timestamp", "name", "context"}``.
    :returns: the new state when the event moved the job, else None.
    :raises fluxd.errors.InvalidArgument: for an event the job's state
        does not accept (a corrupt or foreign eventlog).
    """
    name = entry["name"]
    ctx = entry.get("context") or {}
    ts = entry["timestamp"]
    state = job.state
    new = None
    if name == "submit":
        if job.eventlog_seq != 0:
            raise InvalidArgument("submit must be the first event")
        job.urgency = ctx.get("urgency", job.urgency)
        job.userid = ctx.get("userid", job.userid)
        job.flags = ctx.get("flags", job.flags)
        job.t_submit = ts
    elif name == "validate":
        new = _require(state, NEW, name) and DEPEND
    elif name == "invalidate":
        new = INACTIVE
    elif name in ("dependency-add", "dependency-remove"):
        _require(state, NEW | DEPEND, name)
        deps = job.dependencies if job.dependencies is not None else []
        desc = ctx.get("description")
        if name == "dependency-add" and desc not in deps:
            deps.append(desc)
        elif name == "dependency-remove" and desc in deps:
            deps.remove(desc)
        job.dependencies = deps
    elif name == "depend":
        new = _require(state, DEPEND, name) and PRIORITY
    elif name == "priority":
        _require(state, PRIORITY | SCHED, name)
        job.priority = ctx.get("priority")
        if state == PRIORITY:
            new = SCHED
    elif name == "urgency":
        job.urgency = ctx.get("urgency", job.urgency)
        if state == SCHED:
            new = PRIORITY
    elif name in ("jobspec-update", "flux-restart"):
        if name == "jobspec-update":
            apply_update(job, name, ctx)
        if state == SCHED:
            new = PRIORITY
    elif name == "alloc":
        _require(state, SCHED, name)
        job.has_resources = True
        annotations = ctx.get("annotations")
        if annotations:
            job.annotations = annotations
        new = RUN
    elif name == "exception":
        severity = ctx.get("severity", 0)
        if severity == 0 and state not in (NEW, INACTIVE, CLEANUP):
            new = CLEANUP
        # job-list keeps the most severe (lowest number), the first of
        # equals: the first fatal one is the job's root cause
        if not job.exception_occurred or severity < job.exception_severity:
            job.exception_occurred = True
            job.exception_severity = severity
            job.exception_type = ctx.get("type")
            job.exception_note = ctx.get("note", "")
    elif name == "finish":
        _require(state, RUN | CLEANUP, name)
        job.waitstatus = ctx.get("status")
        if state == RUN:
            new = CLEANUP
    elif name == "start":
        job.start_sent = True
    elif name == "free":
        job.has_resources = False
    elif name in ("prolog-start", "epilog-start"):
        job.ext()[PERILOG_ACTIVE] = perilog_active(job) + 1
    elif name in ("prolog-finish", "epilog-finish"):
        job.ext()[PERILOG_ACTIVE] = max(0, perilog_active(job) - 1)
    elif name == "clean":
        new = _require(state, CLEANUP, name) and INACTIVE
    elif name == "set-flags":
        for flag in ctx.get("flags", []):
            if flag in FLAG_NAMES:
                job.flags |= FLAG_NAMES[flag]
            elif isinstance(flag, str):
                # the job manager's own marks (immutable, alloc-bypass)
                job.ext()[flag] = True
    elif name == "resource-update":
        apply_update(job, name, ctx)
    elif name == "memo":
        # the job's user annotations (flux job memo): a null removes a key
        job.annotations = merge_annotations(job.annotations,
                                            {"user": ctx}) or None
    # counted once accepted: the entry's place in job.<id>.eventlog
    job.eventlog_seq += 1
    if new is not None and new != state:
        set_state(job, new, ts)
        return new
    return None


def apply_update(job, name, ctx):
    """The data of a ``jobspec-update`` (each dotted key of ``ctx`` set in
    a copy of the jobspec: copies of one J share theirs) or a
    ``resource-update`` (R's ``execution.expiration``).  A job whose
    jobspec or R is not loaded yet (a restart replays its eventlog first)
    gets them applied again once they are (:mod:`fluxd.job._restart`).
    """
    if name == "jobspec-update":
        if job.jobspec is None:
            return
        jobspec = copy.deepcopy(job.jobspec)
        for key, value in ctx.items():
            set_path(jobspec, key, value)
        job.set_jobspec(jobspec)
    elif name == "resource-update" and "expiration" in ctx:
        job.expiration = ctx["expiration"]
        if job.R is not None:
            execution = dict(job.R.get("execution") or {},
                             expiration=ctx["expiration"])
            job.R = dict(job.R, execution=execution)


def merge_annotations(current, update):
    """``current`` (a dict or None) updated by ``update`` as flux-core
    merges annotations, as a new dict (``current`` is left alone)."""
    result = dict(current) if isinstance(current, dict) else {}
    for key, value in update.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            inner = merge_annotations(result.get(key), value)
            if inner:
                result[key] = inner
            else:
                result.pop(key, None)
        else:
            result[key] = value
    return result


def set_path(obj, dotted, value):
    """``obj[a][b][c] = value`` for ``dotted == "a.b.c"`` (missing or
    non-object intermediates become objects)."""
    *parents, last = dotted.split(".")
    for part in parents:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    obj[last] = value


def has_flag(job, name):
    """True once ``set-flags`` gave ``job`` the mark ``name``
    (``immutable``: the owner updated it past validation;
    ``alloc-bypass``: its R did not come from the scheduler)."""
    return bool(job._ext and job._ext.get(name))


def _require(state, allowed, name):
    if not state & allowed:
        raise InvalidArgument(f"event {name} is not valid in state"
                              f" {STATE_NAMES.get(state, state)}")
    return True


def parse_states(text):
    """A state mask from ``"pending,run"``-style text.

    :raises fluxd.errors.InvalidArgument: ``Invalid state X specified``.
    """
    mask = 0
    for word in text.split(","):
        word = word.strip().lower()
        if word not in STATE_WORDS:
            raise InvalidArgument(f"Invalid state {word} specified")
        mask |= STATE_WORDS[word]
    return mask


def job_key(jobid):
    """``job.XXXX.XXXX.XXXX.XXXX``: the job's KVS directory."""
    return (f"job.{(jobid >> 48) & 0xFFFF:04x}.{(jobid >> 32) & 0xFFFF:04x}."
            f"{(jobid >> 16) & 0xFFFF:04x}.{jobid & 0xFFFF:04x}")
