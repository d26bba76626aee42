"""Open-file limits: idle connections cannot take the overlay down.

Rank 0 runs with a hard open-file limit of 1,024 (set before the brokers
start); the test process, whose limit is higher, opens 2,000 TCP
connections to rank 0's overlay port and keeps them open without a TLS
handshake.  Meanwhile ``flux getattr``, ``flux overlay status`` and a
child killed with SIGKILL and restarted with its argv all work, and rank
0's log says what it closed (a burst of lines, not thousands).
"""

import os
import resource
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from fluxd.testing.cli import flux_executable

IDLE = 2000
HARD_LIMIT = 1024

SCRIPT = textwrap.dedent(r"""
    import json, os, signal, subprocess, sys, tomllib
    d = os.environ["FLUXD_START_DIR"]
    flux = os.path.join(os.path.dirname(sys.executable), "flux")
    conf = tomllib.load(open(os.path.join(d, "bootstrap.toml"), "rb"))
    print("ADDRESS", conf["bootstrap"]["hosts"][0]["connect"][len("tcp://"):],
          flush=True)
    sys.stdin.readline()          # the test has its connections open

    def run(*args, timeout=30):
        try:
            p = subprocess.run([flux, *args], capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return "timed-out", ""
        return p.returncode, (p.stdout + p.stderr).strip()

    print("GETATTR", *run("getattr", "size"))
    print("STATUS", *run("overlay", "status", "--summary"))
    b = {x["rank"]: x for x in json.load(open(os.path.join(d, "brokers.json")))}
    os.kill(b[1]["pid"], signal.SIGKILL)
    print("LOST", *run("overlay", "status", "--summary", "-w", "degraded"))
    env = dict(os.environ)
    env.pop("FLUX_URI", None)
    child = subprocess.Popen(b[1]["argv"], env=env, stdin=subprocess.DEVNULL)
    try:
        print("REJOINED", *run("overlay", "status", "--summary", "-w", "full"))
        print("GETATTR2", *run("getattr", "rank"))
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait()
    limits = open(f"/proc/{b[0]['pid']}/limits").read()
    print("LIMIT", [l.split()[3:5] for l in limits.splitlines()
                    if l.startswith("Max open files")][0])
    log = open(os.path.join(d, "rank-0", "broker.log")).read()
    print("GATE-LINES", sum("waiting for their hello" in l
                            or "waited" in l and "for its hello" in l
                            for l in log.splitlines()))
    print("EMFILE", log.count("EMFILE") + log.count("Too many open files"))
    print("TRACEBACKS", log.count("Traceback"))
""")


def _hard_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (HARD_LIMIT, HARD_LIMIT))


def _listen_queue(port):
    """(accept queue length, half-open connections) of a loopback port.

    From ``/proc/net/tcp``: a LISTEN socket's rx_queue is its accept
    queue; SYN_RECV entries are connections the kernel has not finished.
    """
    queued = half_open = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            if local_port != port:
                continue
            if fields[3] == "0A":
                queued += int(fields[4].split(":")[1], 16)
            elif fields[3] == "03":
                half_open += 1
    return queued, half_open


def _open_idle(address, count, batch=40, timeout=120):
    """``count`` TCP connections to ``address`` that say nothing.

    They are opened in batches, each once the broker has taken the
    previous one off its listening socket, so that every connection has
    reached the broker (accepted, kept or closed) before the checks run.
    """
    host, port = address.rsplit(":", 1)
    port = int(port)
    socks = []
    deadline = time.monotonic() + timeout
    while len(socks) < count:
        for _ in range(min(batch, count - len(socks))):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, port))
            socks.append(s)
        delay = 0.001
        while _listen_queue(port) != (0, 0):
            assert time.monotonic() < deadline, "the broker stopped accepting"
            time.sleep(delay)   # polling the kernel's queue: no event to await
            delay = min(delay * 2, 0.05)
    return socks


def test_idle_connections_do_not_hold_the_overlay(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE + 200:
        pytest.fail(f"this test needs {IDLE + 200} open files (hard limit"
                    f" {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, IDLE + 200), hard))
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [flux_executable(), "start", "--test-size=4", sys.executable,
         str(script)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=_hard_limit, start_new_session=True)
    socks = []
    try:
        line = proc.stdout.readline()
        assert line.startswith("ADDRESS "), line + proc.stderr.read()
        socks = _open_idle(line.split()[1], IDLE)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            # SIGINT to flux start and the script: flux start then stops
            # its brokers, the script its restarted child
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert proc.returncode == 0, out + err
    assert "GETATTR 0 4\n" in out, out + err
    assert "STATUS 0 full\n" in out, out + err
    assert "LOST 0 degraded\n" in out, out + err
    assert "REJOINED 0 full\n" in out, out + err
    assert "GETATTR2 0 0\n" in out, out + err
    assert f"LIMIT ['{HARD_LIMIT}', '{HARD_LIMIT}']\n" in out, out
    gate_lines = int(out.split("GATE-LINES ")[1].split()[0])
    assert 1 <= gate_lines <= 40, out
    assert "EMFILE 0\n" in out, out
    assert "TRACEBACKS 0\n" in out, out


LIMIT_SCRIPT = textwrap.dedent(r"""
    import json, os
    d = os.environ["FLUXD_START_DIR"]
    for b in json.load(open(os.path.join(d, "brokers.json"))):
        for line in open(f"/proc/{b['pid']}/limits"):
            if line.startswith("Max open files"):
                print("RANK", b["rank"], *line.split()[3:5])
""")


def test_broker_raises_its_soft_open_file_limit(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(LIMIT_SCRIPT)

    def low_soft_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, HARD_LIMIT))
    proc = subprocess.run([flux_executable(), "start", "--test-size=2",
                           sys.executable, str(script)],
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=low_soft_limit)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == (f"RANK 0 {HARD_LIMIT} {HARD_LIMIT}\n"
                           f"RANK 1 {HARD_LIMIT} {HARD_LIMIT}\n"), proc.stdout
