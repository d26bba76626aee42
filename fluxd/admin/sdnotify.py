# -*- test-case-name: tests.unit.admin.test_sdnotify -*-
"""systemd readiness and status notification (``sd_notify(3)``).

With ``Type=notify`` systemd passes ``NOTIFY_SOCKET`` and waits for
``READY=1``; the datagrams go through fluxd's one ``sd_notify`` client,
:class:`fluxd.storage.sdnotify.SdNotify`.

As flux-core's broker does, fluxd reports (spec/broker.md section 7):

- ``READY=1`` on entering JOIN (so that a broker waiting for its parent
  does not hit systemd's start timeout), with
  ``STATUS=Joining Flux instance via URI`` on ranks other than 0;
- ``STATUS=Waiting for instance quorum`` in QUORUM;
- ``STATUS=Running as leader|member of N node Flux instance`` in RUN;
- ``EXTEND_TIMEOUT_USEC`` on each state change once stopping has begun
  (CLEANUP onwards) when ``broker.sd-stop-timeout`` is set, so that a slow
  state does not eat the time of the next ones;
- ``STATUS=Exiting`` in EXIT.

Notification is on when the ``broker.sd-notify`` attribute is ``1``, off
when it is ``0`` and, when it is unset, on exactly when ``NOTIFY_SOCKET``
is present.
"""

import socket

from twisted.logger import Logger
from zope.interface import implementer

from fluxd.lifecycle import IStateListener
from fluxd.storage.sdnotify import SdNotify, socket_address

__all__ = ["SdNotifier", "socket_address"]

_STOPPING_STATES = frozenset({"cleanup", "shutdown", "finalize", "goodbye",
                              "unload-builtins", "exit"})


@implementer(IStateListener)
class SdNotifier:
    """Send ``sd_notify`` messages for the broker's states.

    :param environ: the broker's environment (``NOTIFY_SOCKET``).
    :param setting: the ``broker.sd-notify`` attribute value, or None.
    :param rank: this broker's rank.
    :param size: the instance size.
    :param stop_timeout: ``broker.sd-stop-timeout`` in seconds, or None.
    :param parent_uri: callable giving the parent's URI (ranks > 0).
    :param socket_factory: ``socket.socket`` (tests may substitute).
    """

    log = Logger()

    def __init__(self, environ, setting=None, rank=0, size=1,
                 stop_timeout=None, parent_uri=None,
                 socket_factory=socket.socket):
        self._client = SdNotify(environ, socket_factory, self._failed)
        self.address = self._client.address
        if setting is None or setting == "":
            self.enabled = self.address is not None
        else:
            self.enabled = setting not in ("0", "false", "no")
        self.rank = rank
        self.size = size
        self.stop_timeout = stop_timeout
        self._parent_uri = parent_uri
        self._complained = False

    def notify(self, *lines):
        """Send one datagram of ``KEY=VALUE`` lines (no-op when off).

        :returns: True when it was sent.
        """
        if not self.enabled or not lines:
            return False
        return self._client.send(*lines)

    @property
    def sent(self):
        """The datagrams sent, as text (newest last)."""
        return self._client.sent

    def _failed(self, text):
        if text == "NOTIFY_SOCKET is not set":
            text = "broker.sd-notify is set but NOTIFY_SOCKET is not"
        self._complain(text)

    def _complain(self, text):
        # systemd being gone is worth one line, not one per state
        if not self._complained:
            self._complained = True
            self.log.warn("{text}", text=text)

    def status(self, text):
        """Send ``STATUS=text``."""
        return self.notify(f"STATUS={text}")

    def state_changed(self, lifecycle, state, event):
        """IStateListener: report ``state``."""
        lines = []
        if state in _STOPPING_STATES and self.stop_timeout:
            lines.append(f"EXTEND_TIMEOUT_USEC={int(self.stop_timeout * 1e6)}")
        if state == "join":
            if self.rank > 0 and self._parent_uri is not None:
                lines.append(f"STATUS=Joining Flux instance via {self._parent_uri()}")
            lines.append("READY=1")
        elif state == "quorum":
            lines.append("STATUS=Waiting for instance quorum")
        elif state == "run":
            role = "leader" if self.rank == 0 else "member"
            lines.append(f"STATUS=Running as {role} of {self.size} node"
                         " Flux instance")
        elif state == "exit":
            lines.append("STATUS=Exiting")
        self.notify(*lines)
