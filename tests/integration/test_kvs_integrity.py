"""Durability and integrity of content.sqlite with real brokers (issue 13
points 4-6): the restore rule, damage found at start or by flux fsck,
and flux shutdown --gc waiting for its dump."""

import json
import os
import random
import re
import shutil

import pytest

from fluxd.client.sync import Flux
from fluxd.errors import FluxError
from fluxd.storage import treeobj as T
from fluxd.storage.wal import wal_frames
from fluxd.testing.broker import READY, BrokerProcess
from tests.integration.test_kvs_persist import commit_payload, put_op

SEED = 20261313
OVERWRITES = 20


@pytest.fixture
def brokers(tmp_path):
    """``brokers(name, **attrs)``: a BrokerProcess (not started); every one
    is stopped at the end."""
    made = []

    def make(name, **attrs):
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        broker = BrokerProcess(workdir, attrs=attrs)
        made.append(broker)
        return broker
    yield make
    for broker in made:
        broker.stop()


def no_traceback(broker):
    text = broker.log_text
    assert "Traceback" not in text and "internal error" not in text, text


# -- a stale dump/RESTORE ---------------------------------------------------------

def test_stale_restore_keeps_the_newer_commits(brokers, tmp_path):
    state = tmp_path / "state"
    broker = brokers("stale", statedir=str(state)).start()
    assert broker.flux("kvs", "put", "old=before gc").rc == 0
    assert broker.flux("shutdown", "--gc", "--quiet").rc == 0
    assert broker.wait() == 0
    assert os.path.islink(state / "dump" / "RESTORE")
    # a start without content.restore, newer commits, a clean stop
    broker.start()
    assert broker.flux("kvs", "put", "newer=acknowledged").rc == 0
    assert broker.flux("shutdown", "--quiet").rc == 0
    assert broker.wait() == 0
    # the shipped unit's start: content.restore=auto
    again = brokers("stale", statedir=str(state), **{"content.restore": "auto"})
    again.start()
    assert again.flux("kvs", "get", "newer", "old").out == \
        "acknowledged\nbefore gc\n"
    warnings = [line for line in again.log_text.splitlines()
                if "content.restore" in line]
    assert len(warnings) == 1, warnings
    assert "not restoring" in warnings[0] and \
        "the KVS has commits newer than that dump" in warnings[0]
    assert not os.path.lexists(state / "dump" / "RESTORE")
    no_traceback(again)


def test_gc_restore_still_collects(brokers, tmp_path):
    state = tmp_path / "state"
    broker = brokers("gc", statedir=str(state), **{"content.restore": "auto"})
    broker.start()
    with Flux(broker.uri) as h:
        for i in range(50):
            h.rpc("kvs.commit", commit_payload([put_op(f"junk.k{i}",
                                                       os.urandom(8000))]))
        h.rpc("kvs.commit", commit_payload([
            {"key": "junk", "flags": 0, "dirent": None},
            put_op("kept", b"yes\0")]))
    assert broker.flux("shutdown", "--gc", "--quiet").rc == 0
    assert broker.wait() == 0
    before = os.path.getsize(state / "content.sqlite")
    broker.start()
    assert "content.restore: restored " in broker.log_text
    assert os.path.getsize(state / "content.sqlite") * 5 < before
    assert broker.flux("kvs", "get", "kept").out == "yes\n"


# -- flux shutdown --gc and its dump -----------------------------------------

def test_shutdown_gc_returns_after_its_dump(brokers, tmp_path):
    state = tmp_path / "state"
    broker = brokers("wait", statedir=str(state)).start()
    with Flux(broker.uri) as h:
        for i in range(20):
            h.rpc("kvs.commit", commit_payload([put_op(f"k{i}", b"v" * 100)]))
    r = broker.flux("shutdown", "--gc")
    # checked before the broker has exited: the dump is complete
    link = state / "dump" / "RESTORE"
    assert os.path.islink(link)
    archived = os.path.realpath(link)
    assert os.path.getsize(archived) > 0
    assert r.rc == 0
    assert re.search(r"content-backing.info\[0\]: content.dump: archived"
                     rf" \d+ keys to {re.escape(archived)} in ", r.err), r.err
    assert not [n for n in os.listdir(state / "dump") if n.startswith(".")]
    assert broker.wait() == 0
    # that dump was the final state: nothing committed after it (the job
    # manager's checkpoint comes before it), no second dump at stop
    assert "dumping again" not in broker.log_text
    assert sorted(os.listdir(state / "dump")) == \
        [os.path.basename(archived), "RESTORE"]


def test_partial_dump_of_an_interrupted_gc_is_removed(brokers, tmp_path):
    state = tmp_path / "state"
    (state / "dump").mkdir(parents=True)
    partial = state / "dump" / ".20260101_120000.tgz"
    partial.write_bytes(b"\x1f\x8b\x08 cut short by kill -9")
    broker = brokers("partial", statedir=str(state)).start()
    assert not partial.exists()
    assert f"content.dump: removed {partial}, the partial archive of an" \
        " interrupted dump" in broker.log_text


# -- damage -------------------------------------------------------------------

def read_all(uri, keys):
    """``{key: bytes or FluxError}``: one lookup per key."""
    out = {}
    with Flux(uri) as h:
        for key in keys:
            try:
                raw = h.rpc_raw("kvs.lookup", json.dumps(
                    {"key": key, "namespace": "primary", "flags": 0}).encode())
                out[key] = T.decode_val(json.loads(raw)["val"])
            except FluxError as exc:
                out[key] = exc
    return out


def make_pristine(brokers, state, crash):
    """A statedir with 60 committed keys; stopped cleanly or by kill -9
    (the commits then in the -wal).  Returns ``{key: value}`` and the
    keys of the last commit."""
    broker = brokers("pristine", statedir=str(state)).start()
    values = {}
    with Flux(broker.uri) as h:
        for i in range(60):
            ops = {f"d{i % 6}.k{i}": os.urandom(700 + i), f"small.s{i}": b"%d" % i}
            values.update(ops)
            h.rpc("kvs.commit", commit_payload([put_op(k, v)
                                                for k, v in ops.items()]))
    if crash:
        broker.kill()
    else:
        assert broker.flux("shutdown", "--quiet").rc == 0
        assert broker.wait() == 0
    return values, list(ops)


def outcome(brokers, name, state, values, tolerated=()):
    """Start a broker on a damaged statedir; classify what happens.

    :returns: ``refused``, ``fsck`` or ``harmless``.
    """
    db = state / "content.sqlite"
    broker = brokers(name, statedir=str(state))
    broker.start(wait=False)
    try:
        broker.wait_for(READY, 60)
    except RuntimeError:
        assert broker.wait() == 1
        errors = [line for line in broker.log_text.splitlines()
                  if "broker.err[0]" in line or line.startswith("fluxd: ")]
        assert len(errors) == 1, broker.log_text
        assert str(db) in errors[0] and "refusing to start" in errors[0]
        no_traceback(broker)
        return "refused"
    got = read_all(broker.uri, values)
    for key, value in got.items():
        if isinstance(value, FluxError):
            assert "\n" not in str(value), value
    assert broker.flux("shutdown", "--quiet").rc == 0
    broker.wait()
    no_traceback(broker)
    fsck = broker.flux("fsck", f"--statedir={state}")
    assert "Traceback" not in fsck.err
    if fsck.rc != 0:
        assert fsck.out.strip(), fsck.err
        return "fsck"
    wrong = {k for k, v in got.items() if v != values[k]} - set(tolerated)
    assert not wrong, (name, sorted(wrong)[:5], fsck.out, fsck.err)
    return "harmless"


def overwrite(path, rng, lo=0):
    size = os.path.getsize(path)
    offset = rng.randrange(lo, size - 512)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(rng.randbytes(512))
    return offset


def test_overwrites_of_a_cleanly_stopped_store(brokers, tmp_path):
    pristine = tmp_path / "pristine-state"
    values, _ = make_pristine(brokers, pristine, crash=False)
    assert not os.path.exists(pristine / "content.sqlite-wal") or \
        os.path.getsize(pristine / "content.sqlite-wal") == 0
    rng = random.Random(SEED)
    seen = {}
    for n in range(OVERWRITES):
        state = tmp_path / f"db{n}"
        shutil.copytree(pristine, state)
        offset = overwrite(state / "content.sqlite", rng)
        result = outcome(brokers, f"db{n}", state, values)
        seen.setdefault(result, []).append(offset)
    assert set(seen) <= {"refused", "fsck", "harmless"}
    assert "refused" in seen, seen


def test_overwrites_of_the_wal_after_a_crash(brokers, tmp_path):
    pristine = tmp_path / "pristine-state"
    values, last_keys = make_pristine(brokers, pristine, crash=True)
    wal = pristine / "content.sqlite-wal"
    with open(wal, "rb") as f:
        header, frames = wal_frames(f.read())
    commits = [f for f in frames if f.commit]
    assert len(commits) >= 60
    # the frames of the last transaction: damage there is a torn tail
    tail_start = frames[commits[-2].index + 1].offset
    rng = random.Random(SEED + 1)
    seen = {}
    for n in range(OVERWRITES):
        state = tmp_path / f"wal{n}"
        os.makedirs(state)
        for name in ("content.sqlite", "content.sqlite-wal", "startlog"):
            shutil.copy(pristine / name, state / name)
        offset = overwrite(state / "content.sqlite-wal", rng)
        torn = offset + 512 > tail_start
        result = outcome(brokers, f"wal{n}", state, values,
                         tolerated=last_keys if torn else ())
        seen.setdefault(result, []).append(offset)
    assert set(seen) <= {"refused", "fsck", "harmless"}
    assert "refused" in seen, seen
