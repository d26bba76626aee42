"""Settings that act on the broker states, on real brokers: shutdown and
cleanup time limits, slow-broker warnings, the heartbeat and its timeout,
broker.exit-restart, and log levels changed with flux setattr."""

import signal

from fluxd.client.sync import Flux
from tests.integration.admin_helpers import make_instance  # noqa: F401


def test_hung_child_cut_off_at_shutdown_timeout(make_instance):
    inst = make_instance(2, attrs={"broker.shutdown-timeout": "2s",
                                   "broker.shutdown-warn": "0.5s"})
    inst.start()
    inst[1].proc.send_signal(signal.SIGSTOP)
    mark = len(inst[0].output)
    inst[0].proc.send_signal(signal.SIGTERM)
    inst[0].wait_for("shutdown delayed: waiting for 1 peers: n1 (rank 1)",
                     start=mark)
    inst[0].wait_for("shutdown: children still connected after 2s"
                     " (broker.shutdown-timeout): going on without them",
                     start=mark)
    # twistd re-raises the SIGTERM it stopped on
    assert inst[0].wait(timeout=30) == -signal.SIGTERM
    assert "children-complete: shutdown->finalize" in inst[0].log_text


def test_quorum_delayed_then_reached(make_instance):
    inst = make_instance(2, attrs={"broker.quorum-warn": "0.3s"})
    inst[0].start(wait=False)
    inst[0].wait_for("broker.err[0]: quorum delayed: waiting for n1 (rank 1)")
    inst[1].start()
    inst[0].wait_for("broker ready")
    inst[0].wait_for("broker.err[0]: quorum reached")


def test_cleanup_cut_off_when_a_signal_stops_the_broker(make_instance, tmp_path):
    inst = make_instance(1, attrs={"broker.cleanup-timeout": "1s"})
    inst.start()
    started = tmp_path / "cleanup-started"
    r = inst[0].flux("admin", "cleanup-push",
                     f"touch {started}; exec sleep 300")
    assert r.rc == 0, r.err
    mark = len(inst[0].output)
    inst[0].proc.send_signal(signal.SIGTERM)
    inst[0].wait_for("cleanup: still running after 1s"
                     " (broker.cleanup-timeout): aborting it", start=mark)
    assert inst[0].wait(timeout=30) == -signal.SIGTERM
    assert started.exists()


def test_heartbeat_pulses_reach_followers(make_instance):
    inst = make_instance(2, files={
        "heartbeat.toml": '[heartbeat]\nperiod = "0.1s"\n'})
    inst.start()
    with Flux(inst[1].uri) as h:
        seqs = []
        for event in h.stream("event.subscribe", {"topic": "heartbeat.pulse"}):
            seqs.append(event["seq"])
            if len(seqs) == 3:
                break
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


def test_heartbeat_timeout_stops_follower_with_exit_restart(make_instance):
    # (the overlay's TLS goodbye to a stopped parent is never answered:
    # broker.unload-builtins-timeout cuts that wait short)
    inst = make_instance(2, files={
        "heartbeat.toml": '[heartbeat]\nperiod = "0.2s"\ntimeout = "2s"\n'},
        attrs={"broker.exit-restart": "43",
               "broker.unload-builtins-timeout": "1s"})
    inst.start()
    mark = len(inst[1].output)
    inst[0].proc.send_signal(signal.SIGSTOP)
    try:
        inst[1].wait_for("heartbeat: none received for", start=mark)
        assert inst[1].wait(timeout=30) == 43
    finally:
        inst[0].resume()


def test_parent_disconnect_exits_with_exit_restart(make_instance):
    inst = make_instance(2)
    inst.start()
    r = inst[1].flux("setattr", "broker.exit-restart", "44")
    assert r.rc == 0, r.err
    r = inst[0].flux("overlay", "disconnect", "1")
    assert r.rc == 0, r.err
    assert inst[1].wait(timeout=30) == 44


def test_setattr_log_level_takes_effect(make_instance):
    inst = make_instance(1, attrs={"log-stderr-level": "6"})
    inst.start()
    broker = inst[0]
    r = broker.flux("setattr", "log-stderr-level", "abc")
    assert (r.rc, r.err) == (1, "flux-setattr: log-stderr-level: invalid log"
                                " level 'abc' (expected -1 to 7)\n")
    assert broker.flux("getattr", "log-stderr-level").out == "6\n"
    assert broker.flux("logger", "-s", "debug", "quiet-one").rc == 0
    assert broker.flux("setattr", "log-stderr-level", "7").rc == 0
    assert broker.flux("logger", "-s", "debug", "loud-one").rc == 0
    broker.wait_for("logger.debug[0]: loud-one")
    assert "quiet-one" not in broker.log_text.split("loud-one")[0] \
        .split("broker ready")[1]
