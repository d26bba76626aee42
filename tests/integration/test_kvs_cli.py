"""``flux kvs`` against a real broker.

Most commands run in-process (:func:`fluxd.testing.cli.run_flux`) against
one broker shared by the module; a few run as real processes.  Each test
works under its own top-level directory so the tests stay independent.
"""

import json
import os
import subprocess

import pytest

from fluxd.client.sync import Flux
from fluxd.message.types import ROLE_USER
from fluxd.testing.broker import BrokerProcess
from fluxd.testing.cli import flux_executable, run_flux


@pytest.fixture(scope="module")
def kvs_broker(tmp_path_factory):
    broker = BrokerProcess(tmp_path_factory.mktemp("kvs"),
                           attrs={"content.blob-size-limit": "100000"}).start()
    yield broker
    broker.stop()


@pytest.fixture(autouse=True)
def uri(kvs_broker, monkeypatch):
    monkeypatch.setenv("FLUX_URI", kvs_broker.uri)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("FLUX_KVS_NAMESPACE", raising=False)
    return kvs_broker.uri


def kvs(*args, stdin=""):
    return run_flux(["kvs", *args], stdin=stdin)


def ok(*args, stdin=""):
    r = kvs(*args, stdin=stdin)
    assert r.rc == 0, r.err
    assert r.err == ""
    return r.out


def fails(*args, stdin=""):
    r = kvs(*args, stdin=stdin)
    assert r.rc != 0, r.out
    assert r.err.count("\n") >= 1 and "Traceback" not in r.err
    return r.err


def test_put_get(uri):
    assert ok("put", "t1.a=hello", "t1.b=world") == ""
    assert ok("get", "t1.a", "t1.b") == "hello\nworld\n"
    assert ok("get", "-l", "t1.a") == "t1.a=hello\n"
    assert ok("get", "-t", "t1.a") == '{"data":"aGVsbG8=","type":"val","ver":1}\n'
    assert ok("get", "-r", "t1.a") == "hello"
    ok("put", "-r", "t1.raw=-", stdin="from stdin")
    assert ok("get", "-r", "t1.raw") == "from stdin"
    ok("put", "-t", 't1.tree={"data":"eA==","type":"val","ver":1}')
    assert ok("get", "t1.tree") == "x\n"


def test_one_commit_for_many_pairs():
    seq = int(ok("put", "-s", "t2.a=1", "t2.b=2", "t2.c=3"))
    assert int(ok("version")) >= seq
    root = json.loads(ok("put", "-O", "t2.d=4"))
    assert root["type"] == "dirref"
    assert ok("getroot", "-b") == root["data"][0] + "\n"
    assert json.loads(ok("getroot")) == root
    assert int(ok("getroot", "-s")) == int(ok("version"))
    assert ok("getroot", "-o") == f"{os.getuid()}\n"
    ok("wait", ok("version").strip())
    assert ok("put", "-S", "t2.synced=1") == ""
    assert ok("sync") == ""
    assert "invalid version" in fails("wait", "soon")


def test_append():
    """flux-core's t1000 append cases: get returns the concatenation."""
    ok("put", "--append", "t3.new=abc")
    assert ok("get", "t3.new") == "abc\n"
    ok("put", "t3.log=abc")
    ok("put", "--append", "t3.log=def")
    ok("put", "-A", "t3.log=ghi")
    assert ok("get", "t3.log") == "abcdefghi\n"
    assert ok("get", "-r", "t3.log") == "abcdefghi"
    assert json.loads(ok("get", "-t", "t3.log"))["type"] == "valref"
    ok("put", "-r", "-A", "t3.rlog=x")
    ok("put", "-r", "-A", "t3.rlog=y")
    assert ok("get", "-r", "t3.rlog") == "xy"
    ok("put", "-r", "t3.lines=-", stdin="abc\n")
    ok("put", "-r", "-A", "t3.lines=-", stdin="def\n")
    assert ok("get", "-r", "t3.lines") == "abc\ndef\n"
    ok("put", "t3.empty=")
    assert ok("get", "-r", "t3.empty") == ""
    ok("put", "-A", "t3.empty=abc")
    ok("put", "-A", "t3.empty=")
    assert ok("get", "t3.empty") == "abc\n"


def test_dir_and_ls():
    ok("put", "t4.a=1", "t4.sub.b=2", "t4.long=" + "y" * 100)
    ok("link", "t4.a", "t4.l")
    ok("link", "-T", "other", "x.y", "t4.nsl")
    ok("mkdir", "t4.empty")
    assert ok("dir", "t4") == (
        "t4.a = 1\n"
        "t4.empty.\n"
        "t4.l -> t4.a\n"
        "t4.long = " + "y" * 67 + "...\n"
        "t4.nsl -> other::x.y\n"
        "t4.sub.\n")
    assert ok("dir", "-R", "-w", "0", "t4").splitlines() == [
        "t4.a = 1", "t4.empty.", "t4.l -> t4.a", "t4.long = " + "y" * 100,
        "t4.nsl -> other::x.y", "t4.sub.b = 2"]
    assert ok("dir", "-d", "t4.sub") == "t4.sub.b\n"
    assert ok("dir", "-w", "12", "t4.sub") == "t4.sub.b ...\n"
    assert ok("ls", "-1", "t4") == "a\nempty\nl\nlong\nnsl\nsub\n"
    assert ok("ls", "-F", "-w", "80", "t4") == \
        "a        empty.   l@       long     nsl@     sub.\n"
    assert ok("ls", "-w", "20", "t4") == "a        empty\nl        long\nnsl      sub\n"
    assert ok("ls", "-R", "-1", "t4.sub") == "t4.sub:\nb\n"
    assert ok("ls", "-d", "t4.sub", "t4.a") == "t4.a      t4.sub\n"
    assert ok("ls", "t4.a", "t4.sub") == "t4.a\n\nt4.sub:\nb\n"
    r = kvs("ls", "t4.nope", "t4.a.")
    assert r.rc == 1
    assert r.err == "t4.nope: No such file or directory\nt4.a: Not a directory\n"


def test_unlink():
    ok("put", "t5.d.x=1", "t5.v=2")
    err = fails("unlink", "t5.d")
    assert err == "flux-kvs: cannot unlink 't5.d': Directory not empty\n"
    ok("unlink", "-R", "t5.d", "t5.v")
    assert fails("get", "t5.v") == "flux-kvs: t5.v: No such file or directory\n"
    assert fails("unlink", "t5.gone").startswith("flux-kvs: cannot unlink 't5.gone'")
    ok("unlink", "-f", "t5.gone")


def test_links_copy_move():
    ok("put", "t6.target=v")
    ok("link", "t6.target", "t6.link")
    assert ok("readlink", "t6.link") == "t6.target\n"
    assert ok("get", "t6.link") == "v\n"
    ok("link", "-T", "ns6", "k", "t6.nslink")
    assert ok("readlink", "t6.nslink") == "ns6::k\n"
    assert ok("readlink", "-o", "t6.nslink") == "ns6\n"
    assert ok("readlink", "-k", "t6.nslink") == "k\n"
    assert fails("readlink", "t6.target") == \
        "flux-kvs: t6.target: Invalid argument\n"
    ok("copy", "t6.target", "t6.copy")
    ok("move", "t6.copy", "t6.moved")
    assert ok("get", "t6.moved") == "v\n"
    assert fails("get", "t6.copy").endswith("No such file or directory\n")


def test_bad_input_names_the_problem():
    assert fails("put", "t7.a..b=1") == \
        "flux-kvs: invalid key 't7.a..b': empty path component\n"
    assert fails("get", "t7..x") == \
        "flux-kvs: invalid key 't7..x': empty path component\n"
    assert fails("put", "novalue") == \
        "flux-kvs: put: you must specify a value as key=value\n"
    assert "base64" in fails("put", "-t", 't7.t={"ver":1,"type":"val","data":"!"}')
    err = fails("put", "-t", 't7.t={"ver":1,"type":"valref","data":["sha1-'
                + "0" * 40 + '"]}')
    assert "is not in the content store" in err
    err = fails("put", "t7.big=" + "x" * 100001)
    assert "exceeds the blob size limit of 100000 bytes" in err
    assert fails("put", "-t", "t7.t=not json") == \
        "flux-kvs: key 't7.t': not a JSON tree object\n"
    assert fails("get", "t7") == "flux-kvs: t7: No such file or directory\n"
    ok("put", "t7.d.x=1")
    assert fails("get", "t7.d") == "flux-kvs: t7.d: Is a directory\n"
    assert fails("dir", "t7.d.x") == "flux-kvs: t7.d.x: Not a directory\n"
    err = fails("get", "-t", "-r", "x")
    assert err.startswith("usage: flux kvs get ")
    assert err.endswith("flux-kvs: argument -r/--raw: not allowed with"
                        " argument -t/--treeobj\n")
    assert "usage: flux kvs" in fails()


def test_namespaces():
    ok("namespace", "create", "-o", "4242", "ns8")
    out = ok("namespace", "list").splitlines()
    assert out[0] == "NAMESPACE                                 OWNER      FLAGS"
    assert "ns8                                        4242 0x00000000" in out
    assert fails("namespace", "create", "ns8") == \
        "flux-kvs: namespace 'ns8' already exists\n"
    assert fails("namespace", "create", "-o", "me", "x") == \
        "flux-kvs: --owner requires an unsigned integer argument\n"
    ok("put", "-N", "ns8", "k=in ns8")
    assert ok("-N", "ns8", "get", "k") == "in ns8\n"
    os.environ["FLUX_KVS_NAMESPACE"] = "ns8"
    try:
        assert ok("get", "k") == "in ns8\n"
    finally:
        del os.environ["FLUX_KVS_NAMESPACE"]
    assert fails("get", "k").endswith("No such file or directory\n")
    assert ok("getroot", "-o", "-N", "ns8") == "4242\n"
    ok("namespace", "remove", "ns8")
    assert "does not exist" in fails("get", "-N", "ns8", "k")
    ok("namespace", "remove", "ns8")


def test_guest_namespace(uri):
    ok("namespace", "create", "-o", "4343", "job-guest")
    ok("put", "-N", "job-guest", "k=guest value")
    with Flux(uri, userid=4343, rolemask=ROLE_USER) as h:
        got = h.rpc("kvs.lookup", {"key": "k", "namespace": "job-guest"})
        assert got["val"]["data"] == "Z3Vlc3QgdmFsdWU="
        try:
            h.rpc("kvs.lookup", {"key": "t1.a", "namespace": "primary"})
        except Exception as exc:
            assert exc.errno == 1
        else:
            raise AssertionError("a guest read the primary namespace")


def test_eventlog():
    ok("eventlog", "append", "--timestamp=1", "t9.log", "first", '{"data":"foo"}')
    ok("eventlog", "append", "-t", "2", "t9.log", "second")
    assert ok("eventlog", "get", "-u", "t9.log") == (
        '{"timestamp":1.0,"name":"first","context":{"data":"foo"}}\n'
        '{"timestamp":2.0,"name":"second"}\n')
    assert ok("eventlog", "get", "t9.log") == \
        '1.000000 first data="foo"\n2.000000 second\n'
    assert ok("eventlog", "get", "-c", "1", "-u", "t9.log").count("\n") == 1
    assert ok("eventlog", "wait-event", "-u", "t9.log", "second") == \
        '{"timestamp":2.0,"name":"second"}\n'
    assert ok("eventlog", "wait-event", "-v", "t9.log", "second") == \
        '1.000000 first data="foo"\n2.000000 second\n'
    assert ok("eventlog", "wait-event", "-q", "t9.log", "first") == ""
    assert fails("eventlog", "wait-event", "--timeout=0.2", "t9.log", "never") == \
        "flux-kvs: wait-event timeout on event 'never'\n"
    assert fails("eventlog", "wait-event", "t9.missing", "x") == \
        "flux-kvs: eventlog path t9.missing not found\n"
    assert "is not a JSON object" in fails("eventlog", "append", "t9.log", "x",
                                           "not_an_object")
    assert fails("eventlog", "get", "-H", "-u", "t9.log").startswith("flux-kvs:")
    assert "invalid --color" in fails("eventlog", "get", "--color=foo", "t9.log")
    human = ok("eventlog", "get", "-H", "--color=never", "t9.log").splitlines()
    assert human[1] == "[  +1.000000] second"


def test_content_and_dropcache():
    ok("put", "t10.a=1")
    ok("dropcache")
    ok("dropcache", "--all")
    assert ok("get", "t10.a") == "1\n"
    r = run_flux(["content", "store"], stdin="some blob")
    assert r.rc == 0 and r.out.startswith("sha1-")
    ref = r.out.strip()
    assert run_flux(["content", "load", ref]).out == "some blob"
    assert run_flux(["content", "store", "--dry-run"], stdin="some blob").out == r.out
    assert run_flux(["content", "flush"]).rc == 0
    assert run_flux(["content", "dropcache"]).rc == 0
    assert run_flux(["content", "load", ref]).out == "some blob"
    bad = run_flux(["content", "load", "sha1-1234"])
    assert bad.rc == 1 and "invalid blobref" in bad.err
    missing = run_flux(["content", "load", "sha1-" + "0" * 40])
    assert missing.err == "flux-content: sha1-" + "0" * 40 + \
        ": No such file or directory\n"
    big = run_flux(["content", "store"], stdin="z" * 100001)
    assert big.rc == 1 and "exceeds the blob size limit" in big.err


def test_watch_processes(uri, kvs_broker):
    """Real processes: a watcher, a waitcreate, updates in between."""
    env = dict(os.environ, FLUX_URI=uri)
    flux = flux_executable()
    ok("put", "t11.w=0")
    watcher = subprocess.Popen([flux, "kvs", "get", "-w", "-c", "4", "t11.w"],
                               stdout=subprocess.PIPE, text=True, env=env)
    assert watcher.stdout.readline() == "0\n"
    waiter = subprocess.Popen([flux, "kvs", "get", "--waitcreate", "t11.new"],
                              stdout=subprocess.PIPE, text=True, env=env)
    with Flux(uri) as h:
        # each poll is a round trip to the broker; the waiter registers
        # within a few of them
        for _ in range(100000):
            if h.rpc("kvs-watch.stats-get")["watchers"] >= 2:
                break
    for i in range(1, 4):
        ok("put", f"t11.w={i}")
    ok("put", "t11.new=created")
    assert watcher.communicate(timeout=30)[0] == "1\n2\n3\n"
    assert watcher.returncode == 0
    assert waiter.communicate(timeout=30)[0] == "created\n"
    r = kvs_broker.flux("kvs", "get", "-w", "-c", "1", "t11.w")
    assert r.out == "3\n"


def test_content_processes(kvs_broker):
    stored = kvs_broker.flux("content", "store", stdin="process blob")
    assert stored.rc == 0 and stored.err == ""
    loaded = kvs_broker.flux("content", "load", stored.out.strip())
    assert (loaded.rc, loaded.out) == (0, "process blob")
    bad = kvs_broker.flux("content", "load", "nonsense")
    assert bad.rc == 1
    assert bad.err == "flux-content: nonsense: invalid blobref 'nonsense'\n"
