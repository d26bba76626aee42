# -*- test-case-name: tests.unit.job.test_jobtap -*-
"""The jobtap API a plugin receives (:class:`Plugin`), the error that
rejects a job (:class:`JobtapError`) and a callback's job arguments
(:func:`job_args`); the host and dispatch are in :mod:`fluxd.job.jobtap`.
"""

from twisted.logger import Logger

from fluxd.job import jobs as J

__all__ = ["JobtapError", "Plugin", "job_args"]


class JobtapError(Exception):
    """Raised by a callback to reject a job (or refuse an operation) with
    a one-line message."""


class Plugin:
    """The handle a plugin receives: its name, its ``conf`` and the jobtap
    API of the job manager.

    :param host: the :class:`JobtapHost`.
    :param name: the plugin's name.
    :param conf: its configuration (a dict).
    :param path: the file it came from (None for a builtin).
    """

    def __init__(self, host, name, conf=None, path=None):
        self.host = host
        self.name = name
        self.conf = conf or {}
        self.path = path
        self.handlers = []
        self.query = None
        #: what the plugin keeps between callbacks (its parsed config...)
        self.data = {}
        self.log = Logger(namespace=f"jobtap.{name}")

    def register(self, topic, callback):
        """Call ``callback(p, topic, args)`` for ``topic`` (may be a glob;
        ``plugin.query`` answers ``flux jobtap query``)."""
        if topic == "plugin.query":
            self.query = callback
        else:
            self.handlers.append((topic, callback))
        self.host.forget()

    def service_register(self, method, callback):
        """Answer ``job-manager.NAME.METHOD`` (NAME: the plugin's name
        without its dot) with ``callback(p, request)``; only the methods
        the job manager declares (:mod:`fluxd.job._jobtaprpc`) reach it.
        """
        self.host.services[f"{self.name.lstrip('.')}.{method}"] = \
            (self, callback)

    @property
    def clock(self):
        """The job manager's IReactorTime."""
        return self.host.manager._clock

    def expiration(self):
        """The instance's own expiration (epoch seconds; 0: none)."""
        return self.host.manager.instance_expiration()

    def job(self, jobid):
        """The job record ``jobid``; :class:`JobtapError` when unknown."""
        job = self.host.manager.get(jobid)
        if job is None:
            raise JobtapError("job not found")
        return job

    def job_lookup(self, jobid):
        """The callback arguments of job ``jobid``, or None if unknown."""
        job = self.host.manager.get(jobid)
        return None if job is None else job_args(job)

    def job_event_posted(self, jobid, name):
        """True if ``alloc`` or ``start`` was posted to job ``jobid``."""
        job = self.job(jobid)
        if name == "alloc":
            return job.t_run > 0
        if name == "start":
            return bool(job.start_sent)
        raise JobtapError(f"event {name} is not tracked")

    def job_dependency_add(self, jobid, description):
        """Post ``dependency-add`` (once per description) to a NEW or
        DEPEND job."""
        job = self.job(jobid)
        if description in (job.dependencies or ()):
            return
        if not job.state & (J.NEW | J.DEPEND):
            raise JobtapError("job is not in NEW or DEPEND state")
        self.host.manager.post(job, "dependency-add",
                               {"description": description})

    def job_dependency_remove(self, jobid, description):
        """Post ``dependency-remove``; the last one moves a DEPEND job on
        (``depend``)."""
        job = self.job(jobid)
        if description not in (job.dependencies or ()):
            raise JobtapError(f"dependency {description} not found")
        manager = self.host.manager
        manager.post(job, "dependency-remove", {"description": description})
        if job.state == J.DEPEND and not job.dependencies:
            manager.post(job, "depend")

    def raise_exception(self, jobid, type, severity, note):
        """Raise an exception on job ``jobid``."""
        job = self.job(jobid)
        if job.state == J.INACTIVE:
            raise JobtapError("job is inactive")
        self.host.manager.raise_exception(job, type, severity, note)

    def post_event(self, jobid, name, context=None):
        """Post event ``name`` to job ``jobid``."""
        self.host.manager.post(self.job(jobid), name, context)

    def set_urgency(self, jobid, urgency):
        """Change a job's urgency (an ``urgency`` event)."""
        job = self.job(jobid)
        self.host.manager.post(job, "urgency", {
            "userid": self.host.manager.router.instance_cred.userid,
            "urgency": urgency})

    def job_subscribe(self, jobid):
        """Have ``job.event.NAME`` callbacks for job ``jobid``."""
        self.job(jobid)
        self.host.subscribed.setdefault(jobid, set()).add(self)

    def job_unsubscribe(self, jobid):
        """Stop ``job.event.NAME`` callbacks for job ``jobid``."""
        subs = self.host.subscribed.get(jobid)
        if subs is not None:
            subs.discard(self)
            if not subs:
                del self.host.subscribed[jobid]

    def aux(self, jobid, key, default=None):
        """Data this plugin keeps with job ``jobid`` (None if unknown)."""
        job = self.host.manager.get(jobid)
        if job is None or job._ext is None:
            return default
        return job._ext.get((self.name, key), default)

    def set_aux(self, jobid, key, value):
        """Keep ``value`` with job ``jobid`` (None deletes)."""
        job = self.job(jobid)
        if value is None:
            if job._ext:
                job._ext.pop((self.name, key), None)
        else:
            job.ext()[(self.name, key)] = value


def job_args(job, **extra):
    """The arguments of a callback about ``job``."""
    args = {"id": job.id, "userid": job.userid, "urgency": job.urgency,
            "priority": job.priority, "state": job.state,
            "t_submit": job.t_submit, "jobspec": job.jobspec, "R": job.R,
            "end_event": end_event(job), "result": job.result}
    args.update(extra)
    return args


def end_event(job):
    """The event that ended ``job`` (a fatal exception, else its finish),
    as flux-core's jobtap arguments carry it; None while it runs on."""
    if job.exception_occurred and job.exception_severity == 0:
        return {"name": "exception", "context": {
            "type": job.exception_type, "severity": 0,
            "note": job.exception_note or ""}}
    if job.waitstatus is not None:
        return {"name": "finish", "context": {"status": job.waitstatus}}
    return None
