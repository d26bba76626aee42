# -*- test-case-name: tests.integration.test_overlay -*-
"""``flux ping [-r RANK] [-p PAD] [-i SECS] [-c N] [-u] TARGET``."""

import argparse
import time

from fluxd.client.sync import Flux
from fluxd.errors import FluxError, InvalidArgument
from fluxd.message.types import FLAG_UPSTREAM, NODEID_ANY


def _parse_target(target, rank_opt, h):
    """Split ``[rank|host!]service`` into (nodeid, label, service, note)."""
    rank_part, sep, service = target.rpartition("!")
    if not sep:
        rank_part, service = ("", target)
        if target.isdigit() or target in ("any", "upstream"):
            rank_part, service = target, "broker"
    if rank_opt is not None:
        rank_part = rank_opt
    note = ""
    if rank_part in ("", "any"):
        return NODEID_ANY, "any", service, 0, note
    if rank_part == "upstream":
        rank = int(h.rpc("attr.get", {"name": "rank"})["value"])
        return rank, "upstream", service, FLAG_UPSTREAM, note
    if rank_part.isdigit():
        return int(rank_part), rank_part, service, 0, note
    from fluxd.formats.hostlist import Hostlist
    hosts = list(Hostlist(h.rpc("attr.get", {"name": "hostlist"})["value"]))
    if rank_part not in hosts:
        raise InvalidArgument(f"{rank_part} is not a host in this instance")
    rank = hosts.index(rank_part)
    return rank, rank_part, service, 0, f" (rank {rank})"


def main(argv):
    parser = argparse.ArgumentParser(prog="flux-ping")
    parser.add_argument("-r", "--rank", help="find target on RANK (or any, upstream)")
    parser.add_argument("-p", "--pad", type=int, default=0, help="pad bytes")
    parser.add_argument("-i", "--interval", type=float, default=1.0)
    parser.add_argument("-c", "--count", type=int, default=0)
    parser.add_argument("-b", "--batch", action="store_true",
                        help="send all requests before waiting")
    parser.add_argument("-u", "--userid", action="store_true",
                        help="show userid and rolemask")
    parser.add_argument("target")
    args = parser.parse_args(argv)
    with Flux() as h:
        nodeid, label, service, flags, note = _parse_target(args.target,
                                                            args.rank, h)
        print(f"flux-ping {label}!{service}{note}", flush=True)
        pad = "p" * args.pad
        total, seq = 0.0, 0
        topic = f"{service}.ping"
        while args.count == 0 or seq < args.count:
            start = time.monotonic()
            try:
                reply = h.rpc(topic, {"seq": seq, "pad": pad}, nodeid=nodeid,
                              flags=flags)
            except FluxError as exc:
                raise type(exc)(f"{label}!{topic}: {exc}") from None
            total += (time.monotonic() - start) * 1000
            who = f" userid={reply['userid']} rolemask=0x{reply['rolemask']:x}" \
                if args.userid else ""
            print(f"{reply['rank']}!{topic} pad={args.pad}{who} seq={seq}"
                  f" time={total / (seq + 1):0.3f} ms ({reply['route']})",
                  flush=True)
            seq += 1
            if (args.count == 0 or seq < args.count) and args.interval > 0:
                time.sleep(args.interval)
    return 0
