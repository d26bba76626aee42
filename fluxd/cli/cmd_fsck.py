# -*- test-case-name: tests.unit.cli.test_cmd_fsck -*-
"""``flux fsck --statedir=DIR``: check a stopped broker's content store.

Newer flux-core has a ``flux fsck`` that walks the KVS from its
checkpoint and reports the keys whose blobs are missing.  fluxd's works
on ``DIR/content.sqlite`` directly (the statedir is locked meanwhile, so
a running broker makes it refuse), never writes it, and checks more
(:mod:`fluxd.storage.fsck`): the write-ahead log, sqlite's full
integrity check, every stored blob against its blobref, and the tree of
every namespace root.  It prints one line per problem::

    job.0000.0004.b200.0000.eventlog: damaged sha1-...: content does not match its hash
    a.b: missing sha1-...: not in the store

then a summary on stderr (``-q`` hides it).  Unreachable blobs (garbage
that ``flux shutdown --gc`` collects) are counted, and listed with
``--unreachable``.  The exit code is 0 when nothing is damaged or
missing, 1 otherwise; a store that cannot be opened at all is one
error line and exit code 1.
"""

import sys

from fluxd.cli import _snapshot
from fluxd.errors import InvalidArgument
from fluxd.storage.errors import CorruptStore
from fluxd.storage.fsck import Problem, fsck
from fluxd.storage.wal import check_wal

__all__ = ["main"]


def _header_problems(store_path):
    """The damage the start-up file checks see (the WAL), as problems."""
    try:
        check_wal(store_path + "-wal")
    except CorruptStore as exc:
        return [Problem("store", None, None, str(exc))]
    return []


def main(argv):
    """``flux fsck``: returns the exit code."""
    parser = _snapshot.Parser(
        prog="flux-fsck", usage="flux fsck [OPTIONS] --statedir=DIR",
        description="Check the integrity of a stopped broker's content store")
    parser.add_argument("--statedir", metavar="DIR",
                        help="The statedir of a stopped broker (required)")
    parser.add_argument("--unreachable", action="store_true",
                        help="List each blob no KVS root reaches")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="Also print the roots walked")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="Print problems only, no summary")
    args = parser.parse_args(argv)
    if not args.statedir:
        raise InvalidArgument("--statedir=DIR is required: fsck checks a"
                              " stopped broker's content.sqlite")
    with _snapshot.Offline(args.statedir, readonly=True, checks=False) as store:
        problems = _header_problems(store.path)
        report = fsck(store.conn)
    problems += report.problems
    out = sys.stdout
    if args.verbose:
        for namespace, rootref in sorted(report.roots.items()):
            out.write(f"root {namespace}: {rootref}\n")
    for problem in problems:
        out.write(problem.line() + "\n")
    if args.unreachable:
        for ref in report.unreachable:
            out.write(f"unreachable {ref}\n")
    out.flush()
    if not args.quiet:
        sys.stderr.write(
            f"flux-fsck: {store.path}: {report.blobs} blobs, {report.keys}"
            f" keys in {len(report.roots)} namespaces; {len(problems)}"
            f" problems, {len(report.unreachable)} unreachable blobs\n")
    return 1 if problems else 0
