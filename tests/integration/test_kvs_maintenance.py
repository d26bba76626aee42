"""KVS maintenance and storage faults with real brokers (issue 8):
garbage collection by dump and restore, dumps moved between instances,
the gc-threshold question, a full statedir, a corrupt content.sqlite."""

import hashlib
import io
import os
import pty
import select
import shutil
import subprocess
import tarfile

import pytest
import tomli_w

from fluxd.client.sync import Flux
from fluxd.testing.broker import BrokerProcess
from fluxd.testing.cli import flux_executable
from tests.integration.test_kvs_persist import (
    commit_payload, lookups, pipelined, put_op)


@pytest.fixture
def brokers(tmp_path):
    """``brokers(name, **attrs)``: a BrokerProcess (not started) in its own
    work directory; every one is stopped at the end."""
    made = []

    def make(name, config_path=None, **attrs):
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        broker = BrokerProcess(workdir, config_path=config_path, attrs=attrs)
        made.append(broker)
        return broker
    yield make
    for broker in made:
        broker.stop()


def sha1_of(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def archive_members(data_or_path):
    """``{name: bytes or "-> target"}`` of a dump."""
    if isinstance(data_or_path, bytes):
        tar = tarfile.open(fileobj=io.BytesIO(data_or_path), mode="r:*")
    else:
        tar = tarfile.open(data_or_path, "r:*")
    with tar:
        return {m.name: ("-> " + m.linkname if m.issym()
                         else tar.extractfile(m).read()) for m in tar}


def test_gc_shrinks_the_database_and_keeps_live_keys(brokers, tmp_path):
    state = tmp_path / "state"
    db = state / "content.sqlite"
    broker = brokers("gc", statedir=str(state), **{"content.restore": "auto"})
    broker.start()
    with Flux(broker.uri) as h:
        # 300 commits of 16 KiB of noise each, then all of it unlinked:
        # the blobs stay in content.sqlite, reachable from no root
        answers = pipelined(h, [("kvs.commit", commit_payload(
            [put_op(f"junk.k{i}", os.urandom(16384))])) for i in range(300)])
        assert not any(isinstance(a, Exception) for a in answers)
        h.rpc("kvs.commit", commit_payload([
            {"key": "junk", "flags": 0, "dirent": None},
            put_op("live.small", b"kept\0"),
            put_op("live.big", b"B" * 5000),
            put_op("job.0000.0004.b200.0000.eventlog", b'{"name":"submit"}\n')]))
        version = h.rpc("kvs.getroot", {"namespace": "primary"})["rootseq"]
    assert version >= 2
    r = broker.flux("shutdown", "--gc", "--quiet")
    assert (r.rc, r.err) == (0, "flux-shutdown: shutdown will dump KVS (this"
                                " may take some time)\n")
    assert broker.wait() == 0
    dumps = sorted(os.listdir(state / "dump"))
    assert len(dumps) == 2 and dumps[1] == "RESTORE"
    assert os.readlink(state / "dump" / "RESTORE") == dumps[0]
    assert dumps[0].endswith(".tgz")
    # the 3 live keys, resource.R and the job manager's checkpoint (written
    # in rc3, before the dump)
    assert "content.dump: archived 5 keys to " in broker.log_text
    before = os.path.getsize(db)
    assert before > 300 * 16384

    broker.start()
    assert "content.restore: restored 5 keys (" in broker.log_text
    assert not os.path.lexists(state / "dump" / "RESTORE")
    after = os.path.getsize(db)
    assert after * 20 < before, (before, after)
    with Flux(broker.uri) as h:
        got = lookups(h, ["live.small", "live.big",
                          "job.0000.0004.b200.0000.eventlog", "junk.k7"])
        assert got == {"live.small": b"kept\0", "live.big": b"B" * 5000,
                       "job.0000.0004.b200.0000.eventlog":
                           b'{"name":"submit"}\n',
                       "junk.k7": None}
        assert h.rpc("kvs.getroot", {"namespace": "primary"})["rootseq"] == 0
        h.rpc("kvs.commit", commit_payload([put_op("live.after", b"1")]))
    assert broker.flux("kvs", "get", "live.after").out == "1\n"


def test_dump_restored_into_a_new_instance(brokers, tmp_path):
    first = brokers("first", statedir=str(tmp_path / "s1")).start()
    r = first.flux("kvs", "put", "a=1", "dir.sub.key=deep value",
                   "big=" + "x" * 3000, "empty=")
    assert r.rc == 0, r.err
    assert first.flux("kvs", "link", "dir.sub.key", "alias").rc == 0
    with Flux(first.uri) as h:
        h.rpc("kvs.commit", commit_payload([put_op("bin", bytes(range(256)))]))
        h.rpc("kvs.commit", {"namespace": "primary", "flags": 0, "ops": [{
            "key": "log", "flags": 32, "dirent": {"ver": 1, "type": "val",
                                                    "data": "bGluZTEK"}}]})
        h.rpc("kvs.commit", {"namespace": "primary", "flags": 0, "ops": [{
            "key": "log", "flags": 32, "dirent": {"ver": 1, "type": "val",
                                                    "data": "bGluZTIK"}}]})
    online = str(tmp_path / "online.tgz")
    r = first.flux("dump", online)
    assert r.rc == 0, r.err
    assert r.err.endswith("flux-dump: archived 8 keys\n")
    r = first.flux("dump", "-q", "--no-cache", "--checkpoint", "-")
    assert r.rc == 0
    original = archive_members(online)
    assert original["log"] == b"line1\nline2\n"
    assert original["alias"] == "-> dir.sub.key"
    # a running broker's statedir is not for offline use
    r = first.flux("dump", f"--statedir={tmp_path / 's1'}", str(tmp_path / "x.tar"))
    assert r.rc == 1 and "is in use by a running broker" in r.err

    # restored at start into a new instance
    second = brokers("second", statedir=str(tmp_path / "s2"),
                     **{"content.restore": online}).start()
    assert second.flux("kvs", "get", "dir.sub.key", "alias").out == \
        "deep value\ndeep value\n"
    assert second.flux("kvs", "version").out == "0\n"
    again = str(tmp_path / "again.tar")
    assert second.flux("dump", "-q", again).rc == 0
    assert archive_members(again) == original
    # and under a key of a running one, through the content cache or not
    for key, extra in (("copy", []), ("copy2", ["--no-cache"])):
        r = second.flux("restore", "-q", f"--key={key}", *extra, online)
        assert (r.rc, r.err) == (0, "")
    assert second.flux("kvs", "get", "copy.big", "copy2.dir.sub.key").out == \
        "x" * 3000 + "\ndeep value\n"
    r = second.flux("restore", "--checkpoint", online)
    assert r.rc == 1 and "while the KVS is running" in r.err
    # flux shutdown --dump=PATH: the last state, no RESTORE link
    final = tmp_path / "final.tar"
    r = second.flux("shutdown", "--quiet", f"--dump={final}")
    assert (r.rc, r.err) == (0, "flux-shutdown: shutdown will dump KVS (this"
                                " may take some time)\n")
    assert second.wait() == 0
    assert archive_members(str(final))["copy2/big"] == b"x" * 3000
    assert not (tmp_path / "s2" / "dump").exists()

    # offline: into a stopped broker's statedir, then started
    s3 = tmp_path / "s3"
    s3.mkdir()
    r = second.flux("restore", "--checkpoint", f"--statedir={s3}", online)
    assert r.rc == 0, r.err
    assert "to checkpoint for next KVS start" in r.err
    third = brokers("third", statedir=str(s3)).start()
    assert third.flux("kvs", "get", "log").out == "line1\nline2\n\n"
    third.stop()
    r = third.flux("dump", "--checkpoint", "-q", f"--statedir={s3}",
                   str(tmp_path / "offline.tar.bz2"))
    assert r.rc == 0, r.err
    offline = archive_members(str(tmp_path / "offline.tar.bz2"))
    # the third broker's job manager added its checkpoint when it stopped
    assert b'"max_jobid"' in offline.pop("checkpoint/job-manager")
    assert offline == original


def _config(tmp_path, threshold):
    path = tmp_path / "gc.toml"
    with open(path, "wb") as f:
        tomli_w.dump({"kvs": {"gc-threshold": threshold}}, f)
    return str(path)


def _shutdown_on_a_terminal(broker, answer):
    """Run ``flux shutdown --quiet`` with a pty as stdin/stdout; answer its
    question; return (what it printed, exit code)."""
    master, slave = pty.openpty()
    env = dict(broker.env, FLUX_URI=broker.uri)
    proc = subprocess.Popen([flux_executable(), "shutdown", "--quiet"],
                            stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                            env=env)
    os.close(slave)
    seen = b""
    try:
        while b"]? " not in seen:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, seen
            seen += os.read(master, 1024)
        os.write(master, answer)
        code = proc.wait(60)
    finally:
        os.close(master)
    return seen.decode(), code, proc.stderr.read().decode()


def test_gc_threshold_question(brokers, tmp_path):
    state = tmp_path / "state"
    broker = brokers("gcq", config_path=_config(tmp_path, 3),
                     statedir=str(state), **{"content.restore": "auto"})
    broker.start()
    for i in range(5):
        assert broker.flux("kvs", "put", f"k{i}={i}").rc == 0
    r = broker.flux("shutdown", "--quiet")      # stdin is no terminal
    assert (r.rc, r.err) == (1, "flux-shutdown: gc threshold exceeded, specify"
                                " -y or -n\n")
    assert broker.flux("uptime").out.split()[1] == "run"
    prompt, code, err = _shutdown_on_a_terminal(broker, b"y\n")
    assert prompt.endswith("gc threshold exceeded, do you want to perform"
                           " garbage collection [Y/n]? ")
    assert (code, err) == (0, "flux-shutdown: shutdown will dump KVS (this may"
                              " take some time)\n")
    assert broker.wait() == 0
    assert os.path.islink(state / "dump" / "RESTORE")
    # restored: the version, the count of commits since gc, is 0 again
    broker.start()
    assert broker.flux("kvs", "version").out == "0\n"
    assert broker.flux("kvs", "get", "k4").out == "4\n"
    r = broker.flux("shutdown", "--quiet")
    assert (r.rc, r.err) == (0, "")
    assert broker.wait() == 0
    assert sorted(os.listdir(state / "dump"))[-1] != "RESTORE"
    # past the threshold again, -n answers no
    broker.start()
    for i in range(5):
        broker.flux("kvs", "put", f"n{i}={i}")
    r = broker.flux("shutdown", "--quiet", "-n")
    assert (r.rc, r.err) == (0, "")
    assert broker.wait() == 0
    assert not os.path.lexists(state / "dump" / "RESTORE")


def test_truncated_database_refused_and_left_as_it_was(brokers, tmp_path):
    state = tmp_path / "state"
    db = state / "content.sqlite"
    broker = brokers("trunc", statedir=str(state)).start()
    with Flux(broker.uri) as h:
        pipelined(h, [("kvs.commit", commit_payload(
            [put_op(f"k{i}", os.urandom(2000))])) for i in range(100)])
    broker.stop()
    whole = db.read_bytes()
    db.write_bytes(whole[:len(whole) // 2 // 4096 * 4096])
    truncated = sha1_of(db)
    listing = sorted(os.listdir(state))
    broker.start(wait=False)
    assert broker.wait() == 1
    lines = [line for line in broker.log_text.splitlines() if line.strip()]
    assert lines == [f"fluxd: {db} is truncated ({len(whole) // 2 // 4096 * 4096}"
                     f" of {len(whole)} bytes): refusing to start; the file is"
                     " left as it is (move it aside, or restore a dump with"
                     " -Scontent.restore=FILE)"]
    assert sha1_of(db) == truncated
    assert sorted(os.listdir(state)) == listing
    # the whole file back: nothing was harmed
    db.write_bytes(whole)
    broker.start()
    assert broker.flux("kvs", "get", "k99").rc == 0


def test_corrupt_database_after_a_crash_refused(brokers, tmp_path):
    state = tmp_path / "state"
    db = state / "content.sqlite"
    broker = brokers("crash", statedir=str(state)).start()
    with Flux(broker.uri) as h:
        pipelined(h, [("kvs.commit", commit_payload(
            [put_op(f"k{i}", os.urandom(2000))])) for i in range(60)])
    broker.stop()
    broker.start()
    assert broker.flux("kvs", "put", "late=1").rc == 0
    broker.kill()       # leaves the last commit in the -wal file
    size = os.path.getsize(db)
    with open(db, "r+b") as f:
        # every page but the header: the few pages the -wal holds newer
        # copies of cannot hide all of it
        f.seek(4096)
        f.write(os.urandom(size - 4096))
    before = (sha1_of(db), sha1_of(str(db) + "-wal"))
    broker.start(wait=False)
    assert broker.wait() == 1
    errors = [line for line in broker.log_text.splitlines()
              if "broker.err[0]" in line]
    assert len(errors) == 1
    # sqlite finds the damage in the schema or in the integrity check
    assert f"loading built-in modules failed: {db}" in errors[0]
    assert "failed its integrity check (" in errors[0] or \
        "database disk image is malformed" in errors[0], errors[0]
    assert errors[0].endswith(": refusing to start; the file is left as it is"
                              " (move it aside, or restore a dump with"
                              " -Scontent.restore=FILE)")
    assert (sha1_of(db), sha1_of(str(db) + "-wal")) == before


# -- a full statedir ----------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """A 4 MiB tmpfs mounted at ``tmp_path/state``, unmounted afterwards
    (also when the test fails: brokers are stopped first by the order of
    fixture teardown, see the test)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    mountpoint = tmp_path / "state"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs",
                    str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(directory, name="filler"):
    """Write zeros until the file system is full; returns the file."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 16, 512):
            try:
                while True:
                    os.write(fd, bytes(chunk))
            except OSError as exc:
                assert exc.errno == 28
    finally:
        os.close(fd)
    return path


@pytest.mark.slow
def test_full_statedir(small_fs, tmp_path):
    state = small_fs
    broker = BrokerProcess(tmp_path / "full", attrs={"statedir": str(state)})
    (tmp_path / "full").mkdir()
    try:
        broker.start()
        with Flux(broker.uri) as h:
            for i in range(20):
                h.rpc("kvs.commit", commit_payload([put_op(f"early.k{i}",
                                                           b"value %d" % i)]))
        filler = fill(state)
        r = broker.flux("kvs", "put", "big=" + os.urandom(30000).hex())
        assert (r.rc, r.err) == (1, "flux-kvs: KVS is read-only: no space left"
                                    f" on device in {state}; writes resume"
                                    " once space is freed\n")
        broker.wait_for("the KVS is read-only; commits fail until space is"
                        f" freed in {state}")
        r = broker.flux("kvs", "put", "small=1")
        assert r.rc == 1 and "KVS is read-only" in r.err
        # reads go on
        assert broker.flux("kvs", "get", "early.k3").out == "value 3\n"
        # space returns: writes resume at once
        os.unlink(filler)
        assert broker.flux("kvs", "put", "resumed=yes").rc == 0
        broker.wait_for("writes resumed after")
        # full again; then a clean stop and a restart once space is freed
        filler = fill(state)
        assert broker.flux("kvs", "put", "lost=" + os.urandom(30000).hex()).rc == 1
        assert broker.flux("shutdown", "--quiet").rc == 0
        # rc3's startlog line may not fit either (the startlog's business)
        assert broker.wait() in (0, 1)
        os.unlink(filler)
        broker.start()
        with Flux(broker.uri) as h:
            got = lookups(h, [f"early.k{i}" for i in range(20)]
                          + ["resumed", "big", "lost", "small"])
        assert got == {**{f"early.k{i}": b"value %d" % i for i in range(20)},
                       "resumed": b"yes", "big": None, "lost": None,
                       "small": None}
        assert broker.flux("kvs", "put", "after=1").rc == 0
    finally:
        broker.stop()
