# -*- test-case-name: tests.integration.test_kvs_cli -*-
"""``flux content load|store|flush|dropcache``: the RFC 10 content store.

``load BLOBREF`` writes the blob to standard output; ``store`` reads a
blob from standard input and prints its blobref (``--dry-run`` only
computes it); ``flush`` waits until every stored blob is in the backing
store; ``dropcache`` drops the local broker's clean cache entries.
``--bypass-cache`` sends loads and stores straight to rank 0.
"""

import argparse
import sys

from fluxd.client.sync import Flux
from fluxd.errors import FluxError, InvalidArgument
from fluxd.storage import blobref as _blobref
from fluxd.message.types import NODEID_ANY


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        raise InvalidArgument(message)


def _hash_name(h):
    return h.rpc("attr.get", {"name": "content.hash"})["value"]


def _nodeid(args):
    return 0 if args.bypass_cache else NODEID_ANY


def cmd_load(h, args):
    try:
        digest = _blobref.to_digest(args.blobref)
    except FluxError as exc:
        raise InvalidArgument(f"{args.blobref}: {exc}") from None
    try:
        data = h.rpc_raw("content.load", digest, _nodeid(args))
    except FluxError as exc:
        raise FluxError(f"{args.blobref}: {exc}", errnum=exc.errno) from None
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write((data or b"").decode("utf-8", "replace"))
    else:
        out.write(data or b"")
        out.flush()
    return 0


def cmd_store(h, args):
    data = sys.stdin.buffer.read()
    if args.dry_run:
        print(_blobref.hash_blob(data, _hash_name(h)))
        return 0
    digest = h.rpc_raw("content.store", data, _nodeid(args))
    print(_blobref.from_digest(digest or b"", _hash_name(h)))
    return 0


def cmd_flush(h, args):
    h.rpc_raw("content.flush")
    return 0


def cmd_dropcache(h, args):
    h.rpc_raw("content.dropcache")
    return 0


def main(argv):
    """``flux content``: returns the exit code."""
    parser = _Parser(prog="flux-content", usage="flux content COMMAND [OPTIONS]")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser,
                                metavar="COMMAND", prog="flux content")
    p = sub.add_parser("load", help="Load blob for BLOBREF to stdout")
    p.add_argument("-b", "--bypass-cache", action="store_true",
                   help="Load directly from rank 0 content service")
    p.add_argument("blobref")
    p.set_defaults(func=cmd_load)
    p = sub.add_parser("store", help="Store blob from stdin, print BLOBREF on stdout")
    p.add_argument("-b", "--bypass-cache", action="store_true",
                   help="Store directly to rank 0 content service")
    p.add_argument("-d", "--dry-run", action="store_true",
                   help="Compute blobref but don't actually store value")
    p.set_defaults(func=cmd_store)
    p = sub.add_parser("flush", help="Flush dirty entries from local content cache")
    p.set_defaults(func=cmd_flush)
    p = sub.add_parser("dropcache",
                       help="Drop non-essential entries from local content cache")
    p.set_defaults(func=cmd_dropcache)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 1
    with Flux() as h:
        return args.func(h, args)
