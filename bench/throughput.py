#!/usr/bin/env python3
"""Job throughput, after flux-core's t/throughput.py.

For each broker count and job count: start an instance (``flux start
--test-size=S``, its KVS in ``content.sqlite`` in a temporary statedir,
so that every acknowledgement waits for the disk; ``--memory`` keeps it
in memory), submit N test-execution jobs (``true`` with
``system.exec.test.run_duration``, default ``0.001s`` as flux-core's
script sets it) in batches of ``--batch`` jobs per request, wait until
every one is inactive, and print:

- submit rate: jobs acknowledged (durable, ids returned) per second;
- end-to-end rate: N / (time of the last ``clean`` - time of the first
  submit);
- rank 0's RSS (VmRSS and VmHWM, MiB) once every job is inactive, with
  every inactive job retained (no purge).

Usage: ``bench/throughput.py [-N 1000,16000] [-s 1,4] [--duration 0.001s]
[--config-path DIR]``.
Run inside an instance (``--inner``), it measures that instance only.

On the 2-core development machine (``content.sqlite``, FULL sync; the
targets: 1,000 jobs/s on 1 broker, 16,000 jobs at 90% of the 1,000-job
rate, submit above 5,000/s, rank 0 under 80 MB with every job kept)::

    brokers   jobs  submit/s   jobs/s  rank0 RSS MiB  HWM MiB
          1   1000      4192      586           52.7     53.2
          1  16000      2611      502           81.5     81.5
          4   1000      4199     1232           64.0     64.0
          4  16000      1231      727          132.3    140.7

    (before: 1 broker 2,710/2,242 submit/s, 121/96 jobs/s, 118/310 MiB;
    4 brokers 295/210 jobs/s, 98/336 MiB.  Figures move with the load of
    the shared machine: 1 broker, 16,000 jobs ran at 384-606 jobs/s.)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from fluxd.client.sync import Flux  # noqa: E402
from fluxd.formats.jobspec import from_command  # noqa: E402
from fluxd.security.sign import wrap_none  # noqa: E402


def rss_mib(pid):
    """``(VmRSS, VmHWM)`` of a process in MiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def inner(count, batch, duration, uri=None):
    """Measure in the instance at ``uri`` (default FLUX_URI)."""
    jobspec = from_command(["true"])
    jobspec["attributes"]["system"].setdefault("exec", {})["test"] = {
        "run_duration": duration}
    jobspec["attributes"]["system"]["environment"] = {}
    signed = wrap_none(json.dumps(jobspec).encode(), os.getuid())
    entry = {"J": signed, "urgency": 16, "flags": 0}
    done = threading.Event()
    state = {"cleaned": 0, "last": None}

    def follow():
        with Flux(uri) as h:
            for batch_ in h.stream("job-manager.events-journal", {}):
                for event in batch_["events"]:
                    if event["entry"]["name"] == "clean":
                        state["cleaned"] += 1
                        state["last"] = event["entry"]["timestamp"]
                if state["cleaned"] >= count:
                    done.set()
                    return
    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    with Flux(uri) as h:
        pid = int(h.rpc("attr.get", {"name": "broker.pid"})["value"])
        time.sleep(0.2)     # let the journal stream register
        start = time.time()
        tokens = []
        for first in range(0, count, batch):
            n = min(batch, count - first)
            tokens.append(h.send("job-ingest.submit",
                                 {"jobs": [entry] * n}))
            if len(tokens) >= 4:
                h.wait(tokens.pop(0))
        for token in tokens:
            h.wait(token)
        submitted = time.time()
    done.wait()
    end = max(state["last"] or time.time(), submitted)
    rss, hwm = rss_mib(pid)
    return {"jobs": count, "submit_rate": count / (submitted - start),
            "rate": count / (end - start), "rss": rss, "hwm": hwm}


def outer(args):
    flux = os.path.join(os.path.dirname(sys.executable), "flux")
    print(f"{'brokers':>7} {'jobs':>6} {'submit/s':>9} {'jobs/s':>8}"
          f" {'rank0 RSS MiB':>14} {'HWM MiB':>8}")
    for size in args.sizes:
        for count in args.counts:
            with tempfile.TemporaryDirectory(prefix="fluxd-throughput-") as tmp:
                proc = run_one(flux, size, count, args, tmp)
            if proc.returncode != 0:
                print(f"size {size} N {count} failed:\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{size:>7} {count:>6} {r['submit_rate']:>9.0f}"
                  f" {r['rate']:>8.0f} {r['rss']:>14.1f} {r['hwm']:>8.1f}",
                  flush=True)


def run_one(flux, size, count, args, tmp):
    """One instance: the KVS in ``content.sqlite`` under ``tmp`` (every
    acknowledged job and event durable, as in production), or in memory
    with ``--memory``."""
    store = [] if args.memory else [f"-Sstatedir={tmp}/state"]
    return subprocess.run(
        [flux, "start", f"--test-size={size}", *store,
         *([f"--config-path={args.config_path}"] if args.config_path else []),
         sys.executable,
         os.path.abspath(__file__), "--inner", "-N", str(count),
         "--batch", str(args.batch), "--duration", args.duration],
        capture_output=True, text=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-N", "--counts", default="1000,16000")
    parser.add_argument("-s", "--sizes", default="1,4")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--duration", default="0.001s")
    parser.add_argument("--memory", action="store_true",
                        help="keep the KVS in memory (no content.sqlite)")
    parser.add_argument("--inner", action="store_true")
    parser.add_argument("--config-path",
                        help="config directory for the instance (e.g. the"
                        " guide's queues and policy limits)")
    args = parser.parse_args()
    args.counts = [int(n) for n in args.counts.split(",")]
    args.sizes = [int(n) for n in args.sizes.split(",")]
    if args.inner:
        print(json.dumps(inner(args.counts[0], args.batch, args.duration)))
    else:
        outer(args)


if __name__ == "__main__":
    main()
