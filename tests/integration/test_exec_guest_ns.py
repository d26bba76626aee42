"""A job's guest namespace ``job-<id>`` on a real broker: its exec
eventlog and output there while it runs (readable with ``-N job-<id>``
and through ``job.<id>.guest`` in primary), folded back into primary at
its end, kept across a broker restart, and in a dump of the primary."""

import json
import os
import subprocess

from fluxd.testing.cli import flux_executable

SH = "/bin/sh"


def _ids(broker, jobid):
    dec = broker.flux("job", "id", "--to=dec", jobid).out.strip()
    key = broker.flux("job", "id", "--to=kvs", jobid).out.strip()
    return f"job-{dec}", key


def _waiting_job(broker, flag):
    jobid = broker.flux("submit", SH, "-c",
                        f"echo before; while [ ! -e {flag} ]; do sleep 0.05;"
                        " done; echo after").out.strip()
    assert broker.flux("job", "wait-event", "-p", "output", jobid,
                       "data").rc == 0
    return jobid


def _namespaces(broker):
    lines = broker.flux("kvs", "namespace", "list").out.splitlines()[1:]
    return {line.split()[0]: int(line.split()[1]) for line in lines}


def _data(text):
    entries = [json.loads(line) for line in text.splitlines() if line]
    return "".join(e["context"].get("data", "") for e in entries
                   if e["name"] == "data")


def test_output_in_the_guest_namespace_then_in_primary(broker, tmp_path):
    flag = tmp_path / "go-on"
    jobid = _waiting_job(broker, flag)
    ns, key = _ids(broker, jobid)
    # while it runs: a namespace of its own, owned by the job's user
    assert _namespaces(broker)[ns] == os.getuid()
    r = broker.flux("kvs", "get", "-N", ns, "output")
    assert r.rc == 0, r.err
    assert _data(r.out) == "before\n"
    via_primary = broker.flux("kvs", "get", f"{key}.guest.output")
    assert via_primary.out == r.out
    assert broker.flux("kvs", "readlink", f"{key}.guest").out.strip() == \
        f"{ns}::."
    names = [json.loads(line)["name"] for line in broker.flux(
        "kvs", "get", "-N", ns, "exec.eventlog").out.splitlines() if line]
    assert names[:2] == ["init", "starting"]
    # a watcher of the primary path wakes on the guest namespace's writes
    flag.write_text("")
    result = broker.flux("job", "attach", jobid)
    assert (result.rc, result.out, result.err) == (0, "before\nafter\n", "")
    # attach ends at finish; the namespace is folded back before the final
    # release, so it is gone by clean
    assert broker.flux("job", "wait-event", jobid, "clean").rc == 0
    # once done: the namespace is gone, its data in primary
    assert ns not in _namespaces(broker)
    r = broker.flux("kvs", "get", "-N", ns, "output")
    assert r.rc != 0 and "Traceback" not in r.err and r.err.count("\n") == 1
    assert _data(broker.flux("kvs", "get", f"{key}.guest.output").out) == \
        "before\nafter\n"
    # "input" too when attach's end of input (its stdin is empty) reached
    # the job before it ended: a race this test does not decide
    listing = broker.flux("kvs", "ls", f"{key}.guest").out.split()
    assert [name for name in listing if name != "input"] == ["exec", "output"]
    events = broker.flux("job", "eventlog", "-p", "exec", jobid).out
    assert events.splitlines()[-1].split()[1] == "done"
    info = broker.flux("job", "info", jobid, "guest.exec.eventlog").out
    assert info.rstrip().splitlines()[-1].endswith('"name":"done"}'), info


def test_tasks_use_the_guest_namespace(broker):
    # as in flux, FLUX_KVS_NAMESPACE names the job's namespace: flux kvs
    # in a task reads (and writes) the job's own data
    flux = flux_executable()
    result = broker.flux("run", "-v", SH, "-c",
                         f'echo $FLUX_KVS_NAMESPACE; {flux} kvs put mine=1;'
                         f' {flux} kvs get exec.eventlog | head -1')
    assert result.rc == 0, result.err
    jobid = result.err.split()[1]
    ns, key = _ids(broker, jobid)
    out = result.out.splitlines()
    assert out[0] == ns
    assert json.loads(out[1])["name"] == "init"
    assert broker.flux("kvs", "get", f"{key}.guest.mine").out == "1\n"
    assert broker.flux("kvs", "get", "mine").rc != 0


def test_kvs_watch_through_the_symlink(broker, tmp_path):
    flag, flag2 = tmp_path / "go-on", tmp_path / "end"
    jobid = broker.flux("submit", SH, "-c",
                        f"echo before; while [ ! -e {flag} ]; do sleep 0.05;"
                        f" done; echo after; while [ ! -e {flag2} ]; do"
                        " sleep 0.05; done").out.strip()
    assert broker.flux("job", "wait-event", "-p", "output", jobid,
                       "data").rc == 0
    _, key = _ids(broker, jobid)
    # the log as it stands, then what the job appends in its guest
    # namespace while it still runs
    watch = subprocess.Popen(
        [flux_executable(), "kvs", "get", "--watch", "--append",
         "--count=2", f"{key}.guest.output"],
        env=dict(broker.env, FLUX_URI=broker.uri), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # the watcher has its first value once it printed "before"
        line = ""
        while "before" not in line:
            line = watch.stdout.readline()
            assert line, watch.stderr.read()
        flag.write_text("")
        out, err = watch.communicate(timeout=30)
    finally:
        flag2.write_text("")
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert watch.returncode == 0, err
    assert _data(out) == "after\n"
    assert broker.flux("job", "status", jobid).rc == 0


def test_job_ending_while_its_broker_is_down(broker_factory, tmp_path):
    statedir = tmp_path / "state"
    statedir.mkdir()
    broker = broker_factory(attrs={"statedir": str(statedir)})
    flag = tmp_path / "go-on"
    jobid = _waiting_job(broker, flag)
    ns, key = _ids(broker, jobid)
    broker.kill()                         # kill -9: the job goes on
    flag.write_text("")                   # and ends while it is down
    broker.start()
    result = broker.flux("job", "attach", jobid)
    assert (result.rc, result.out, result.err) == (0, "before\nafter\n", "")
    assert ns not in _namespaces(broker)
    names = [line.split()[1] for line in broker.flux(
        "job", "eventlog", "-p", "exec", jobid).out.splitlines()]
    assert names.count("done") == 1 and names[-1] == "done"
    assert "reattach" in names
    # a dump of the primary keeps the finished job's output
    dump = str(tmp_path / "dump.tar")
    assert broker.flux("dump", "-q", dump).rc == 0
    assert broker.flux("restore", "-q", "--key=copy", dump).rc == 0
    r = broker.flux("kvs", "get", f"copy.{key}.guest.output")
    assert _data(r.out) == "before\nafter\n", r.err
