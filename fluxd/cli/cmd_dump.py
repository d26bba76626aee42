# -*- test-case-name: tests.unit.cli.test_cmd_dump -*-
"""``flux dump [OPTIONS] OUTFILE``: write a KVS snapshot to an archive.

The snapshot is the primary namespace at its current root, or with
``--checkpoint`` at the checkpoint in the content backing store (its
timestamp becomes the members' time).  The archive layout is
flux-core's (:mod:`fluxd.storage.archive`): one member per key, ``.tar``,
``.tgz``/``.tar.gz``, ``.tar.bz2`` or ``.tar.xz`` by the file name, ``-``
for an uncompressed tar on standard output.

Options as flux-core 0.88: ``-v`` lists keys, ``-q`` hides the
``archived N keys`` counter, ``--no-cache`` bypasses the content cache,
``--ignore-failed-read`` reports a missing blob and goes on,
``--sd-notify`` (or ``broker.sd-notify`` set) keeps systemd informed,
``--maxreqs=N`` requests in flight.  **[fluxd]** ``--statedir=DIR`` dumps
a stopped broker's ``DIR/content.sqlite`` directly.
"""

import os
import sys
import time

from fluxd.cli import _snapshot
from fluxd.errors import FluxError
from fluxd.storage import archive


def _online(args, progress):
    from fluxd.client.sync import Flux
    with Flux() as h:
        progress.notify = _snapshot.notifier(args, h)
        if args.checkpoint:
            try:
                value = h.rpc("content.checkpoint-get", {})["value"]
                rootref, mtime = value["rootref"], value["timestamp"]
            except (FluxError, KeyError, TypeError) as exc:
                raise FluxError(f"error fetching checkpoint: {exc}") from None
        else:
            try:
                rootref = h.rpc("kvs.getroot", {"namespace": "primary",
                                                "flags": 0})["rootref"]
            except FluxError as exc:
                raise FluxError(f"error fetching current KVS root: {exc}",
                                errnum=exc.errno) from None
            mtime = time.time()
        source = _snapshot.RemoteBlobs(h, args.no_cache, args.maxreqs)
        return _write(args, source, rootref, mtime, progress)


def _offline(args, progress):
    progress.notify = _snapshot.notifier(args)
    with _snapshot.Offline(args.statedir) as store:
        primary = store.primary()
        mtime = primary["timestamp"] if args.checkpoint else time.time()
        return _write(args, store.store(), primary["rootref"], mtime,
                      progress)


def _write(args, source, rootref, mtime, progress):
    tar = archive.open_for_write(args.outfile)
    try:
        dumper = archive.Dumper(
            source, tar, mtime, progress,
            verbose=sys.stderr if args.verbose else None,
            ignore_failed_read=args.ignore_failed_read, errors=sys.stderr)
        dumper.dump(rootref)
        tar.close()
    except BaseException:
        tar.close()
        # a partial archive must not pass for a whole one
        if args.outfile != "-":
            try:
                os.unlink(args.outfile)
            except OSError:
                pass
        raise
    progress.end()
    return 0


def main(argv):
    """``flux dump``: returns the exit code."""
    parser = _snapshot.Parser(
        prog="flux-dump", usage="flux dump [OPTIONS] OUTFILE",
        description="Dump KVS snapshot to a portable archive format")
    _snapshot.add_common(parser)
    parser.add_argument("--ignore-failed-read", action="store_true",
                        help="Treat content load errors as non-fatal")
    parser.add_argument("outfile")
    args = parser.parse_args(argv)
    _snapshot.check_common(args)
    stream = None if args.quiet or args.verbose else sys.stderr
    progress = archive.Progress("flux-dump", stream)
    if args.statedir:
        return _offline(args, progress)
    return _online(args, progress)
