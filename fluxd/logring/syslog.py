# -*- test-case-name: tests.unit.logring.test_syslog -*-
"""Copying broker log records to the local syslog (``log-syslog-enable``).

flux-core calls ``syslog(3)`` after ``openlog("flux", ...)``; this sends
the same BSD-syslog datagram that libc builds to the syslog socket
(``/dev/log``, which journald and rsyslog read)::

    <14>May  2 14:51:03 flux[1234]: broker.info[0]: rc1-success: ...

The socket is a non-blocking UNIX datagram socket: a full or missing
syslog daemon costs a dropped record and one warning, never a stalled
broker.
"""

import errno
import os
import socket
import time

from fluxd.logring.stdlog import LOG_USER, journal_line

#: where syslog(3) sends its records
DEV_LOG = "/dev/log"
#: the tag flux-core gives openlog()
TAG = "flux"


class SyslogSender:
    """Send log records to a syslog datagram socket.

    :param address: the socket path (default :data:`DEV_LOG`).
    :param pid: the PID in the tag (default: this process's).
    :param clock: ``time.time``-like callable for the timestamp.
    :param on_error: ``on_error(text)`` told once about a failure.
    """

    def __init__(self, address=DEV_LOG, pid=None, clock=time.time,
                 on_error=None):
        self.address = address
        self.pid = os.getpid() if pid is None else pid
        self._clock = clock
        #: ``on_error(text)``, told once about a failure (or None)
        self.on_error = on_error
        self._sock = None
        self._complained = False
        self.sent = 0
        self.dropped = 0

    def format(self, record):
        """The datagram for a decoded :class:`fluxd.logring.stdlog.Record`."""
        when = record.timestamp if record.timestamp is not None \
            else self._clock()
        stamp = time.strftime("%b %e %H:%M:%S", time.localtime(when))
        pri = LOG_USER * 8 + record.severity
        return f"<{pri}>{stamp} {TAG}[{self.pid}]: {journal_line(record)}"

    def send(self, record):
        """Send one record; failures drop it (one complaint in all)."""
        data = self.format(record).encode("utf-8", "replace")
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)
                try:
                    sock.connect(self.address)
                except OSError:
                    sock.close()
                    raise
                self._sock = sock
            self._sock.send(data)
            self.sent += 1
        except OSError as exc:
            self.dropped += 1
            if exc.errno not in (errno.EAGAIN, errno.ENOBUFS):
                self.close()
            if not self._complained and self.on_error is not None:
                self._complained = True
                self.on_error(f"syslog {self.address}:"
                               f" {exc.strerror or exc}")

    def close(self):
        """Close the socket (reopened on the next record)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
