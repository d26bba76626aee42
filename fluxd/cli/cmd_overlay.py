# -*- test-case-name: tests.integration.test_overlay -*-
"""``flux overlay status|errors|lookup|parentof|disconnect``."""

import argparse
import sys
import time

from fluxd.client.sync import Flux
from fluxd.errors import FluxError, InvalidArgument, TimedOut

PRETTY_MID, PRETTY_LAST, PRETTY_BAR, PRETTY_SPACE = "├─ ", "└─ ", "│  ", "   "


class Instance:
    """What the overlay commands need to know of the instance."""

    def __init__(self, h):
        self.h = h
        self.size = int(h.rpc("attr.get", {"name": "size"})["value"])
        from fluxd.formats.hostlist import Hostlist
        hosts = h.rpc("attr.get", {"name": "hostlist"})["value"]
        self.hosts = list(Hostlist(hosts))
        self.tree = h.rpc("overlay.topology", {"rank": 0}, nodeid=0)
        self.parents, self.kids = {}, {}
        self._walk(self.tree)

    def _walk(self, node):
        self.kids[node["rank"]] = [c["rank"] for c in node["children"]]
        for child in node["children"]:
            self.parents[child["rank"]] = node["rank"]
            self._walk(child)

    def host(self, rank):
        return self.hosts[rank] if rank < len(self.hosts) else f"rank{rank}"

    def check_rank(self, rank):
        if not 0 <= rank < self.size:
            raise InvalidArgument(f"{rank} is not a valid rank in this instance")

    def rank_of(self, target):
        """A rank from a rank number or a host name."""
        if target.isdigit():
            rank = int(target)
            self.check_rank(rank)
            return rank
        try:
            return self.hosts.index(target)
        except ValueError:
            raise InvalidArgument(f"{target} is not a host in this instance") from None

    def descendants(self, rank):
        out = []
        for child in self.kids.get(rank, []):
            out.append(child)
            out += self.descendants(child)
        return out


def _gather(inst, rank, timeout, verbose, ghost, result):
    """Fill ``result[rank] = (status, duration, error, rtt)`` for a subtree."""
    start = time.monotonic()
    try:
        health = inst.h.rpc("overlay.health", nodeid=rank,
                            timeout=timeout or None)
    except TimedOut:
        result.setdefault(rank, ("unknown", None, "timeout", None))
        return
    except FluxError as exc:
        result.setdefault(rank, ("unknown", None, str(exc), None))
        return
    rtt = (time.monotonic() - start) * 1000
    prev = result.get(rank)
    result[rank] = (health["status"], prev[1] if prev else health["duration"],
                    prev[2] if prev else None, rtt)
    for child in health["children"]:
        crank, status = child["rank"], child["status"]
        result[crank] = (status, child["duration"], child.get("error"), None)
        if status in ("offline", "lost"):
            if ghost:
                for ghost_rank in inst.descendants(crank):
                    result[ghost_rank] = (status, None, None, None)
        elif inst.kids.get(crank):
            _gather(inst, crank, timeout, verbose, ghost, result)


def _line(inst, rank, info, verbose):
    status, duration, error, rtt = info
    text = f"{rank} {inst.host(rank)}: {status}"
    if verbose >= 1 and duration is not None:
        from fluxd.formats.fsd import format_fsd
        text += f" for {format_fsd(duration)}"
    if error:
        text += f" {error}"
    if verbose >= 2 and rtt is not None:
        text += f" ({rtt:.3f} ms)"
    return text


def _print_tree(inst, rank, result, args, prefix="", connector="", out=None):
    info = result.get(rank)
    if info is None:
        return
    if args.down and info[0] == "full" and rank != args.rank:
        return
    if args.no_pretty:
        out.append(_line(inst, rank, info, args.verbose))
    else:
        out.append(prefix + connector + _line(inst, rank, info, args.verbose))
    kids = [k for k in inst.kids.get(rank, []) if k in result]
    for i, kid in enumerate(kids):
        last = i == len(kids) - 1
        if connector:
            child_prefix = prefix + (PRETTY_SPACE if connector == PRETTY_LAST
                                     else PRETTY_BAR)
        else:
            child_prefix = prefix
        _print_tree(inst, kid, result, args, child_prefix,
                    PRETTY_LAST if last else PRETTY_MID, out)


def status(args):
    from fluxd.formats.fsd import parse_fsd
    timeout = parse_fsd(args.timeout)
    with Flux() as h:
        inst = Instance(h)
        inst.check_rank(args.rank)
        result = {}
        if args.wait:
            _wait(inst, args.rank, args.wait)
        _gather(inst, args.rank, timeout, args.verbose, not args.no_ghost, result)
        if args.summary:
            print(result[args.rank][0])
            return 0
        lines = []
        _print_tree(inst, args.rank, result, args, out=lines)
        print("\n".join(lines))
    return 0


def _wait(inst, rank, state):
    """Wait until ``rank``'s subtree reaches ``state`` (flux overlay -w)."""
    valid = ("full", "partial", "offline", "degraded", "lost")
    if state not in valid:
        raise InvalidArgument(f"unknown state {state}")
    delay = 0.05
    while inst.h.rpc("overlay.health", nodeid=rank)["status"] != state:
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def errors(args):
    from fluxd.formats.fsd import parse_fsd
    from fluxd.formats.hostlist import Hostlist
    with Flux() as h:
        inst = Instance(h)
        result = {}
        _gather(inst, 0, parse_fsd(args.timeout), 0, False, result)
        by_error = {}
        for rank in sorted(result):
            error = result[rank][2]
            if error:
                by_error.setdefault(error, []).append(inst.host(rank))
        for error, hosts in by_error.items():
            print(f"{Hostlist(hosts).encode()}: {error}")
    return 0


def lookup(args):
    from fluxd.formats.hostlist import Hostlist
    from fluxd.formats.idset import IDset
    with Flux() as h:
        inst = Instance(h)
        try:
            ranks = IDset(args.target)
        except FluxError:
            ranks = None
        if ranks is not None:
            for rank in ranks:
                inst.check_rank(rank)
            print(Hostlist([inst.host(r) for r in ranks]).encode())
        else:
            print(IDset(inst.rank_of(host) for host in Hostlist(args.target)).encode())
    return 0


def parentof(args):
    with Flux() as h:
        inst = Instance(h)
        inst.check_rank(args.rank)
        if args.rank == 0:
            raise InvalidArgument("0 has no parent")
        print(inst.parents[args.rank])
    return 0


def disconnect(args):
    with Flux() as h:
        inst = Instance(h)
        rank = inst.rank_of(args.target)
        if rank == 0:
            raise InvalidArgument("0 has no parent")
        parent = inst.parents[rank] if args.parent is None else args.parent
        sys.stderr.write(f"flux-overlay: asking {inst.host(parent)} (rank"
                         f" {parent}) to disconnect child {inst.host(rank)}"
                         f" (rank {rank})\n")
        h.rpc("overlay.disconnect-subtree", {"rank": rank}, nodeid=parent)
    return 0


def main(argv):
    parser = argparse.ArgumentParser(prog="flux-overlay")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("status", help="Show overlay network status")
    p.add_argument("-r", "--rank", type=int, default=0)
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-t", "--timeout", default="0.5s")
    p.add_argument("--summary", action="store_true")
    p.add_argument("--down", action="store_true")
    p.add_argument("--no-pretty", action="store_true")
    p.add_argument("--no-ghost", action="store_true")
    p.add_argument("-L", "--color", nargs="?", const="always", default="auto")
    p.add_argument("-H", "--highlight", action="append", default=[])
    p.add_argument("-w", "--wait", metavar="STATE")
    p.set_defaults(func=status)
    p = sub.add_parser("errors", help="Summarize errors of lost nodes")
    p.add_argument("-t", "--timeout", default="0.5s")
    p.set_defaults(func=errors)
    p = sub.add_parser("lookup", help="Translate ranks to hosts and back")
    p.add_argument("target")
    p.set_defaults(func=lookup)
    p = sub.add_parser("parentof", help="Show the TBON parent of RANK")
    p.add_argument("rank", type=int)
    p.set_defaults(func=parentof)
    p = sub.add_parser("disconnect", help="Disconnect a subtree")
    p.add_argument("--parent", type=int)
    p.add_argument("target")
    p.set_defaults(func=disconnect)
    args = parser.parse_args(argv)
    return args.func(args)
