"""TARGET -> instance URI (flux-uri(1)): URI forms, jobid paths through
nested instances, pid:, and flux's errors."""

import io
import json
import os

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli import cmd_uri
from fluxd.cli._uri import JobURI, resolve
from fluxd.errors import InvalidArgument, NotConnected, NotFound
from fluxd.formats import fluid

RUN, SCHED, INACTIVE = 16, 8, 64


class FakeHandle:
    """job-list.list-id and attr.get of one instance."""

    def __init__(self, jobs=None, attrs=None):
        self.jobs = jobs or {}
        self.attrs = attrs or {}
        self.events = {}
        self.closed = False

    def rpc(self, topic, payload):
        if topic == "attr.get":
            return {"value": self.attrs[payload["name"]]}
        assert topic == "job-list.list-id"
        assert payload["attrs"] == ["state", "annotations"]
        if payload["id"] not in self.jobs:
            raise NotFound("unknown job id")
        return {"job": self.jobs[payload["id"]]}

    def stream(self, topic, payload):
        assert topic == "job-info.eventlog-watch"
        if payload["id"] not in self.jobs:
            raise NotFound("unknown job id")
        for name, context in self.events.get(payload["id"], []):
            if name == "memo" and "uri" in context:
                self.jobs[payload["id"]] = job(uri=context["uri"])
            yield {"event": json.dumps({"timestamp": 1.0, "name": name,
                                        "context": context}) + "\n"}

    def close(self):
        self.closed = True


def job(state=RUN, uri=None, **user):
    if uri is not None:
        user["uri"] = uri
    return {"state": state, "annotations": {"user": user} if user else {}}


class Instances:
    """connect(uri) over a dict of fake instances (None: the current)."""

    def __init__(self, **by_uri):
        self.by_uri = by_uri
        self.opened = []

    def __call__(self, uri):
        self.opened.append(uri)
        if uri not in self.by_uri:
            raise NotConnected(f"Unable to connect to Flux: {uri}")
        return self.by_uri[uri]


class JobURITests(SynchronousTestCase):
    def test_local_and_remote_forms(self):
        uri = JobURI("local:///run/flux//local", hostname="node1")
        self.assertEqual(uri.remote, "ssh://node1/run/flux/local")
        self.assertEqual(uri.local, "local:///run/flux//local")
        self.assertEqual(str(uri), "local:///run/flux//local")
        ssh = JobURI("ssh://node2/tmp/a/local")
        self.assertEqual(ssh.local, "local:///tmp/a/local")
        self.assertEqual(ssh.remote, "ssh://node2/tmp/a/local")
        self.assertEqual(str(JobURI("ssh://n/x", force_local=True)),
                         "local:///x")

    def test_no_scheme(self):
        with self.assertRaises(InvalidArgument) as cm:
            JobURI("/tmp/sock")
        self.assertEqual(str(cm.exception),
                         "JobURI '/tmp/sock' does not have a valid scheme")


class ResolveTests(SynchronousTestCase):
    def setUp(self):
        self.child = FakeHandle({5: job(uri="local:///tmp/grandchild")})
        self.current = FakeHandle({
            1234: job(uri="local:///tmp/child"),
            99: job(),
            77: job(state=INACTIVE, uri="local:///tmp/gone"),
            78: job(state=SCHED)})
        self.connect = Instances(**{"None": None})
        self.connect.by_uri = {None: self.current,
                               "local:///tmp/child": self.child}

    def resolve(self, target, environ=None, hostname="me"):
        return resolve(target, self.connect, environ or {}, hostname)

    def error(self, target):
        with self.assertRaises(InvalidArgument) as cm:
            self.resolve(target)
        return str(cm.exception)

    def test_uris_are_kept(self):
        self.assertEqual(str(self.resolve("local:///a/b")), "local:///a/b")
        self.assertEqual(str(self.resolve("ssh://h/a/b")), "ssh://h/a/b")
        self.assertEqual(self.connect.opened, [])

    def test_jobid_in_any_encoding_reads_the_uri_memo(self):
        f58 = fluid.encode(1234, "f58")
        for target in ("jobid:1234", "1234", f"jobid:{f58}", f58,
                       fluid.encode(1234, "hex")):
            self.assertEqual(str(self.resolve(target)), "local:///tmp/child")
        self.assertTrue(self.current.closed)

    def test_nested_path(self):
        self.assertEqual(str(self.resolve("jobid:1234/5")),
                         "local:///tmp/grandchild")
        self.assertEqual(str(self.resolve("//1234//5")),
                         "local:///tmp/grandchild")
        self.assertEqual(self.connect.opened[-2:],
                         [None, "local:///tmp/child"])

    def test_queries_and_resolve_local(self):
        self.assertEqual(str(self.resolve("1234?remote")),
                         "ssh://me/tmp/child")
        self.assertEqual(str(self.resolve("jobid:1234?local")),
                         "local:///tmp/child")
        self.assertEqual(self.error("1234?local&remote"),
                         "Only one of 'local' or 'remote' is allowed")
        self.current.jobs[1] = job(uri="ssh://me/tmp/child")
        self.assertEqual(str(self.resolve(
            "1", environ={"FLUX_URI_RESOLVE_LOCAL": "t"})),
            "local:///tmp/child")
        # a nested ssh:// URI is followed through its local form
        self.assertEqual(str(self.resolve("1/5?local")),
                         "local:///tmp/grandchild")

    def test_errors(self):
        self.assertEqual(self.error("4321"), "jobid 4321 not found")
        self.assertEqual(self.error("jobid:77"), "jobid 77 is not running")
        self.assertEqual(self.error("jobid:78"), "jobid 78 is not running")
        self.assertEqual(self.error("jobid:99"), "URI not found for job 99")
        self.assertEqual(self.error("jobid:1234/6"), "jobid 6 not found")
        self.assertEqual(self.error("jobid:xyz"), "xyz is not a valid jobid")
        self.assertEqual(self.error("slurm:123"),
                         "No plugin for URI scheme slurm")
        self.assertEqual(self.error("local://"),
                         "local://: expected local:///PATH")
        self.assertEqual(self.error("pid:abc"),
                         "PID abc is not a valid process id")
        self.current.jobs[2] = job(uri="ssh://elsewhere/tmp/x")
        self.assertIn("fluxd connects to local:// URIs only",
                      self.error("2/5"))

    def test_wait_for_the_uri_memo(self):
        self.current.jobs[50] = job(state=SCHED)
        self.current.events[50] = [("submit", {}), ("alloc", {}),
                                   ("memo", {"x": 1}),
                                   ("memo", {"uri": "local:///tmp/late"})]
        self.assertEqual(str(self.resolve("50?wait")), "local:///tmp/late")
        self.current.jobs[51] = job(state=SCHED)
        self.current.events[51] = [("submit", {}), ("exception", {}),
                                   ("clean", {}), ("memo", {"uri": "x"})]
        self.assertEqual(self.error("jobid:51?wait"),
                         "jobid 51 is not running")
        self.assertEqual(self.error("52?wait"), "jobid 52 not found")

    def test_pid_of_a_process_reads_its_flux_uri(self):
        proc = self.mktemp()
        os.makedirs(os.path.join(proc, "42", "fd"))
        with open(os.path.join(proc, "42", "environ"), "wb") as env:
            env.write(b"A=1\0FLUX_URI=local:///tmp/inst/local\0B=2\0")
        os.makedirs(os.path.join(proc, "43", "fd"))
        with open(os.path.join(proc, "43", "environ"), "wb") as env:
            env.write(b"A=1\0")
        self.assertEqual(str(resolve("pid:42", self.connect, {}, "me",
                                     proc=proc)), "local:///tmp/inst/local")
        for target, text in (("pid:43", "PID 43 doesn't seem to have a"
                              " FLUX_URI"), ("pid:44", "PID 44 not found")):
            with self.assertRaises(InvalidArgument) as cm:
                resolve(target, self.connect, {}, "me", proc=proc)
            self.assertEqual(str(cm.exception), text)


class CommandTests(SynchronousTestCase):
    def run_uri(self, *argv):
        current = FakeHandle({1234: job(uri="local:///tmp/child")})
        out, err = io.StringIO(), io.StringIO()
        code = cmd_uri.main(list(argv), connect=lambda uri: current,
                            stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    def test_output_forms(self):
        self.assertEqual(self.run_uri("1234"), (0, "local:///tmp/child\n", ""))
        code, out, _ = self.run_uri("--remote", "1234")
        self.assertTrue(out.startswith("ssh://") and
                        out.endswith("/tmp/child\n"))
        self.assertEqual(self.run_uri("--local", "ssh://h/tmp/x"),
                         (0, "local:///tmp/x\n", ""))

    def test_one_line_errors(self):
        self.assertEqual(self.run_uri("5"), (
            1, "", "flux-uri: ERROR: jobid 5 not found\n"))
        self.assertEqual(self.run_uri("slurm:7"), (
            1, "", "flux-uri: ERROR: No plugin for URI scheme slurm\n"))


class ProxyTargetTests(SynchronousTestCase):
    def test_ssh_of_this_host_is_used_locally(self):
        from fluxd.cli.cmd_proxy import local_target
        for uri, host in (("ssh://localhost/tmp/x", "localhost"),
                          ("ssh://n1/tmp/x", "n1.example.com"),
                          ("ssh://user@n1.example.com/tmp/x",
                           "n1.example.com"),
                          ("local:///tmp/x", "n9")):
            self.assertEqual(local_target(JobURI(uri), hostname=host),
                             "local:///tmp/x")
        with self.assertRaises(InvalidArgument) as cm:
            local_target(JobURI("ssh://n2/tmp/x"), hostname="n1")
        self.assertEqual(str(cm.exception), "ssh://n2/tmp/x: remote"
                         " instances are not supported (fluxd has no ssh"
                         " connector)")
