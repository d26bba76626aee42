"""The limit builtins as jobtap plugins: ``.limit-job-size``,
``.limit-duration``, ``.validate-duration`` in ``job.validate``, their
``conf.update`` (load and reload), and ``flux jobtap list`` names."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.errors import InvalidArgument
from fluxd.job import jobs as J
from fluxd.job.jobtap import DEFAULTS
from fluxd.job.manager import JobManagerService
from tests.unit.job.fakes import OWNER, Instance

LIMITS = {"policy": {
    "jobspec": {"defaults": {"system": {"duration": "2h"}}},
    "limits": {"duration": "1h", "job-size": {"max": {"nnodes": 1},
                                              "min": {"ncores": 1}}}}}


def reject(i, cred=None, **attrs):
    cred = cred or OWNER
    jobs = [{"J": i.J(userid=cred.userid, **attrs), "urgency": 16,
             "flags": 0}]
    answer = i.ok("job-ingest.submit", {"jobs": jobs}, cred)
    return answer["jobs"][0]


class LimitPluginTests(SynchronousTestCase):
    def test_builtins_loaded_in_flux_order(self):
        i = Instance(self)
        self.assertEqual(list(i.manager.jobtap.plugins)[:len(DEFAULTS)],
                         list(DEFAULTS))
        for name in (".limit-job-size", ".limit-duration",
                     ".validate-duration"):
            self.assertIn(name, i.manager.jobtap.plugins)

    def test_defaults_applied_then_limit_in_job_validate(self):
        i = Instance(self, config=Config(LIMITS))
        i.ingest.reconfigure(Config(LIMITS))
        answer = reject(i)
        self.assertEqual(answer["errstr"], "requested duration (2h) exceeds"
                         " policy limit of 1h")
        # the job was refused by job.validate: submit then invalidate
        jobid = max(j.id for j in i.manager.jobs())
        self.assertEqual(i.events(jobid), ["submit", "invalidate"])
        self.assertEqual(i.manager.get(jobid).state, J.INACTIVE)
        ok = reject(i, duration=600)
        self.assertIn("id", ok)

    def test_limits_checked_once(self):
        i = Instance(self, config=Config(LIMITS))
        calls = []
        plugin = i.manager.jobtap.plugins[".limit-duration"]
        limits = plugin.data["limits"]
        real = limits.check

        def counting(jobspec):
            calls.append(1)
            return real(jobspec)
        limits.check = counting
        reject(i, duration=600)
        self.assertEqual(len(calls), 1)

    def test_job_size_and_removal(self):
        i = Instance(self, config=Config({"policy": {"limits": {
            "duration": "1h", "job-size": {"min": {"ncores": 2}}}}}))
        self.assertEqual(reject(i, duration=60)["errstr"],
                         "requested ncores (1) is under policy limit of 2")
        i.manager.jobtap.remove(".limit-job-size")
        self.assertIn("id", reject(i, duration=60))
        # removing the plugin lifts its limit
        i.manager.jobtap.remove(".limit-duration")
        self.assertIn("id", reject(i, duration=7200))

    def test_reload_refused_by_conf_update(self):
        i = Instance(self, config=Config(LIMITS))
        bad = {"policy": {"limits": {"duration": "x"}}}
        with self.assertRaises(InvalidArgument) as caught:
            i.manager.jobtap.conf_update(bad)
        self.assertEqual(str(caught.exception),
                         "policy.limits.duration: FSD value is malformed")
        # the old limits stay
        self.assertEqual(reject(i, duration=7200)["errstr"],
                         "requested duration (2h) exceeds policy limit of 1h")
        i.manager.reconfigure(Config({"policy": {"limits": {
            "duration": "3h"}}}))
        self.assertIn("id", reject(i, duration=7200))

    def test_validate_duration_uses_the_instance_expiration(self):
        i = Instance(self)
        now = i.clock.seconds()
        i.manager._expiration = lambda: now + 5400
        self.assertEqual(reject(i, duration=7200)["errstr"],
                         "job duration (2h) exceeds remaining instance"
                         " lifetime (1.5h)")
        self.assertIn("id", reject(i, duration=3600))
        # a standalone instance: no expiration, any duration
        i.manager._expiration = None
        self.assertIn("id", reject(i, duration=10 ** 6))

    def test_manager_without_expiration_function(self):
        i = Instance(self)
        self.assertIsInstance(i.manager, JobManagerService)
        self.assertEqual(i.manager.instance_expiration(), 0.0)


class CopiesTests(SynchronousTestCase):
    def test_copies_of_one_J_checked_once(self):
        i = Instance(self, config=Config({"policy": {"limits": {
            "job-size": {"max": {"ncores": 4}}}}}))
        limits = i.manager.jobtap.plugins[".limit-job-size"].data["limits"]
        calls = []
        real = limits.check
        limits.check = lambda jobspec: calls.append(1) or real(jobspec)
        self.assertEqual(len(i.submit(count=5)), 5)
        self.assertEqual(len(calls), 1)
        # a different jobspec is checked on its own
        answer = i.ok("job-ingest.submit", {"jobs": [{"J": i.J(
            command=("a",)), "urgency": 16, "flags": 0}]})
        self.assertIn("id", answer["jobs"][0])
        self.assertEqual(len(calls), 2)
