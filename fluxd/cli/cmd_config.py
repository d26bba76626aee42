# -*- test-case-name: tests.unit.cli.test_cmd_config -*-
"""``flux config``: query and reload the broker configuration
(spec/cli.md section 7).

- ``get [-d DEFAULT] [-q] [-t TYPE] [-c PATH|system|security|imp] [NAME]``
  prints the live config of the broker (``config.get``), or with
  ``--config-path`` the files at PATH (``system``, ``security`` and
  ``imp`` name ``/etc/flux/<name>/conf.d``, checked against that
  schema).  Strings print raw, anything else as compact JSON; an unset
  NAME is ``NAME is not set`` (exit 1; silent with ``-q``; ``-d`` prints
  DEFAULT instead).  ``-t`` checks the type (``string integer real boolean
  object array fsd fsd-integer fsd-real``): ``fsd-integer`` prints whole
  seconds, ``fsd-real`` seconds with 6 decimals.
- ``reload [--follower-noop]`` makes the instance re-read rank 0's config
  files (owner only); a config that no longer parses, or that changes a
  key only a restart can change, is refused and the old one kept
  (``flux-config: reload: FILE:LINE: ...``).
- ``load [PATH]`` replaces the live config with PATH (a config directory
  or file) or with standard input (JSON, else TOML); ``set [-t TYPE] NAME
  VALUE`` and ``unset NAME`` change one key: each fetches the config,
  edits it and loads it, as flux-core's do.  The change reaches every
  broker and service, until the next ``reload`` reads the files again.
- ``builtin NAME``: a compiled-in value (``confdir``, ``rundir``...).

Warnings the broker returns (an unknown table, a follower that did not
answer) are printed as ``flux-config: warning: ...``.
"""

import json
import os
import sys
import tomllib

from fluxd.cli._oneline import OneLineParser
from fluxd.client.sync import Flux
from fluxd.config import TYPES, config_from_object, load_config
from fluxd.errors import FluxError, InvalidArgument, NotFound, from_errno

#: ``${sysconfdir}/flux``: where ``-c system|security|imp`` look
CONFDIR = "/etc/flux"
SCHEMAS = ("system", "security", "imp")


def builtins():
    """The values of ``flux config builtin``."""
    from fluxd.job.plugins import PLUGINPATH
    return {
        "jobtap_pluginpath": PLUGINPATH,
        "confdir": CONFDIR,
        "system_confdir": os.path.join(CONFDIR, "system", "conf.d"),
        "security_confdir": os.path.join(CONFDIR, "security", "conf.d"),
        "imp_confdir": os.path.join(CONFDIR, "imp", "conf.d"),
        "rundir": "/run/flux",
        "statedir": "/var/lib/flux",
    }


class _Exit(Exception):
    """End the command with a status and no message (``-q``)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def format_value(value):
    """Strings raw, everything else compact JSON (as jansson prints it)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def get_value(config, name, type_name="any", default=None, quiet=False):
    """The text ``flux config get`` prints for ``name`` in ``config``.

    :raises fluxd.errors.FluxError: ``NAME is not set``, ``NAME does not
        have the requested type``, ``Unknown type: T``.
    """
    want = type_name.lower()
    if want not in TYPES:
        raise InvalidArgument(f"Unknown type: {type_name}")
    try:
        value = config.get_typed(name or None, want, schema_default=False)
    except NotFound:
        if default is not None:
            return default
        if quiet:
            raise _Exit(1) from None
        raise
    if want == "fsd-real":
        return "%f" % value
    return format_value(value)


def _load_local(path):
    if path in SCHEMAS:
        return load_config(os.path.join(CONFDIR, path, "conf.d"), schema=path)
    return load_config(path)


def cmd_get(args):
    """``flux config get``: print one value (or the whole table)."""
    if args.config_path:
        config = _load_local(args.config_path)
    else:
        with Flux() as h:
            config = config_from_object(h.rpc("config.get"))
    try:
        print(get_value(config, args.name, args.type, args.default, args.quiet))
    except _Exit as done:
        return done.code
    return 0


def _warn(reply):
    for line in (reply or {}).get("warnings", []):
        sys.stderr.write(f"flux-config: warning: {line}\n")


def cmd_reload(args):
    """``flux config reload``: ask the instance to re-read its files."""
    with Flux() as h:
        if args.follower_noop and h.rank > 0:
            return 0
        try:
            reply = h.rpc("config.reload")
        except FluxError as exc:
            raise from_errno(exc.errno, f"reload: {exc}") from None
    _warn(reply)
    return 0


def _load(h, table, what):
    try:
        reply = h.rpc("config.load", table)
    except FluxError as exc:
        raise from_errno(exc.errno, f"{what}: {exc}") from None
    _warn(reply)


def cmd_load(args):
    """``flux config load [PATH]``: replace the live config."""
    if args.path:
        try:
            table = load_config(args.path).as_dict()
        except FluxError as exc:
            raise from_errno(exc.errno, f"Error parsing config: {exc}") \
                from None
    else:
        text = sys.stdin.read()
        try:
            table = json.loads(text)
        except ValueError:
            try:
                table = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise InvalidArgument(f"TOML parse error: {exc}") from None
        if not isinstance(table, dict):
            raise InvalidArgument("Error parsing config: expected a table")
    with Flux() as h:
        _load(h, table, "load")
    return 0


def parse_set_value(text, type_name):
    """A ``flux config set`` VALUE as the JSON value flux-core builds.

    :param type_name: ``string``, ``integer``, ``real``, ``boolean``,
        ``object``, ``array`` or ``fsd``.
    :raises fluxd.errors.InvalidArgument: flux-core's messages.
    """
    if type_name == "boolean":
        return not (text == "" or text[0] in "0fF")
    if type_name == "integer":
        try:
            return int(text, 0)
        except ValueError:
            raise InvalidArgument("Error parsing integer value") from None
    if type_name == "real":
        try:
            return float(text)
        except ValueError:
            raise InvalidArgument("Error parsing real value") from None
    if type_name in ("object", "array"):
        want = dict if type_name == "object" else list
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, want):
            raise InvalidArgument(f"Error parsing json {type_name}")
        return value
    if type_name == "fsd":
        from fluxd.formats.fsd import FSDError, parse_fsd
        try:
            parse_fsd(text)
        except FSDError:
            raise InvalidArgument("Error parsing Flux Standard Duration") \
                from None
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, str):
            raise InvalidArgument("Error parsing string")
        return value
    return text


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "real"),
               (str, "string"), (dict, "object"), (list, "array"))


def _type_of(value):
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return "string"


def cmd_set(args):
    """``flux config set [-t TYPE] NAME VALUE``."""
    want = args.type.lower() if args.type else None
    if want in ("fsd-integer", "fsd-real"):
        raise InvalidArgument(f"Invalid type for the set subcommand: {args.type}")
    if want is not None and (want not in TYPES or want == "any"):
        raise InvalidArgument(f"Unknown type: {args.type}")
    with Flux() as h:
        config = config_from_object(h.rpc("config.get"))
        if want is None:
            try:
                old = config.get(args.name, schema_default=False)
            except NotFound:
                raise InvalidArgument("Type is unknown, please specify"
                                      " --type") from None
            want = _type_of(old)
        value = parse_set_value(args.value, want)
        table = _set_path(config.as_dict(), args.name, value)
        _load(h, table, "Error updating config object")
    return 0


def _set_path(table, dotted, value):
    node = table
    segs = dotted.split(".")
    for seg in segs[:-1]:
        node = node.setdefault(seg, {})
        if not isinstance(node, dict):
            raise InvalidArgument("Error updating config object")
    node[segs[-1]] = value
    return table


def cmd_unset(args):
    """``flux config unset NAME``."""
    with Flux() as h:
        table = h.rpc("config.get")
        node = table
        segs = args.name.split(".")
        for seg in segs[:-1]:
            node = node.get(seg) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(segs[-1], None)
        _load(h, table, "Error updating config object")
    return 0


def cmd_builtin(args):
    """``flux config builtin NAME``: print a compiled-in value."""
    try:
        print(builtins()[args.name])
    except KeyError:
        raise InvalidArgument(f"{args.name} is invalid") from None
    return 0


def main(argv):
    """``flux config``."""
    parser = OneLineParser(prog="flux-config",
                           description="Manage/query Flux configuration")
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=OneLineParser)
    get = sub.add_parser("get", help="Query broker configuration values")
    get.add_argument("-c", "--config-path", metavar="PATH|system|security|imp",
                     help="Get broker config from PATH (default: use live"
                          " config)")
    get.add_argument("-t", "--type", default="any", metavar="TYPE",
                     help="Set expected type (any, string, integer, real,"
                          " boolean, object, array, fsd, fsd-integer,"
                          " fsd-real)")
    get.add_argument("-q", "--quiet", action="store_true",
                     help='Suppress printing of "[key] is not set" errors.')
    get.add_argument("-d", "--default", metavar="VAL",
                     help="Use this value if config key is unset")
    get.add_argument("name", nargs="?")
    get.set_defaults(func=cmd_get)
    reload = sub.add_parser("reload",
                            help="Reload broker configuration from files")
    reload.add_argument("--follower-noop", action="store_true",
                        help="Do nothing if run on a non-leader broker (for"
                             " systemd use)")
    reload.set_defaults(func=cmd_reload)
    load = sub.add_parser("load", help="Load broker configuration from"
                                       " stdin or PATH")
    load.add_argument("path", nargs="?", metavar="PATH")
    load.set_defaults(func=cmd_load)
    set_ = sub.add_parser("set", help="Set broker configuration value")
    set_.add_argument("-t", "--type", metavar="TYPE",
                      help="Specify type (string, integer, real, boolean,"
                           " object, array, fsd)")
    set_.add_argument("name")
    set_.add_argument("value")
    set_.set_defaults(func=cmd_set)
    unset = sub.add_parser("unset", help="Unset broker configuration value")
    unset.add_argument("name")
    unset.set_defaults(func=cmd_unset)
    builtin = sub.add_parser("builtin",
                             help="Print compiled-in Flux configuration"
                                  " values")
    builtin.add_argument("name")
    builtin.set_defaults(func=cmd_builtin)
    args = parser.parse_args(argv)
    return args.func(args)
