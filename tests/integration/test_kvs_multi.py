"""The KVS across a real 3-broker instance (``flux start --test-size=3``).

The brokers form a chain (``tbon.topo=kary:1``: 0 <- 1 <- 2) so requests
from rank 2 pass through rank 1.  The script run by ``flux start`` prints
what each step shows; watchers signal readiness by printing their first
value, so nothing sleeps.
"""

import subprocess
import sys
import textwrap

import pytest

from fluxd.testing.cli import flux_executable

SCRIPT = textwrap.dedent("""
import os, subprocess, sys
FLUX = os.path.join(os.path.dirname(sys.executable), "flux")
DIR = os.environ["FLUXD_START_DIR"]

def env(rank):
    return dict(os.environ, FLUX_URI=f"local://{DIR}/rank-{rank}/local")

def flux(rank, *args, stdin=None):
    p = subprocess.run([FLUX, *args], capture_output=True, env=env(rank),
                       input=stdin)
    if p.returncode:
        raise SystemExit(f"rank {rank}: flux {' '.join(args)}: {p.stderr}")
    return p.stdout.decode()

def watcher(rank, *args):
    p = subprocess.Popen([FLUX, *args], stdout=subprocess.PIPE, env=env(rank),
                         text=True)
    first = p.stdout.readline()
    return p, first

flux(0, "kvs", "put", "a.b=written on rank 0")
print("FOLLOWER-READ", flux(2, "kvs", "get", "a.b"), end="")
flux(0, "kvs", "put", "counter=0")
w, first = watcher(2, "kvs", "get", "--watch", "--count=21", "counter")
print("WATCH-FIRST", first, end="")
for i in range(1, 21):
    flux(i % 2, "kvs", "put", f"counter={i}")
out, _ = w.communicate(timeout=60)
print("WATCH-REST", " ".join(out.split()))
seq = flux(2, "kvs", "put", "-s", "mine=from rank 2").strip()
print("RYW", flux(2, "kvs", "get", "mine"), end="")
flux(1, "kvs", "wait", seq)
print("RANK1-AFTER-WAIT", flux(1, "kvs", "get", "mine"), end="")
flux(1, "kvs", "eventlog", "append", "--timestamp=1", "log", "first")
e, first = watcher(1, "kvs", "eventlog", "get", "--watch", "--count=4",
                   "--unformatted", "log")
for t in (2, 3, 4):
    flux(2, "kvs", "eventlog", "append", f"--timestamp={t}", "log", f"ev{t}")
rest, _ = e.communicate(timeout=60)
print("EVENTLOG", (first + rest).replace(chr(10), " "))
ref = flux(2, "content", "store", stdin=b"blob from rank 2").strip()
print("CONTENT", flux(1, "content", "load", ref))
flux(2, "kvs", "namespace", "create", "-o", "4242", "ns2")
print("NS", flux(1, "kvs", "namespace", "list").splitlines()[1].split())
print("VERSIONS", *(flux(r, "kvs", "version").strip() for r in range(3)))
""")


@pytest.mark.slow
def test_three_brokers(tmp_path):
    path = tmp_path / "script.py"
    path.write_text(SCRIPT)
    proc = subprocess.run(
        [flux_executable(), "start", "--test-size=3", "-o,-Stbon.topo=kary:1",
         sys.executable, str(path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert lines["FOLLOWER-READ"] == "written on rank 0"
    assert lines["WATCH-FIRST"] == "0"
    assert lines["WATCH-REST"] == " ".join(str(i) for i in range(1, 21))
    assert lines["RYW"] == "from rank 2"
    assert lines["RANK1-AFTER-WAIT"] == "from rank 2"
    assert lines["EVENTLOG"] == (
        '{"timestamp":1.0,"name":"first"} {"timestamp":2.0,"name":"ev2"} '
        '{"timestamp":3.0,"name":"ev3"} {"timestamp":4.0,"name":"ev4"} ')
    assert lines["CONTENT"] == "blob from rank 2"
    assert lines["NS"] == "['ns2', '4242', '0x00000000']"
    versions = lines["VERSIONS"].split()
    assert len(set(versions)) == 1 and int(versions[0]) >= 25
