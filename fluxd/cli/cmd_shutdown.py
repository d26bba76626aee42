# -*- test-case-name: tests.unit.cli.test_cmd_shutdown -*-
"""``flux shutdown [OPTIONS] [TARGET]``: shut the instance down.

Asks rank 0 (which must be in RUN) to shut down and prints the broker's
log messages on stderr until its rc3 is done: up to ``info`` by default,
``warning`` and worse with ``--quiet``, everything with ``--verbose``.
``--background`` returns as soon as the shutdown has begun.  TARGET is
the broker's URI (``local:///path``) or socket path; default
``$FLUX_URI``.

KVS garbage collection (spec/broker.md section 5): ``--gc`` asks for an
offline dump and restore (``content.dump=auto``), ``--dump=PATH`` names
the archive, ``--skip-gc`` skips a dump configured otherwise.  When
``kvs.gc-threshold`` is set and the KVS version exceeds it, the command
asks (``-y``/``-n`` answer in advance; without a terminal one of them is
required).  The broker records the request in ``content.dump`` (and the
startlog's ``finish`` event); its content-backing service dumps the KVS
in rc3, so the command shows the dump's log lines and returns once the
archive is complete; a broker started with ``-Scontent.restore=auto``
restores it into a fresh ``content.sqlite`` (unless the KVS has commits
newer than the dump).  The KVS version restarts at 0 after a restore, so
the threshold counts commits since the last garbage collection.
"""

import sys

from fluxd.cli._oneline import OneLineParser
from fluxd.client.sync import Flux
from fluxd.errors import FluxError, InvalidArgument, NoSuchService

LOG_WARNING, LOG_INFO, LOG_DEBUG = 4, 6, 7


def loglevel(quiet, verbose):
    """The broker log level streamed back: ``--quiet`` warning, default
    info, ``--verbose`` debug."""
    if quiet:
        return LOG_WARNING
    return LOG_INFO if not verbose else LOG_DEBUG


def gc_wanted(threshold, version, yes=False, no=False, skip_gc=False,
              isatty=False, ask=None):
    """Whether the gc threshold check asks for a dump.

    :param threshold: ``kvs.gc-threshold`` (0 or None: unset).
    :param version: the KVS root version.
    :param ask: ``ask(prompt) -> bool`` for an interactive answer.
    :raises fluxd.errors.InvalidArgument: when an answer is needed but
        stdin is no terminal and neither ``-y`` nor ``-n`` was given.
    """
    if not threshold or threshold <= 0 or version <= threshold:
        return False
    if yes or no or skip_gc:
        return bool(yes)
    if not isatty:
        raise InvalidArgument("gc threshold exceeded, specify -y or -n")
    return ask("gc threshold exceeded, do you want to perform garbage"
               " collection")


def ask_yes_no(prompt, default=True):
    """Ask on the terminal until the answer is y, n or empty (default)."""
    while True:
        sys.stdout.write(f"{prompt} [{'Y/n' if default else 'y/N'}]? ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            raise InvalidArgument("error retrieving user input")
        answer = line.strip().lower()
        if not answer:
            return default
        if answer[0] in "yn":
            return answer[0] == "y"
        sys.stdout.write("Please answer y or n\n")


def check_options(args):
    """Refuse contradictory options before contacting the broker."""
    if args.gc and (args.skip_gc or args.dump):
        raise InvalidArgument("--gc is incompatible with --skip-gc or --dump")
    if args.yes and args.no:
        raise InvalidArgument("--yes and --no are incompatible")
    if args.verbose < 0:
        raise InvalidArgument("--verbose LEVEL must be 0 or more")


def dump_request(args, gc_check):
    """What to ask the broker about ``content.dump``.

    :param gc_check: callable run only when no option decided it.
    :returns: ``""`` (skip), a path, ``"auto"``, or None (leave as is).
    """
    check_options(args)
    if args.skip_gc:
        return ""
    if args.dump:
        return args.dump
    if args.gc or gc_check():
        return "auto"
    return None


def _gc_check(h, args):
    try:
        threshold = h.rpc("config.get").get("kvs", {}).get("gc-threshold", 0)
    except NoSuchService:
        threshold = 0
    if not threshold:
        return False
    try:
        version = h.rpc("kvs.getroot", {"namespace": "primary",
                                        "flags": 0}).get("rootseq", 0)
    except NoSuchService:
        version = 0
    return gc_wanted(threshold, version, args.yes, args.no, args.skip_gc,
                     sys.stdin.isatty(), ask_yes_no)


def _content_dump(h):
    """The broker's ``content.dump`` attribute ("" when unset)."""
    try:
        return h.rpc("attr.get", {"name": "content.dump"})["value"]
    except (FluxError, KeyError, TypeError):
        return ""


def main(argv):
    """``flux shutdown``."""
    parser = OneLineParser(prog="flux-shutdown",
                           description="Shut down the Flux instance")
    parser.add_argument("--skip-gc", action="store_true",
                        help="Skip KVS garbage collection this time, if"
                             " already enabled")
    parser.add_argument("--gc", action="store_true",
                        help="Garbage collect KVS (short for --dump=auto)")
    parser.add_argument("--dump", metavar="PATH",
                        help="Dump KVS content to specified archive file")
    parser.add_argument("--background", action="store_true",
                        help="Exit the command immediately after initiating"
                             " shutdown")
    parser.add_argument("--quiet", action="store_true",
                        help="Show only log messages <= LOG_WARNING level")
    parser.add_argument("-v", "--verbose", nargs="?", type=int, const=1,
                        default=0, metavar="LEVEL",
                        help="Increase log verbosity: 0=show log messages"
                             " <= LOG_INFO level (default), 1=show all")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="Answer yes to any yes/no questions")
    parser.add_argument("-n", "--no", action="store_true",
                        help="Answer no to any yes/no questions")
    parser.add_argument("target", nargs="?")
    args = parser.parse_args(argv)
    check_options(args)
    with Flux(args.target) as h:
        dump = dump_request(args, lambda: _gc_check(h, args))
        if (_content_dump(h) if dump is None else dump):
            sys.stderr.write("flux-shutdown: shutdown will dump KVS (this may"
                             " take some time)\n")
        payload = {"loglevel": loglevel(args.quiet, args.verbose),
                   "background": args.background}
        if dump is not None:
            payload["dump"] = dump
        for reply in h.stream("shutdown.start", payload):
            text = reply.get("log")
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()
    return 0
