"""Nested instances (``flux batch``, ``flux alloc``) with real brokers and
real job shells: each test runs a driver script inside ``flux start
--test-size=2``; the jobs it submits start ``flux broker`` tasks that
bootstrap a new instance through the shells' PMI.  After each test no
process of the run is left (checked through /proc)."""

import json
import os
import subprocess
import textwrap
import time
import uuid

import pytest

from fluxd.testing.cli import flux_executable

def _ours(mark, where):
    """Pids of processes that belong to this run: the mark in their
    environment or command line, or the test directory as their cwd."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if mark.encode() in env or where.encode() in cmd \
                or cwd.startswith(where):
            found.append((int(pid), cmd.replace(b"\0", b" ").decode()))
    return found


def run_in_instance(tmp_path, script, size=2, timeout=240):
    """Run the shell ``script`` in ``flux start --test-size=SIZE``.

    :returns: the CompletedProcess; asserts nothing is left running.
    """
    mark = f"NESTTEST_{uuid.uuid4().hex}"
    driver = tmp_path / "driver.sh"
    driver.write_text("set -e\n" + textwrap.dedent(script))
    flux = flux_executable()
    env = dict(os.environ, NESTTEST_MARK=mark,
               PATH=os.path.dirname(flux) + os.pathsep
               + os.environ.get("PATH", ""))
    env.pop("FLUX_URI", None)
    proc = subprocess.run([flux, "start", f"--test-size={size}", "sh",
                           str(driver)], capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path, env=env)
    deadline = time.monotonic() + 15
    left = _ours(mark, str(tmp_path))
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _ours(mark, str(tmp_path))
    assert not left, f"left running: {left}"
    return proc


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.mark.slow
def test_batch_on_two_nodes_runs_ten_jobs(tmp_path):
    write(tmp_path, "ten.sh", r"""
        #!/bin/sh
        # flux: --job-name=tenjobs
        flux submit --cc=1-10 --quiet --wait -N1 true
        flux jobs -a -n -o "{result}"
        echo size=$(flux getattr size) level=$(flux getattr instance-level)
        flux resource list -n -s free -o "{nnodes}"
        # (tasks get no PATH: the shell's environment is the redacted one)
        flux run -N2 -l sh -c "echo rank \$($(command -v flux) getattr rank)" \
            | sort
        """)
    proc = run_in_instance(tmp_path, """
        id=$(flux batch -N2 ten.sh)
        flux job wait-event $id clean >/dev/null
        echo "id=$id"
        flux jobs -a -n -o "{name} {result} {nnodes}"
        cat flux-$id.out
        flux job eventlog -p guest.exec.eventlog $id >&2
        """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1] == "tenjobs COMPLETED 2", proc.stdout + proc.stderr
    out = lines[2:]
    assert out.count("COMPLETED") == 10, proc.stdout
    assert "size=2 level=1" in out
    assert "2" in out               # both nodes of R are the new instance's
    assert out[-2:] == ["0: rank 0", "1: rank 1"], proc.stdout


@pytest.mark.slow
def test_alloc_runs_a_command_at_depth_one(tmp_path):
    proc = run_in_instance(tmp_path, """
        flux alloc -N1 --requires=rank:0 \
            --conf=policy.limits.duration='"1m"' sh -c '
            flux uptime; echo jobid=$(flux getattr jobid);
            echo parent=$(flux getattr parent-uri)
            flux run -t 2m true 2>&1 | grep -o "exceeds policy limit of 1m"'
        echo "outer=$(flux jobs -a -n -o '{id.f58}') uri=$FLUX_URI"
        """)
    assert proc.returncode == 0, proc.stderr
    uptime, jobid, parent, limit, outer = proc.stdout.splitlines()
    assert limit == "exceeds policy limit of 1m"    # --conf took effect
    assert ",  depth 1,  size 1" in uptime
    assert jobid == "jobid=" + outer.split()[0].split("=")[1]
    # on rank 0 (asked for): the parent is that broker's local URI
    assert parent == "parent=" + outer.split("uri=")[1]


@pytest.mark.slow
def test_three_deep(tmp_path):
    write(tmp_path, "inner.sh", r"""
        #!/bin/sh
        F=$(command -v flux)
        flux run -N1 sh -c "echo innermost level \$($F getattr instance-level)"
        """)
    write(tmp_path, "middle.sh", """
        #!/bin/sh
        echo middle level $(flux getattr instance-level)
        id=$(flux batch -N1 inner.sh)
        flux job wait-event $id clean >/dev/null
        flux jobs -a -n -o "{result}"
        cat flux-$id.out
        """)
    proc = run_in_instance(tmp_path, """
        id=$(flux batch -N1 middle.sh)
        flux job wait-event $id clean >/dev/null
        flux jobs -a -n -o "{result}"
        cat flux-$id.out
        """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "COMPLETED", "middle level 1", "COMPLETED", "innermost level 2"]


@pytest.mark.slow
def test_dump_leaves_an_archive_flux_restore_takes(tmp_path):
    proc = run_in_instance(tmp_path, """
        flux alloc -N1 --dump flux kvs put nested.key=hello
        id=$(flux jobs -a -n -o '{id.f58}')
        ls flux-$id-dump.tgz
        flux restore --key=restored flux-$id-dump.tgz
        flux kvs get restored.nested.key
        """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "hello"


@pytest.mark.slow
def test_a_failing_initial_program_fails_the_job(tmp_path):
    write(tmp_path, "fails.sh", """
        #!/bin/sh
        echo about to fail
        exit 7
        """)
    proc = run_in_instance(tmp_path, """
        id=$(flux batch -N2 fails.sh)
        flux job wait-event $id clean >/dev/null
        flux jobs -n -o "{result} {returncode}" $id
        cat flux-$id.out
        rc=0; flux alloc -N1 sh -c 'exit 3' || rc=$?
        echo alloc=$rc
        rc=0; flux alloc -N1 no-such-program 2>err.txt || rc=$?
        echo missing=$rc
        grep no-such-program err.txt
        rc=0; flux alloc -N1 --conf=tbon.bogus=1 true 2>err.txt || rc=$?
        echo badconf=$rc
        grep -v memo err.txt | sed -e "s/flux-nest-[^/]*/TMP/" -e "s/jobtmp-[^/]*\\///" >&2
        """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["FAILED 7", "about to fail"], proc.stdout
    assert "alloc=3" in lines
    assert "missing=127" in lines
    assert lines[-2] == ("flux-broker: no-such-program: No such file or"
                         " directory")
    assert lines[-1] == "badconf=1"
    assert proc.stderr.splitlines()[-3:] == [
        "fluxd: /tmp/TMP/conf.d/zz-nested.toml: tbon.bogus: unknown key",
        "flux-broker: the broker exited with status 1",
        "flux-job: task(s) exited with exit code 1"], proc.stderr


@pytest.mark.slow
def test_a_canceled_batch_job_leaves_nothing(tmp_path):
    write(tmp_path, "long.sh", """
        #!/bin/sh
        flux run -N2 sleep 600
        """)
    proc = run_in_instance(tmp_path, """
        id=$(flux batch -N2 long.sh)
        flux job wait-event $id start >/dev/null
        flux job wait-event -p guest.exec.eventlog $id shell.start >/dev/null
        until test -s flux-$id.out || pgrep -f "sleep 600" >/dev/null; do
            sleep 0.2; done
        flux cancel $id
        flux job wait-event $id clean >/dev/null
        flux jobs -n -o "{result}" $id
        """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "CANCELED"


def _flux(*args, cwd, stdin=None):
    env = dict(os.environ)
    env.pop("FLUX_URI", None)
    return subprocess.run([flux_executable(), *args], capture_output=True,
                          text=True, cwd=cwd, input=stdin, env=env,
                          timeout=60)


@pytest.mark.parametrize("args, stdin, message", [
    (["nope.sh"], None, "flux-batch: ERROR: nope.sh: No such file or"
                        " directory"),
    (["plain.sh"], None, "flux-batch: ERROR: plain.sh: batch script must"
                         " start with '#!' (or use --wrap)"),
    (["-N2", "-n1", "--wrap", "true"], None,
     "flux-batch: ERROR: number of slots (1) must be >= the number of"
     " nodes (2)"),
    (["--conf=nonsense", "--wrap", "true"], None,
     "flux-batch: ERROR: --conf=nonsense: expected KEY=VAL, TOML text or a"
     " .toml/.json file"),
    (["orphan.sh"], None, "flux-batch: ERROR: line 3: orphan 'flux:'"
                          " directive after the script's first command"),
    ([], "#!/bin/sh\n# flux: -N0\ntrue\n", "flux-batch: ERROR: --nodes must"
                                          " be >= 1"),
])
def test_bad_batch_input_is_one_line(tmp_path, args, stdin, message):
    (tmp_path / "plain.sh").write_text("echo no shebang\n")
    (tmp_path / "orphan.sh").write_text("#!/bin/sh\ntrue\n# flux: -N2\n")
    proc = _flux("batch", "--dry-run", *args, cwd=tmp_path, stdin=stdin)
    assert proc.returncode == 1
    assert proc.stderr == message + "\n"


def test_directives_and_options_reach_the_jobspec(tmp_path):
    (tmp_path / "job.sh").write_text(
        "#!/bin/sh\n# flux: -N2 --job-name=fromscript\n#FLUX: -t 5\n"
        "hostname\n")
    proc = _flux("batch", "--dry-run", "-N3", "--conf=tbon.topo=\"kary:2\"",
                 "--broker-opts=-Sbroker.quorum=1", "--dump", "job.sh", "a",
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    jobspec = json.loads(proc.stdout)
    system = jobspec["attributes"]["system"]
    assert jobspec["resources"][0]["count"] == 3     # the command line wins
    assert system["job"]["name"] == "fromscript"
    assert system["duration"] == 300
    assert system["shell"]["options"]["per-resource"] == {
        "type": "node", "count": 1}
    assert json.loads(system["files"]["conf.json"]["data"]) == {
        "tbon": {"topo": "kary:2"}}
    assert system["files"]["script"]["data"].startswith("#!/bin/sh\n")
    assert jobspec["tasks"][0]["command"][1:] == [
        "broker", "-Sbroker.quorum=1",
        "-Scontent.dump=flux-{{jobid}}-dump.tgz", "{{tmpdir}}/script", "a"]
    out = system["shell"]["options"]["output"]["stdout"]
    assert out["path"] == "flux-{{id}}.out"
