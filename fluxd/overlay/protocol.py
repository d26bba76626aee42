# -*- test-case-name: tests.unit.overlay.test_protocol -*-
"""The overlay wire: TLS, then RFC 3 messages in length-prefixed frames.

:class:`OverlayProtocol` sits directly on a TCP connection and does the
TLS itself with an OpenSSL memory BIO (the connection comes from the
pinned settings of :mod:`fluxd.overlay.tls`, as in Twisted's
``TLSMemoryBIOProtocol``).  It frames and decodes; it hands each message
to its ``link`` (the overlay service's view of that peer) and knows
nothing of routing.  A frame longer than :data:`MAX_FRAME` or one that
does not decode closes the connection with one reason.

Why not Twisted's TLS wrapper: every request and response crosses the
overlay once per hop, and measured on ``bench/startup.py`` most of a
hop's cost was per-message machinery, not cryptography.  This protocol
keeps that path short:

- writes made while the broker handles received data are gathered in a
  :class:`WriteBatch` and leave together when the handling is done (one
  TLS record and one ``send`` per connection); other writes leave at the
  end of the reactor turn, as with Twisted's own TLS buffering;
- the encrypted bytes go to the socket at once (:class:`DirectWriter`)
  while the transport has nothing buffered, instead of waiting for the
  next poll to report the socket writable;
- TCP_NODELAY is set: messages are batched here, so Nagle's algorithm
  only adds delay (ZeroMQ sets it on flux's overlay sockets too).
"""

from OpenSSL import SSL
from twisted.internet.interfaces import IPullProducer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fluxd.message import frames

#: the largest frame accepted: a 16 MiB payload plus generous headroom
MAX_FRAME = 64 * 1024 * 1024
#: bytes taken from OpenSSL per call (plaintext in, ciphertext out)
_CHUNK = 1 << 16


class WriteBatch:
    """Gathers the overlay connections that have something to send.

    While received data is being handled (between :meth:`hold` and
    :meth:`release`), a connection with output only registers itself, and
    the outermost :meth:`release` flushes them all.  A connection that
    gets output outside of that is flushed at the end of the reactor turn.

    :param clock: an ``IReactorTime``.
    """

    def __init__(self, clock):
        self._clock = clock
        self._depth = 0
        self._dirty = []
        self._call = None

    def hold(self):
        """Received data is being handled: hold writes back."""
        self._depth += 1

    def release(self):
        """Handling is done; the outermost release flushes."""
        self._depth -= 1
        if not self._depth:
            self.flush()

    def add(self, proto):
        """``proto`` has output; it is flushed with the batch."""
        self._dirty.append(proto)
        if not self._depth and self._call is None:
            self._call = self._clock.callLater(0, self._scheduled)

    def _scheduled(self):
        self._call = None
        if not self._depth:
            self.flush()

    def flush(self):
        """Flush every connection with output (in the order they got it)."""
        while self._dirty:
            dirty, self._dirty = self._dirty, []
            for proto in dirty:
                proto.flush()


@implementer(IPullProducer)
class DirectWriter:
    """Writes to a TCP transport's socket at once while nothing is queued.

    Twisted's TCP transport queues every write until the next poll says
    the socket is writable.  While its queue is empty, this writer calls
    the transport's ``writeSomeData`` (one ``send``) instead.  Whatever
    does not fit goes to ``transport.write``, and direct writes stop until
    the transport has sent it: the writer registers as the transport's
    pull producer for that time, and the transport asks it for more once
    its queue is empty.  Only then may a later write bypass the queue.
    Transports without ``writeSomeData`` (in memory) always get ``write``.
    """

    def __init__(self, transport):
        self._transport = transport
        self._direct = hasattr(transport, "writeSomeData")
        self._waiting = False

    def write(self, data):
        """Send ``data`` (bytes) in order after everything written before."""
        if self._direct:
            sent = self._transport.writeSomeData(data)
            if sent.__class__ is int:
                if sent == len(data):
                    return
                data = data[sent:]
            # partly sent (or an error, which the transport finds again and
            # reports when it writes): queue the rest, wait until it is out
            self._direct = False
            self._waiting = True
            self._transport.registerProducer(self, False)
        self._transport.write(data)

    def resumeProducing(self):
        """The transport wants data: its queue is empty (not at register)."""
        if self._waiting:
            self._waiting = False   # registerProducer's immediate call
            return
        self._transport.unregisterProducer()
        self._direct = True

    def stopProducing(self):
        """The connection is gone."""
        self._direct = False


class OverlayProtocol(Protocol):
    """One TLS connection between two brokers.

    :param link: the overlay's view of the peer, with
        ``connection_made(proto)``, ``message_received(proto, msg)``,
        ``connection_dropped(proto, reason)`` and
        ``connection_lost(proto, reason)``.
    :param tls: an ``IOpenSSLServerConnectionCreator`` (accepting side)
        or ``IOpenSSLClientConnectionCreator`` (connecting side).
    :param is_client: True on the connecting side.
    :param batch: the :class:`WriteBatch` shared by the broker's
        connections.
    :ivar peer_rank: the peer's rank once known (from the hello).
    :ivar closing: set once the connection is being closed; nothing more
        is sent or delivered.
    """

    log = Logger()

    def __init__(self, link, tls, is_client, batch):
        self.link = link
        self.peer_rank = None
        self.closing = False
        self.handshaken = False
        self._tls_creator = tls
        self._is_client = is_client
        self._batch = batch
        self._tls = None
        self._writer = None
        self._decoder = frames.StreamDecoder(MAX_FRAME)
        self._out = []
        self._dirty = False
        self._failure = None

    # -- connection -----------------------------------------------------------

    def connectionMade(self):
        self._writer = DirectWriter(self.transport)
        # the accepting side's gate may refuse the connection right away,
        # before any TLS state is made for it
        self.link.connection_made(self)
        if self.closing:
            return
        if self._is_client:
            self._tls = self._tls_creator.clientConnectionForTLS(self)
            self._tls.set_connect_state()
        else:
            self._tls = self._tls_creator.serverConnectionForTLS(self)
            self._tls.set_accept_state()
        set_nodelay = getattr(self.transport, "setTcpNoDelay", None)
        if set_nodelay is not None:
            set_nodelay(True)
        self._handshake()

    def _handshake(self):
        try:
            self._tls.do_handshake()
        except SSL.WantReadError:
            self._flush_tls()
            return
        except SSL.Error:
            self._tls_error(Failure())
            return
        self.handshaken = True
        # queued messages (the hello) leave now, with the last handshake
        # bytes
        self.flush()

    def failVerification(self, reason):
        """The peer's certificate was refused (called by the pin check).

        :param reason: a Failure; it becomes the ``connectionLost`` reason.
        """
        if self._failure is None:
            self._failure = reason
        self.abort()

    def _tls_error(self, failure):
        if self._failure is None:
            self._failure = failure
        # send the alert OpenSSL queued, so the peer knows why
        self._flush_tls()
        self.closing = True
        self.transport.loseConnection()

    # -- receiving ------------------------------------------------------------

    def dataReceived(self, data):
        if self.closing:
            return
        self._tls.bio_write(data)
        if not self.handshaken:
            self._handshake()
            if not self.handshaken:
                return
        self._batch.hold()
        try:
            self._receive()
        finally:
            self._batch.release()

    def _receive(self):
        chunks = []
        peer_closed = False
        recv = self._tls.recv
        while True:
            try:
                chunks.append(recv(_CHUNK))
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                peer_closed = True
                break
            except SSL.Error:
                self._tls_error(Failure())
                return
        # Between brokers, reading queues no TLS output of its own (no
        # renegotiation, no key update requests); should a peer ever cause
        # some, it leaves with this connection's next write rather than
        # costing a BIO read after every message here.
        if chunks:
            messages, error = self._decoder.feed(
                chunks[0] if len(chunks) == 1 else b"".join(chunks))
            link = self.link
            for message in messages:
                if self.closing:
                    return
                link.message_received(self, message)
            if error is not None:
                self.drop(str(error))
                return
        if peer_closed:
            self.close()

    # -- sending --------------------------------------------------------------

    def send(self, message):
        """Queue one message; it leaves with the current batch."""
        if not self.closing:
            self.send_encoded(frames.encode(message))

    def send_encoded(self, data):
        """Queue one message already encoded by :func:`frames.encode`."""
        if self.closing:
            return
        self._out.append(frames.length_prefix(data))
        self._out.append(data)
        if not self._dirty:
            self._dirty = True
            self._batch.add(self)

    def flush(self):
        """Encrypt the queued messages and write them out (once handshaken)."""
        self._dirty = False
        if self._tls is None or self._failure is not None:
            return
        if self._out and self.handshaken:
            data = b"".join(self._out)
            self._out.clear()
            try:
                self._tls.sendall(data)
            except SSL.Error:
                self._tls_error(Failure())
                return
        self._flush_tls()

    def _flush_tls(self):
        read = self._tls.bio_read
        out = []
        while True:
            try:
                chunk = read(_CHUNK)
            except SSL.WantReadError:
                break
            out.append(chunk)
            if len(chunk) < _CHUNK:
                break
        if out:
            self._writer.write(out[0] if len(out) == 1 else b"".join(out))

    # -- closing --------------------------------------------------------------

    def drop(self, reason):
        """Close this connection because of ``reason``, reported once."""
        if self.closing:
            return
        self.link.connection_dropped(self, reason)
        self.close()

    def close(self):
        """Send what is queued, end TLS cleanly and close."""
        if self._writer is None or self.closing:
            return
        if self._failure is None:
            self.flush()
            if self.handshaken:
                try:
                    self._tls.shutdown()
                except SSL.Error:
                    pass  # mid-handshake or already shut down: just close
                self._flush_tls()
        self.closing = True
        self.transport.loseConnection()

    def abort(self):
        """Close at once, dropping anything unsent."""
        self.closing = True
        self.transport.abortConnection()

    @property
    def failure(self):
        """Why TLS failed (a Failure), or None."""
        return self._failure

    def describe(self):
        """A short name of the peer for log lines."""
        if self.peer_rank is not None:
            return f"rank {self.peer_rank}"
        return str(self.transport.getPeer())

    def peer_host(self):
        """The peer's network address (host only), or None."""
        return getattr(self.transport.getPeer(), "host", None)

    def connectionLost(self, reason):
        # ``closing`` still says whether this side closed it
        self.link.connection_lost(self, self._failure or reason)
        self.closing = True
