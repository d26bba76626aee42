# -*- test-case-name: tests.unit.job.test_info -*-
"""The ``job-info`` service (rank 0): a job's KVS data for its owner.

Job data lives in the primary namespace under ``job.<dothex>`` (J,
jobspec, R, eventlog, guest.exec.eventlog...), which only the instance
owner may read directly.  job-info reads it on behalf of the job's owner:
a guest may read their own jobs' data, the instance owner every job's
(EPERM ``access is restricted to job/instance owner`` otherwise).  Who
owns a job comes from the job manager's table
(:class:`fluxd.interfaces.IJobTable`).

* ``job-info.lookup {id, keys, flags}`` -> ``{"id", KEY: text...}``.
  ``flags``: JSON_DECODE (1) returns ``jobspec`` and ``R`` as objects;
  CURRENT (2) applies the eventlog's ``jobspec-update`` and
  ``resource-update`` events to them (what ``flux job info`` shows).
  ENOENT ``invalid job id`` for an unknown job, ``KEY: key not found``.
* ``job-info.eventlog-watch {id, path, flags}`` (streaming) -> one
  ``{"event": LINE}`` per eventlog entry (the line with its newline):
  those already written, then each appended one as it becomes durable,
  read through the ``kvs-watch`` service.  The stream ends (ENODATA) once
  the job is inactive and everything written before then was sent; until
  then it goes on, or until the client cancels.  ``flags`` WAITCREATE (1)
  waits for a log that does not exist yet instead of failing ENOENT.
"""

import copy
import errno
import json

from twisted.internet import defer

from fluxd.errors import (
    FluxError, InvalidArgument, NotFound, PermissionDenied, ProtocolError)
from fluxd.formats import fluid
from fluxd.interfaces import IJobTable, IRouter, provide
from fluxd.job import jobs as J
from fluxd.storage import treeobj as T
from fluxd.storage.lookup import WAITCREATE, WATCH, WATCH_APPEND
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module

__all__ = ["JobInfoService", "JSON_DECODE", "CURRENT", "WATCH_WAITCREATE",
           "apply_updates"]

#: ``job-info.lookup`` flags (FLUX_JOB_LOOKUP_*)
JSON_DECODE, CURRENT = 1, 2
#: ``job-info.eventlog-watch`` flag (FLUX_JOB_EVENT_WATCH_WAITCREATE)
WATCH_WAITCREATE = 1

_UPDATES = {"jobspec": "jobspec-update", "R": "resource-update"}


def _jobid(body):
    jobid = body.get("id")
    if not isinstance(jobid, int) or isinstance(jobid, bool) or jobid < 0:
        raise ProtocolError("invalid payload: id must be a job id")
    return jobid


def _flags(body, allowed):
    flags = body.get("flags", 0)
    if not isinstance(flags, int) or isinstance(flags, bool) \
            or flags & ~allowed:
        raise ProtocolError(f"invalid flags {flags!r}")
    return flags


def _check_key(key):
    if not isinstance(key, str):
        raise ProtocolError("invalid payload: keys must be strings")
    try:
        T.split_key(key)
    except InvalidArgument:
        raise InvalidArgument(f"{key}: invalid key") from None
    return key


def apply_updates(key, value, entries):
    """``value`` (the jobspec or R, a dict) with the eventlog's update
    events applied, as ``flux job info`` shows it by default.

    ``jobspec-update`` sets each dotted key of its context in the jobspec;
    ``resource-update`` sets R's ``execution.expiration``.

    :param entries: the decoded eventlog.
    :returns: a new dict.
    """
    value = copy.deepcopy(value)
    name = _UPDATES[key]
    for entry in entries:
        if entry.get("name") != name:
            continue
        for path, new in (entry.get("context") or {}).items():
            if key == "R":
                if path != "expiration":
                    continue
                path = "execution.expiration"
            _set_path(value, path.split("."), new)
    return value


def _set_path(obj, parts, value):
    for part in parts[:-1]:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    obj[parts[-1]] = value


class JobInfoService(Module):
    """Reads of job data on the job owner's behalf.

    :param router: the broker's router (``kvs.lookup`` and
        ``kvs-watch.lookup`` are called through it with the instance's
        credential, once the requester is checked).
    :param table: the job manager (:class:`IJobTable`).
    :param rank: this broker's rank (job-info runs on rank 0).
    """

    name = "job-info"

    def __init__(self, router, table, rank=0):
        super().__init__(rank)
        self.router = provide(IRouter, router)
        self.table = provide(IJobTable, table)
        self._watches = {}
        self._remove_observer = None
        self.stats = {"lookups": 0, "watches": 0}

    def startService(self):
        super().startService()
        self._remove_observer = self.table.add_observer(self._observe)

    def stopService(self):
        super().stopService()
        if self._remove_observer is not None:
            self._remove_observer()
            self._remove_observer = None
        watches, self._watches = self._watches, {}
        for group in watches.values():
            for watch in list(group):
                watch.stop(FluxError("job-info is shutting down",
                                     errnum=errno.ENOSYS))

    def _observe(self, job, entry):
        if job.state == J.INACTIVE and entry.get("name") in ("clean",
                                                             "invalidate"):
            for watch in list(self._watches.pop(job.id, ())):
                watch.job_inactive()

    def _allowed(self, request, jobid):
        """The job, once ``request`` may read its data."""
        job = self.table.get(jobid)
        if job is None:
            raise NotFound("invalid job id")
        if not request.is_owner and request.userid != job.userid:
            raise PermissionDenied("access is restricted to job/instance"
                                   " owner")
        return job

    async def read(self, jobid, key):
        """The bytes of ``job.<id>.<key>`` (instance credential).

        :raises NotFound: ``KEY: key not found``.
        :raises FluxError: ``KEY: <reason>`` for other failures.
        """
        path = f"{fluid.encode(jobid, 'kvs')}.{key}"
        try:
            answer = await self.router.call(
                "kvs.lookup", {"key": path, "namespace": "primary",
                               "flags": 0},
                cred=self.router.instance_cred)
            return T.decode_val(answer["val"])
        except NotFound:
            raise NotFound(f"{key}: key not found") from None
        except FluxError as exc:
            raise FluxError(f"{key}: {exc}", errnum=exc.errno) from None

    # -- lookup ------------------------------------------------------------

    @method("lookup", roles=ROLE_USER)
    async def rpc_lookup(self, request):
        """``job-info.lookup {id, keys, flags}`` -> ``{"id", KEY: value}``."""
        self.stats["lookups"] += 1
        body = request.json()
        jobid = _jobid(body)
        keys = body.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ProtocolError("invalid payload: keys must be a non-empty"
                                " array")
        keys = [_check_key(key) for key in keys]
        flags = _flags(body, JSON_DECODE | CURRENT)
        self._allowed(request, jobid)
        texts = {}
        for key in dict.fromkeys(keys):
            texts[key] = await self.read(jobid, key)
        entries = None
        if flags & CURRENT and any(key in _UPDATES for key in texts):
            from fluxd.formats.eventlog import decode
            log = texts.get("eventlog")
            if log is None:
                log = await self.read(jobid, "eventlog")
            entries = decode(log)
        answer = {"id": jobid}
        for key, raw in texts.items():
            text = raw.decode("utf-8", errors="replace")
            value = text
            if key in _UPDATES and flags & (CURRENT | JSON_DECODE):
                try:
                    obj = json.loads(text)
                except ValueError:
                    raise FluxError(f"{key}: value is not JSON",
                                    errnum=errno.EPROTO) from None
                if entries is not None:
                    obj = apply_updates(key, obj, entries)
                    value = json.dumps(obj, ensure_ascii=False)
                if flags & JSON_DECODE:
                    value = obj
            answer[key] = value
        return answer

    # -- eventlog-watch -----------------------------------------------

    @method("eventlog-watch", roles=ROLE_USER, streaming=True)
    def rpc_eventlog_watch(self, request):
        """``job-info.eventlog-watch {id, path, flags}``: one ``{"event"}``
        response per entry, until the job is inactive."""
        self.stats["watches"] += 1
        body = request.json()
        jobid = _jobid(body)
        path = _check_key(body.get("path", "eventlog"))
        flags = _flags(body, WATCH_WAITCREATE)
        job = self._allowed(request, jobid)
        watch = _Watch(self, request, jobid, path,
                       bool(flags & WATCH_WAITCREATE))
        if job.state == J.INACTIVE:
            # its last events may not be in the KVS yet
            self.table.durable().addCallback(lambda _: watch.job_inactive())
        else:
            self._watches.setdefault(jobid, set()).add(watch)
            watch.start()
        return watch.done

    def _forget(self, watch):
        group = self._watches.get(watch.jobid)
        if group is not None:
            group.discard(watch)
            if not group:
                del self._watches[watch.jobid]


class _Watch:
    """One eventlog-watch: kvs-watch appends while the job is active, then
    one last read of whatever was written before it became inactive.

    :ivar offset: bytes of the log consumed so far (sent, or held in
        :attr:`partial` until its newline arrives).
    """

    def __init__(self, service, request, jobid, path, waitcreate):
        self.service = service
        self.request = request
        self.jobid = jobid
        self.path = path
        self.waitcreate = waitcreate
        self.offset = 0
        self.partial = b""
        self.stream = None
        self.finishing = False
        self.done = defer.Deferred()
        request.on_cancel(self._cancelled)

    def start(self):
        """Follow the log with ``kvs-watch.lookup`` (WATCH_APPEND)."""
        router = self.service.router
        key = f"{fluid.encode(self.jobid, 'kvs')}.{self.path}"
        flags = WATCH | WATCH_APPEND | (WAITCREATE if self.waitcreate else 0)
        self.stream = router.stream(
            "kvs-watch.lookup", {"key": key, "namespace": "primary",
                                 "flags": flags},
            cred=router.instance_cred, on_response=self._appended)
        self.stream.done.addCallbacks(self._stream_ended, self._stream_failed)

    def _appended(self, body):
        if self.finishing or self.done.called:
            return
        self._feed(T.decode_val(body["val"]))

    def _feed(self, data):
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if line:
                self.request.respond(
                    {"event": line.decode("utf-8", errors="replace") + "\n"})

    def job_inactive(self):
        """The job is inactive: send what is left of the log, then end."""
        if self.finishing or self.done.called:
            return
        self.finishing = True
        if self.stream is not None:
            self.stream.cancel()
        d = defer.Deferred.fromCoroutine(self._last_read())
        d.addCallbacks(self._finish, self.stop)

    async def _last_read(self):
        try:
            data = await self.service.read(self.jobid, self.path)
        except NotFound:
            if self.offset or self.waitcreate:
                return None     # the log was removed, or never written
            raise NotFound(f"{self.path}: key not found") from None
        if len(data) > self.offset:
            self._feed(data[self.offset:])
        return None

    def _finish(self, _):
        self.service._forget(self)
        if not self.done.called:
            self.done.callback(None)

    def stop(self, reason):
        """End the stream with an error (a FluxError or Failure of one)."""
        self.finishing = True
        self.service._forget(self)
        if self.stream is not None:
            self.stream.cancel()
        if not self.done.called:
            self.done.errback(reason)

    def _stream_ended(self, _):
        # kvs-watch ended without an error: only our cancel does that
        if not self.finishing and not self.done.called:
            self.stop(FluxError(f"{self.path}: watch ended",
                                errnum=errno.ENODATA))

    def _stream_failed(self, failure):
        if self.finishing or self.done.called:
            return None
        if failure.check(NotFound):
            self.stop(NotFound(f"{self.path}: key not found"))
        else:
            self.stop(failure)
        return None

    def _cancelled(self):
        self.finishing = True
        self.service._forget(self)
        if self.stream is not None:
            self.stream.cancel()
        if not self.done.called:
            self.done.callback(None)
