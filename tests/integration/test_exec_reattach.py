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


def _start_counters(inst, tmp_path):
    """Rank 0 keeps its statedir; two 4-node counter jobs run, held half
    way until the returned flag file exists."""
    state = tmp_path / "state0"
    state.mkdir()
    inst[0].attrs["statedir"] = str(state)
    flag = tmp_path / "go-on"
    inst.start()
    jobs = [inst[0].flux("submit", "-N4", "-n4", SH,
                         *_counter(20, flag)).out.strip()
            for _ in range(2)]
    for jobid in jobs:
        inst[0].flux("job", "wait-event", "-p", "exec", jobid, "shell.start")
    return jobs, flag


def _wait_reattached(inst, jobs):
    for jobid in jobs:
        inst[0].flux("job", "wait-event", "-p", "exec", jobid,
                     "reattach-finish")


def _check_whole_output(inst, jobs, flag):
    """Let the jobs go on; each ends with exit 0 and every task's whole
    output, in order."""
    flag.write_text("")
    for jobid in jobs:
        result = inst[0].flux("job", "attach", "-l", jobid)
        assert (result.rc, result.err) == (0, ""), result.err[-600:]
        for task in range(4):
            lines = [line.split(": ", 1)[1]
                     for line in result.out.splitlines()
                     if line.startswith(f"{task}: ")]
            assert lines == [str(i) for i in range(20)]


def _stop(inst):
    inst.stop()
    for broker in inst.brokers:
        shutil.rmtree(broker.attrs["rundir"], ignore_errors=True)


def test_jobs_survive_rank0_and_follower_restarts(make_instance, tmp_path):
    inst = make_instance(4)
    try:
        jobs, flag = _start_counters(inst, tmp_path)
        inst[0].kill()
        inst.start([0])
        _wait_reattached(inst, jobs)
        inst[2].kill()
        inst.start([2])
        _check_whole_output(inst, jobs, flag)
    finally:
        _stop(inst)


def test_jobs_survive_followers_gone_with_their_parent(make_instance,
                                                       tmp_path):
    # systemctl restart flux on rank 0: the followers stop because their
    # parent went away (broker.exit-restart) and are started again as
    # the unit's Restart= would
    inst = make_instance(4)
    try:
        jobs, flag = _start_counters(inst, tmp_path)
        inst[0].stop()
        for rank in (1, 2, 3):
            inst[rank].wait(timeout=60)
            assert "overlay: parent is shutting down" in inst[rank].log_text
        inst.start()
        _wait_reattached(inst, jobs)
        _check_whole_output(inst, jobs, flag)
    finally:
        _stop(inst)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _task_pids(broker, jobid, count):
    broker.flux("job", "wait-event", "-p", "output", "-c", str(count),
                jobid, "data")
    out = broker.flux("job", "eventlog", "-f", "json", "-p", "output",
                      jobid).out
    return [int(line.split('"data":"')[1].split("\\n")[0])
            for line in out.splitlines() if '"data":"' in line]


def test_instance_shutdown_ends_jobs_on_every_rank(make_instance):
    inst = make_instance(4)
    try:
        inst.start()
        jobid = inst[0].flux("submit", "-N4", "-n4", SH, "-c",
                             "echo $$; exec sleep 60").out.strip()
        pids = _task_pids(inst[0], jobid, 4)
        assert len(pids) == 4 and all(_alive(pid) for pid in pids)
        assert inst[0].flux("shutdown").rc == 0
        for broker in inst.brokers:
            broker.wait(timeout=60)
        assert not any(_alive(pid) for pid in pids)
    finally:
        _stop(inst)


def test_a_node_away_too_long_loses_its_jobs(make_instance):
    inst = make_instance(4, files={"tbon.toml":
                                   '[tbon]\ntcp_user_timeout = "2s"\n'})
    try:
        inst.start()
        jobid = inst[0].flux("submit", "-N4", "-n4", SH, "-c",
                             "echo $$; exec sleep 60").out.strip()
        _task_pids(inst[0], jobid, 4)
        inst[3].kill()
        result = inst[0].flux("job", "attach", jobid)
        assert result.rc == 143
        assert "type=lost-shell severity=0 rank 3: its broker stayed away" \
            in result.err
    finally:
        _stop(inst)


DELAY = '''
import os
import time


def flux_plugin_init(p):
    def delay(shell, topic, task):
        # the last shell is slow to start: it waits for the flag
        if shell.rank == 3:
            deadline = time.monotonic() + 60
            while not os.path.exists({flag!r}) \\
                    and time.monotonic() < deadline:
                time.sleep(0.05)
    p.add_handler("shell.init", delay)
'''


def test_restart_before_every_shell_started_fails_cleanly(make_instance,
                                                          tmp_path):
    # rank 0 is killed while the shells of ranks 0-2 wait at the start
    # barrier for the slow one of rank 3: the job was never recoverable
    # (RFC 50): once back, rank 0 fails it with the reason, every shell
    # (the slow one too, when it gets there) ends without starting a
    # task, and its nodes are free again
    inst = make_instance(4)
    state = tmp_path / "state0"
    state.mkdir()
    inst[0].attrs["statedir"] = str(state)
    inst.start()
    try:
        flag = tmp_path / "slow-go"
        plugin = tmp_path / "delay.py"
        plugin.write_text(DELAY.format(flag=str(flag)))
        initrc = tmp_path / "initrc.py"
        initrc.write_text(f"plugin.load({str(plugin)!r})\n")
        ran = tmp_path / "ran"
        ran.mkdir()
        jobid = inst[0].flux(
            "submit", "-N4", "-n4", "-o", f"initrc={initrc}", SH, "-c",
            f"touch {ran}/$FLUX_TASK_RANK; sleep 300").out.strip()
        # three shells reached init; the fourth is held in its plugin
        inst[0].flux("job", "wait-event", "-p", "exec", jobid, "starting")
        assert "shell.init" not in inst[0].flux(
            "job", "eventlog", "-p", "exec", jobid).out
        inst[0].kill()
        inst.start([0])
        assert inst[0].flux("job", "wait-event", "-t", "60", jobid,
                            "exception").rc == 0
        flag.write_text("")
        result = inst[0].flux("job", "attach", jobid)
        assert result.rc != 0
        assert "type=exec severity=0 job shells are not recoverable: the" \
            " broker restarted before they all started" in result.err
        assert inst[0].flux("job", "wait-event", "-t", "60", jobid,
                            "clean").rc == 0
        names = [line.split()[1] for line in inst[0].flux(
            "job", "eventlog", "-p", "exec", jobid).out.splitlines()]
        assert "recoverable" not in names and "reattach" in names
        notes = [line.split(" ", 2)[2] for line in inst[0].flux(
            "job", "eventlog", jobid).out.splitlines()
            if line.split()[1] == "exception"]
        assert notes == ["type=\"exec\" severity=0 note=\"job shells"
                         " are not recoverable: the broker restarted before"
                         " they all started\""], notes
        # (clean: every shell, the slow one too, reported its exit)
        assert list(ran.iterdir()) == []
        # every node is free: a 4-node job runs at once (out of the safe
        # mode of a broker that was killed)
        assert inst[0].flux("queue", "enable").rc == 0
        assert inst[0].flux("queue", "start").rc == 0
        result = inst[0].flux("run", "-N4", "true")
        assert result.rc == 0, result.err
        assert inst[0].flux("resource", "drain", "-n").out == ""
    finally:
        _stop(inst)
