"""The job shell's pure parts (task maps, options) and one shell run
directly (real tasks, its events read from a pipe)."""

import json
import os
import signal
import threading

from twisted.trial.unittest import SynchronousTestCase

from flux_shell import options as O
from flux_shell import taskmap as TM
from flux_shell.shell import run


def R(*ranks_cores):
    return {"version": 1, "execution": {"R_lite": [
        {"rank": str(rank), "children": {"core": cores}}
        for rank, cores in ranks_cores]}}


def jobspec(command, count=None, nodes=None, slots=1, cores=1, options=None,
            cwd="/"):
    slot = {"type": "slot", "count": slots, "label": "task",
            "with": [{"type": "core", "count": cores}]}
    resources = [{"type": "node", "count": nodes, "with": [slot]}] \
        if nodes else [slot]
    system = {"cwd": cwd, "environment": {"PATH": "/usr/bin:/bin"}}
    if options:
        system["shell"] = {"options": options}
    return {"resources": resources, "attributes": {"system": system},
            "tasks": [{"command": command, "slot": "task",
                       "count": count or {"per_slot": 1}}]}


class TaskmapTests(SynchronousTestCase):

    def test_slots_from_cores(self):
        spec = jobspec(["true"], slots=3, cores=2)
        counts = TM.tasks_per_rank(spec, R((0, "0-3"), (1, "0-1")))
        self.assertEqual(counts, {0: 2, 1: 1})
        self.assertEqual(TM.taskmap(counts),
                         {"version": 1, "map": [[0, 1, 2, 1], [1, 1, 1, 1]]})
        self.assertEqual(TM.task_ids(counts), {0: range(0, 2),
                                               1: range(2, 3)})

    def test_nodes_and_totals(self):
        spec = jobspec(["true"], nodes=4)
        r4 = R((0, "0-3"), (1, "0-3"), (2, "0-3"), (3, "0-3"))
        counts = TM.tasks_per_rank(spec, r4)
        self.assertEqual(counts, {0: 1, 1: 1, 2: 1, 3: 1})
        self.assertEqual(TM.taskmap(counts)["map"], [[0, 4, 1, 1]])
        spec = jobspec(["true"], nodes=4, count={"total": 6})
        self.assertEqual(TM.tasks_per_rank(spec, r4),
                         {0: 2, 1: 2, 2: 1, 3: 1})

    def test_errors(self):
        with self.assertRaises(TM.TaskmapError):
            TM.tasks_per_rank(jobspec(["true"]), {"execution": {}})
        with self.assertRaises(TM.TaskmapError):
            TM.tasks_per_rank({"resources": [], "tasks": []}, R((0, "0")))


class OptionTests(SynchronousTestCase):

    def test_sizes(self):
        self.assertEqual(O.parse_size("1k"), 1024)
        self.assertEqual(O.parse_size("10M"), 10 << 20)
        self.assertEqual(O.parse_size(100), 100)
        for bad in ("x", "-1", True, -5):
            with self.assertRaises(O.OptionError):
                O.parse_size(bad)

    def test_output_options(self):
        out = O.output_options({"output": {
            "stdout": {"type": "file", "path": "out-{{id}}-{{id.dec}}",
                       "label": True},
            "limit": "2k", "batch-timeout": 0.5},
            "input": {"stdin": {"type": "file", "path": "/in"}}}, "ƒAB", 42)
        self.assertEqual(out.paths, {"stdout": "out-ƒAB-42"})
        self.assertEqual((out.label, out.limit, out.batch_timeout,
                          out.input_path), (True, 2048, 0.5, "/in"))
        self.assertEqual(O.output_options({}, "ƒAB").limit, O.DEFAULT_LIMIT)
        out = O.output_options({"output": {
            "stdout": {"buffer": {"type": "none"}}}}, "ƒAB")
        self.assertEqual((out.paths, out.unbuffered), ({}, {"stdout"}))
        with self.assertRaises(O.OptionError):
            O.output_options({"output": {"stdout": {"type": "file"}}}, "f")


def fork_shell(spec):
    """Fork one shell running ``spec``: ``(pid, events_r, orders_w)``."""
    ev_r, ev_w = os.pipe()
    ctl_r, ctl_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ev_r)
        os.close(ctl_w)
        code = 1
        try:
            code = run(spec, ev_w, ctl_r)
        finally:
            os._exit(code)
    os.close(ev_w)
    os.close(ctl_r)
    return pid, ev_r, ctl_w


def run_shell(spec, orders=None, close=True):
    """Run one shell in a thread-free way: fork it, read its events;
    ``orders`` (a list) are written to its order pipe, which is then
    closed unless ``close`` is false (the end of the orders kills the
    job's tasks)."""
    pid, ev_r, ctl_w = fork_shell(spec)
    if orders is not None:
        for order in orders:
            os.write(ctl_w, json.dumps(order).encode() + b"\n")
        if close:
            os.close(ctl_w)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(
        iter(lambda: os.read(ev_r, 65536), b"")))
    reader.start()
    reader.join(30)
    _, status = os.waitpid(pid, 0)
    os.close(ev_r)
    if orders is None or not close:
        os.close(ctl_w)
    events = [json.loads(line) for line in b"".join(chunks).splitlines()]
    return os.waitstatus_to_exitcode(status), events


def spec_of(jobspec, ranks=((0, "0-1"),)):
    return {"id": 7, "f58": "ƒ8", "broker_rank": 0, "hostname": "h",
            "jobspec": jobspec, "R": R(*ranks)}


class StartBarrierTests(SynchronousTestCase):
    """A shell launched with ``barrier`` starts no task before the
    ``barrier`` order."""

    def spec(self):
        return dict(spec_of(jobspec(["sh", "-c", "echo ran"])),
                    barrier=True)

    def test_barrier_order_starts_the_tasks(self):
        code, events = run_shell(self.spec(), [{"op": "barrier"}],
                                 close=False)
        self.assertEqual(code, 0)
        kinds = [e["ev"] for e in events]
        self.assertEqual(kinds[:2], ["init", "start"])
        self.assertIn("output", kinds)

    def test_kill_order_at_the_barrier_ends_the_shell(self):
        code, events = run_shell(self.spec(), [{"op": "kill",
                                                "signum": 15}])
        self.assertEqual(code, 143)
        self.assertEqual([e["ev"] for e in events], ["init", "exit"])

    def test_end_of_orders_at_the_barrier_ends_the_shell(self):
        code, events = run_shell(self.spec(), [])
        self.assertEqual(code, 137)
        self.assertEqual([e["ev"] for e in events], ["init", "exit"])


class ShellRunTests(SynchronousTestCase):

    def test_tasks_output_and_exit_code(self):
        code, events = run_shell(spec_of(jobspec(
            ["sh", "-c", "echo out $FLUX_TASK_RANK; echo err >&2;"
             " exit $((FLUX_TASK_RANK + 2))"], slots=2)))
        self.assertEqual(code, 3)
        kinds = [e["ev"] for e in events]
        self.assertEqual(kinds[:2], ["init", "start"])
        self.assertEqual(kinds[-1], "exit")
        self.assertEqual(events[1]["taskmap"]["map"], [[0, 1, 2, 1]])
        data = sorted((s, r, t) for e in events if e["ev"] == "output"
                      for s, r, t in e["data"])
        self.assertEqual(data, [("stderr", 0, "err\n"), ("stderr", 1, "err\n"),
                                ("stdout", 0, "out 0\n"),
                                ("stdout", 1, "out 1\n")])

    def test_signalled_task(self):
        code, _ = run_shell(spec_of(jobspec(["sh", "-c", "kill -USR1 $$"])))
        self.assertEqual(code, 128 + signal.SIGUSR1)

    def test_start_failure(self):
        code, events = run_shell(spec_of(jobspec(["/nonexistent/x"])))
        self.assertEqual(code, 127)
        self.assertIn({"ev": "log", "id": 7, "level": 2, "message":
                       "task 0 (host h): start failed: /nonexistent/x: No"
                       " such file or directory"}, events)

    def test_output_limit(self):
        code, events = run_shell(spec_of(jobspec(
            ["sh", "-c", "yes | head -c 5000"],
            options={"output": {"limit": 10}})))
        self.assertEqual(code, 0)
        text = "".join(t for e in events if e["ev"] == "output"
                       for _, _, t in e["data"])
        self.assertEqual(text, "y\ny\ny\ny\ny\n")
        self.assertTrue(any(e["ev"] == "log" and e["level"] == 4
                            for e in events))


class ShellProgramTests(SynchronousTestCase):
    """``flux-shell JOBID`` (as the IMP runs it): the spec on stdin's
    first line, then its relay (:mod:`flux_shell.relay`) talks to the
    broker's socket the spec names."""

    def program(self, jobid, text, keep_open=True):
        import subprocess
        import sys
        proc = subprocess.Popen(
            [sys.executable, "-m", "flux_shell", str(jobid)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        proc.stdin.write(text)
        proc.stdin.flush()
        if not keep_open:
            proc.stdin.close()
        events = []
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1]["ev"] == "start":
                # the orders come on the same stdin as the spec
                proc.stdin.write(b'{"op":"input","data":"fed\\n",'
                                 b'"eof":true}\n')
                proc.stdin.flush()
        if keep_open:
            proc.stdin.close()
        err = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
        return proc.wait(30), events, err

    def test_spec_then_relay_to_the_broker(self):
        # the spec names the broker's socket: the relay says hello, runs
        # the shell once resumed, passes orders on and exits once the job
        # is forgotten
        import shutil
        import socket
        import tempfile
        top = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, top, True)
        path = os.path.join(top, "imp-shells-0.sock")
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        server.listen(1)
        self.addCleanup(server.close)
        spec = dict(spec_of(jobspec(["cat"]), ranks=((0, "0"),)), link=path)
        import subprocess
        import sys
        proc = subprocess.Popen(
            [sys.executable, "-m", "flux_shell", "7"],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        proc.stdin.close()
        conn, _ = server.accept()
        self.addCleanup(conn.close)
        lines = conn.makefile("rb")
        hello = json.loads(lines.readline())
        self.assertEqual((hello["op"], hello["id"], hello["pid"]),
                         ("hello", 7, proc.pid))
        conn.sendall(b'{"op":"resume"}\n')
        events = []
        for line in lines:
            events.append(json.loads(line))
            if events[-1]["ev"] == "start":
                conn.sendall(b'{"op":"input","data":"fed\\n","eof":true}\n')
            elif events[-1]["ev"] == "shell-exit":
                conn.sendall(b'{"op":"ack","seq":0,"forget":true}\n')
        self.assertEqual(proc.wait(30), 0)
        self.assertEqual(proc.stderr.read(), b"")
        proc.stderr.close()
        out = [t for e in events if e["ev"] == "output"
               for s, r, t in e["data"] if s == "stdout"]
        self.assertEqual(out, ["fed\n"])
        self.assertEqual([e["seq"] for e in events],
                         list(range(1, len(events) + 1)))
        self.assertEqual(events[-1], {"seq": len(events), "id": 7,
                                      "ev": "shell-exit", "status": 0})

    def test_no_broker_to_relay_to(self):
        code, events, err = self.program(7, json.dumps(dict(
            spec_of(jobspec(["true"])), id=7)).encode() + b"\n",
            keep_open=False)
        self.assertEqual((code, events, err), (
            1, [], "flux-shell: job 7: no link to the broker in the"
            " spec\n"))
        code, events, err = self.program(7, json.dumps(dict(
            spec_of(jobspec(["true"])), id=7, link="/nonexistent/s.sock"
        )).encode() + b"\n", keep_open=False)
        self.assertEqual((code, events, err), (
            1, [], "flux-shell: job 7: cannot connect to"
            " /nonexistent/s.sock\n"))

    def test_bad_spec_one_line(self):
        code, events, err = self.program(7, b"{nope\n", keep_open=False)
        self.assertEqual((code, events), (1, []))
        self.assertTrue(err.startswith("flux-shell: job 7: bad spec on"
                                       " stdin: "))
        self.assertEqual(len(err.splitlines()), 1)
        code, events, err = self.program(
            8, json.dumps(spec_of(jobspec(["true"]))).encode() + b"\n",
            keep_open=False)
        self.assertEqual((code, events, err), (
            1, [], "flux-shell: job 8: the spec on stdin is not this"
            " job's\n"))


class RehearsalTests(SynchronousTestCase):
    """The shell server's rehearsal runs real sample jobs in its own
    process and leaves that process as it was."""

    def test_sample_jobs_run_and_leave_the_process_as_it_was(self):
        from flux_shell.rehearsal import rehearse
        tmp = self.mktemp()
        os.mkdir(tmp)
        handlers = [signal.getsignal(s) for s in
                    (signal.SIGUSR1, signal.SIGTERM, signal.SIGCHLD,
                     signal.SIGPIPE)]
        fds = sorted(os.listdir("/proc/self/fd"))
        cwd, cpus, path = (os.getcwd(), os.sched_getaffinity(0),
                           os.environ.get("PATH"))
        wakeup = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(wakeup)
        self.assertEqual(rehearse(tmp, runs=2), [0, 0])
        # their FLUX_JOB_TMPDIR was made and removed in tmp
        self.assertEqual(os.listdir(tmp), [])
        self.assertEqual([signal.getsignal(s) for s in
                          (signal.SIGUSR1, signal.SIGTERM, signal.SIGCHLD,
                           signal.SIGPIPE)], handlers)
        after = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(after)
        self.assertEqual(after, wakeup)
        self.assertEqual(sorted(os.listdir("/proc/self/fd")), fds)
        self.assertEqual((os.getcwd(), os.sched_getaffinity(0),
                          os.environ.get("PATH")), (cwd, cpus, path))
