"""job-list, job-info, ``flux jobs`` and the ``flux job`` readers on real
brokers.

Jobs are submitted with the stdlib client through ``job-ingest.submit``
(a J signed with the ``none`` mechanism) and canceled with
``job-manager.raise``; the queue is stopped first, so the others stay
pending (jobs that run are in ``test_jobs_results.py``).  A
watcher (``flux job eventlog -F``) is started before the cancel and must
end by itself once the job is inactive; nothing sleeps.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import tomli_w

from fluxd.client.sync import Flux
from fluxd.formats import fluid
from fluxd.formats.jobspec import from_command
from fluxd.message.types import ROLE_OWNER
from fluxd.security.sign import wrap_none
from fluxd.testing.cli import flux_executable
from fluxd.testing.users import temporary_user
from tests.integration.lifecycle_helpers import (
    SYSTEM_PYTHON, make_broker, run_as_guest, shared_dir)

__all__ = ["make_broker", "shared_dir"]     # fixtures


def submit(h, *commands, userid=None):
    """Submit one job per command; returns the ids."""
    jobs = []
    for command in commands:
        spec = from_command(list(command))
        jobs.append({"J": wrap_none(json.dumps(spec).encode(),
                                    userid if userid is not None
                                    else os.getuid()),
                     "urgency": 16, "flags": 0})
    answer = h.rpc("job-ingest.submit", {"jobs": jobs})
    return [job["id"] for job in answer["jobs"]]


def stop_queue(h):
    """Keep submitted jobs pending: no allocation while stopped."""
    h.rpc("job-manager.queue-start", {"all": True, "start": False,
                                      "reason": "listing tests"})


def cancel(h, jobid, note="by test"):
    h.rpc("job-manager.raise", {"id": jobid, "severity": 0,
                                "type": "cancel", "note": note})


def test_one_broker(broker):
    with Flux(broker.uri) as h:
        stop_queue(h)
        sleeper, host, other = submit(h, ["sleep", "60"], ["hostname"],
                                      ["true"])
    f58 = fluid.encode(host, "f58")
    watcher = subprocess.Popen(
        [flux_executable(), "job", "eventlog", "-F", f58],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, FLUX_URI=broker.uri))
    assert watcher.stdout.readline().split()[1] == "submit"

    r = broker.flux("jobs")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == ("       JOBID USER     NAME       ST NTASKS NNODES"
                        "     TIME INFO")
    assert [line.split()[2:4] for line in lines[1:]] == [
        ["sleep", "S"], ["hostname", "S"], ["true", "S"]]

    with Flux(broker.uri) as h:
        cancel(h, host)
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert out.split("\n")[-2].split()[1] == "clean"

    r = broker.flux("job", "wait-event", "-t", "30", f58, "clean")
    assert (r.rc, r.out.split()[1:]) == (0, ["clean"])
    r = broker.flux("jobs", "-a", "-o", "endreason")
    row = [line for line in r.out.splitlines() if f58 in line][0]
    assert row.split()[3] == "CA"
    assert row.endswith("Canceled: by test")
    assert broker.flux("jobs", "-f", "canceled", "-no", "{id}").out == \
        f"{host}\n"
    assert broker.flux("jobs", "--stats-only").out == \
        "0 running, 0 completed, 1 failed, 2 pending, 0 inactive purged\n"

    r = broker.flux("job", "status", "-vv", f58)
    assert (r.rc, r.err) == (1, f"flux-job: {f58}: exception type=cancel\n")
    r = broker.flux("job", "info", str(sleeper), "jobspec")
    assert json.loads(r.out)["tasks"][0]["command"] == ["sleep", "60"]
    r = broker.flux("job", "info", "-o", str(sleeper), "jobspec")
    assert "environment" in json.loads(r.out)["attributes"]["system"]
    r = broker.flux("job", "eventlog", "-f", "json", str(host))
    assert [json.loads(x)["name"] for x in r.out.splitlines()][-2:] == [
        "exception", "clean"]
    assert broker.flux("job", "last").out == fluid.encode(other, "f58") + \
        "\n"
    job = json.loads(broker.flux("jobs", "--json", str(host)).out)
    assert (job["result"], job["returncode"]) == ("CANCELED", -128)

    # bad input: one line, non-zero exit, the broker unharmed
    for argv, err in (
            (["jobs", "0"], "JobID 0 unknown\n"),
            (["jobs", "-f", "bogus"],
             "flux-jobs: ERROR: Invalid filter specified: bogus\n"),
            (["jobs", "-u", "nosuchuserfoo"],
             "flux-jobs: ERROR: Invalid user nosuchuserfoo specified\n"),
            (["job", "eventlog", "f1"], "flux-job: job f1 not found\n"),
            (["job", "info", "nojob", "R"],
             'flux-job: error parsing jobid: "nojob"\n'),
            (["job", "info", f58, "R"], "flux-job: R: key not found\n"),
            (["job", "wait-event", f58, "start"],
             "flux-job: event 'start' never received\n")):
        r = broker.flux(*argv)
        assert (r.rc, r.err) == (1, err), argv
    assert broker.flux("jobs", "-no", "{id}").out.split() == [
        str(sleeper), str(other)]


SCRIPT = textwrap.dedent("""
import json, os, subprocess, sys
from fluxd.client.sync import Flux
from fluxd.formats.jobspec import from_command
from fluxd.security.sign import wrap_none
FLUX = os.path.join(os.path.dirname(sys.executable), "flux")
DIR = os.environ["FLUXD_START_DIR"]

def uri(rank):
    return f"local://{DIR}/rank-{rank}/local"

def flux(rank, *args):
    p = subprocess.run([FLUX, *args], capture_output=True, text=True,
                       env=dict(os.environ, FLUX_URI=uri(rank)))
    return p.returncode, p.stdout, p.stderr

with Flux(uri(0)) as h:
    h.rpc("job-manager.queue-start", {"all": True, "start": False})
with Flux(uri(3)) as h:
    jobs = [{"J": wrap_none(json.dumps(from_command(c)).encode(),
                            os.getuid()), "urgency": u, "flags": 0}
            for c, u in ((["sleep", "9"], 16), (["date"], 20),
                         (["held"], 0))]
    ids = [j["id"] for j in h.rpc("job-ingest.submit", {"jobs": jobs})["jobs"]]
print("IDS", *ids)
w = subprocess.Popen([FLUX, "job", "eventlog", "-F", str(ids[0])],
                     stdout=subprocess.PIPE, text=True,
                     env=dict(os.environ, FLUX_URI=uri(2)))
print("FIRST", w.stdout.readline().split()[1])
rc, out, err = flux(3, "jobs", "-no", "{id} {status_abbrev} {contextual_info}")
print("PENDING", json.dumps(out.splitlines()))
with Flux(uri(1)) as h:
    h.rpc("job-manager.raise", {"id": ids[0], "severity": 0,
                                "type": "cancel", "note": "from rank 1"})
rest, _ = w.communicate(timeout=60)
print("WATCHED", w.returncode, rest.split()[-1])
rc, out, err = flux(3, "jobs", "-a", "-o", "endreason")
print("ENDREASON", json.dumps(out.splitlines()))
rc, out, err = flux(2, "job", "status", "-j", str(ids[0]))
print("STATUS", rc, out.strip())
rc, out, err = flux(3, "jobs", "-a", "--stats")
print("STATS", out.splitlines()[0])
rc, out, err = flux(3, "job", "last", "[:]")
print("LAST", *out.split())
rc, out, err = flux(1, "jobs", "42")
print("UNKNOWN", rc, err.strip())
""")


def test_four_brokers(tmp_path):
    path = tmp_path / "script.py"
    path.write_text(SCRIPT)
    proc = subprocess.run(
        [flux_executable(), "start", "--test-size=4", sys.executable,
         str(path)], capture_output=True, text=True, timeout=300,
        cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    ids = lines["IDS"].split()
    assert lines["FIRST"] == "submit"
    # pending by priority: urgency 20, 16, then the held job
    assert json.loads(lines["PENDING"]) == [
        f"{ids[1]} S ", f"{ids[0]} S ", f"{ids[2]} S held"]
    assert lines["WATCHED"] == "0 clean"
    rows = json.loads(lines["ENDREASON"])
    assert rows[0].split()[-3:] == ["ST", "T_INACTIVE", "INACTIVE-REASON"]
    canceled = [row for row in rows if row.endswith("Canceled: from rank 1")]
    assert len(canceled) == 1 and " CA " in canceled[0]
    rc, status = lines["STATUS"].split(" ", 1)
    result = json.loads(status)
    assert (rc, result["id"], result["result"], result["exception_type"]) \
        == ("1", int(ids[0]), 4, "cancel")
    assert lines["STATS"] == ("0 running, 0 completed, 1 failed, 2 pending,"
                              " 0 inactive purged")
    assert lines["LAST"].split() == [fluid.encode(int(i), "f58")
                                     for i in reversed(ids)]
    assert lines["UNKNOWN"] == "1 JobID 42 unknown"


@pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                    reason="needs root to create a user")
def test_real_guest(make_broker, shared_dir):
    rundir = os.path.join(shared_dir, "run")
    os.makedirs(rundir)
    os.chmod(rundir, 0o755)
    config = os.path.join(shared_dir, "guest.toml")
    with open(config, "wb") as f:
        tomli_w.dump({"access": {"allow-guest-user": True}}, f)
    broker = make_broker(config_path=config,
                         attrs={"rundir": rundir,
                                "local-uri": f"local://{rundir}/local"}
                         ).start()
    with temporary_user() as user:
        with Flux(broker.uri) as h:
            stop_queue(h)
            mine, = submit(h, ["hostname"])
        # the owner may act as another user: a job that user owns
        with Flux(broker.uri, userid=user.pw_uid, rolemask=ROLE_OWNER) as h:
            theirs, = submit(h, ["date"], userid=user.pw_uid)

        def guest(*argv):
            return run_as_guest(
                user, shared_dir,
                f"from fluxd.cli.main import main; main({list(argv)!r})",
                env={"FLUX_URI": broker.uri})
        r = guest("jobs", "-A", "-no", "{id} {userid}")
        assert (r.returncode, r.stdout.split()) == (
            0, [str(mine), str(os.getuid()), str(theirs), str(user.pw_uid)])
        r = guest("job", "info", str(theirs), "jobspec")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["tasks"][0]["command"] == ["date"]
        r = guest("job", "eventlog", str(mine))
        assert (r.returncode, r.stderr) == (
            1, "flux-job: access is restricted to job/instance owner\n")
        # private mode, turned on by a reload: the guest sees its own only
        with open(config, "wb") as f:
            tomli_w.dump({"access": {"allow-guest-user": True,
                                     "private-mode": True}}, f)
        assert broker.flux("config", "reload").rc == 0
        r = guest("jobs", "-A", "-no", "{id} {userid}")
        assert (r.returncode, r.stdout.split()) == (
            0, [str(theirs), str(user.pw_uid)])
        r = guest("jobs", "-no", "{id}", str(mine))
        assert r.returncode != 0 and str(mine) not in r.stdout
    assert broker.flux("jobs", "-no", "{id}").out == f"{mine}\n"
