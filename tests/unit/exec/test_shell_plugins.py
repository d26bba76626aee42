"""Job shell plugins: the plugin interface (builtins, plugin path,
initrc, a plugin that raises), cpu and gpu affinity, run in real shells
(their tasks read their own affinity back from /proc)."""

import json
import os
import shutil
import tempfile
import textwrap

from twisted.trial.unittest import SynchronousTestCase

from flux_shell.plugins import affinity as A
from tests.unit.exec.test_shell import (fork_shell, jobspec, run_shell,
                                        spec_of)

STATUS = ["grep", "Cpus_allowed_list", "/proc/self/status"]
MINE = sorted(os.sched_getaffinity(0))


def outputs(events):
    """``{task rank: stdout}`` of a shell's events."""
    out = {}
    for e in events:
        if e["ev"] == "output":
            for stream, rank, text in e["data"]:
                if stream == "stdout":
                    out[rank] = out.get(rank, "") + text
    return out


def fatal(events):
    return [e["message"] for e in events if e["ev"] == "log"
            and e["level"] <= 2]


def cpus_line(cpus):
    """Cpus_allowed_list as the kernel prints a cpu list."""
    parts, i = [], 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        parts.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return "Cpus_allowed_list:\t" + ",".join(parts) + "\n"


class PureTests(SynchronousTestCase):

    def test_cpu_lists(self):
        self.assertEqual(A.parse_cpus("0-2,5"), [0, 1, 2, 5])
        self.assertEqual(A.parse_cpus("0x5"), [0, 2])
        for bad in ("", "2-1", "x", "-1"):
            with self.assertRaises(ValueError):
                A.parse_cpus(bad)

    def test_share(self):
        self.assertEqual(A.share([0, 1, 2, 3, 4], 2), [[0, 1, 2], [3, 4]])
        self.assertEqual(A.share([0, 1], 4), [[0], [0], [1], [1]])
        self.assertEqual(A.share([], 2), [[], []])

    def test_masks(self):
        self.assertEqual(A.masks(None, [0, 1], 2), [[0, 1], [0, 1]])
        self.assertEqual(A.masks("per-task", [0, 1], 2), [[0], [1]])
        self.assertEqual(A.masks("map:0x2;0", [0, 1], 2), [[1], [0]])
        self.assertEqual(A.masks("map:3", [0, 1], 2), [[3], [3]])
        self.assertIsNone(A.masks("off", [0, 1], 2))
        for bad in ("sideways", "map:0;x", "map:"):
            with self.assertRaises(ValueError):
                A.masks(bad, [0, 1], 2)

    def test_local_ids(self):
        R = {"execution": {"R_lite": [
            {"rank": "0-1", "children": {"core": "0-3", "gpu": "0-1"}},
            {"rank": "2", "children": {"core": "0"}}]}}
        self.assertEqual(A.local_ids(R, 1, "gpu"), [0, 1])
        self.assertEqual(A.local_ids(R, 2, "core"), [0])
        self.assertEqual(A.local_ids(R, 2, "gpu"), [])

    def test_a_process_bound_so_already_is_not_moved(self):
        calls = []
        self.patch(A.os, "sched_setaffinity",
                   lambda pid, cpus: calls.append((pid, set(cpus))))
        A._bind({0, 1}, [0, 1])
        A._bind({0, 1}, [1])
        self.patch(A, "base_cpus", {0, 1})
        self.patch(A.os, "sched_getaffinity", lambda pid: {1})
        A.unbind()
        self.assertEqual(calls, [(0, {1}), (0, {0, 1})])


class AffinityTests(SynchronousTestCase):
    """Real tasks read their affinity back (the machine's cpus)."""

    def run_tasks(self, options, ntasks, cores):
        spec = spec_of(jobspec(STATUS, count={"total": ntasks},
                               options=options), ranks=((0, cores),))
        code, events = run_shell(spec)
        self.assertEqual((code, fatal(events)), (0, []))
        return outputs(events)

    def test_per_task(self):
        if len(MINE) < 2:
            self.skipTest("needs two cpus")
        cpus = MINE[:2]
        out = self.run_tasks({"cpu-affinity": "per-task"}, 2,
                             f"{cpus[0]},{cpus[1]}")
        self.assertEqual(out, {0: cpus_line([cpus[0]]),
                               1: cpus_line([cpus[1]])})

    def test_on_is_the_default(self):
        one = MINE[-1]
        # R gives the job one cpu: both tasks are bound to it
        out = self.run_tasks(None, 2, str(one))
        self.assertEqual(out, {0: cpus_line([one]), 1: cpus_line([one])})
        out = self.run_tasks({"cpu-affinity": "on"}, 1, str(one))
        self.assertEqual(out, {0: cpus_line([one])})

    def test_off_and_map(self):
        out = self.run_tasks({"cpu-affinity": "off"}, 1, str(MINE[0]))
        self.assertEqual(out, {0: cpus_line(MINE)})
        out = self.run_tasks({"cpu-affinity": f"map:{MINE[-1]};{MINE[0]}"},
                             2, str(MINE[0]))
        self.assertEqual(out, {0: cpus_line([MINE[-1]]),
                               1: cpus_line([MINE[0]])})

    def test_bad_values_end_the_job(self):
        for value, why in (
                ("sideways", "cpu-affinity: invalid option 'sideways'"),
                ("map:0;x", "invalid cpu list in 'map:0;x'")):
            code, events = run_shell(spec_of(jobspec(
                ["true"], count={"total": 2},
                options={"cpu-affinity": value}), ranks=((0, "0"),)))
            self.assertEqual(code, 1)
            [message] = fatal(events)
            self.assertIn("plugin 'cpu-affinity': shell.init: ", message)
            self.assertIn(why, message)
            self.assertNotIn("start", [e["ev"] for e in events])

    def test_cpus_the_node_lacks_disable_it(self):
        # as flux: a warning, and the tasks run unbound
        for value in ("on", "per-task", "map:4096"):
            code, events = run_shell(spec_of(jobspec(
                STATUS, options={"cpu-affinity": value}),
                ranks=((0, "4096"),)))
            self.assertEqual((code, fatal(events)), (0, []))
            self.assertEqual(outputs(events), {0: cpus_line(MINE)})
            [warning] = [e["message"] for e in events if e["ev"] == "log"]
            self.assertIn("are not all on this node: affinity disabled",
                          warning)


class GpuTests(SynchronousTestCase):

    def run_gpus(self, options, slots=2, gpus="0-3"):
        spec = spec_of(jobspec(
            ["sh", "-c", "echo ${CUDA_VISIBLE_DEVICES-unset}"
             " ${CUDA_DEVICE_ORDER-unset}"], slots=slots, options=options))
        if gpus:
            spec["R"]["execution"]["R_lite"][0]["children"]["gpu"] = gpus
        code, events = run_shell(spec)
        return code, outputs(events), fatal(events)

    def test_on_per_task_off(self):
        self.assertEqual(self.run_gpus(None), (0, {
            0: "0,1,2,3 PCI_BUS_ID\n", 1: "0,1,2,3 PCI_BUS_ID\n"}, []))
        self.assertEqual(self.run_gpus({"gpu-affinity": "per-task"}), (0, {
            0: "0,1 PCI_BUS_ID\n", 1: "2,3 PCI_BUS_ID\n"}, []))
        self.assertEqual(self.run_gpus({"gpu-affinity": "off"}), (0, {
            0: "unset unset\n", 1: "unset unset\n"}, []))
        # no GPU here: none of the node's either
        self.assertEqual(self.run_gpus(None, gpus=None), (0, {
            0: "-1 unset\n", 1: "-1 unset\n"}, []))
        # 3 GPUs, 2 tasks: one each, the third to none (as flux)
        self.assertEqual(self.run_gpus({"gpu-affinity": "per-task"},
                                       gpus="4-6"), (0, {
            0: "4 PCI_BUS_ID\n", 1: "5 PCI_BUS_ID\n"}, []))

    def test_bad_value(self):
        code, _, [message] = self.run_gpus({"gpu-affinity": "all"})
        self.assertEqual(code, 1)
        self.assertIn("gpu-affinity: invalid option 'all'", message)


PLUGIN = textwrap.dedent('''
    NAME = "{name}"

    def flux_plugin_init(p):
        def init(shell, topic, task):
            task.env["SEEN"] = task.env.get("SEEN", "") + "{name}:init "
        def execd(shell, topic, task):
            import os
            task.env["IN_CHILD"] = str(os.getpid() == task.pid)
        def done(shell, topic, task):
            shell.log(4, "{name} saw task " + str(task.rank) + " exit "
                      + str(task.status) + " opt=" + str(p.getopt("x.y")))
        p.add_handler("task.init", init)
        p.add_handler("task.exec", execd)
        p.add_handler("task.exit", done)
''')


class PluginStackTests(SynchronousTestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="shellplug-")
        self.addCleanup(shutil.rmtree, self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def shell(self, command, options=None, **spec):
        full = spec_of(jobspec(command, options=options),
                       ranks=((0, "0"),))
        full.update(spec)
        code, events = run_shell(full)
        warnings = [e["message"] for e in events
                    if e["ev"] == "log" and e["level"] == 4]
        return code, outputs(events), fatal(events), warnings

    def test_pluginpath_loads_every_plugin(self):
        self.write("one.py", PLUGIN.format(name="one"))
        self.write("two.py", PLUGIN.format(name="two"))
        self.write("README", "not a plugin")
        code, out, bad, warnings = self.shell(
            ["sh", "-c", "echo $SEEN${IN_CHILD}; exit 3"],
            options={"x": {"y": 5}}, shell_pluginpath=self.dir)
        self.assertEqual((code, bad), (3, []))
        self.assertEqual(out, {0: "one:init two:init False\n"})
        self.assertEqual(warnings, ["one saw task 0 exit 3 opt=5",
                                    "two saw task 0 exit 3 opt=5"])

    def test_initrc_chooses_and_replaces(self):
        self.write("one.py", PLUGIN.format(name="one"))
        self.write("two.py", PLUGIN.format(name="one"))   # replaces one
        rc = self.write("initrc.py", "plugin.load('one.py')\n"
                        "plugin.load('two.py')\n"
                        "assert shell.getopt('x') == 1\n")
        code, out, bad, warnings = self.shell(
            ["sh", "-c", "echo $SEEN"], options={"x": 1},
            shell_pluginpath=self.dir, shell_initrc=rc)
        self.assertEqual((code, bad, out), (0, [], {0: "one:init\n"}))
        self.assertEqual(len(warnings), 1)
        # -o initrc=FILE wins over conf.shell_initrc; it may load nothing
        empty = self.write("empty.py", "")
        code, out, bad, _ = self.shell(
            ["sh", "-c", "echo $SEEN."], options={"initrc": empty},
            shell_pluginpath=self.dir, shell_initrc=rc)
        self.assertEqual((code, bad, out), (0, [], {0: ".\n"}))

    def test_failures_end_the_job_clearly(self):
        raising = self.write("bad.py", textwrap.dedent('''
            def flux_plugin_init(p):
                def boom(shell, topic, task):
                    raise RuntimeError("no way")
                p.add_handler("task.exec", boom)
        '''))
        cases = [
            ({"shell_initrc": raising + ".missing"},
             f"initrc: {raising}.missing: No such file or directory"),
            ({"shell_initrc": self.write("syntax.py", "plugin.load(\n")},
             "syntax.py:1: '(' was never closed"),
            ({"shell_initrc": self.write("rc.py", "plugin.load('nope.py')")},
             "nope.py: plugin not found"),
            ({"shell_initrc": self.write("rc2.py", f"plugin.load('{raising}')"
                                         "\n")},
             "task 0 (host h): plugin 'bad': task.exec: RuntimeError: no way"),
            ({"shell_pluginpath": self.write("x", "") and os.path.join(
                self.dir, "none"), "shell_initrc": self.write(
                    "rc3.py", "plugin.load(" + repr(self.write(
                        "noinit.py", "x = 1")) + ")")},
             "noinit.py: no flux_plugin_init function"),
        ]
        for spec, why in cases:
            code, out, bad, _ = self.shell(["sh", "-c", "echo ran"], **spec)
            self.assertEqual((code, out), (1, {}), why)
            self.assertEqual(len(bad), 1, bad)
            self.assertIn(why, bad[0])


class HandlerGlobTests(SynchronousTestCase):
    """Handlers registered for a glob are called for every topic it
    matches, in load order with those for the exact topic."""

    def test_glob_and_exact_topics(self):
        from flux_shell.plugins import Plugin, PluginStack

        class _Shell:
            plugins = None
        calls = []
        stack = PluginStack(_Shell())
        first, second = Plugin("a", stack.shell), Plugin("b", stack.shell)
        stack.plugins = [first, second]
        first.add_handler("task.*", lambda s, t, task: calls.append(
            ("a", t)))
        second.add_handler("task.init", lambda s, t, task: calls.append(
            ("b", t)))
        second.add_handler("shell.[ie]*", lambda s, t, task: calls.append(
            ("b*", t)))
        for topic in ("task.init", "task.exit", "shell.init", "shell.exit",
                      "shell.start"):
            stack.call(topic)
        self.assertEqual(calls, [("a", "task.init"), ("b", "task.init"),
                                 ("a", "task.exit"), ("b*", "shell.init"),
                                 ("b*", "shell.exit")])
        self.assertFalse(stack.has("shell.start"))


SLOW = textwrap.dedent('''
    import time

    def flux_plugin_init(p):
        p.add_handler("task.init", lambda s, t, task: time.sleep(0.3))
        p.add_handler("shell.exit", lambda s, t, task: time.sleep(0.3))
''')


class EventWritesTests(SynchronousTestCase):
    """A lone shell writes its ``init`` with its ``start``, and its last
    output with its ``exit``, in one write each (the exec service reads
    them at once), even when plugins take time in between."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="shellplug-")
        self.addCleanup(shutil.rmtree, self.dir)
        with open(os.path.join(self.dir, "slow.py"), "w") as f:
            f.write(SLOW)

    def writes(self, **extra):
        """The shell's event pipe as read, chunk by chunk: ``[[ev...]]``
        (a reader always waiting: each write is a chunk of its own)."""
        spec = spec_of(jobspec(["sh", "-c", "echo hi"]), ranks=((0, "0"),))
        spec.update(shell_pluginpath=self.dir, **extra)
        pid, ev_r, ctl_w = fork_shell(spec)
        if extra.get("barrier"):
            os.write(ctl_w, b'{"op":"barrier"}\n')
        chunks = []
        for data in iter(lambda: os.read(ev_r, 65536), b""):
            chunks.append([json.loads(line)["ev"]
                           for line in data.splitlines()])
        os.waitpid(pid, 0)
        os.close(ev_r)
        os.close(ctl_w)
        return chunks

    def test_lone_shell_writes_init_with_start(self):
        chunks = self.writes()
        self.assertEqual(chunks[0], ["init", "start"])
        self.assertEqual(chunks[-1][-2:], ["output", "exit"])
        self.assertEqual(set(sum(chunks, [])), {"init", "start", "output",
                                                "exit"})

    def test_barrier_shell_writes_init_at_once(self):
        chunks = self.writes(barrier=True)
        self.assertEqual(chunks[0], ["init"])
        self.assertEqual(chunks[1][0], "start")
        self.assertEqual(chunks[-1][-2:], ["output", "exit"])
