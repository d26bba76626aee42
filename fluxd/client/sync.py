# -*- test-case-name: tests.integration.test_broker_local -*-
"""A blocking, stdlib-only client for a fluxd broker's local socket.

The ``flux`` command uses this so that a command making a few RPCs costs
little more than Python's own start-up: it imports no Twisted.  It speaks
the box layout of :mod:`fluxd.client.wire`.

Typical use::

    with Flux() as h:
        rank = h.rpc("attr.get", {"name": "rank"})["value"]
"""

import _socket
import errno
import os
import time

from fluxd.client import jsonc, wire
from fluxd.client.uri import SYSTEM_URI, socket_path
from fluxd.errors import (
    FluxError, InvalidArgument, NotConnected, ProtocolError, TimedOut, from_errno)

# RFC 3 values, as fluxd.message.types has them (imported by the broker
# side only: it loads json at start-up; tests/unit/client checks they agree)
FLAG_STREAMING = 0x40
NODEID_ANY = 0xFFFFFFFF

ENODATA = 61
_RECV_SIZE = 65536


class Flux:
    """A connection to one broker.

    :param uri: ``local:///path``; default ``$FLUX_URI``, else the system
        instance.
    :param userid: with ``rolemask``, ask the broker to stamp requests with
        this credential (honoured for the instance owner only, as flux's
        ``FLUX_HANDLE_USERID``/``FLUX_HANDLE_ROLEMASK``).
    :raises fluxd.errors.NotConnected: when no broker answers at the URI.
    :raises fluxd.errors.FluxError: when the broker refuses the connection
        (EPERM for a guest when guest access is off).
    """

    def __init__(self, uri=None, userid=None, rolemask=None):
        uri = uri or os.environ.get("FLUX_URI") or SYSTEM_URI
        self.uri = uri
        path = socket_path(uri)
        self._sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            self._sock.connect(path)
        except FileNotFoundError:
            self._sock.close()
            raise NotConnected("Unable to connect to Flux:"
                               f" broker socket {path} was not found") from None
        except OSError as exc:
            self._sock.close()
            raise NotConnected(f"Unable to connect to Flux: {path}:"
                               f" {exc.strerror}") from None
        self._decoder = wire.BoxDecoder()
        self._timeout = self._sock.gettimeout()
        self._queue = []
        self._answers = {}
        self._stream = {}
        self._next_ask = 1
        self._next_tag = 1
        self._cred = (userid, rolemask)
        hello = self._read_until(lambda box: box.get(wire.COMMAND) == b"hello")
        try:
            errnum, errstr, _ = wire.decode_result(hello)
            self.userid = wire.get_int(hello, "userid", -1)
            self.rolemask = wire.get_int(hello, "rolemask", 0)
            self.rank = wire.get_int(hello, "rank", 0)
        except wire.WireError as exc:
            self.close()
            raise ProtocolError(f"broker sent a bad box: {exc}") from None
        if errnum:
            self.close()
            raise from_errno(errnum, errstr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the connection (idempotent)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- low level ---------------------------------------------------------

    def _read_box(self, timeout=None):
        while not self._queue:
            if timeout != self._timeout:
                # each settimeout() is a system call: only on a change
                self._sock.settimeout(timeout)
                self._timeout = timeout
            try:
                # not more: CPython allocates the whole size for each
                # recv, and past 128 KiB that is an mmap and a munmap
                data = self._sock.recv(_RECV_SIZE)
            except TimeoutError:
                raise TimedOut("Connection timed out") from None
            if not data:
                raise NotConnected("Lost connection to the broker")
            try:
                self._queue.extend(self._decoder.feed(data))
            except wire.WireError as exc:
                raise ProtocolError(f"broker sent a bad box: {exc}") from None
        return self._queue.pop(0)

    def _read_until(self, want, timeout=None):
        while True:
            box = self._read_box(timeout)
            if want(box):
                return box
            self._file(box)

    def _file(self, box):
        """Keep a box that is not the one being waited for."""
        if wire.ANSWER in box or wire.ERROR in box:
            self._answers[box.get(wire.ANSWER) or box.get(wire.ERROR)] = box
        elif box.get(wire.COMMAND) == b"response":
            self._stream.setdefault(_matchtag(box), []).append(box)

    def send(self, topic, payload=None, nodeid=NODEID_ANY, flags=0):
        """Send a request without waiting; returns a token for :meth:`wait`."""
        ask = b"%x" % self._next_ask
        self._next_ask += 1
        tag = self._next_tag
        self._next_tag += 1
        userid, rolemask = self._cred
        try:
            data = wire.encode_request(ask, topic, nodeid, flags, tag,
                                       encode_payload(payload), userid,
                                       rolemask)
        except wire.WireError as exc:
            raise InvalidArgument(f"{topic[:64]}: {exc}") from None
        self._sock.sendall(data)
        return ask, tag

    def _answer(self, ask, timeout=None):
        box = self._answers.pop(ask, None)
        if box is None:
            box = self._read_until(
                lambda b: b.get(wire.ANSWER) == ask or b.get(wire.ERROR) == ask,
                timeout)
        if wire.ERROR in box:
            raise ProtocolError(wire.get_str(box, "_error_description",
                                             "request failed"))
        return box

    @staticmethod
    def _result(box):
        try:
            errnum, errstr, payload = wire.decode_result(box)
        except wire.WireError as exc:
            raise ProtocolError(f"broker sent a bad box: {exc}") from None
        if errnum:
            raise from_errno(errnum, errstr)
        return payload

    def wait(self, token, timeout=None):
        """Wait for the answer of :meth:`send`; returns the raw payload.

        :param timeout: seconds to wait for the broker (None: forever).
        :raises fluxd.errors.TimedOut: when it does not answer in time.
        """
        return self._result(self._answer(token[0], timeout))

    # -- RPC ---------------------------------------------------------------

    def rpc_raw(self, topic, payload=None, nodeid=NODEID_ANY, flags=0,
                timeout=None):
        """One request, one response: returns the response payload bytes.

        :raises fluxd.errors.FluxError: for an error response.
        """
        return self.wait(self.send(topic, payload, nodeid, flags), timeout)

    def rpc(self, topic, payload=None, nodeid=NODEID_ANY, flags=0,
            timeout=None):
        """One request, one response: returns the decoded JSON payload."""
        return decode_json(self.rpc_raw(topic, payload, nodeid, flags, timeout))

    def stream(self, topic, payload=None, nodeid=NODEID_ANY):
        """A streaming RPC: yields each response's JSON payload.

        The stream ends quietly on ENODATA and raises on any other error.
        """
        ask, tag = self.send(topic, payload, nodeid, FLAG_STREAMING)
        while True:
            pending = self._stream.get(tag)
            if pending:
                yield decode_json(self._result(pending.pop(0)))
                continue
            if ask in self._answers:
                break
            box = self._read_box()
            if box.get(wire.COMMAND) == b"response" and \
                    _matchtag(box) == tag:
                yield decode_json(self._result(box))
            else:
                self._file(box)
        self._stream.pop(tag, None)
        try:
            self._result(self._answer(ask))
        except FluxError as exc:
            if exc.errno != ENODATA:
                raise

    def cancel(self, token):
        """Cancel a streaming request started with :meth:`send`."""
        self._sock.sendall(wire.encode_cancel(token[1]))

    def start_stream(self, topic, payload=None, nodeid=NODEID_ANY):
        """Start a streaming request whose responses :meth:`next_response`
        returns, so that one client can follow many streams at once.

        :returns: the request's token.
        """
        return self.send(topic, payload, nodeid, FLAG_STREAMING)

    def next_response(self, tokens, timeout=None):
        """The next response to any of the streaming requests ``tokens``.

        Responses of one stream come back in order, and a stream's end
        after its last response.

        :param tokens: tokens from :meth:`start_stream`.
        :param timeout: seconds to wait (None: forever).
        :returns: ``(token, payload, None)`` for a response (payload decoded
            from JSON); ``(token, None, None)`` when that stream ended
            normally (ENODATA, or ECANCELED after :meth:`cancel`);
            ``(token, None, error)`` when it ended with an error (a
            :class:`fluxd.errors.FluxError`); None when ``timeout`` passed
            first.
        """
        by_tag = {token[1]: token for token in tokens}
        by_ask = {token[0]: token for token in tokens}
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for tag, token in by_tag.items():
                pending = self._stream.get(tag)
                if pending:
                    return self._stream_item(token, pending.pop(0))
            for ask, token in by_ask.items():
                if ask in self._answers:
                    return self._stream_end(token, self._answers.pop(ask))
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
            try:
                box = self._read_box(remaining)
            except TimedOut:
                return None
            self._file(box)

    @staticmethod
    def _stream_item(token, box):
        try:
            return token, decode_json(Flux._result(box)), None
        except FluxError as exc:
            return token, None, exc

    def _stream_end(self, token, box):
        self._stream.pop(token[1], None)
        if wire.ERROR in box:
            return token, None, ProtocolError(wire.get_str(
                box, "_error_description", "request failed"))
        errnum = wire.get_int(box, "errnum", 0)
        if errnum in (0, ENODATA, errno.ECANCELED):
            return token, None, None
        return token, None, from_errno(errnum, wire.get_str(box, "errstr"))


def _matchtag(box):
    try:
        return wire.get_int(box, "matchtag")
    except wire.WireError as exc:
        raise ProtocolError(f"broker sent a bad box: {exc}") from None


def decode_json(raw):
    """A response payload as JSON (``{}`` when empty).

    :raises fluxd.errors.ProtocolError: when it is not JSON.
    """
    if not raw:
        return {}
    try:
        return jsonc.loads(raw.rstrip(b"\0"))
    except ValueError:
        raise ProtocolError("response payload is not JSON") from None


def encode_payload(payload):
    """Turn a payload argument into bytes: None, bytes, str or JSON value
    (as :func:`fluxd.message.types.encode_payload`, without ``json``)."""
    if payload is None or isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return jsonc.dumps(payload).encode("utf-8")
