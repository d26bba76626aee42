# -*- test-case-name: tests.unit.cli.test_cmd_admin -*-
"""``flux admin cleanup-push [COMMAND]``: add commands to the broker's
CLEANUP phase (``runat.push``), as flux-core's rc1 does.

Without COMMAND, each non-empty line of standard input is one command.
Commands run with ``/bin/sh -c`` on rank 0 when the instance stops, the
last pushed first; when a signal stops the broker, they are cut off after
``broker.cleanup-timeout``.
"""

import sys

from fluxd.cli._oneline import OneLineParser
from fluxd.client.sync import Flux
from fluxd.errors import InvalidArgument


def cleanup_push(args):
    """Push the commands."""
    if args.words:
        commands = [" ".join(args.words)]
    else:
        commands = [line.strip() for line in sys.stdin.read().splitlines()
                    if line.strip()]
    if not commands:
        raise InvalidArgument("no commands to push")
    with Flux() as h:
        # pushed in reverse so that they run in the order given
        h.rpc("runat.push", {"name": "cleanup",
                             "commands": list(reversed(commands))}, nodeid=0)
    return 0


def main(argv):
    """``flux admin``."""
    parser = OneLineParser(prog="flux-admin",
                           description="Flux instance administration")
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=OneLineParser)
    push = sub.add_parser("cleanup-push",
                          help="Push commands onto the cleanup list")
    push.add_argument("words", nargs="*", metavar="COMMAND")
    push.set_defaults(func=cleanup_push)
    args = parser.parse_args(argv)
    return args.func(args)
