# -*- test-case-name: tests.unit.job.test_pipeline -*-
"""Selecting and configuring job-ingest's frobnicator and validator
plugins, as ``flux job-frobnicator`` and ``flux job-validator`` do.

Both stages take ``--plugins=LIST`` (repeatable, comma-separated) and the
options the selected plugins add (``--require-version=1|any``,
``--require-instance-minnodes=N``...).  job-ingest builds that argument
vector from ``[ingest.frobnicator]`` / ``[ingest.validator]``: ``plugins``
becomes ``--plugins=a,b`` and ``args`` is appended as written.

A plugin name that is not built in is taken, as flux-core's
``import_path()`` does, as the path of a Python file: a site plugin.  Its
module defines ``Validator`` or ``Frobnicator`` (see
:mod:`fluxd.job.validate` and :mod:`fluxd.job.frobnicate` for the
methods).  A name that is neither is refused with flux's message
``validator plugin 'NAME' not found``.

This module imports no Twisted: ``flux job-validator --list-plugins``
uses it.
"""

import argparse
import importlib.util
import os
import sys

from fluxd.errors import InvalidArgument

__all__ = ["PluginArgumentError", "parse_stage", "load_site_plugin",
           "stage_argv", "list_plugins"]


class PluginArgumentError(InvalidArgument):
    """A bad ``plugins``/``args`` setting (one line)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises rather than printing usage and exiting."""

    def error(self, message):
        raise PluginArgumentError(message)


def stage_argv(table):
    """The argument vector of one stage from its ``[ingest.STAGE]`` table.

    :param table: the table as a dict (may be empty).
    :returns: a list of strings.
    """
    argv = []
    plugins = table.get("plugins")
    if plugins is not None:
        argv.append("--plugins=" + ",".join(plugins))
    argv.extend(table.get("args") or [])
    return argv


def load_site_plugin(kind, name, attribute):
    """Import a site plugin from the Python file ``name``.

    :param kind: ``validator`` or ``frobnicator`` (for the message).
    :param attribute: the class the module must define.
    :returns: the class.
    :raises PluginArgumentError: ``KIND plugin 'NAME' not found`` when the
        file does not exist, does not import, or lacks the class.
    """
    missing = PluginArgumentError(f"{kind} plugin '{name}' not found")
    if not name.endswith(".py") or not os.path.isfile(name):
        raise missing
    modname = "fluxd_site_" + kind + "_" + \
        os.path.basename(name)[:-3].replace("-", "_")
    spec = importlib.util.spec_from_file_location(modname, name)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # any error in site code refuses the plugin
        raise PluginArgumentError(
            f"{kind} plugin '{name}' not found: {type(exc).__name__}:"
            f" {exc}".splitlines()[0]) from None
    cls = getattr(module, attribute, None)
    if cls is None:
        raise PluginArgumentError(f"{kind} plugin '{name}' not found:"
                                  f" no {attribute} class")
    sys.modules.setdefault(modname, module)
    return cls


def parse_stage(kind, argv, builtins, defaults, attribute):
    """Select and configure the plugins of one stage.

    :param kind: ``validator`` or ``frobnicator``.
    :param argv: the stage's arguments (:func:`stage_argv`).
    :param builtins: ``{name: class}`` of the built-in plugins.
    :param defaults: plugin names used without ``--plugins``.
    :param attribute: the class a site plugin module defines.
    :returns: ``(plugins, args)``: instances in order (each built with
        the argparse group it may add options to) and the parsed options.
    :raises PluginArgumentError: on an unknown plugin or option.
    """
    parser = _Parser(prog=f"flux-job-{kind}", add_help=False,
                     allow_abbrev=False)
    parser.add_argument("--plugins", "--plugin", action="append",
                        default=[])
    group = parser.add_argument_group("Options provided by plugins")
    first, rest = parser.parse_known_args(argv)
    names = [n for item in first.plugins for n in item.split(",") if n] \
        or list(defaults)
    plugins = []
    for name in names:
        cls = builtins.get(name) or load_site_plugin(kind, name, attribute)
        try:
            plugins.append(cls(group))
        except argparse.ArgumentError as exc:
            raise PluginArgumentError(f"{kind} plugin '{name}': {exc}") \
                from None
    args = parser.parse_args(rest)
    return plugins, args


def list_plugins(builtins):
    """The ``--list-plugins`` text of one stage.

    :param builtins: ``{name: class}``; each class has ``description``.
    :returns: ``Available plugins:`` then ``%-20s  %s`` lines, sorted.
    """
    lines = ["Available plugins:"]
    for name in sorted(builtins):
        lines.append("%-20s  %s" % (name, builtins[name].description))
    return "\n".join(lines) + "\n"
