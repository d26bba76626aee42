"""Hostile or broken peers on the overlay port: refused, instance unharmed.

Inside a 4-broker ``flux start`` instance the script connects to rank 0's
overlay port as: a TLS client with another cluster certificate, a plain
TCP client sending garbage, a client with the right certificate that
claims a huge frame, and one that says hello as a rank outside the
instance.  Afterwards the overlay is still full and answers, and rank 0's
log names each reason once.
"""

import subprocess
import sys
import textwrap

from fluxd.testing.cli import flux_executable

SCRIPT = textwrap.dedent(r"""
    import json, os, socket, ssl, struct, subprocess, sys, tomllib
    from fluxd.message import frames
    from fluxd.message.types import Message
    from fluxd.overlay.tls import keygen
    d = os.environ["FLUXD_START_DIR"]
    flux = os.path.join(os.path.dirname(sys.executable), "flux")
    conf = tomllib.load(open(os.path.join(d, "bootstrap.toml"), "rb"))
    cert = conf["bootstrap"]["curve_cert"]
    host, port = conf["bootstrap"]["hosts"][0]["connect"][len("tcp://"):].split(":")
    port = int(port)

    def tls(pem):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(pem)
        s = ctx.wrap_socket(socket.create_connection((host, port), timeout=10))
        return s

    def closed(sock):
        # the broker may answer (a refusal) before it hangs up: read to EOF
        try:
            while sock.recv(65536):
                pass
            return True
        except socket.timeout:
            return False
        except (ssl.SSLError, OSError):
            return True

    # 1. another certificate
    other = os.path.join(d, "other.pem")
    keygen(other, name="flux")
    try:
        s = tls(other)
        s.sendall(b"x")
        print("OTHER-CERT", "closed" if closed(s) else "open")
    except (ssl.SSLError, OSError) as e:
        print("OTHER-CERT", "closed")

    # 2. plain TCP garbage
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(os.urandom(2000))
    print("PLAIN-TCP", "closed" if closed(s) else "open")

    # 3. right certificate, a frame claiming 2 GiB
    s = tls(cert)
    s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"x" * 100)
    print("HUGE-FRAME", "closed" if closed(s) else "open")

    # 4. right certificate, undecodable frame
    s = tls(cert)
    s.sendall(struct.pack(">I", 5) + b"\x01\x02\x03\x04\x05")
    print("GARBAGE-FRAME", "closed" if closed(s) else "open")

    # 5. right certificate, hello as a rank outside the instance
    s = tls(cert)
    hello = Message.request("overlay.hello", {"rank": 99, "version": "x"}, nodeid=0)
    data = frames.encode(hello)
    s.sendall(struct.pack(">I", len(data)) + data)
    print("BAD-RANK", "closed" if closed(s) else "open")

    # 6. right certificate, a real child rank but another version
    s = tls(cert)
    hello = Message.request("overlay.hello", {"rank": 1, "version": "0.0.0-other"}, nodeid=0)
    data = frames.encode(hello)
    s.sendall(struct.pack(">I", len(data)) + data)
    print("BAD-VERSION", "closed" if closed(s) else "open")

    out = subprocess.run([flux, "overlay", "status", "--summary"],
                         capture_output=True, text=True).stdout.strip()
    print("STATUS", out)
    print("PING", subprocess.run([flux, "ping", "-c", "1", "-i", "0", "3"],
                                 capture_output=True, text=True).returncode)
    log = open(os.path.join(d, "rank-0", "broker.log")).read()
    print("LOG-BADRANK", log.count("rank 99 is not a child of rank 0"))
    print("LOG-HUGE", log.count("exceeds the"))
    print("LOG-VERSION", log.count("rank 1 runs version 0.0.0-other"))
    print("LOG-UNDECODABLE", log.count("undecodable message"))
    print("TRACEBACKS", log.count("Traceback"))
""")


def test_hostile_peers_refused(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([flux_executable(), "start", "--test-size=4",
                           sys.executable, str(script)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for check in ("OTHER-CERT", "PLAIN-TCP", "HUGE-FRAME", "GARBAGE-FRAME",
                  "BAD-RANK", "BAD-VERSION"):
        assert f"{check} closed\n" in out, out
    assert "STATUS full\n" in out
    assert "PING 0\n" in out
    assert "LOG-BADRANK 1\n" in out
    assert "LOG-HUGE 1\n" in out
    assert "LOG-VERSION 1\n" in out
    assert "LOG-UNDECODABLE 1\n" in out
    assert "TRACEBACKS 0\n" in out


def test_impossible_topology_refused(tmp_path):
    proc = subprocess.run([flux_executable(), "start", "--test-size=3",
                           "-o,-Stbon.topo=bogus:3", "true"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "bogus" in proc.stderr
    assert proc.stderr.count("Traceback") == 0


def test_torpid_child_detected_and_cleared(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(r"""
        import json, os, signal, subprocess, sys, time
        from fluxd.client.sync import Flux
        d = os.environ["FLUXD_START_DIR"]
        b = {x["rank"]: x for x in json.load(open(os.path.join(d, "brokers.json")))}
        def torpid():
            with Flux() as h:
                kids = h.rpc("overlay.health")["children"]
            return {k["rank"]: k.get("torpid", False) for k in kids}
        def wait(pred):
            delay = 0.05
            while not pred():
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        os.kill(b[2]["pid"], signal.SIGSTOP)
        wait(lambda: torpid()[2])
        print("STOPPED", torpid())
        os.kill(b[2]["pid"], signal.SIGCONT)
        wait(lambda: not torpid()[2])
        print("CONTINUED", torpid())
        log = open(os.path.join(d, "rank-0", "broker.log")).read()
        print("LOG", "rank 2 is torpid" in log, "rank 2 is no longer torpid" in log)
    """))
    proc = subprocess.run([flux_executable(), "start", "--test-size=3",
                           "-o,-Stbon.torpid_min=0.1s,-Stbon.torpid_max=0.5s",
                           sys.executable, str(script)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "STOPPED {1: False, 2: True}\n" in proc.stdout
    assert "CONTINUED {1: False, 2: False}\n" in proc.stdout
    assert "LOG True True\n" in proc.stdout


def test_bootstrap_in_test_instance_config_is_ignored(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "boot.toml").write_text('[bootstrap]\ncurve_cert = "/nonexistent"\n'
                                    '[access]\nallow-guest-user = true\n')
    proc = subprocess.run([flux_executable(), "start", "--test-size=2",
                           f"--config-path={conf}", "flux", "getattr", "size"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2\n"
    assert "warning: ignoring [bootstrap]" in proc.stderr
