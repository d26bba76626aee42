"""The relay of an IMP-run shell: its events held until acknowledged,
sent again after a lost connection, its orders passed on to the shell,
and its end (on a socketpair: no broker, no fork)."""

import json
import os
import socket

from flux_shell.relay import Relay


def _relay():
    relay = Relay({"id": 7, "link": "/nonexistent/imp-shells-0.sock"})
    ours, theirs = socket.socketpair()
    relay.sock = ours
    return relay, theirs


def _lines(sock):
    sock.setblocking(False)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    return [json.loads(line) for line in data.splitlines()]


def test_events_wait_for_resume_and_are_numbered():
    relay, broker = _relay()
    relay._hold(b'{"id":7,"ev":"init"}\n{"id":7,"ev":"output"}\n')
    assert _lines(broker) == []
    relay.order({"op": "resume"})
    assert [(e["seq"], e["ev"]) for e in _lines(broker)] == [
        (1, "init"), (2, "output")]


def test_unacknowledged_events_sent_again_after_a_reconnect():
    relay, broker = _relay()
    relay.order({"op": "resume"})
    relay._hold(b'{"id":7,"ev":"output","n":1}\n'
                b'{"id":7,"ev":"output","n":2}\n')
    assert len(_lines(broker)) == 2
    relay.ack(1, False)
    relay._lost()
    assert relay.sock is None and not relay.resumed
    ours, broker = socket.socketpair()
    relay.sock = ours
    relay.order({"op": "resume"})
    assert [e["n"] for e in _lines(broker)] == [2]


def test_the_exit_is_kept_until_the_job_is_forgotten():
    relay, broker = _relay()
    relay.order({"op": "resume"})
    relay.status, relay.pid = 0, 123
    relay._maybe_exited()
    assert _lines(broker)[0]["ev"] == "shell-exit"
    relay.ack(5, False)
    assert relay.events.sent and not relay._done()
    relay.ack(0, True)
    assert relay._done()


def test_orders_reach_the_shell():
    relay, broker = _relay()
    r, relay.ctl_fd = os.pipe()
    relay.pid = 123          # the shell is forked
    relay.order({"op": "kill", "signum": 15})
    relay.order({"op": "bogus"})
    assert json.loads(os.read(r, 4096)) == {"op": "kill", "signum": 15}
    relay.order({"op": "shutdown"})
    assert relay.closing and relay.ctl_fd is None
    assert os.read(r, 4096) == b""
    os.close(r)


def test_orders_before_the_fork_wait_for_the_shell():
    relay, broker = _relay()
    relay.order({"op": "kill", "signum": 15})
    assert relay.early == [{"op": "kill", "signum": 15}]
    r, w = os.pipe()
    relay.pid, relay.ctl_fd = 123, w
    early, relay.early = relay.early, []
    for order in early:
        relay.order(order)
    assert json.loads(os.read(r, 4096)) == {"op": "kill", "signum": 15}
    os.close(r)
    os.close(w)
