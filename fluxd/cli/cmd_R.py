# -*- test-case-name: tests.unit.cli.test_cmd_R -*-
"""``flux R``: encode, decode and combine RFC 20 resource sets.

Subcommands (as flux-core's ``flux-R``)::

    flux R encode [-r IDSET] [-c IDS] [-g IDS] [-H HOSTS] [-p NAME[:RANKS]]
                  [-l] [-f XML]
    flux R decode [-s] [-n] [-r] [-c TYPE] [-i RANKS] [-x RANKS] [-p LIST]
    flux R append | diff | intersect | remap | verify
    flux R rerank HOSTLIST
    flux R set-property NAME[:RANKS]...
    flux R parse-config PATH

Every subcommand but ``encode`` and ``parse-config`` reads R objects from
standard input as a JSON stream (objects one after another, whitespace
between them optional).  R is printed as one line of JSON, formatted as
flux-core prints it.  Errors are one line, ``flux-R: <problem>``, exit 1.
"""

import argparse
import json
import socket
import sys

from fluxd.errors import InvalidArgument
from fluxd.formats.hostlist import Hostlist, HostlistError
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import RError, Rv1, from_config

PROG = "flux-R"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one-line FluxErrors, so the
    dispatcher prints ``flux-R: ...`` and exits 1 like flux's optparse."""

    def error(self, message):
        raise InvalidArgument(f"{message} (see '{self.prog} --help')")


def _read_stream(text):
    """Decode a stream of concatenated JSON values into R objects."""
    decoder = json.JSONDecoder()
    values, pos, end = [], 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise RError(f"Failed to read an R object: {exc}") from None
        values.append(value)
    if not values:
        raise RError("Failed to read an R object: no JSON object on stdin")
    sets = []
    for value in values:
        try:
            sets.append(Rv1.decode(value))
        except RError as exc:
            raise RError(f"Failed to decode R on stdin: {exc}") from None
    return sets


def _load_stdin(cmd, min_sets=1):
    sets = _read_stream(sys.stdin.read())
    if len(sets) < min_sets:
        raise RError(f"{cmd} requires at least {min_sets} resource sets")
    return sets


def _union_all():
    sets = _load_stdin("union")
    result = sets[0]
    for rset in sets[1:]:
        result = result.union(rset)
    return result


def _put(rset):
    sys.stdout.write(rset.dumps() + "\n")
    return 0


def _idset_option(text, message):
    try:
        return IDset.decode(text)
    except ValueError:
        raise RError(message) from None


def _hostlist_option(text):
    try:
        return Hostlist(text)
    except HostlistError:
        raise RError(f"invalid hostlist '{text}'") from None


def _ranks_and_hosts(args):
    """Ranks to generate and their hostnames (one per rank)."""
    if args.ranks is None:
        if args.hosts is not None:
            hosts = list(_hostlist_option(args.hosts))
        else:
            hosts = [socket.gethostname()]
        return list(range(len(hosts))), hosts
    ranks = _idset_option(args.ranks, f"Failed to decode ranks='{args.ranks}'"
                          " as idset")
    if args.hosts is None:
        return list(ranks), [socket.gethostname()] * len(ranks)
    hosts = list(_hostlist_option(args.hosts))
    if len(hosts) != len(ranks):
        raise RError(f"hostname count in '{args.hosts}' does not match"
                     f" nranks ({len(ranks)})")
    return list(ranks), hosts


def _set_properties(rset, specs):
    """Apply ``NAME[:RANKS]`` specs all-or-nothing; a repeated NAME keeps
    its last RANKS (flux builds a JSON object from them)."""
    wanted = {}
    for spec in specs:
        name, sep, ranks = spec.partition(":")
        wanted[name] = ranks if sep else None
    result = rset.clone()  # flux-core assigns properties in place
    try:
        for name, ranks in wanted.items():
            result.set_property(name, ranks)
    except RError as exc:
        raise RError(f"failed to assign properties: {exc}") from None
    return result


def _topology(args):
    from fluxd.formats._rhwloc import local_topology, topology_from_xml

    if args.xml is not None:
        try:
            with open(args.xml, "rb") as fp:
                return topology_from_xml(fp.read(), args.xml)
        except OSError as exc:
            raise RError(f"{args.xml}: {exc.strerror}") from None
    return local_topology()


def _cmd_encode(args):
    cores, gpus = args.cores or "", args.gpus or ""
    hwloc = args.local or args.xml is not None
    if not cores and not gpus:
        cores = "0"
    elif hwloc:
        raise RError("do not specify --cores or --gpus with --local or --xml")
    ranks, hosts = _ranks_and_hosts(args)
    if hwloc:
        cores, gpus = _topology(args)
    core_ids = _idset_option(cores, f"Failed to decode cores='{cores}' as"
                             " idset")
    gpu_ids = _idset_option(gpus, f"Failed to decode gpus='{gpus}' as idset")
    rset = Rv1()
    for rank, host in zip(ranks, hosts):
        if hwloc:
            # flux-core builds each rank's set from hwloc, then appends a
            # copy of it (which decides the order children print in)
            rset.append(Rv1().add_rank(rank, host, cores=core_ids,
                                       gpus=gpu_ids))
        else:
            rset.add_rank(rank, host, cores=core_ids, gpus=gpu_ids)
    if args.property:
        rset = _set_properties(rset, args.property)
    return _put(rset)


def _cmd_decode(args):
    rset = _union_all()
    if args.properties is not None:
        try:
            rset = rset.filter_properties(args.properties)
        except RError as exc:
            raise RError(f"Invalid property constraint: {exc}") from None
    if args.include is not None:
        rset = rset.copy_ranks(_idset_option(
            args.include, f"Invalid ranks option: '{args.include}'"))
    if args.exclude is not None:
        rset = rset.exclude_ranks(_idset_option(
            args.exclude,
            f"Invalid idset in --exclude option: {args.exclude}"))
    lines = []
    if args.short:
        lines.append(rset.dumps_short())
    if args.nodelist:
        lines.append(rset.nodelist().encode())
    if args.ranks:
        lines.append(rset.ranks().encode())
    if args.count is not None:
        lines.append(str(rset.count(args.count)))
    if not lines:
        return _put(rset)
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def _cmd_append(args):
    result = Rv1()
    for rset in _load_stdin("append"):
        result.append(rset)
    return _put(result)


def _fold(cmd, method):
    sets = _load_stdin(cmd, min_sets=2)
    result = sets[0]
    for rset in sets[1:]:
        result = getattr(result, method)(rset)
    return _put(result)


def _cmd_diff(args):
    return _fold("diff", "diff")


def _cmd_intersect(args):
    return _fold("intersect", "intersect")


def _cmd_remap(args):
    return _put(_union_all().remap())


def _cmd_rerank(args):
    rset = _union_all()
    if args.hostlist is None:
        raise RError("Must provide a hostlist for re-ranking")
    return _put(rset.rerank(args.hostlist))


def _cmd_verify(args):
    sets = _read_stream(sys.stdin.read())
    if len(sets) != 2:
        raise RError("verify requires exactly 2 R objects on stdin")
    expected, actual = sets
    message = expected.verify(actual)
    if message:
        sys.stderr.write(f"{PROG}: {message}\n")
    return 0


def _cmd_set_property(args):
    return _put(_set_properties(_union_all(), args.specs))


def _read_r_file(rpath, where):
    """The R in the file ``resource.path`` names (relative to the current
    directory)."""
    if not isinstance(rpath, str):
        raise RError(f"{where}: resource.path must be a string")
    try:
        with open(rpath, "rb") as fp:
            data = fp.read()
    except OSError as exc:
        raise RError(f"{where}: resource.path: {rpath}:"
                     f" {exc.strerror}") from None
    try:
        return Rv1.decode(data)
    except RError as exc:
        raise RError(f"{where}: resource.path: {rpath}: {exc}") from None


def parse_config(path):
    """The configured resource set, as ``flux R parse-config PATH``.

    The configuration is read as the broker reads it (``PATH/*.toml``
    merged, or one TOML or JSON file; no key checks: only ``[resource]``
    matters here).  ``resource.config`` wins; without it
    ``resource.path`` names an R file.

    :returns: a new :class:`Rv1`.
    :raises NotFound: when ``path`` does not exist.
    :raises RError: for a parse error (``FILE:LINE: message``), a key
        defined in two files, a bad ``[[resource.config]]`` entry (naming
        the file and ``resource.config[N]``), a bad R file, or when neither
        key is set.
    """
    from fluxd.config import ConfigError, read_config_tables
    try:
        table, origins = read_config_tables(path)
    except ConfigError as exc:
        raise RError(str(exc)) from None
    origin = {".".join(key): file for key, file in origins.items()}
    resource = table.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise RError(f"{origin.get('resource', path)}: resource must be a"
                     " table")
    resource = resource or {}
    if "config" in resource:
        return from_config(resource["config"],
                           source=origin["resource.config"])
    if "path" in resource:
        return _read_r_file(resource["path"], origin["resource.path"])
    raise RError(f"{path}: neither resource.config nor resource.path is"
                 " configured")


def _cmd_parse_config(args):
    return _put(parse_config(args.path))


def _build_parser():
    parser = _Parser(prog=PROG, description="Read, generate, and process"
                     " RFC 20 Resource Set objects.")
    sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")

    enc = sub.add_parser("encode", help="Encode RFC 20 R objects for testing")
    enc.add_argument("-r", "--ranks", metavar="IDSET",
                     help="ranks to generate (default: one per host, or 0)")
    enc.add_argument("-c", "--cores", metavar="IDS",
                     help="core ids of each rank (default: 0)")
    enc.add_argument("-g", "--gpus", metavar="IDS",
                     help="gpu ids of each rank (default: none)")
    enc.add_argument("-H", "--hosts", metavar="HOSTS",
                     help="nodelist (default: the local hostname)")
    enc.add_argument("-p", "--property", metavar="NAME[:RANKS]",
                     action="append", help="assign property NAME to RANKS"
                     " (default: all ranks); may be repeated")
    enc.add_argument("-l", "--local", action="store_true",
                     help="generate children from the local system")
    enc.add_argument("-f", "--xml", metavar="FILE",
                     help="generate children from hwloc XML FILE")
    enc.set_defaults(func=_cmd_encode)

    dec = sub.add_parser("decode", help="Union of R objects on stdin,"
                         " printed as R or summarized")
    dec.add_argument("-s", "--short", action="store_true",
                     help="print short-form representation of R")
    dec.add_argument("-n", "--nodelist", action="store_true",
                     help="print nodelist in hostlist form")
    dec.add_argument("-r", "--ranks", action="store_true",
                     help="print ranks in idset form")
    dec.add_argument("-c", "--count", metavar="TYPE",
                     help="print count of TYPE (node, core, gpu)")
    dec.add_argument("-i", "--include", metavar="RANKS",
                     help="include only RANKS")
    dec.add_argument("-x", "--exclude", metavar="RANKS",
                     help="exclude RANKS")
    dec.add_argument("-p", "--properties", metavar="LIST",
                     help="filter on properties (a,^b: a and not b)")
    dec.set_defaults(func=_cmd_decode)

    for name, func, text in (
            ("append", _cmd_append, "Append disjoint R objects on stdin"),
            ("diff", _cmd_diff, "Set difference (R1 - R2) - R3 ..."),
            ("intersect", _cmd_intersect, "Intersection of R objects"),
            ("remap", _cmd_remap, "Union with ranks renumbered from 0"),
            ("verify", _cmd_verify, "Check that R2's single rank has the"
             " resources R1 gives it")):
        sub.add_parser(name, help=text).set_defaults(func=func)

    rer = sub.add_parser("rerank", help="Union with ranks renumbered by"
                         " position in HOSTLIST")
    rer.add_argument("hostlist", nargs="?", metavar="HOSTLIST")
    rer.set_defaults(func=_cmd_rerank)

    setp = sub.add_parser("set-property", help="Set properties on R on"
                          " stdin")
    setp.add_argument("specs", nargs="*", metavar="NAME[:RANKS]")
    setp.set_defaults(func=_cmd_set_property)

    conf = sub.add_parser("parse-config", help="Print R built from"
                          " [[resource.config]] in PATH/*.toml")
    conf.add_argument("path", metavar="PATH")
    conf.set_defaults(func=_cmd_parse_config)
    return parser


def main(argv):
    """Run ``flux R``.

    :param argv: the arguments after ``R``.
    :returns: the exit code.
    :raises fluxd.errors.FluxError: for bad input (printed by the
        dispatcher as one line).
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.subcommand is None:
        parser.print_help(sys.stderr)
        return 1
    return args.func(args)
