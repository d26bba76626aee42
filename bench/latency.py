#!/usr/bin/env python3
"""Wall latency of ``flux run -n1 true`` and ``flux run -N<size> true``
as a user types them (the ``flux`` command's own start-up included), and
where that time goes.

For each broker count S in SIZES: start an instance (``flux start
--test-size=S``, its KVS in ``content.sqlite`` in a temporary statedir, so
every acknowledgement waits for the disk), and inside it run each shape
(``-n1``, and ``-NS`` when S > 1) K times, alternating two ways:

- the command as a user types it (``flux run -n1 true``): its wall time
  gives min, p25 and median;
- the same command started through a small probe (same interpreter,
  same modules: ``python -P -c PROBE``) that also notes when the
  command sends its first request and when its ``main`` returns.

The per-stage breakdown (median ms over the probed runs) joins those
times with the job eventlog and the exec eventlog timestamps (all are
``time.time()`` on one machine):

- ``cli start``: process start to the first request (imports, argument
  parsing, jobspec, connecting);
- ``submit``: first request to the ``submit`` event (ingest stamps it);
- ``validate..priority``: ``submit`` to ``priority`` (the durable
  commit of J, jobspec and ``submit`` comes first);
- ``alloc``: ``priority`` to ``alloc`` (the scheduler);
- ``exec init``: ``alloc`` to exec ``init`` (the exec service reads J
  and writes its first event);
- ``shell launch``: ``init`` to ``shell.init`` (the durable ``init``,
  J read, shell server fork and the shell's start-up, on every rank);
- ``barrier+tasks``: ``shell.init`` to ``shell.start``;
- ``start event``: ``shell.start`` to the job's ``start``;
- ``task run``: ``start`` to exec ``complete`` (``true`` runs and exits,
  its shell reports);
- ``finish``: ``complete`` to ``finish``; ``clean``: ``finish`` to
  ``clean``;
- ``cli sees end``: ``clean`` to the command's ``main`` returning;
- ``cli exit``: ``main`` returning to the process having exited.

The packages are byte-compiled first, as an install does (not with
``--no-compile``).

Usage: ``.venv/bin/python bench/latency.py [-s 1,4] [-K 20]
[--memory] [--preload N]``; ``--preload N`` first runs N test jobs to
their end (an instance holding N inactive jobs, as after
bench/throughput.py); ``--inner`` measures the instance at ``$FLUX_URI``.

Measured 2026-12-03 (load average 2.5-3 from other work on the 2
cores; interleaved runs, 15 each; ms, min / p25 / median)::

                               1 broker -n1    4 brokers -n1   4 brokers -N4
    before, no .pyc (as run      75  76  76      76  81  88     78  94 100
      here: PYTHONDONTWRITEBYTECODE, ./dev setup compiled nothing)
    before, byte-compiled        51  52  53      54  54  56     54  66  69
    after                        43  45  46      45  47  48     55  56  59

Stages of the ``after`` runs (1 broker -n1 / 4 brokers -N4, ms): cli
start 27 / 27, submit 0.2, validate..priority 1.6 (the durable submit),
alloc 0.4 / 0.9, shell launch 4.7 / 11.6, barrier+tasks 2.6 / 8.3, task
run 2.4 / 3.4, cli sees end 3.5 / 4.4 (the ``clean`` commit; 14.5 before
the job manager's batch interval was kept for busy batches only), cli
exit 1.5.  Of the command's 27 ms, the interpreter's own start is about
14 (``python -c pass``) and imports about 10 (argparse with re, json).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

FLUX = os.path.join(os.path.dirname(sys.executable), "flux")

#: run by ``python -c`` in place of the ``flux`` script: the same command,
#: with the times of its first request and of main's return written to
#: the file named by $LATENCY_PROBE
PROBE = """\
import os, sys, time
from fluxd.client import sync
_send = sync.Flux.send
_t = []
def send(self, *a, **k):
    if not _t:
        _t.append(time.time())
    return _send(self, *a, **k)
sync.Flux.send = send
def note():
    _t.append(time.time())
    with open(os.environ["LATENCY_PROBE"], "w") as f:
        f.write(" ".join(map(repr, _t)))
_exit = os._exit
def quick_exit(code):
    note()
    _exit(code)
os._exit = quick_exit
from fluxd.cli.main import main
sys.argv = sys.argv[1:]
try:
    main()
except SystemExit:
    note()
    raise
"""

STAGES = ["cli start", "submit", "validate..priority", "alloc", "exec init",
          "shell launch", "barrier+tasks", "start event", "task run",
          "finish", "clean", "cli sees end", "cli exit"]


def _events(h, jobid):
    reply = h.rpc("job-info.lookup", {
        "id": jobid, "keys": ["eventlog", "guest.exec.eventlog"],
        "flags": 0})
    out = {}
    for key, prefix in (("eventlog", ""), ("guest.exec.eventlog", "exec.")):
        for line in reply[key].splitlines():
            entry = json.loads(line)
            out.setdefault(prefix + entry["name"], entry["timestamp"])
    return out


def _stages(t_spawn, t_first, t_main, t_exit, ev):
    points = [t_spawn, t_first, ev["submit"], ev["priority"], ev["alloc"],
              ev["exec.init"], ev["exec.shell.init"], ev["exec.shell.start"],
              ev["start"], ev["exec.complete"], ev["finish"], ev["clean"],
              t_main, t_exit]
    return [(b - a) * 1000 for a, b in zip(points, points[1:])]


def measure(opts, runs, tmp):
    """``runs`` plain and ``runs`` probed ``flux run OPTS true``."""
    from fluxd.client.sync import Flux
    from fluxd.formats.fluid import decode
    walls, stages = [], []
    probe_file = os.path.join(tmp, "probe")
    env = dict(os.environ, LATENCY_PROBE=probe_file)
    with Flux() as h:
        for _ in range(runs):
            t0 = time.monotonic()
            proc = subprocess.run([FLUX, "run", *opts, "true"],
                                  capture_output=True, stdin=subprocess.DEVNULL)
            walls.append((time.monotonic() - t0) * 1000)
            if proc.returncode != 0:
                raise RuntimeError(f"flux run {opts} true failed:"
                                   f" {proc.stderr.decode()}")
            t_spawn = time.time()
            proc = subprocess.run(
                [sys.executable, "-P", "-c", PROBE, FLUX, "run", "-v", *opts,
                 "true"], capture_output=True, env=env,
                stdin=subprocess.DEVNULL)
            t_exit = time.time()
            if proc.returncode != 0:
                raise RuntimeError(f"probed flux run {opts} true failed:"
                                   f" {proc.stderr.decode()}")
            with open(probe_file) as f:
                t_first, t_main = map(float, f.read().split())
            label = proc.stderr.decode().split("jobid: ", 1)[1].split()[0]
            ev = _events(h, decode(label))
            stages.append(_stages(t_spawn, t_first, t_main, t_exit, ev))
    walls.sort()
    return {"min": walls[0], "p25": walls[len(walls) // 4],
            "median": statistics.median(walls),
            "stages": [statistics.median(col) for col in zip(*stages)],
            "probed": statistics.median(sum(s) for s in stages)}


def preload(count):
    """``count`` test-execution jobs run to their end first, so that the
    KVS holds as many inactive jobs (as after bench/throughput.py)."""
    subprocess.run([FLUX, "submit", "--quiet", f"--cc=1-{count}",
                    "--setattr=system.exec.test.run_duration=0.001s",
                    "true"], check=True, stdin=subprocess.DEVNULL)
    subprocess.run([FLUX, "queue", "drain"], check=True)


def inner(size, runs, count=0):
    if count:
        preload(count)
    shapes = [("-n1", ["-n1"])] + ([(f"-N{size}", [f"-N{size}"])]
                                   if size > 1 else [])
    with tempfile.TemporaryDirectory(prefix="fluxd-latency-") as tmp:
        # a first job warms the shell server and the caches
        subprocess.run([FLUX, "run", *shapes[-1][1], "true"],
                       capture_output=True, stdin=subprocess.DEVNULL)
        return {name: measure(opts, runs, tmp) for name, opts in shapes}


def compile_all():
    """Byte-compile the packages the commands import, as an install does
    (``PYTHONDONTWRITEBYTECODE`` would leave every ``flux`` to compile its
    modules anew)."""
    import compileall

    import flux_shell
    import fluxd
    for pkg in (fluxd, flux_shell):
        compileall.compile_dir(os.path.dirname(pkg.__file__), quiet=1)


def outer(args):
    if not args.no_compile:
        compile_all()
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="fluxd-latency-") as tmp:
            store = [] if args.memory else [f"-Sstatedir={tmp}/state"]
            proc = subprocess.run(
                [FLUX, "start", f"--test-size={size}", *store,
                 sys.executable, os.path.abspath(__file__), "--inner",
                 "-s", str(size), "-K", str(args.runs),
                 "--preload", str(args.preload)],
                capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"size {size} failed:\n{proc.stderr[-2000:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        for name, r in result.items():
            print(f"\n{size} broker(s), {args.preload} inactive jobs,"
                  f" flux run {name} true, {args.runs}"
                  f" runs: min {r['min']:.0f}  p25 {r['p25']:.0f}"
                  f"  median {r['median']:.0f} ms"
                  f" (probed median {r['probed']:.0f})")
            for stage, ms in zip(STAGES, r["stages"]):
                print(f"  {stage:<20} {ms:7.1f}")
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--sizes", default="1,4")
    parser.add_argument("-K", "--runs", type=int, default=20)
    parser.add_argument("--memory", action="store_true",
                        help="keep the KVS in memory (no content.sqlite)")
    parser.add_argument("--preload", type=int, default=0, metavar="N",
                        help="first run N test jobs to their end (an"
                        " instance holding N inactive jobs)")
    parser.add_argument("--no-compile", action="store_true",
                        help="do not byte-compile first (with"
                        " PYTHONDONTWRITEBYTECODE and no .pyc, each flux"
                        " command compiles its modules)")
    parser.add_argument("--inner", action="store_true")
    args = parser.parse_args()
    args.sizes = [int(n) for n in args.sizes.split(",")]
    if args.inner:
        print(json.dumps(inner(args.sizes[0], args.runs, args.preload)))
    else:
        outer(args)


if __name__ == "__main__":
    main()
