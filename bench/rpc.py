#!/usr/bin/env python3
"""Benchmark: no-op RPC round trips against a real broker, and CLI latency.

Starts one ``twistd -n fluxd`` broker in a temp dir, then measures from a
client process (the stdlib client, as the ``flux`` command uses):

- sequential round trips per second of ``broker.ping``;
- round trips per second with 100 requests in flight;
- wall time of ``flux getattr rank`` (median of repeated runs).

Overlay part (``--part overlay``): the overlay services of ranks 0, 1, 3,
7 and 15 of a ``kary:2`` tree run in this one process, linked by real TLS
over loopback TCP.  A sequential ``broker.ping`` from rank 0 to rank 15
crosses four hops; every broker on the path runs here, so the CPU time
per ping (minus a ping served on rank 0 itself) divided by four is what
one hop costs in encoding, TLS, system calls and routing, both ways and
on both ends, without the scheduling noise of ``bench/startup.py``.

Usage: ``.venv/bin/python bench/rpc.py [--seconds N] [--runs N]
[--part all|broker|overlay] [--pings N]``
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from fluxd.client.sync import Flux  # noqa: E402
from fluxd.testing.broker import BrokerProcess  # noqa: E402
from fluxd.testing.cli import flux_executable  # noqa: E402


def sequential(uri, seconds):
    with Flux(uri) as h:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            h.rpc_raw("broker.ping", b"{}")
            n += 1
        return n / (time.perf_counter() - start)


def pipelined(uri, seconds, depth=100):
    with Flux(uri) as h:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            tokens = [h.send("broker.ping", b"{}") for _ in range(depth)]
            for token in tokens:
                h.wait(token)
            n += depth
        return n / (time.perf_counter() - start)


def cli_wall(uri, runs):
    env = dict(os.environ, FLUX_URI=uri)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([flux_executable(), "getattr", "rank"], env=env,
                       check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def python_floor(runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


CHAIN = (0, 1, 3, 7, 15)


async def _overlay_chain(reactor, pings, rounds):
    """CPU and wall time per ping to rank 0 and to rank 15 (in process)."""
    from twisted.internet import defer
    from twisted.internet.endpoints import (
        TCP4ClientEndpoint, TCP4ServerEndpoint)

    from fluxd.attributes import Attributes
    from fluxd.builtins import BrokerModule
    from fluxd.events import EventService
    from fluxd.message.router import Router
    from fluxd.overlay.service import OverlayService
    from fluxd.overlay.tls import client_options, server_options
    from fluxd.overlay.topology import Topology
    from fluxd.security.keys import generate_cluster_cert

    cert = generate_cluster_cert("flux")
    topology = Topology("kary:2", 16)
    ports, overlays, routers = {}, {}, {}
    for rank in CHAIN:
        router = Router(rank=rank, clock=reactor)
        parent = topology.parent(rank)
        overlay = OverlayService(
            reactor, rank, 16, topology, router, EventService(rank, router),
            listen_endpoint=(TCP4ServerEndpoint(reactor, 0,
                                                interface="127.0.0.1")
                             if rank != CHAIN[-1] else None),
            parent_endpoint=(TCP4ClientEndpoint(reactor, "127.0.0.1",
                                                ports[parent])
                             if parent is not None else None),
            quorum=1, server_tls=server_options(cert),
            client_tls=client_options(cert))
        await defer.maybeDeferred(overlay.startService)
        if overlay._port is not None:
            ports[rank] = overlay._port.getHost().port
        attrs = Attributes()
        attrs.set_initial("rank", rank)
        attrs.set_initial("size", 16)
        router.add_module(BrokerModule(attrs, rank))
        router.add_module(overlay)
        overlays[rank], routers[rank] = overlay, router
    for rank in CHAIN[1:]:
        await overlays[rank].parent_ready()
    result = {0: [], CHAIN[-1]: []}
    for _ in range(rounds):
        for target in result:
            cpu, wall = time.process_time(), time.perf_counter()
            for seq in range(pings):
                await routers[0].call("broker.ping", {"seq": seq},
                                      nodeid=target)
            result[target].append(((time.process_time() - cpu) / pings,
                                   (time.perf_counter() - wall) / pings))
    for rank in reversed(CHAIN):
        await defer.maybeDeferred(overlays[rank].stopService)
    return result


def overlay_chain(pings, rounds=5):
    """Run :func:`_overlay_chain` in a process of its own (a reactor runs
    once per process); returns ``{target: [(cpu, wall) per round]}``."""
    import json
    out = subprocess.run([sys.executable, os.path.abspath(__file__),
                          "--overlay-child", str(pings), str(rounds)],
                         check=True, capture_output=True, text=True).stdout
    return {int(k): v for k, v in json.loads(out.splitlines()[-1]).items()}


def _overlay_child(pings, rounds):
    import json

    from twisted.internet import defer, task

    async def run(reactor):
        print(json.dumps(await _overlay_chain(reactor, pings, rounds)),
              flush=True)
    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))


def print_overlay(pings):
    result = overlay_chain(pings)
    local = min(cpu for cpu, _wall in result[0])
    deep = min(cpu for cpu, _wall in result[CHAIN[-1]])
    hops = len(CHAIN) - 1
    print(f"in-process ping, rank 0 to itself:  {local * 1e6:8.1f} us CPU"
          " (best of 5)")
    print(f"in-process ping, rank 0 to rank {CHAIN[-1]}: {deep * 1e6:8.1f} us CPU,"
          f" {min(w for _c, w in result[CHAIN[-1]]) * 1e6:.1f} us wall")
    print(f"CPU per overlay hop (both ways):    {(deep - local) / hops * 1e6:8.1f} us")


def main():
    if sys.argv[1:2] == ["--overlay-child"]:
        _overlay_child(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--part", choices=("all", "broker", "overlay"),
                        default="all")
    parser.add_argument("--pings", type=int, default=2000,
                        help="pings per overlay measurement")
    args = parser.parse_args()
    if args.part != "broker":
        print_overlay(args.pings)
    if args.part == "overlay":
        return
    with tempfile.TemporaryDirectory() as tmp:
        broker = BrokerProcess(tmp).start()
        try:
            seq = sequential(broker.uri, args.seconds)
            pipe = pipelined(broker.uri, args.seconds)
            median, best = cli_wall(broker.uri, args.runs)
            floor = python_floor(args.runs)
        finally:
            broker.stop()
    print(f"sequential no-op RPC:     {seq:10.0f} RPC/s")
    print(f"100 in flight no-op RPC:  {pipe:10.0f} RPC/s")
    print(f"flux getattr rank wall:   {median * 1000:10.1f} ms median"
          f" ({best * 1000:.1f} ms best)")
    print(f"python -c pass wall:      {floor * 1000:10.1f} ms median")


if __name__ == "__main__":
    main()
