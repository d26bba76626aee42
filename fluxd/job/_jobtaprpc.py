# -*- test-case-name: tests.unit.job.test_jobtap -*-
"""The job manager's jobtap requests (``flux jobtap``), owner only.

``job-manager.jobtap`` ``{remove?, load?, conf?, query_only?}`` removes
then loads, and answers ``{plugins: [names]}`` (every plugin, builtins
included); ``job-manager.jobtap-query`` ``{name}`` answers the plugin's
``plugin.query`` output with its ``name`` and ``path``.

Services of builtin plugins (:meth:`~fluxd.job.jobtap.Plugin.
service_register`), answered only while the plugin is loaded (else
ENOSYS): ``job-manager.post-event.post`` (owner) and
``job-manager.history.get`` (users).
"""

from fluxd.errors import InvalidArgument
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER

__all__ = ["JobtapMethods"]


class JobtapMethods:
    """Mixed into :class:`fluxd.job.manager.JobManagerService` (which has
    ``jobtap``, a :class:`fluxd.job.jobtap.JobtapHost`)."""

    @method("jobtap")
    def rpc_jobtap(self, request):
        """Load or remove plugins; ``{plugins}``."""
        body = request.json()
        remove, load, conf = body.get("remove"), body.get("load"), \
            body.get("conf")
        for key, value in (("remove", remove), ("load", load)):
            if value is not None and (not isinstance(value, str)
                                      or not value):
                raise InvalidArgument(f"{key} must be a non-empty string")
        if conf is not None and not isinstance(conf, dict):
            raise InvalidArgument("conf must be an object")
        if not body.get("query_only"):
            if remove is not None:
                self.jobtap.remove(remove)
            if load is not None:
                self.jobtap.load(load, conf)
        return {"plugins": list(self.jobtap.plugins)}

    @method("jobtap-query")
    def rpc_jobtap_query(self, request):
        """``{name}`` -> the plugin's query output."""
        name = request.json().get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument("name must be a non-empty string")
        return self.jobtap.query(name)

    @method("post-event.post")
    def rpc_post_event(self, request):
        """``.post-event``: ``{id, name, context?}`` (instance owner)."""
        plugin, callback = self.jobtap.service("post-event.post")
        return callback(plugin, request)

    @method("history.get", roles=ROLE_USER)
    def rpc_history_get(self, request):
        """``.history``: ``{slice}`` -> ``{jobs}`` (``flux job last``)."""
        plugin, callback = self.jobtap.service("history.get")
        return callback(plugin, request)
