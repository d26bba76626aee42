#!/usr/bin/env python3
"""Job shell start-up cost, with and without its plugins.

Forks one job shell at a time from this process (as the shell server
does: the shell code already imported) and times it from the fork to
its ``start`` event (tasks spawned) and to its exit (``true`` tasks
reaped, output drained), median of ``--runs`` shells of each mode (the
modes take turns), for each mode:

- ``none``: no plugin stack at all (``flux_shell.plugins.setup``
  replaced by one returning None: the shell as it was before plugins);
- ``off``: the builtins loaded, all off (``-o cpu-affinity=off -o
  gpu-affinity=off -o pmi=off``): tasks by ``posix_spawn``;
- ``default``: the builtins as a job gets them (cpu-affinity on: tasks by
  ``fork`` + ``exec`` with the binding in the child; a PMI socket per
  task);
- ``site``: ``default`` plus one site plugin loaded from a plugin path.

Usage: ``bench/shell.py [--runs 200] [--tasks 1,2]``.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import flux_shell.plugins as P
from flux_shell.shell import run

OFF = {"cpu-affinity": "off", "gpu-affinity": "off", "pmi": "off"}
SITE = ("def flux_plugin_init(p):\n"
        "    p.add_handler('task.init', lambda s, t, task:"
        " task.env.update(SITE='1'))\n")


def one(spec):
    """Fork a shell; ``(ms to start, ms to exit)``."""
    ev_r, ev_w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(ev_r)
        code = 1
        try:
            code = run(spec, ev_w, None)
        finally:
            os._exit(code)
    os.close(ev_w)
    started = None
    buf = b""
    while True:
        data = os.read(ev_r, 65536)
        if not data:
            break
        buf += data
        if started is None and b'"ev":"start"' in buf:
            started = time.perf_counter()
    os.close(ev_r)
    os.waitpid(pid, 0)
    end = time.perf_counter()
    events = [json.loads(line) for line in buf.splitlines()]
    bad = [e for e in events if e["ev"] == "log"]
    if bad or started is None:
        sys.exit(f"shell failed: {bad}")
    return (started - t0) * 1000, (end - t0) * 1000


def spec_of(ntasks, options, pluginpath=None):
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    system = {"cwd": "/", "environment": {"PATH": "/usr/bin:/bin"},
              "shell": {"options": options}}
    spec = {"id": 7, "f58": "f8", "broker_rank": 0, "hostname": "h",
            "R": {"version": 1, "execution": {"R_lite": [
                {"rank": "0", "children": {"core": cpus}}]}},
            "jobspec": {"resources": [{"type": "slot", "count": 1,
                                       "with": [{"type": "core",
                                                 "count": 1}]}],
                        "attributes": {"system": system},
                        "tasks": [{"command": ["true"], "slot": "task",
                                   "count": {"total": ntasks}}]}}
    if pluginpath:
        spec["shell_pluginpath"] = pluginpath
    return spec


def measure(modes, runs):
    """Median ``(start, exit)`` ms of each mode; the modes take turns,
    run after run, so that the shared machine's load moves them alike."""
    real_setup = P.setup
    times = {name: [] for name, _, _ in modes}
    try:
        for i in range(runs + 1):
            for name, spec, disable in modes:
                P.setup = (lambda shell, spec: None) if disable \
                    else real_setup
                t = one(spec)
                if i:                   # the first round warms up
                    times[name].append(t)
    finally:
        P.setup = real_setup
    return {name: (statistics.median(t[0] for t in ts),
                   statistics.median(t[1] for t in ts))
            for name, ts in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--tasks", default="1,2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as site:
        with open(os.path.join(site, "site.py"), "w") as f:
            f.write(SITE)
        print(f"{'mode':8} {'tasks':>5} {'start ms':>9} {'exit ms':>8}")
        for ntasks in (int(n) for n in args.tasks.split(",")):
            modes = [("none", spec_of(ntasks, {}), True),
                     ("off", spec_of(ntasks, OFF), False),
                     ("default", spec_of(ntasks, {}), False),
                     ("site", spec_of(ntasks, {}, site), False)]
            for name, (start, end) in measure(modes, args.runs).items():
                print(f"{name:8} {ntasks:>5} {start:9.2f} {end:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
