"""Policy limits and validate-duration, with flux's messages."""

import pytest

from fluxd.formats.jobspec import from_command
from fluxd.job.limits import PolicyLimits, check_lifetime

GUIDE = {
    "policy": {"limits": {"duration": "2h", "job-size": {
        "max": {"nnodes": 8}, "min": {"ncores": 2}}}},
    "queues": {
        "debug": {"policy": {"limits": {"duration": "30m", "job-size": {
            "max": {"nnodes": 2, "ncores": 16}}}}},
        "long": {"policy": {"limits": {"duration": "0", "job-size": {
            "max": {"nnodes": -1}, "min": {"ncores": -1}}}}},
        "virt": {"parent": "debug", "policy": {"limits": {
            "duration": "1h"}}},
    },
}


def spec(ntasks=2, duration=60.0, queue=None, nodes=None, gpus=0):
    js = from_command(["true"], ntasks=ntasks, nodes=nodes,
                      gpus_per_task=gpus or None)
    js["attributes"]["system"]["duration"] = duration
    if queue:
        js["attributes"]["system"]["queue"] = queue
    return js


def check(js, config=GUIDE):
    return PolicyLimits(config).check(js)


def test_general_limits():
    assert check(spec()) is None
    assert check(spec(duration=3 * 3600)) == \
        "requested duration (3h) exceeds policy limit of 2h"
    assert check(spec(duration=0)) == \
        "requested duration (unlimited) exceeds policy limit of 2h"
    assert check(spec(ntasks=1)) == \
        "requested ncores (1) is under policy limit of 2"
    assert check(spec(nodes=9, ntasks=9)) == \
        "requested nnodes (9) exceeds policy limit of 8"


def test_queue_limits_override_per_key():
    assert check(spec(duration=3600, queue="debug")) == \
        "requested duration (1h) exceeds policy limit of 30m for queue debug"
    assert check(spec(ntasks=17, queue="debug")) == \
        "requested ncores (17) exceeds policy limit of 16 for queue debug"
    # the general minimum still applies in debug
    assert check(spec(ntasks=1, queue="debug")) == \
        "requested ncores (1) is under policy limit of 2 for queue debug"
    # "0" and -1 lift the general limits
    assert check(spec(duration=0, ntasks=20, nodes=20, queue="long")) is None
    # a virtual queue: its own duration, its parent's sizes
    assert check(spec(duration=3000, queue="virt")) is None
    assert check(spec(nodes=3, ntasks=3, queue="virt")) == \
        "requested nnodes (3) exceeds policy limit of 2 for queue virt"


def test_gpus_and_inf():
    config = {"policy": {"limits": {"duration": "inf", "job-size": {
        "max": {"ngpus": 1}}}}}
    assert check(spec(duration=0), config) is None
    assert check(spec(ntasks=2, gpus=1), config) == \
        "requested ngpus (2) exceeds policy limit of 1"


def test_no_limits_is_inactive():
    assert not PolicyLimits({}).active
    assert PolicyLimits({}).check({"attributes": {"system": {}}}) is None


@pytest.mark.parametrize("config, message", [
    ({"policy": {"limits": {"duration": "x"}}},
     "policy.limits.duration: FSD value is malformed"),
    ({"policy": {"limits": {"job-size": {"max": {"nnodes": -2}}}}},
     "policy.limits.job-size.max: size must be -1 (unlimited), or >= 0"),
    ({"queues": {"q": {"policy": {"limits": {"duration": "1y"}}}}},
     "queues.q.policy.limits.duration: FSD value is malformed"),
])
def test_bad_values(config, message):
    with pytest.raises(ValueError) as info:
        PolicyLimits(config)
    assert str(info.value) == message


def test_remaining_lifetime():
    js = spec(duration=7200)
    assert check_lifetime(js, 0.0, 1000.0) is None
    assert check_lifetime(js, 1000.0 + 5400, 1000.0) == \
        "job duration (2h) exceeds remaining instance lifetime (1.5h)"
    assert check_lifetime(js, 1000.0 + 9000, 1000.0) is None
    assert check_lifetime(spec(duration=0), 1001.0, 1000.0) is None
