# -*- test-case-name: tests.unit.job.test_jobtap_more -*-
"""``.post-event``: the instance owner posts an event to an active job's
eventlog (``flux job post-event ID NAME [KEY=VALUE...]``) through
``job-manager.post-event.post {id, name, context?}``.

Events the job manager's state machine acts on (``submit``, ``alloc``,
``clean``, ``exception``...) are refused: they have their own requests
(``flux job raise``, ``flux cancel``...) and a hand-posted one would
leave the job's record and its eventlog apart.
"""

from fluxd.errors import InvalidArgument, NotFound, ProtocolError
from fluxd.job import jobs as J

#: events with their own request, refused here
RESERVED = frozenset((
    "submit", "validate", "invalidate", "dependency-add", "dependency-remove",
    "depend", "priority", "urgency", "jobspec-update", "resource-update",
    "flux-restart", "alloc", "prolog-start", "prolog-finish", "start",
    "exception", "finish", "release", "epilog-start", "epilog-finish",
    "free", "clean", "set-flags"))


def _post(p, request):
    body = request.json()
    jobid, name, context = body.get("id"), body.get("name"), \
        body.get("context")
    if not isinstance(jobid, int) or isinstance(jobid, bool):
        raise ProtocolError("id must be an integer")
    if not isinstance(name, str) or not name or any(
            c.isspace() for c in name):
        raise InvalidArgument("event name must be a non-empty word")
    if context is not None and not isinstance(context, dict):
        raise InvalidArgument("context must be an object")
    if name in RESERVED:
        raise InvalidArgument(f"event {name} cannot be posted by hand")
    manager = p.host.manager
    job = manager.get(jobid)
    if job is None:
        raise NotFound("unknown job id")
    if job.state == J.INACTIVE:
        raise InvalidArgument("job is inactive")
    manager.post(job, name, context)
    return manager.batcher.flush().addCallback(lambda _: None)


def plugin_init(p):
    """Register the ``post`` service."""
    p.service_register("post", _post)
