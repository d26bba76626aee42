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
- ``reload [--follower-noop]`` makes the broker re-read its config files
  (owner only); a config that no longer parses is refused and the old one
  kept (``flux-config: reload: FILE:LINE: ...``).
- ``builtin NAME``: a compiled-in value (``confdir``, ``rundir``...).
"""

import json
import os

from fluxd.cli._oneline import OneLineParser
from fluxd.client.sync import Flux
from fluxd.config import TYPES, config_from_object, load_config
from fluxd.errors import FluxError, InvalidArgument, NotFound, from_errno

#: ``${sysconfdir}/flux``: where ``-c system|security|imp`` look
CONFDIR = "/etc/flux"
SCHEMAS = ("system", "security", "imp")


def builtins():
    """The values of ``flux config builtin``."""
    return {
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


def cmd_reload(args):
    """``flux config reload``: ask the broker to re-read its files."""
    with Flux() as h:
        if args.follower_noop and h.rank > 0:
            return 0
        try:
            h.rpc("config.reload")
        except FluxError as exc:
            raise from_errno(exc.errno, f"reload: {exc}") from None
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
    builtin = sub.add_parser("builtin",
                             help="Print compiled-in Flux configuration"
                                  " values")
    builtin.add_argument("name")
    builtin.set_defaults(func=cmd_builtin)
    args = parser.parse_args(argv)
    return args.func(args)
