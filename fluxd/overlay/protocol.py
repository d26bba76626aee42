# -*- test-case-name: tests.integration.test_overlay_faults -*-
"""The overlay wire: RFC 3 messages in 32-bit length-prefixed frames.

The protocol only frames and decodes; it hands each message to its
``link`` (the overlay service's view of that peer) and knows nothing of
routing.  A frame longer than :data:`MAX_FRAME` or one that does not
decode closes the connection with one logged reason.
"""

from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver

from fluxd.errors import ProtocolError
from fluxd.message import frames

#: the largest frame accepted: a 16 MiB payload plus generous headroom
MAX_FRAME = 64 * 1024 * 1024


class OverlayProtocol(Int32StringReceiver):
    """One TLS connection between two brokers.

    :ivar link: an object with ``message_received(proto, msg)`` and
        ``connection_lost(proto, reason)``; set by the factory.
    """

    MAX_LENGTH = MAX_FRAME
    log = Logger()

    def __init__(self, link):
        self.link = link
        self.peer_rank = None
        self.closing = False

    def connectionMade(self):
        self.link.connection_made(self)

    def stringReceived(self, data):
        if self.closing:
            return
        try:
            message = frames.decode(data)
        except ProtocolError as exc:
            self.drop(f"undecodable message: {exc}")
            return
        self.link.message_received(self, message)

    def lengthLimitExceeded(self, length):
        self.drop(f"frame of {length} bytes exceeds the {MAX_FRAME} byte limit")

    def send(self, message):
        """Send one message (dropped quietly once the link is closing)."""
        if not self.closing and self.transport is not None:
            self.sendString(frames.encode(message))

    def drop(self, reason):
        """Close this connection, logging why once."""
        if self.closing:
            return
        self.closing = True
        self.log.warn("overlay: dropping {peer}: {reason}",
                      peer=self.describe(), reason=reason)
        self.transport.loseConnection()

    def describe(self):
        """A short name of the peer for log lines."""
        if self.peer_rank is not None:
            return f"rank {self.peer_rank}"
        try:
            return str(self.transport.getPeer())
        except Exception:
            return "peer"

    def connectionLost(self, reason):
        self.link.connection_lost(self, reason)
