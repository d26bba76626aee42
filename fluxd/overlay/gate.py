# -*- test-case-name: tests.unit.overlay.test_gate -*-
"""Bounds on the overlay connections that have not said hello yet.

Anyone who can reach a broker's overlay port can open TCP connections to
it; until a peer has finished the TLS handshake (proving it holds the
cluster key) and its hello (saying which child it is), it is only a cost:
a file descriptor and some memory.  Left unbounded, a thousand idle
connections exhaust a broker's file descriptors, and then it refuses its
own clients and its children.  :class:`AdmissionGate` bounds them:

- in time: a connection that has not finished both within ``timeout``
  seconds is closed;
- in number, per source address and overall: a newcomer over a limit
  evicts the oldest waiting connection (from its own address when that
  limit is the one reached) if that one has waited at least ``min_age``
  seconds, else the newcomer is closed.  So idle connections give way to
  a restarted child at once, while a burst of real children (which need
  a few milliseconds each) does not evict itself: the ones closed retry.

What is closed is logged through a :class:`RateLimitedLog`, so a flood
cannot fill the log.  Times come from the injected clock.
"""

from twisted.logger import Logger

__all__ = ["AdmissionGate", "RateLimitedLog"]


class RateLimitedLog:
    """Warnings limited to a burst, then one per ``interval`` seconds.

    Lines over the limit are counted; the next line that passes says how
    many were suppressed, and so does a summary line once the limit
    allows one, so no count is lost.

    :param clock: an ``IReactorTime``.
    :param log: the :class:`twisted.logger.Logger` to write to.
    :param burst: lines allowed at once.
    :param interval: seconds per line after the burst.
    """

    def __init__(self, clock, log, burst=20, interval=10.0):
        self._clock = clock
        self._log = log
        self._burst = burst
        self._interval = interval
        self._tokens = float(burst)
        self._stamp = clock.seconds()
        self.suppressed = 0
        self._summary = None

    def _refill(self):
        now = self._clock.seconds()
        self._tokens = min(self._burst, self._tokens
                           + (now - self._stamp) / self._interval)
        self._stamp = now

    def warn(self, text, /, **fields):
        """Log ``text`` (a format string with ``fields``) if allowed."""
        self._refill()
        if self._tokens < 1:
            self.suppressed += 1
            if self._summary is None:
                self._summary = self._clock.callLater(
                    (1 - self._tokens) * self._interval, self._summarize)
            return
        self._tokens -= 1
        if self.suppressed:
            text += " ({suppressed} similar lines suppressed)"
            fields["suppressed"] = self.suppressed
            self.suppressed = 0
        self._log.warn(text, **fields)

    def _summarize(self):
        self._summary = None
        if self.suppressed:
            self.warn("overlay: unauthenticated connections closed or refused")

    def stop(self):
        """Cancel the pending summary (the broker is stopping)."""
        if self._summary is not None and self._summary.active():
            self._summary.cancel()
        self._summary = None


class AdmissionGate:
    """Bounds the connections that have not finished TLS and the hello.

    :param clock: an ``IReactorTime``.
    :param timeout: seconds allowed for the TLS handshake and the hello.
    :param max_pending: waiting connections allowed overall.
    :param max_per_source: waiting connections allowed from one address.
    :param min_age: seconds a waiting connection is protected from
        eviction by newcomers.
    :param log: a :class:`RateLimitedLog` for what is closed.
    """

    def __init__(self, clock, timeout=10.0, max_pending=256,
                 max_per_source=64, min_age=1.0, log=None):
        self._clock = clock
        self.timeout = timeout
        self.max_pending = max_pending
        self.max_per_source = max_per_source
        self.min_age = min_age
        self.log = log if log is not None else RateLimitedLog(clock, Logger())
        # insertion order is age order: proto -> (source, since, timer)
        self._pending = {}
        self._by_source = {}

    def __len__(self):
        return len(self._pending)

    def pending_from(self, source):
        """How many connections from ``source`` are waiting."""
        return len(self._by_source.get(source, ()))

    def admit(self, proto):
        """A new connection: let it wait for its hello, or close it.

        :param proto: an :class:`fluxd.overlay.protocol.OverlayProtocol`
            (``peer_host()``, ``describe()``, ``abort()``).
        :returns: True when admitted, False when it was closed.
        """
        source = proto.peer_host()
        now = self._clock.seconds()
        mine = self._by_source.get(source)
        if mine is not None and len(mine) >= self.max_per_source:
            if not self._evict(next(iter(mine)), now,
                               f"more than {self.max_per_source} from"
                               f" {source}"):
                return self._refuse(proto, f"more than {self.max_per_source}"
                                    f" from {source}")
        if len(self._pending) >= self.max_pending:
            if not self._evict(next(iter(self._pending)), now,
                               f"more than {self.max_pending} in all"):
                return self._refuse(proto,
                                    f"more than {self.max_pending} in all")
        timer = self._clock.callLater(self.timeout, self._expire, proto)
        self._pending[proto] = (source, now, timer)
        self._by_source.setdefault(source, {})[proto] = None
        return True

    def _evict(self, oldest, now, why):
        if now - self._pending[oldest][1] < self.min_age:
            return False
        self.log.warn("overlay: closing {peer}: waited {age:.1f}s for its"
                      " hello with {why} waiting", peer=oldest.describe(),
                      age=now - self._pending[oldest][1], why=why)
        self.settle(oldest)
        oldest.abort()
        return True

    def _refuse(self, proto, why):
        self.log.warn("overlay: refusing {peer}: {why} waiting for their"
                      " hello", peer=proto.describe(), why=why)
        proto.abort()
        return False

    def _expire(self, proto):
        if proto in self._pending:
            self.settle(proto)
            self.log.warn("overlay: closing {peer}: no TLS handshake and"
                          " hello within {timeout}s", peer=proto.describe(),
                          timeout=self.timeout)
            proto.abort()

    def settle(self, proto):
        """``proto`` said hello or is gone: it no longer counts."""
        entry = self._pending.pop(proto, None)
        if entry is None:
            return
        source, _since, timer = entry
        if timer is not None and timer.active():
            timer.cancel()
        mine = self._by_source[source]
        del mine[proto]
        if not mine:
            del self._by_source[source]

    def stop(self):
        """Close every waiting connection (the broker is stopping)."""
        for proto in list(self._pending):
            self.settle(proto)
            proto.abort()
        self.log.stop()
