# -*- test-case-name: tests.integration.test_perilog -*-
"""``flux perilog-run prolog|epilog``: the job manager's prolog or epilog
command that runs a command on every rank of a job (flux-core's
``flux-perilog-run``, as the admin guide configures it).

The job is ``FLUX_JOB_ID``.  ``-e CMD[,ARGS...]`` runs ``CMD ARGS`` on
each rank of the job's R through the ranks' ``rexec`` services (offline
ranks are skipped and make the exit code 1; ``-D`` drains them
``offline for JOBID NAME``); each line it writes on a rank is printed
``HOST (rank R): LINE`` on standard error.  A rank whose command exits
1..128 is drained ``NAME failed for jobid JOBID``, one still running at
the ``-t`` timeout is sent SIGTERM (SIGKILL 5 s later) and drained
``NAME timed out for jobid JOBID``.  Besides, every executable of
``-d DIRECTORY`` (default ``$FLUXD_SYSCONFDIR/flux/system/NAME.d``,
``FLUXD_SYSCONFDIR`` defaulting to ``/etc``) runs here, at the same time.
The exit code is the greatest of all (128+15 for a timeout).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from fluxd.client.sync import Flux
from fluxd.errors import FluxError, InvalidArgument
from fluxd.formats import fluid
from fluxd.formats.fsd import FSDError, parse_fsd
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import Rv1

#: seconds from SIGTERM to SIGKILL at the timeout (flux's)
KILL_DELAY = 5.0


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InvalidArgument(message)


def _parser():
    parser = _Parser(prog="flux-perilog-run")
    sub = parser.add_subparsers(dest="subcommand", required=True)
    for name in ("prolog", "epilog"):
        p = sub.add_parser(name)
        p.add_argument("-v", "--verbose", action="store_true",
                       help="Log script events")
        p.add_argument("-t", "--timeout", metavar="FSD",
                       help="Set a command timeout")
        p.add_argument("-e", "--exec-per-rank", metavar="CMD[,ARGS...]",
                       help="Run CMD and optional ARGS on each target rank"
                       " of the job in FLUX_JOB_ID")
        p.add_argument("-D", "--drain-offline", action="store_true",
                       help="With --exec-per-rank, drain offline ranks")
        p.add_argument("-d", "--exec-directory", metavar="DIRECTORY",
                       help="Run all executables in DIRECTORY (default="
                       f"/etc/flux/system/{name}.d)")
    return parser


def _say(text):
    sys.stderr.write(text + "\n")


def _drain(h, ids, reason):
    h.rpc("resource.drain", {"targets": str(ids), "reason": reason,
                             "mode": "update"}, nodeid=0)


def _job_ranks(h, jobid):
    reply = h.rpc("job-info.lookup", {"id": jobid, "keys": ["R"],
                                      "flags": 0})
    R = reply.get("R")
    return Rv1.decode(R if isinstance(R, str) else json.dumps(R)).ranks()


def _run_per_rank(h, name, jobid, f58, args, deadline):
    cmd = args.exec_per_rank.split(",")
    code = 0
    ranks = _job_ranks(h, jobid)
    offline = IDset(h.rpc("resource.status", nodeid=0).get("offline") or "")
    offline &= ranks
    if offline:
        code = 1
        _say(f"{f58}: {name}: ranks {offline} offline. Skipping.")
        ranks = ranks - offline
        if args.drain_offline:
            _drain(h, offline, f"offline for {f58} {name}")
    hosts = Hostlist(h.rpc("attr.get", {"name": "hostlist"})["value"])
    if args.verbose:
        _say(f"{f58}: {name}: executing {cmd} on ranks {ranks}")
    env = {"FLUX_JOB_ID": os.environ["FLUX_JOB_ID"]}
    if "FLUX_JOB_USERID" in os.environ:
        env["FLUX_JOB_USERID"] = os.environ["FLUX_JOB_USERID"]
    tokens = {h.start_stream("rexec.exec", {"cmd": cmd, "env": env},
                             nodeid=rank): rank for rank in ranks}
    pids, status, timed_out, partial = {}, {}, set(), {}
    kill_at = None
    while len(status) < len(tokens):
        now = time.monotonic()
        wait = [t for t in (deadline, kill_at) if t is not None]
        if wait and min(wait) <= now:
            signum = signal.SIGTERM if kill_at is None else signal.SIGKILL
            for rank in tokens.values():
                if rank not in status and rank in pids:
                    timed_out.add(rank)
                    try:
                        h.rpc("rexec.kill", {"pid": pids[rank],
                                             "signum": signum}, nodeid=rank)
                    except FluxError:
                        pass    # it ended meanwhile
            deadline = None
            kill_at = now + KILL_DELAY if signum == signal.SIGTERM else None
            continue
        got = h.next_response(list(tokens), min(wait) - now if wait
                              else None)
        if got is None:
            continue
        token, resp, error = got
        rank = tokens[token]
        if resp is None:
            if rank not in status:
                if error is not None:
                    _say(f"{hosts[rank]} (rank {rank}): {error}")
                status[rank] = 1
            continue
        if resp.get("type") == "started":
            pids[rank] = resp["pid"]
        elif resp.get("type") == "output":
            text = partial.pop(rank, "") + resp.get("data", "")
            *lines, rest = text.split("\n")
            if rest:
                partial[rank] = rest
            for line in lines:
                _say(f"{hosts[rank]} (rank {rank}): {line}")
        elif resp.get("type") == "finished":
            if partial.get(rank):
                _say(f"{hosts[rank]} (rank {rank}): {partial.pop(rank)}")
            wstatus = resp.get("status", 0)
            status[rank] = (128 + (wstatus & 0x7f) if wstatus & 0x7f
                            else wstatus >> 8)
    failed = IDset()
    for rank, rc in status.items():
        if rank in timed_out:
            rc = 128 + signal.SIGTERM
        elif 0 < rc <= 128:
            failed.add(rank)
        code = max(code, rc)
    timed = IDset(sorted(timed_out))
    if failed:
        _say(f"{f58}: rank {failed} failed {name}, draining")
        _drain(h, failed, f"{name} failed for jobid {f58}")
    if timed:
        _say(f"{f58}: rank {timed} {name} timeout, draining")
        _drain(h, timed, f"{name} timed out for jobid {f58}")
    return code


def _start_scripts(name, args):
    directory = args.exec_directory or os.path.join(
        os.environ.get("FLUXD_SYSCONFDIR", "/etc"), "flux", "system",
        f"{name}.d")
    if not os.path.isdir(directory):
        return []
    scripts = sorted(os.path.join(directory, f) for f in os.listdir(directory))
    scripts = [s for s in scripts if os.path.isfile(s)
               and os.access(s, os.X_OK)]
    if args.verbose:
        _say(f"{name}: running {len(scripts)} scripts from {directory}")
    return [(os.path.basename(s), subprocess.Popen(
        [s], stdin=subprocess.DEVNULL, start_new_session=True))
        for s in scripts]


def _wait_scripts(f58, procs, deadline, verbose):
    code = 0
    for label, proc in procs:
        left = None if deadline is None \
            else max(0.0, deadline - time.monotonic())
        try:
            rc = proc.wait(left)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(KILL_DELAY)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            _say(f"{f58}: {label} timeout")
            rc = 128 + signal.SIGTERM
        else:
            if rc < 0:
                rc = 128 - rc
            if rc:
                _say(f"{f58}: {label} failed with rc={rc}")
            elif verbose:
                _say(f"{f58}: {label} completed successfully")
        code = max(code, rc)
    return code


def main(argv):
    """``flux perilog-run``."""
    args = _parser().parse_args(argv)
    name = args.subcommand
    if "FLUX_JOB_ID" not in os.environ:
        _say("FLUX_JOB_ID not found in environment")
        return 1
    jobid = fluid.decode(os.environ["FLUX_JOB_ID"])
    f58 = fluid.encode(jobid, "f58")
    deadline = None
    if args.timeout is not None:
        try:
            deadline = time.monotonic() + parse_fsd(args.timeout)
        except (FSDError, ValueError) as exc:
            raise InvalidArgument(f"--timeout: {exc}") from None
    procs = _start_scripts(name, args)
    code = 0
    if args.exec_per_rank:
        with Flux() as h:
            code = _run_per_rank(h, name, jobid, f58, args, deadline)
    return max(code, _wait_scripts(f58, procs, deadline, args.verbose))
