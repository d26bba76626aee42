# -*- test-case-name: tests.unit.exec.test_shell_plugins -*-
"""Job shell plugins: one interface for the builtin ones and a site's.

A plugin is a Python module with a function ``flux_plugin_init(p)``
that registers its callbacks with ``p.add_handler(topic, fn)``; ``fn``
is called as ``fn(shell, topic, task)`` (``task`` is None for the
``shell.*`` topics).  The topics, in the order of a shell's life (as
flux's job shell names them):

- ``shell.init``: options read, files opened, before the init barrier;
- ``shell.post-init``: after the ``init`` event, before any task starts;
- ``task.init``: in the shell, before task N starts (``task.env``,
  ``task.pass_fds``, ``task.stdio`` and ``task.setsid`` may change);
- ``task.exec``: in the task's own process, just before ``exec``
  (a task with such a handler is started by ``fork`` + ``exec``, not
  ``posix_spawn``);
- ``task.fork``: in the shell, once task N runs (``task.pid``);
- ``shell.start``: every local task started;
- ``task.exit``: task N exited (``task.status``, its exit code);
- ``shell.exit``: the shell is about to exit (``shell.exit_code``).

A topic may be a glob (``task.*``).  A callback that raises ends the job:
the shell logs ``plugin 'NAME': TOPIC: error`` as fatal (a ``task.exec``
failure fails that task's start the same way).

Plugins come, in this order, from the builtin set (:data:`BUILTINS`:
``cpu-affinity``, ``gpu-affinity``, ``pmi``, ``pty``), then from the
initrc: ``-o initrc=FILE``, else the broker attribute
``conf.shell_initrc``, a Python file run with ``plugin`` (``load(FILE or
GLOB)``, ``searchpath``), ``shell`` and ``source(FILE)`` in scope.
Without an initrc, every ``*.py`` of ``conf.shell_pluginpath`` (a colon
separated list of directories) is loaded.  A plugin loaded under the
name of an earlier one (its module's ``NAME``, else its file name)
replaces it.
"""

import fnmatch
import glob
import importlib.util
import os

__all__ = ["BUILTINS", "PluginError", "Plugin", "PluginStack", "Task",
           "TOPICS"]

TOPICS = ("shell.init", "shell.post-init", "task.init", "task.exec",
          "task.fork", "shell.start", "task.exit", "shell.exit")
#: the module names of the builtin plugins, loaded first (imported with
#: this package, so the shell server has them before it forks)
BUILTINS = ("affinity", "gpubind", "pmi", "pty")


class PluginError(Exception):
    """A plugin failed to load or one of its callbacks raised."""


class Task:
    """One task as plugins see it."""

    __slots__ = ("rank", "localid", "argv", "env", "pass_fds", "pid",
                 "status", "stdio", "setsid")

    def __init__(self, rank, localid, argv, env):
        self.rank, self.localid = rank, localid
        self.argv, self.env = argv, env
        self.pass_fds = []      # fds the task inherits (left open for it)
        self.stdio = {}         # stdin/stdout/stderr -> fd (not piped)
        self.setsid = False     # a session of its own (a pty's task)
        self.pid = None
        self.status = None


class Plugin:
    """The handle a plugin's ``flux_plugin_init(p)`` registers with."""

    def __init__(self, name, shell):
        self.name = name
        self.shell = shell
        self.handlers = []      # (topic glob, fn, glob has wildcards)

    def add_handler(self, topic, fn):
        """Call ``fn(shell, topic, task)`` at ``topic`` (a glob)."""
        if not callable(fn):
            raise PluginError(f"plugin '{self.name}': handler of {topic}"
                              " is not callable")
        topic = str(topic)
        self.handlers.append((topic, fn, _has_magic(topic)))
        self._changed()

    def _changed(self):
        stack = getattr(self.shell, "plugins", None)
        if isinstance(stack, PluginStack):
            stack._cache.clear()

    def getopt(self, name, default=None):
        """The shell option ``name`` (dotted), or ``default``."""
        return self.shell.getopt(name, default)


class PluginStack:
    """The plugins of one shell, in load order."""

    def __init__(self, shell):
        self.shell = shell
        self.plugins = []
        self.searchpath = ""
        self._cache = {}        # topic -> [(plugin, fn)]

    def _init(self, name, module, origin):
        init = getattr(module, "flux_plugin_init", None)
        if not callable(init):
            raise PluginError(f"{origin}: no flux_plugin_init function")
        name = str(getattr(module, "NAME", name))
        plugin = Plugin(name, self.shell)
        try:
            init(plugin)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin '{name}': init: {_why(exc)}") from None
        self.plugins = [p for p in self.plugins if p.name != name]
        self.plugins.append(plugin)
        self._cache.clear()
        return plugin

    def load_builtins(self):
        """The builtin plugins (:data:`BUILTINS`)."""
        for module in _BUILTIN_MODULES:
            self._init(module.NAME, module, module.__name__)

    def load(self, pattern):
        """Load plugin files: a path or a glob, relative ones looked for
        on :attr:`searchpath`.  :returns: the number loaded."""
        pattern = os.path.expanduser(str(pattern))
        if os.path.isabs(pattern):
            paths = sorted(glob.glob(pattern))
        else:
            paths = []
            for d in self.searchpath.split(":"):
                if d:
                    paths.extend(sorted(glob.glob(os.path.join(d, pattern))))
        if not paths and not glob.has_magic(pattern):
            raise PluginError(f"{pattern}: plugin not found")
        for path in paths:
            self.load_file(path)
        return len(paths)

    def load_file(self, path):
        """Load one plugin module from ``path``."""
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(
            f"flux_shell_plugin_{len(self.plugins)}_{name}", path)
        if spec is None:
            raise PluginError(f"{path}: not a Python plugin")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except OSError as exc:
            raise PluginError(f"{path}: {exc.strerror}") from None
        except Exception as exc:
            raise PluginError(f"{path}: {_why(exc)}") from None
        return self._init(name, module, path)

    def run_initrc(self, path):
        """Run a Python initrc (``plugin``, ``shell``, ``source`` in its
        scope)."""
        try:
            with open(path, encoding="utf-8") as f:
                code = compile(f.read(), path, "exec")
        except OSError as exc:
            raise PluginError(f"initrc: {path}: {exc.strerror}") from None
        except SyntaxError as exc:
            raise PluginError(f"initrc: {path}:{exc.lineno}: {exc.msg}"
                              ) from None
        scope = {"plugin": self, "shell": self.shell,
                 "source": self.run_initrc, "__file__": path}
        try:
            exec(code, scope)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"initrc: {path}: {_why(exc)}") from None

    def handlers(self, topic):
        """``[(plugin, fn)]`` of ``topic``, in load order."""
        found = self._cache.get(topic)
        if found is None:
            found = self._cache[topic] = [
                (p, fn) for p in self.plugins
                for glob_, fn, magic in p.handlers
                if glob_ == topic or (magic
                                      and fnmatch.fnmatchcase(topic, glob_))]
        return found

    def has(self, topic):
        """Whether a handler matches ``topic``."""
        return bool(self.handlers(topic))

    def call(self, topic, task=None):
        """Call every handler of ``topic`` in load order.

        :raises PluginError: naming the plugin whose handler raised.
        """
        for plugin, fn in list(self.handlers(topic)):
            try:
                fn(self.shell, topic, task)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin '{plugin.name}': {topic}:"
                                  f" {_why(exc)}") from None


def _has_magic(topic):
    """Whether ``topic`` is a glob (``glob.has_magic`` without its
    regular expression, which a forked shell would run cold)."""
    return "*" in topic or "?" in topic or "[" in topic


def _why(exc):
    """A plugin's error: its message (the exception's name too, unless
    it is a ValueError, which plugins raise for bad options)."""
    text = str(exc)
    if isinstance(exc, ValueError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def setup(shell, spec):
    """The plugin stack of ``shell``: builtins, then the initrc (``-o
    initrc``, ``conf.shell_initrc``) or ``conf.shell_pluginpath``'s
    plugins.  :raises PluginError:"""
    stack = PluginStack(shell)
    stack.searchpath = str(spec.get("shell_pluginpath") or "")
    stack.load_builtins()
    initrc = shell.getopt("initrc") or spec.get("shell_initrc")
    if initrc or stack.searchpath:
        # the site's code may change the process: no other job runs in it;
        # it finds the cpus of a fresh process (it may replace the
        # cpu-affinity plugin, which restores them)
        shell.foreign = True
        affinity.unbind()
    if initrc:
        stack.run_initrc(str(initrc))
    elif stack.searchpath:
        stack.load("*.py")
    return stack


from flux_shell.plugins import affinity, gpubind, pmi, pty  # noqa: E402

#: the modules of :data:`BUILTINS`, in that order
_BUILTIN_MODULES = (affinity, gpubind, pmi, pty)
