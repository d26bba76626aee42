"""Hostile input on the local socket: the broker survives and keeps serving."""

import random
import socket

from fluxd.client import wire
from fluxd.client.sync import Flux


def connect(uri):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(uri[len("local://"):])
    sock.settimeout(10)
    return sock


def drain(sock):
    """Read what the broker sent so far: a client that never reads would
    fill the socket buffers and stall the broker's writes to it."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except (BlockingIOError, OSError):
        pass
    finally:
        sock.settimeout(10)


def random_box(rng):
    """A syntactically valid AMP box with hostile contents."""
    box = {}
    kind = rng.randrange(6)
    if kind == 0:
        box[wire.COMMAND] = b"request"
        box[wire.ASK] = b"%x" % rng.randrange(1 << 30)
        for key in (b"topic", b"nodeid", b"flags", b"matchtag", b"payload"):
            if rng.random() < 0.8:
                box[key] = rng.randbytes(rng.randrange(20))
    elif kind == 1:
        box[wire.COMMAND] = b"request"
        box[wire.ASK] = b"1"
        wire.put_str(box, "topic", rng.choice(["attr.get", "attr.set", "x.y",
                                               "", "broker.ping", "module.list"]))
        wire.put_int(box, "nodeid", rng.choice([0, 1, 0xFFFFFFFF, -1, 1 << 40]))
        wire.put_int(box, "flags", rng.randrange(256))
        wire.put_int(box, "matchtag", rng.randrange(1 << 32))
        box[b"payload"] = rng.choice([b"{", b"[]", b"null", b'{"name":5}',
                                      rng.randbytes(30)])
    elif kind == 2:
        box[wire.COMMAND] = rng.randbytes(rng.randrange(1, 10))
        box[wire.ASK] = b"2"
    elif kind == 3:
        box[wire.ANSWER] = b"77"
    elif kind == 4:
        box[wire.COMMAND] = b"cancel"
        box[b"matchtag"] = rng.randbytes(4)
    else:
        box[rng.randbytes(rng.randrange(1, 20))] = rng.randbytes(50)
    return wire.encode_box(box)


def test_fuzz_then_still_answers(broker):
    rng = random.Random(1234)
    frames = connections = 0
    while frames < 3000:
        sock = connect(broker.uri)
        connections += 1
        try:
            for _ in range(100):
                if connections % 4 == 0:
                    data = rng.randbytes(rng.randrange(1, 400))
                else:
                    data = random_box(rng)
                    if rng.random() < 0.05:
                        data = data[:rng.randrange(len(data))]  # truncated
                sock.sendall(data)
                frames += 1
                drain(sock)
        except OSError:
            pass  # the broker hangs up on a client that sent garbage
        finally:
            sock.close()
    with Flux(broker.uri) as h:
        assert h.rpc("attr.get", {"name": "rank"})["value"] == "0"
    assert broker.proc.poll() is None
    assert broker.flux("getattr", "size").out == "1\n"
    log = "".join(broker.output)
    assert "Traceback" not in log
    assert "bad box" in log
