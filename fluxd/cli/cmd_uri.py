# -*- test-case-name: tests.unit.cli.test_uri -*-
"""``flux uri [--remote|--local] [--wait] TARGET``: print the URI of the Flux
instance TARGET names (flux-uri(1)); see :mod:`fluxd.cli._uri` for the
targets.  Errors are one line, ``flux-uri: ERROR: MESSAGE``, exit 1.
"""

import argparse
import os
import sys

from fluxd.errors import FluxError

__all__ = ["main", "connector"]

PROG = "flux-uri"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def connector(uri):
    """A blocking client of ``uri`` (None: ``$FLUX_URI``)."""
    from fluxd.client.sync import Flux
    return Flux(uri)


def build_parser():
    """:returns: the ``flux uri`` argument parser."""
    from fluxd.cli._uri import RESOLVERS
    epilog = "Supported resolver schemes:\n" + "\n".join(
        f"  {name}\t\t{text}" for name, text in RESOLVERS.items())
    p = _Parser(prog=PROG, description="Resolve TARGET to a Flux URI",
                epilog=epilog,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--remote", action="store_true",
                   help="convert a local URI to remote")
    p.add_argument("--local", action="store_true",
                   default=bool(os.environ.get("FLUX_URI_RESOLVE_LOCAL")),
                   help="convert a remote URI to local")
    p.add_argument("--wait", action="store_true",
                   help="wait for a URI to become available, if supported")
    p.add_argument("uri", metavar="TARGET",
                   help="A Flux jobid or URI in scheme:argument form"
                   " (e.g. jobid:f1234)")
    return p


def main(argv, connect=connector, stdout=None, stderr=None):
    """Run ``flux uri``; returns the exit code."""
    from fluxd.cli._uri import resolve
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    if args.wait and not args.uri.startswith(("local:", "ssh:")):
        args.uri += "&wait" if "?" in args.uri else "?wait"
    try:
        uri = resolve(args.uri, connect)
        if args.remote:
            text = uri.remote
        elif args.local:
            text = uri.local
        else:
            text = str(uri)
    except FluxError as exc:
        stderr.write(f"{PROG}: ERROR: {exc}\n")
        return 1
    stdout.write(text + "\n")
    return 0
