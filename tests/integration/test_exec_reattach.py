"""Running jobs outlive their brokers on a real 4-broker instance: rank 0
killed with SIGKILL and started again, then a follower; every job ends
with exit 0 and its whole output (issue 19)."""

import shutil

from tests.integration.admin_helpers import make_instance  # noqa: F401

SH = "/bin/sh"


def _counter(n, flag):
    """Each task prints 0..n-1, waiting for the file ``flag`` half way."""
    return ["-c", f"i=0; while [ $i -lt {n} ]; do echo $i; i=$((i+1));"
            f" [ $i = {n // 2} ] && while [ ! -e {flag} ]; do sleep 0.1;"
            f" done; sleep 0.02; done"]


def test_jobs_survive_rank0_and_follower_restarts(make_instance, tmp_path):
    inst = make_instance(4)
    state = tmp_path / "state0"
    state.mkdir()
    inst[0].attrs["statedir"] = str(state)
    flag = tmp_path / "go-on"
    try:
        inst.start()
        jobs = [inst[0].flux("submit", "-N4", "-n4", SH,
                             *_counter(20, flag)).out.strip()
                for _ in range(2)]
        for jobid in jobs:
            inst[0].flux("job", "wait-event", "-p", "exec", jobid,
                         "shell.start")
        inst[0].kill()
        inst.start([0])
        for jobid in jobs:
            inst[0].flux("job", "wait-event", "-p", "exec", jobid,
                          "reattach-finish")
        inst[2].kill()
        inst.start([2])
        flag.write_text("")
        for jobid in jobs:
            result = inst[0].flux("job", "attach", "-l", jobid)
            assert (result.rc, result.err) == (0, ""), result.err[-600:]
            for task in range(4):
                lines = [line.split(": ", 1)[1]
                         for line in result.out.splitlines()
                         if line.startswith(f"{task}: ")]
                assert lines == [str(i) for i in range(20)]
    finally:
        inst.stop()
        for broker in inst.brokers:
            shutil.rmtree(broker.attrs["rundir"], ignore_errors=True)
