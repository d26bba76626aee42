# -*- test-case-name: tests.unit.kvs.test_space -*-
"""The read-only mode of ``content.sqlite`` when its disk fills up.

The admin guide calls running out of space on the leader
"catastrophic"; fluxd makes it survivable.  When a write transaction
fails with ENOSPC, sqlite has rolled it back: the file holds exactly
the transactions that committed, and every commit answered before is on
disk.  :class:`SpaceGuard` then puts the store in read-only mode:

- writes (KVS commits, ``content.store``) are refused at once with
  ``NoSpace`` (ENOSPC) and a message that says why; reads go on;
- the log says so once, with the directory and sqlite's reason;
- the store *probes* for space: on a timer, first after
  ``first_delay`` seconds, then doubling up to ``max_delay`` (so a
  long outage costs one ``statvfs`` a minute, never a busy loop), and
  on every refused write (a ``statvfs`` is a cheap system call);
- when the file system has at least ``resume_bytes`` free, the store
  leaves read-only mode and says so; the next write runs normally.  If
  the disk fills again the store goes back to read-only: nothing
  acknowledged is lost either way.

Free space is judged by ``statvfs`` (blocks available to this user):
sqlite itself may still find room in the pages of its write-ahead log,
but a store that just hit ENOSPC only resumes with a margin.
"""

import os

from twisted.logger import Logger

from fluxd.errors import NoSpace

__all__ = ["SpaceGuard", "RESUME_FREE_BYTES"]

#: free bytes needed on the statedir's file system to leave read-only mode
RESUME_FREE_BYTES = 1024 * 1024


class SpaceGuard:
    """Tracks whether a store is read-only for lack of space.

    :param clock: ``IReactorTime`` (probe timer, durations).
    :param path: the database file (its directory is probed).
    :param statvfs: ``os.statvfs`` (tests pass a fake).
    :param resume_bytes: free space needed to resume writes.
    :param first_delay: seconds before the first timed probe.
    :param max_delay: the longest wait between timed probes.
    """

    log = Logger()

    def __init__(self, clock, path, statvfs=os.statvfs,
                 resume_bytes=RESUME_FREE_BYTES, first_delay=1.0,
                 max_delay=60.0):
        self._clock = clock
        self.path = path
        self.directory = os.path.dirname(os.path.abspath(path))
        self._statvfs = statvfs
        self.resume_bytes = resume_bytes
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.reason = None          # sqlite's error text while read-only
        self.since = None
        self.episodes = 0
        self.probes = 0
        self._call = None
        self._delay = first_delay

    @property
    def readonly(self):
        """True while writes are refused."""
        return self.reason is not None

    def free_bytes(self):
        """Bytes available on the directory's file system, or None when
        ``statvfs`` fails."""
        try:
            st = self._statvfs(self.directory)
        except OSError:
            return None
        return st.f_bavail * st.f_frsize

    def enter(self, reason):
        """A write failed with ENOSPC: refuse writes until space returns."""
        if self.readonly:
            return
        text = str(reason)
        self.reason = text[len("content store: "):] \
            if text.startswith("content store: ") else text
        self.since = self._clock.seconds()
        self.episodes += 1
        self._delay = self.first_delay
        self.log.error(
            "content store: no space left on device for {path} ({reason}):"
            " the KVS is read-only; commits fail until space is freed in"
            " {directory} (checked at each write and every {first:g}s up to"
            " {most:g}s)", path=self.path, reason=self.reason,
            directory=self.directory, first=self.first_delay,
            most=self.max_delay)
        self._schedule()

    def writable(self):
        """Whether a write may go ahead now: always outside read-only
        mode; in it, only once the file system has room again (which
        ends read-only mode)."""
        if not self.readonly:
            return True
        return self._probe()

    def error(self):
        """The error a refused write fails with."""
        return NoSpace(f"KVS is read-only: no space left on device in"
                       f" {self.directory}; writes resume once space is freed")

    def _probe(self):
        self.probes += 1
        free = self.free_bytes()
        # statvfs failing says nothing about space: let the write try
        if free is not None and free < self.resume_bytes:
            return False
        spent = self._clock.seconds() - self.since
        self.log.info("content store: {free} bytes free in {directory}:"
                      " writes resumed after {spent:.1f}s read-only",
                      free="unknown" if free is None else free,
                      directory=self.directory, spent=spent)
        self.reason = self.since = None
        self.stop()
        return True

    def _schedule(self):
        self._call = self._clock.callLater(self._delay, self._timed_probe)

    def _timed_probe(self):
        self._call = None
        if self.readonly and not self._probe():
            self._delay = min(self._delay * 2, self.max_delay)
            self._schedule()

    def stop(self):
        """Cancel the probe timer (store closing, or writes resumed)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def stats(self):
        """For ``content-backing.stats-get``."""
        return {"readonly": self.readonly, "episodes": self.episodes,
                "probes": self.probes, "free-bytes": self.free_bytes()}
