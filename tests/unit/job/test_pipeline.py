"""The ingest pipeline: plugin selection and args as flux parses them,
validators' messages, site plugins, the order frob > validate > limits."""

import errno

import pytest
from twisted.internet import defer

from fluxd.errors import FluxError
from fluxd.formats.jobspec import from_command
from fluxd.job._plugins import PluginArgumentError
from fluxd.job.pipeline import IngestPipeline, check_config

DIRECT = ("Direct job submission disabled for all jobs in this instance."
          " Please use flux-batch(1) or flux-alloc(1)")


def job(command=("app",), **kw):
    return from_command(list(command), **kw)


def run(pipeline, js, flags=0):
    return pipeline.run(js, 1000, 16, flags)


def refusal(pipeline, js, flags=0):
    with pytest.raises(FluxError) as info:
        run(pipeline, js, flags)
    return info.value.errno, str(info.value)


def validators(*plugins, args=(), **extra):
    table = {"plugins": list(plugins), "args": list(args), **extra}
    return IngestPipeline({"ingest": {"validator": table}})


def test_require_instance_messages():
    p = validators("jobspec", "require-instance")
    assert refusal(p, job()) == (errno.EINVAL, DIRECT)
    assert run(p, job(("flux", "start", "app"))) is None
    assert run(p, job(("/usr/bin/flux", "broker"))) is None
    batch = job()
    batch["attributes"]["system"]["batch"] = {"script": "x"}
    assert run(p, batch) is None
    p = validators("require-instance",
                   args=["--require-instance-minnodes=2"])
    assert run(p, job(nodes=1)) is None
    assert refusal(p, job(nodes=2, ntasks=2))[1] == (
        "Direct job submission disabled for jobs >= 2 nodes or 32 cores."
        " Please use flux-batch(1) or flux-alloc(1)")
    # the config keys, overridden by args
    p = validators("require-instance", **{"require-instance": {
        "mincores": 4}})
    assert run(p, job(ntasks=3)) is None
    assert refusal(p, job(ntasks=4))[1].startswith(
        "Direct job submission disabled for jobs >= 4 cores.")


def test_messages_of_all_validators_are_joined(tmp_path):
    site = tmp_path / "site.py"
    site.write_text("class Validator:\n"
                    "    def __init__(self, parser):\n"
                    "        parser.add_argument('--site-word')\n"
                    "    def configure(self, args):\n"
                    "        self.word = args.site_word\n"
                    "    def validate(self, job):\n"
                    "        return (1, 'site says ' + self.word)\n")
    p = validators("require-instance", str(site), args=["--site-word=no"])
    assert refusal(p, job()) == (errno.EINVAL, DIRECT + ", site says no")


def test_jobspec_and_schema_validators():
    bad = job()
    bad["attributes"]["system"]["duration"] = "x"
    p = validators("jobspec")
    assert refusal(p, bad) == (errno.EINVAL, "attributes.system.duration"
                               " must be a number")
    # novalidate (owner only) skips the validators
    assert run(p, bad, flags=8) is None
    extra = job()
    extra["resources"][0]["bogus"] = 1
    assert run(p, extra) is None
    assert refusal(validators("schema"), extra)[0] == errno.EINVAL
    assert run(validators("jobspec", args=["--require-version=any"]),
               job()) is None


@pytest.mark.parametrize("table, message", [
    ({"plugins": ["nope"]}, "validator plugin 'nope' not found"),
    ({"args": ["--bogus"]}, "unrecognized arguments: --bogus"),
    ({"args": ["--require-version=2"]},
     "Required jobspec version too high: 2 is > 1"),
    ({"args": ["--require-version=x"]},
     "Invalid argument to --require-version"),
])
def test_bad_settings(table, message):
    with pytest.raises(PluginArgumentError) as info:
        IngestPipeline({"ingest": {"validator": table}})
    assert str(info.value) == message
    assert check_config({"ingest": {"validator": table}}) == \
        (["ingest"], message)


def test_site_plugin_that_does_not_import(tmp_path):
    site = tmp_path / "broken.py"
    site.write_text("import no_such_module_here\n")
    with pytest.raises(PluginArgumentError, match="^validator plugin '.*"
                       "broken.py' not found: ModuleNotFoundError"):
        validators(str(site))


class FakeRouter:
    """Answers feasibility.check from a table; records the credential."""

    def __init__(self, errnum=0, text=""):
        self.errnum, self.text, self.calls = errnum, text, []

    def call(self, topic, payload, *, cred):
        self.calls.append((topic, payload["jobspec"], cred))
        if self.errnum:
            return defer.fail(FluxError(self.text, errnum=self.errnum))
        return defer.succeed({})


def settle(awaitable):
    d = defer.ensureDeferred(awaitable)
    results = []
    d.addBoth(results.append)
    return results[0]


def feasibility(router):
    return IngestPipeline({"ingest": {"validator": {
        "plugins": ["feasibility"]}}, "policy": {"limits": {
            "duration": "1h"}}}, router=router)


def test_feasibility_uses_the_callers_credential():
    router = FakeRouter()
    js = job(duration=60)
    waiting = feasibility(router).run(js, 1000, 16, 0, cred="CRED")
    assert settle(waiting) is None
    assert router.calls == [("feasibility.check", js, "CRED")]
    # the limits are the job manager's (job.validate), not checked here
    waiting = feasibility(router).run(job(duration=7200), 1000, 16, 0)
    assert settle(waiting) is None


def test_feasibility_refusal_and_enosys():
    failure = settle(feasibility(FakeRouter(
        errno.EOVERFLOW, "unsatisfiable request")).run(job(), 1, 16, 0))
    assert (failure.value.errno, str(failure.value)) == (
        errno.EOVERFLOW, "unsatisfiable request")
    assert settle(feasibility(FakeRouter(errno.ENOSYS, "x")).run(
        job(duration=60), 1, 16, 0)) is None


def test_frobnicate_defaults_limits_left_to_the_job_manager():
    p = IngestPipeline({
        "policy": {"jobspec": {"defaults": {"system": {"duration": "2h"}}},
                   "limits": {"duration": "1h"}}})
    js = job()
    assert run(p, js) is None
    assert js["attributes"]["system"]["duration"] == 7200
    p = IngestPipeline({"ingest": {"frobnicator": {"disable": True}},
                        "policy": {"jobspec": {"defaults": {"system": {
                            "duration": "2h"}}}}})
    js = job()
    assert run(p, js) is None
    assert js["attributes"]["system"]["duration"] == 0
