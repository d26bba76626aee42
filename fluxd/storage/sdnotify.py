# -*- test-case-name: tests.unit.admin.test_sdnotify -*-
"""The one ``sd_notify(3)`` client of fluxd: datagrams to ``NOTIFY_SOCKET``.

With ``Type=notify`` systemd passes ``NOTIFY_SOCKET``, a UNIX datagram
socket (a path, or an abstract name written with a leading ``@``).  The
protocol is a few ``KEY=VALUE`` lines per datagram, so the standard
``socket`` module is all it takes: no libsystemd.

The broker's state notifications (:mod:`fluxd.admin.sdnotify`), the
progress of a dump or restore at stop or start and of ``flux
dump/restore --sd-notify`` (``EXTEND_TIMEOUT_USEC`` so that systemd
does not time a long one out) all send through :class:`SdNotify`.
Pure Python: the ``flux`` command uses it.
"""

import os
import socket

__all__ = ["socket_address", "SdNotify"]


def socket_address(value):
    """The ``sendto`` address of a ``NOTIFY_SOCKET`` value, or None."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


class SdNotify:
    """Sends ``sd_notify`` datagrams.

    :param environ: where ``NOTIFY_SOCKET`` is looked up (default
        ``os.environ``).
    :param socket_factory: ``socket.socket`` (tests may substitute).
    :param on_error: called with a one-line reason when a datagram cannot
        be sent, or None to ignore such failures.
    :ivar address: the socket address, or None without ``NOTIFY_SOCKET``.
    :ivar sent: the datagrams sent, as text (newest last).
    """

    def __init__(self, environ=None, socket_factory=socket.socket,
                 on_error=None):
        env = os.environ if environ is None else environ
        self.address = socket_address(env.get("NOTIFY_SOCKET"))
        self._socket_factory = socket_factory
        self._on_error = on_error
        self.sent = []

    def send(self, *lines):
        """Send one datagram of ``KEY=VALUE`` lines.

        :returns: True when it was sent; False without a socket or when
            sending failed (reported to ``on_error``).
        """
        if not lines:
            return False
        if self.address is None:
            if self._on_error is not None:
                self._on_error("NOTIFY_SOCKET is not set")
            return False
        data = "\n".join(lines).encode("utf-8")
        try:
            sock = self._socket_factory(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.sendto(data, self.address)
            finally:
                sock.close()
        except OSError as exc:
            if self._on_error is not None:
                self._on_error(f"sd_notify: {exc.strerror or exc}")
            return False
        self.sent.append(data.decode("utf-8"))
        return True

    __call__ = send
