# -*- test-case-name: tests.unit.job.test_jobtap -*-
"""Jobtap plugins: the job manager's callbacks by topic (flux-jobtap-plugins(7)).

A plugin is a Python module with ``plugin_init(p)``; ``p`` is its
:class:`Plugin` handle, through which it registers callbacks by topic
(``p.register("job.state.inactive", fn)``; ``*`` globs allowed) and acts on
jobs (dependencies, exceptions, events, subscriptions, per-job data).
A callback is called as ``fn(p, topic, args)``: ``args`` is a dict of the
job's ``id userid urgency priority state t_submit jobspec R end_event
result`` and the topic's own keys (``dependency``, ``entry``...); it
returns None or a dict of outputs (``priority``...).

To reject a job in ``job.create``, ``job.validate`` or
``job.dependency.SCHEME`` a callback raises :class:`JobtapError` (its text
is the client's error).  Any other exception is a plugin bug: it is logged,
and the job gets a fatal ``jobtap`` exception (or is rejected, before it is
validated); the broker goes on.

The builtins (:mod:`fluxd.job.plugins`) use the same interface; their names
start with ``.``.  Only topics with subscribers are dispatched, and the
job's arguments are built only then.
"""

import errno
import fnmatch
import importlib
import importlib.util
import os

from twisted.logger import Logger

from fluxd.errors import FluxError, InvalidArgument, NotFound
from fluxd.job import jobs as J
from fluxd.job._jobtapapi import JobtapError, Plugin, job_args
from fluxd.job.plugins import PLUGINPATH

__all__ = ["JobtapError", "JobtapHost", "Plugin", "BUILTINS", "DEFAULTS"]

#: built-in plugins: name -> module under fluxd.job.plugins
BUILTINS = {".priority-default": "priority_default",
            ".limit-job-size": "limit_job_size",
            ".limit-duration": "limit_duration",
            ".dependency-after": "dependency_after",
            ".dependency-singleton": "dependency_singleton",
            ".begin-time": "begin_time",
            ".validate-duration": "validate_duration",
            ".update-duration": "update_duration",
            ".history": "history",
            ".post-event": "post_event",
            ".update-queue": "update_queue",
            ".submit-hold": "submit_hold"}
#: plugins flux-core ships as ``NAME.so``, loaded on request (by
#: ``NAME`` or ``NAME.so``) under their own names
LOADABLE = {"alloc-bypass": "alloc_bypass", "alloc-check": "alloc_check",
            "perilog": "perilog"}
#: builtins loaded at start, in flux-core's order (submit-hold only when
#: asked for)
DEFAULTS = (".priority-default", ".limit-job-size", ".limit-duration",
            ".dependency-after", ".dependency-singleton", ".begin-time",
            ".validate-duration", ".update-duration", ".history",
            ".post-event", ".update-queue")

_STATE_TOPICS = {state: "job.state." + name.lower()
                 for state, name in J.STATE_NAMES.items()}
#: topics where an error rejects the job (or the update) rather than
#: raising an exception
_REJECTING = ("job.create", "job.validate", "job.dependency.",
              "job.update.")


class JobtapHost:
    """The plugins of one job manager and their dispatch.

    :param manager: the :class:`~fluxd.job.manager.JobManagerService`.
    """

    log = Logger()

    def __init__(self, manager, conf=None, searchpath=None):
        self.manager = manager
        #: directories where a plugin named without a path is found
        self.searchpath = PLUGINPATH if searchpath is None else searchpath
        self.plugins = {}
        self.subscribed = {}
        self._cache = {}
        #: ``NAME.METHOD`` -> (plugin, callback), from
        #: :meth:`Plugin.service_register`
        self.services = {}
        #: the instance config (a dict) ``conf.update`` callbacks get
        self.conf = conf or {}
        for name in DEFAULTS:
            self.load(name)

    # -- loading -----------------------------------------------------------

    def load(self, spec, conf=None):
        """Load a builtin (by name, with or without the dot) or a Python
        file (a bare name is looked for on :attr:`searchpath`); a plugin
        of the same name is replaced.

        :returns: the :class:`Plugin`.
        :raises fluxd.errors.InvalidArgument: flux's message when it
            cannot be found or its ``plugin_init`` fails.
        """
        builtin = spec if spec in BUILTINS else "." + spec
        shipped = spec[:-3] if spec.endswith(".so") else spec
        if builtin in BUILTINS:
            module = importlib.import_module(
                "fluxd.job.plugins." + BUILTINS[builtin])
            plugin = Plugin(self, builtin, conf)
        elif shipped in LOADABLE:
            module = importlib.import_module(
                "fluxd.job.plugins." + LOADABLE[shipped])
            plugin = Plugin(self, shipped, conf)
        else:
            path = self.find(spec)
            module = _import_file(path)
            plugin = Plugin(self, os.path.basename(path)[:-3], conf,
                            os.path.abspath(path))
        init = getattr(module, "plugin_init", None)
        if init is None:
            raise InvalidArgument(f"{spec}: no plugin_init")
        try:
            init(plugin)
        except Exception as exc:  # site code: refuse the plugin, go on
            raise InvalidArgument(f"{spec}: plugin_init failed: "
                                  f"{_why(exc)}") from None
        error = self._conf_update(plugin, self.conf)
        if error is not None:
            raise InvalidArgument(f"{spec}: {error}")
        self.plugins.pop(plugin.name, None)
        self.plugins[plugin.name] = plugin
        self._cache.clear()
        return plugin

    def find(self, spec):
        """The file of plugin ``spec``: a path as given, a bare name
        (``site.py``, or ``site``) from the first directory of
        :attr:`searchpath` holding it."""
        if os.sep in spec:
            return spec
        names = [spec] if spec.endswith(".py") else [spec + ".py", spec]
        for directory in self.searchpath.split(":"):
            for name in names:
                candidate = os.path.join(directory, name)
                if directory and os.path.isfile(candidate):
                    return candidate
        return spec

    def remove(self, pattern):
        """Remove plugins matching ``pattern`` (a name or glob; ``all``
        is every plugin not starting with ``.``).

        :raises fluxd.errors.NotFound: ``NAME not found``.
        """
        if pattern == "all":
            names = [n for n in self.plugins if not n.startswith(".")]
        else:
            names = [n for n in self.plugins if fnmatch.fnmatchcase(
                n, pattern) and (pattern.startswith(".")
                                 or not n.startswith("."))]
            if not names:
                raise NotFound(f"{pattern} not found")
        for name in names:
            plugin = self.plugins.pop(name)
            for jobid in [j for j, s in self.subscribed.items()
                          if plugin in s]:
                plugin.job_unsubscribe(jobid)
            for key in [k for k, (p, _) in self.services.items()
                        if p is plugin]:
                del self.services[key]
        self._cache.clear()
        return names

    def forget(self):
        """Drop the handlers cache (a plugin registered a callback)."""
        self._cache.clear()

    def service(self, name):
        """``(plugin, callback)`` answering ``NAME.METHOD``.

        :raises fluxd.errors.FluxError: ENOSYS when no plugin loaded
            registered it.
        """
        found = self.services.get(name)
        if found is None:
            raise FluxError(f"job-manager.{name}: no such service"
                            " (plugin not loaded)", errnum=errno.ENOSYS)
        return found

    def configure(self, directives):
        """Apply ``[job-manager] plugins``: each ``{load, conf}`` or
        ``{remove}`` in order."""
        for item in directives or ():
            if item.get("remove"):
                try:
                    self.remove(item["remove"])
                except NotFound:
                    pass  # a directive removing nothing is no error
            if item.get("load"):
                self.load(item["load"], item.get("conf"))

    def configure_from(self, config):
        """``[job-manager] plugins`` at start.  A directive that fails is
        logged with its one-line reason and skipped: the broker goes on.
        """
        for item in config.get("job-manager.plugins", None) or ():
            try:
                self.configure([item])
            except (InvalidArgument, NotFound) as exc:
                self.log.error("job-manager: jobtap: {why}", why=exc)

    def conf_update(self, conf):
        """A reloaded config: every plugin's ``conf.update``, all or
        nothing (a refusal gives the others the old config back).

        :param conf: the new config as a dict.
        :raises fluxd.errors.InvalidArgument: the first refusal.
        """
        done = []
        for plugin in list(self.plugins.values()):
            error = self._conf_update(plugin, conf)
            if error is not None:
                for earlier in done:
                    self._conf_update(earlier, self.conf)
                raise InvalidArgument(error)
            done.append(plugin)
        self.conf = conf

    def _conf_update(self, plugin, conf):
        """``plugin``'s ``conf.update`` callbacks: None, or why it
        refuses ``conf``."""
        for pattern, fn in plugin.handlers:
            if pattern != "conf.update":
                continue
            try:
                fn(plugin, "conf.update", {"conf": conf})
            except JobtapError as exc:
                return str(exc) or f"{plugin.name}: config rejected"
            except Exception as exc:  # a plugin bug refuses the config
                self.log.failure("jobtap: {p}: conf.update failed",
                                 p=plugin.name)
                return f"{plugin.name}: conf.update: {_why(exc)}"
        return None

    def query(self, name):
        """``flux jobtap query NAME``: ``{name, path, ...}``."""
        plugin = self.plugins.get(name)
        if plugin is None:
            raise NotFound(f"{name} not found")
        answer = {"name": name, "path": plugin.path or "builtin"}
        if plugin.query is not None:
            answer.update(plugin.query(plugin, "plugin.query", {}) or {})
        return answer

    # -- dispatch ----------------------------------------------------------

    def handlers(self, topic):
        """``[(plugin, callback)]`` registered for ``topic``."""
        found = self._cache.get(topic)
        if found is None:
            found = [(plugin, fn) for plugin in self.plugins.values()
                     for pattern, fn in plugin.handlers
                     if pattern == topic or ("*" in pattern and
                                             fnmatch.fnmatchcase(topic,
                                                                 pattern))]
            self._cache[topic] = found
        return found

    def call(self, topic, job, **extra):
        """Call ``topic``'s callbacks about ``job``.

        :returns: the list of outputs (dicts) they returned.
        :raises JobtapError: from a rejecting topic (``job.create``,
            ``job.validate``, ``job.dependency.*``); in other topics an
            error is logged and raises a fatal ``jobtap`` exception.
        """
        found = self.handlers(topic)
        if not found:
            return []
        args = job_args(job, **extra)
        outputs = []
        for plugin, fn in found:
            try:
                out = fn(plugin, topic, args)
            except JobtapError as exc:
                if topic.startswith(_REJECTING):
                    raise
                self._failed(plugin, topic, job, str(exc))
                break
            except Exception as exc:  # a plugin bug must not stop the broker
                self.log.failure("jobtap: {p}: {t}: callback failed",
                                 p=plugin.name, t=topic)
                if topic.startswith(_REJECTING):
                    raise JobtapError(f"{plugin.name}: {topic}: "
                                      f"{_why(exc)}") from None
                self._failed(plugin, topic, job, _why(exc))
                break
            if out:
                outputs.append(out)
        return outputs

    def _failed(self, plugin, topic, job, why):
        if job.state not in (J.NEW, J.INACTIVE):
            self.manager.raise_exception(job, "jobtap", 0,
                                         f"{plugin.name}: {topic}: {why}")

    def admit(self, job):
        """A new, durable job: ``job.create``, ``job.validate``, each
        dependency's ``job.dependency.SCHEME``, ``job.new``.

        :returns: None, or the message rejecting the job.
        """
        try:
            self.call("job.create", job)
            self.call("job.validate", job)
            system = (job.jobspec or {}).get("attributes", {}).get(
                "system", {})
            self.check_dependencies(job, system.get("dependencies") or ())
        except JobtapError as exc:
            return str(exc) or "rejected by job-manager plugin"
        self.call("job.new", job)
        return None

    def check_dependencies(self, job, dependencies, restart=False):
        """``job.dependency.SCHEME`` of each dependency.

        :raises JobtapError: an unknown scheme or a rejection.
        """
        for dep in dependencies:
            scheme = dep.get("scheme") if isinstance(dep, dict) else None
            topic = f"job.dependency.{scheme}"
            if not self.handlers(topic):
                raise JobtapError(f'dependency scheme "{scheme}" not'
                                  ' supported')
            self.call(topic, job, dependency=dep, restart=restart)

    def restart_depend(self, job):
        """A job found in DEPEND at restart: its dependencies are checked
        again (plugins keep no state across a restart); one that fails
        now raises a fatal ``dependency`` exception."""
        system = (job.jobspec or {}).get("attributes", {}).get("system", {})
        try:
            self.check_dependencies(
                job, system.get("dependencies") or (), restart=True)
        except JobtapError as exc:
            self.manager.raise_exception(job, "dependency", 0, str(exc))

    def on_state(self, job, state):
        """``job.state.STATE`` after ``job`` entered ``state``."""
        topic = _STATE_TOPICS[state]
        if self.handlers(topic):
            self.call(topic, job)

    def on_inactive_add(self, job):
        """``job.inactive-add``: ``job`` joined the inactive jobs."""
        if self.handlers("job.inactive-add"):
            self.call("job.inactive-add", job)

    def on_purge(self, job):
        """``job.inactive-remove`` then ``job.destroy``: ``job`` was
        purged."""
        for topic in ("job.inactive-remove", "job.destroy"):
            if self.handlers(topic):
                self.call(topic, job)
        self.subscribed.pop(job.id, None)

    def on_event(self, job, name, entry):
        """``job.event.NAME`` for plugins subscribed to ``job``."""
        for plugin in list(self.subscribed.get(job.id, ())):
            topic = "job.event." + name
            for pattern, fn in plugin.handlers:
                if pattern == topic or ("*" in pattern and
                                        fnmatch.fnmatchcase(topic, pattern)):
                    try:
                        fn(plugin, topic, job_args(job, entry=entry))
                    except Exception as exc:  # plugin bug: job fails
                        self.log.failure("jobtap: {p}: {t}: callback"
                                         " failed", p=plugin.name, t=topic)
                        self._failed(plugin, topic, job, _why(exc))
        if job.state == J.INACTIVE:
            self.subscribed.pop(job.id, None)

    def priority(self, job):
        """The priority of ``job`` entering PRIORITY.  ``job.state.priority``
        callbacks run first; then a held job gets the minimum and an
        expedited one the maximum (plugins' answers ignored), others the
        last priority a callback returned (``job.priority.get`` asked when
        none did).

        :returns: the priority, or None (none given, or the job failed).
        """
        outputs = self.call("job.state.priority", job)
        if job.state != J.PRIORITY:
            return None
        if job.urgency == J.URGENCY_HOLD:
            return J.PRIORITY_MIN
        if job.urgency == J.URGENCY_EXPEDITE:
            return J.PRIORITY_MAX
        found = _last_priority(outputs)
        if found is None:
            found = _last_priority(self.call("job.priority.get", job))
        if found is None or job.state != J.PRIORITY:
            return None
        if not isinstance(found, int) or isinstance(found, bool) \
                or not J.PRIORITY_MIN <= found <= J.PRIORITY_MAX:
            self.manager.raise_exception(job, "jobtap", 0,
                                         f"invalid priority {found!r}")
            return None
        return found


def _last_priority(outputs):
    found = None
    for out in outputs:
        if "priority" in out:
            found = out["priority"]
    return found


def _import_file(path):
    if not path.endswith(".py") or not os.path.isfile(path):
        raise InvalidArgument(f"{path}: No such file or directory")
    name = "fluxd_jobtap_" + os.path.basename(path)[:-3].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # site code that does not import
        raise InvalidArgument(f"{path}: {_why(exc)}") from None
    return module


def _why(exc):
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
