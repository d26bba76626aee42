"""Drains survive a restart of the instance: the guide's 16-node system
example is started twice with the same ``-Sstatedir``; what the first
run drained (reason and time) is still drained in the second, and what
it undrained is not."""

import json

import pytest

from tests.integration.resource_helpers import (
    SYSTEM_TOML, flux_start, sections, write_config)

FIRST = '''
show("drain", "resource", "drain", "test3", "disk", "failing")
show("drain-more", "resource", "drain", "test[9-10]", "rack", "move")
show("undrain", "resource", "undrain", "test10")
show("drained", "resource", "status", "-s", "drain", "--skip-empty", "-no",
     "{ranks}|{nodelist}|{reason}|{timestamp}")
'''

SECOND = '''
show("drained", "resource", "status", "-s", "drain", "--skip-empty", "-no",
     "{ranks}|{nodelist}|{reason}|{timestamp}")
show("listing", "resource", "drain", "-no", "{state} {reason} {nodelist}")
show("list", "resource", "list", "-s", "down", "-no",
     "{state} {nnodes} {nodelist}")
show("eventlog", "resource", "eventlog", "-f", "json")
show("again", "resource", "drain", "test3", "still", "failing")
'''


@pytest.mark.slow
def test_drain_survives_restart(tmp_path):
    conf = write_config(tmp_path / "conf.d", system=SYSTEM_TOML)
    statedir = tmp_path / "state"
    opts = (f"--config-path={conf}", f"-Sstatedir={statedir}")
    first = flux_start(tmp_path, FIRST, *opts, name="first.py")
    assert first.returncode == 0, first.stdout + first.stderr
    before = sections(first.stdout)
    assert before["drain"] == (0, "")
    rc, drained = before["drained"]
    assert rc == 0
    lines = drained.splitlines()
    assert [line.rsplit("|", 1)[0] for line in lines] == [
        "2|test3|disk failing", "8|test9|rack move"]

    second = flux_start(tmp_path, SECOND, *opts, name="second.py")
    assert second.returncode == 0, second.stdout + second.stderr
    after = sections(second.stdout)
    # same ranks, hosts, reasons and timestamps
    assert after["drained"] == (0, drained)
    assert after["listing"] == (0, "drained disk failing test3\n"
                                   "drained rack move test9\n")
    assert after["list"] == (0, "down 2 test[3,9]\n")
    assert after["again"] == (
        1, "flux-resource: rank 2 already drained\n"
        "flux-resource: Use --force to overwrite existing drain reason\n")
    events = [json.loads(line) for line in after["eventlog"][1].splitlines()]
    # the kept events of the first run, then this run's
    assert [e["name"] for e in events[:5]] == [
        "drain", "drain", "undrain", "restart", "resource-define"]
    assert events[0]["context"] == {
        "idset": "2", "nodelist": "test3", "reason": "disk failing",
        "overwrite": 0}
    assert events[2]["context"] == {"idset": "9", "nodelist": "test10"}
    assert events[4]["context"] == {"method": "configuration"}
