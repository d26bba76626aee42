# -*- test-case-name: tests.unit.local.test_limits -*-
"""What local clients may cost the broker: buffer bounds and log lines.

A client's message is buffered until its AMP box is complete.  Without a
bound one unterminated box grows the broker without end, so each
connection may hold at most one message's worth of bytes: for a guest
``connector-local.guest-message-limit`` (16 MiB by default); for the
instance owner, a message carrying the largest blob the content store
takes (``content.blob-size-limit``, 1 GiB by default) in its largest
encoding, base64 inside a KVS commit, plus 64 KiB of JSON around it, so
that a blob just over the limit still reaches the service and gets its
EFBIG answer.  To each the AMP framing of such a payload is added.
All guest connections together may hold at most
``connector-local.guest-buffer-limit`` (64 MiB by default) in messages
not yet complete.  A client past a bound is dropped with one log line.

Log lines about single connections (refusals, drops) are rate limited:
a flood of connections must not flood the log.
"""

from twisted.logger import Logger, LogLevel

from fluxd.client.wire import request_size
from fluxd.errors import InvalidArgument
from fluxd.kvs.content_service import DEFAULT_BLOB_LIMIT

GUEST_MESSAGE_ATTR = "connector-local.guest-message-limit"
GUEST_BUFFER_ATTR = "connector-local.guest-buffer-limit"
BLOB_LIMIT_ATTR = "content.blob-size-limit"
DEFAULT_GUEST_MESSAGE = 16 * 1024 * 1024
DEFAULT_GUEST_BUFFER = 64 * 1024 * 1024
#: room for the JSON around a base64 blob in the owner's messages
_JSON_ROOM = 64 * 1024


class ConnectorLimits:
    """The buffer bounds of the local connector.

    :param guest_message: the largest message payload a guest may send
        (bytes).
    :param guest_buffer: the bytes all guest connections together may
        hold in messages not yet complete.
    :param owner_message: ``content.blob-size-limit``: the largest blob
        the owner may send (its message may be larger, see
        :meth:`message_limit`).
    """

    def __init__(self, guest_message=DEFAULT_GUEST_MESSAGE,
                 guest_buffer=DEFAULT_GUEST_BUFFER,
                 owner_message=DEFAULT_BLOB_LIMIT):
        self.guest_message = guest_message
        self.guest_buffer = guest_buffer
        self.owner_message = owner_message

    def message_limit(self, owner):
        """``(bytes, what sets them)``: the largest message payload the
        owner (``owner`` true) or a guest may send."""
        if owner:
            return (4 * -(-self.owner_message // 3) + _JSON_ROOM,
                    f"{BLOB_LIMIT_ATTR} as base64 + 64 KiB")
        return self.guest_message, GUEST_MESSAGE_ATTR

    def box_bound(self, owner):
        """The largest box, in wire bytes, accepted from the owner
        (``owner`` true) or from a guest: the message limit plus the AMP
        framing of the other arguments."""
        return request_size(self.message_limit(owner)[0])


def _size(attrs, name, default):
    text = attrs.get_default(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise InvalidArgument(f"{name} {text!r}: expected a positive number"
                              " of bytes")
    return value


def connector_limits(attrs):
    """Read the bounds from the broker attributes.

    The guest bounds' defaults are recorded as attributes, so that
    ``flux getattr`` shows the values in force.

    :param attrs: the broker's :class:`~fluxd.attributes.Attributes`.
    :returns: a :class:`ConnectorLimits`.
    :raises fluxd.errors.InvalidArgument: for a value that is not a
        positive number of bytes.
    """
    limits = ConnectorLimits(
        guest_message=_size(attrs, GUEST_MESSAGE_ATTR, DEFAULT_GUEST_MESSAGE),
        guest_buffer=_size(attrs, GUEST_BUFFER_ATTR, DEFAULT_GUEST_BUFFER),
        owner_message=_size(attrs, BLOB_LIMIT_ATTR, DEFAULT_BLOB_LIMIT))
    attrs.set_initial(GUEST_MESSAGE_ATTR, limits.guest_message)
    attrs.set_initial(GUEST_BUFFER_ATTR, limits.guest_buffer)
    return limits


class BufferBudget:
    """Bytes shared by many connections (the guests' incomplete messages).

    :param limit: the bytes available.
    """

    def __init__(self, limit):
        self.limit = limit
        self.used = 0

    def claim(self, delta):
        """Take ``delta`` more bytes (or give back, when negative).

        :returns: False, taking nothing, when they do not fit.
        """
        if delta > 0 and self.used + delta > self.limit:
            return False
        self.used += delta
        return True


class LogLimiter:
    """At most ``burst`` lines per ``interval`` seconds; the rest are
    counted, and one line at the end of the interval says how many.

    :param clock: ``IReactorTime``.
    :param log: the :class:`twisted.logger.Logger` to write to.
    :param what: names the lines in the summary (``"client"``).
    """

    def __init__(self, clock, log=None, what="client", burst=10,
                 interval=60.0):
        self._clock = clock
        self._log = log if log is not None else Logger()
        self._what = what
        self.burst = burst
        self.interval = interval
        self._start = None
        self._count = 0
        self.suppressed = 0
        self._timer = None

    def emit(self, level, fmt, **fields):
        """Log one line unless the burst of this interval is spent.

        :returns: True when the line was logged.
        """
        now = self._clock.seconds()
        if self._start is None or (self._timer is None and
                                   now >= self._start + self.interval):
            self._start, self._count = now, 0
        if self._count < self.burst:
            self._count += 1
            self._log.emit(level, fmt, **fields)
            return True
        self.suppressed += 1
        if self._timer is None:
            self._timer = self._clock.callLater(
                max(0.0, self._start + self.interval - now), self._summary)
        return False

    def warn(self, fmt, **fields):
        """:meth:`emit` at warning level."""
        return self.emit(LogLevel.warn, fmt, **fields)

    def info(self, fmt, **fields):
        """:meth:`emit` at info level."""
        return self.emit(LogLevel.info, fmt, **fields)

    def _summary(self):
        self._timer = None
        self.flush()
        self._start, self._count = self._clock.seconds(), 0

    def flush(self):
        """Log the count of suppressed lines now, if there are any, and
        cancel the end-of-interval timer (the broker calls this when the
        connector stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.suppressed:
            self._log.warn("{count} more {what} log lines suppressed",
                           count=self.suppressed, what=self._what)
            self.suppressed = 0
