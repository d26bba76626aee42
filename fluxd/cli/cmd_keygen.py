# -*- test-case-name: tests.unit.security.test_cmd_keygen -*-
"""``flux keygen [--name=NAME] [--meta=K=V,...] [PATH]``: the cluster cert.

Writes the certificate and key every broker of a system instance presents
on the overlay (see :mod:`fluxd.security.keys`), mode 0600, to PATH.  As
flux-core's ``flux-keygen``:

- ``-n, --name`` sets the certificate name (default: this host's name);
- ``--meta`` adds comma-separated ``key=value`` metadata, may be repeated,
  and the first value given for a key wins (so ``--meta keygen.hostname=x``
  replaces the default);
- without PATH it warns ``WARNING: add PATH argument to save generated
  certificate`` and saves nothing;
- an existing PATH is overwritten (fluxd also reduces its mode to 0600).

Nothing here imports Twisted.
"""

import argparse
import sys

from fluxd.errors import InvalidArgument

USAGE = "flux-keygen [OPTIONS] [PATH]"


class _Parser(argparse.ArgumentParser):
    """Usage errors become one-line InvalidArgument errors (exit 1)."""

    def error(self, message):
        raise InvalidArgument(message)


def _parser():
    parser = _Parser(prog="flux-keygen", usage=USAGE,
                     description="Generate the overlay network's cluster "
                                 "certificate (TLS certificate and key).")
    parser.add_argument("-n", "--name", metavar="NAME",
                        help="Set certificate name (default: hostname)")
    parser.add_argument("--meta", metavar="KEYVALS", action="append",
                        default=[],
                        help="Add/update comma-separated key=value metadata")
    parser.add_argument("path", metavar="PATH", nargs="?",
                        help="Where to save the certificate (mode 0600)")
    return parser


def main(argv):
    """Run ``flux keygen``.

    :param argv: the arguments after ``keygen``.
    :returns: the exit code.
    :raises fluxd.errors.FluxError: for bad input or a file that cannot be
        written (printed by the dispatcher as one line).
    """
    from fluxd.security.keys import keygen
    args = _parser().parse_args(argv)
    meta = [item for arg in args.meta for item in arg.split(",") if item]
    if args.path is None:
        sys.stderr.write("flux-keygen: WARNING: add PATH argument to save "
                         "generated certificate\n")
    keygen(args.path, name=args.name, meta=meta)
    return 0
