"""``flux update``: keys, aliases, relative durations, dry run, errors."""

import json

import pytest

from fluxd.cli import cmd_update
from fluxd.errors import InvalidArgument, PermissionDenied


class FakeHandle:
    def __init__(self, duration=600.0, error=None):
        self.calls, self.duration, self.error = [], duration, error

    def rpc(self, topic, payload):
        self.calls.append((topic, payload))
        if topic == "job-info.lookup":
            return {"jobspec": {"attributes": {"system": {
                "duration": self.duration}}}}
        if self.error is not None:
            raise self.error
        return {}

    def close(self):
        pass


def updates(*words, duration=600.0):
    builder = cmd_update.UpdateBuilder("ƒ2", lambda: {"attributes": {
        "system": {"duration": duration}}})
    for word in words:
        builder.add(word)
    return builder.updates


def test_keys_and_values():
    assert updates("name=foo", "queue=batch", "attributes.user.x=[1]",
                   "duration=1h", "tasks.0=x") == {
        "attributes.system.job.name": "foo",
        "attributes.system.queue": "batch",
        "attributes.user.x": [1],
        "attributes.system.duration": 3600.0,
        "tasks.0": "x"}
    assert updates("duration=inf") == {"attributes.system.duration": 0.0}
    assert updates("duration=+10m") == {"attributes.system.duration": 1200.0}
    assert updates("duration=-5m") == {"attributes.system.duration": 300.0}


@pytest.mark.parametrize("word, duration, message", [
    ("duration=-10m", 600.0,
     "current duration for ƒ2 (10m) cannot be reduced by 10m"),
    ("duration=+1m", 0.0, "duration for ƒ2 is unlimited, can't update by"
     " +1m"),
    ("duration=xyz", 600.0, "invalid Flux standard duration 'xyz'"),
    ("novalue", 600.0, "update must be KEY=VALUE: novalue"),
])
def test_bad_values(word, duration, message):
    with pytest.raises(InvalidArgument) as caught:
        updates(word, duration=duration)
    assert str(caught.value) == message


def test_main_sends_dry_runs_and_errors(capsys):
    h = FakeHandle()
    assert cmd_update.main(["ƒ2", "duration=+1m", "-v"],
                           connect=lambda: h) == 0
    assert h.calls[-1] == ("job-manager.update", {
        "id": 1, "updates": {"attributes.system.duration": 660.0}})
    assert capsys.readouterr().err == \
        "flux-update: updated attributes.system.duration to 660.0\n"
    assert cmd_update.main(["ƒ2", "urgency=hold"], connect=lambda: h) == 0
    assert h.calls[-1] == ("job-manager.update", {
        "id": 1, "updates": {}, "urgency": 0})
    assert cmd_update.main(["ƒ2", "name=y", "urgency=7"],
                           connect=lambda: h) == 0
    assert h.calls[-1] == ("job-manager.update", {
        "id": 1, "updates": {"attributes.system.job.name": "y"},
        "urgency": 7})
    assert cmd_update.main(["ƒ2", "urgency=soon"], connect=lambda: h) == 1
    assert capsys.readouterr().err.endswith("invalid urgency: soon\n")
    assert cmd_update.main(["-n", "ƒ2", "name=x"], connect=None) == 0
    assert json.loads(capsys.readouterr().out) == {
        "attributes.system.job.name": "x"}
    bad = FakeHandle(error=PermissionDenied("guests may only update their"
                                            " own jobs"))
    assert cmd_update.main(["ƒ2", "name=x"], connect=lambda: bad) == 1
    assert capsys.readouterr().err == \
        "flux-update: ERROR: guests may only update their own jobs\n"
    assert cmd_update.main(["nojob", "name=x"], connect=lambda: h) == 1
    assert capsys.readouterr().err == \
        "flux-update: ERROR: invalid jobid: nojob\n"
    with pytest.raises(SystemExit) as caught:
        cmd_update.main(["ƒ2"])
    assert caught.value.code == 2
