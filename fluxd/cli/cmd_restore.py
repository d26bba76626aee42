# -*- test-case-name: tests.unit.cli.test_cmd_dump -*-
"""``flux restore [OPTIONS] INFILE``: load a KVS snapshot from an archive.

The archive (any tar compression, ``-`` for standard input) is turned
back into tree objects and blobs (:mod:`fluxd.storage.archive`); the
restored root then goes where the options say:

- ``--key=KEY``: committed to KVS key KEY of the running instance, so the
  key becomes the restored directory;
- ``--checkpoint``: written as the KVS checkpoint (sequence 0) for the
  next KVS start.  The KVS must not be running: fluxd's KVS runs as long
  as the broker does, so this is done on a stopped broker's statedir
  with **[fluxd]** ``--statedir=DIR`` (or by the broker itself at start
  with ``-Scontent.restore=FILE``).

Options as flux-core 0.88: ``-v``, ``-q``, ``--no-cache``,
``--size-limit=SIZE`` (skip longer values; ``k``/``M``/``G`` suffixes),
``--sd-notify``, ``--maxreqs``.
"""

import os
import sys

from fluxd.cli import _snapshot
from fluxd.errors import FluxError, InvalidArgument, NoSuchService
from fluxd.storage import archive
from fluxd.storage.sqlitedb import root_record


def _restore(args, sink, hash_name, progress):
    with archive.open_for_read(args.infile) as tar:
        restorer = archive.Restorer(
            sink, hash_name, progress, args.size_limit,
            verbose=sys.stderr if args.verbose else None, warnings=sys.stderr)
        rootref = restorer.restore(tar)
    progress.end()
    return rootref, restorer.timestamp


def _say(args, text):
    if not args.quiet:
        sys.stderr.write(f"flux-restore: {text}\n")


def _online(args, progress):
    from fluxd.client.sync import Flux
    with Flux() as h:
        progress.notify = _snapshot.notifier(args, h)
        hash_name = h.rpc("attr.get", {"name": "content.hash"})["value"]
        sink = _snapshot.RemoteSink(h, hash_name, args.no_cache, args.maxreqs)
        if args.checkpoint:
            try:
                h.rpc("kvs.getroot", {"namespace": "primary", "flags": 0})
            except NoSuchService:
                pass
            else:
                raise FluxError("cannot restore to the checkpoint while the"
                                " KVS is running: stop the broker and use"
                                " --statedir=DIR, or restore at start with"
                                " -Scontent.restore=FILE")
            rootref, stamp = _restore(args, sink, hash_name, progress)
            _say(args, f"writing snapshot {archive.short_blobref(rootref)}"
                       " to checkpoint for next KVS start")
            try:
                h.rpc("content.checkpoint-put", {"value": {
                    "version": 1, "rootref": rootref, "sequence": 0,
                    "timestamp": stamp}})
            except FluxError as exc:
                raise FluxError(f"error updating checkpoint: {exc}",
                                errnum=exc.errno) from None
        else:
            rootref, _ = _restore(args, sink, hash_name, progress)
            _say(args, f"writing snapshot {archive.short_blobref(rootref)}"
                       f" to KVS key '{args.key}'")
            op = {"key": args.key, "flags": 0,
                  "dirent": {"ver": 1, "type": "dirref", "data": [rootref]}}
            try:
                h.rpc("kvs.commit", {"namespace": "primary", "flags": 0,
                                     "ops": [op]})
            except FluxError as exc:
                raise FluxError(f"error updating {args.key}: {exc}",
                                errnum=exc.errno) from None
        if not args.no_cache:
            try:
                h.rpc_raw("content.flush", nodeid=0)
            except FluxError as exc:
                sys.stderr.write(f"flux-restore: error flushing content"
                                 f" cache: {exc}\n")
    return 0


def _offline(args, progress):
    if not args.checkpoint:
        raise InvalidArgument("--key needs a running broker: with --statedir"
                              " use --checkpoint")
    progress.notify = _snapshot.notifier(args)
    with _snapshot.Offline(args.statedir, create=True) as store:
        direct = store.store()
        old = direct.roots().get("primary")
        rootref, stamp = _restore(args, direct, store.hash_name, progress)
        _say(args, f"writing snapshot {archive.short_blobref(rootref)} to"
                   " checkpoint for next KVS start")
        owner = old["owner"] if old is not None else os.getuid()
        # restoring, therefore the sequence restarts at 0 (as flux-core)
        direct.set_root("primary", root_record(rootref, 0, owner, 0,
                                               stamp or None))
    return 0


def main(argv):
    """``flux restore``: returns the exit code."""
    parser = _snapshot.Parser(
        prog="flux-restore", usage="flux restore [OPTIONS] INFILE",
        description="Restore KVS snapshot from a portable archive format")
    _snapshot.add_common(parser)
    parser.add_argument("--key", metavar="KEY", help="Restore to KVS key")
    parser.add_argument("--size-limit", metavar="SIZE", default="0",
                        help="Do not restore blobs greater than SIZE bytes")
    parser.add_argument("infile")
    args = parser.parse_args(argv)
    _snapshot.check_common(args)
    args.size_limit = archive.parse_size(args.size_limit)
    if not args.checkpoint and not args.key:
        raise InvalidArgument("Please specify a restore target with"
                              " --checkpoint or --key")
    stream = None if args.quiet or args.verbose else sys.stderr
    progress = archive.Progress("flux-restore", stream)
    if args.statedir:
        return _offline(args, progress)
    return _online(args, progress)
