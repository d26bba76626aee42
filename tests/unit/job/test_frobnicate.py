"""The ``defaults`` and ``constraints`` frobnicators (flux's rules)."""

import pytest

from fluxd.formats.jobspec import from_command
from fluxd.job.frobnicate import ConstraintsFrobnicator, DefaultsFrobnicator

CONFIG = {
    "policy": {"jobspec": {"defaults": {"system": {
        "duration": "1m", "queue": "debug"}}}},
    "queues": {
        "debug": {"requires": ["debug"]},
        "batch": {"requires": ["batch"], "policy": {"jobspec": {
            "defaults": {"system": {"duration": "2h"}}}}},
        "small": {"parent": "batch", "policy": {"jobspec": {
            "defaults": {"system": {"bank": "b1"}}}}},
    },
}


def frob(cls, jobspec, config=CONFIG):
    plugin = cls(None)
    plugin.configure(None, config)
    plugin.frob(jobspec, 1000, 16, 0)
    return jobspec["attributes"]["system"]


def job(**system):
    spec = from_command(["true"])
    spec["attributes"]["system"].pop("duration", None)
    spec["attributes"]["system"].update(system)
    return spec


def test_general_defaults_fill_unset_keys():
    system = frob(DefaultsFrobnicator, job())
    assert (system["queue"], system["duration"]) == ("debug", 60.0)
    system = frob(DefaultsFrobnicator, job(duration=5.0))
    assert system["duration"] == 5.0


def test_queue_and_parent_defaults_override_per_key():
    system = frob(DefaultsFrobnicator, job(queue="batch"))
    assert system["duration"] == 7200.0
    system = frob(DefaultsFrobnicator, job(queue="small"))
    assert (system["duration"], system["bank"]) == (7200.0, "b1")


def test_queue_errors():
    with pytest.raises(ValueError, match="^Invalid queue 'x' specified$"):
        frob(DefaultsFrobnicator, job(queue="x"))
    config = {"queues": CONFIG["queues"]}
    with pytest.raises(ValueError, match="^no queue specified$"):
        frob(DefaultsFrobnicator, job(), config)
    with pytest.raises(ValueError, match="default queue 'x' must be in"):
        frob(DefaultsFrobnicator, job(), {"policy": {"jobspec": {
            "defaults": {"system": {"queue": "x"}}}}})


def test_no_queues_means_general_defaults_only():
    system = frob(DefaultsFrobnicator, job(queue="any"), {"policy": {
        "jobspec": {"defaults": {"system": {"duration": "30s"}}}}})
    assert system["duration"] == 30.0


def test_constraints_three_ways():
    system = frob(ConstraintsFrobnicator, job(queue="debug"))
    assert system["constraints"] == {"properties": ["debug"]}
    system = frob(ConstraintsFrobnicator, job(
        queue="debug", constraints={"properties": ["a", "debug"]}))
    assert system["constraints"] == {"properties": ["a", "debug"]}
    other = {"hostlist": ["n1"]}
    system = frob(ConstraintsFrobnicator, job(queue="batch",
                                              constraints=dict(other)))
    assert system["constraints"] == {"and": [other,
                                             {"properties": ["batch"]}]}
    # a virtual queue takes its parent's properties
    system = frob(ConstraintsFrobnicator, job(queue="small"))
    assert system["constraints"] == {"properties": ["batch"]}
    system = frob(ConstraintsFrobnicator, job())
    assert "constraints" not in system
    with pytest.raises(ValueError, match="^Invalid queue 'q' specified$"):
        frob(ConstraintsFrobnicator, job(queue="q"))
