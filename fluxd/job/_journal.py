# -*- test-case-name: tests.unit.job.test_manager_journal -*-
"""``job-manager.events-journal``: every job event, once durable.

A listener first gets the backlog, as flux-core's journal sends it: the
whole eventlog of every active job (with ``full``, of every inactive job
first), then a response ``{"id": ANY, "events": []}`` that marks its end,
then the live events.  Responses are ``{"events": [{"id", "entry"},
...]}`` (fluxd batches many jobs' events in one response).

The job manager keeps no eventlog in memory, so the backlog is read from
the KVS.  Live events are held back meanwhile, and each is sent after the
backlog only when the backlog did not already hold it: each event's place
in its eventlog (:attr:`fluxd.job.jobs.Job.eventlog_seq` when posted) is
compared with the job's count at the time of the request, and the
backlog of a job stops at that count.
"""

import errno

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.errors import FluxError, NotFound
from fluxd.formats import eventlog
from fluxd.job import jobs as J
from fluxd.storage import treeobj as T

__all__ = ["Journal", "BACKLOG_BATCH"]

#: backlog entries per response, at most (one job's eventlog is not split)
BACKLOG_BATCH = 1000


class Journal:
    """One ``events-journal`` request.

    :param manager: the job manager (``jobs``, ``batcher``, ``kvs``,
        ``router``, ``_inactive``).
    :param request: the streaming request.
    """

    log = Logger()

    def __init__(self, manager, request):
        self._manager = manager
        self.request = request
        self._held = []          # (job, entry, seq) while the backlog is read
        self._live = False
        #: fires when the stream ends (the manager returns it)
        self.done = defer.Deferred()

    def deliver(self, batch, notes):
        """Events just made durable: ``batch`` as sent to live listeners,
        ``notes`` the ``(job, entry, seq)`` it was made from."""
        if self._live:
            self.request.respond(batch)
        else:
            self._held.extend(notes)

    def start(self, full):
        """Send the backlog, then the held events; a Deferred."""
        manager = self._manager
        chosen = list(manager._inactive) if full else []
        chosen += sorted((job for job in manager.jobs() if job.active),
                         key=lambda job: job.id)
        counts = {job.id: job.eventlog_seq for job in chosen}
        d = defer.Deferred.fromCoroutine(self._backlog(chosen, counts))
        d.addErrback(self._failed)
        return d

    async def _backlog(self, chosen, counts):
        manager = self._manager
        # every event counted above is durable (in the KVS) after this
        await manager.batcher.flush()
        from fluxd.job.manager import job_key
        batch = []
        for job in chosen:
            if self.request.cancelled:
                return
            try:
                obj = await manager.kvs.lookup(
                    "primary", f"{job_key(job.id)}.eventlog",
                    cred=manager.router.instance_cred)
            except NotFound:
                continue            # purged meanwhile
            text = T.decode_val(obj).decode("utf-8")
            entries = eventlog.decode(text)[:counts[job.id]]
            batch.extend({"id": job.id, "entry": e} for e in entries)
            if len(batch) >= BACKLOG_BATCH:
                self.request.respond({"events": batch})
                batch = []
        if self.request.cancelled:
            return
        if batch:
            self.request.respond({"events": batch})
        self.request.respond({"id": J.ANY_JOB, "events": []})
        held, self._held = self._held, []
        self._live = True
        later = [{"id": job.id, "entry": entry} for job, entry, seq in held
                 if seq > counts.get(job.id, 0)]
        if later:
            self.request.respond({"events": later})

    def _failed(self, failure):
        failure.trap(FluxError, ValueError)
        self.log.error("job-manager.events-journal: backlog failed: {why}",
                       why=failure.getErrorMessage())
        self.request.fail(getattr(failure.value, "errno", None)
                          or errno.EPROTO, "journal backlog unreadable")
        self._manager.drop_journal(self)
