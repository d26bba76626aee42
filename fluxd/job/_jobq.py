# -*- test-case-name: tests.unit.job.test_jobq -*-
"""The job queues of RFC 33: one anonymous queue, or the named queues of
``[queues.NAME]``.

Each queue has an *enable* flag (submission) and a *start* flag
(scheduling), each with a reason.  The anonymous queue starts enabled and
started; named queues start enabled and **stopped**, as in flux-core,
until ``flux queue start``.  The flags are kept in
``checkpoint.job-manager`` (``{"queues": {NAME: {...}}}``, the anonymous
queue under ``""``); ``flux queue stop --nocheckpoint`` changes the live
flag but not the one checkpointed.  At restart the checkpointed flags come
back, unless ``[job-manager] stop-queues-on-restart`` stops every queue
with ``Automatically stopped due to restart``, or the broker is in safe
mode.

:class:`QueueSet` also checks submissions (flux-core's messages), applies
``policy.jobspec.defaults.system.queue`` to a job that names none
(:meth:`QueueSet.apply_default_queue`), and adopts a reloaded config
whole or refuses it (a queue that still has jobs cannot be removed).
"""

from fluxd.errors import InvalidArgument

__all__ = ["Jobq", "QueueSet", "DEFAULT_DISABLE_REASON", "RESTART_REASON",
           "with_queue_requires"]

DEFAULT_DISABLE_REASON = "disabled by administrator"
RESTART_REASON = "Automatically stopped due to restart"


class Jobq:
    """One queue's flags.

    :param name: the queue's name, None for the anonymous queue.
    :param requires: the ``requires`` property list, or None.
    """

    def __init__(self, name=None, requires=None, parent=None):
        self.name = name
        self.requires = list(requires) if requires else None
        #: the parent queue's name of a virtual queue (RFC 33), or None
        self.parent = parent
        self.enable, self.disable_reason = True, None
        self.start = name is None
        self.stop_reason = None
        #: the start flag the checkpoint keeps (``--nocheckpoint``)
        self.checkpoint_start = self.start
        self.checkpoint_stop_reason = None
        self.checkpoint_enable, self.checkpoint_disable_reason = True, None

    def set_enable(self, enable, reason=None, nocheckpoint=False):
        """Enable or disable submission."""
        self.enable = enable
        self.disable_reason = None if enable else (reason or
                                                   DEFAULT_DISABLE_REASON)
        if not nocheckpoint:
            self.checkpoint_enable = enable
            self.checkpoint_disable_reason = self.disable_reason

    def set_start(self, start, reason=None, nocheckpoint=False):
        """Start or stop scheduling."""
        self.start = start
        self.stop_reason = None if start else reason
        if not nocheckpoint:
            self.checkpoint_start = start
            self.checkpoint_stop_reason = self.stop_reason

    def status(self):
        """The ``job-manager.queue-status`` fields of flux-core."""
        answer = {"enable": self.enable, "start": self.start}
        if not self.enable:
            answer["disable_reason"] = self.disable_reason
        if not self.start and self.stop_reason is not None:
            answer["stop_reason"] = self.stop_reason
        return answer

    def saved(self):
        """This queue's entry in the checkpoint."""
        entry = {"enable": self.checkpoint_enable,
                 "start": self.checkpoint_start}
        if not self.checkpoint_enable:
            entry["disable_reason"] = self.checkpoint_disable_reason
        if not self.checkpoint_start and self.checkpoint_stop_reason:
            entry["stop_reason"] = self.checkpoint_stop_reason
        return entry

    def restore(self, entry):
        """Take back the flags of a checkpoint entry (bad fields ignored)."""
        if not isinstance(entry, dict):
            return
        if entry.get("enable") is False:
            reason = entry.get("disable_reason")
            self.set_enable(False, reason if isinstance(reason, str)
                            else None)
        elif entry.get("enable") is True:
            self.set_enable(True)
        if isinstance(entry.get("start"), bool):
            reason = entry.get("stop_reason")
            self.set_start(entry["start"], reason if isinstance(reason, str)
                           else None)


def with_queue_requires(jobspec, requires):
    """The jobspec the scheduler is asked to allocate: ``jobspec`` with its
    queue's ``requires`` properties in ``attributes.system.constraints``,
    so that a queue's jobs run only on its nodes (RFC 33).  A jobspec
    whose constraints already require them (flux's ``constraints``
    frobnicator adds them at ingest) is returned as it is; otherwise a
    copy ANDs them in.  The stored jobspec is never changed.
    """
    if not requires or not isinstance(jobspec, dict):
        return jobspec
    system = (jobspec.get("attributes") or {}).get("system") or {}
    current = system.get("constraints")
    if isinstance(current, dict):
        have = current.get("properties")
        if isinstance(have, list) and set(requires) <= set(have):
            return jobspec
        terms = [c for c in (current.get("and") or []) if isinstance(c, dict)]
        if any(set(requires) <= set(c.get("properties") or ()) for c in terms):
            return jobspec
    wanted = {"properties": list(requires)}
    constraints = {"and": [current, wanted]} if current else wanted
    attributes = dict(jobspec.get("attributes") or {})
    attributes["system"] = dict(system, constraints=constraints)
    return dict(jobspec, attributes=attributes)


def _queue_table(config):
    """``{name: entry}`` of ``[queues]`` (empty without named queues)."""
    queues = config.get("queues", {}) or {}
    return queues if isinstance(queues, dict) else {}


def default_queue_of(config):
    """``policy.jobspec.defaults.system.queue``, or None."""
    value = config.get("policy.jobspec.defaults.system.queue", None)
    return value if isinstance(value, str) else None


class QueueSet:
    """The instance's queues.

    :param config: the broker's :class:`fluxd.config.Config`.
    :param safe_mode: the broker's :class:`fluxd.admin.startlog.SafeMode`
        (kept in step, for ``flux uptime``), or None.
    """

    def __init__(self, config, safe_mode=None):
        self._safe_mode = safe_mode
        self.anon = Jobq()
        self.named = {}
        self.default = None
        self._adopt(config)

    # -- configuration --------------------------------------------------------

    def _adopt(self, config):
        table = _queue_table(config)
        named = {}
        for name in sorted(table):
            entry = table[name] if isinstance(table[name], dict) else {}
            old = self.named.get(name)
            parent = entry.get("parent")
            if old is not None:
                old.requires = list(entry["requires"]) \
                    if entry.get("requires") else None
                old.parent = parent
                named[name] = old
            else:
                named[name] = Jobq(name, entry.get("requires"), parent)
        if not named and self.named:
            self.anon = Jobq()
        self.named = named
        self.default = default_queue_of(config) if named else None

    def check_reconfigure(self, config, jobs):
        """Refuse a config that removes a queue that still has jobs.

        :param jobs: the active jobs (anything with ``queue``).
        :raises InvalidArgument: naming the queue.
        """
        table = _queue_table(config)
        busy = {job.queue for job in jobs}
        if table:
            gone = sorted(q for q in self.named
                          if q not in table and q in busy)
        else:
            gone = sorted(q for q in self.named if q in busy)
        if gone:
            raise InvalidArgument(
                f"queue {', '.join(gone)} cannot be removed: it still has"
                " active jobs")
        if table and not self.named and any(
                job.queue not in table for job in jobs):
            raise InvalidArgument(
                "named queues cannot be configured while jobs of the"
                " anonymous queue are active")

    def reconfigure(self, config, jobs):
        """Check then adopt ``config`` (all or nothing)."""
        self.check_reconfigure(config, jobs)
        self._adopt(config)

    # -- lookups --------------------------------------------------------------

    @property
    def have_named(self):
        """True when ``[queues]`` defines queues."""
        return bool(self.named)

    def names(self):
        """The named queues' names, sorted."""
        return list(self.named)

    def queues(self):
        """Every queue (the anonymous one alone when none is named)."""
        return list(self.named.values()) if self.named else [self.anon]

    def lookup(self, name):
        """The queue called ``name`` (None: the anonymous queue).

        :raises InvalidArgument: ``'X' is not a valid queue`` or ``a named
            queue is required`` (flux-core's wording).
        """
        if name is not None:
            q = self.named.get(name)
            if q is None:
                raise InvalidArgument(f"'{name}' is not a valid queue")
            return q
        if self.named:
            raise InvalidArgument("a named queue is required")
        return self.anon

    def parent_of(self, q):
        """The parent :class:`Jobq` of a virtual queue, or None."""
        return self.named.get(q.parent) if q.parent else None

    def requires_of(self, job):
        """The effective ``requires`` list of ``job``'s queue (a virtual
        queue's are its parent's), or None."""
        q = self.named.get(job.queue) if job.queue else None
        if q is None:
            return None
        parent = self.parent_of(q)
        return q.requires or (parent.requires if parent is not None
                              else None)

    def started(self, job):
        """Whether ``job``'s queue is started (an unknown queue is not; a
        virtual queue only while its parent is started too)."""
        if not self.named:
            return self.anon.start
        q = self.named.get(job.queue) if job.queue else None
        if q is None or not q.start:
            return False
        parent = self.parent_of(q)
        return parent is None or parent.start

    def covered(self, names):
        """``names`` of stopped queues and of their virtual queues (whose
        jobs are scheduled as part of their parent's)."""
        return set(names) | {q.name for q in self.named.values()
                             if q.parent in names}

    def status(self, q):
        """``queue-status`` of ``q``: its flags, with ``parent`` and
        ``blocked: parent`` for a virtual queue whose parent is stopped."""
        answer = q.status()
        parent = self.parent_of(q)
        if parent is not None:
            answer["parent"] = parent.name
            if q.start and not parent.start:
                answer["blocked"] = "parent"
        return answer

    # -- submission -----------------------------------------------------------

    def apply_default_queue(self, jobspec):
        """Set ``attributes.system.queue`` of a job that names none to
        ``policy.jobspec.defaults.system.queue`` (flux-core's ``defaults``
        frobnicator does this in job-ingest).

        :returns: True if ``jobspec`` was changed.
        """
        if not self.named or self.default is None:
            return False
        system = jobspec.setdefault("attributes", {}).setdefault("system", {})
        if system.get("queue") is not None:
            return False
        system["queue"] = self.default
        return True

    def check_submit(self, jobspec):
        """Refuse a job for a queue that does not exist or is disabled.

        :raises InvalidArgument: flux-core's messages.
        """
        system = (jobspec.get("attributes") or {}).get("system") or {}
        name = system.get("queue")
        if name is not None and not isinstance(name, str):
            raise InvalidArgument("attributes.system.queue must be a string")
        q = self.lookup(name)
        parent = self.parent_of(q)
        # a virtual queue takes no job while its parent takes none
        closed = q if not q.enable else parent if parent is not None \
            and not parent.enable else None
        if closed is not None:
            where = f" to {name}" if name else ""
            raise InvalidArgument(f"job submission{where} is disabled:"
                                  f" {closed.disable_reason}")

    # -- control --------------------------------------------------------------

    def select(self, name, all_queues):
        """The queues a ``queue-enable``/``queue-start`` request names.

        :raises InvalidArgument: flux-core's messages.
        """
        if name is not None:
            if not isinstance(name, str):
                raise InvalidArgument("name must be a string")
            return [self.lookup(name)]
        if self.named and not all_queues:
            raise InvalidArgument("Use --all to apply this command to all"
                                  " queues")
        return self.queues()

    def set_enable(self, queues, enable, reason=None, nocheckpoint=False):
        """Enable or disable ``queues``."""
        for q in queues:
            q.set_enable(enable, reason, nocheckpoint)
        if enable and self._safe_mode is not None:
            self._safe_mode.enable_submit()

    def set_start(self, queues, start, reason=None, nocheckpoint=False):
        """Start or stop ``queues``."""
        for q in queues:
            q.set_start(start, reason, nocheckpoint)
        if start and self._safe_mode is not None:
            self._safe_mode.start_scheduling()

    # -- checkpoint -----------------------------------------------------------

    def checkpoint(self):
        """What ``checkpoint.job-manager`` keeps: ``{name: entry}`` (the
        anonymous queue's name is the empty string)."""
        if self.named:
            return {name: q.saved() for name, q in self.named.items()}
        return {"": self.anon.saved()}

    def restore(self, saved, stop_on_restart=False):
        """Take back checkpointed flags (queues no longer configured are
        forgotten), then apply ``stop-queues-on-restart`` and safe mode."""
        saved = saved if isinstance(saved, dict) else {}
        if self.named:
            for name, q in self.named.items():
                q.restore(saved.get(name))
        else:
            self.anon.restore(saved.get(""))
        if stop_on_restart:
            for q in self.queues():
                q.set_start(False, RESTART_REASON)
        if self._safe_mode is not None and self._safe_mode.active:
            reason = self._safe_mode.reason
            for q in self.queues():
                q.set_enable(False, reason)
                q.set_start(False, reason)
