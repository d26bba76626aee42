# -*- test-case-name: tests.unit.cli.test_nest -*-
"""What ``flux batch`` and ``flux alloc`` share: their options, the
jobspec of a nested instance, ``--conf`` and batch script directives.

The job's command is ``flux broker [BROKER-OPTS] [PROGRAM...]``
(:mod:`fluxd.nest.launch`), one task per node (shell option
``per-resource = {type = "node", count = 1}``) over ``-n/--nslots``
slots of ``-c/--cores-per-slot`` cores and ``-g/--gpus-per-slot`` GPUs,
on ``-N/--nodes`` nodes (exclusive when ``-N`` is given, as flux does).
``--conf`` builds a config that travels as the jobspec file
``conf.json``; ``--broker-opts`` (comma-separated, as ``flux start -o``)
and ``--dump[=FILE]`` (``-Scontent.dump=FILE``, default
``flux-{{jobid}}-dump.tgz``) become broker options.

No Twisted: these run in the ``flux`` command.
"""

import json
import os
import re
import shlex
import sys

from fluxd.errors import InvalidArgument

__all__ = ["add_nest_arguments", "fix_dump", "nest_jobspec", "parse_conf",
           "parse_directives", "DUMP_DEFAULT"]

DUMP_DEFAULT = "flux-{{jobid}}-dump.tgz"

#: ``flux submit`` options that batch/alloc replace with their own
_REPLACED = {"-N", "-x", "-n", "-c", "-g", "--cores", "--tasks-per-node",
             "--tasks-per-core", "--gpus-per-node", "command"}

_DIRECTIVE = re.compile(r"^\s*#\s*flux:(.*)$", re.IGNORECASE)


class _Without:
    """A parser proxy that leaves out the options batch/alloc replace."""

    def __init__(self, parser):
        self.parser = parser

    def add_argument(self, *names, **kwargs):
        if _REPLACED.intersection(names):
            return None
        return self.parser.add_argument(*names, **kwargs)


def add_nest_arguments(parser):
    """``flux submit``'s jobspec options, with batch/alloc's resource
    options, ``--conf``, ``--broker-opts`` and ``--dump``."""
    from fluxd.formats._jobspec_cli import add_arguments
    add_arguments(_Without(parser))
    add = parser.add_argument
    add("-N", "--nodes", metavar="N", help="Number of nodes to allocate")
    add("-x", "--exclusive", action="store_true",
        help="With -N, allocate nodes exclusively (the default)")
    add("-n", "--nslots", metavar="N",
        help="Number of total resource slots requested")
    add("-c", "--cores-per-slot", metavar="N",
        help="Number of cores to allocate per slot")
    add("-g", "--gpus-per-slot", metavar="N",
        help="Number of GPUs to allocate per slot")
    add("--conf", action="append", default=[],
        metavar="FILE|KEY=VAL|STRING",
        help="Set configuration for the new instance")
    add("--broker-opts", action="append", default=[], metavar="OPTS",
        help="Pass options to each flux broker of the new instance")
    add("--dump", nargs="?", const=DUMP_DEFAULT, metavar="FILE",
        help=f"Archive the instance's KVS at exit (default {DUMP_DEFAULT})")
    return parser


def fix_dump(args, argv, positional):
    """``--dump[=FILE]`` takes a file only after ``=``: a word argparse
    took after a bare ``--dump`` goes back to the front of the
    ``positional`` list (the script or command)."""
    if args.dump is None or args.dump == DUMP_DEFAULT \
            or f"--dump={args.dump}" in argv:
        return args
    getattr(args, positional).insert(0, args.dump)
    args.dump = DUMP_DEFAULT
    return args


def _count(args, name, minimum=1):
    value = getattr(args, name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidArgument(f"--{name.replace('_', '-')}: invalid int"
                              f" value '{value}'") from None
    if number < minimum:
        raise InvalidArgument(f"--{name.replace('_', '-')} must be >="
                              f" {minimum}")
    return number


def _toml_value(text):
    import tomllib
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_conf(items):
    """The config table of ``--conf`` items, merged in order.

    An item is ``KEY=VAL`` (a dotted key; VAL a TOML value, else a
    string), a multi-line TOML string, or a ``.toml``/``.json`` file.

    :raises InvalidArgument: one line naming the item.
    """
    import tomllib
    conf = {}
    for item in items:
        if "\n" in item:
            try:
                table = tomllib.loads(item)
            except tomllib.TOMLDecodeError as exc:
                raise InvalidArgument(f"--conf: {exc}") from None
        elif re.match(r"^[A-Za-z0-9_.-]+=", item):
            key, _, value = item.partition("=")
            table = {}
            node = table
            *path, last = key.split(".")
            for part in path:
                node = node.setdefault(part, {})
            node[last] = _toml_value(value)
        elif item.endswith((".toml", ".json")):
            try:
                with open(item, "rb") as f:
                    data = f.read()
            except OSError as exc:
                raise InvalidArgument(f"--conf={item}: {exc.strerror}") \
                    from None
            try:
                table = json.loads(data) if item.endswith(".json") \
                    else tomllib.loads(data.decode("utf-8"))
            except (ValueError, tomllib.TOMLDecodeError) as exc:
                raise InvalidArgument(f"--conf={item}: {exc}") from None
        else:
            raise InvalidArgument(f"--conf={item}: expected KEY=VAL, TOML"
                                  " text or a .toml/.json file")
        _merge(conf, table)
    return conf


def _merge(into, table):
    for key, value in table.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def parse_directives(text):
    """The ``flux batch`` options in a script's ``# flux:`` lines.

    Directives go in the comment block at the top of the script (after
    the ``#!`` line, among comments and blank lines); each line's text
    is split as a shell would.

    :returns: the option words, in order.
    :raises InvalidArgument: for a directive after the first command or
        one that does not split (``line N: ...``).
    """
    words, body = [], False
    for number, line in enumerate(text.splitlines(), 1):
        match = _DIRECTIVE.match(line)
        if match:
            if body:
                raise InvalidArgument(f"line {number}: orphan 'flux:'"
                                      " directive after the script's first"
                                      " command")
            try:
                words += shlex.split(match.group(1), comments=True)
            except ValueError as exc:
                raise InvalidArgument(f"line {number}: {exc}") from None
        elif line.strip() and not line.lstrip().startswith("#"):
            body = True
    return words


def flux_path():
    """This installation's ``flux`` command."""
    if os.path.basename(sys.argv[0]) == "flux":
        return os.path.abspath(sys.argv[0])
    return os.path.join(os.path.dirname(sys.executable), "flux")


def broker_words(args):
    """The ``flux broker`` options of ``--broker-opts`` and ``--dump``."""
    from fluxd._attr_table import parse_setattr
    from fluxd.cli.cmd_start import split_broker_opts
    config_path, items = split_broker_opts(args.broker_opts)
    words = []
    if config_path:
        words.append(f"--config-path={os.path.abspath(config_path)}")
    for item in items:
        parse_setattr([item])
        words.append(f"-S{item}")
    if args.dump:
        words.append(f"-Scontent.dump={args.dump}")
    return words


def nest_jobspec(args, program, *, environ=None, cwd=None, getrlimit=None,
                 files=None):
    """The jobspec and urgency of a nested instance running ``program``.

    :param program: the initial program's argv (may be empty).
    :param files: ``{name: text}`` to add as jobspec files (the batch
        script).
    :raises InvalidArgument: one line for a bad option.
    """
    from fluxd.formats._jobspec_build import (
        from_command, set_attribute, set_shell_option)
    from fluxd.formats._jobspec_cli import (
        _time_limit, filter_environment, parse_urgency)
    from fluxd.formats._jobspec_options import apply_options, fileref
    nodes = _count(args, "nodes")
    nslots = _count(args, "nslots")
    cores = _count(args, "cores_per_slot") or 1
    gpus = _count(args, "gpus_per_slot", 0)
    if nslots is None:
        nslots = nodes or 1
    if nodes is not None and nodes > nslots:
        raise InvalidArgument(f"number of slots ({nslots}) must be >= the"
                              f" number of nodes ({nodes})")
    urgency = parse_urgency(args.urgency)
    environment, expand = filter_environment(args.env, environ)
    duration = None if args.time_limit is None \
        else _time_limit(args.time_limit)
    command = [flux_path(), "broker", *broker_words(args), *program]
    jobspec = from_command(
        command, ntasks=nslots, nodes=nodes, cores_per_task=cores,
        gpus_per_task=gpus or None,
        exclusive=nodes is not None, environment=environment,
        cwd=args.cwd if args.cwd is not None else (cwd or os.getcwd()))
    apply_options(jobspec, args, duration=duration, getrlimit=getrlimit)
    if expand:
        set_shell_option(jobspec, "env-expand", expand)
    set_shell_option(jobspec, "per-resource", {"type": "node", "count": 1})
    all_files = dict(files or {})
    conf = parse_conf(args.conf)
    if conf:
        all_files["conf.json"] = json.dumps(conf)
    if all_files:
        existing = jobspec["attributes"]["system"].get("files", {})
        for name, text in all_files.items():
            existing[name] = fileref(text, perms=0o700 if name == "script"
                                     else 0o600, encoding="utf-8")
        set_attribute(jobspec, "system.files", existing)
    return jobspec, urgency
