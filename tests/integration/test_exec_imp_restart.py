"""Guests' jobs outlive their brokers (issue 19, point 4) on the guide's
multi-user system instance (root only): alice's job, run as alice
through the IMP on three brokers run as ``flux``, survives ``kill -9``
of rank 0 and then of a follower and ends with exit 0 and its whole
output; bob cannot take its shells over; ``flux shutdown`` still ends
guests' jobs."""

import json
import os
import shutil
import time

import pytest

from tests.integration.multiuser import NEEDS_ROOT_AND_MUNGE
from tests.integration.system_helpers import running_system
from tests.integration.test_system_instance import (
    user_commands, user_processes)

pytestmark = [
    *NEEDS_ROOT_AND_MUNGE,
    pytest.mark.skipif(shutil.which("sudo") is None
                       or shutil.which("visudo") is None
                       or shutil.which("runuser") is None,
                       reason="needs sudo, visudo and runuser"),
]

#: bob's shell: connect to a broker's socket for IMP shells and say hello
#: for a job; prints the broker's answer
HIJACK = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(json.dumps({"op": "hello", "id": int(sys.argv[2]), "pid": 1,
                      "start": None}).encode() + b"\\n")
f = s.makefile("rb")
print(f.readline().decode().strip())
print(repr(f.read()))
"""


@pytest.fixture
def system():
    yield from running_system()


def _counter(n, flag):
    """Each task prints 0..n-1, waiting for the file ``flag`` half way."""
    return ["sh", "-c", f"i=0; while [ $i -lt {n} ]; do echo $i;"
            f" i=$((i+1)); [ $i = {n // 2} ] && while [ ! -e {flag} ];"
            f" do sleep 0.1; done; sleep 0.02; done"]


def _flux0(s, *argv):
    result = s.brokers[0].flux(*argv)
    assert result.rc == 0, result.err
    return result.out


def _restart(s, rank):
    s.brokers[rank].kill()
    s.brokers[rank].start(wait=False)
    s.brokers[rank].wait_for("broker ready", timeout=60)


def _records(s):
    found = []
    for rank in range(len(s.brokers)):
        d = os.path.join(s.brokers[rank].attrs["rundir"],
                         f"imp-shells-{rank}.d")
        found += os.listdir(d) if os.path.isdir(d) else []
    return found


def test_guest_job_survives_kill_9_of_rank0_then_a_follower(system):
    s = system
    flag = s.mu.path("go-on")
    rc, out, err = s.as_user(s.alice, "submit", "-N3", "-n3",
                             *_counter(20, flag))
    assert rc == 0, err
    jobid = out.strip()
    _flux0(s, "job", "wait-event", "-t", "60", "-p", "exec", jobid,
           "shell.start")
    _restart(s, 0)
    _flux0(s, "job", "wait-event", "-t", "60", "-p", "exec", jobid,
           "reattach-finish")

    # bob cannot take over alice's shells, nor pose as a shell here
    numeric = json.loads(_flux0(s, "job", "id", "--to=dec", jobid))
    sock = os.path.join(s.brokers[1].attrs["rundir"], "imp-shells-1.sock")
    for jobnum, why in ((numeric, "that job is not yours"),
                        (numeric + 1, "no such job shell here")):
        rc, out, err = s.mu.python_as(s.bob, ["-c", HIJACK, sock,
                                              str(jobnum)])
        assert rc == 0, err
        assert out.splitlines() == [
            json.dumps({"op": "refused", "error": why},
                       separators=(",", ":")), "b''"]
    assert "refused a connection (uid %d) for job %d: that job is not" \
        " yours" % (s.bob.pw_uid, numeric) in s.brokers[1].log_text

    _restart(s, 1)
    # the follower took its shell up again: its output flows on
    os.close(os.open(flag, os.O_CREAT | os.O_WRONLY, 0o644))
    rc, out, err = s.as_user(s.alice, "job", "attach", "-l", jobid)
    assert (rc, err) == (0, "")
    for task in range(3):
        lines = [line.split(": ", 1)[1] for line in out.splitlines()
                 if line.startswith(f"{task}: ")]
        assert lines == [str(i) for i in range(20)]
    names = [line.split()[1] for line in _flux0(
        s, "job", "eventlog", "-p", "exec", jobid).splitlines()]
    assert names.count("recoverable") == 1 and "reattach" in names
    assert names[-1] == "done"
    _flux0(s, "job", "wait-event", "-t", "60", jobid, "clean")
    deadline = time.monotonic() + 30
    while user_processes(s.alice.pw_uid) or _records(s):
        assert time.monotonic() < deadline, "alice's processes remain"
        time.sleep(0.1)


def test_instance_shutdown_ends_guest_jobs(system):
    s = system
    rc, out, err = s.as_user(s.alice, "submit", "-N3", "sleep", "300")
    assert rc == 0, err
    jobid = out.strip()
    _flux0(s, "job", "wait-event", "-t", "60", "-p", "exec", jobid,
           "shell.start")
    assert user_commands(s.alice.pw_uid).count("sleep") == 3
    _flux0(s, "shutdown")
    for broker in s.brokers:
        broker.wait(timeout=60)
    assert user_processes(s.alice.pw_uid) == []
    assert _records(s) == []

