# -*- test-case-name: tests.unit.cli.test_cmd_logger -*-
"""``flux logger [--severity LEVEL] [--appname NAME] MESSAGE...``.

Logs one message to the broker's log (``log.append``): the words of
MESSAGE joined by spaces; as flux-core's, the command refuses to run
without one.  The default severity is ``notice`` and the default
application name ``logger``, as in flux-core.
"""

from fluxd.cli._oneline import OneLineParser
from fluxd.client.sync import Flux
from fluxd.errors import InvalidArgument
from fluxd.logring import stdlog


def main(argv):
    """``flux logger``."""
    parser = OneLineParser(
        prog="flux-logger",
        usage="flux-logger [--severity LEVEL] [--appname NAME] message ...")
    parser.add_argument("-s", "--severity", default="notice")
    parser.add_argument("-n", "--appname", default="logger")
    parser.add_argument("message", nargs="+")
    args = parser.parse_args(argv)
    try:
        severity = stdlog.severity_from_name(args.severity)
    except stdlog.StdlogError:
        raise InvalidArgument("invalid severity: Use emerg|alert|crit|err|"
                              "warning|notice|info|debug") from None
    if not args.appname or " " in args.appname:
        raise InvalidArgument(f"invalid appname '{args.appname}':"
                              " one word is expected")
    text = " ".join(args.message)
    with Flux() as h:
        record = stdlog.encode(severity, args.appname, h.rank, text)
        h.rpc_raw("log.append", record)
    return 0
