# -*- test-case-name: tests.unit.nest.test_pmi -*-
"""A PMI-1 simple wire-protocol client, and the business-card exchange of
a nested instance's brokers.

The job shell's ``pmi`` plugin (:mod:`flux_shell.plugins.pmi`) gives each
task ``PMI_FD``, ``PMI_RANK`` and ``PMI_SIZE``.  Each broker of a nested
instance puts its *business card* (the overlay endpoint it listens on and
its own TLS certificate), crosses one barrier and reads every rank's card,
as the admin guide describes ("the single-user Flux instance bootstraps
like an MPI parallel program").

A PMI value holds at most ``vallen_max`` characters and no spaces, so a
card is encoded as ``HOST PORT`` plus the certificate in base64, cut into
chunks under keys ``flux.bc.RANK.N`` (``flux.bc.RANK.count`` = number of
chunks).  Pure (stdlib only); :class:`PMIClient` talks over a socket.
"""

import base64
import os
import socket

__all__ = ["PMIError", "PMIClient", "card_items", "parse_card",
           "exchange"]

#: the longest value this client puts (the server's vallen_max is larger)
CHUNK = 900


class PMIError(Exception):
    """A PMI conversation that went wrong (one line of text)."""


def _fields(line):
    fields = {}
    for token in line.strip().split(" "):
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


class PMIClient:
    """The simple PMI-1 protocol over one stream socket.

    :param sock: the connected socket (``PMI_FD``).
    :param rank: this task's rank (``PMI_RANK``).
    :param size: the number of tasks (``PMI_SIZE``).
    """

    def __init__(self, sock, rank, size):
        self.rank, self.size = rank, size
        self._file = sock.makefile("rwb", buffering=0)
        self._sock = sock
        self.kvsname = None
        self.closed = False

    @classmethod
    def from_environ(cls, environ=None):
        """The client of the task's ``PMI_FD``/``PMI_RANK``/``PMI_SIZE``.

        :raises PMIError: when they are missing or not numbers.
        """
        environ = os.environ if environ is None else environ
        try:
            fd = int(environ["PMI_FD"])
            rank = int(environ["PMI_RANK"])
            size = int(environ["PMI_SIZE"])
        except KeyError as exc:
            raise PMIError(f"{exc.args[0]} is not set: not started by a job"
                           " shell with PMI") from None
        except ValueError:
            raise PMIError("PMI_FD, PMI_RANK or PMI_SIZE is not a number") \
                from None
        return cls(socket.socket(fileno=fd), rank, size)

    def call(self, line, expect):
        """Send one request line; return the reply's fields.

        :raises PMIError: when the reply is not ``cmd=EXPECT`` with
            ``rc=0``.
        """
        try:
            self._write((line + "\n").encode("ascii"))
            reply = self._file.readline().decode("ascii", "replace")
        except OSError as exc:
            raise PMIError(f"PMI: {exc.strerror or exc}") from None
        if not reply:
            raise PMIError("PMI: the job shell closed the connection")
        fields = _fields(reply)
        if fields.get("cmd") != expect or fields.get("rc", "0") != "0":
            raise PMIError(f"PMI: {line.split()[0]}: {reply.strip()}")
        return fields

    def _write(self, data):
        self._file.write(data)

    def init(self):
        """``init`` then ``get_my_kvsname``."""
        self.call("cmd=init pmi_version=1 pmi_subversion=1",
                  "response_to_init")
        self.kvsname = self.call("cmd=get_my_kvsname",
                                 "my_kvsname")["kvsname"]

    def put(self, key, value):
        """Put one key (seen by others after the next barrier)."""
        self.call(f"cmd=put kvsname={self.kvsname} key={key} value={value}",
                  "put_result")

    def get(self, key):
        """One key's value."""
        return self.call(f"cmd=get kvsname={self.kvsname} key={key}",
                         "get_result")["value"]

    def barrier(self):
        """Wait until every task entered the barrier."""
        self.call("cmd=barrier_in", "barrier_out")

    def finalize(self):
        """``finalize``; the socket is closed afterwards."""
        try:
            self.call("cmd=finalize", "finalize_ack")
        finally:
            self.close()

    def abort(self, code, message):
        """``abort``: the job shell ends the job with ``message`` (spaces
        become ``_``: a value of the wire protocol has none)."""
        text = "_".join(str(message).split()) or "aborted"
        try:
            self._write(f"cmd=abort exitcode={int(code)} error_msg={text}\n"
                        .encode("ascii", "replace"))
        finally:
            self.close()

    def close(self):
        """Close the connection."""
        self.closed = True
        self._file.close()
        self._sock.close()


def card_items(rank, host, port, cert_pem):
    """The PMI ``(key, value)`` pairs of one broker's business card.

    :param host: the address peers connect to.
    :param port: the TCP port the broker listens on.
    :param cert_pem: the broker's certificate (PEM bytes).
    """
    if " " in host or "=" in host or not host:
        raise ValueError(f"invalid overlay address {host!r}")
    text = base64.b64encode(cert_pem).decode("ascii")
    chunks = [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    items = [(f"flux.bc.{rank}.addr", f"{host}:{int(port)}"),
             (f"flux.bc.{rank}.count", str(len(chunks)))]
    items += [(f"flux.bc.{rank}.{i}", c) for i, c in enumerate(chunks)]
    return items


def parse_card(rank, get):
    """Read rank ``rank``'s card with ``get(key)``.

    :returns: ``(host, port, cert_pem)``.
    :raises PMIError: for a card that is not one :func:`card_items` made.
    """
    addr = get(f"flux.bc.{rank}.addr")
    host, sep, port = addr.rpartition(":")
    try:
        count = int(get(f"flux.bc.{rank}.count"))
        port = int(port)
    except ValueError:
        count = port = None
    if not sep or not host or port is None or not 0 < port < 65536 \
            or count is None or not 0 < count < 100:
        raise PMIError(f"rank {rank}: invalid business card {addr!r}")
    text = "".join(get(f"flux.bc.{rank}.{i}") for i in range(count))
    try:
        pem = base64.b64decode(text.encode("ascii"), validate=True)
    except ValueError:
        raise PMIError(f"rank {rank}: business card certificate is not"
                       " base64") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise PMIError(f"rank {rank}: business card holds no certificate")
    return host, port, pem


def exchange(client, host, port, cert_pem):
    """Publish this broker's card, cross the barrier, read every card.

    :param client: an initialised :class:`PMIClient` (or a fake with
        ``rank``, ``size``, ``put``, ``get``, ``barrier``).
    :returns: ``[(host, port, cert_pem)]`` in rank order.
    """
    for key, value in card_items(client.rank, host, port, cert_pem):
        client.put(key, value)
    client.barrier()
    return [parse_card(r, client.get) for r in range(client.size)]
