"""flux job memo, flux uri, flux proxy, flux pstree and flux jobs -R on
two real instances: a running ``sleep`` job of the first gets the second
instance's URI as its ``uri`` memo, as a nested instance (``flux
batch``) announces itself."""

import socket

import pytest

from fluxd.testing.cli import flux_executable

pytestmark = pytest.mark.slow


def ok(result):
    assert result.rc == 0, result
    return result.out


def submit(broker, *argv):
    jobid = ok(broker.flux("submit", *argv)).strip()
    return jobid


def running(broker, *argv):
    jobid = submit(broker, *argv)
    ok(broker.flux("job", "wait-event", "-t", "60", jobid, "start"))
    return jobid


def one_line_error(result, text):
    assert result.rc != 0, result
    assert result.err == text + "\n", result
    assert "Traceback" not in result.err


@pytest.fixture
def nested(broker_factory):
    parent = broker_factory(name="parent")
    child = broker_factory(name="child")
    batch = running(parent, "--job-name=batch", "sleep", "300")
    ok(parent.flux("job", "memo", batch, f"uri={child.uri}"))
    inner = [running(child, "sleep", "300") for _ in range(2)]
    plain = running(parent, "--job-name=plain", "sleep", "300")
    return parent, child, batch, inner, plain


def test_uri_proxy_pstree_and_recursive_jobs(nested):
    parent, child, batch, inner, plain = nested
    assert ok(parent.flux("jobs", "-no", "{id.f58} {user.uri}",
                          batch)) == f"{batch} {child.uri}\n"
    assert ok(parent.flux("uri", batch)) == child.uri + "\n"
    path = child.uri[len("local://"):]
    assert ok(parent.flux("uri", "--remote", f"jobid:{batch}")) == \
        f"ssh://{socket.gethostname()}{path}\n"
    assert ok(parent.flux("uri", f"pid:{child.proc.pid}")) == \
        child.uri + "\n"
    one_line_error(parent.flux("uri", f"{batch}/{inner[0]}"),
                   f"flux-uri: ERROR: URI not found for job {inner[0]}")

    # the command runs in the child instance, its exit code is the proxy's
    assert ok(parent.flux("proxy", batch, flux_executable(), "getattr",
                          "local-uri")) == child.uri + "\n"
    assert parent.flux("proxy", batch, "exit 3").rc == 3
    assert sorted(ok(parent.flux(
        "proxy", f"ssh://{socket.gethostname()}{path}", flux_executable(),
        "jobs", "-no", "{id.f58}")).split()) == sorted(inner)

    assert ok(parent.flux("pstree")) == (
        ".\n"
        "├── plain\n"
        "└── batch\n"
        "    └── 2*[sleep]\n")
    tree = ok(parent.flux("pstree", "-x", "-X")).splitlines()
    assert tree[0] == "       JOBID USER     ST NTASKS NNODES  RUNTIME"
    assert [line.split()[0] for line in tree[1:3]] == [plain, batch]
    assert sorted(line.split()[0] for line in tree[3:]) == sorted(inner)
    assert tree[2].endswith(" batch") and tree[3].endswith("├── sleep") \
        and tree[4].endswith("└── sleep")

    listing = ok(parent.flux("jobs", "-R", "-no", "{id.f58} {name}"))
    top, below = listing.split(f"\n\n{batch}:\n")
    assert sorted(top.split("\n")) == sorted([f"{plain} plain",
                                              f"{batch} batch"])
    assert sorted(below.splitlines()) == sorted(f"{j} sleep" for j in inner)
    assert ok(parent.flux("jobs", "-R", "-L", "0", "-no", "{id.f58}")) \
        .split() == [plain, batch]
    # what the child instance says about itself
    cores = ok(child.flux("resource", "list", "-no", "{ncores}",
                          "-s", "all")).strip()
    listed = ok(parent.flux(
        "jobs", "-n", "-o", "{name} {instance.stats.total}"
        " {instance.resources.all.ncores}"
        " {instance.resources.allocated.ncores}"
        " {instance.stats} {uri.local}"))
    assert [line.rstrip() for line in listed.splitlines()] == [
        "plain", f"batch 2 {cores} 2 PD:0 R:2 CD:0 F:0 {child.uri}"]
    stats = ok(parent.flux("pstree", "-d", "stats")).splitlines()
    assert stats[0].split() == ["JOBID", "STATS", "RUNTIME"]
    assert "PD:0 R:2 CD:0 F:0" in stats[2] and stats[2].endswith(" batch")
    colored = ok(parent.flux("jobs", "--color=always", "-no", "{name}"))
    assert "\033[01;34mbatch\033[0;0m" in colored


def test_bad_targets_are_one_line_errors(nested):
    parent, _, batch, _, plain = nested
    one_line_error(parent.flux("proxy", plain, "true"),
                   f"flux-proxy: Unable to resolve {plain} to a URI:"
                   f" URI not found for job {plain}")
    one_line_error(parent.flux("proxy", "ƒ2Nk6hQnnb", "true"),
                   "flux-proxy: Unable to resolve ƒ2Nk6hQnnb to a URI:"
                   " jobid ƒ2Nk6hQnnb not found")
    one_line_error(parent.flux("proxy", "bogus:thing", "true"),
                   "flux-proxy: Unable to resolve bogus:thing to a URI:"
                   " No plugin for URI scheme bogus")
    one_line_error(parent.flux("proxy", "local:///nonexistent/local", "true"),
                   "flux-proxy: Unable to connect to Flux: broker socket"
                   " /nonexistent/local was not found")
    one_line_error(parent.flux("proxy", "ssh://elsewhere/tmp/x/local", "true"),
                   "flux-proxy: ssh://elsewhere/tmp/x/local: remote instances"
                   " are not supported (fluxd has no ssh connector)")
    one_line_error(parent.flux("uri", "slurm:1234"),
                   "flux-uri: ERROR: No plugin for URI scheme slurm")
    ok(parent.flux("cancel", batch))
    ok(parent.flux("job", "wait-event", "-t", "60", batch, "clean"))
    one_line_error(parent.flux("proxy", batch, "true"),
                   f"flux-proxy: Unable to resolve {batch} to a URI:"
                   f" jobid {batch} is not running")
    one_line_error(parent.flux("job", "memo", batch, "a=1"),
                   "flux-job: memo: unknown job id")
    one_line_error(parent.flux("job", "memo", plain, "novalue"),
                   "flux-job: memo: no value for key=novalue")


def test_memos_survive_a_restart(broker_factory, tmp_path):
    broker = broker_factory(attrs={"statedir": str(tmp_path / "state")})
    held = submit(broker, "--urgency=0", "true")
    ok(broker.flux("job", "memo", held, "uri=local:///tmp/x/local",
                   "a.b=2"))
    ok(broker.flux("job", "memo", "--volatile", held, "note=fleeting"))
    assert ok(broker.flux("jobs", "-no", "{user.note} {user.a.b}",
                          held)) == "fleeting 2\n"
    broker.stop()
    broker.start()
    assert ok(broker.flux("jobs", "-no", "{uri}|{user.a.b}|{user.note}",
                          held)) == "local:///tmp/x/local|2|\n"
    events = ok(broker.flux("job", "eventlog", held)).splitlines()
    assert [e.split()[1] for e in events].count("memo") == 1


def test_uri_wait_for_an_instance_still_starting(broker):
    import os
    import subprocess
    held = submit(broker, "--urgency=0", "sleep", "300")
    env = dict(os.environ, FLUX_URI=broker.uri)
    waiter = subprocess.Popen([flux_executable(), "uri", "--wait", held],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, text=True)
    try:
        ok(broker.flux("job", "urgency", held, "default"))
        ok(broker.flux("job", "wait-event", "-t", "60", held, "start"))
        ok(broker.flux("job", "memo", held, "uri=local:///tmp/waited/local"))
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert (waiter.returncode, out, err) == (
        0, "local:///tmp/waited/local\n", "")
    gone = submit(broker, "--urgency=0", "true")
    ok(broker.flux("cancel", gone))
    ok(broker.flux("job", "wait-event", "-t", "60", gone, "clean"))
    one_line_error(broker.flux("uri", "--wait", gone),
                   f"flux-uri: ERROR: jobid {gone} is not running")
