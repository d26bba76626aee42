# -*- test-case-name: tests.unit.cli.test_cmd_uptime -*-
"""``flux uptime``: how long the instance has been up, and its state.

One line, as the admin guide shows, and a second one only when job
submission is disabled and/or scheduling is stopped (spec/broker.md
section 5)::

     07:42:52 run 3.8s,  owner flux,  depth 0,  size 8,  7 offline
      submit disabled,  scheduler stopped

In RUN the duration is the time since ``broker.starttime`` (of rank 0),
otherwise the time the local broker has spent in its current state; FSD
with 2 significant digits.  Drained and offline counts appear only when
non-zero and only in RUN.
"""

import datetime
import pwd
import time

from fluxd.cli._oneline import OneLineParser
from fluxd.client.sync import Flux
from fluxd.errors import InvalidArgument, NoSuchService
from fluxd.formats.fsd import format_fsd
from fluxd.formats.idset import IDset


def owner_name(uid):
    """The user name of ``uid``, else the number as text."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def format_uptime(now, state, duration, owner, depth, size, drained=0,
                  offline=0, submit_disabled=False, sched_stopped=False,
                  tz=None):
    """The lines ``flux uptime`` prints.

    :param now: the current time (seconds since the epoch).
    :param duration: seconds to show after the state.
    :param owner: the owner's name.
    :returns: a list of one or two lines.
    """
    clock = datetime.datetime.fromtimestamp(now, tz).strftime("%H:%M:%S")
    line = (f" {clock} {state} {format_fsd(max(0.0, duration), 2)},"
            f"  owner {owner},  depth {depth},  size {size}")
    if drained > 0:
        line += f",  {drained} drained"
    if offline > 0:
        line += f",  {offline} offline"
    lines = [line]
    extra = []
    if submit_disabled:
        extra.append("submit disabled")
    if sched_stopped:
        extra.append("scheduler stopped")
    if extra:
        lines.append("  " + ",  ".join(extra))
    return lines


def _optional(h, topic, payload=None, nodeid=None):
    """An RPC to a service that may not be loaded yet: None on ENOSYS."""
    try:
        if nodeid is None:
            return h.rpc(topic, payload)
        return h.rpc(topic, payload, nodeid=nodeid)
    except NoSuchService:
        return None


def _drained(h):
    status = _optional(h, "resource.status")
    if not status:
        return 0
    return sum(len(IDset(ids)) for ids in status.get("drain", {}))


def _offline(h, size):
    group = _optional(h, "groups.get", {"name": "broker.online"})
    if group is None:
        return 0
    return size - len(IDset(group.get("members", "")))


def main(argv):
    """``flux uptime``."""
    parser = OneLineParser(prog="flux-uptime",
                           description="Show how long this Flux instance has"
                                       " been running")
    parser.parse_args(argv)
    with Flux() as h:
        sm = h.rpc("state-machine.get")
        values = {}
        for name in ("security.owner", "size", "instance-level"):
            values[name] = h.rpc("attr.get", {"name": name})["value"]
        state, duration = sm["state"], sm["duration"]
        size = int(values["size"])
        now = time.time()
        drained = offline = 0
        submit_disabled = sched_stopped = False
        if state == "run":
            start = h.rpc("attr.get", {"name": "broker.starttime"},
                          nodeid=0)["value"]
            duration = now - float(start)
            drained = _drained(h)
            offline = _offline(h, size)
            try:
                queue = _optional(h, "job-manager.queue-status", {})
            except InvalidArgument:
                # named queues: no single queue to report on
                queue = {"enable": True, "start": True}
            if queue is not None:
                submit_disabled = not queue["enable"]
                sched_stopped = not queue["start"]
            else:
                safe = _optional(h, "admin.queue-status")
                if safe is not None:
                    submit_disabled = not safe["submit"]["enabled"]
                    sched_stopped = not safe["sched"]["started"]
    for line in format_uptime(now, state, duration,
                              owner_name(int(values["security.owner"])),
                              int(values["instance-level"]), size, drained,
                              offline, submit_disabled, sched_stopped):
        print(line)
    return 0
