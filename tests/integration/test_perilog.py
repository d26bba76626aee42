"""perilog.so, ``flux perilog-run`` and housekeeping on real 4-broker
instances, configured as the admin guide does: a prolog failing on one
node of four, a prolog hanging past its timeout, an epilog whose
executable is missing, housekeeping holding nodes, and the rexec service
they run on."""

import json
import os
import subprocess
import sys
import textwrap

from fluxd.testing.cli import flux_executable

BIN = os.path.dirname(flux_executable())

#: stands in for ``/usr/libexec/flux/flux-imp`` until the IMP exists:
#: ``standin run prolog|epilog`` fails its prolog on rank 2
STANDIN = """\
#!/bin/sh
rank=$(flux getattr rank)
echo "stand-in $2 rank $rank job $FLUX_JOB_ID user $FLUX_JOB_USERID"
echo "Xauth noise on rank $rank" >&2
if [ "$2" = prolog ] && [ "$rank" = 2 ]; then
    echo "rank 2 is bad" >&2
    exit 1
fi
exit 0
"""

PRELUDE = """\
import json, os, subprocess, sys, time
def flux(*args):
    p = subprocess.run(["flux", *args], capture_output=True, text=True)
    print(json.dumps([list(args), p.returncode, p.stdout, p.stderr]))
    return p
"""


def run_four(tmp_path, toml, body, **env):
    """``body`` inside ``flux start --test-size=4`` with config ``toml``;
    ``flux`` is on PATH, as on a real system.

    :returns: ``{args[0] + n: (rc, out, err)}`` per ``flux(...)`` call,
        keyed ``name``, ``name.2``... for repeats.
    """
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "perilog.toml").write_text(toml)
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    env = dict(os.environ, **dict(
        {"PATH": BIN + os.pathsep + os.environ["PATH"]}, **env))
    env.pop("FLUX_URI", None)
    proc = subprocess.run([flux_executable(), "start", "--test-size=4",
                           f"--config-path={conf}", sys.executable,
                           str(script)], capture_output=True, text=True,
                          timeout=240, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    found = {}
    for line in proc.stdout.splitlines():
        args, rc, out, err = json.loads(line)
        key, n = args[0], 2
        while key in found:
            key = f"{args[0]}.{n}"
            n += 1
        found[key] = (rc, out, err)
    return found


def test_prolog_fails_on_one_node_of_four(tmp_path):
    standin = tmp_path / "standin"
    standin.write_text(STANDIN)
    standin.chmod(0o755)
    # the default -d: $FLUXD_SYSCONFDIR/flux/system/prolog.d
    prolog_d = tmp_path / "etc" / "flux" / "system" / "prolog.d"
    prolog_d.mkdir(parents=True)
    (prolog_d / "01-mark").write_text(
        f"#!/bin/sh\necho $FLUX_JOB_ID > {tmp_path}/rank0-prolog\n")
    (prolog_d / "01-mark").chmod(0o755)
    toml = textwrap.dedent(f"""\
        [job-manager]
        plugins = [{{ load = "perilog.so" }}]
        perilog.log-ignore = [ ".*Xauth.*" ]
        [job-manager.prolog]
        command = [
           "flux", "perilog-run", "prolog",
           "-e", "{standin},run,prolog"
        ]
        [job-manager.epilog]
        command = [
           "flux", "perilog-run", "epilog",
           "-e", "{standin},run,epilog", "-d", "{tmp_path}/none"
        ]
        """)
    runs = run_four(tmp_path, toml, """\
        flux("run", "-N4", "hostname")
        jobid = flux("job", "last").stdout.strip()
        flux("job", "eventlog", jobid)
        flux("resource", "drain", "-no", "{ranks} {reason}")
        flux("jobs", "-a", "-o", "{id.f58} {status} {exception.note}")
        flux("dmesg")
        flux("run", "-N3", "true")
        """, FLUXD_SYSCONFDIR=str(tmp_path / "etc"))
    rc, out, err = runs["run"]
    assert rc != 0
    assert "type=prolog severity=0 prolog exited with code=1 on vm-0" \
        " (rank 0)" in err
    events = [line.split()[1] for line in runs["job.2"][1].splitlines()]
    assert events[-7:] == ["prolog-start", "exception", "prolog-finish",
                           "epilog-start", "epilog-finish", "free", "clean"]
    assert "start" not in events        # no shell ever ran
    drained = runs["resource"][1].strip().splitlines()
    assert len(drained) == 1
    assert drained[0].startswith("2 prolog failed for jobid ƒ")
    assert "FAILED prolog exited with code=1" in runs["jobs"][1]
    dmesg = runs["dmesg"][1]
    assert "prolog: vm-0 (rank 0): stderr: vm-2 (rank 2): rank 2 is bad" \
        in dmesg
    for rank in range(4):
        assert f"stand-in epilog rank {rank} job ƒ" in dmesg
    assert "Xauth" not in dmesg         # log-ignore
    # the rank 0 scripts ran with the job's id; the 3 good nodes still work
    assert (tmp_path / "rank0-prolog").read_text().startswith("ƒ")
    assert runs["run.2"][0] == 0


def alive(pid):
    """Whether ``pid`` still runs: a zombie (killed, its parent gone and
    init not yet reaping it) runs nothing."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_prolog_timeout_and_missing_epilog(tmp_path):
    pids = tmp_path / "pids"
    hang = tmp_path / "hang"
    hang.write_text(f"#!/bin/sh\ntest -e {tmp_path}/cured && exit 0\n"
                    f"trap '' TERM\necho $$ >> {pids}\n"
                    f"sleep 300 &\necho $! >> {pids}\nwait\n")
    hang.chmod(0o755)
    toml = textwrap.dedent(f"""\
        [job-manager]
        plugins = [{{ load = "perilog.so" }}]
        [job-manager.prolog]
        command = ["{hang}"]
        per-rank = true
        timeout = "0.5s"
        kill-timeout = 0.3
        [job-manager.epilog]
        command = ["{tmp_path}/no-such-epilog"]
        per-rank = true
        """)
    runs = run_four(tmp_path, toml, """\
        flux("run", "-N2", "--requires=rank:0-1", "true")
        flux("resource", "drain", "-no", "{ranks} {reason}")
        flux("resource", "undrain", "0-1")
        open("cured", "w").close()
        flux("run", "-N4", "true")
        flux("job", "eventlog", flux("job", "last").stdout.strip())
        flux("resource", "drain", "-no", "{ranks} {reason}")
        flux("jobs", "-a", "-no", "{status} {result}")
        flux("dmesg")
        """)
    rc, out, err = runs["run"]
    assert rc != 0
    assert "type=prolog severity=0 prolog timed out on vm-[0-1]" \
        " (rank 0-1)" in err
    assert runs["resource"][1].startswith("0-1 prolog timed out for job ƒ")
    # the hung prolog, its child and grandchild are gone
    for pid in pids.read_text().split():
        assert not alive(pid), pid
    # a missing epilog: severity 2, drained, the job's result unchanged
    rc, out, err = runs["run.2"]
    assert rc == 0, err
    [line] = [line for line in runs["dmesg"][1].splitlines()
              if "epilog: vm-3 (rank 3): stderr: " in line]
    assert line.endswith(f"{tmp_path}/no-such-epilog: No such file or"
                         " directory")
    events = runs["job.2"][1]
    assert 'type="epilog" severity=2 note="epilog exited with code=127' \
        ' on vm-[0-3] (rank 0-3)"' in events
    assert "epilog-finish" in events and events.rstrip().endswith("clean")
    assert runs["resource.3"][1].split()[0] == "0-3"
    assert "epilog failed for job ƒ" in runs["resource.3"][1]
    assert runs["jobs"][1].splitlines()[0] == "COMPLETED COMPLETED"


def test_epilog_and_housekeeping_timing(tmp_path):
    toml = textwrap.dedent(f"""\
        [job-manager]
        plugins = [{{ load = "perilog.so" }}]
        [job-manager.epilog]
        command = ["/bin/sh", "-c", "while ! test -e {tmp_path}/epi-go; do sleep 0.05; done"]
        [job-manager.housekeeping]
        command = ["/bin/sh", "-c", "r=$(flux getattr rank); echo hk $r; test $r = 3 && while ! test -e {tmp_path}/hk-go; do sleep 0.05; done; test $r = 1 && exit 3; exit 0"]
        release-after = "0.3s"
        """)
    runs = run_four(tmp_path, toml, """\
        jobid = flux("submit", "-N4", "true").stdout.strip()
        flux("job", "wait-event", jobid, "epilog-start")
        flux("jobs", "-no", "{state}", jobid)
        flux("resource", "list", "-s", "free", "-no", "{ranks}")
        open("epi-go", "w").close()
        flux("job", "wait-event", jobid, "clean")
        flux("jobs", "-no", "{state} {result}", jobid)
        time.sleep(1)
        flux("resource", "status", "-s", "housekeeping", "-no", "{ranks}")
        flux("resource", "list", "-s", "free", "-no", "{ranks}")
        flux("resource", "list", "-s", "allocated", "-no", "{ranks}")
        flux("housekeeping", "list", "-no", "{id.f58} {ranks} {pending.nnodes}")
        flux("run", "-N3", "true")
        open("hk-go", "w").close()
        time.sleep(1)
        flux("resource", "status", "-s", "housekeeping", "-no", "{ranks}")
        flux("resource", "list", "-s", "free", "-no", "{ranks}")
        flux("job", "eventlog", jobid)
        flux("dmesg")
        """)
    # the epilog holds the job in CLEANUP and its nodes allocated
    assert runs["jobs"][1].strip() == "CLEANUP"
    assert runs["resource"][1].strip() == ""
    # then the job is done while rank 3 is still in housekeeping; the
    # ranks done were released after release-after
    assert runs["jobs.2"][1].strip() == "INACTIVE COMPLETED"
    assert runs["resource.2"][1].strip() == "3"
    assert runs["resource.3"][1].strip() == "0-2"
    assert runs["resource.4"][1].strip() == "3"
    assert runs["housekeeping"][1].split() == [
        runs["submit"][1].strip(), "3", "1"]
    assert runs["run"][0] == 0          # the released ranks are usable
    assert runs["resource.5"][1].strip() == ""
    assert runs["resource.6"][1].strip() == "0-3"
    events = [line.split()[1] for line in runs["job.3"][1].splitlines()]
    assert events[-4:] == ["epilog-start", "epilog-finish", "free", "clean"]
    dmesg = runs["dmesg"][1]
    assert "job-manager.err[0]: housekeeping: vm-1 (rank 1) ƒ" in dmesg
    assert ": nonzero exit code" in dmesg


def test_housekeeping_kill(tmp_path):
    toml = textwrap.dedent("""\
        [job-manager.housekeeping]
        command = ["sleep", "300"]
        release-after = "0"
        """)
    runs = run_four(tmp_path, toml, """\
        jobid = flux("submit", "-N4", "true").stdout.strip()
        flux("job", "wait-event", jobid, "clean")
        flux("housekeeping", "list", "-no", "{ranks} {pending.ranks}")
        flux("housekeeping", "kill", "-t", "vm-[1-2]")
        while flux("housekeeping", "list", "-no",
                   "{ranks}").stdout.strip() != "0,3":
            time.sleep(0.05)
        flux("resource", "list", "-s", "free", "-no", "{ranks}")
        flux("housekeeping", "kill", "-s", "9", "--all")
        while flux("housekeeping", "list", "-no", "{ranks}").stdout.strip():
            time.sleep(0.05)
        flux("resource", "list", "-s", "free", "-no", "{ranks}")
        flux("dmesg")
        """)
    assert runs["housekeeping"][1].strip() == "0-3 0-3"
    assert runs["housekeeping.2"][0] == 0
    # the killed ranks went back at once (release-after = 0)
    assert runs["resource"][1].strip() == "1-2"
    assert runs["resource.2"][1].strip() == "0-3"
    dmesg = runs["dmesg"][1]
    assert "(rank 1) ƒ" in dmesg and ": Terminated" in dmesg
    assert "(rank 3) ƒ" in dmesg and ": Killed" in dmesg


def test_perilog_run_timeout(tmp_path):
    hang = tmp_path / "hang"
    hang.write_text(f"#!/bin/sh\ntest $(flux getattr rank) = 1 || exit 0\n"
                    f"echo $$ > {tmp_path}/pid\nexec sleep 300\n")
    hang.chmod(0o755)
    toml = textwrap.dedent(f"""\
        [job-manager]
        plugins = [{{ load = "perilog.so" }}]
        [job-manager.prolog]
        command = ["flux", "perilog-run", "prolog", "-t", "0.5s",
                   "-e", "{hang}", "-d", "{tmp_path}/none"]
        """)
    runs = run_four(tmp_path, toml, """\
        flux("run", "-N4", "true")
        flux("resource", "drain", "-no", "{ranks} {reason}")
        flux("dmesg")
        """)
    rc, out, err = runs["run"]
    assert rc != 0
    assert "type=prolog severity=0 prolog killed by signal 15 on vm-0" \
        " (rank 0)" in err
    assert runs["resource"][1].startswith("1 prolog timed out for jobid ƒ")
    assert "rank 1 prolog timeout, draining" in runs["dmesg"][1]
    pid = (tmp_path / "pid").read_text().strip()
    assert not alive(pid)


def test_without_setsid(tmp_path):
    # no setsid(1) on PATH: rexec's Python launcher, same behaviour
    toml = textwrap.dedent(f"""\
        [job-manager]
        plugins = [{{ load = "perilog.so" }}]
        [job-manager.epilog]
        command = ["{tmp_path}/missing"]
        per-rank = true
        """)
    runs = run_four(tmp_path, toml, """\
        flux("run", "-N2", "--requires=rank:0-1", "/bin/true")
        flux("resource", "drain", "-no", "{ranks}")
        flux("dmesg")
        """, PATH=BIN)
    assert runs["run"][0] == 0
    assert "type=epilog severity=2 epilog exited with code=127 on" \
        " vm-[0-1] (rank 0-1)" in runs["run"][2]
    assert runs["resource"][1].strip() == "0-1"
    assert f"epilog: vm-1 (rank 1): stderr: {tmp_path}/missing: No such file or" \
        " directory" in runs["dmesg"][1]


def test_perilog_run_bad_input(tmp_path):
    env = dict(os.environ)
    env.pop("FLUX_JOB_ID", None)
    proc = subprocess.run([flux_executable(), "perilog-run", "prolog"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr == "FLUX_JOB_ID not found in environment\n"
    proc = subprocess.run([flux_executable(), "perilog-run", "neither"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("flux-perilog-run: argument subcommand")
