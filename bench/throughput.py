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
  every inactive job retained (no purge);
- CPU per job from the first submit to the last ``clean`` (ms): rank
  0's broker (``r0``, its threads included) and its children (``kids``:
  the shell server, its shell processes and the tasks: on several
  brokers only rank 0's share of the shells); ``all``: every broker with
  its children (on one broker, r0 + kids); ``idle %``: the share of
  the whole machine's CPU time left idle meanwhile (``/proc/stat``);
- the KVS commits of the job services' shared batcher per job
  (``job-manager.stats-get``'s ``commits``).

Usage: ``bench/throughput.py [-N 1000,16000] [-s 1,4] [--duration 0.001s]
[--config-path DIR] [--real] [--stages] [--guest]``.
Run inside an instance (``--inner``), it measures that instance only.

``--stages`` also prints where a job's time goes: the median and mean
ms of each step from ``alloc`` to ``free`` (job eventlog and exec
eventlog timestamps, all stamped by the brokers) over at most 200 jobs
from the middle of the run, and a job's whole hold on its cores (alloc
to free).  Its journal reader is a second one: rank 0 sends every event
twice, which costs the run a little.
``--real --stages -N 2000`` on 2026-12-04, median (mean) ms: that
afternoon (idle 2-core machine, spawn 1,546/s; 263 and 274 jobs/s) and
that evening (spawn 1,308/s; 326 and 307 jobs/s), after the shell-side
cuts (a reused shell process keeps an empty ``FLUX_JOB_TMPDIR`` and its
cpu binding; no ``spawned`` line)::

                                      afternoon                   evening
                                      1 broker      4 brokers     1 broker      4 brokers
    alloc -> exec.starting            0.09 (0.10)   0.08 (0.12)   0.08 (0.09)   0.07 (0.10)
    exec.starting -> exec.shell.init  4.35 (4.94)  20.93 (23.31)  3.12 (4.01)  20.63 (22.73)
    exec.shell.init -> start          0.04 (0.04)   0.04 (0.05)   0.02 (0.03)   0.03 (0.04)
    start -> exec.complete            1.29 (1.79)   0.16 (2.96)   0.73 (1.21)   0.07 (1.49)
    finish -> free                    0.06 (0.07)   0.05 (0.09)   0.05 (0.06)   0.05 (0.06)
    alloc -> free                     6.50 (6.96)  24.00 (26.56)  4.79 (5.41)  22.06 (24.43)

That afternoon a job held one of the 2 cores of one broker 6.5 ms (4.8
that evening), 4.4 of them between the launch and the shell's ``init``
reaching rank 0.  With
temporary timestamps in the broker and the shell server (not kept):
the server answers ``spawned`` 0.04 + 0.08 ms after the broker's write,
and rank 0 reads that line 1.25 ms (median) later: its main thread,
busy about half the time and waiting for a CPU (``schedstat``) another
0.6 ms a job, is where the steps queue.  On 4 brokers (8 cores, so 8
jobs at once) the shells' events cross the overlay to rank 0 4.5 ms
(median; p90 17 ms) after the follower's broker got them, and a
job's ``init``, ``start`` and ``exit`` reach rank 0 nearly together.

On 4 brokers, temporary timestamps (mean ms, 4,000 jobs) put the 20 ms
from ``starting`` to ``shell.init`` at: the J read on rank 0 4.6, rank
0 to the follower's exec service 1.8, to its shell server 2.9, the
server's answer read by the follower's broker 4.4, the shell's start
2.0, and its ``init`` from the follower's broker to rank 0's exec
service 8.0 (median 6, p90 19): waits for a CPU and for rank 0's main
thread, whose KVS commits there are 16 ms turns (about 50 jobs each:
a commit waits for the previous one to be durable, and the sqlite
thread waits for the GIL).

``--real`` runs real jobs instead: ``true`` in a job shell (forked from
each broker's shell server), one task per job; it first prints the rate
at which this machine merely spawns ``/bin/true`` (a sequential
``posix_spawn`` + ``waitpid`` loop in Python, measured in the same run),
and beside each instance's throughput that rate measured again for it
(the mean of one second just before and one just after the instance:
the machine's speed moves by a fifth within minutes) with the jobs/s as
a share of it, and after each instance's throughput the median wall time of
``flux run -n1 true`` and, on several brokers, ``flux run -N<size>
true`` (10 runs each, the ``flux`` command's own start included).
Measured with ``--real -N 500,1000`` (bytecode cached; the shared
machine's load moves every figure, the spawn rate with it)::

    spawn/s  brokers  jobs/s  (% of spawn)  run -n1 ms  run -N4 ms
       1301        1     258          20%          77           -
       1301        4     300          23%         102         111
        572        1     159          28%          77           -
        572        4     239          42%         165         154
        799        1     143          18%         111           -
        799        4     223          28%         121         108

Issue 19's closing measurements (2026-12-03, load average 4-8 from other
work on the 2 cores; base = before the CLI import and lone-shell barrier
cuts, interleaved runs of ``flux run`` against a 4-broker instance, ms)::

             -n1 min  p25  median    -N4 min  p25  median
    base          85  118     178        112  161     178
    after         55   77     111         65   97     113

    spawn/s  brokers  jobs/s  (% of spawn)
        560        1     144          26%      (base, next run: 128 of
        560        4     110          20%       938/s, 14%; 82, 9%)

Per job, on 1 broker: the broker spends about 2.8 ms of CPU (1.4 ms for
a test job), the shell server 1 ms, the forked shell and its task 3 ms.

The commit path's directory encoding made incremental (2026-12-03: a
large ``job.*`` directory re-serializes only its changed entries),
interleaved runs of ``--real`` against the same tree encoding every
directory whole (before), load average 4.7-7 from other work on the 2
cores (r0 and kids in ms of CPU per job)::

    brokers   jobs   before jobs/s  r0    after jobs/s  r0   rank0 RSS MiB
          1   1000      88 110 79   4.9-5.3   96 111 105  3.7-4.3
          1  16000             75   5.85             85   5.03  150 -> 143
          4   1000         169 102  2.6 3.5     142 100   2.6 3.6

(at load 2: 1 broker, 2,000 jobs, 163 -> 239 jobs/s, r0 3.1 -> 2.5 ms).
With 4 brokers the commits already carry many jobs each: no change.
The whole matrix, same day, load average 5.4 rising to 9.3 (spawn
701/s)::

    brokers   jobs   jobs/s  (% of spawn)  r0 ms/job  kids ms/job
          1   1000       66          9.4%       5.67         6.59
          1  16000       59          8.4%       6.05         5.17
          4   1000       75         10.7%       3.99         1.84
          4  16000       87         12.4%       4.05         1.46

(``flux run`` then: -n1 209-285 ms, -N4 276-288 ms under that load.)
The kids' CPU (the shell server forking a shell, the shell's
copy-on-write page faults and exit, the task) is now the larger part,
3-4 ms a job on a quiet machine; with the broker's 2.5-3 ms (spread
over the whole job path: deferreds, routing, eventlog appends,
scheduling, ~20 KVS operations) about 6.5 ms of CPU a job caps the 2
cores near 300 jobs/s, short of 25% of a quiet machine's ~1,400
spawns/s.

The whole matrix on 2026-12-03 once the collector settings
(``fluxd.util.heap``) and the lone-batch commit (no 10 ms wait for a
small batch) were in, nothing else running (load average rising to
7.4 from the bench itself; spawn 1414/s; ``.pyc`` compiled by ``./dev
setup``)::

    brokers   jobs  submit/s  jobs/s  (% of spawn)  RSS MiB  r0 ms  kids ms  run -n1  run -N4
          1   1000      3985     184         13.0%     59.6   3.65     4.74    47 ms        -
          1  16000      3379     163         11.5%    160.6   4.24     5.03    56 ms        -
          4   1000      3354     194         13.7%     68.2   2.53     1.26    50 ms    68 ms
          4  16000      2030     178         12.6%    174.4   3.13     1.36    60 ms    73 ms

Issue 19's per-job CPU, 2026-12-03 (shared machine, load average 4-9
from other work; the spawn rate moved between 243 and 997/s).  Where
it goes, ``--real -N 2000 -s 1``: rank 0's main thread (a thread-CPU
cProfile) spends ~40% in the KVS commit path (transaction, directory
encoding, content store), ~30% in the chain a shell event starts (exec
eventlog, job manager, scheduler), ~8% encoding JSON (51 encodings a
job); a job costs it 6 lines from the shell server (``spawned`` and
``exit`` dropped), a launch order, 2 ``shell-ack`` RPCs, 4 RPCs and 3
streams in all, 2 KVS lookups and 1.1-1.3 commits.  The kids
(``bench/shellserver.py``): the server 1.0-1.2 ms a job, a shell and its
task 3.7-5 ms (user 2.4-3), ~550 minor faults; ``perf`` puts the kernel's
copy-on-write faults, ``fork``'s page-table copy and the exits first:
the shell's Python is ~0.5 ms warm.  Interleaved runs before (base,
96e3ea4) and after the cuts of this round (prebuilt JSON encoders; one
write for a lone shell's init+start and for the last output+exit; no
``shell-ack`` for a shell already over; cheaper forked-shell set-up),
``-N 2000``::

    brokers  load   before jobs/s r0 kids commits   after jobs/s r0 kids commits
          1  5.7            81  6.12 6.38 1.33              50  5.50 5.89 1.21
          1  8.5            69  6.86 6.85 1.33              70  5.67 6.17 1.24
          1  4.2           102  5.91 6.24 1.10             101  5.83 6.75 1.06
          1  4.5            58  6.51 6.62 1.19              66  5.77 6.35 1.18
          4  8.2           116  3.42 1.53 0.19              96  3.30 1.59 0.21
          4  7.0            89  3.56 1.58 0.17              91  3.46 1.70 0.20

(rank 0's RSS unchanged: 67 MiB on 1 broker, 77 on 4), and with
``-N 16000`` (one run each, after then before)::

    brokers  load      spawn/s  jobs/s (% of spawn)  r0 ms  kids ms  RSS MiB
          1  3.4-11  after 856      53   6.2%        5.79     5.87    159.4
                    before 501      55  11.0%        6.51     6.28    159.1
          4  7.8-11  after 694     108  15.6%        3.33     1.42    171.5
                    before 706     121  17.1%        3.71     1.50    170.4

Rank 0's CPU a job fell 1-17% (16,000 jobs: 11%) on 1 broker, 3-10% on
4; the kids' moved within the noise (-7% on 16,000 jobs):
what is left of them is the kernel's work for a fork, an exec and two
exits a job, and the broker's is the per-job commit path.

Rank 0's commits, 2026-12-03 (r021): a commit of the job services'
batcher costs rank 0 about 2.6 ms of CPU (from runs with the batch
interval at 10, 20 and 30 ms: r0 falls by that much for each commit a
job fewer), the rest of a real job about 3.2 ms.  Of a commit: the
sqlite writer thread ~1.9 ms (zlib ~0.5 ms for the 45 kB directory of a
500-job submit batch, re-encoded at every commit that touches one of its
jobs; sqlite and the WAL's fsync ~1 ms), the main thread the rest
(transactions, directory encoding, hashes, caches, the setroot event).
With the batcher's busy interval at 20 ms instead of 10
(:data:`fluxd.job.setup.BATCH_INTERVAL`), interleaved ``--real -N 2000``
runs against main (r0: ms of CPU a job; the batcher's commits a job;
load: the load average before and after the run)::

    brokers  load     main jobs/s  r0  commits     after jobs/s  r0  commits
          1  5.0-8.4          44  7.30  1.19               91  4.89  0.49
          1  7.6-7.6          73  6.18  0.97              114  4.53  0.39
          1  2.8-4.7          69  6.17  0.94               69  6.33  0.63
          1  4.7-6.4          69  6.12  0.99               81  5.10  0.54
          1  6.3-5.1          86  5.53  0.88              129  3.79  0.36
          1  1.7-2.7          87  6.74  0.90              101  5.26  0.45
          1  2.7-3.3          92  6.33  0.89              108  4.86  0.42
          1  3.3-3.8          98  5.83  0.85              103  5.12  0.44
          4  5.1-7.2         142  3.42  0.13               99  3.52  0.14
          4  7.2-7.4         106  4.51  0.13              115  4.08  0.13

On one broker r0 fell 21% on average (6.28 -> 4.98 ms; 30 ms apart:
25%, two runs) and jobs/s rose (69-129 against 44-98); on four brokers
commits already carry several jobs each (0.13 a job: each waits for the
previous one to be durable, longer than 20 ms there): no change.  zlib stays (level 1):
storing the large directories raw would save ~0.4 ms of the writer's CPU
a commit but triple their bytes in ``content.sqlite``; Huffman-only or
RLE deflate halve the time for 1.7 times the bytes; a window fitted to
small blobs gained nothing.

``--guest`` (root; munge, sudo and runuser installed) measures the
system instance of the multi-user tests instead
(``tests/integration/system_helpers.py``: users flux, alice and bob, a
private munged, ``flux install-system`` into a temporary root, S
brokers run as ``flux``): for each job count, ``flux submit --cc=1-N
true`` (real jobs, one task each) by the owner signing with ``none``, by
the owner signing with ``munge``, and by the guest alice (``munge``,
every shell through the IMP: sudo, the IMP's checks, a PAM session, the
switch to alice), each in jobs/s from the first submit to the last
``clean``.  Everything it creates is removed at the end.  Measured with
``--guest -N 200 -s 1,3``::

    brokers   jobs  owner none/s  owner munge/s  guest munge+IMP/s
          1    200            73             71                  5
          3    200            75             77                  5

(load average 7 on the shared 2-core machine).  munge signing costs the
owner nothing measurable end to end; a guest's job costs about 200 ms of
CPU more: sudo, the IMP's interpreter, its checks and PAM session, and
a job shell started from scratch (an owner's shell is forked from the
shell server, its imports done).

The whole matrix at the end of the session's work on 2026-12-03
(kids21: rehearsed shell server; r021: batches 20 ms apart under load;
nothing else running, load average rising to 4.9 from the bench; spawn
1,593/s)::

    brokers   jobs  submit/s  jobs/s  (% of spawn)  RSS MiB  r0 ms  kids ms  commits  run -n1  run -N4
          1   1000      3134     181         11.4%     57.2   3.60     4.57     0.25    57 ms        -
          1  16000      2642     148          9.3%    126.9   4.55     5.18     0.29    65 ms        -
          4   1000      1477     166         10.4%     67.5   3.43     1.42     0.10    67 ms   112 ms
          4  16000      1372     166         10.4%    143.8   3.69     1.32     0.06    57 ms    71 ms

Interleaved right after against the tree before those merges (99d24b9),
``-N 2000 -s 1`` (jobs/s, r0 ms, kids ms, commits a job)::

    before  148 4.62 5.52 0.55    186 3.53 4.58 0.46
    after   155 4.18 5.11 0.28    185 3.47 4.49 0.24

Commits a job halve; the CPU a job moves within the noise; end to end
the two trees are level.  With 16 cores configured on the one broker
(16 job slots instead of 2): 154-157 jobs/s against 132-151 with 2, the
kids' CPU up to 6.9 ms a job: the rate is bound by CPU, not by slots.

Issue 19's shell processes that run the next job's shell
(:mod:`flux_shell.worker`), the J read ahead of a job's start
(:mod:`fluxd.exec._readahead`) and the shell server's one write a
read, 2026-12-04 (nothing else running; ``kids`` now counts the shell
processes still alive too).  The whole matrix (spawn 1,663/s)::

    brokers   jobs  submit/s  jobs/s  (% of spawn)  RSS MiB  r0 ms  kids ms  commits  run -n1  run -N4
          1   1000      7128     464         27.9%     58.2   1.64     1.38     0.10    38 ms        -
          1  16000      3508     382         23.0%    132.3   2.13     1.51     0.10    50 ms        -
          4   1000      3172     357         21.5%     69.0   1.78     0.44     0.06    45 ms    53 ms
          4  16000      1800     335         20.1%    162.7   2.10     0.47     0.02    47 ms    59 ms

(the next 16,000-job run on 1 broker: 318 jobs/s at 1,433 spawns/s,
22%).  Interleaved ``-N 3000`` against the tree of the day before
(69ff851), jobs/s, r0 and kids ms a job::

    brokers   before                       after
          1   242 2.54 3.58  268 2.24 3.31  265 2.25 3.33   433 1.81 1.44  427 1.84 1.46  379 2.10 1.60
          4   228 2.48 1.04  243 2.28 0.99                  335 2.00 0.48  359 1.89 0.45

Runs of one tree spread by 10-20% (1 broker, ``-N 3000``: 383-464).
The machine is not saturated: ``/proc/stat`` over a run shows 22-28% of
the two cores idle (3.2 ms of CPU a job machine-wide on 1 broker, 3.9 on
4): with two cores, one broker runs two jobs at a time, and each waits
for the chain between them (shell exit, release, free, the next alloc,
start, J, launch: 2-3 ms, most of it rank 0's main thread, whose other
work queues ahead).  With 16 cores configured on the one broker (16
slots, ``[resource] noverify``) the same tree ran 414 jobs/s at 1.70 ms
(r0) and 1.78 ms (kids).

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

``--real`` on 2026-12-04, 19:29-19:35, three matrices in a row, each
cell beside its own spawn reference (J kept in memory from submission
to start, no reference cycle left per job, one INSERT per KVS write),
jobs/s (% of spawn)::

    brokers   jobs   first          second         third
          1   1000   506 (30.8%)    401 (26.4%)    491 (29.3%)
          1  16000   408 (24.6%)    486 (31.7%)    450 (27.9%)
          4   1000   494 (30.2%)    428 (27.4%)    445 (29.9%)
          4  16000   420 (25.9%)    419 (24.7%)    444 (29.6%)

Later that evening (a directory's superseded versions evicted first,
equal J texts kept once, the shell worker's environment compared in C,
shell acknowledgements without an answer), nine matrices 20:39-21:16,
% of each cell's spawn rate (1,383-1,740 spawns/s)::

    brokers   jobs   lowest   highest   the last three (21:13-21:16)
          1   1000    30.1%     35.5%   35.5%  35.0%  35.5%
          1  16000    25.6%     32.0%   30.9%  32.0%  31.7%
          4   1000    25.7%     31.8%   28.1%  31.8%  29.7%
          4  16000    23.1%     31.7%   29.1%  31.7%  31.5%

Eight of the nine had every cell at 25% or more; the other (20:42, a
slow phase of the machine: spawn 1,383-1,449/s, rank 0 2.04 ms a job)
had 4 brokers at 25.7% (1,000 jobs) and 23.1% (16,000).  ``flux run
-n1 true`` 36-62 ms, ``-N4`` 47-74 ms.  On 1 broker at 16,000 jobs
each job's own directory is still read back once from
``content.sqlite`` (16,000 queued job directories need about 40 MB of
directory cache; it has 8 MiB).  On 1 broker rank 0's main thread is
busy only 57% of the time once the jobs are submitted (1 s samples):
the two cores' job slots wait on the chain from the launch to the
shell's ``init`` (median 1.85 ms of a 2.9 ms hold), processes waiting
for a CPU, not for long reactor turns (of rank 0's, 3% take more than
1 ms of CPU, 0.2% more than 2 ms).

To compare two trees despite the machine's drift, run both at the same
time (two instances sharing the cores): the ratio of their jobs/s is
steady to about 1% (the same tree against itself: 1.003 twice).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from fluxd.client.sync import Flux  # noqa: E402
from fluxd.formats.jobspec import from_command  # noqa: E402
from fluxd.security.sign import wrap_none  # noqa: E402
from fluxd.testing.schedbench import submit_and_wait  # noqa: E402


def rss_mib(pid):
    """``(VmRSS, VmHWM)`` of a process in MiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def cpu_seconds(pid):
    """``(own, children)`` CPU seconds of ``pid`` and its descendants:
    ``own`` is the broker's user+system time, ``children`` that of its
    live descendants (the shell server, the shell processes it keeps for
    the next jobs) plus what they have reaped (the job shells and their
    tasks)."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p):
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return [int(x) / tick for x in fields[11:15]]

    def live(p):
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                return f.read().split()
        except FileNotFoundError:
            return []
    own = sum(stat(pid)[:2])
    children = 0.0
    todo = live(pid)
    while todo:
        kid = todo.pop()
        try:
            children += sum(stat(kid))
        except FileNotFoundError:
            continue
        todo += live(kid)
    return own, children


def broker_pid(uri=None):
    """Rank 0's pid (``broker.pid``)."""
    return broker_pids(uri)[0]


def broker_pids(uri=None, size=1):
    """The pids of ranks 0 to ``size`` - 1 (``broker.pid``)."""
    with Flux(uri) as h:
        return [int(h.rpc("attr.get", {"name": "broker.pid"},
                          nodeid=rank)["value"]) for rank in range(size)]


def cpu_times():
    """``(busy, idle)`` jiffies of the whole machine (``/proc/stat``)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]        # idle, iowait
    return sum(fields) - idle, idle


def job_commits(uri=None):
    """The KVS commits of the job services' batcher on rank 0 so far."""
    with Flux(uri) as h:
        return h.rpc("job-manager.stats-get", {})["commits"]


def spawn_rate(seconds=1.0):
    """``/bin/true`` spawned and reaped per second, one at a time."""
    n, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        pid = os.posix_spawn("/bin/true", ["true"], os.environ)
        os.waitpid(pid, 0)
        n += 1
    return n / (time.monotonic() - start)


def run_latency(size, runs=10):
    """Median wall seconds of ``flux run -n1 true`` (and ``-N<size>``)."""
    flux = os.path.join(os.path.dirname(sys.executable), "flux")
    out = {}
    shapes = [("n1", ["-n1"])] + ([(f"N{size}", [f"-N{size}"])]
                                  if size > 1 else [])
    for name, opts in shapes:
        times = []
        for _ in range(runs):
            t0 = time.monotonic()
            proc = subprocess.run([flux, "run", *opts, "true"],
                                  capture_output=True)
            times.append(time.monotonic() - t0)
            if proc.returncode != 0:
                raise RuntimeError(f"flux run {opts} true failed:"
                                   f" {proc.stderr.decode()}")
        out[name] = sorted(times)[len(times) // 2]
    return out


#: the job's path, in order: job eventlog names, ``exec.`` for its exec
#: eventlog's (all stamped by the brokers)
STAGES = ("alloc", "exec.starting", "exec.shell.init", "start",
          "exec.complete", "finish", "free")


class Journal:
    """Every job's ``alloc start finish free`` times, from the job
    manager's journal (``--stages``)."""

    def __init__(self, uri=None):
        self.times = {}
        self.ready = threading.Event()
        threading.Thread(target=self._follow, args=(uri,),
                         daemon=True).start()
        self.ready.wait()

    def _follow(self, uri):
        with Flux(uri) as h:
            stream = h.stream("job-manager.events-journal", {})
            self.ready.set()
            for batch_ in stream:
                for event in batch_["events"]:
                    name = event["entry"]["name"]
                    if name in STAGES:
                        self.times.setdefault(event["id"], {})[name] = \
                            event["entry"]["timestamp"]


def stages(journal, uri=None, sample=200):
    """Median and mean ms of each step of :data:`STAGES` over at most
    ``sample`` jobs from the middle of the run (the first and last tenth
    left out), with their exec eventlogs; the last line is a job's
    whole hold on its resources (alloc to free)."""
    from fluxd.formats.eventlog import decode
    deadline = time.monotonic() + 10
    # (list(): a snapshot, the journal's thread may still be adding)
    while time.monotonic() < deadline and not all(
            "free" in t for t in list(journal.times.values())):
        time.sleep(0.05)
    jobs = sorted((t["alloc"], jobid)
                  for jobid, t in list(journal.times.items())
                  if all(n in t for n in ("alloc", "start", "finish", "free")))
    middle = jobs[len(jobs) // 10:len(jobs) - len(jobs) // 10]
    picked = middle[::max(1, -(-len(middle) // sample))]  # at most sample
    steps = {}
    with Flux(uri) as h:
        for _, jobid in picked:
            t = dict(journal.times[jobid])
            log = h.rpc("job-info.lookup", {
                "id": jobid, "keys": ["guest.exec.eventlog"], "flags": 0})
            for entry in decode(log["guest.exec.eventlog"].encode()):
                t["exec." + entry["name"]] = entry["timestamp"]
            for a, b in zip(STAGES, STAGES[1:]):
                if a in t and b in t:
                    steps.setdefault((a, b), []).append(1000 * (t[b] - t[a]))
            steps.setdefault(("alloc", "free"), []).append(
                1000 * (t["free"] - t["alloc"]))
    return [[a, b, statistics.median(v), statistics.mean(v), len(v)]
            for (a, b), v in steps.items()]


def inner(count, batch, duration, uri=None, real=False, size=1,
          with_stages=False):
    """Measure in the instance at ``uri`` (default FLUX_URI)."""
    jobspec = from_command(["true"])
    if not real:
        jobspec["attributes"]["system"].setdefault("exec", {})["test"] = {
            "run_duration": duration}
    jobspec["attributes"]["system"]["environment"] = {}
    signed = wrap_none(json.dumps(jobspec).encode(), os.getuid())
    entry = {"J": signed, "urgency": 16, "flags": 0}
    pids = broker_pids(uri, size)
    cpu0 = cpu_seconds(pids[0])
    all0 = sum(sum(cpu_seconds(p)) for p in pids)
    commits0 = job_commits(uri)
    journal = Journal(uri) if with_stages else None
    busy0, idle0 = cpu_times()
    start, submitted, end, pid = submit_and_wait([entry] * count, batch, uri)
    busy1, idle1 = cpu_times()
    cpu1 = cpu_seconds(pid)
    all1 = sum(sum(cpu_seconds(p)) for p in pids)
    commits = (job_commits(uri) - commits0) / count
    rss, hwm = rss_mib(pid)
    result = {"jobs": count, "submit_rate": count / (submitted - start),
              "rate": count / (end - start), "rss": rss, "hwm": hwm,
              "cpu": [(b - a) * 1000 / count for a, b in zip(cpu0, cpu1)],
              "all": (all1 - all0) * 1000 / count,
              "idle": 100 * (idle1 - idle0) / max(
                  1, busy1 - busy0 + idle1 - idle0),
              "commits": commits}
    if journal is not None:
        result["stages"] = stages(journal, uri)
    if real:
        result["latency"] = run_latency(size)
    return result


def outer(args):
    flux = os.path.join(os.path.dirname(sys.executable), "flux")
    if args.real:
        print(f"spawn /bin/true (posix_spawn+waitpid loop):"
              f" {spawn_rate():.0f}/s", flush=True)
    print(f"{'brokers':>7} {'jobs':>6} {'submit/s':>9} {'jobs/s':>8}"
          + (f" {'spawn/s':>8} {'% spawn':>7}" if args.real else "")
          + f" {'rank0 RSS MiB':>14} {'HWM MiB':>8}"
          f" {'r0 ms/job':>9} {'kids ms/job':>11} {'all ms/job':>10}"
          f" {'idle %':>6} {'commits/job':>11}"
          + ("  run -n1 ms  run -N ms" if args.real else ""))
    for size in args.sizes:
        for count in args.counts:
            # the machine's speed moves within minutes: each cell's own
            # reference, the mean of a spawn loop just before and just after
            before = spawn_rate() if args.real else None
            with tempfile.TemporaryDirectory(prefix="fluxd-throughput-") as tmp:
                proc = run_one(flux, size, count, args, tmp)
            spawn = (before + spawn_rate()) / 2 if args.real else None
            if proc.returncode != 0:
                print(f"size {size} N {count} failed:\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            extra = ""
            if args.real:
                lat = r["latency"]
                many = lat.get(f"N{size}")
                extra = (f" {lat['n1'] * 1000:>11.0f}"
                         f" {'-' if many is None else f'{many * 1000:.0f}':>9}")
            ref = (f" {spawn:>8.0f} {100 * r['rate'] / spawn:>6.1f}%"
                   if args.real else "")
            print(f"{size:>7} {count:>6} {r['submit_rate']:>9.0f}"
                  f" {r['rate']:>8.0f}{ref} {r['rss']:>14.1f} {r['hwm']:>8.1f}"
                  f" {r['cpu'][0]:>9.2f} {r['cpu'][1]:>11.2f}"
                  f" {r['all']:>10.2f} {r['idle']:>6.0f}"
                  f" {r['commits']:>11.2f}"
                  + extra, flush=True)
            for a, b, median, mean, n in r.get("stages", ()):
                print(f"{'':>14}{a:>15} -> {b:<16} median {median:6.2f}"
                      f"  mean {mean:6.2f} ms  ({n} jobs)", flush=True)


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
         "--batch", str(args.batch), "--duration", args.duration,
         "--size", str(size), *(["--real"] if args.real else []),
         *(["--stages"] if args.stages else [])],
        capture_output=True, text=True)


def guest_rate(s, user, count, security):
    """Jobs/s of ``flux submit --cc=1-COUNT true`` run as ``user`` on the
    system instance ``s``, from the submit to the last ``clean``."""
    done = threading.Event()
    state = {"cleaned": 0, "last": None, "start": None}
    ready = threading.Event()

    def follow():
        with Flux(s.uri) as h:
            stream = h.stream("job-manager.events-journal", {})
            ready.set()
            for batch_ in stream:
                for event in batch_["events"]:
                    entry = event["entry"]
                    if entry["name"] == "clean" and state["start"] and \
                            entry["timestamp"] >= state["start"]:
                        state["cleaned"] += 1
                        state["last"] = entry["timestamp"]
                if state["cleaned"] >= count:
                    done.set()
                    return
    threading.Thread(target=follow, daemon=True).start()
    ready.wait()
    time.sleep(0.2)     # let the journal stream register
    state["start"] = time.time()
    rc, out, err = s.as_user(user, "submit", f"--cc=1-{count}", "--quiet",
                             "true", security=security, timeout=3600)
    if rc != 0:
        raise RuntimeError(f"flux submit as {user.pw_name}: {err}")
    if not done.wait(3600):
        raise RuntimeError("jobs did not finish")
    return count / (state["last"] - state["start"])


def guest(args):
    """``--guest``: owner and guest jobs/s on the tests' system
    instance."""
    from tests.integration.multiuser import MultiUser
    from tests.integration.system_helpers import (
        runtime_problem, system_instance)
    problem = runtime_problem()
    if os.geteuid() != 0 or problem is not None:
        sys.exit(f"throughput --guest: needs root and a system python3"
                 f" like this one ({problem or 'not root'})")
    print(f"{'brokers':>7} {'jobs':>6} {'owner none/s':>13}"
          f" {'owner munge/s':>14} {'guest munge+IMP/s':>18}", flush=True)
    for size in args.sizes:
        mu = MultiUser()
        try:
            s = system_instance(mu, size)
            none = mu.security("none", socket=None, default="none",
                               allowed=("none",))
            for count in args.counts:
                rates = [guest_rate(s, s.owner, count, none),
                         guest_rate(s, s.owner, count, s.security),
                         guest_rate(s, s.alice, count, s.security)]
                print(f"{size:>7} {count:>6} {rates[0]:>13.0f}"
                      f" {rates[1]:>14.0f} {rates[2]:>18.0f}", flush=True)
        finally:
            mu.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-N", "--counts", default="1000,16000")
    parser.add_argument("-s", "--sizes", default="1,4")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--duration", default="0.001s")
    parser.add_argument("--memory", action="store_true",
                        help="keep the KVS in memory (no content.sqlite)")
    parser.add_argument("--inner", action="store_true")
    parser.add_argument("--real", action="store_true",
                        help="run true in job shells, not test jobs")
    parser.add_argument("--stages", action="store_true",
                        help="also print where a job's time goes (median"
                        " and mean ms of each step)")
    parser.add_argument("--size", type=int, default=1,
                        help=argparse.SUPPRESS)
    parser.add_argument("--guest", action="store_true",
                        help="owner and guest jobs/s on a multi-user"
                        " system instance (root)")
    parser.add_argument("--config-path",
                        help="config directory for the instance (e.g. the"
                        " guide's queues and policy limits)")
    args = parser.parse_args()
    args.counts = [int(n) for n in args.counts.split(",")]
    args.sizes = [int(n) for n in args.sizes.split(",")]
    if args.guest:
        guest(args)
    elif args.inner:
        print(json.dumps(inner(args.counts[0], args.batch, args.duration,
                               real=args.real, size=args.size,
                               with_stages=args.stages)))
    else:
        outer(args)


if __name__ == "__main__":
    main()
