"""Shell processes that run the next job's shell (flux_shell.worker,
flux_shell.server): a real shell server, real forked shells and tasks."""

import json
import os
import pwd
import resource
import select
import socket
import stat
import subprocess
import sys

from twisted.trial.unittest import TestCase

from flux_shell import worker
from flux_shell.plugins import affinity
from flux_shell.rehearsal import sample_spec
from flux_shell.server import socket_path


def job(jobid, tmp, command, cwd=None, env=None, options=None, cores=None):
    """A one-task job's shell spec running ``command`` (on the first
    cpu, or ``cores``)."""
    spec = sample_spec(jobid, tmp)
    system = spec["jobspec"]["attributes"]["system"]
    spec["jobspec"]["tasks"][0]["command"] = command
    if cwd is not None:
        system["cwd"] = cwd
    if env is not None:
        system["environment"].update(env)
    if options is not None:
        system["shell"] = {"options": options}
    if cores is None:         # one core: one task
        cores = str(min(os.sched_getaffinity(0)))
    spec["R"]["execution"]["R_lite"][0]["children"]["core"] = cores
    return spec


class Server:
    """A shell server as the exec service runs it, and its broker end."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "shells-0.sock")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flux_shell.server", self.path],
            cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        assert self.proc.stdout.readline() == b"ready\n"
        dirfd = os.open(tmp, os.O_RDONLY)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(socket_path(dirfd, "shells-0.sock"))
        os.close(dirfd)
        self.sock.settimeout(30)
        self.f = self.sock.makefile("rb")

    def send(self, obj):
        self.sock.sendall(json.dumps(obj).encode() + b"\n")

    def run(self, spec):
        """Launch ``spec`` and read its events up to its shell's exit
        (each acknowledged): ``(pid, wait status, output text)``."""
        return self.run_many([spec])[spec["id"]]

    def run_many(self, specs):
        """Launch every spec at once, read their events up to their
        shells' exits: ``{id: (pid, wait status, output text)}``."""
        runs = {}
        for spec in specs:
            self.send({"op": "launch", "id": spec["id"], "spec": spec})
            runs[spec["id"]] = [None, None, ""]
        left = len(specs)
        while left:
            ev = json.loads(self.f.readline())
            run = runs[ev["id"]]
            if ev["ev"] == "output":
                run[2] += "".join(d[2] for d in ev["data"])
            elif ev["ev"] == "shell-exit":
                self.send({"op": "ack", "id": ev["id"], "seq": 0,
                           "forget": True})
                run[0], run[1] = ev["pid"], ev["status"]
                left -= 1
                continue
            if isinstance(ev.get("seq"), int):
                self.send({"op": "ack", "id": ev["id"], "seq": ev["seq"]})
        return {jobid: tuple(run) for jobid, run in runs.items()}

    def close(self):
        if self.proc.returncode is not None:
            return
        self.send({"op": "shutdown"})
        self.f.read()
        self.f.close()          # (else its socket's fd stays open)
        self.sock.close()
        self.proc.wait()
        self.proc.stdout.close()


class ServerTests(TestCase):

    def setUp(self):
        self.tmp = os.path.realpath(self.mktemp())
        os.mkdir(self.tmp)
        self.server = Server(self.tmp)
        self.addCleanup(self.server.close)

    def test_the_next_job_finds_the_process_as_it_was(self):
        # job 1 changes everything a shell changes in its process
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        probe = os.path.join(bindir, "probe")
        with open(probe, "w") as f:
            f.write("#!/bin/sh\necho found\n")
        os.chmod(probe, stat.S_IRWXU)
        elsewhere = os.path.join(self.tmp, "cwd")
        os.mkdir(elsewhere)
        cpus = sorted(os.sched_getaffinity(0))
        report = ["/bin/sh", "-c", "pwd; ulimit -n;"
                  " grep Cpus_allowed_list /proc/self/status; probe;"
                  " exit 3"]
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        pid1, status1, out1 = self.server.run(job(
            1, self.tmp, report, cwd=elsewhere,
            env={"PATH": f"{bindir}:/usr/bin:/bin"},
            options={"rlimit": {"nofile": 64}, "cpu-affinity": "on"},
            cores=str(cpus[0])))
        self.assertEqual(status1, 3 << 8)
        lines = out1.splitlines()
        self.assertEqual(lines[:2], [elsewhere, "64"])
        self.assertEqual(lines[2].split()[-1], str(cpus[0]))
        self.assertEqual(lines[3], "found")
        # job 2 in the same process: its shell finds commands on the
        # server's PATH, not on job 1's
        spec = job(2, self.tmp, ["probe"])
        del spec["jobspec"]["attributes"]["system"]["environment"]["PATH"]
        pid2, status2, _ = self.server.run(spec)
        self.assertEqual((pid2, status2), (pid1, 127 << 8))
        # job 3: the server's cwd, rlimits and cpus
        pid3, status3, out3 = self.server.run(job(
            3, self.tmp, ["/bin/sh", "-c", "pwd; ulimit -n;"
                          " grep Cpus_allowed_list /proc/self/status"],
            options={"cpu-affinity": "off"}))
        self.assertEqual((pid3, status3), (pid1, 0))
        lines = out3.splitlines()
        self.assertEqual(lines[:2], [self.tmp, str(soft)])
        if len(cpus) > 1:
            self.assertNotEqual(lines[2].split()[-1], str(cpus[0]))

    def test_a_job_goes_to_the_free_process_last_on_its_cores(self):
        # (cores "0" and "1" whatever this machine has: only the choice
        # of process is looked at)
        runs = self.server.run_many([job(1, self.tmp, ["true"], cores="0"),
                                     job(2, self.tmp, ["true"], cores="1")])
        on0, on1 = runs[1][0], runs[2][0]
        self.assertNotEqual(on0, on1)
        for jobid, cores, pid in ((3, "1", on1), (4, "0", on0),
                                  (5, "0", on0), (6, "1", on1)):
            self.assertEqual(self.server.run(job(
                jobid, self.tmp, ["true"], cores=cores))[0], pid, jobid)

    def test_cpus_follow_each_job_in_a_process_kept_bound(self):
        # between jobs the process stays bound to the last job's cpus;
        # each job's tasks still get that job's own, or the process's
        # first ones (off, or a job running the site's code)
        cpus = sorted(os.sched_getaffinity(0))
        report = ["/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status"]
        # the site's initrc replaces the cpu-affinity plugin by one that
        # binds nothing
        noop = os.path.join(self.tmp, "noop.py")
        with open(noop, "w") as f:
            f.write(f"NAME = {affinity.NAME!r}\n"
                    "def flux_plugin_init(p):\n    pass\n")
        initrc = os.path.join(self.tmp, "initrc.py")
        with open(initrc, "w") as f:
            f.write(f"plugin.load({noop!r})\n")
        seen = []
        for jobid, options, cores in (
                (1, {}, str(cpus[0])), (2, {}, str(cpus[0])),
                (3, {}, str(cpus[-1])), (4, {"cpu-affinity": "off"}, None),
                (5, {}, str(cpus[0])), (6, {"initrc": initrc}, str(cpus[0]))):
            pid, status, out = self.server.run(job(
                jobid, self.tmp, report, options=options, cores=cores))
            self.assertEqual(status, 0, out)
            seen.append((pid, out.split()[-1]))
        self.assertEqual({pid for pid, _ in seen}, {seen[0][0]})
        everything = {str(c) for c in cpus}
        allowed = [set(_cpu_list(text)) for _, text in seen]
        self.assertEqual(allowed, [{str(cpus[0])}, {str(cpus[0])},
                                   {str(cpus[-1])}, everything,
                                   {str(cpus[0])}, everything])

    def test_an_unused_job_tmpdir_goes_to_the_next_job(self):
        base = os.path.join(self.tmp, "jobtmp")
        os.mkdir(base)
        probe = ('d="$FLUX_JOB_TMPDIR"; echo "$(basename "$d")'
                 ' $(stat -c "%i %a %U" "$d") $(ls -A "$d" | wc -l)"; ')

        def run(jobid, extra=""):
            spec = job(jobid, self.tmp, ["/bin/sh", "-c", probe + extra],
                       env={"TMPDIR": base})
            pid, status, out = self.server.run(spec)
            self.assertEqual(status, 0, out)
            name, inode, mode, user, entries = out.split()
            self.assertEqual((name, mode, user, entries), (
                f"jobtmp-0-{spec['f58']}", "700",
                pwd.getpwuid(os.geteuid()).pw_name, "0"))
            return pid, inode

        pid, inode1 = run(1)
        # kept, empty, under a name of its own
        self.assertEqual(os.listdir(base), [f"jobtmp-spare-{pid}"])
        self.assertEqual(os.listdir(os.path.join(base, os.listdir(base)[0])),
                         [])
        # job 2 in the same process gets it, fresh, and leaves a file
        pid2, inode2 = run(2, 'touch "$FLUX_JOB_TMPDIR/left"')
        self.assertEqual((pid2, inode2), (pid, inode1))
        # so it went, with the file
        self.assertEqual(os.listdir(base), [])
        pid3, inode3 = run(3, 'chmod 755 "$FLUX_JOB_TMPDIR"')
        self.assertEqual(pid3, pid)
        self.assertEqual(os.listdir(base), [])   # not as made: gone
        run(4)
        self.assertEqual(os.listdir(base), [f"jobtmp-spare-{pid}"])
        # the process ends with the server: its spare goes
        self.server.close()
        self.assertEqual(os.listdir(base), [])

    def test_as_many_free_processes_as_shells_ran_at_once(self):
        # more at once than the pool's start (the cpus, at least 4)
        n = max(os.cpu_count() or 1, 4) + 3
        first = self.server.run_many([job(i, self.tmp, [
            "/bin/sh", "-c", "sleep 0.3"]) for i in range(1, n + 1)])
        again = self.server.run_many([job(i, self.tmp, [
            "/bin/sh", "-c", "sleep 0.3"]) for i in range(n + 1, 2 * n + 1)])
        self.assertEqual({r[1] for r in [*first.values(), *again.values()]},
                         {0})
        pids = {r[0] for r in first.values()}
        self.assertEqual(len(pids), n)
        self.assertEqual({r[0] for r in again.values()}, pids)

    def test_site_code_gets_a_process_of_its_own(self):
        initrc = os.path.join(self.tmp, "initrc.py")
        with open(initrc, "w") as f:
            f.write("# the site's initrc: anything may run here\n")
        pid1, status1, _ = self.server.run(job(
            1, self.tmp, ["true"], options={"initrc": initrc}))
        pid2, status2, _ = self.server.run(job(2, self.tmp, ["true"]))
        pid3, status3, _ = self.server.run(job(3, self.tmp, ["true"]))
        self.assertEqual((status1, status2, status3), (0, 0, 0))
        self.assertNotEqual(pid2, pid1)
        self.assertEqual(pid3, pid2)

    def test_a_start_failure_leaves_the_process_usable(self):
        pid1, status1, _ = self.server.run(job(
            1, self.tmp, ["/nonexistent/cmd"]))
        pid2, status2, out = self.server.run(job(2, self.tmp, ["echo", "ok"]))
        self.assertEqual((status1, status2, out), (127 << 8, 0, "ok\n"))
        self.assertEqual(pid2, pid1)

    def test_orders_for_an_ended_job_spare_its_process(self):
        pid1, _, _ = self.server.run(job(1, self.tmp, ["true"]))
        self.server.send({"op": "terminate", "id": 1})
        self.server.send({"op": "kill", "id": 1, "signum": 9})
        pid2, status2, out = self.server.run(job(
            2, self.tmp, ["/bin/sh", "-c", "sleep 0.2; echo ok"]))
        self.assertEqual((pid2, status2, out), (pid1, 0, "ok\n"))

    def test_a_free_process_killed_is_replaced(self):
        base = os.path.join(self.tmp, "jobtmp")
        os.mkdir(base)
        pid1, _, _ = self.server.run(job(1, self.tmp, ["true"],
                                         env={"TMPDIR": base}))
        self.assertEqual(os.listdir(base), [f"jobtmp-spare-{pid1}"])
        pidfd = os.pidfd_open(pid1)
        self.addCleanup(os.close, pidfd)
        os.kill(pid1, 9)
        select.select([pidfd], [], [], 30)     # readable once it exited
        pid2, status2, out = self.server.run(job(2, self.tmp, ["echo", "ok"]))
        self.assertEqual((status2, out), (0, "ok\n"))
        self.assertNotEqual(pid2, pid1)
        # the server reaped it and removed the spare it could not
        self.assertEqual(os.listdir(base), [])

    def test_a_shell_killed_during_its_job_ends_only_that_job(self):
        pid1, status1, _ = self.server.run(job(
            1, self.tmp, ["/bin/sh", "-c", "kill -9 $PPID; sleep 5"]))
        self.assertEqual(status1, 9)      # died by SIGKILL
        pid2, status2, _ = self.server.run(job(2, self.tmp, ["true"]))
        self.assertEqual(status2, 0)
        self.assertNotEqual(pid2, pid1)


class ServeTests(TestCase):
    """:func:`flux_shell.worker.serve` in a forked process."""

    def test_jobs_then_exit_after_max_jobs(self):
        tmp = self.mktemp()
        os.mkdir(tmp)
        ev_r, ev_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(ev_r)
                os.close(ctl_w)
                code = worker.serve(job(1, tmp, ["true"]), ev_w, ctl_r,
                                    max_jobs=2)
            finally:
                os._exit(code)
        os.close(ev_w)
        os.close(ctl_r)
        f = os.fdopen(ev_r, "rb")
        lines = []
        while not lines or lines[-1] != b"!0\n":
            lines.append(f.readline())
        os.write(ctl_w, json.dumps({"op": "launch", "spec": job(
            2, tmp, ["/bin/sh", "-c", "exit 5"])}).encode() + b"\n")
        rest = f.read()             # to the end: the process exits
        _, status = os.waitpid(pid, 0)
        f.close()
        os.close(ctl_w)
        self.assertEqual(os.waitstatus_to_exitcode(status), 5)
        self.assertNotIn(b"!", rest)
        exits = [json.loads(line) for line in rest.splitlines()
                 if b'"ev":"exit"' in line]
        self.assertEqual([(e["id"], e["code"]) for e in exits], [(2, 5)])

    def test_next_launch_skips_the_ended_jobs_orders(self):
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        os.write(w, b'ut","data":"x"}\n{"op":"kill","signum":15}'
                 b'\nnot json\n{"op":"launch","spec":{"id":9}}\n'
                 b'{"op":"barrier"}\n{"op":"ki')
        spec, rest = worker.next_launch(r, b'{"op":"inp')
        self.assertEqual(spec, {"id": 9})
        self.assertEqual(rest, b'{"op":"barrier"}\n{"op":"ki')
        os.close(w)
        self.assertEqual(worker.next_launch(r), (None, b""))


def _cpu_list(text):
    """The cpus of a ``Cpus_allowed_list`` (``0-2,4``), as strings."""
    out = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        out += [str(c) for c in range(int(first), int(last or first) + 1)]
    return out
