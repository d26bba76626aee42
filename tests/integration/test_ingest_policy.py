"""The guide's "Adding Job Request Validation" and "Policy Limits" on a
real broker: the TOML of those sections, ``flux submit``'s output and
exit codes, ``flux job-validator --list-plugins``.  Jobs are held so that
they stay pending whatever the queue service does with them."""

import json
import textwrap

import pytest

# the guide's "Policy Limits" example
LIMITS_TOML = textwrap.dedent("""\
    # Global defaults
    [policy]
    jobspec.defaults.system.duration = "1m"
    jobspec.defaults.system.queue = "debug"

    [queues.debug]
    requires = ["debug"]
    policy.limits.duration = "30m"
    policy.limits.job-size.max.nnodes = 2
    policy.limits.job-size.max.ncores = 16

    [queues.batch]
    requires = ["batch"]
    policy.limits.duration = "8h"
    policy.limits.job-size.max.nnodes = 16
    policy.limits.job-size.max.ncores = 128
    """)

# the guide's "Adding Job Request Validation" example
VALIDATOR_TOML = textwrap.dedent("""\
    [ingest.validator]
    plugins = [ "jobspec", "feasibility", "require-instance" ]
    """)

DIRECT = ("Direct job submission disabled for all jobs in this instance."
          " Please use flux-batch(1) or flux-alloc(1)")


def configured(broker_factory, tmp_path, name, *texts):
    conf = tmp_path / f"{name}.d"
    conf.mkdir()
    for i, text in enumerate(texts):
        (conf / f"{i}.toml").write_text(text)
    return broker_factory(config_path=str(conf), name=name)


@pytest.fixture
def limits_broker(broker_factory, tmp_path):
    return configured(broker_factory, tmp_path, "limits", LIMITS_TOML)


def submit(broker, *args):
    return broker.flux("submit", "--urgency=hold", *args)


def all_jobs(broker):
    result = broker.flux("jobs", "-a", "-n", "-o", "{id.f58}")
    assert result.rc == 0, result.err
    return result.out.split()


def test_validators_from_the_guide(broker_factory, tmp_path):
    broker = configured(broker_factory, tmp_path, "validate", VALIDATOR_TOML)
    result = submit(broker, "-n1", "myapp")
    assert (result.rc, result.out, result.err) == (
        1, "", f"[Errno 22] {DIRECT}\n")
    result = broker.flux("run", "-n1", "myapp")
    assert (result.rc, result.err) == (1, f"flux-run: ERROR: {DIRECT}\n")
    # feasibility: the scheduler refuses what this instance can never run
    result = submit(broker, "-N", "64", "flux", "start", "true")
    assert (result.rc, result.out, result.err) == (
        1, "", "[Errno 75] unsatisfiable request\n")
    assert all_jobs(broker) == []
    # a new Flux instance passes every validator
    result = submit(broker, "flux", "start", "true")
    assert result.rc == 0, result.err
    assert all_jobs(broker) == result.out.split()


def test_require_instance_thresholds(broker_factory, tmp_path):
    broker = configured(broker_factory, tmp_path, "minsize", VALIDATOR_TOML
                        .replace('"feasibility", ', "")
                        + "args = [\"--require-instance-mincores=2\"]\n")
    assert submit(broker, "-n1", "myapp").rc == 0
    result = submit(broker, "-n2", "myapp")
    assert (result.rc, result.err) == (
        1, "[Errno 22] Direct job submission disabled for jobs >= 2 cores."
        " Please use flux-batch(1) or flux-alloc(1)\n")


def test_defaults_and_constraints_are_applied(limits_broker):
    result = submit(limits_broker, "true")
    assert result.rc == 0, result.err
    info = limits_broker.flux("job", "info", result.out.strip(), "jobspec")
    system = json.loads(info.out)["attributes"]["system"]
    assert system["queue"] == "debug"
    assert system["duration"] == 60
    assert system["constraints"] == {"properties": ["debug"]}
    result = submit(limits_broker, "-q", "batch", "--requires=foo", "true")
    info = limits_broker.flux("job", "info", result.out.strip(), "jobspec")
    system = json.loads(info.out)["attributes"]["system"]
    assert system["constraints"] == {"properties": ["foo", "batch"]}


def test_policy_limits_from_the_guide(limits_broker):
    cases = [
        (["-t", "1h"], "requested duration (1h) exceeds policy limit of 30m"
         " for queue debug"),
        (["-N3", "-n3"], "requested nnodes (3) exceeds policy limit of 2 for"
         " queue debug"),
        (["-n17"], "requested ncores (17) exceeds policy limit of 16 for"
         " queue debug"),
        (["-q", "batch", "-t", "9h"], "requested duration (9h) exceeds"
         " policy limit of 8h for queue batch"),
        (["-q", "batch", "-n", "129"], "requested ncores (129) exceeds"
         " policy limit of 128 for queue batch"),
        (["-q", "express"], "Invalid queue 'express' specified"),
    ]
    for args, message in cases:
        result = submit(limits_broker, *args, "true")
        assert (result.rc, result.out, result.err) == (
            1, "", f"[Errno 22] {message}\n"), args
    # nothing of a refused job was kept
    assert all_jobs(limits_broker) == []
    # under the batch queue's limits
    result = submit(limits_broker, "-q", "batch", "-t", "2h", "-N3", "-n3",
                    "true")
    assert result.rc == 0, result.err


def test_batch_submission_refuses_each_job_alone(limits_broker):
    result = limits_broker.flux("bulksubmit", "--urgency=hold", "-t", "{}",
                                "true", ":::", "10m", "1h", "20m")
    assert result.rc == 1
    ids = result.out.split()
    assert len(ids) == 2
    assert "requested duration (1h) exceeds policy limit of 30m for queue" \
        " debug" in result.err
    assert sorted(all_jobs(limits_broker)) == sorted(ids)


def test_bad_limits_refused_at_load(tmp_path, broker):
    conf = tmp_path / "bad.d"
    conf.mkdir()
    for text, message in [
            ("[policy.limits]\nduration = 1.0\n", "expected FSD string"),
            ("[policy.limits]\nduration = \"x\"\n", "duration"),
            ("[policy.limits.job-size.max]\nnnodes = -2\n", "must be >= -1"),
            ("[ingest.validator]\nplugins = [\"nope\"]\n",
             "validator plugin 'nope' not found"),
            ("[ingest.validator]\nargs = [\"--bogus\"]\n",
             "unrecognized arguments: --bogus")]:
        (conf / "x.toml").write_text(text)
        result = broker.flux("config", "get", "-c", str(conf), "policy")
        assert result.rc == 1, text
        lines = result.err.splitlines()
        assert len(lines) == 1 and message in lines[0], (text, result.err)


def test_list_plugins(broker):
    result = broker.flux("job-validator", "--list-plugins")
    assert (result.rc, result.out) == (0, (
        "Available plugins:\n"
        "feasibility           Use feasibility service to validate job\n"
        "jobspec               Python bindings based jobspec validator\n"
        "require-instance      Require that all jobs are new instances of"
        " Flux\n"
        "schema                Validate jobspec against the RFC 25 (V1)"
        " schema\n"))
    result = broker.flux("job-frobnicator", "--list-plugins")
    assert result.rc == 0
    assert result.out.splitlines()[1:] == [
        "constraints           Apply constraints to incoming jobspec based"
        " on broker config",
        "defaults              Apply defaults to incoming jobspec based on"
        " broker config"]
