# -*- test-case-name: tests.integration.test_jobtap -*-
"""``flux jobtap``: list, load, remove and query the job manager's jobtap
plugins (instance owner only; spec/cli.md).

``list [-a]`` prints one plugin name per line (``-a`` adds the builtins,
whose names start with ``.``); ``load [-r NAME] PLUGIN [KEY=VAL...]``
loads a Python plugin file (or a builtin by name) with ``KEY=VAL`` as its
conf (values that parse as JSON are taken as JSON), first removing NAME
with ``-r``; ``remove NAME|GLOB|all``; ``query NAME`` prints the plugin's
JSON.  Errors print ``flux-jobtap: MESSAGE`` and exit 1.
"""

import argparse
import json
import os

from fluxd.client.sync import Flux
from fluxd.errors import InvalidArgument

__all__ = ["main", "parse_conf"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InvalidArgument(message)


def parse_conf(pairs):
    """``KEY=VAL`` arguments as a conf dict.

    :raises fluxd.errors.InvalidArgument: for an argument without ``=``.
    """
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"conf argument must be KEY=VAL: {pair}")
        try:
            conf[key] = json.loads(value)
        except ValueError:
            conf[key] = value
    return conf


def _parser():
    parser = _Parser(prog="flux-jobtap")
    sub = parser.add_subparsers(dest="cmd", required=True)
    lister = sub.add_parser("list", help="List loaded plugins")
    lister.add_argument("-a", "--all", action="store_true",
                        help="Include builtin plugins")
    load = sub.add_parser("load", help="Load a plugin")
    load.add_argument("-r", "--remove", metavar="NAME",
                      help="Remove plugin NAME first")
    load.add_argument("plugin")
    load.add_argument("conf", nargs="*", metavar="KEY=VAL")
    remove = sub.add_parser("remove", help="Remove plugins")
    remove.add_argument("name")
    query = sub.add_parser("query", help="Query a plugin")
    query.add_argument("name")
    return parser


def main(argv):
    """``flux jobtap``."""
    args = _parser().parse_args(argv)
    with Flux() as h:
        if args.cmd == "list":
            answer = h.rpc("job-manager.jobtap", {"query_only": True})
            for name in answer["plugins"]:
                if args.all or not name.startswith("."):
                    print(name)
        elif args.cmd == "load":
            plugin = args.plugin
            if os.path.exists(plugin):
                plugin = os.path.abspath(plugin)
            payload = {"load": plugin, "conf": parse_conf(args.conf)}
            if args.remove:
                payload["remove"] = args.remove
            h.rpc("job-manager.jobtap", payload)
        elif args.cmd == "remove":
            h.rpc("job-manager.jobtap", {"remove": args.name})
        else:
            answer = h.rpc("job-manager.jobtap-query", {"name": args.name})
            print(json.dumps(answer))
    return 0
