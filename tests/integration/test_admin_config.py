"""The configuration reaches every broker and every service: three real
brokers, each reading its own config directory; rank 0's config wins,
reloads and ``flux config load|set|unset`` reach the followers, and what
a service does changes with it."""

import json
import os
import signal

import pytest

from fluxd.testing.users import temporary_user
from tests.integration.admin_helpers import make_instance  # noqa: F401
from tests.integration.lifecycle_helpers import run_as_guest, shared_dir  # noqa: F401

ACCESS = "[access]\nallow-guest-user = {}\n"

GUEST_SCRIPT = """
import sys
from fluxd.client.sync import Flux
from fluxd.errors import FluxError
try:
    with Flux(sys.argv[1]) as h:
        print("connected", h.rpc("attr.get", {"name": "rank"})["value"])
except FluxError as e:
    print("refused", e)
"""


def get(broker, key):
    r = broker.flux("config", "get", key)
    return r.out.strip() if r.rc == 0 else r.err.strip()


def test_followers_take_the_leaders_config_and_each_change(make_instance):
    inst = make_instance(3, files={"access.toml": ACCESS.format("false")})
    # rank 2's own files say otherwise: the leader's config wins
    (inst.conf[2] / "access.toml").write_text(ACCESS.format("true"))
    inst.start()
    assert [get(b, "access.allow-guest-user") for b in inst] == ["false"] * 3

    # a reload on rank 0 reaches every broker
    (inst.conf[0] / "access.toml").write_text(ACCESS.format("true"))
    r = inst[0].flux("config", "reload")
    assert (r.rc, r.err) == (0, "")
    assert [get(b, "access.allow-guest-user") for b in inst] == ["true"] * 3

    # set/unset/load on any broker change the instance's config
    r = inst[1].flux("config", "set", "--type=fsd", "heartbeat.period", "3s")
    assert (r.rc, r.err) == (0, "")
    assert [get(b, "heartbeat.period") for b in inst] == ["3s"] * 3
    r = inst[2].flux("config", "unset", "heartbeat.period")
    assert r.rc == 0, r.err
    assert [get(b, "heartbeat.period") for b in inst] == [
        "flux-config: heartbeat.period is not set"] * 3
    # load replaces the whole table: dropping [bootstrap] would take a
    # restart, so it is refused and nothing changes
    r = inst[0].flux("config", "load", stdin='{"access": {}}')
    assert (r.rc, r.err) == (1, "flux-config: load: bootstrap, tbon.topo: a"
                                " change takes effect only when the instance"
                                " restarts; the old config stays in force\n")
    table = json.loads(inst[0].flux("config", "get").out)
    table["access"] = {}
    r = inst[0].flux("config", "load", stdin=json.dumps(table))
    assert r.rc == 0, r.err
    assert [get(b, "access") for b in inst] == ["{}"] * 3
    # the next reload reads rank 0's files again
    assert inst[0].flux("config", "reload").rc == 0
    assert [get(b, "access.allow-guest-user") for b in inst] == ["true"] * 3


def test_restart_key_refused_everywhere(make_instance):
    inst = make_instance(2, files={"tbon.toml": '[tbon]\ntorpid_max = "30s"\n'})
    inst.start()
    (inst.conf[0] / "tbon.toml").write_text(
        '[tbon]\ntorpid_max = "40s"\ntcp_user_timeout = "2m"\n')
    r = inst[0].flux("config", "reload")
    assert (r.rc, r.err) == (1, "flux-config: reload: tbon.tcp_user_timeout:"
                                " a change takes effect only when the instance"
                                " restarts; the old config stays in force\n")
    assert [get(b, "tbon") for b in inst] == ['{"torpid_max":"30s"}'] * 2


def test_broken_file_on_a_follower(make_instance):
    inst = make_instance(2, files={"access.toml": ACCESS.format("false")})
    inst.start()
    broken = inst.conf[1] / "access.toml"
    broken.write_text("[access\n")
    r = inst[1].flux("config", "reload")
    assert r.rc == 1
    assert r.err.startswith(f"flux-config: reload: {broken}:1: ")
    assert r.err.count("\n") == 1
    # SIGHUP (systemctl reload) on that node: one line in its log
    mark = len(inst[1].output)
    os.kill(inst[1].proc.pid, signal.SIGHUP)
    line = inst[1].wait_for("config reload failed", start=mark)
    assert f"{broken}:1: " in line
    # both brokers run on, with the config they had
    assert [get(b, "access.allow-guest-user") for b in inst] == ["false"] * 2
    assert inst[1].flux("uptime").rc == 0
    assert inst[0].flux("overlay", "status", "--summary").out == "full\n"


def test_unknown_table_warned_at_start_and_reload(make_instance):
    inst = make_instance(1, files={"extra.toml": "[boostrap]\nx = 1\n"})
    inst.start()
    path = inst.conf[0] / "extra.toml"
    text = (f"{path}: [boostrap]: unknown table, ignored (did you mean"
            " [bootstrap]?)")
    inst[0].wait_for(f"broker.warning[0]: {text}")
    r = inst[0].flux("config", "reload")
    assert (r.rc, r.err) == (0, f"flux-config: warning: {text}\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a user")
def test_guest_refused_after_reload_on_every_broker(make_instance, shared_dir):
    inst = make_instance(2, files={"access.toml": ACCESS.format("true")},
                         shared=shared_dir)
    inst.start()

    def attempt(user, uri):
        proc = run_as_guest(user, shared_dir,
                            GUEST_SCRIPT.replace("sys.argv[1]", repr(uri)))
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()
    with temporary_user() as user:
        assert [attempt(user, b.uri) for b in inst] == ["connected 0",
                                                        "connected 1"]
        (inst.conf[0] / "access.toml").write_text(ACCESS.format("false"))
        assert inst[0].flux("config", "reload").rc == 0
        # refused at once, by the leader and by the follower
        assert [attempt(user, b.uri) for b in inst] == [
            "refused guest access is not allowed"] * 2


def test_services_follow_a_reload(make_instance):
    inst = make_instance(3, files={
        "resource.toml": "[resource]\nnoverify = true\n",
        "tbon.toml": '[tbon]\ntorpid_min = "0.2s"\n'})
    inst.start()
    # [resource] exclude: rank 0 excludes the node at once
    (inst.conf[0] / "resource.toml").write_text(
        '[resource]\nnoverify = true\nexclude = "n2"\n')
    assert inst[0].flux("config", "reload").rc == 0
    r = inst[0].flux("resource", "status", "-s", "exclude", "-no", "{ranks}")
    assert r.out == "2\n", r.out + r.err
    # [tbon] torpid_max: a stopped broker turns torpid within the new limit
    (inst.conf[0] / "tbon.toml").write_text(
        '[tbon]\ntorpid_min = "0.2s"\ntorpid_max = "1s"\n')
    assert inst[0].flux("config", "reload").rc == 0
    mark = len(inst[0].output)
    inst[1].proc.send_signal(signal.SIGSTOP)
    try:
        inst[0].wait_for("overlay: rank 1 is torpid", start=mark, timeout=20)
    finally:
        inst[1].resume()
    inst[0].wait_for("overlay: rank 1 is no longer torpid", start=mark)
