"""Builtins .dependency-singleton, .post-event, .history and the topics
job.inactive-add, job.inactive-remove, job.destroy, conf.update."""

import errno
import textwrap

from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.errors import InvalidArgument
from fluxd.job import jobs as J
from tests.unit.job.fakes import GUEST, Instance


class SingletonTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self)
        self.i.hello()

    def submit(self, name=None, singleton=False):
        attrs = {}
        if name is not None:
            attrs["job"] = {"name": name}
        if singleton:
            attrs["dependencies"] = [{"scheme": "singleton", "value": ""}]
        answer = self.i.ok("job-ingest.submit", {"jobs": [
            {"J": self.i.J(**attrs), "urgency": 16, "flags": 0}]})
        return answer["jobs"][0]

    def finish(self, jobid):
        self.i.sched.grant(jobid)
        self.i.settle()
        self.i.exec.run(jobid)
        self.i.settle()

    def test_released_one_at_a_time_when_the_name_is_free(self):
        first = self.submit("solo")["id"]
        a = self.submit("solo", singleton=True)["id"]
        b = self.submit("solo", singleton=True)["id"]
        other = self.submit("other", singleton=True)["id"]
        job = self.i.manager.get
        self.assertEqual((job(a).state, job(b).state),
                         (J.DEPEND, J.DEPEND))
        self.assertEqual(job(a).dependencies, ["singleton"])
        # another name: nothing else active, released at once
        self.assertEqual(job(other).state, J.SCHED)
        self.finish(first)
        self.assertEqual((job(a).state, job(b).state), (J.SCHED, J.DEPEND))
        self.finish(a)
        self.assertEqual(job(b).state, J.SCHED)
        self.assertEqual(self.i.events(b)[:3],
                         ["submit", "dependency-add", "validate"])

    def test_cancel_of_the_running_job_releases(self):
        first = self.submit("solo")["id"]
        a = self.submit("solo", singleton=True)["id"]
        self.i.ok("job-manager.raise", {"id": first, "type": "cancel",
                                        "severity": 0, "note": ""})
        self.assertEqual(self.i.manager.get(a).state, J.SCHED)

    def test_name_required(self):
        answer = self.submit(singleton=True)
        self.assertEqual(answer["errstr"],
                         "singleton jobs require a job name")

    def test_query(self):
        self.submit("solo")
        a = self.submit("solo", singleton=True)["id"]
        query = self.i.manager.jobtap.query(".dependency-singleton")
        self.assertEqual(list(query["singletons"].values()), [[a]])


class PostEventTests(SynchronousTestCase):
    def test_owner_posts_guests_refused(self):
        i = Instance(self)
        [jobid] = i.submit()
        i.ok("job-manager.post-event.post", {"id": jobid, "name": "note",
                                             "context": {"x": 1}})
        self.assertEqual(i.events(jobid)[-1], "note")
        err = i.fail("job-manager.post-event.post",
                     {"id": jobid, "name": "note"}, GUEST)
        self.assertEqual(err.errno, errno.EPERM)
        for body, text in (
                ({"id": jobid, "name": "clean"},
                 "event clean cannot be posted by hand"),
                ({"id": jobid, "name": "a b"},
                 "event name must be a non-empty word"),
                ({"id": jobid, "name": "x", "context": [1]},
                 "context must be an object"),
                ({"id": 12345, "name": "x"}, "unknown job id")):
            self.assertEqual(str(i.fail("job-manager.post-event.post",
                                        body)), text)

    def test_removed_plugin_is_enosys(self):
        i = Instance(self)
        [jobid] = i.submit()
        i.manager.jobtap.remove(".post-event")
        err = i.fail("job-manager.post-event.post", {"id": jobid,
                                                     "name": "x"})
        self.assertEqual(err.errno, errno.ENOSYS)


class HistoryTests(SynchronousTestCase):
    def test_most_recent_first_per_user(self):
        i = Instance(self)
        ids = i.submit(count=3)
        answer = i.ok("job-manager.history.get", {"slice": "[:2]"})
        self.assertEqual(answer["jobs"], ids[::-1][:2])
        guest = i.ok("job-manager.history.get", {"slice": "[:]"}, GUEST)
        self.assertEqual(guest["jobs"], [])
        self.assertIsInstance(i.fail("job-manager.history.get",
                                     {"slice": "[a:b]"}), InvalidArgument)


RECORDER = textwrap.dedent("""
    seen = []

    def record(p, topic, args):
        seen.append((topic, args["id"]))

    def conf(p, topic, args):
        if args["conf"].get("job-manager", {}).get(
                "inactive-num-limit") == 7:
            from fluxd.job.jobtap import JobtapError
            raise JobtapError("refused by recorder")
        seen.append(("conf.update", None))

    def plugin_init(p):
        p.seen = seen
        for topic in ("job.inactive-add", "job.inactive-remove",
                      "job.destroy"):
            p.register(topic, record)
        p.register("conf.update", conf)
""")


class TopicTests(SynchronousTestCase):
    def test_inactive_add_remove_destroy_and_conf_update(self):
        path = self.mktemp() + ".py"
        with open(path, "w") as f:
            f.write(RECORDER)
        i = Instance(self)
        i.hello()
        plugin = i.manager.jobtap.load(path)
        self.assertEqual(plugin.seen, [("conf.update", None)])
        [jobid] = i.submit()
        i.ok("job-manager.raise", {"id": jobid, "type": "cancel",
                                   "severity": 0, "note": ""})
        self.assertEqual(plugin.seen[-1], ("job.inactive-add", jobid))
        i.ok("job-manager.purge", {"jobs": [jobid], "force": True})
        self.assertEqual(plugin.seen[-2:], [("job.inactive-remove", jobid),
                                            ("job.destroy", jobid)])
        with self.assertRaises(InvalidArgument) as caught:
            i.manager.reconfigure(Config({"job-manager": {
                "inactive-num-limit": 7}}))
        self.assertEqual(str(caught.exception), "refused by recorder")


class SearchPathTests(SynchronousTestCase):
    def test_bare_names_found_on_the_search_path(self):
        import os
        first, second = self.mktemp(), self.mktemp()
        for directory, marker in ((first, "one"), (second, "two")):
            os.makedirs(directory)
            with open(os.path.join(directory, "site.py"), "w") as f:
                f.write(f"MARK = {marker!r}\n"
                        "def plugin_init(p):\n    p.data['mark'] = MARK\n")
        with open(os.path.join(second, "other.py"), "w") as f:
            f.write("def plugin_init(p):\n    pass\n")
        i = Instance(self)
        host = i.manager.jobtap
        host.searchpath = f"{first}:{second}"
        self.assertEqual(host.load("site.py").data["mark"], "one")
        self.assertEqual(host.load("site").path,
                         os.path.abspath(os.path.join(first, "site.py")))
        self.assertEqual(host.load("other").name, "other")
        with self.assertRaises(InvalidArgument) as caught:
            host.load("missing.py")
        self.assertEqual(str(caught.exception),
                         "missing.py: No such file or directory")
