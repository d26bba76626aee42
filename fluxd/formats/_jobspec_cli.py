# -*- test-case-name: tests.unit.formats.test_jobspec_cli -*-
"""``flux submit``-style options to V1 jobspec (flux-core ``flux.cli.base``).

The options that only add jobspec fields (limits, signals, files, I/O,
dependencies, constraints...) are applied by
:func:`fluxd.formats._jobspec_options.apply_options`.

:func:`build_from_argv` parses the resource and attribute options of
``flux submit``/``flux run`` and builds the jobspec; :func:`add_arguments`
and :func:`jobspec_from_args` let a command add its own options around
them.  Environment rules (``--env``, ``--env-remove``, ``--env-file``) are
applied in command-line order by :func:`filter_environment`:

- ``VAR=VAL`` sets VAR, expanding ``$NAME``/``${NAME}`` from the
  environment built so far, then the caller's; a value containing ``{{``
  is a mustache template left to the job shell (shell option
  ``env-expand``);
- ``PATTERN`` (no ``=``) imports matching variables from the caller's
  environment that are not already set;
- ``-PATTERN`` removes matching variables;
- ``^FILE`` reads more rules from FILE, one per line.

A PATTERN is a shell glob, or a regular expression when written
``/REGEX/``.
"""

import argparse
import fnmatch
import os
import re
from collections import ChainMap

from fluxd.formats._jobspec_build import (
    from_command, from_nodes_and_cores, set_shell_option,
)
from fluxd.formats._jobspec_options import apply_options
from fluxd.formats._jobspec_json import JobspecError

__all__ = [
    "build_from_argv", "add_arguments", "jobspec_from_args",
    "filter_environment", "parse_urgency",
]

#: ``--urgency`` names (flux-core ``FLUX_JOB_URGENCY_*``).
URGENCY_NAMES = {"hold": 0, "default": 16, "expedite": 31}

_INT_OPTIONS = ("ntasks", "nodes", "cores", "cores_per_task", "gpus_per_task",
                "tasks_per_node", "tasks_per_core", "gpus_per_node")


def _fail(message):
    raise JobspecError(message)


# -- environment -------------------------------------------------------------

def _matcher(pattern):
    if pattern.startswith("/"):
        text = pattern[1:].rstrip("/")
    else:
        text = fnmatch.translate(pattern)
    try:
        return re.compile(text).match
    except re.error as exc:
        _fail(f"--env: invalid pattern '{pattern}': {exc}")


def filter_environment(rules, source=None):
    """Build a job environment from ``--env`` rules.

    :param rules: the rules in command-line order (``--env-remove=P`` is
        the rule ``-P`` and ``--env-file=F`` is ``^F``), or None.
    :param source: the caller's environment (default ``os.environ``); the
        result starts as a copy of it.
    :returns: ``(environment, env_expand)``: the job environment and the
        variables whose mustache templates the shell expands.
    :raises JobspecError: ``--env: Variable 'X' not found in RULE``,
        ``--env: Unable to substitute RULE`` or an unreadable rules file.
    """
    if source is None:
        source = os.environ
    environ = dict(source)
    expand = {}
    _apply_rules(rules or (), environ, expand, source)
    return environ, expand


def _apply_rules(rules, environ, expand, source):
    for rule in rules:
        if rule.startswith("-"):
            match = _matcher(rule[1:])
            for name in [name for name in environ if match(name)]:
                del environ[name]
        elif rule.startswith("^"):
            path = os.path.expanduser(rule[1:])
            try:
                with open(path, encoding="utf-8") as stream:
                    lines = [line.strip() for line in stream]
            except OSError as exc:
                _fail(f"--env: {path}: {exc.strerror or exc}")
            _apply_rules([line for line in lines if line], environ, expand,
                         source)
        else:
            name, sep, value = rule.partition("=")
            if not sep:
                match = _matcher(name)
                for key, val in source.items():
                    if match(key) and key not in environ:
                        environ[key] = val
            elif "{{" in value:
                expand[name] = value
            else:
                from string import Template
                try:
                    environ[name] = Template(value).substitute(
                        ChainMap(environ, source))
                except KeyError as exc:
                    _fail(f"--env: Variable {exc} not found in {rule}")
                except ValueError:
                    _fail(f"--env: Unable to substitute {rule}")


class _PrefixAction(argparse.Action):
    """Append ``PREFIX + value`` to the shared ``env`` list, so that
    ``--env``, ``--env-remove`` and ``--env-file`` keep their order."""

    def __init__(self, option_strings, dest, prefix="", **kwargs):
        self.prefix = prefix
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        items = getattr(namespace, self.dest, None) or []
        items.append(self.prefix + values)
        setattr(namespace, self.dest, items)


class _BeginTimeAction(argparse.Action):
    """``--begin-time`` adds a ``begin-time:`` URI to the dependencies."""

    def __call__(self, parser, namespace, values, option_string=None):
        from fluxd.formats._jobspec_options import begin_time_uri
        items = getattr(namespace, "dependency", None) or []
        items.append(begin_time_uri(values))
        setattr(namespace, "dependency", items)


# -- options -----------------------------------------------------------------

def add_arguments(parser):
    """Add ``flux submit``'s jobspec options and the command to a parser.

    :param parser: an ``argparse.ArgumentParser``.
    :returns: the parser.
    """
    add = parser.add_argument
    add("-q", "--queue", metavar="NAME", help="Submit to a named queue")
    add("-B", "--bank", metavar="BANK", help="Submit under a bank")
    add("-t", "--time-limit", metavar="MIN|FSD",
        help="Time limit in minutes when no units given, else an FSD")
    add("--urgency", metavar="N", default="16",
        help="Job urgency 0-31 (hold=0, default=16, expedite=31)")
    add("--job-name", metavar="NAME", help="Name the job")
    add("-o", "--setopt", action="append", metavar="OPT[=VAL]",
        help="Set shell option OPT (VAL defaults to 1)")
    add("-S", "--setattr", action="append", metavar="ATTR[=VAL]",
        help="Set jobspec attribute ATTR (system. implied)")
    add("--env", action=_PrefixAction, dest="env", metavar="RULE",
        help="Set, import (glob), remove (-PATTERN) or read (^FILE) "
             "environment variables")
    add("--env-remove", action=_PrefixAction, dest="env", prefix="-",
        metavar="PATTERN", help="Remove matching environment variables")
    add("--env-file", action=_PrefixAction, dest="env", prefix="^",
        metavar="FILE", help="Read environment rules from FILE")
    add("--cwd", metavar="DIRECTORY", help="Set job working directory")
    add("--add-file", action="append", metavar="[NAME=]PATH",
        help="Add a file at PATH (or NAME=CONTENT) to jobspec")
    add("--dependency", action="append", metavar="URI",
        help="Set an RFC 26 dependency URI for this job")
    add("--requires", action="append", metavar="CONSTRAINT",
        help="Specify job constraints in RFC 35 syntax")
    add("--begin-time", action=_BeginTimeAction, metavar="+FSD|TIME",
        help="Set minimum start time as offset in FSD (e.g. +1h) or an "
             "absolute TIME (e.g. 3pm) for job")
    add("--rlimit", action="append", metavar="RULE",
        help="Control how soft resource limits are propagated to the job")
    add("--input", metavar="FILENAME",
        help="Redirect job stdin from FILENAME, bypassing KVS")
    add("--output", metavar="FILENAME",
        help="Redirect job stdout to FILENAME, bypassing KVS")
    add("--error", metavar="FILENAME",
        help="Redirect job stderr to FILENAME, bypassing KVS")
    add("-u", "--unbuffered", action="store_true",
        help="Disable buffering of input and output")
    add("-l", "--label-io", action="store_true",
        help="Add rank labels to stdout, stderr lines")
    add("--signal", metavar="[SIG][@TIME]",
        help="Schedule delivery of signal SIG at a defined TIME before job "
             "expiration (default SIGUSR1@60)")
    add("--taskmap", metavar="URI",
        help="Select the scheme for mapping task ids to nodes as a URI "
             "(block, cyclic, cyclic:N, manual:TASKMAP)")
    add("-N", "--nodes", metavar="N", help="Number of nodes to allocate")
    add("-x", "--exclusive", action="store_true",
        help="With -N, allocate nodes exclusively")
    add("-n", "--ntasks", metavar="N", help="Number of tasks to start")
    add("-c", "--cores-per-task", metavar="N",
        help="Number of cores to allocate per task")
    add("-g", "--gpus-per-task", metavar="N",
        help="Number of GPUs to allocate per task")
    add("--cores", metavar="N", help="Request a total number of cores")
    add("--tasks-per-node", metavar="N", help="Force number of tasks per node")
    add("--tasks-per-core", metavar="N", help="Force number of tasks per core")
    add("--gpus-per-node", metavar="N",
        help="Request a number of GPUs per node with --nodes")
    add("command", nargs=argparse.REMAINDER, help="Job command and arguments")
    return parser


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors raise :class:`JobspecError`."""

    def error(self, message):
        raise JobspecError(message)


def parse_urgency(text):
    """Decode ``--urgency``: a number or ``hold``/``default``/``expedite``.

    The 0-31 range is enforced by the ingest service, not here.

    :returns: the urgency as an int.
    :raises JobspecError: ``--urgency: invalid int value 'X'``.
    """
    if text in URGENCY_NAMES:
        return URGENCY_NAMES[text]
    try:
        return int(text)
    except (TypeError, ValueError):
        _fail(f"--urgency: invalid int value '{text}'")


def _time_limit(text):
    # A bare number is minutes (flux-core converts with float()).
    try:
        return float(text) * 60
    except ValueError:
        return text


def _int_options(args):
    values = {}
    for name in _INT_OPTIONS:
        value = getattr(args, name, None)
        # as flux-core: only non-empty strings are converted
        if isinstance(value, str) and value:
            try:
                value = int(value)
            except ValueError:
                opt = name.replace("_", "-")
                _fail(f"--{opt}: invalid int value '{value}'")
        values[name] = value
    return values


def _resources(args, opts):
    """``SubmitBaseCmd.init_jobspec()``: pick the factory and its counts."""
    tasks_per_node = opts["tasks_per_node"]
    tasks_per_core = opts["tasks_per_core"]
    if tasks_per_node is not None and tasks_per_core is not None:
        _fail("Do not specify both the number of tasks per node and per core")
    per_type = per_count = None
    if tasks_per_node is not None:
        if tasks_per_node < 1:
            _fail("--tasks-per-node must be >= 1")
        per_type, per_count = "node", tasks_per_node
    elif tasks_per_core is not None:
        if tasks_per_core < 1:
            _fail("--tasks-per-core must be >= 1")
        per_type, per_count = "core", tasks_per_core
    nodes, exclusive = opts["nodes"], args.exclusive
    if opts["gpus_per_node"] and not nodes:
        _fail("--gpus-per-node requires --nodes")
    if (per_type is not None or opts["gpus_per_node"] is not None
            or opts["cores"] is not None):
        if (opts["ntasks"] is not None or opts["cores_per_task"] is not None
                or opts["gpus_per_task"]):
            _fail("Per-resource options can't be used with per-task "
                  "options. (See --help for details)")
        if nodes and opts["cores"] is None:
            exclusive = True  # -N alone asks for whole nodes
        return from_nodes_and_cores, dict(
            ncores=opts["cores"], nnodes=nodes, per_resource_type=per_type,
            per_resource_count=per_count, gpus_per_node=opts["gpus_per_node"],
            exclusive=exclusive)
    ntasks = opts["ntasks"]
    # -N without -n: one task per node, nodes exclusive.  (0 counts as
    # unset for -n and -c, as in flux-core.)
    if not ntasks and nodes:
        ntasks, exclusive = nodes, True
    return from_command, dict(
        ntasks=ntasks or 1, nodes=nodes,
        cores_per_task=opts["cores_per_task"] or 1,
        gpus_per_task=opts["gpus_per_task"], exclusive=exclusive)


def jobspec_from_args(args, *, environ=None, cwd=None, getrlimit=None):
    """Build jobspec from options parsed by a parser set up with
    :func:`add_arguments`.

    :param args: the ``argparse.Namespace``.
    :param environ: the caller's environment (default ``os.environ``).
    :param cwd: the working directory when ``--cwd`` is absent (default
        ``os.getcwd()``).
    :param getrlimit: ``resource.getrlimit`` (tests inject their own).
    :returns: ``(jobspec, urgency, command)``.
    :raises JobspecError: for any bad option, with flux-core's message.
    """
    command = list(args.command or [])
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        _fail("job command and arguments are missing")
    urgency = parse_urgency(args.urgency)
    factory, resources = _resources(args, _int_options(args))
    environment, expand = filter_environment(args.env, environ)
    duration = None
    if args.time_limit is not None:
        duration = _time_limit(args.time_limit)
    jobspec = factory(command, **resources, environment=environment,
                      cwd=args.cwd if args.cwd is not None else cwd)
    apply_options(jobspec, args, duration=duration, getrlimit=getrlimit)
    if expand:
        set_shell_option(jobspec, "env-expand", expand)
    return jobspec, urgency, command


def build_from_argv(argv, *, prog="flux-submit", environ=None, cwd=None,
                    getrlimit=None):
    """Build V1 jobspec from ``flux submit``-style arguments.

    Understands ``-n -N -c -g -x``, ``--cores --tasks-per-node
    --tasks-per-core --gpus-per-node``, ``-t`` (bare number = minutes),
    ``-q/--queue``, ``-B/--bank``, ``--urgency``, ``--job-name``,
    ``--env/--env-remove/--env-file``, ``--cwd``, ``-S/--setattr``,
    ``-o/--setopt``, ``--add-file``, ``--dependency``, ``--requires``,
    ``--begin-time``, ``--rlimit``, ``--input``, ``--output``,
    ``--error``, ``-u``, ``-l``, ``--signal``, ``--taskmap`` (see
    :mod:`._jobspec_options`), followed by the command.

    :param argv: the arguments, e.g. ``["-N2", "-n4", "hostname"]``.
    :param prog: the program name used in usage errors.
    :param environ: the caller's environment (default ``os.environ``).
    :param cwd: default working directory (default ``os.getcwd()``).
    :returns: ``(jobspec, urgency, command)``.
    :raises JobspecError: one line naming the bad option or value.
    """
    parser = add_arguments(_Parser(prog=prog, add_help=False))
    args = parser.parse_args(list(argv))
    return jobspec_from_args(args, environ=environ, cwd=cwd,
                             getrlimit=getrlimit)
