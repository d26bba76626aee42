"""The admin guide's system example on a real 16-broker instance:
``flux start --test-size=16 --test-hosts=test[1-16]`` with the guide's
``system.toml`` (``[resource] noverify = true``: this host has neither
64 cores nor GPUs).  One script inside the instance looks at the
resources, drains and undrains, makes mistakes, kills a broker and looks
again; each test checks what one step printed, in spec/cli.md's current
layouts."""

import time

import pytest

from tests.integration.resource_helpers import (
    SYSTEM_TOML, flux_start, out, sections, write_config)

SCRIPT = '''
show("list", "resource", "list")
show("status", "resource", "status")
show("info", "resource", "info")
show("R", "resource", "R")
show("drain-none", "resource", "drain")
show("drain", "resource", "drain", "test7", "node", "is", "fubar")
show("time", "resource", "status", "-s", "drain", "-no", "{timestamp}")
show("drain-list", "resource", "drain")
show("drain-long", "resource", "drain", "-o", "long")
show("status-drained", "resource", "status")
show("again", "resource", "drain", "test7", "again")
show("force", "resource", "drain", "-f", "test7", "memory errors")
show("reason", "resource", "status", "-s", "drain", "-no", "{reason}")
show("unknown-host", "resource", "drain", "test99")
show("bad-hostlist", "resource", "drain", "test[1-")
show("bad-state", "resource", "status", "-s", "frelled")
show("out-of-range", "resource", "drain", "16")
show("empty", "resource", "drain", "")
show("not-drained", "resource", "undrain", "test8")
show("undrain", "resource", "undrain", "test7")
show("drain-after", "resource", "drain")
show("drain-two", "resource", "drain", "test[3-4]", "rack", "swap")
kill(15)
print(flux("overlay", "status", "--summary", "-w", "degraded").stdout)
show("status-lost", "resource", "status")
show("list-lost", "resource", "list")
show("offline", "resource", "status", "-s", "offline", "--skip-empty",
     "-no", "{state} {ranks} {nodelist}")
show("drain-lost", "resource", "drain", "test16", "dead")
show("status-dead", "resource", "status")
show("eventlog", "resource", "eventlog", "-f", "json")
'''


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("system")
    conf = write_config(tmp / "conf.d", system=SYSTEM_TOML)
    proc = flux_start(tmp, SCRIPT, f"--config-path={conf}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the guide's [bootstrap] is replaced by the test instance's own
    assert "ignoring [bootstrap]" in proc.stderr
    return sections(proc.stdout)


def test_list_status_info(steps):
    assert out(steps, "list") == (
        "     STATE PROPERTIES NNODES NCORES NGPUS NODELIST\n"
        "      free                15    120    15 test[1-15]\n"
        "      free fatnode         1     64     2 test16\n"
        " allocated                 0      0     0 \n"
        "      down                 0      0     0 \n")
    assert out(steps, "status") == (
        "       STATE UP NNODES NODELIST\n"
        "       avail  ✔     16 test[1-16]\n")
    assert out(steps, "info") == "16 Nodes, 184 Cores, 17 GPUs\n"
    R = out(steps, "R")
    assert '"R_lite": [{"rank": "0-14", "children": {"core": "0-7",' \
           ' "gpu": "0"}}, {"rank": "15", "children": {"core": "0-63",' \
           ' "gpu": "0-1"}}]' in R
    assert '"properties": {"fatnode": "15"}' in R


def test_drain_listing_and_status(steps):
    header = "TIME         STATE    REASON                         NODELIST\n"
    assert out(steps, "drain-none") == header
    assert out(steps, "drain") == ""
    when = time.strftime("%b%d %H:%M",
                         time.gmtime(float(out(steps, "time"))))
    assert out(steps, "drain-list") == header + (
        f"{when}  drained  node is fubar                  test7\n")
    assert out(steps, "drain-long") == (
        "TIME         STATE    RANKS    REASON                         "
        "NODELIST\n"
        f"{when}  drained  6        node is fubar                  test7\n")
    assert out(steps, "status-drained") == (
        "       STATE UP NNODES NODELIST\n"
        "       avail  ✔     15 test[1-6,8-16]\n"
        "     drained  ✔      1 test7\n")


def test_drain_overwrite_and_undrain(steps):
    assert out(steps, "again", rc=1) == (
        "flux-resource: rank 6 already drained\n"
        "flux-resource: Use --force to overwrite existing drain reason\n")
    assert out(steps, "force") == ""
    assert out(steps, "reason") == "memory errors\n"
    assert out(steps, "undrain") == ""
    assert out(steps, "drain-after") == (
        "TIME         STATE    REASON                         NODELIST\n")


def test_bad_input_is_one_line(steps):
    for label, message in [
            ("unknown-host", "invalid targets: invalid hosts: test99"),
            ("bad-hostlist", "invalid targets: Hostlist cannot be decoded"),
            ("bad-state", "Invalid resource state frelled specified"),
            ("out-of-range", "idset is out of range"),
            ("empty", "idset is empty"),
            ("not-drained", "rank 7 not drained")]:
        assert out(steps, label, rc=1) == f"flux-resource: {message}\n"


def test_lost_broker_shows_offline_rows(steps):
    assert out(steps, "status-lost") == (
        "       STATE UP NNODES NODELIST\n"
        "       avail  ✔     13 test[1-2,5-15]\n"
        "      avail*  ✗      1 test16\n"
        "     drained  ✔      2 test[3-4]\n")
    assert out(steps, "list-lost") == (
        "     STATE PROPERTIES NNODES NCORES NGPUS NODELIST\n"
        "      free                13    104    13 test[1-2,5-15]\n"
        " allocated                 0      0     0 \n"
        "      down                 2     16     2 test[3-4]\n"
        "      down fatnode         1     64     2 test16\n")
    assert out(steps, "offline") == "avail* 15 test16\n"
    assert out(steps, "drain-lost") == ""
    assert out(steps, "status-dead") == (
        "       STATE UP NNODES NODELIST\n"
        "       avail  ✔     13 test[1-2,5-15]\n"
        "     drained  ✔      2 test[3-4]\n"
        "    drained*  ✗      1 test16\n")


def test_eventlog_records_the_session(steps):
    import json
    events = [json.loads(line) for line in out(steps, "eventlog").splitlines()]
    names = [e["name"] for e in events]
    assert names[:2] == ["restart", "resource-define"]
    assert events[0]["context"] == {"ranks": "0-15", "online": "",
                                    "nodelist": "test[1-16]"}
    assert events[1]["context"] == {"method": "configuration"}
    online = [e["context"]["idset"] for e in events if e["name"] == "online"]
    assert sorted(n for ids in online for n in _expand(ids)) == list(range(16))
    drains = [(e["name"], e["context"].get("reason"), e["context"]["idset"])
              for e in events if e["name"] in ("drain", "undrain")]
    assert drains == [("drain", "node is fubar", "6"),
                      ("drain", "memory errors", "6"),
                      ("undrain", None, "6"),
                      ("drain", "rack swap", "2-3"),
                      ("drain", "dead", "15")]
    assert {"name": "offline", "context": {"idset": "15"}} in [
        {k: e[k] for k in ("name", "context")} for e in events]


def _expand(ids):
    from fluxd.formats.idset import IDset
    return list(IDset(ids))
