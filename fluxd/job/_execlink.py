# -*- test-case-name: tests.unit.job.test_manager -*-
"""The job manager's side of the execution protocol (RFC 32).

An exec service says hello (``job-manager.exec-hello {service}``); the job
manager then sends it one streaming ``<service>.start`` request per job
entering RUN (``reattach`` true for jobs that were running before a
restart).  Responses: ``start`` (shells started), ``reattached``,
``release`` (ranks done; ``final`` when all are), ``exception``, and
``finish`` (the greatest wait status).  The stream ends after the final
release.
"""

from twisted.logger import Logger

from fluxd.errors import FluxError

__all__ = ["ExecLink"]

#: the entry of a job whose start request is being sent
_STARTING = object()


class ExecLink:
    """Start requests for one job manager.

    :param router: the broker's router.
    :param manager: the job manager (``post``, ``raise_exception``,
        ``exec_done``).
    """

    log = Logger()

    def __init__(self, router, manager):
        self._router = router
        self._manager = manager
        self.service = None
        self.running = {}
        self._waiting = []

    def hello(self, service):
        """An exec service registered: start what waited for one."""
        self.service = service
        waiting, self._waiting = self._waiting, []
        for job, reattach in waiting:
            self.start(job, reattach)

    def start(self, job, reattach=False):
        """Ask the exec service to start (or reattach to) ``job``."""
        if self.service is None:
            self._waiting.append((job, reattach))
            return
        payload = {"id": job.id, "userid": job.userid, "jobspec": job.jobspec,
                   "R": job.R, "reattach": reattach}
        # running from now on: an in-process exec service may answer
        # (even the final release) before the stream is handed back
        self.running[job.id] = _STARTING
        stream = self._router.stream(
            f"{self.service}.start", payload, cred=self._router.instance_cred,
            on_response=lambda body, job=job: self._response(job, body))
        if self.running.get(job.id) is _STARTING:
            self.running[job.id] = stream
        stream.done.addCallbacks(self._ended, self._failed,
                                 callbackArgs=(job,), errbackArgs=(job,))

    def _response(self, job, body):
        kind = body.get("type")
        data = body.get("data") or {}
        manager = self._manager
        if kind == "start":
            manager.post(job, "start")
        elif kind == "reattached":
            self.log.info("job {id}: reattached to its running shells",
                          id=job.id)
        elif kind == "release":
            manager.post(job, "release", {"ranks": data.get("ranks", "all"),
                                          "final": bool(data.get("final"))})
            if data.get("final"):
                self._release(job)
        elif kind == "exception":
            manager.raise_exception(job, data.get("type", "exec"),
                                    data.get("severity", 0),
                                    data.get("note", ""))
        elif kind == "finish":
            manager.post(job, "finish", {"status": data.get("status", 0)})
        else:
            self.log.warn("{service}.start: unknown response {kind} for job"
                          " {id}", service=self.service, kind=kind, id=job.id)

    def _release(self, job):
        if self.running.pop(job.id, None) is not None:
            self._manager.exec_done(job)

    def _ended(self, _, job):
        self._release(job)

    def _failed(self, failure, job):
        failure.trap(FluxError)
        if self.running.pop(job.id, None) is None:
            return
        self.log.warn("job {id}: {service}.start failed: {why}", id=job.id,
                      service=self.service, why=failure.getErrorMessage())
        self._manager.raise_exception(job, "exec", 0,
                                      f"exec: {failure.getErrorMessage()}")
        self._manager.exec_done(job)

    def is_running(self, job):
        """True while the exec service holds ``job``."""
        return job.id in self.running
