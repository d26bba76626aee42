#!/usr/bin/env python3
"""Benchmark: RPC round trips to a real broker, beside bare Twisted AMP.

Starts one ``twistd -n fluxd`` broker in a temp dir and, as the yardstick,
a tiny Twisted AMP server process with one no-op command (this file run
with ``--serve-amp PATH``).  Then measures, in the same run:

- the sequential round trip of the bare AMP no-op, and of ``broker.ping``
  to rank 0, each from the stdlib client codec (what the ``flux``
  command uses) and from a Twisted AMP client process, in rounds that
  alternate between the two servers so that load from other processes
  hits both alike; the median and the best round of each (the best is
  the steadier figure on a busy host);
- the CPU time each server spends per round trip (from
  ``/proc/PID/schedstat``), which load from other processes hardly moves;
- ``flux ping -i 0`` to rank 0 (the CLI's own average);
- round trips per second with 100 requests in flight;
- wall time of ``flux getattr rank`` (median of repeated runs).

Usage: ``.venv/bin/python bench/rpc.py [--seconds N] [--rounds N] [--runs N]``
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from fluxd.client import wire  # noqa: E402
from fluxd.client.sync import Flux  # noqa: E402
from fluxd.testing.broker import BrokerProcess  # noqa: E402
from fluxd.testing.cli import flux_executable  # noqa: E402

NOOP = b"noop"


# -- the bare AMP yardstick (runs in child processes) ----------------------

def _noop_command():
    from twisted.protocols import amp

    class Noop(amp.Command):
        commandName = NOOP
        arguments = []
        response = []
    return amp, Noop


def serve_amp(path):
    """A Twisted AMP server answering one no-op command on ``path``."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import UNIXServerEndpoint
    from twisted.internet.protocol import Factory
    amp, Noop = _noop_command()

    class Server(amp.AMP):
        @Noop.responder
        def noop(self):
            return {}

    d = UNIXServerEndpoint(reactor, path).listen(Factory.forProtocol(Server))
    d.addCallback(lambda _: print("ready", flush=True))
    reactor.run()


def twisted_client(kind, path, seconds):
    """Sequential round trips from a Twisted client; prints µs per trip.

    :param kind: ``amp`` (the no-op command on the bare server) or
        ``fluxd`` (``broker.ping`` through :mod:`fluxd.client.tx`).
    """
    from twisted.internet import defer, task
    from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol

    async def run(reactor):
        if kind == "amp":
            amp, Noop = _noop_command()
            proto = await connectProtocol(UNIXClientEndpoint(reactor, path),
                                          amp.AMP())

            def call():
                return proto.callRemote(Noop)
        else:
            from fluxd.client.tx import connect
            client = await connect(reactor, f"local://{path}")

            def call():
                return client.rpc_raw("broker.ping", b"{}")
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            await call()
            n += 1
        print(f"{(time.perf_counter() - start) / n * 1e6:.2f}", flush=True)

    task.react(lambda reactor: defer.ensureDeferred(run(reactor)))


# -- measurements from this process -----------------------------------------

def stdlib_amp_trip(path, seconds):
    """µs per no-op round trip to the bare AMP server, with the same codec
    (and the same blocking socket calls) as the stdlib client."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    decoder = wire.BoxDecoder()
    try:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            n += 1
            sock.sendall(wire.encode_box({wire.COMMAND: NOOP,
                                          wire.ASK: b"%x" % n}))
            boxes = []
            while not boxes:
                boxes = decoder.feed(sock.recv(65536))
        return (time.perf_counter() - start) / n * 1e6, n
    finally:
        sock.close()


def stdlib_flux_trip(uri, seconds):
    """µs per ``broker.ping`` round trip with the stdlib client."""
    with Flux(uri) as h:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            h.rpc_raw("broker.ping", b"{}")
            n += 1
        return (time.perf_counter() - start) / n * 1e6, n


def cpu_ns(pid):
    """Nanoseconds of CPU that process ``pid`` has used (schedstat)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def with_server_cpu(pid, trip, *args):
    """Run ``trip``; returns (µs per trip, server CPU µs per trip)."""
    before = cpu_ns(pid)
    per_trip, n = trip(*args)
    return per_trip, (cpu_ns(pid) - before) / n / 1000


def twisted_trip(kind, path, seconds):
    proc = subprocess.run([sys.executable, __file__, "--twisted-client", kind,
                           path, str(seconds)], check=True,
                          capture_output=True, text=True)
    return float(proc.stdout.split()[-1])


def pipelined(uri, seconds, depth=100):
    with Flux(uri) as h:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            tokens = [h.send("broker.ping", b"{}") for _ in range(depth)]
            for token in tokens:
                h.wait(token)
            n += depth
        return n / (time.perf_counter() - start)


def flux_ping(uri, count):
    """The average ``flux ping`` prints after ``count`` pings (ms)."""
    env = dict(os.environ, FLUX_URI=uri)
    proc = subprocess.run([flux_executable(), "ping", "-i", "0", "-c",
                           str(count), "0"], env=env, check=True,
                          capture_output=True, text=True)
    last = proc.stdout.splitlines()[-1]
    return float(last.split("time=")[1].split()[0])


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


def start_amp_server(path):
    proc = subprocess.Popen([sys.executable, __file__, "--serve-amp", path],
                            stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the bare AMP server did not start")
    return proc


def measure(args, broker, amp_server, amp_path):
    rounds = {"amp": [], "flux": [], "tx-amp": [], "tx-flux": [],
              "cpu-amp": [], "cpu-flux": []}
    broker_path = broker.uri[len("local://"):]
    for _ in range(args.rounds):
        trip, cpu = with_server_cpu(amp_server.pid, stdlib_amp_trip,
                                    amp_path, args.seconds)
        rounds["amp"].append(trip)
        rounds["cpu-amp"].append(cpu)
        trip, cpu = with_server_cpu(broker.proc.pid, stdlib_flux_trip,
                                    broker.uri, args.seconds)
        rounds["flux"].append(trip)
        rounds["cpu-flux"].append(cpu)
        rounds["tx-amp"].append(twisted_trip("amp", amp_path, args.seconds))
        rounds["tx-flux"].append(twisted_trip("fluxd", broker_path,
                                              args.seconds))
    med = {k: statistics.median(v) for k, v in rounds.items()}
    best = {k: min(v) for k, v in rounds.items()}
    print(f"sequential round trip, us ({args.rounds} rounds of"
          f" {args.seconds:g} s)     stdlib client       Twisted client")
    print("                                       median    best    median"
          "    best")
    rows = [("bare Twisted AMP no-op (2 processes)", "amp", "tx-amp"),
            ("fluxd rank 0 broker.ping", "flux", "tx-flux")]
    for label, std, tx in rows:
        print(f"  {label:36} {med[std]:7.1f} {best[std]:7.1f}"
              f"   {med[tx]:7.1f} {best[tx]:7.1f}")
    print(f"  {'ratio fluxd / bare AMP':36}"
          f" {med['flux'] / med['amp']:7.2f} {best['flux'] / best['amp']:7.2f}"
          f"   {med['tx-flux'] / med['tx-amp']:7.2f}"
          f" {best['tx-flux'] / best['tx-amp']:7.2f}")
    print("server CPU per round trip (stdlib client, median): bare AMP"
          f" {med['cpu-amp']:.1f} us, fluxd broker {med['cpu-flux']:.1f} us")
    print(f"flux ping -i 0 rank 0 (CLI average): "
          f"{flux_ping(broker.uri, args.pings):9.3f} ms")
    print(f"100 in flight no-op RPC:  {pipelined(broker.uri, args.seconds):10.0f}"
          " RPC/s")
    median, best = cli_wall(broker.uri, args.runs)
    print(f"flux getattr rank wall:   {median * 1000:10.1f} ms median"
          f" ({best * 1000:.1f} ms best)")
    print(f"python -c pass wall:      {python_floor(args.runs) * 1000:10.1f}"
          " ms median")


def main():
    if sys.argv[1:2] == ["--serve-amp"]:
        return serve_amp(sys.argv[2])
    if sys.argv[1:2] == ["--twisted-client"]:
        return twisted_client(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = BrokerProcess(tmp).start()
        amp_path = os.path.join(tmp, "amp.sock")
        server = start_amp_server(amp_path)
        try:
            measure(args, broker, server, amp_path)
        finally:
            server.kill()
            server.wait()
            broker.stop()


if __name__ == "__main__":
    main()
