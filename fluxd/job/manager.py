# -*- test-case-name: tests.unit.job.test_manager -*-
"""The job manager: every job's RFC 21 state, kept in the KVS.

Each job is a :class:`fluxd.job.jobs.Job` record, changed only by posting
an event (:meth:`JobManagerService.post`): the event is applied to the
record (:func:`fluxd.job.jobs.apply`), appended to ``job.<id>.eventlog``
through the shared :class:`~fluxd.job.kvsbatch.KVSBatcher` (many jobs'
events in one commit), and the job's new state acted on at once:

- DEPEND: ``depend`` once no dependency is left (jobtap plugins add and
  remove them, :mod:`.jobtap`);
- PRIORITY: ``priority`` from the jobtap priority plugin (builtin
  ``.priority-default``: the urgency; 0 when held, the maximum when
  expedited);
- SCHED: an alloc request to the scheduler (RFC 27, :mod:`._schedlink`);
- RUN: a start request to the exec service (RFC 32, :mod:`._execlink`);
- CLEANUP: withdraw the alloc or wait for the shells, ``free`` the
  resources, ``clean``;
- INACTIVE: answer ``job-manager.wait``, count for purging.

Clients are answered, and observers (job-list readers, the events
journal, ``flux job wait``) told, only once the events are durable.  At
start every job is rebuilt from its eventlog (:mod:`._restart`).  The
queue's requests (with drain and idle) are in :mod:`._queue` and
:mod:`._drain`, waiting in :mod:`._wait`, the events journal in
:mod:`._journal`, memos (``flux job memo``) in :mod:`._memo`.
"""

import errno
import json
import sys
from collections import deque

from twisted.internet import defer, task
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.config import parse_duration_key
from fluxd.errors import (
    FluxError, InvalidArgument, NotFound, ProtocolError)
from fluxd.formats.idset import IDset
from fluxd.formats.jsonenc import compact
from fluxd.interfaces import (
    IEvents, IFinalizeStep, IJobSubmit, IJobTable, IKVS, IReconfigurable,
    IRouter, provide)
from fluxd.job import jobs as J
from fluxd.job._control import ControlMethods
from fluxd.job._drain import DrainWaiters
from fluxd.job._execlink import ExecLink
from fluxd.job._housekeeping import Housekeeping, HousekeepingMethods
from fluxd.job._journal import Journal
from fluxd.job._jobq import QueueSet
from fluxd.job._jobtaprpc import JobtapMethods
from fluxd.job._memo import MemoMethods
from fluxd.job._purge import PurgeMethods
from fluxd.job._queue import QueueMethods
from fluxd.job._schedlink import SchedLink
from fluxd.job._update import UpdateMethods
from fluxd.job._wait import NOT_WAITABLE, WaitMethods
from fluxd.job.jobs import job_key
from fluxd.job.jobtap import JobtapHost
from fluxd.job.kvsbatch import KVSBatcher
from fluxd.message.router import Credential, method
from fluxd.message.types import ROLE_OWNER, ROLE_USER
from fluxd.module import Module

__all__ = ["JobManagerService", "job_key", "CHECKPOINT_KEY"]

CHECKPOINT_KEY = "checkpoint.job-manager"
#: rc3 waits at most this long for the checkpoint (seconds)
_FINALIZE_WAIT = 10.0
_PURGE_PERIOD = 5.0
_PERILOG_FINISH = ("prolog-finish", "epilog-finish")
#: ``json.dumps(obj, separators=(",", ":"), ensure_ascii=False)``, its
#: encoder built once (json.dumps builds one a call)
_context_dumps = compact(ensure_ascii=False)


def _line(entry):
    """One eventlog line, as ``json.dumps`` would write it (compact, keys
    in order), assembled by hand: most events have no context."""
    context = entry.get("context")
    head = f'{{"timestamp":{entry["timestamp"]!r},"name":"{entry["name"]}"'
    if context is None:
        return (head + "}\n").encode("utf-8")
    return (head + ',"context":' + _context_dumps(context) + "}\n"
            ).encode("utf-8")



@implementer(IJobTable, IJobSubmit, IFinalizeStep, IReconfigurable)
class JobManagerService(QueueMethods, WaitMethods, JobtapMethods,
                        UpdateMethods, ControlMethods, PurgeMethods,
                        HousekeepingMethods, MemoMethods, Module):
    """The ``job-manager`` service (rank 0).

    :param clock: IReactorTime (event timestamps, purge timer).
    :param router: the broker's router (scheduler and exec requests).
    :param kvs: the broker's KVS (eventlogs, checkpoint).
    :param events: the broker's events (``job-exception``, kills, purges).
    :param config: the broker's :class:`fluxd.config.Config`.
    :param safe_mode: the :class:`fluxd.admin.startlog.SafeMode`, or None.
    :param expiration: returns the instance's own expiration (epoch
        seconds, 0: none; ``.validate-duration``); None: it has none.
    """

    name = "job-manager"
    log = Logger()

    def __init__(self, clock, router, kvs, events, config, safe_mode=None,
                 expiration=None):
        super().__init__(0)
        self._clock = clock
        self.router = provide(IRouter, router)
        self.kvs = provide(IKVS, kvs)
        self.events = provide(IEvents, events)
        self._config = config
        self._safe_mode = safe_mode
        self.batcher = KVSBatcher(clock, kvs, router.instance_cred,
                                  on_durable=self._durable)
        self.sched = SchedLink(router, self)
        self.exec = ExecLink(router, self)
        self.housekeeping = Housekeeping(self, clock, config)
        self.queues = QueueSet(config, safe_mode)
        self._expiration = expiration
        self.jobtap = JobtapHost(self, config.as_dict())
        self._jobs = {}
        self._inactive = deque()
        self._observers = []
        #: told each job's J once it is durable (``remember(id, J)``) and
        #: the jobs that end (``forget(id)``): the exec service's
        #: :class:`~fluxd.exec._readahead.JReadAhead`, set by the broker
        self.known_J = None
        self._journals = []
        self._drains = DrainWaiters(self)
        self._waiters = {}
        self._any_waiters = []
        self._unwaited = deque()
        self.max_jobid = 0
        self._purge_timer = None
        self._read_limits(config)
        self.stats = {"submitted": 0, "events": 0}

    @method("stats-get", roles=ROLE_USER)
    def flux_stats_get(self, request):
        """Counters, with ``commits``: the KVS transactions that carried
        job data (eventlogs, J, jobspec, the checkpoint, purges)."""
        return dict(self.stats, commits=self.batcher.commits,
                    housekeeping=self.housekeeping.stats())

    # -- lifecycle ---------------------------------------------------------

    def startService(self):
        super().startService()
        self.jobtap.configure_from(self._config)
        from fluxd.job._restart import restart
        d = defer.Deferred.fromCoroutine(restart(self))
        # what the restart posted is durable before clients can connect
        d.addCallback(lambda _: self.batcher.flush())
        d.addCallback(lambda _: self._start_purge_timer())
        return d

    def finalize(self):
        """rc3 (:class:`~fluxd.interfaces.IFinalizeStep`): the checkpoint,
        made durable before the KVS dump of ``flux shutdown --gc``, so
        that the dump is the KVS's final state (the same checkpoint
        written again at stop changes nothing).

        :returns: a Deferred firing with 0, at the latest after
            :data:`_FINALIZE_WAIT` seconds.
        """
        self.write_checkpoint()
        return self._flush_for("rc3").addCallback(lambda _: 0)

    def stopService(self):
        super().stopService()
        if self._purge_timer is not None and self._purge_timer.running:
            self._purge_timer.stop()
        self._drains.stop()
        self.housekeeping.stop()
        self.write_checkpoint()
        return self._flush_for("stop")

    def _flush_for(self, when):
        """The batcher's flush, given up after :data:`_FINALIZE_WAIT`
        seconds: a KVS that refuses writes (a full disk) makes the batch
        retry forever, and must not keep the broker from stopping."""
        done = defer.Deferred()

        def finish(_result):
            if timer.active():
                timer.cancel()
            if not done.called:
                done.callback(None)

        def timed_out():
            self.log.warn("job-manager: {n} KVS operations not durable after"
                          " {secs}s ({when})", n=self.batcher.pending,
                          secs=_FINALIZE_WAIT, when=when)
            if not done.called:
                done.callback(None)
        timer = self._clock.callLater(_FINALIZE_WAIT, timed_out)
        self.batcher.flush().addBoth(finish)
        return done

    def instance_expiration(self):
        """The instance's own expiration (epoch seconds; 0: none)."""
        return self._expiration() if self._expiration is not None else 0.0

    def _read_limits(self, config):
        self.age_limit = None
        if config.is_set("job-manager.inactive-age-limit"):
            self.age_limit = parse_duration_key(
                config, "job-manager.inactive-age-limit")
        self.num_limit = config.get("job-manager.inactive-num-limit", None)

    def _start_purge_timer(self):
        if self.age_limit is None and self.num_limit is None:
            return
        self._purge_timer = task.LoopingCall(self._purge_by_policy)
        self._purge_timer.clock = self._clock
        self._purge_timer.start(_PURGE_PERIOD, now=True)

    def write_checkpoint(self):
        """Queue ``checkpoint.job-manager`` (max job id, queue state)."""
        self.batcher.put_value(CHECKPOINT_KEY, json.dumps(
            {"version": 1, "max_jobid": self.max_jobid,
             "queues": self.queues.checkpoint()}).encode())

    # -- IJobTable ---------------------------------------------------------

    def get(self, jobid):
        return self._jobs.get(jobid)

    def jobs(self):
        return self._jobs.values()

    def durable(self):
        return self.batcher.flush()

    def add_observer(self, callback):
        self._observers.append(callback)

        def remove():
            if callback in self._observers:
                self._observers.remove(callback)
        return remove

    def active_count(self):
        """How many jobs are not INACTIVE."""
        return len(self._jobs) - len(self._inactive)

    def _durable(self, notes):
        # notes: (job, entry, place of the entry in the job's eventlog)
        for callback in list(self._observers):
            for job, entry, _ in notes:
                try:
                    callback(job, entry)
                except Exception:
                    self.log.failure("job observer failed")
        if self._journals:
            batch = {"events": [{"id": job.id, "entry": entry}
                                for job, entry, _ in notes]}
            for journal in list(self._journals):
                journal.deliver(batch, notes)
        for job, entry, _ in notes:
            if job.state == J.INACTIVE and entry["name"] in ("clean",
                                                             "invalidate"):
                self._became_inactive(job)
        self._drains.check()

    # -- submission (called by job-ingest) ----------------------------------

    def check_submit(self):
        """Refuse submissions while the anonymous queue is disabled (named
        queues are checked per job: :meth:`check_job`).

        :raises fluxd.errors.FluxError: flux's wording, EINVAL.
        """
        anon = self.queues.anon
        if not self.queues.have_named and not anon.enable:
            raise InvalidArgument(
                f"job submission is disabled: {anon.disable_reason}")

    def submit(self, prepared):
        """Store new jobs and start them once they are durable.

        :param prepared: dicts with ``id userid urgency flags t_submit J
            jobspec`` (the redacted jobspec dict) and ``jobspec_text``.
        :returns: a Deferred firing once J, jobspec and the ``submit``
            event of every job are durable, with ``{id: message}`` of the
            jobs jobtap plugins rejected; the others then proceed.
        """
        self.check_submit()
        new = []
        for p in prepared:
            job = J.Job(p["id"], p["userid"], p["urgency"], p["t_submit"],
                        p["flags"], jobspec=p["jobspec"])
            key = job_key(job.id)
            self.batcher.put_value(f"{key}.J", p["J"].encode())
            self.batcher.put_value(f"{key}.jobspec", p["jobspec_text"])
            entry = {"timestamp": p["t_submit"], "name": "submit",
                     "context": {"urgency": job.urgency, "userid": job.userid,
                                 "flags": job.flags, "version": 1}}
            J.apply(job, entry)
            self.batcher.append(f"{key}.eventlog", _line(entry),
                                note=(job, entry, job.eventlog_seq))
            self.max_jobid = max(self.max_jobid, job.id)
            new.append((job, p["J"]))
        d = self.batcher.flush()
        d.addCallback(self._admit, new)
        return d

    def _admit(self, _, new):
        rejected = {}
        known = self.known_J
        for job, signed in new:
            self._jobs[job.id] = job
            if known is not None:
                known.remember(job.id, signed)
            self.stats["submitted"] += 1
            if job.waitable:
                self._unwaited.append(job.id)
            # jobtap job.create/validate/dependency.*/new may reject it
            error = self.jobtap.admit(job)
            if error is None:
                self.post(job, "validate")
            else:
                rejected[job.id] = error
                self.post(job, "invalidate")
        return rejected

    # -- events ---------------------------------------------------------------

    def post(self, job, name, context=None):
        """Post event ``name`` to ``job``: apply it, log it, act on it."""
        entry = {"timestamp": self._clock.seconds(), "name": name}
        if context is not None:
            entry["context"] = context
        try:
            new = J.apply(job, entry)
        except InvalidArgument as exc:
            self.log.error("job {id}: event {name} refused: {why}",
                           id=job.id, name=name, why=exc)
            return
        self.stats["events"] += 1
        self.batcher.append(f"{job_key(job.id)}.eventlog", _line(entry),
                            note=(job, entry, job.eventlog_seq))
        if job.id in self.jobtap.subscribed:
            self.jobtap.on_event(job, name, entry)
        if new is not None:
            self._act(job, new)
        elif name in _PERILOG_FINISH and not J.perilog_active(job):
            # the last prolog/epilog done: the start or the free it held
            if job.state == J.RUN and not job.start_sent \
                    and not self.exec.is_running(job):
                self.exec.start(job)
            elif job.state == J.CLEANUP:
                self._cleanup(job)

    def _act(self, job, state):
        if state == J.PRIORITY:
            priority = self.jobtap.priority(job)
            if priority is not None and job.state == J.PRIORITY:
                self.post(job, "priority", {"priority": priority})
            return
        self.jobtap.on_state(job, state)
        if job.state != state:
            return  # a plugin raised a fatal exception
        if state == J.DEPEND:
            if not job.dependencies:
                self.post(job, "depend")
        elif state == J.SCHED:
            self.sched.enqueue(job)
        elif state == J.RUN:
            if not J.perilog_active(job):    # else at prolog-finish
                self.exec.start(job)
        elif state == J.CLEANUP:
            self._cleanup(job)
        elif state == J.INACTIVE:
            if self.known_J is not None:
                self.known_J.forget(job.id)
            self._inactive.append(job)
            self.jobtap.on_inactive_add(job)

    def raise_exception(self, job, type, severity, note="", userid=None):
        """Post an ``exception`` and tell the exec service (``job-exception``
        event)."""
        context = {"type": type, "severity": severity}
        if userid is not None:
            context["userid"] = userid
        context["note"] = note or ""
        self.post(job, "exception", context)
        self.events.publish("job-exception",
                            {"id": job.id, "type": type, "severity": severity},
                            cred=Credential(job.userid, ROLE_OWNER),
                            private=True)

    def annotate(self, job, annotations):
        """Merge scheduler annotations (RFC 27): objects merge
        recursively, a null deletes its key (new or not), an object left
        empty goes, and no annotations at all is None.  The merged value
        is a new object: the one an ``alloc`` event carries never
        changes."""
        if not isinstance(annotations, dict):
            return
        job.annotations = J.merge_annotations(job.annotations,
                                              annotations) or None

    def clear_annotations(self, job, key=None):
        """Forget ``job``'s annotations, or only those under ``key`` (an
        alloc denied or withdrawn, as flux-core)."""
        if key is None or not job.annotations:
            job.annotations = None
        else:
            job.annotations = J.merge_annotations(job.annotations,
                                                  {key: None}) or None

    # -- scheduler and exec outcomes ----------------------------------------------

    def alloc_success(self, job, R, annotations):
        """The scheduler allocated ``job`` (R already in the KVS)."""
        if R is None:
            self._fetch_R(job, annotations)
            return
        job.R = R
        _summarize_R(job, R)
        if annotations:
            self.annotate(job, annotations)
        if job.state == J.SCHED:
            if job.flags & J.FLAG_DEBUG:
                self.post(job, "debug.alloc-success")
            # the merged annotations, as flux-core's alloc event
            self.post(job, "alloc", {"annotations": job.annotations}
                      if job.annotations else None)
        else:
            # canceled while the alloc was in flight: give them back
            job.has_resources = True
            self._cleanup(job)

    def _fetch_R(self, job, annotations):
        d = self.kvs.lookup("primary", f"{job_key(job.id)}.R",
                            cred=self.router.instance_cred)

        def got(obj):
            from fluxd.storage import treeobj as T
            self.alloc_success(job, json.loads(T.decode_val(obj)),
                               annotations)

        def failed(failure):
            self.log.error("job {id}: alloc success but R unreadable: {why}",
                           id=job.id, why=failure.getErrorMessage())
            self.raise_exception(job, "alloc", 0, "R could not be read")
        d.addCallbacks(got, failed)

    def alloc_canceled(self, job):
        """An alloc request was withdrawn (or lost with its scheduler)."""
        if job.state == J.SCHED:
            self.clear_annotations(job, "sched")
            self.sched.enqueue(job)
        else:
            self.clear_annotations(job)
            if job.state == J.CLEANUP:
                self._cleanup(job)
        self._drains.check()

    def exec_done(self, job):
        """The exec service released every rank of ``job``."""
        if job.state == J.RUN:
            self.raise_exception(job, "exec", 0,
                                 "exec service ended without finish")
        elif job.state == J.CLEANUP:
            self._cleanup(job)

    def _cleanup(self, job):
        if job.state != J.CLEANUP:
            return
        if job.alloc_pending:
            self.sched.cancel(job)
            return
        if self.exec.is_running(job):
            return
        if J.perilog_active(job):
            return      # again at the last prolog-finish/epilog-finish
        if job.has_resources and not job.ext().get(J.EPILOG_READY):
            # once per job, when its shells and prolog are gone:
            # perilog.so's epilog
            job.ext()[J.EPILOG_READY] = True
            self.jobtap.call("job.epilog-ready", job)
            if job.state != J.CLEANUP or J.perilog_active(job):
                return
        if job.has_resources:
            if J.has_flag(job, "alloc-bypass"):
                self.post(job, "free")     # the scheduler never had them
            else:
                if job.flags & J.FLAG_DEBUG:
                    self.post(job, "debug.free-request")
                # the free event first: the scheduler may hand the
                # resources to another job at once, whose alloc must come
                # after it
                self.post(job, "free")
                # housekeeping holds them, when configured, until it is done
                if not self.housekeeping.start(job, job.R):
                    self.sched.free(job, job.R)
        self.post(job, "clean")

    # -- RPC: job control -------------------------------------------------------

    def _job(self, body, wait=False):
        jobid = body.get("id")
        if not isinstance(jobid, int) or isinstance(jobid, bool):
            raise FluxError("job id must be an integer", errnum=errno.EPROTO)
        job = self._jobs.get(jobid)
        if job is None:
            if wait:
                raise FluxError(NOT_WAITABLE, errnum=errno.ECHILD)
            raise NotFound("unknown job id")
        return job

    @method("getinfo", roles=ROLE_USER)
    def rpc_getinfo(self, request):
        """``{max_jobid}``."""
        return {"max_jobid": self.max_jobid}

    # -- RPC: scheduler and exec --------------------------------------------------

    @method("sched-hello", streaming=True)
    def rpc_sched_hello(self, request):
        """RFC 27 hello: one response per job holding resources."""
        self.sched.hello()
        for job in list(self._jobs.values()):
            if job.has_resources and not J.has_flag(job, "alloc-bypass"):
                request.respond({"id": job.id, "priority": job.priority,
                                 "userid": job.userid,
                                 "t_submit": job.t_submit})
        # resources housekeeping still holds are the scheduler's too
        for job in self.housekeeping.hello_jobs():
            request.respond({"id": job.id, "priority": job.priority,
                             "userid": job.userid, "t_submit": job.t_submit})
        return None

    @method("sched-ready")
    def rpc_sched_ready(self, request):
        """RFC 27 ready ``{mode, limit?}`` -> ``{count}``."""
        body = request.json()
        mode, limit = body.get("mode"), body.get("limit")
        if mode not in ("limited", "unlimited"):
            raise InvalidArgument("mode must be limited or unlimited")
        if mode == "limited" and not (isinstance(limit, int)
                                      and 0 < limit < 2**31):
            raise InvalidArgument("limit must be 1..2147483647")
        count = sum(1 for j in self._jobs.values() if j.state == J.SCHED)
        self.sched.set_ready(mode, limit)
        return {"count": count}

    @method("exec-hello")
    def rpc_exec_hello(self, request):
        """RFC 32 hello ``{service}``."""
        service = request.json().get("service")
        if not isinstance(service, str) or not service:
            raise InvalidArgument("service must be a non-empty string")
        self.exec.hello(service)
        return None

    @method("resource-status", roles=ROLE_USER)
    def rpc_resource_status(self, request):
        """``{allocated}``: the union of R held by jobs and by
        housekeeping, or null."""
        from fluxd.formats.rv1 import Rv1
        union = None
        held = [Rv1.decode(json.dumps(job.R)) for job in self._jobs.values()
                if job.has_resources and job.R]
        for R in held + self.housekeeping.held():
            union = R if union is None else union.union(R)
        return {"allocated": union.encode() if union is not None else None}

    @method("events-journal", streaming=True)
    def rpc_events_journal(self, request):
        """``{full?}``: the eventlog of every active job (every job with
        ``full``), ``{id: ANY, events: []}``, then every job event once
        durable, in batches (:mod:`fluxd.job._journal`)."""
        full = request.json().get("full", False)
        if not isinstance(full, bool):
            raise ProtocolError("full must be a boolean")
        journal = Journal(self, request)
        self._journals.append(journal)
        request.on_cancel(lambda: self.drop_journal(journal))
        journal.start(full)
        return journal.done

    def drop_journal(self, journal):
        """End a journal listener's stream."""
        if journal in self._journals:
            self._journals.remove(journal)
        if not journal.done.called:
            journal.done.callback(None)


def _summarize_R(job, R):
    execution = R.get("execution") or {}
    lite = execution.get("R_lite") or []
    ranks = [entry.get("rank", "") for entry in lite]
    if len(ranks) == 1:
        job.ranks = ranks[0]
    else:
        job.ranks = IDset(",".join(r for r in ranks if r)).encode()
    job.nnodes = len(IDset(job.ranks)) if job.ranks else 0
    nodelist = execution.get("nodelist") or []
    # shared between the records of jobs that ran on the same nodes
    job.ranks, job.nodelist = sys.intern(job.ranks), sys.intern(
        ",".join(nodelist))
    job.expiration = float(execution.get("expiration") or 0.0)
