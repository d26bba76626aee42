# -*- test-case-name: tests.unit.job.test_jobtap_more -*-
"""``.history``: ``job-manager.history.get {slice}`` -> ``{jobs}``, the
caller's job ids, most recently submitted first, cut by a Python-style
slice (``flux job last``).  Read from the job manager's table, so it
keeps nothing per job and costs nothing on the submit path."""

from fluxd.errors import InvalidArgument
from fluxd.job._listquery import history


def _get(p, request):
    text = request.json().get("slice")
    if not isinstance(text, str):
        raise InvalidArgument("slice must be a string")
    return {"jobs": history(p.host.manager.jobs(), request.userid, text)}


def plugin_init(p):
    """Register the ``get`` service."""
    p.service_register("get", _get)
