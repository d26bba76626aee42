"""flux pstree: the tree drawing and the walk through nested instances
(fake job-list handles; real brokers in tests/integration)."""

import io

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli import cmd_pstree
from fluxd.cli._tree import Tree
from fluxd.errors import NotConnected, NotFound

UID = 4242421
RUN, SCHED, INACTIVE = 16, 8, 64


class TreeTests(SynchronousTestCase):
    def sample(self, combine=True):
        root = Tree(".", combine_children=combine)
        root.append("a")
        child = Tree("batch", combine_children=combine)
        child.append("sleep")
        child.append("sleep")
        grand = Tree("inner", combine_children=combine)
        grand.append("x")
        child.append_tree(grand)
        child.append("y")
        root.append_tree(child)
        root.append("z")
        return root

    def test_box(self):
        self.assertEqual(self.sample().lines(), [
            ".",
            "├── a",
            "├── batch",
            "│   ├── 2*[sleep]",
            "│   ├── inner",
            "│   │   └── x",
            "│   └── y",
            "└── z"])

    def test_ascii_compact_and_no_combine(self):
        self.assertEqual(self.sample(combine=False).lines("ascii")[2:6], [
            "|-- batch", "|   |-- sleep", "|   |-- sleep", "|   |-- inner"])
        self.assertEqual(self.sample().lines("compact")[3:6], [
            "│ ├─2*[sleep]", "│ ├─inner", "│ │ └─x"])

    def test_skip_root_prefix_and_width(self):
        root = Tree(".")
        child = root.append_tree(Tree("inst", "   P1"))
        child.append("leaf", "   P2")
        root.append("other", "   P3")
        self.assertEqual(root.lines(skip_root=True), [
            "   P1 inst", "   P2 └── leaf", "   P3 other"])
        self.assertEqual(root.lines(skip_root=True, width=8)[1], "   P2 └+")

    def test_instances_with_children_are_never_combined(self):
        root = Tree(".", combine_children=True)
        for _ in range(2):
            inst = Tree("batch", combine_children=True)
            inst.append("sleep")
            root.append_tree(inst)
        root.append_tree(Tree("batch", combine_children=True))
        root.append_tree(Tree("batch", combine_children=True))
        self.assertEqual(root.lines(), [
            ".", "├── batch", "│   └── sleep", "├── batch", "│   └── sleep",
            "└── 2*[batch]"])


def record(jobid, name, state=RUN, uri=None, userid=UID):
    rec = {"id": jobid, "name": name, "state": state, "userid": userid,
           "ntasks": 1, "nnodes": 1, "t_run": 100.0,
           "result": 1 if state == INACTIVE else 0}
    if uri:
        rec["annotations"] = {"user": {"uri": uri}}
    return rec


class FakeInstance:
    def __init__(self, jobs, attrs=None):
        self.jobs = jobs
        self.attrs = attrs or {}
        self.queries = []

    def rpc(self, topic, payload):
        if topic == "attr.get":
            if payload["name"] not in self.attrs:
                raise NotFound("Unknown attribute")
            return {"value": self.attrs[payload["name"]]}
        if topic == "job-list.list-id":
            return {"job": next(j for j in self.jobs
                                if j["id"] == payload["id"])}
        assert topic == "job-list.list", topic
        self.queries.append(payload)
        return {"jobs": [j for j in self.jobs
                         if j["state"] & payload["states"]]}

    def close(self):
        pass


class PsTreeTests(SynchronousTestCase):
    def setUp(self):
        self.inner = FakeInstance([record(30, "hostname"),
                                   record(31, "hostname")])
        self.child = FakeInstance([
            record(20, "sleep"), record(21, "sleep"),
            record(22, "flux", uri="local:///inner"),
            record(23, "done", state=INACTIVE)])
        self.top = FakeInstance([
            record(10, "other"),
            record(11, "batch", uri="local:///child"),
            record(12, "gone", uri="local:///nowhere"),
            record(13, "waiting", state=SCHED)],
            attrs={"size": 1, "security.owner": UID, "hostlist": "n0",
                   "local-uri": "local:///top", "broker.starttime": "1.0",
                   "jobid": "-"})
        self.by_uri = {None: self.top, "local:///child": self.child,
                       "local:///inner": self.inner}

    def connect(self, uri):
        if uri not in self.by_uri:
            raise NotConnected("Unable to connect to Flux: gone")
        return self.by_uri[uri]

    def pstree(self, *argv):
        out = io.StringIO()
        code = cmd_pstree.main(list(argv) + ["-l"], connect=self.connect,
                               stdout=out, now=lambda: 110.0,
                               getuid=lambda: UID)
        self.assertEqual(code, 0)
        return out.getvalue().splitlines()

    def test_default(self):
        self.assertEqual(self.pstree(), [
            ".",
            "├── other",
            "├── batch",
            "│   ├── 2*[sleep]",
            "│   └── flux",
            "│       └── 2*[hostname]",
            "└── gone"])
        self.assertEqual(self.top.queries[0]["userid"], UID)

    def test_all_level_and_parent_ids(self):
        self.assertEqual(self.pstree("-a", "-L", "1", "-p"), [
            ". .",
            "├── other:R",
            "├── ƒC batch",
            "│   ├── 2*[sleep:R]",
            "│   ├── ƒP flux",
            "│   └── done:CD",
            "├── ƒD gone",
            "└── waiting:S"])

    def test_extended_details(self):
        lines = self.pstree("-x", "-X")
        self.assertEqual(lines[0],
                         "       JOBID USER     ST NTASKS NNODES  RUNTIME")
        self.assertEqual(lines[2][13:], "4242421   R      1      1      10s"
                         " batch")
        self.assertTrue(lines[3].endswith("10s ├── sleep"), lines[3])
        self.assertEqual(len(lines), 1 + 8)

    def test_filter_applies_below_the_jobs_of_a_skipped_root(self):
        lines = self.pstree("-a", "-x", "-n", "-o", "{name}")
        names = [line.split()[-1] for line in lines]
        # (details differ per job: nothing is combined)
        self.assertEqual(names, ["other", "batch", "sleep", "sleep", "flux",
                                 "hostname", "hostname", "done", "gone"])
        self.assertEqual(self.top.queries[0]["states"], 16 | 32)

    def test_bad_options(self):
        err = io.StringIO()
        self.patch(cmd_pstree.sys, "stderr", err)
        code = cmd_pstree.main(["-d", "nosuch"], connect=self.connect,
                               stdout=io.StringIO())
        self.assertEqual((code, err.getvalue()), (1, "flux-pstree: ERROR:"
                         " Unknown --details format 'nosuch'\n"))


class InstanceInfoTests(SynchronousTestCase):
    def test_counts_and_ratios(self):
        from fluxd.cli._instance import InstanceInfo

        class Handle:
            def rpc(self, topic, payload, nodeid=None):
                if topic == "job-list.job-stats":
                    return {"job_states": {"sched": 1, "run": 2,
                                           "inactive": 5, "total": 8},
                            "successful": 3, "failed": 1, "canceled": 1}
                assert topic == "resource.sched-status"
                return {"all": rv1("0-3"), "allocated": rv1("0-2"),
                        "down": None}

        def rv1(cores):
            return {"version": 1, "execution": {"R_lite": [
                {"rank": "0", "children": {"core": cores}}],
                "nodelist": ["n0"], "starttime": 0, "expiration": 0}}

        info = InstanceInfo(Handle())
        self.assertEqual(str(info.stats), "PD:1 R:2 CD:3 F:2")
        self.assertEqual(info.stats.total, 8)
        self.assertEqual((info.resources.all.ncores,
                          info.resources.free.ncores,
                          info.resources.all.nnodes), (4, 1, 1))
        self.assertEqual(info.utilization, 0.75)
        self.assertEqual(info.progress, 5 / 8)
        self.assertEqual(info.gpu_utilization, "")

    def test_not_an_instance_renders_empty(self):
        from fluxd.cli._instance import InstanceInfo
        info = InstanceInfo()
        self.assertEqual(f"[{info.stats:^5}|{info.resources.all.ncores:>3}|"
                         f"{info.utilization}]", "[     |   |]")
