"""KVS state in content.sqlite survives restarts, clean or ``kill -9``.

Commits are streamed with the stdlib client's pipelining (many requests
in flight), so 10,000 keys take seconds.  The kill test kills the broker
with SIGKILL after a random number of acknowledged commits, several
times on the same statedir, and checks after each restart that every
acknowledged commit reads back and that no commit is half there.
"""

import collections
import json
import os
import random
import re
import signal

import pytest

from fluxd.client.sync import Flux
from fluxd.errors import FluxError, NotConnected
from fluxd.storage import treeobj as T
from fluxd.testing.broker import BrokerProcess


def put_op(key, value):
    return {"key": key, "flags": 0, "dirent": T.create_val(value)}


def commit_payload(ops, namespace="primary"):
    return {"namespace": namespace, "flags": 0, "ops": ops}


def pipelined(h, requests, window=256):
    """Send ``(topic, payload)`` requests keeping ``window`` in flight;
    return the answers (raw payloads, or the FluxError raised) in order."""
    results, inflight = [], collections.deque()
    for topic, payload in requests:
        inflight.append(h.send(topic, payload))
        if len(inflight) >= window:
            results.append(_wait(h, inflight.popleft()))
    while inflight:
        results.append(_wait(h, inflight.popleft()))
    return results


def _wait(h, token):
    try:
        return h.wait(token)
    except FluxError as exc:
        return exc


def lookups(h, keys, namespace="primary"):
    """``{key: value bytes or None}`` for many keys, pipelined."""
    answers = pipelined(h, [("kvs.lookup", {"key": k, "namespace": namespace,
                                            "flags": 0}) for k in keys])
    out = {}
    for key, raw in zip(keys, answers):
        if isinstance(raw, FluxError):
            assert raw.errno == 2, (key, raw)
            out[key] = None
        else:
            out[key] = T.decode_val(json.loads(raw)["val"])
    return out


def start(workdir, statedir, **attrs):
    attrs["statedir"] = statedir
    return BrokerProcess(workdir, attrs=attrs).start()


def test_10000_keys_survive_clean_restart(tmp_path):
    statedir = str(tmp_path / "state")
    workdir = tmp_path / "b"
    workdir.mkdir()
    broker = start(workdir, statedir)
    keys = [f"bulk.d{i % 100}.k{i}" for i in range(10000)]
    try:
        with Flux(broker.uri) as h:
            requests = [("kvs.commit", commit_payload(
                [put_op(k, k.encode()) for k in keys[i:i + 10]]))
                for i in range(0, len(keys), 10)]
            answers = pipelined(h, requests)
            assert not [a for a in answers if isinstance(a, FluxError)]
            h.rpc("kvs.namespace-create", {"namespace": "kept", "owner": 4242,
                                           "flags": 0})
            h.rpc("kvs.commit", commit_payload([put_op("x", b"ns value")], "kept"))
            version = h.rpc("kvs.getroot", {"namespace": "primary"})["rootseq"]
        # far fewer versions than commits: concurrent commits were merged
        assert 1 <= version < 1000
    finally:
        assert broker.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert os.path.exists(os.path.join(statedir, "content.sqlite"))
    broker = start(workdir, statedir)
    try:
        # the job manager commits its checkpoint while the broker stops
        # (in rc3 and at stop): the version is at least the last one seen
        logged = re.search(r"kvs: primary namespace at version (\d+)",
                           "".join(broker.output))
        assert logged and int(logged.group(1)) >= version
        with Flux(broker.uri) as h:
            got = lookups(h, keys)
            assert got == {k: k.encode() for k in keys}
            assert h.rpc("kvs.getroot", {"namespace": "primary"})["rootseq"] \
                == int(logged.group(1))
            root = h.rpc("kvs.getroot", {"namespace": "kept"})
            assert root["owner"] == 4242
            assert lookups(h, ["x"], "kept") == {"x": b"ns value"}
        r = broker.flux("kvs", "get", "bulk.d7.k9907")
        assert r.out == "bulk.d7.k9907\n"
    finally:
        broker.stop()


def _stream_until_killed(broker, first, kill_after, window=32):
    """Stream commits numbered from ``first``; SIGKILL the broker after
    ``kill_after`` acknowledgements.  Returns (acked numbers, next number)."""
    acked, inflight, n = [], collections.deque(), first
    try:
        with Flux(broker.uri) as h:
            while True:
                while len(inflight) < window:
                    value = b"value-%d" % n
                    ops = [put_op(f"kill.c{n}.a", value),
                           put_op(f"kill.c{n}.b", value),
                           put_op("kill.last", value)]
                    inflight.append((n, h.send("kvs.commit", commit_payload(ops))))
                    n += 1
                number, token = inflight.popleft()
                h.wait(token)
                acked.append(number)
                if len(acked) == kill_after:
                    os.kill(broker.proc.pid, signal.SIGKILL)
    except (NotConnected, OSError):
        pass
    broker.proc.wait(30)
    assert broker.proc.returncode == -signal.SIGKILL
    return acked, n


@pytest.mark.slow
def test_kill9_loses_no_acknowledged_commit(tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    statedir = str(tmp_path / "state")
    workdir = tmp_path / "b"
    workdir.mkdir()
    all_acked, sent = set(), 0
    for _ in range(4):
        broker = start(workdir, statedir)
        acked, sent = _stream_until_killed(broker, sent, rng.randint(1, 400))
        assert acked, f"seed {seed}: nothing acknowledged"
        all_acked.update(acked)
        broker = start(workdir, statedir)
        try:
            with Flux(broker.uri) as h:
                keys = [f"kill.c{n}.{x}" for n in range(sent) for x in "ab"]
                got = lookups(h, keys)
                last = lookups(h, ["kill.last"])["kill.last"]
        finally:
            broker.stop()
        for n in range(sent):
            a, b = got[f"kill.c{n}.a"], got[f"kill.c{n}.b"]
            value = b"value-%d" % n
            if n in all_acked:
                assert (a, b) == (value, value), f"seed {seed}: commit {n} lost"
            else:
                # an unacknowledged commit is all there or not at all
                assert (a, b) in ((value, value), (None, None)), \
                    f"seed {seed}: commit {n} half-written"
        present = [n for n in range(sent) if got[f"kill.c{n}.a"] is not None]
        assert last == b"value-%d" % max(present), f"seed {seed}"


def test_sha256_instance_and_hash_mismatch(tmp_path):
    statedir = str(tmp_path / "state")
    workdir = tmp_path / "b"
    workdir.mkdir()
    broker = start(workdir, statedir, **{"content.hash": "sha256"})
    try:
        with Flux(broker.uri) as h:
            h.rpc("kvs.commit", commit_payload([put_op("k", b"v" * 200)]))
            broker_root = h.rpc("kvs.getroot", {"namespace": "primary"})["rootref"]
        assert broker_root.startswith("sha256-")
        stored = broker.flux("content", "store", stdin="x")
        assert stored.out.startswith("sha256-") and len(stored.out.strip()) == 71
    finally:
        broker.stop()
    with pytest.raises(RuntimeError) as info:
        start(workdir, statedir)
    assert "content store uses sha256 blobrefs but content.hash is sha1" in \
        str(info.value)
