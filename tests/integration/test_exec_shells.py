"""Jobs run by real job shells on real brokers (fluxd.exec, flux_shell):
output, environment, exit codes, signals, time limits, bad input."""

import json
import os
import re
import subprocess
import time

import pytest

from fluxd.client.sync import Flux
from fluxd.testing.cli import flux_executable
from tests.integration.four import run_on_four

SH = "/bin/sh"


@pytest.fixture
def quick(broker_factory, tmp_path):
    """A broker whose kill sequence is fast (kill-timeout 0.2s)."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "exec.toml").write_text('[exec]\nkill-timeout = "0.2s"\n')
    return broker_factory(config_path=str(conf))


def test_output_environment_and_labels(broker):
    result = broker.flux("run", "-n2", "-l", SH, "-c",
                         "echo $FLUX_TASK_RANK $FLUX_TASK_LOCAL_ID"
                         " $FLUX_JOB_SIZE $FLUX_JOB_NNODES; echo e >&2")
    assert result.rc == 0, result
    assert sorted(result.out.splitlines()) == ["0: 0 0 2 1", "1: 1 1 2 1"]
    assert sorted(result.err.splitlines()) == ["0: e", "1: e"]
    result = broker.flux("run", "-v", "--cwd=/", SH, "-c",
                         'echo $FLUX_JOB_ID; echo "$FLUX_URI"; pwd')
    jobid = result.err.split()[1]
    assert result.out.splitlines() == [jobid, broker.uri, "/"]


def test_tasks_get_the_submitters_environment_and_a_job_tmpdir(broker,
                                                               tmp_path):
    # the stored jobspec has no environment (only J keeps it): the
    # shells get it back from J
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(broker.env, FLUXD_TEST_VAR="kept value", TMPDIR=str(tmp))
    known = exec_stats(broker)["J-known-hits"]
    result = broker.flux("run", "-n2", "-l", SH, "-c",
                         'echo "$FLUXD_TEST_VAR $PATH";'
                         ' test -d "$FLUX_JOB_TMPDIR" && echo "$FLUX_JOB_TMPDIR";'
                         ' touch "$FLUX_JOB_TMPDIR/f$FLUX_TASK_RANK"',
                         env=env)
    assert result.rc == 0, result.err
    task0 = [line[3:] for line in result.out.splitlines()
             if line.startswith("0: ")]
    task1 = [line[3:] for line in result.out.splitlines()
             if line.startswith("1: ")]
    assert task0[0] == task1[0] == f"kept value {env['PATH']}"
    # both tasks of the one shell share its directory
    assert task0[1] == task1[1]
    assert task0[1].startswith(f"{tmp}/jobtmp-0-ƒ")
    # the job's temporary directory is gone with the job, with what the
    # tasks left in it; an empty one is kept for the shell process's
    # next job (flux_shell.jobtmp), under another name
    assert os.listdir(tmp) == []
    assert broker.flux("run", "true", env=env).rc == 0
    left = os.listdir(tmp)
    assert [name.split("-")[:2] for name in left] == [["jobtmp", "spare"]]
    assert os.listdir(tmp / left[0]) == []
    jobid = broker.flux("job", "last").out.strip()
    spec = broker.flux("job", "info", jobid, "jobspec").out
    assert "kept value" not in spec and "environment" not in spec
    # J went from the submission to the start in memory, both times
    assert exec_stats(broker)["J-known-hits"] == known + 2


def exec_stats(broker):
    with Flux(broker.uri) as h:
        return h.rpc("job-exec.stats-get", {})


def test_output_eventlog_is_rfc24(broker):
    jobid = broker.flux("submit", "-n2", SH, "-c", "seq 1 3").out.strip()
    assert broker.flux("job", "status", jobid).rc == 0
    lines = broker.flux("job", "eventlog", "-f", "json", "-p", "output",
                        jobid).out.splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries[0]["name"] == "header"
    assert entries[0]["context"]["count"] == {"stdout": 2, "stderr": 2}
    data = [e["context"] for e in entries[1:] if "data" in e["context"]]
    text = {c["rank"]: "" for c in data}
    for c in data:
        text[c["rank"]] += c["data"]
    assert text == {"0": "1\n2\n3\n", "1": "1\n2\n3\n"}
    # batched: a few entries, not one per line
    assert len(data) <= 4
    events = [json.loads(line) for line in broker.flux(
        "job", "eventlog", "-f", "json", "-p", "exec", jobid
    ).out.splitlines()]
    # RFC 50: recoverable once the shells run, shell-exit of the leader
    assert [e["name"] for e in events] == [
        "init", "starting", "recoverable", "shell.init", "shell.start",
        "shell-exit", "complete", "done"]
    assert "context" not in events[2]
    assert events[5]["context"] == {"rank": 0, "wait_status": 0}
    assert broker.flux("job", "taskmap", jobid).out == \
        '{"version":1,"map":[[0,1,2,1]]}\n'


def test_unbuffered_output(broker):
    script = "printf partial; sleep 0.3; echo done"
    for opts, chunks in ((["-u"], ["partial", "done\n"]),
                         ([], ["partialdone\n"])):
        result = broker.flux("run", "-v", *opts, SH, "-c", script)
        assert result.out == "partialdone\n"
        jobid = result.err.split()[1]
        entries = [json.loads(line) for line in broker.flux(
            "job", "eventlog", "-f", "json", "-p", "output", jobid
        ).out.splitlines()]
        assert [e["context"]["data"] for e in entries
                if e["context"].get("stream") == "stdout"
                and "data" in e["context"]] == chunks


def test_exit_codes_and_start_failures(broker):
    result = broker.flux("run", SH, "-c", "exit 3")
    assert (result.rc, result.err) == (
        3, "flux-job: task(s) exited with exit code 3\n")
    result = broker.flux("run", SH, "-c", "kill -9 $$")
    # SIGTERM'ed after the exception, or SIGKILLed with the shells when
    # the broker stopped first
    assert result.rc in (143, 137)
    result = broker.flux("run", "/nonexistent/cmd")
    assert result.rc == 127
    assert re.search(r"\d+\.\d{3}s: flux-shell\[0\]: FATAL: task 0 \(host"
                     r" .+\): start failed: /nonexistent/cmd: No such file or"
                     r" directory\n", result.err), result.err
    assert "type=exec severity=0 task 0 (host" in result.err
    result = broker.flux("run", "--cwd=/nonexistent", "pwd")
    assert result.rc == 0 and result.out == "/tmp\n"
    assert "flux-shell[0]: ERROR: Couldn't change dir to /nonexistent: No" \
        " such file or directory: going to /tmp instead" in result.err
    result = broker.flux("submit", "--wait", SH, "-c", "exit 4")
    assert result.rc == 4
    assert broker.flux("job", "status", result.out.strip()).rc == 4


def test_shell_that_crashes(broker):
    result = broker.flux("run", SH, "-c", "kill -9 $PPID; sleep 5")
    assert result.rc == 137
    assert re.search(r"type=exec severity=0 job shell on rank 0 \(host .+\)"
                     r" died by signal 9 \(Killed\)", result.err)
    assert "flux-job: job shell Killed" in result.err
    # the broker goes on running jobs
    assert broker.flux("run", "true").rc == 0


def test_shell_server_that_dies(broker):
    # the task's parent is its shell, whose parent is the shell server
    jobid = broker.flux("submit", SH, "-c", "echo $(ps -o ppid= -p $PPID);"
                        " sleep 30").out.strip()
    broker.flux("job", "wait-event", "-p", "output", jobid, "data")
    entries = [json.loads(line) for line in broker.flux(
        "job", "eventlog", "-f", "json", "-p", "output", jobid
    ).out.splitlines()]
    server = [e["context"]["data"] for e in entries
              if e["context"].get("data")][0]
    os.kill(int(server), 9)
    result = broker.flux("job", "attach", jobid)
    assert result.rc == 137
    assert "type=exec severity=0 rank 0: the shell server exited: job" \
        " shell lost" in result.err
    # the next job starts a new server
    assert broker.flux("run", "echo", "again").out == "again\n"


def test_output_files_and_input(broker, tmp_path):
    result = broker.flux("run", "-v", f"--output={tmp_path}/out-{{{{id}}}}",
                         f"--cwd={tmp_path}", "echo", "to a file")
    assert result.rc == 0 and result.out == ""
    jobid = result.err.split()[1]
    assert (tmp_path / f"out-{jobid}").read_text() == "to a file\n"
    assert f"0: stdout redirected to {tmp_path}/out-{jobid}" in result.err
    result = broker.flux("run", "--output=/nonexistent/dir/out", "true")
    assert result.rc == 1
    assert "flux-shell[0]: FATAL: output: error opening /nonexistent/dir/out:" \
        " No such file or directory" in result.err
    (tmp_path / "in").write_text("from stdin\n")
    result = broker.flux("run", f"--input={tmp_path}/in", "cat",
                         stdin="not read\n")
    assert (result.rc, result.out) == (0, "from stdin\n")
    # the command's stdin goes to every task, logged in guest.input
    result = broker.flux("run", "-v", "-n2", "-l", "cat", stdin="x\ny\n")
    assert result.rc == 0
    assert sorted(result.out.splitlines()) == ["0: x", "0: y", "1: x", "1: y"]
    jobid = result.err.split()[1]
    names = [line.split()[1] for line in broker.flux(
        "job", "eventlog", "-p", "input", jobid).out.splitlines()]
    assert names[0] == "header" and names[-1] == "data"
    jobid = broker.flux("submit", "cat").out.strip()
    result = broker.flux("job", "attach", jobid, stdin="typed\n")
    assert (result.rc, result.out) == (0, "typed\n")


def test_output_limit(broker):
    result = broker.flux("run", "-o", "output.limit=100", SH, "-c",
                         "yes | head -c 100000")
    assert result.rc == 0
    assert len(result.out) == 100
    assert "flux-shell[0]:  WARN: stdout: output limit of 100 bytes" \
        " exceeded" in result.err


def test_time_limit_and_signals(quick):
    result = quick.flux("run", "-t", "0.5s", "sleep", "30")
    assert result.rc == 142
    assert "type=timeout severity=0 resource allocation expired" in result.err
    jobid = quick.flux("submit", "-n2", "sleep", "30").out.strip()
    quick.flux("job", "wait-event", jobid, "start")
    pairs = quick.flux("job", "hostpids", jobid).out.strip().split(",")
    assert len(pairs) == 2
    for pair in pairs:
        pid = pair.rsplit(":", 1)[1]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read() == b"sleep\x0030\x00"
    assert quick.flux("job", "kill", "-s", "USR1", jobid).rc == 0
    assert quick.flux("job", "status", jobid).rc == 138
    result = quick.flux("job", "hostpids", jobid)
    assert result.rc == 1 and "is not running job shells" in result.err


def test_task_ignoring_sigterm_is_killed(quick):
    jobid = quick.flux("submit", SH, "-c", 'trap "" TERM; echo ready;'
                       " while :; do sleep 0.05; done").out.strip()
    quick.flux("job", "wait-event", "-p", "output", jobid, "data")
    quick.flux("cancel", jobid)
    result = quick.flux("job", "attach", jobid)
    assert result.rc == 137, result
    assert "type=cancel" in result.err
    finish = [line for line in quick.flux("job", "eventlog", jobid)
              .out.splitlines() if " finish " in line]
    assert finish[0].endswith(f"status={137 << 8}")


def test_hung_shell_is_killed_with_its_tasks(quick):
    # the shell stops (it passes on no signal); after 5 x kill-timeout
    # the exec service has it and its tasks killed
    jobid = quick.flux("submit", SH, "-c", "echo $$; sleep 0.5;"
                       " kill -STOP $PPID; exec sleep 30").out.strip()
    quick.flux("job", "wait-event", "-p", "output", jobid, "data")
    entries = [json.loads(line) for line in quick.flux(
        "job", "eventlog", "-f", "json", "-p", "output", jobid
    ).out.splitlines()]
    task = int([e["context"]["data"] for e in entries
                if e["context"].get("data")][0])
    shell = int(_stat(task)[1])
    deadline = time.monotonic() + 30
    while _stat(shell)[0] != "T":       # no event tells a process stopped
        assert time.monotonic() < deadline
        time.sleep(0.05)
    quick.flux("cancel", jobid)
    result = quick.flux("job", "attach", jobid)
    assert result.rc == 137
    assert result.err.endswith("flux-job: job shell Killed\n")
    assert not os.path.exists(f"/proc/{task}") or _stat(task)[0] == "Z"


def _stat(pid):
    """``[state, ppid]`` of a process."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(") ", 1)[1].split()[:2]


def test_shells_are_forked_from_one_server(broker):
    parents = []
    for _ in range(2):
        result = broker.flux("run", SH, "-c", "cat /proc/$PPID/cmdline |"
                             " tr '\\0' ' '; echo; ps -o ppid= -p $PPID")
        cmdline, ppid = result.out.splitlines()
        assert "-m flux_shell.server" in cmdline
        parents.append(ppid.strip())
    assert parents[0] == parents[1]
    assert os.path.exists(f"/proc/{parents[0]}")


FOUR = """
flux(0, "run", "-N4", "hostname")
flux(2, "run", "-N4", "-n8", "-l", "/bin/sh", "-c",
     "echo $FLUX_TASK_RANK $FLUX_JOB_NNODES")
flux(1, "run", "-N4", "/bin/sh", "-c", "exit $FLUX_TASK_RANK")
jobid = subprocess.run([FLUX, "submit", "-N4", "sleep", "30"],
                       capture_output=True, text=True).stdout.strip()
flux(0, "job", "wait-event", jobid, "start")
flux(3, "job", "kill", "-s", "USR1", jobid)
flux(0, "job", "status", jobid)
jobid = subprocess.run([FLUX, "submit", "-N4", "sleep", "30"],
                       capture_output=True, text=True).stdout.strip()
flux(0, "job", "wait-event", jobid, "start")
flux(0, "cancel", jobid)
flux(0, "job", "attach", jobid)
flux(0, "run", "-N2", "-t", "0.5s", "sleep", "30")
"""


def test_four_brokers(tmp_path):
    runs = run_on_four(tmp_path, FOUR)
    hosts, labels, failed = runs[:3]
    assert hosts[2] == 0 and len(hosts[3].splitlines()) == 4
    assert sorted(labels[3].splitlines()) == [f"{i}: {i} 4" for i in range(8)]
    assert failed[2] == 3
    killed, canceled, timeout = runs[5], runs[8], runs[9]
    assert killed[2] == 138
    assert canceled[2] == 143 and "type=cancel" in canceled[4]
    assert timeout[2] == 142 and "resource allocation expired" in timeout[4]


def test_leader_exit_timeout(tmp_path):
    # rank 0's shell exits at once; the other one would run 30 s
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "exec.toml").write_text('[exec]\nshell-exit-timeout = "0.3s"\n'
                                    'kill-timeout = "0.2s"\n')
    flux = flux_executable()
    script = (f'{flux} run -N2 {SH} -c \'test "$FLUX_TASK_RANK" = 1 &&'
              f' sleep 30; exit 0\'; rc=$?; {flux} job eventlog -f json'
              f' -p exec $({flux} job last); exit $rc')
    proc = subprocess.run(
        [flux, "start", "--test-size=2", f"--config-path={conf}", SH, "-c",
         script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 143, proc.stderr
    assert "type=exec severity=0 leader shell exited while others are" \
        " still running" in proc.stderr
    # RFC 50: the leader's end, with the ranks still running then
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["context"] for e in events if e["name"] == "shell-exit"] \
        == [{"rank": 0, "wait_status": 0, "active_ranks": "1"}]


def _counter(n, pause, flag):
    """A task printing 0..n-1, one line per ``pause`` seconds, waiting
    for the file ``flag`` half way."""
    return ["-c", f"i=0; while [ $i -lt {n} ]; do echo $i; i=$((i+1));"
            f" [ $i = {n // 2} ] && while [ ! -e {flag} ]; do sleep 0.1;"
            f" done; sleep {pause}; done"]


def test_running_jobs_survive_a_broker_restart(broker_factory, tmp_path):
    statedir = tmp_path / "state"
    statedir.mkdir()
    broker = broker_factory(attrs={"statedir": str(statedir)})
    flag = tmp_path / "go-on"
    jobs = [broker.flux("submit", SH, *_counter(40, 0.05, flag)).out.strip()
            for _ in range(2)]
    for jobid in jobs:
        broker.flux("job", "wait-event", "-p", "output", jobid, "data")
    broker.stop()                         # SIGTERM: systemctl restart
    broker.start()
    broker.flux("job", "wait-event", "-p", "exec", jobs[0],
                "reattach-finish")
    broker.kill()                         # kill -9
    broker.start()
    flag.write_text("")
    for jobid in jobs:
        result = broker.flux("job", "attach", jobid)
        assert (result.rc, result.err) == (0, "")
        assert result.out.split() == [str(i) for i in range(40)], " ".join(result.out.split())
        names = [json.loads(line)["name"] for line in broker.flux(
            "job", "eventlog", "-f", "json", "-p", "exec", jobid
        ).out.splitlines()]
        # RFC 50: reattach after init, recoverable and shell-exit once
        assert names[:3] == ["init", "starting", "recoverable"]
        assert names.count("reattach") == 2, " ".join(names)
        assert names.count("recoverable") == 1
        assert names.count("shell-exit") == 1
        assert names[-3:] == ["shell-exit", "complete", "done"]


def test_instance_shutdown_ends_running_jobs(broker_factory, tmp_path):
    statedir = tmp_path / "state"
    statedir.mkdir()
    broker = broker_factory(attrs={"statedir": str(statedir)})
    jobid = broker.flux("submit", SH, "-c", "echo $$; exec sleep 60"
                        ).out.strip()
    broker.flux("job", "wait-event", "-p", "output", jobid, "data")
    assert broker.flux("shutdown").rc == 0
    broker.wait()
    broker.start()
    result = broker.flux("job", "attach", jobid)
    # SIGTERM'ed after the exception, or SIGKILLed with the shells when
    # the broker stopped first
    assert result.rc in (143, 137)
    entries = [json.loads(line) for line in broker.flux(
        "job", "eventlog", "-f", "json", "-p", "output", jobid
    ).out.splitlines()]
    task = int([e["context"]["data"] for e in entries
                if e["context"].get("data")][0])
    assert not os.path.exists(f"/proc/{task}") or _stat(task)[0] == "Z"


def _usr1_conf(broker_factory, tmp_path, extra=""):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "exec.toml").write_text(
        '[exec]\nkill-timeout = "0.2s"\nkill-signal = "SIGUSR1"\n' + extra)
    return broker_factory(config_path=str(conf))


# a task that ignores SIGTERM and the kill signal (SIGUSR1 here), noting
# the time of each kill signal it gets
_STUBBORN = ('trap "" TERM; trap "date +%s.%N >> {log}" USR1; echo ready;'
             ' while :; do sleep 0.02; done')


def _kill_signals(broker, tmp_path, jobid):
    """Times the stubborn task got the kill signal, and the drained
    ranks with their reason."""
    log = tmp_path / "usr1"
    times = [float(x) for x in log.read_text().split()] \
        if log.exists() else []
    drained = broker.flux("resource", "drain", "-no",
                          "{ranks} {reason}").out.strip().splitlines()
    return times, drained


def test_unkillable_processes_drain_the_node(broker_factory, tmp_path):
    # the task ignores the kill signal: after max-kill-count of them its
    # rank is drained and its shell SIGKILLed; the job ends
    broker = _usr1_conf(broker_factory, tmp_path, "max-kill-count = 2\n")
    jobid = broker.flux("submit", SH, "-c", _STUBBORN.format(
        log=tmp_path / "usr1")).out.strip()
    broker.flux("job", "wait-event", "-p", "output", jobid, "data")
    broker.flux("cancel", jobid)
    result = broker.flux("job", "attach", jobid)
    assert result.rc == 137, result
    assert result.err.endswith("flux-job: job shell Killed\n")
    times, drained = _kill_signals(broker, tmp_path, jobid)
    assert len(times) == 2
    f58 = broker.flux("job", "id", "--to=f58", jobid).out.strip()
    assert drained == [f"0 unkillable processes for job {f58}"]
    # the node takes no job until it is undrained
    assert broker.flux("resource", "undrain", "0").rc == 0
    assert broker.flux("run", "true").rc == 0


def test_max_kill_timeout_caps_the_doubling(broker_factory, tmp_path):
    # kill-timeout 0.2s doubled would give a gap of 0.4s between the kill
    # signals and SIGKILL the shell (past 5 x 0.2s) before the third;
    # capped at 0.2s the four come 0.2s apart, then the drain
    broker = _usr1_conf(broker_factory, tmp_path,
                        'max-kill-count = 4\nmax-kill-timeout = "0.2s"\n')
    jobid = broker.flux("submit", SH, "-c", _STUBBORN.format(
        log=tmp_path / "usr1")).out.strip()
    broker.flux("job", "wait-event", "-p", "output", jobid, "data")
    broker.flux("cancel", jobid)
    assert broker.flux("job", "attach", jobid).rc == 137
    times, drained = _kill_signals(broker, tmp_path, jobid)
    assert len(times) == 4, times
    assert len(drained) == 1 and drained[0].startswith("0 unkillable")


def test_doubling_without_cap_kills_the_shell_first(broker_factory,
                                                   tmp_path):
    # the same job without max-kill-timeout: kill signals at 0.2s and 0.6s
    # (doubled), the shell SIGKILLed at 1.4s (past 5 x kill-timeout)
    # before the third, and nothing drained
    broker = _usr1_conf(broker_factory, tmp_path, "max-kill-count = 4\n")
    jobid = broker.flux("submit", SH, "-c", _STUBBORN.format(
        log=tmp_path / "usr1")).out.strip()
    broker.flux("job", "wait-event", "-p", "output", jobid, "data")
    broker.flux("cancel", jobid)
    assert broker.flux("job", "attach", jobid).rc == 137
    times, drained = _kill_signals(broker, tmp_path, jobid)
    assert len(times) == 2, times
    assert times[1] - times[0] > 0.3
    assert drained == []


def test_start_barrier_timeout(tmp_path):
    # the shell of rank 1 is stuck in its initrc (as with a plugin that
    # hangs) and never reports init; the shell of rank 0 waits at the
    # start barrier without starting its task.  Past barrier-timeout:
    # a fatal exception naming rank 1, which is drained; rank 0 is not
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "exec.toml").write_text('[exec]\nbarrier-timeout = "1s"\n'
                                    'kill-timeout = "0.2s"\n')
    rc = tmp_path / "initrc.py"
    rc.write_text("import time\nif shell.rank == 1:\n    time.sleep(60)\n")
    flag = tmp_path / "task-ran"
    script = (f"flux run -N2 -o initrc={rc} touch {flag}; echo rc=$?;"
              " flux resource drain -no '{ranks} {reason}';"
              " flux run -N1 --requires=rank:0 true && echo ok0")
    proc = subprocess.run(
        [flux_executable(), "start", "--test-size=2",
         f"--config-path={conf}", SH, "-c", script],
        capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert "type=exec severity=0 start barrier timeout waiting for" \
        " rank(s) 1" in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] != "rc=0"
    assert lines[1].startswith("1 job-exec: start barrier timeout for"
                               " job ƒ"), lines
    assert len(lines) == 3 and lines[2] == "ok0", lines
    assert not flag.exists()          # no task started anywhere


def test_start_barrier_waits_for_every_shell(tmp_path):
    # rank 1's shell is slow to init (1 s); rank 0's task starts only
    # after it: the task of rank 0 finds rank 1's task already started
    rc = tmp_path / "initrc.py"
    rc.write_text("import time\nif shell.rank == 1:\n    time.sleep(1)\n")
    started = tmp_path / "started"
    started.mkdir()
    script = (f"touch {started}/$FLUX_TASK_RANK; sleep 0.3;"
              f" ls {started} | wc -l")
    proc = subprocess.run(
        [flux_executable(), "start", "--test-size=2", flux_executable(),
         "run", "-N2", "-o", f"initrc={rc}", "--label-io", SH, "-c",
         script],
        capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == ["0:", "1:", "2", "2"]


SLOW_EXIT = '''
import time


def flux_plugin_init(p):
    def slow(shell, topic, task):
        # a shell slow to report its tasks' end (a loaded node)
        time.sleep(1.5)
    p.add_handler("task.exit", slow)
'''


def test_a_shell_slow_to_exit_is_not_killed(quick, tmp_path):
    # its tasks died of the time limit's SIGALRM: a shell that takes
    # longer than 5 x kill-timeout (1 s) to report it is not SIGKILLed
    # then (which turned the job's status into the shell's death)
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_EXIT)
    initrc = tmp_path / "initrc.py"
    initrc.write_text(f"plugin.load({str(plugin)!r})\n")
    result = quick.flux("run", "-t", "0.5s", "-o", f"initrc={initrc}",
                        "sleep", "30")
    assert result.rc == 142, result.err
    assert "died by signal" not in result.err
