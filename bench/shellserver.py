#!/usr/bin/env python3
"""CPU per job of the shell server and the job shells it forks.

Starts a shell server (``python -m flux_shell.server SOCKET`` in a
temporary directory, as the exec service does), connects to it as a
broker would, and launches ``-N`` one-task ``true`` jobs, at most
``--window`` at a time; each job's events are acknowledged (``ack`` of
its last event, ``forget`` once it exited) as rank 0 does.  Prints, per
job, the CPU (ms) of the server itself and of what it reaped (the
forked shells and their tasks; ``(user)``: their user time; ``faults``: their minor page faults, copy-on-write
ones mostly), the events and bytes the server sent,
and the wall rate.  ``--repeat R`` runs it R times (fresh servers).

Usage: ``bench/shellserver.py [-N 2000] [--window 8] [--repeat 1]``.

Measured 2026-12-03 with ``-N 1000`` (load average 2-4 from other work),
interleaved, before and after issue 19's shell cuts::

            jobs/s  server ms  kids ms  (user)  faults  events  bytes
    before     182       1.23     4.96    2.94     558       6    322
    after      182       1.26     5.08    2.98     546       6    322
    before     181       1.21     4.79    3.01     553       6    322
    after      222       1.06     4.11    2.70     545       6    322

A bare ``fork`` + ``_exit`` of the server's image costs ~70 faults, a
``posix_spawn`` of ``true`` and its wait ~130 more: most of the kids'
CPU is the kernel's (copy-on-write, page tables, exec, exit).

Measured 2026-12-03 with ``-N 2000 --repeat 3`` (load average 4-9 from
other work on the 2 cores), two rounds interleaved, main (before) and
after the shell server's rehearsal (:mod:`flux_shell.rehearsal`) and
the cold-path cuts of the forked shell::

            jobs/s  server ms  kids ms  (user)  faults  events  bytes
    before     142       1.36     5.01    2.86     532       6    326
    before     153       1.04     3.93    2.45     535       6    326
    before     164       1.03     3.92    2.46     535       6    324
    after      265       1.06     3.09    2.11     439       6    324
    after      256       1.08     3.21    2.19     436       6    324
    after      307       1.01     2.89    2.02     439       6    326
    before     271       1.02     3.77    2.36     532       6    326
    before     273       1.00     3.68    2.36     533       6    326
    before     260       1.09     3.91    2.47     536       6    326
    after      242       1.07     3.15    2.18     440       6    326
    after      248       1.10     3.17    2.19     435       6    324
    after      280       0.99     2.85    2.02     438       6    324

Kids: median 3.9 -> 3.1 ms a job (-20%), faults 533 -> 438; the
server's own CPU is unchanged.  Where a job's kids CPU goes now (perf
on the shells, ``valgrind --tool=callgrind`` for instructions): the
forked shell runs ~0.6 M instructions (0.97 M cold, before the
rehearsal), so most of its ~2.5 ms is the kernel's: ~390 page faults
(copy-on-write of the code objects, strings, functions and types it
touches, of libpython's data; file-backed text faulted in again), about
0.4 ms for the fork's exit, and mkdir + rmdir of ``FLUX_JOB_TMPDIR``,
0.1-0.5 ms on this machine's ext4 mounted with ``discard``; the task
(``true``) is ~0.6 ms.  The server's ~1 ms: the ``fork`` (~0.3 ms of
page-table copy), ~140 copy-on-write faults on what it writes while its
shells live, and its Python.  Tried without gain: forking the shells
from a separate, idle forker process (it pays the same fork and about
as many faults as it saves the server), and ``epoll`` for the server's
loop (no change at 8 or 64 shells at a time).

Measured 2026-12-04 with ``-N 2000`` (idle machine), interleaved, the
tree before (69ff851: a fork a job) and after a shell process whose job
is over runs the next job's shell (:mod:`flux_shell.worker`; the kids'
CPU now includes the live shell processes)::

            jobs/s  server ms  kids ms  (user)  faults  events  bytes
    before     555       0.77     2.43    1.79     420       6    326
    after      754       0.25     1.30    0.86      53       6    324
    before     522       0.87     2.58    1.85     418       6    324
    after      832       0.24     1.17    0.90      53       6    324
    before     485       0.95     2.72    1.92     415       6    325
    after      787       0.24     1.25    0.91      53       6    326

The server and the kids a job fall by about two thirds and a half:
no fork, no copy-on-write faults, no exit; what is left of the kids is
the task (``true``: ~0.6 ms), the shell's Python (~0.37 ms, ~0.13 ms of
it the ``rmdir`` of ``FLUX_JOB_TMPDIR`` on this ext4) and the wake-ups.

Measured 2026-12-04 evening with ``-N 2000``, interleaved, before and
after a worker keeps an empty ``FLUX_JOB_TMPDIR`` for its next job (a
rename each way instead of ``mkdir`` + ``rmdir``, which waited on this
ext4's journal: 2.8 and 4.1 ms of wall time a job with 8 shells at
once): 712/610/611 -> 732/664/697 jobs/s.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from flux_shell.server import socket_path


def spec(jobid):
    """A one-task ``true`` job's shell spec, as the exec service sends it."""
    return {"id": jobid, "f58": f"f{jobid}", "barrier": False,
            "shell_rank": 0, "broker_rank": 0, "hostname": "h",
            "uri": "local:///nonexistent",
            "R": {"version": 1, "execution": {"R_lite": [
                {"rank": "0", "children": {"core": "0"}}]}},
            "jobspec": {
                "version": 1,
                "resources": [{"type": "slot", "count": 1, "label": "task",
                               "with": [{"type": "core", "count": 1}]}],
                "tasks": [{"command": ["true"], "slot": "task",
                           "count": {"per_slot": 1}}],
                "attributes": {"system": {
                    "cwd": os.getcwd(), "duration": 0,
                    "environment": {"PATH": os.environ.get("PATH", "")}}}}}


def _stat(pid):
    """utime, stime, cutime, cstime (s) and minor faults, own and of
    the reaped children, of ``pid``."""
    tick = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return [int(x) / tick for x in fields[11:15]] + [
        int(fields[7]), int(fields[8])]


def cpu(pid):
    """``(own, children, children's user, children's faults in
    thousands)`` of ``pid``: its children's CPU is that of the shell
    processes still alive (free for the next job) and of those reaped,
    with their tasks."""
    v = _stat(pid)
    kids, user, faults = v[2] + v[3], v[2], v[5]
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        live = f.read().split()
    for kid in live:
        try:
            k = _stat(kid)
        except FileNotFoundError:
            continue
        kids += sum(k[:4])
        user += k[0] + k[2]
        faults += k[4] + k[5]
    return v[0] + v[1], kids, user, faults / 1000


def one(count, window):
    with tempfile.TemporaryDirectory(prefix="fluxd-shellbench-") as tmp:
        path = os.path.join(tmp, "shells-0.sock")
        proc = subprocess.Popen(
            [sys.executable, "-m", "flux_shell.server", path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        proc.stdout.readline()
        # the server setsid()s: its pid is the one to watch
        dirfd = os.open(tmp, os.O_RDONLY)
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(socket_path(dirfd, "shells-0.sock"))
        os.close(dirfd)
        f = sock.makefile("rb")
        cpu0 = cpu(proc.pid)
        t0 = time.monotonic()
        launched = done = events = nbytes = 0
        while done < count:
            while launched < count and launched - done < window:
                launched += 1
                sock.sendall(json.dumps({"op": "launch", "id": launched,
                                         "spec": spec(launched)}).encode()
                             + b"\n")
            line = f.readline()
            events += 1
            nbytes += len(line)
            ev = json.loads(line)
            if ev.get("ev") == "shell-exit":
                done += 1
                sock.sendall(json.dumps({"op": "ack", "id": ev["id"],
                                         "seq": 0, "forget": True}).encode()
                             + b"\n")
            elif isinstance(ev.get("seq"), int):
                sock.sendall(json.dumps({"op": "ack", "id": ev["id"],
                                         "seq": ev["seq"]}).encode() + b"\n")
        wall = time.monotonic() - t0
        cpu1 = cpu(proc.pid)
        sock.sendall(b'{"op":"shutdown"}\n')
        f.read()
        sock.close()
        proc.wait()
    own, kids, user, faults = [(b - a) * 1000 / count
                               for a, b in zip(cpu0, cpu1)]
    return {"rate": count / wall, "server": own, "kids": kids, "user": user,
            "faults": faults,
            "events": events / count, "bytes": nbytes / count}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-N", type=int, default=2000)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args()
    print(f"{'jobs':>6} {'jobs/s':>7} {'server ms':>9} {'kids ms':>8}"
          f" {'(user)':>7} {'faults':>6} {'events':>6} {'bytes':>6}")
    for _ in range(args.repeat):
        r = one(args.N, args.window)
        print(f"{args.N:>6} {r['rate']:>7.0f} {r['server']:>9.3f}"
              f" {r['kids']:>8.3f} {r['user']:>7.3f} {r['faults']:>6.0f}"
              f" {r['events']:>6.1f} {r['bytes']:>6.0f}",
              flush=True)


if __name__ == "__main__":
    main()
