"""A real multi-broker instance on loopback TLS: status, routing, loss, rejoin.

``flux start --test-size=8 -o,-Stbon.topo=kary:2`` runs a script that
prints what each step shows; the script signals back through files so
no step sleeps.
"""

import subprocess
import textwrap

from fluxd.testing.cli import flux_executable

FULL_TREE = """\
0 {h}-0: full
├─ 1 {h}-1: full
│  ├─ 3 {h}-3: full
│  │  └─ 7 {h}-7: full
│  └─ 4 {h}-4: full
└─ 2 {h}-2: full
   ├─ 5 {h}-5: full
   └─ 6 {h}-6: full
"""


def flux_start(tmp_path, script, *opts, size=8, timeout=180):
    path = tmp_path / "script.py"
    path.write_text(script)
    import sys
    proc = subprocess.run(
        [flux_executable(), "start", f"--test-size={size}",
         "--test-hosts=node-[0-15]", *opts, sys.executable, str(path)],
        capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    return proc


COMMON = """
import json, os, signal, subprocess, sys, time
FLUX = os.path.join(os.path.dirname(sys.executable), "flux")
def flux(*args, check=True):
    p = subprocess.run([FLUX, *args], capture_output=True, text=True)
    if check and p.returncode:
        raise SystemExit(f"flux {' '.join(args)} failed: {p.stderr}")
    return p
def brokers():
    with open(os.path.join(os.environ["FLUXD_START_DIR"], "brokers.json")) as f:
        return json.load(f)
def wait_status(want, rank="0"):
    p = flux("overlay", "status", "--summary", "-r", rank, "-w", want)
    return p.stdout.strip()
"""


def test_status_ping_routing_events(tmp_path):
    script = COMMON + textwrap.dedent("""
    print("SIZE", flux("getattr", "size").stdout.strip())
    print("STATUS")
    print(flux("overlay", "status").stdout, end="")
    print("PARENTOF7", flux("overlay", "parentof", "7").stdout.strip())
    print("PARENTOF0", flux("overlay", "parentof", "0", check=False).stderr.strip())
    print("BADRANK", flux("overlay", "parentof", "9", check=False).stderr.strip())
    p = flux("ping", "-c", "2", "-i", "0", "7")
    print("PING", p.stdout.splitlines()[0], len(p.stdout.splitlines()))
    route = p.stdout.splitlines()[1].rsplit("(", 1)[1]
    print("ROUTE", route)
    print("ATTR7", flux("ping", "-c", "1", "-i", "0", "7!attr").stdout.splitlines()[1].split()[0])
    print("NOROUTE", flux("ping", "-c", "1", "-i", "0", "14", check=False).stderr.strip())
    print("LOOKUP", flux("overlay", "lookup", "2-3").stdout.strip(),
          flux("overlay", "lookup", "node-[2-3]").stdout.strip())
    """)
    proc = flux_start(tmp_path, script, "-o,-Stbon.topo=kary:2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "SIZE 8\n" in out
    assert "STATUS\n" + FULL_TREE.format(h="node") in out
    assert "PARENTOF7 3\n" in out
    assert "PARENTOF0 flux-overlay: 0 has no parent\n" in out
    assert "BADRANK flux-overlay: 9 is not a valid rank in this instance\n" in out
    assert "PING flux-ping 7!broker 3\n" in out
    # client, then the overlay hops 0, 1, 3 as rank numbers, then the responder
    route = out.split("ROUTE ", 1)[1].splitlines()[0]
    assert route.count("!") == 4 and "!0!1!3!" in route, route
    assert "ATTR7 7!attr.ping\n" in out
    assert "NOROUTE flux-ping: 14!broker.ping: rank 14 is not in this instance" in out
    assert "LOOKUP node-[2-3] 2-3\n" in out


def test_lost_subtree_and_rejoin(tmp_path):
    script = COMMON + textwrap.dedent("""
    b = {x["rank"]: x for x in brokers()}
    os.kill(b[1]["pid"], signal.SIGKILL)
    print("AFTER-KILL", wait_status("degraded"))
    print(flux("overlay", "status").stdout, end="")
    print("ERRORS", flux("overlay", "errors").stdout.strip())
    env = dict(os.environ); env.pop("FLUX_URI", None)
    proc = subprocess.Popen(b[1]["argv"], env=env, stdin=subprocess.DEVNULL)
    print("AFTER-RESTART", wait_status("full"))
    print(flux("overlay", "status").stdout, end="")
    proc.send_signal(signal.SIGTERM); proc.wait()
    """)
    proc = flux_start(tmp_path, script, "-o,-Stbon.topo=kary:2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "AFTER-KILL degraded\n" in out
    lost = out.split("AFTER-KILL degraded\n", 1)[1].split("ERRORS", 1)[0]
    assert lost == ("0 node-0: degraded\n"
                    "├─ 1 node-1: lost lost connection\n"
                    "│  ├─ 3 node-3: lost\n"
                    "│  │  └─ 7 node-7: lost\n"
                    "│  └─ 4 node-4: lost\n"
                    "└─ 2 node-2: full\n"
                    "   ├─ 5 node-5: full\n"
                    "   └─ 6 node-6: full\n")
    assert "ERRORS node-1: lost connection\n" in out
    assert "AFTER-RESTART full\n" + FULL_TREE.format(h="node") in out


def test_events_reach_every_broker_in_order(tmp_path):
    script = COMMON + textwrap.dedent("""
    from fluxd.client.sync import Flux
    seen = {}
    handles, tokens = [], []
    for rank in range(8):
        uri = f"local://{os.environ['FLUXD_START_DIR']}/rank-{rank}/local"
        h = Flux(uri)
        handles.append(h)
        tokens.append(h.send("event.subscribe", {"topic": "test."}, flags=0x40))
    # make sure every subscription is in place before publishing
    for h in handles:
        h.rpc("broker.ping")
    with Flux() as pub:
        for i in range(20):
            pub.rpc("event.publish", {"topic": f"test.e{i}", "payload": {"i": i}})
    with Flux(f"local://{os.environ['FLUXD_START_DIR']}/rank-5/local") as pub:
        pub.rpc("event.publish", {"topic": "test.from5"})
    for rank, (h, tok) in enumerate(zip(handles, tokens)):
        got = []
        while len(got) < 21:
            box = h._read_box(10)
            if box.get(b"_command") == b"response":
                got.append(json.loads(box[b"payload"]))
        print("EVENTS", rank, [g["topic"] for g in got] == [f"test.e{i}" for i in range(20)] + ["test.from5"],
              [g["seq"] for g in got] == sorted(g["seq"] for g in got))
    """)
    proc = flux_start(tmp_path, script, "-o,-Stbon.topo=kary:2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for rank in range(8):
        assert f"EVENTS {rank} True True\n" in proc.stdout


def test_start_single_broker_runs_command(tmp_path):
    proc = subprocess.run([flux_executable(), "start", "sh", "-c",
                           "flux getattr size; exit 3"],
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout == "1\n"
    assert proc.returncode == 3


def test_uptime_offline_and_shutdown_cascade(tmp_path):
    script = COMMON + textwrap.dedent("""
    b = {x["rank"]: x for x in brokers()}
    print("UPTIME1", flux("uptime").stdout.split(",  ", 3)[3].strip())
    os.kill(b[3]["pid"], signal.SIGKILL)
    wait_status("degraded")
    print("UPTIME2", flux("uptime").stdout.split(",  ", 3)[3].strip())
    print("GROUP", flux("overlay", "lookup", "0").stdout.strip())
    p = flux("shutdown", "--quiet")
    print("SHUTDOWN", p.returncode)
    d = os.environ["FLUXD_START_DIR"]
    for rank in (1, 2):
        log = open(os.path.join(d, f"rank-{rank}", "broker.log")).read()
        print("CHILD", rank, "parent is shutting down" in log)
    log0 = open(os.path.join(d, "rank-0", "broker.log")).read()
    print("RANK0", "shutdown->finalize" in log0)
    """)
    proc = flux_start(tmp_path, script, "-o,-Stbon.topo=kary:2", size=4)
    out = proc.stdout
    assert "UPTIME1 size 4\n" in out, out + proc.stderr
    assert "UPTIME2 size 4,  1 offline\n" in out
    assert "SHUTDOWN 0\n" in out
    assert "CHILD 1 True\n" in out and "CHILD 2 True\n" in out
    assert "RANK0 True\n" in out
