"""Jobs survive restarts: a clean stop, and ``kill -9`` during submission.

Real brokers with a statedir; jobs submitted through ``job-ingest.submit``
with the stdlib client (what ``flux submit`` uses), held so that they
stay pending whatever runs.
"""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap

import pytest

from fluxd.client.sync import Flux
from fluxd.formats.jobspec import from_command
from fluxd.job.manager import job_key
from fluxd.security.sign import wrap_none

pytestmark = pytest.mark.slow


def signed(command=("true",)):
    jobspec = from_command(list(command))
    jobspec["attributes"]["system"]["environment"] = {}
    return wrap_none(json.dumps(jobspec).encode(), os.getuid())


def submit(h, count, urgency=0, batch=100):
    entry = {"J": signed(), "urgency": urgency, "flags": 0}
    ids = []
    for first in range(0, count, batch):
        answer = h.rpc("job-ingest.submit",
                       {"jobs": [entry] * min(batch, count - first)})
        ids += [a["id"] for a in answer["jobs"]]
    return ids


def eventlog(h, jobid):
    answer = h.rpc("kvs.lookup", {"namespace": "primary", "flags": 0,
                                  "key": f"{job_key(jobid)}.eventlog"})
    import base64
    text = base64.b64decode(answer["val"]["data"]).decode()
    return [json.loads(line) for line in text.splitlines()]


def start(broker_factory, tmp_path, name="b"):
    state = tmp_path / "state"
    return broker_factory(attrs={"statedir": str(state)}, name=name)


def test_held_jobs_survive_a_clean_restart(broker_factory, tmp_path):
    broker = start(broker_factory, tmp_path)
    with Flux(broker.uri) as h:
        ids = submit(h, 1000)
        h.rpc("job-manager.urgency", {"id": ids[7], "urgency": 3})
        before = {jobid: eventlog(h, jobid) for jobid in ids[:10]}
    broker.stop()
    broker.start()
    with Flux(broker.uri) as h:
        status = h.rpc("job-manager.queue-status", {})
        assert status["enable"], status
        for jobid, events in before.items():
            after = eventlog(h, jobid)
            assert after[:len(events)] == events
            assert after[-2]["name"] == "flux-restart"
        assert h.rpc("job-manager.getinfo", {})["max_jobid"] == max(ids)
        # every job is back, pending, with its urgency
        urgency = h.rpc("job-manager.urgency", {"id": ids[7], "urgency": 0})
        assert urgency == {"old_urgency": 3}
        for jobid in ids:
            assert h.rpc("job-manager.urgency",
                         {"id": jobid, "urgency": 0})["old_urgency"] == 0
        [new] = submit(h, 1)
        assert new > max(ids)


SUBMITTER = textwrap.dedent("""
    import json, os, sys
    from fluxd.client.sync import Flux
    from fluxd.errors import FluxError
    entry = {"J": sys.argv[2], "urgency": 0, "flags": 0}
    try:
        with Flux(sys.argv[1]) as h:
            for _ in range(int(sys.argv[3]) // 10):
                answer = h.rpc("job-ingest.submit", {"jobs": [entry] * 10})
                for a in answer["jobs"]:
                    print(a["id"], flush=True)
    except (FluxError, OSError):
        sys.exit(1)
""")


@pytest.mark.parametrize("attempt", range(5))
def test_kill_9_during_submission_loses_no_printed_id(broker_factory, tmp_path,
                                                      attempt):
    broker = start(broker_factory, tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", SUBMITTER, broker.uri,
                             signed(), "2000"], stdout=subprocess.PIPE,
                            text=True)
    printed = []
    threshold = 100 + random.Random(attempt).randrange(0, 800)
    for line in proc.stdout:
        printed.append(int(line))
        if len(printed) >= threshold:
            broker.proc.send_signal(signal.SIGKILL)
            break
    printed += [int(line) for line in proc.stdout]
    proc.wait()
    broker.wait()
    broker.start()
    with Flux(broker.uri) as h:
        status = h.rpc("job-manager.queue-status", {})
        assert not status["enable"]      # safe mode after the crash
        assert "safe mode" in status["disable_reason"]
        for jobid in printed:
            # every printed id is a job the manager knows (EINVAL would
            # mean unknown)
            assert h.rpc("job-manager.urgency", {"id": jobid, "urgency": 0}
                         ) == {"old_urgency": 0}
        h.rpc("job-manager.queue-enable", {"enable": True})
        h.rpc("job-manager.queue-start", {"start": True})
        new = submit(h, 50)
        assert min(new) > max(printed)
        assert not set(new) & set(printed)
