# -*- test-case-name: tests.unit.exec.test_testexec -*-
"""One job under test execution: flux-core's ``jobinfo`` and
``testexec`` for a single job, as the exec service drives it.

The service (:class:`fluxd.exec.service.ExecService`) supplies the
eventlog writer (``post``), the timers (``at``) and the settings; the job
answers its ``job-exec.start`` request.  States, as in job-exec.c:
``started`` once ``starting`` is posted (a kill from then on ends the job
with the signal as wait status), ``running`` once ``start`` (or
``reattached``) was answered, ``finalizing`` once ``done`` is on its way.
Its exec eventlog lives in its guest namespace (:attr:`TestJob.guest`)
until :attr:`TestJob.moved` into ``primary`` as the job ends.
"""

import signal

from twisted.internet import defer

from fluxd.errors import FluxError, InvalidArgument
from fluxd.exec._guest import guest_namespace
from fluxd.exec.testconf import ExecTestError, read_conf
from fluxd.formats import fluid

__all__ = ["TestJob", "GUESTS_REFUSED"]

#: the fatal exception of a guest's test job without allow-guests
GUESTS_REFUSED = ("guests may not use test execution: set [exec.testexec]"
                  " allow-guests = true")
#: how soon a job without any duration ends (testexec: 1e-5 s)
_SOON = 1e-5


def _seconds(execution, key):
    value = execution.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"R {key} must be a number")
    return float(value)


class TestJob:
    """One job of the exec service (freed at its final release)."""

    __test__ = False  # not a test case, whatever pytest thinks of the name
    __slots__ = ("svc", "id", "userid", "key", "guest", "moved", "request",
                 "jobspec", "reattach", "conf", "expiration", "starttime",
                 "run_timer", "expiry", "started", "running",
                 "exception_in_progress", "finalizing", "wait_status", "done")

    def __init__(self, svc, jobid, userid, request, jobspec, R, reattach):
        self.svc, self.id, self.userid = svc, jobid, userid
        self.key = fluid.encode(jobid, "kvs")
        #: the guest namespace; ``moved``: folded back into ``primary``
        self.guest, self.moved = guest_namespace(jobid), False
        self.request, self.jobspec, self.reattach = request, jobspec, reattach
        self.conf = None
        execution = R.get("execution") if isinstance(R, dict) else None
        execution = execution if isinstance(execution, dict) else {}
        self.expiration = _seconds(execution, "expiration")
        self.starttime = _seconds(execution, "starttime")
        self.run_timer = self.expiry = None
        self.started = self.running = False
        self.exception_in_progress = self.finalizing = False
        self.wait_status = 0
        self.done = defer.Deferred()

    # -- responses ---------------------------------------------------------------

    def _respond(self, kind, data=None):
        self.request.respond({"id": self.id, "type": kind,
                              "data": data or {}})

    def exception(self, type, note, severity=0):
        """Answer an ``exception`` response."""
        self.svc.log.info("job-exception: id={id}: {note}",
                          id=fluid.encode(self.id, "f58plain"), note=note)
        self._respond("exception", {"severity": severity, "type": type,
                                    "note": note})

    # -- the job's life ----------------------------------------------------------

    def begin(self):
        """Open the guest namespace, post ``init`` (``reattach``); the
        rest follows once durable."""
        if self.reattach:
            d = defer.Deferred.fromCoroutine(self.svc.guests.exists(self))
            d.addCallback(self._begin_reattach)
            d.addErrback(self._reattach_failed)
            return
        self.svc.guests.open(self)
        self._begin()

    def _begin_reattach(self, exists):
        # a job started before guest namespaces kept its guest directory
        # in primary: it goes on there
        self.moved = not exists
        self._begin()

    def _begin(self):
        if self.expiration < 0:
            self.fatal(f"Invalid resource set expiration"
                       f" {self.expiration:.2f}")
            return
        self.svc.post(self, "reattach" if self.reattach else "init",
                      then=type(self)._initialized)

    def _initialized(self):
        if self.finalizing:
            return
        jobspec, self.jobspec = self.jobspec, None
        try:
            conf = read_conf(jobspec)
        except ExecTestError as exc:
            self.fatal(f"failed to initialize testconf: {exc}")
            return
        if self.userid != self.svc.owner and not self.svc.allow_guests:
            self.fatal(GUESTS_REFUSED)
            return
        self.conf = conf
        if conf.mock_exception == "init":
            self.fatal("mock initialization exception generated")
            return
        self.svc.post(self, "re-starting" if self.reattach else "starting")
        self.started = True
        if self.reattach:
            d = defer.Deferred.fromCoroutine(self._reattach())
            d.addErrback(self._reattach_failed)
            return
        if not conf.override:
            self.start_timer(conf.run_duration)
        if conf.mock_exception == "run":
            self.fatal("mock run exception generated")

    async def _reattach(self):
        remaining = -1.0
        if not self.conf.reattach_finish:
            start = await self.svc.start_time(self)
            now = self.svc.reactor.seconds()
            if start is not None and now - start <= self.conf.run_duration:
                remaining = start + self.conf.run_duration - now
        if not self.finalizing:
            self.start_timer(remaining)

    def _reattach_failed(self, failure):
        failure.trap(FluxError, ValueError)
        self.fatal(f"reattach: {failure.getErrorMessage()}")

    def start_timer(self, duration):
        """The simulated run begins: finish after ``duration`` (never when
        0; at once when negative), answer ``start`` or ``reattached``."""
        if duration < 0:
            duration = _SOON
        if duration > 0:
            self.run_timer = self.svc.at(self, duration, "run")
        self.running = True
        if self.reattach:
            self._respond("reattached")
        else:
            self._set_expiration()
            self._respond("start")

    def _set_expiration(self):
        if self.expiration == 0:
            return
        now = self.svc.reactor.seconds()
        expiration = self.expiration
        if self.starttime > 0:
            # a start delayed by a busy instance does not eat the time
            # limit (flux: beyond exec.max-start-delay-percent of it)
            delay = now - self.starttime
            if delay > (expiration - self.starttime) * \
                    self.svc.max_start_delay / 100.0:
                expiration += delay
        self.expiry = self.svc.at(self, max(0.0, expiration - now), "expiry")

    def timeout(self):
        """The time limit passed: ``timeout`` exception and SIGALRM."""
        if self.finalizing:
            return
        self.exception("timeout", "resource allocation expired")
        self.kill(signal.SIGALRM)
        self.exception_in_progress = True

    def kill(self, signum):
        """testexec's kill: the run ends with ``signum`` as its status."""
        self.svc.deadlines.cancel(self.run_timer)
        self.run_timer = None
        if self.started and not self.finalizing:
            self.tasks_complete(int(signum))

    def tasks_complete(self, status):
        """The (simulated) shells exited with ``status``."""
        self.wait_status = max(self.wait_status, status)
        self.running = False
        if self.exception_in_progress and self.wait_status == 0:
            self.wait_status = 1 << 8
        self.svc.post(self, "complete", {"status": self.wait_status})
        self._respond("finish", {"status": self.wait_status})
        self.finalize()

    def fatal(self, note):
        """A fatal ``exec`` exception (once), then kill or finalize."""
        if not self.exception_in_progress:
            self.exception_in_progress = True
            self.exception("exec", note)
        if self.started:
            self.kill(self.svc.term_signal)
        else:
            self.finalize()

    def exception_event(self, type):
        """The job manager posted a fatal exception (cancel...)."""
        if self.finalizing:
            return
        if self.exception_in_progress:
            self.kill(self.svc.term_signal)
            return
        self.exception_in_progress = True
        self.fatal(f"aborted due to exception type={type}")

    def override(self, event, status):
        """``job-exec.override``: start or finish an override-mode job."""
        if self.conf is None or not self.conf.override:
            raise InvalidArgument("Job not in exec override mode")
        if event == "start":
            if self.running or self.finalizing:
                raise InvalidArgument("Job already running")
            self.start_timer(self.conf.run_duration)
        elif event == "finish":
            if not self.running:
                raise InvalidArgument("Job not running")
            self.svc.deadlines.cancel(self.run_timer)
            self.run_timer = None
            self.tasks_complete(status)
        else:
            raise InvalidArgument("Invalid event")

    def finalize(self):
        """Post ``done``; the final release follows once it is durable."""
        if self.finalizing:
            return
        self.finalizing = True
        self.svc.deadlines.cancel(self.run_timer)
        self.svc.deadlines.cancel(self.expiry)
        self.run_timer = self.expiry = None
        self.svc.guests.close(self)
        self.svc.post(self, "done", then=type(self)._release)

    def _release(self):
        self._respond("release", {"ranks": "all", "final": True})
        self.svc.forget(self)
        self.done.callback(None)

    def abandoned(self):
        """The job manager cancelled the stream: stop the timers."""
        self.svc.deadlines.cancel(self.run_timer)
        self.svc.deadlines.cancel(self.expiry)
        self.run_timer = self.expiry = None
        self.finalizing = True
        self.svc.forget(self)
        if not self.done.called:
            self.done.callback(None)
