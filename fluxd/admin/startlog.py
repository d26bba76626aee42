# -*- test-case-name: tests.unit.admin.test_startlog -*-
"""The startlog: a record of instance starts, clean stops and crashes.

flux-core keeps it as the RFC 18 eventlog ``admin.eventlog`` in the KVS;
fluxd keeps the same events in an eventlog *file* in the broker's
``statedir`` (``${statedir}/startlog``), so it survives restarts whenever
the statedir does.  Rank 0 appends a ``start`` event (context
``{"version": 1, "core_version": ...}``) when it enters INIT, flushed to
disk at once, and a ``finish`` event (``{"version": 1}``) when it
finalizes.  A ``start`` not followed by ``finish`` is a crash (the broker
was killed, or the node went down).

After a crash the broker starts in *safe mode* (the admin guide, "Starting
Flux"; spec/broker.md section 2.1): job submission disabled and scheduling
stopped, with the reason below, until an administrator says otherwise.
:class:`SafeMode` holds those facts for the job services.

This module is pure (stdlib only): ``flux startlog`` formats with it.
"""

import datetime
import json
import os

from fluxd.formats import eventlog
from fluxd.formats.fsd import format_fsd
from fluxd.storage.fsync import fsync_fd

__all__ = ["STARTLOG_VERSION", "SAFE_MODE_REASON", "CRASH_WARNING",
           "Startlog", "Run", "runs", "previous_run_crashed",
           "latest_start_followed_crash", "format_runs", "SafeMode"]

#: the startlog event version this code writes and understands
STARTLOG_VERSION = 1
#: the queue disable/stop reason in safe mode (flux-core PR #4153's words)
SAFE_MODE_REASON = "Flux is in safe mode due to an incomplete shutdown."
#: what rc1 printed after a crash (spec/broker.md section 2.1)
CRASH_WARNING = "Flux was not shut down properly.  Data may have been lost."
#: the file name inside the statedir
FILENAME = "startlog"


class Startlog:
    """The startlog file of one instance.

    :param path: the eventlog file (usually ``${statedir}/startlog``).
    """

    def __init__(self, path):
        self.path = path

    def read(self):
        """The valid events, oldest first.

        Lines that do not decode (a line cut short by a crash, a foreign
        entry) are skipped, as ``flux startlog`` tolerates them.

        :returns: a list of eventlog entry dicts.
        """
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        entries = []
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                entries.append(eventlog.decode_entry(line + b"\n"))
            except eventlog.EventlogError:
                continue
        return entries

    def append(self, name, context, timestamp):
        """Append one event and force it to disk (a crash right after a
        ``start`` must still find it on the next start).  This blocks:
        the broker calls it in a thread (see
        :class:`fluxd.admin.services.StartlogKeeper`).

        :returns: the entry dict written.
        """
        line = eventlog.encode_entry(name, context, timestamp)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # a line cut short by a crash: end it, keep ours whole
                line = "\n" + line
            os.write(fd, line.encode("utf-8"))
            fsync_fd(fd, self.path)
        finally:
            os.close(fd)
        return json.loads(line)


def _usable(entry):
    context = entry.get("context")
    if not isinstance(context, dict):
        return False
    version = context.get("version")
    return (isinstance(version, int) and not isinstance(version, bool)
            and 0 <= version <= STARTLOG_VERSION
            and entry.get("name") in ("start", "finish"))


class Run:
    """One instance run as ``flux startlog`` lists it.

    :ivar start: start timestamp.
    :ivar end: finish timestamp (None while running or after a crash).
    :ivar outcome: ``finished``, ``crashed`` or ``running``.
    :ivar version: the ``core_version`` of the start event, or ``""``.
    """

    def __init__(self, start, version):
        self.start = start
        self.end = None
        self.outcome = "running"
        self.version = version

    def __repr__(self):
        return f"<Run {self.start} {self.outcome} {self.end}>"


def runs(entries):
    """Pair ``start`` and ``finish`` events into :class:`Run` objects.

    A ``start`` followed by another ``start`` crashed; the last one with no
    ``finish`` is ``running``.  Unusable entries are ignored.
    """
    result = []
    current = None
    for entry in entries:
        if not _usable(entry):
            continue
        if entry["name"] == "start":
            if current is not None:
                current.outcome = "crashed"
            version = entry["context"].get("core_version", "")
            current = Run(entry["timestamp"], version if isinstance(version, str) else "")
            result.append(current)
        elif current is not None:
            current.end = entry["timestamp"]
            current.outcome = "finished"
            current = None
    return result


def previous_run_crashed(entries):
    """True when the last run recorded did not finish: read *before* this
    broker posts its own ``start``, that means the previous broker crashed.
    """
    found = runs(entries)
    return bool(found) and found[-1].outcome == "running"


def latest_start_followed_crash(entries):
    """``flux startlog --check``: the latest start came after a crash."""
    found = runs(entries)
    return len(found) >= 2 and found[-2].outcome == "crashed"


def _stamp(seconds, tz):
    return datetime.datetime.fromtimestamp(seconds, tz).strftime("%Y-%m-%d %H:%M")


def format_runs(found, now, show_version=False, tz=None):
    """The lines of ``flux startlog``.

    ``YYYY-MM-DD HH:MM - YYYY-MM-DD HH:MM (fsd)`` for a finished run,
    ``... - crashed`` and ``... - running (fsd)``; durations with 2
    significant digits.  ``show_version`` prefixes ``%25s  `` of the
    start event's ``core_version``.

    :param now: the current time (seconds) for the running run.
    :param tz: a tzinfo, default local time.
    """
    lines = []
    for run in found:
        prefix = f"{run.version:>25}  " if show_version else ""
        head = f"{prefix}{_stamp(run.start, tz)} - "
        if run.outcome == "finished":
            fsd = format_fsd(max(0.0, run.end - run.start), 2)
            lines.append(f"{head}{_stamp(run.end, tz)} ({fsd})")
        elif run.outcome == "crashed":
            lines.append(f"{head}crashed")
        else:
            lines.append(f"{head}running ({format_fsd(max(0.0, now - run.start), 2)})")
    return lines


class SafeMode:
    """Whether job submission and scheduling are allowed, and why not.

    The broker enters safe mode when it finds that the previous run
    crashed.  The job services read :attr:`submit_enabled` /
    :attr:`sched_started` (and the reasons) when they start, and call
    :meth:`enable_submit` / :meth:`start_scheduling` when an administrator
    re-enables them (``flux queue enable --all``, ``flux queue start
    --all``).  Until those services exist, ``flux uptime`` reports from here.

    :ivar active: the broker came up in safe mode.
    """

    def __init__(self):
        self.active = False
        self.reason = None
        self.submit_disabled_reason = None
        self.sched_stopped_reason = None
        self._watchers = []

    @property
    def submit_enabled(self):
        """Whether job submission is allowed."""
        return self.submit_disabled_reason is None

    @property
    def sched_started(self):
        """Whether scheduling is started."""
        return self.sched_stopped_reason is None

    def enter(self, reason=SAFE_MODE_REASON):
        """Disable submission and stop scheduling for ``reason``."""
        self.active = True
        self.reason = reason
        self.submit_disabled_reason = reason
        self.sched_stopped_reason = reason
        self._changed()

    def enable_submit(self):
        """Allow job submission again."""
        self.submit_disabled_reason = None
        self._changed()

    def start_scheduling(self):
        """Start scheduling again."""
        self.sched_stopped_reason = None
        self._changed()

    def watch(self, callback):
        """Call ``callback(safe_mode)`` after every change."""
        self._watchers.append(callback)

    def _changed(self):
        for callback in list(self._watchers):
            callback(self)

    def status(self):
        """The JSON object of ``admin.queue-status``."""
        return {
            "safe_mode": self.active,
            "reason": self.reason,
            "submit": {"enabled": self.submit_enabled,
                       "reason": self.submit_disabled_reason},
            "sched": {"started": self.sched_started,
                      "reason": self.sched_stopped_reason},
        }
