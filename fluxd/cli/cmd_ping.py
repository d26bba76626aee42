# -*- test-case-name: tests.integration.test_overlay -*-
"""``flux ping [-r RANK] [-p PAD] [-i SECS] [-c N] [-b] [-u] TARGET``.

TARGET is ``service``, ``rank!service``, ``host!service``, or a bare rank
or host name, which means that broker's ``broker`` service (as flux-ping
does; a name that is no host of the instance is a service).
"""

import time

from fluxd.cli._oneline import OneLineParser
from fluxd.client.sync import Flux, decode_json
from fluxd.errors import FluxError, InvalidArgument
from fluxd.message.types import FLAG_UPSTREAM, NODEID_ANY


def _hostnames(h):
    from fluxd.formats.hostlist import Hostlist
    return list(Hostlist(h.rpc("attr.get", {"name": "hostlist"})["value"]))


def _parse_target(target, rank_opt, h):
    """Split ``[rank|host!]service`` into (nodeid, label, service, note)."""
    rank_part, sep, service = target.rpartition("!")
    if not sep:
        rank_part, service = ("", target)
        if target.isdigit() or target in ("any", "upstream"):
            rank_part, service = target, "broker"
        elif rank_opt is None and target in _hostnames(h):
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
    hosts = _hostnames(h)
    if rank_part not in hosts:
        raise InvalidArgument(f"{rank_part} is not a host in this instance")
    rank = hosts.index(rank_part)
    return rank, rank_part, service, 0, f" (rank {rank})"


def main(argv):
    """``flux ping``."""
    parser = OneLineParser(prog="flux-ping")
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
    if args.pad < 0:
        raise InvalidArgument("pad must be >= 0")
    if args.interval < 0:
        raise InvalidArgument("interval must be >= 0")
    if args.count < 0:
        raise InvalidArgument("count must be >= 0")
    if args.batch and args.count == 0:
        raise InvalidArgument("--batch should only be used with --count")
    with Flux() as h:
        nodeid, label, service, flags, note = _parse_target(args.target,
                                                            args.rank, h)
        print(f"flux-ping {label}!{service}{note}", flush=True)
        ping = _Pinger(h, args, nodeid, label, f"{service}.ping", flags)
        if args.batch:
            # every request first (with the interval between sends), then
            # the answers: the round trips overlap
            sent = []
            for seq in range(args.count):
                sent.append(ping.send(seq))
                if seq + 1 < args.count and args.interval > 0:
                    time.sleep(args.interval)
            for seq, started, token in sent:
                ping.show(seq, started, token)
            return 0
        seq = 0
        while args.count == 0 or seq < args.count:
            ping.show(*ping.send(seq))
            seq += 1
            if (args.count == 0 or seq < args.count) and args.interval > 0:
                time.sleep(args.interval)
    return 0


class _Pinger:
    """Send ping requests and print each answer with the mean RTT."""

    def __init__(self, h, args, nodeid, label, topic, flags):
        self.h, self.args = h, args
        self.nodeid, self.label, self.topic, self.flags = \
            nodeid, label, topic, flags
        self.pad = "p" * args.pad
        self.total = 0.0
        self.answered = 0

    def send(self, seq):
        started = time.monotonic()
        token = self.h.send(self.topic, {"seq": seq, "pad": self.pad},
                            nodeid=self.nodeid, flags=self.flags)
        return seq, started, token

    def show(self, seq, started, token):
        try:
            reply = decode_json(self.h.wait(token))
        except FluxError as exc:
            raise type(exc)(f"{self.label}!{self.topic}: {exc}") from None
        self.total += (time.monotonic() - started) * 1000
        self.answered += 1
        who = (f" userid={reply['userid']} rolemask=0x{reply['rolemask']:x}"
               if self.args.userid else "")
        print(f"{reply['rank']}!{self.topic} pad={self.args.pad}{who}"
              f" seq={seq} time={self.total / self.answered:0.3f} ms"
              f" ({reply['route']})", flush=True)
