"""The jobtap plugin host: loading, topics, outputs, rejections, failures."""

import errno
import os
import tempfile
import textwrap

from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.job import jobs as J
from tests.unit.job.fakes import GUEST, Instance

PRE = ["submit", "validate", "depend", "priority"]


class PluginFiles:
    """Plugin files in a temporary directory removed at cleanup."""

    def __init__(self, test):
        self.dir = tempfile.mkdtemp(prefix="jobtap-")
        test.addCleanup(self.cleanup)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def cleanup(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


RECORDER = """
    from fluxd.job.jobtap import JobtapError
    seen = []
    def record(p, topic, args):
        seen.append((topic, args["id"]))
    def validate(p, topic, args):
        if args["jobspec"]["attributes"]["system"].get("job", {}).get(
                "name") == "bad":
            raise JobtapError("bad name")
    def plugin_init(p):
        p.seen = seen
        for topic in ("job.create", "job.new", "job.state.*"):
            p.register(topic, record)
        p.register("job.validate", validate)
        p.register("plugin.query", lambda p, t, a: {"seen": len(seen),
                                                    "conf": p.conf})
"""


class HostTests(SynchronousTestCase):
    def setUp(self):
        self.files = PluginFiles(self)

    def instance(self, plugins=None):
        config = Config({"job-manager": {"plugins": plugins}}) \
            if plugins else None
        self.i = Instance(self, config=config)
        return self.i

    def test_builtins_are_loaded(self):
        i = self.instance()
        answer = i.ok("job-manager.jobtap", {"query_only": True})
        self.assertEqual(answer["plugins"], [
            ".priority-default", ".limit-job-size", ".limit-duration",
            ".dependency-after", ".dependency-singleton", ".begin-time",
            ".validate-duration", ".update-duration", ".history",
            ".post-event", ".update-queue"])

    def test_callbacks_by_topic_in_order(self):
        path = self.files.write("rec.py", RECORDER)
        i = self.instance([{"load": path, "conf": {"a": 1}}])
        i.hello()
        [jobid] = i.submit()
        plugin = i.manager.jobtap.plugins["rec"]
        self.assertEqual([t for t, _ in plugin.seen], [
            "job.create", "job.new", "job.state.depend",
            "job.state.priority", "job.state.sched"])
        answer = i.ok("job-manager.jobtap-query", {"name": "rec"})
        self.assertEqual((answer["seen"], answer["conf"], answer["path"]),
                         (5, {"a": 1}, path))

    def test_held_job_still_calls_state_priority(self):
        path = self.files.write("rec.py", RECORDER)
        i = self.instance([{"load": path}])
        [jobid] = i.submit(urgency=0)
        plugin = i.manager.jobtap.plugins["rec"]
        self.assertIn(("job.state.priority", jobid), plugin.seen)
        self.assertEqual(i.manager.get(jobid).priority, 0)

    def test_validate_rejects_with_plugin_message(self):
        path = self.files.write("rec.py", RECORDER)
        i = self.instance([{"load": path}])
        answer = i.ok("job-ingest.submit", {"jobs": [
            {"J": i.J(job={"name": "bad"}), "urgency": 16, "flags": 0},
            {"J": i.J(), "urgency": 16, "flags": 0}]})
        self.assertEqual(answer["jobs"][0], {"errnum": errno.EINVAL,
                                             "errstr": "bad name"})
        good = answer["jobs"][1]["id"]
        self.assertEqual(i.events(good), PRE)
        bad = [j for j in i.manager.jobs() if j.id != good][0]
        self.assertEqual(i.events(bad.id), ["submit", "invalidate"])

    def test_single_submit_rejection_is_an_error(self):
        path = self.files.write("rec.py", RECORDER)
        i = self.instance([{"load": path}])
        err = i.fail("job-ingest.submit", {"J": i.J(job={"name": "bad"}),
                                           "urgency": 16, "flags": 0})
        self.assertEqual(str(err), "bad name")

    def test_raising_state_callback_fails_the_job_not_the_broker(self):
        path = self.files.write("boom.py", """
            def boom(p, topic, args):
                raise RuntimeError("kaboom")
            def plugin_init(p):
                p.register("job.state.sched", boom)
        """)
        i = self.instance([{"load": path}])
        [jobid] = i.submit()
        job = i.manager.get(jobid)
        self.assertEqual((job.state, job.exception_type, job.exception_note),
                         (J.INACTIVE, "jobtap",
                          "boom: job.state.sched: RuntimeError: kaboom"))
        self.flushLoggedErrors(RuntimeError)
        [other] = i.submit()
        self.assertEqual(i.manager.get(other).state, J.INACTIVE)
        self.flushLoggedErrors(RuntimeError)

    def test_raising_validate_callback_rejects(self):
        path = self.files.write("boom.py", """
            def plugin_init(p):
                p.register("job.validate", lambda p, t, a: 1 / 0)
        """)
        i = self.instance([{"load": path}])
        err = i.fail("job-ingest.submit", {"J": i.J(), "urgency": 16,
                                           "flags": 0})
        self.assertEqual(str(err), "boom: job.validate: ZeroDivisionError:"
                         " division by zero")
        self.flushLoggedErrors(ZeroDivisionError)

    def test_priority_plugin_replaces_default(self):
        path = self.files.write("prio.py", """
            def prio(p, topic, args):
                return {"priority": 1000 + args["urgency"]}
            def plugin_init(p):
                p.register("job.state.priority", prio)
        """)
        i = self.instance([{"remove": ".priority-default"}, {"load": path}])
        [jobid] = i.submit(urgency=10)
        self.assertEqual(i.manager.get(jobid).priority, 1010)
        [held] = i.submit(urgency=0)
        self.assertEqual(i.manager.get(held).priority, 0)

    def test_no_priority_plugin_leaves_job_in_priority(self):
        i = self.instance([{"remove": ".priority-default"}])
        [jobid] = i.submit()
        self.assertEqual(i.manager.get(jobid).state, J.PRIORITY)
        self.assertEqual(i.events(jobid), ["submit", "validate", "depend"])

    def test_bad_priority_raises_exception(self):
        path = self.files.write("prio.py", """
            def plugin_init(p):
                p.register("job.state.priority",
                           lambda p, t, a: {"priority": -5})
        """)
        i = self.instance([{"remove": ".priority-default"}, {"load": path}])
        [jobid] = i.submit()
        job = i.manager.get(jobid)
        self.assertEqual((job.state, job.exception_note),
                         (J.INACTIVE, "invalid priority -5"))

    def test_unknown_dependency_scheme_rejected(self):
        i = self.instance()
        err = i.fail("job-ingest.submit", {"J": i.J(dependencies=[
            {"scheme": "nosuch", "value": "1"}]), "urgency": 16, "flags": 0})
        self.assertEqual(str(err), 'dependency scheme "nosuch" not'
                         ' supported')

    def test_load_list_remove_by_rpc(self):
        path = self.files.write("rec.py", RECORDER)
        i = self.instance()
        answer = i.ok("job-manager.jobtap", {"load": path})
        self.assertIn("rec", answer["plugins"])
        [jobid] = i.submit()
        self.assertEqual(len(i.manager.jobtap.plugins["rec"].seen), 5)
        answer = i.ok("job-manager.jobtap", {"remove": "all"})
        self.assertNotIn("rec", answer["plugins"])
        self.assertIn(".priority-default", answer["plugins"])
        err = i.fail("job-manager.jobtap", {"remove": "rec"})
        self.assertEqual(str(err), "rec not found")

    def test_rpc_errors(self):
        i = self.instance()
        missing = os.path.join(self.files.dir, "missing.py")
        err = i.fail("job-manager.jobtap", {"load": missing})
        self.assertEqual(str(err), f"{missing}: No such file or directory")
        broken = self.files.write("broken.py", "import nosuchmodule_x\n")
        err = i.fail("job-manager.jobtap", {"load": broken})
        self.assertEqual(str(err), f"{broken}: ModuleNotFoundError: No"
                         " module named 'nosuchmodule_x'")
        err = i.fail("job-manager.jobtap-query", {"name": "x"})
        self.assertEqual(str(err), "x not found")
        err = i.fail("job-manager.jobtap", {"load": 3})
        self.assertEqual(str(err), "load must be a non-empty string")

    def test_guest_may_not_load(self):
        path = self.files.write("rec.py", RECORDER)
        i = self.instance()
        err = i.fail("job-manager.jobtap", {"load": path}, cred=GUEST)
        self.assertEqual(err.errno, errno.EPERM)
        self.assertNotIn("rec", i.manager.jobtap.plugins)

    def test_config_plugin_that_does_not_import_is_skipped(self):
        broken = self.files.write("broken.py", "raise ValueError('x')\n")
        path = self.files.write("rec.py", RECORDER)
        i = self.instance([{"load": broken}, {"load": path}])
        self.assertNotIn("broken", i.manager.jobtap.plugins)
        self.assertIn("rec", i.manager.jobtap.plugins)

    def test_event_subscription(self):
        path = self.files.write("sub.py", """
            events = []
            def new(p, topic, args):
                p.job_subscribe(args["id"])
            def event(p, topic, args):
                events.append(topic)
            def plugin_init(p):
                p.events = events
                p.register("job.new", new)
                p.register("job.event.*", event)
        """)
        i = self.instance([{"load": path}])
        i.hello()
        [jobid] = i.submit()
        i.sched.grant(jobid)
        i.settle()
        i.exec.run(jobid, 0)
        i.settle()
        self.assertEqual(i.manager.jobtap.plugins["sub"].events, [
            "job.event." + n for n in ["validate", "depend", "priority",
                                       "alloc", "start", "finish",
                                       "release", "free", "clean"]])
        self.assertNotIn(jobid, i.manager.jobtap.subscribed)
