# -*- test-case-name: tests.unit.exec.test_held -*-
"""A job shell's events on their way to its broker, for the shell server
and the IMP shells' relay.

Both read the shell's event lines from a pipe and give them to a broker
over a UNIX socket that may go away (the broker restarts) and come back:
each line is numbered (``seq``) and kept until the broker says it is
durable, so that a broker that comes back gets again what the last one
did not acknowledge.  The shell's exit is kept until the job is over
(``final``).  Orders come back one JSON object per line.
"""

import json

__all__ = ["HeldEvents", "read_orders"]


class HeldEvents:
    """One shell's event lines, numbered and kept until acknowledged.

    :ivar held: ``(seq, line, final)`` not given to the broker yet.
    :ivar sent: given to it, not acknowledged yet.
    :ivar size: bytes of both (what the reader stops at).
    :ivar seq: the last number given.
    """

    __slots__ = ("held", "sent", "size", "seq")

    def __init__(self):
        self.held, self.sent, self.size, self.seq = [], [], 0, 0

    def add(self, lines, final=False):
        """Number the JSON object lines of ``lines`` and hold them."""
        for line in lines.splitlines():
            if not line.startswith(b"{"):
                continue
            self.seq += 1
            line = b'{"seq":%d,' % self.seq + line[1:] + b"\n"
            self.held.append((self.seq, line, final))
            self.size += len(line)

    def send(self, write):
        """Give the held lines to ``write``, in order and in one call
        (one write, one wake-up of the broker); they stay held when it
        returns False (the broker went away)."""
        if not self.held:
            return
        if len(self.held) == 1:
            data = self.held[0][1]
        else:
            data = b"".join([item[1] for item in self.held])
        if write(data):
            self.sent += self.held
            self.held = []

    def resend(self):
        """A new reader: what the last one did not acknowledge is held
        again, ahead of the rest."""
        self.held[:0] = self.sent
        self.sent = []

    def ack(self, seq):
        """The broker made the lines up to ``seq`` durable (never the
        final ones: the job may need them again until it is over)."""
        keep = []
        for item in self.sent:
            if item[0] <= seq and not item[2]:
                self.size -= len(item[1])
            else:
                keep.append(item)
        self.sent = keep

    def clear(self):
        """Drop everything (nobody will take it any more)."""
        self.held, self.sent, self.size = [], [], 0


def read_orders(sock, inbuf):
    """Read what ``sock`` has: ``(orders, rest)`` with the JSON objects
    of the complete lines after ``inbuf`` and the incomplete rest;
    ``orders`` is None at the end of the connection."""
    try:
        data = sock.recv(65536)
    except OSError:
        data = b""
    if not data:
        return None, inbuf
    *lines, rest = (inbuf + data).split(b"\n")
    orders = []
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            orders.append(obj)
    return orders, rest
