# -*- test-case-name: tests.integration.test_kvs_cli -*-
"""``flux kvs``: get, put, dir, ls, unlink, link, namespaces, eventlogs...

The subcommands and options of flux-kvs(1) (spec/kvs.md section 5).  A
namespace is chosen with ``-N NS`` (before or after the subcommand),
else ``$FLUX_KVS_NAMESPACE``, else ``primary``.  Without ``--raw``,
``put`` stores the text with a trailing NUL and ``get`` prints a value
up to its first NUL, as flux-core does.  Errors print one line,
``flux-kvs: KEY: reason``, and exit 1.
"""

import argparse
import json
import os
import signal
import sys

from fluxd.client.sync import Flux
from fluxd.cli import _kvs_listing as listing
from fluxd.errors import FluxError, InvalidArgument, TimedOut
from fluxd.kvs import treeobj as T
from fluxd.kvs.lookup import (
    READDIR, READLINK, TREEOBJ, WAITCREATE, WATCH, WATCH_APPEND, WATCH_FULL,
    WATCH_UNIQ)
from fluxd.kvs.txn import APPEND, NO_MERGE, SYNC

PRIMARY = "primary"
ENOENT, ENOTEMPTY, EISDIR = 2, 39, 21


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        raise InvalidArgument(message)


def _ns_option(parser, help_text="Specify KVS namespace to use."):
    parser.add_argument("-N", "--namespace", dest="sub_namespace",
                        metavar="NS", help=help_text)


def _keyed(key, exc):
    """``exc`` as ``KEY: message`` (flux's ``log_err_exit("%s", key)``),
    unless the message already names the key."""
    text = str(exc)
    if f"'{key}'" not in text:
        text = f"{key}: {text}"
    return FluxError(text, errnum=getattr(exc, "errno", None))


class KVS:
    """The RPCs the subcommands share, over one connection."""

    def __init__(self, h, namespace):
        self.h = h
        self.namespace = namespace

    def lookup(self, key, flags=0, rootdir=None, namespace=None):
        body = {"key": key, "namespace": namespace or self.namespace,
                "flags": flags}
        if rootdir is not None:
            body["rootdir"] = rootdir
        return self.h.rpc("kvs.lookup", body)["val"]

    def commit(self, ops, flags=0, namespace=None):
        return self.h.rpc("kvs.commit", {"namespace": namespace or self.namespace,
                                         "flags": flags, "ops": ops})

    def watch(self, key, flags, namespace=None):
        return self.h.stream("kvs-watch.lookup",
                             {"key": key, "flags": flags,
                              "namespace": namespace or self.namespace})


def _op(key, dirent, flags=0):
    return {"key": key, "flags": flags, "dirent": dirent}


def _value(treeobj):
    return T.decode_val(treeobj)


def _cstring(data):
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]


def _rootdir(text):
    try:
        obj = json.loads(text)
        T.validate(obj)
    except (ValueError, FluxError) as exc:
        raise InvalidArgument(f"--at {text}: not an RFC 11 tree object: {exc}") \
            from None
    return obj


def _commit_output(args, result):
    if getattr(args, "treeobj_root", False):
        print(json.dumps(T.create_dirref(result["rootref"]),
                         separators=(",", ":"), sort_keys=True))
    elif getattr(args, "sequence", False):
        print(result["rootseq"])


# -- get / put -------------------------------------------------------------------

def _print_value(args, key, treeobj):
    prefix = f"{key}=".encode() if args.label else b""
    if args.treeobj:
        listing.write_bytes(prefix + json.dumps(
            treeobj, separators=(",", ":"), sort_keys=True).encode() + b"\n")
    elif args.raw:
        listing.write_bytes(prefix + _value(treeobj))
    else:
        listing.write_bytes(prefix + _cstring(_value(treeobj)) + b"\n")


def cmd_get(kvs, args):
    flags = TREEOBJ if args.treeobj else 0
    watching = args.watch or args.waitcreate
    if args.watch:
        flags |= WATCH
        flags |= WATCH_FULL if args.full else 0
        flags |= WATCH_UNIQ if args.uniq else 0
        flags |= WATCH_APPEND if args.append else 0
    if args.waitcreate:
        flags |= WAITCREATE
    rootdir = _rootdir(args.at) if args.at else None
    for key in args.keys:
        try:
            if watching:
                count = 0
                for response in kvs.watch(key, flags):
                    if "val" not in response:
                        continue
                    _print_value(args, key, response["val"])
                    count += 1
                    if args.count and count >= args.count:
                        break
            else:
                _print_value(args, key, kvs.lookup(key, flags, rootdir))
        except FluxError as exc:
            raise _keyed(key, exc) from None
    return 0


def _read_stdin():
    return sys.stdin.buffer.read()


def cmd_put(kvs, args):
    ops = []
    flags = APPEND if args.append else 0
    for item in args.pairs:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument("put: you must specify a value as key=value")
        if args.treeobj:
            text = _read_stdin() if value == "-" else value.encode()
            try:
                dirent = T.decode(text, f"key {key!r}")
            except FluxError as exc:
                raise _keyed(key, exc) from None
            ops.append(_op(key, dirent))
        elif args.raw:
            data = _read_stdin() if value == "-" else \
                value.encode("utf-8", "surrogateescape")
            ops.append(_op(key, T.create_val(data), flags))
        else:
            # the string's bytes, no NUL: flux_kvs_txn_put() since flux-core
            # 0.11, so that appended chunks read back as one string
            ops.append(_op(key, T.create_val(
                value.encode("utf-8", "surrogateescape")), flags))
    cflags = (NO_MERGE if args.no_merge else 0) | (SYNC if args.sync else 0)
    _commit_output(args, kvs.commit(ops, cflags))
    return 0


# -- dir / ls ----------------------------------------------------------------------

def _dump_dir(kvs, dirkey, dirobj, maxcol, args, rootdir):
    for name in sorted(dirobj["data"]):
        entry = dirobj["data"][name]
        key = listing.key_at(dirkey, name)
        kind = entry["type"]
        if kind == T.SYMLINK:
            data = entry["data"]
            target = f"{data['namespace']}::{data['target']}" \
                if "namespace" in data else data["target"]
            print(f"{key} -> {target}")
        elif kind in (T.DIR, T.DIRREF):
            if args.recursive:
                sub = entry if kind == T.DIR else kvs.lookup(key, READDIR, rootdir)
                if not sub["data"]:
                    print(f"{key}.")
                else:
                    _dump_dir(kvs, key, sub, maxcol, args, rootdir)
            else:
                print(f"{key}.")
        elif args.directory:
            print(key)
        else:
            obj = entry if kind == T.VAL else kvs.lookup(key, 0, rootdir)
            sys.stdout.flush()
            listing.write_bytes(listing.kv_line(key, _value(obj), maxcol))


def cmd_dir(kvs, args):
    if len(args.keys) > 1:
        raise InvalidArgument("dir: specify zero or one directory")
    key = args.keys[0] if args.keys else "."
    maxcol = listing.window_width(args.width)
    rootdir = _rootdir(args.at) if args.at else None
    try:
        dirobj = kvs.lookup(key, READDIR, rootdir)
    except FluxError as exc:
        raise _keyed(key, exc) from None
    _dump_dir(kvs, T.normalize_key(key), dirobj, maxcol, args, rootdir)
    return 0


def _categorize(kvs, args, key, dirs, singles):
    nkey, require_dir = key, False
    while len(nkey) > 1 and nkey.endswith("."):
        nkey, require_dir = nkey[:-1], True
    try:
        obj = kvs.lookup(nkey, TREEOBJ)
    except FluxError as exc:
        sys.stderr.write(f"{nkey}: {exc}\n")
        return False
    kind = obj["type"]
    if kind in (T.DIR, T.DIRREF):
        if args.directory:
            singles.append(nkey + ("." if args.classify else ""))
        else:
            dirs.append(nkey)
        return True
    if require_dir:
        sys.stderr.write(f"{nkey}: Not a directory\n")
        return False
    if kind in (T.VAL, T.VALREF):
        singles.append(nkey)
    elif args.classify or args.directory:
        singles.append(nkey + ("@" if args.classify else ""))
    else:
        try:
            kvs.lookup(nkey, 0)
            singles.append(nkey)
        except FluxError as exc:
            if exc.errno == ENOENT:
                singles.append(nkey)
            elif exc.errno == EISDIR:
                dirs.append(nkey)
            else:
                raise _keyed(nkey, exc) from None
    return True


def _list_dir(kvs, args, key, width, label, vspace):
    try:
        dirobj = kvs.lookup(key, READDIR)
    except FluxError as exc:
        raise _keyed(key, exc) from None
    if label:
        print(f"{chr(10) if vspace else ''}{key}:")
    names = sorted(dirobj["data"])
    shown = []
    for name in names:
        kind = dirobj["data"][name]["type"]
        deco = ""
        if args.classify:
            deco = "." if kind in (T.DIR, T.DIRREF) else \
                "@" if kind == T.SYMLINK else ""
        shown.append(name + deco)
    sys.stdout.write(listing.columns(
        shown, width, max((len(n) for n in names), default=0) + 4))
    if args.recursive:
        for name in names:
            if dirobj["data"][name]["type"] in (T.DIR, T.DIRREF):
                _list_dir(kvs, args, listing.key_at(key, name), width, label,
                          True)


def cmd_ls(kvs, args):
    width = 1 if args.one else listing.window_width(args.width)
    dirs, singles, ok = [], [], True
    for key in args.keys or ["."]:
        ok = _categorize(kvs, args, key, dirs, singles) and ok
    singles.sort()
    dirs.sort()
    label = vspace = False
    if singles:
        sys.stdout.write(listing.columns(singles, width))
        label = vspace = True
    if args.recursive or len(dirs) > 1:
        label = True
    for key in dirs:
        _list_dir(kvs, args, key, width, label, vspace)
        vspace = True
    return 0 if ok else 1


# -- unlink / link / readlink / mkdir / copy / move --------------------------------

def _unlinkable(kvs, key, args):
    try:
        obj = kvs.lookup(key, TREEOBJ)
    except FluxError as exc:
        if exc.errno == ENOENT and args.force:
            return False
        raise FluxError(f"cannot unlink '{key}': {exc}", errnum=exc.errno) from None
    empty = True
    if obj["type"] == T.DIR:
        empty = not obj["data"]
    elif obj["type"] == T.DIRREF and not args.recursive:
        empty = not kvs.lookup(key, READDIR)["data"]
    if not empty and not args.recursive:
        raise FluxError(f"cannot unlink '{key}': Directory not empty",
                        errnum=ENOTEMPTY)
    return True


def cmd_unlink(kvs, args):
    ops = [_op(key, None) for key in args.keys if _unlinkable(kvs, key, args)]
    _commit_output(args, kvs.commit(ops))
    return 0


def cmd_link(kvs, args):
    try:
        dirent = T.create_symlink(args.target, args.target_namespace)
    except FluxError as exc:
        raise _keyed(args.linkname, exc) from None
    _commit_output(args, kvs.commit([_op(args.linkname, dirent)]))
    return 0


def cmd_readlink(kvs, args):
    rootdir = _rootdir(args.at) if args.at else None
    for key in args.keys:
        try:
            data = kvs.lookup(key, READLINK, rootdir)["data"]
        except FluxError as exc:
            raise _keyed(key, exc) from None
        ns = data.get("namespace")
        if args.namespace_only and ns:
            print(ns)
        elif args.key_only or not ns:
            print(data["target"])
        else:
            print(f"{ns}::{data['target']}")
    return 0


def cmd_mkdir(kvs, args):
    _commit_output(args, kvs.commit([_op(key, T.create_dir()) for key in args.keys]))
    return 0


def _copy(kvs, args, remove):
    src_ns = args.src_namespace or kvs.namespace
    dst_ns = args.dst_namespace or kvs.namespace
    try:
        obj = kvs.lookup(args.source, TREEOBJ, namespace=src_ns)
    except FluxError as exc:
        raise _keyed(args.source, exc) from None
    kvs.commit([_op(args.destination, obj)], namespace=dst_ns)
    if remove:
        kvs.commit([_op(args.source, None)], namespace=src_ns)
    return 0


def cmd_copy(kvs, args):
    return _copy(kvs, args, False)


def cmd_move(kvs, args):
    return _copy(kvs, args, True)


# -- versions, roots, caches -------------------------------------------------------

def cmd_version(kvs, args):
    print(kvs.h.rpc("kvs.getroot", {"namespace": kvs.namespace})["rootseq"])
    return 0


def cmd_wait(kvs, args):
    try:
        version = int(args.version)
    except ValueError:
        raise InvalidArgument(f"wait: invalid version {args.version!r}") from None
    kvs.h.rpc("kvs.wait-version", {"namespace": kvs.namespace, "rootseq": version})
    return 0


def cmd_sync(kvs, args):
    kvs.commit([], SYNC)
    return 0


def cmd_getroot(kvs, args):
    root = kvs.h.rpc("kvs.getroot", {"namespace": kvs.namespace, "flags": 0})
    if args.owner:
        print(root["owner"])
    elif args.sequence:
        print(root["rootseq"])
    elif args.blobref:
        print(root["rootref"])
    else:
        print(json.dumps(T.create_dirref(root["rootref"]),
                         separators=(",", ":"), sort_keys=True))
    return 0


def cmd_dropcache(kvs, args):
    if args.all:
        kvs.h.rpc("event.publish", {"topic": "kvs.dropcache", "flags": 0})
    else:
        kvs.h.rpc("kvs.dropcache")
    return 0


# -- namespaces --------------------------------------------------------------------

def cmd_ns_create(kvs, args):
    owner = 0xFFFFFFFF
    if args.owner is not None:
        try:
            owner = int(args.owner)
            if owner < 0:
                raise ValueError
        except ValueError:
            raise InvalidArgument("--owner requires an unsigned integer argument") \
                from None
    for name in args.names:
        body = {"namespace": name, "owner": owner, "flags": 0}
        if args.rootref:
            body["rootref"] = args.rootref
        try:
            kvs.h.rpc("kvs.namespace-create", body)
        except FluxError as exc:
            raise _keyed(name, exc) from None
    return 0


def cmd_ns_remove(kvs, args):
    for name in args.names:
        try:
            kvs.h.rpc("kvs.namespace-remove", {"namespace": name})
        except FluxError as exc:
            raise _keyed(name, exc) from None
    return 0


def cmd_ns_list(kvs, args):
    spaces = kvs.h.rpc("kvs.namespace-list")["namespaces"]
    print("NAMESPACE                                 OWNER      FLAGS")
    for ns in spaces:
        print(f"{ns['namespace']:<36} {ns['owner']:>10} 0x{ns['flags']:08X}")
    return 0


# -- eventlogs ---------------------------------------------------------------------

def cmd_ev_append(kvs, args):
    from fluxd.formats import eventlog
    context = None
    if args.context:
        text = " ".join(args.context)
        try:
            context = json.loads(text)
        except ValueError:
            context = None
        if not isinstance(context, dict):
            raise InvalidArgument(f"eventlog append: context {text!r} is not"
                                  " a JSON object")
    entry = eventlog.encode_entry(args.name, context, args.timestamp)
    ops = [_op(args.key, T.create_val(entry.encode()), APPEND)]
    try:
        kvs.commit(ops)
    except FluxError as exc:
        raise _keyed(args.key, exc) from None
    return 0


def _formatter(args):
    from fluxd.formats.eventlog import EventlogFormatter
    if args.unformatted and args.human:
        raise InvalidArgument("--unformatted and --human cannot be used together")
    if args.color not in ("auto", "always", "never"):
        raise InvalidArgument(f"invalid --color value {args.color!r}:"
                              " use auto, always or never")
    return EventlogFormatter("human" if args.human else "raw",
                             "json" if args.unformatted else "text",
                             color=args.color)


def _entries(response):
    from fluxd.formats import eventlog
    return eventlog.decode(_cstring(_value(response["val"])))


def cmd_ev_get(kvs, args):
    fmt = _formatter(args)
    count = 0
    try:
        if args.watch or args.waitcreate:
            flags = (WATCH | WATCH_APPEND if args.watch else 0) | \
                (WAITCREATE if args.waitcreate else 0)
            responses = kvs.watch(args.key, flags)
        else:
            responses = [{"val": kvs.lookup(args.key)}]
        for response in responses:
            if "val" not in response:
                continue
            for entry in _entries(response):
                print(fmt.format(entry), flush=True)
                count += 1
                if args.count and count >= args.count:
                    return 0
    except FluxError as exc:
        raise _keyed(args.key, exc) from None
    return 0


def _alarm(seconds):
    def expire(signum, frame):
        raise TimedOut(f"wait-event timeout on event '{_alarm.event}'")
    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def cmd_ev_wait_event(kvs, args):
    from fluxd.formats.fsd import parse_fsd
    fmt = _formatter(args)
    flags = WATCH | WATCH_APPEND | (WAITCREATE if args.waitcreate else 0)
    if args.timeout is not None:
        _alarm.event = args.event
        _alarm(max(parse_fsd(args.timeout), 1e-6))
    try:
        for response in kvs.watch(args.key, flags):
            if "val" not in response:
                continue
            for entry in _entries(response):
                if entry["name"] == args.event:
                    if not args.quiet:
                        print(fmt.format(entry), flush=True)
                    return 0
                if args.verbose:
                    print(fmt.format(entry), flush=True)
    except FluxError as exc:
        if exc.errno == ENOENT:
            raise FluxError(f"eventlog path {args.key} not found",
                            errnum=ENOENT) from None
        raise
    finally:
        if args.timeout is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
    raise FluxError(f"event '{args.event}' never received")


# -- argument parsing --------------------------------------------------------------

def _commit_outputs(parser):
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-O", "--treeobj-root", action="store_true",
                       help="Output resulting RFC11 root")
    group.add_argument("-s", "--sequence", action="store_true",
                       help="Output root sequence of the resulting root")


def _eventlog_format_options(parser):
    parser.add_argument("-u", "--unformatted", action="store_true",
                        help="Show event in RFC 18 form")
    parser.add_argument("-H", "--human", action="store_true",
                        help="Display human-readable output")
    parser.add_argument("-L", "--color", nargs="?", const="always",
                        default="auto", metavar="WHEN",
                        help="Colorize output when supported; WHEN can be"
                        " 'always' (default with -L), 'never' or 'auto'")


def _build_parser():
    parser = _Parser(prog="flux-kvs", usage="flux kvs [OPTIONS] COMMAND ARGS")
    parser.add_argument("-N", "--namespace", metavar="NS",
                        help="Specify KVS namespace to use.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser,
                                metavar="COMMAND", prog="flux kvs")

    p = sub.add_parser("get", help="Get value stored under key")
    _ns_option(p)
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("-r", "--raw", action="store_true",
                      help="Interpret value(s) as raw data")
    kind.add_argument("-t", "--treeobj", action="store_true",
                      help="Show RFC 11 object")
    p.add_argument("-a", "--at", metavar="TREEOBJ",
                   help="Lookup relative to RFC 11 snapshot reference")
    p.add_argument("-l", "--label", action="store_true", help="Print key= before value")
    p.add_argument("-W", "--waitcreate", action="store_true",
                   help="Wait for creation to occur on watch")
    p.add_argument("-w", "--watch", action="store_true", help="Monitor key writes")
    p.add_argument("-u", "--uniq", action="store_true",
                   help="Only monitor key writes if values have changed")
    p.add_argument("-A", "--append", action="store_true", help="Only monitor key appends")
    p.add_argument("-f", "--full", action="store_true",
                   help="Monitor key changes with more complete accuracy")
    p.add_argument("-c", "--count", type=int, default=0, metavar="COUNT",
                   help="Display at most COUNT changes")
    p.add_argument("keys", nargs="+", metavar="key")
    p.set_defaults(func=cmd_get)

    p = sub.add_parser("put", help="Store value under key")
    _ns_option(p)
    _commit_outputs(p)
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("-r", "--raw", action="store_true",
                      help="Store value(s) as-is without adding NULL termination")
    kind.add_argument("-t", "--treeobj", action="store_true", help="Store RFC 11 object")
    p.add_argument("-n", "--no-merge", action="store_true",
                   help="Set the NO_MERGE flag to ensure commit is standalone")
    p.add_argument("-A", "--append", action="store_true",
                   help="Append value(s) to key instead of overwriting")
    p.add_argument("-S", "--sync", action="store_true",
                   help="Flush and checkpoint the KVS after the commit")
    p.add_argument("pairs", nargs="+", metavar="key=value")
    p.set_defaults(func=cmd_put)

    for name, func, text in (("dir", cmd_dir, "Display all keys under directory"),
                             ("ls", cmd_ls, "List directory")):
        p = sub.add_parser(name, help=text)
        _ns_option(p)
        p.add_argument("-R", "--recursive", action="store_true",
                       help="Recurse into subdirectories")
        p.add_argument("-d", "--directory", action="store_true",
                       help="List directory entries and not values" if name == "dir"
                       else "List directory instead of contents")
        p.add_argument("-w", "--width", type=int, metavar="COLS",
                       help="Set output width to COLS.  0 means no limit")
        if name == "dir":
            p.add_argument("-a", "--at", metavar="TREEOBJ",
                           help="Lookup relative to RFC 11 snapshot reference")
        else:
            p.add_argument("-1", dest="one", action="store_true",
                           help="Force one entry per line")
            p.add_argument("-F", "--classify", action="store_true",
                           help="Append indicator (one of .@) to entries")
        p.add_argument("keys", nargs="*", metavar="key")
        p.set_defaults(func=func)

    p = sub.add_parser("unlink", help="Remove key")
    _ns_option(p)
    _commit_outputs(p)
    p.add_argument("-R", "--recursive", action="store_true",
                   help="Remove directory contents recursively")
    p.add_argument("-f", "--force", action="store_true", help="ignore nonexistent files")
    p.add_argument("keys", nargs="+", metavar="key")
    p.set_defaults(func=cmd_unlink)

    p = sub.add_parser("link", help="Create a new name for target")
    _ns_option(p, "Specify link's namespace.")
    _commit_outputs(p)
    p.add_argument("-T", "--target-namespace", metavar="NS",
                   help="Specify target's namespace")
    p.add_argument("target")
    p.add_argument("linkname")
    p.set_defaults(func=cmd_link)

    p = sub.add_parser("readlink", help="Retrieve the key a link refers to")
    _ns_option(p)
    p.add_argument("-a", "--at", metavar="TREEOBJ",
                   help="Lookup relative to RFC 11 snapshot reference")
    only = p.add_mutually_exclusive_group()
    only.add_argument("-o", "--namespace-only", action="store_true",
                      help="Output only namespace if link points to a namespace")
    only.add_argument("-k", "--key-only", action="store_true",
                      help="Output only key if link points to a namespace")
    p.add_argument("keys", nargs="+", metavar="key")
    p.set_defaults(func=cmd_readlink)

    p = sub.add_parser("mkdir", help="Create a directory")
    _ns_option(p)
    _commit_outputs(p)
    p.add_argument("keys", nargs="+", metavar="key")
    p.set_defaults(func=cmd_mkdir)

    for name, func, text in (("copy", cmd_copy, "Copy source key to destination key"),
                             ("move", cmd_move, "Move source key to destination key")):
        p = sub.add_parser(name, help=text)
        p.add_argument("-S", "--src-namespace", metavar="NS",
                       help="Specify source key's namespace")
        p.add_argument("-D", "--dst-namespace", metavar="NS",
                       help="Specify destination key's namespace")
        p.add_argument("source")
        p.add_argument("destination")
        p.set_defaults(func=func)

    p = sub.add_parser("dropcache", help="Tell KVS to drop its cache")
    p.add_argument("-a", "--all", action="store_true", help="Drop KVS across all ranks")
    p.set_defaults(func=cmd_dropcache)

    for name, func, text in (("version", cmd_version, "Display current KVS version"),
                             ("sync", cmd_sync, "Wait until every commit is on disk")):
        p = sub.add_parser(name, help=text)
        _ns_option(p)
        p.set_defaults(func=func)

    p = sub.add_parser("wait", help="Block until the KVS reaches version")
    _ns_option(p)
    p.add_argument("version")
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("getroot", help="Get KVS root treeobj")
    _ns_option(p)
    show = p.add_mutually_exclusive_group()
    show.add_argument("-s", "--sequence", action="store_true", help="Show sequence number")
    show.add_argument("-o", "--owner", action="store_true", help="Show owner")
    show.add_argument("-b", "--blobref", action="store_true", help="Show blobref")
    p.set_defaults(func=cmd_getroot)

    p = sub.add_parser("namespace", help="Perform KVS namespace operations")
    nsub = p.add_subparsers(dest="nscommand", parser_class=_Parser,
                            metavar="COMMAND", prog="flux kvs namespace")
    q = nsub.add_parser("create", help="Create a KVS namespace")
    q.add_argument("-o", "--owner", help="Specify alternate namespace owner via userid")
    q.add_argument("-r", "--rootref", help="Initialize namespace with specific root reference")
    q.add_argument("names", nargs="+", metavar="name")
    q.set_defaults(func=cmd_ns_create)
    q = nsub.add_parser("remove", help="Remove a KVS namespace")
    q.add_argument("names", nargs="+", metavar="name")
    q.set_defaults(func=cmd_ns_remove)
    q = nsub.add_parser("list", help="List namespaces")
    q.set_defaults(func=cmd_ns_list)

    p = sub.add_parser("eventlog", help="Manipulate a KVS eventlog")
    esub = p.add_subparsers(dest="evcommand", parser_class=_Parser,
                            metavar="COMMAND", prog="flux kvs eventlog")
    q = esub.add_parser("append", help="Append to eventlog")
    _ns_option(q)
    q.add_argument("-t", "--timestamp", type=float, metavar="SECONDS",
                   help="Specify timestamp in seconds since epoch")
    q.add_argument("key")
    q.add_argument("name")
    q.add_argument("context", nargs="*")
    q.set_defaults(func=cmd_ev_append)
    q = esub.add_parser("get", help="Get eventlog")
    _ns_option(q)
    q.add_argument("-W", "--waitcreate", action="store_true",
                   help="Wait for creation to occur on watch")
    q.add_argument("-w", "--watch", action="store_true", help="Monitor eventlog")
    q.add_argument("-c", "--count", type=int, default=0, metavar="COUNT",
                   help="Display at most COUNT events")
    _eventlog_format_options(q)
    q.add_argument("key")
    q.set_defaults(func=cmd_ev_get)
    q = esub.add_parser("wait-event", help="Wait for an event")
    _ns_option(q)
    q.add_argument("-W", "--waitcreate", action="store_true",
                   help="Wait for creation to occur on eventlog")
    q.add_argument("-t", "--timeout", metavar="DURATION", help="timeout after DURATION")
    q.add_argument("-q", "--quiet", action="store_true", help="Do not output matched event")
    q.add_argument("-v", "--verbose", action="store_true",
                   help="Output all events before matched event")
    _eventlog_format_options(q)
    q.add_argument("key")
    q.add_argument("event")
    q.set_defaults(func=cmd_ev_wait_event)
    return parser


def main(argv):
    """``flux kvs``: returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 1
    namespace = (getattr(args, "sub_namespace", None) or args.namespace
                 or os.environ.get("FLUX_KVS_NAMESPACE") or PRIMARY)
    with Flux() as h:
        return args.func(KVS(h, namespace), args)
