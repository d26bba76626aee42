"""``flux job post-event``: context parsing and its errors."""

import pytest

from fluxd.cli._job_post import cmd_post_event, context_of
from fluxd.errors import InvalidArgument, NotFound, PermissionDenied


def test_context_of():
    assert context_of(["a=1", "b.c=x", "b.d=[1,2]", "e="]) == {
        "a": 1, "b": {"c": "x", "d": [1, 2]}, "e": ""}
    for bad in ("noequals", "=1", "a..b=1"):
        with pytest.raises(InvalidArgument):
            context_of([bad])


class FakeHandle:
    def __init__(self, error=None):
        self.error, self.calls = error, []

    def rpc(self, topic, payload):
        self.calls.append((topic, payload))
        if self.error is not None:
            raise self.error
        return {}

    def close(self):
        pass


def test_request_and_errors(capsys):
    h = FakeHandle()
    assert cmd_post_event(["ƒ2", "note", "x=1"], connect=lambda: h) == 0
    assert h.calls == [("job-manager.post-event.post",
                        {"id": 1, "name": "note", "context": {"x": 1}})]
    assert cmd_post_event(["ƒ2"], connect=lambda: h) == 1
    assert "Usage:" in capsys.readouterr().err
    with pytest.raises(InvalidArgument, match="No such job ƒ2"):
        cmd_post_event(["ƒ2", "x"], connect=lambda: FakeHandle(
            NotFound("unknown job id")))
    with pytest.raises(InvalidArgument, match="ƒ2: only the owner"):
        cmd_post_event(["ƒ2", "x"], connect=lambda: FakeHandle(
            PermissionDenied("only the owner")))
