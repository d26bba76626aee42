# -*- test-case-name: tests.unit.overlay.test_service -*-
"""The two sides of a broker's overlay links.

:class:`ParentSide` handles the one connection to the TBON parent (this
broker connects and says hello); :class:`ChildSide` the connections
accepted from would-be children (they must finish TLS and say hello
before anything else, see :class:`fluxd.overlay.gate.AdmissionGate`).
Each is the ``link`` of its :class:`~fluxd.overlay.protocol.OverlayProtocol`
connections and works on the state of its
:class:`~fluxd.overlay.service.OverlayService`.
"""

import errno

from twisted.logger import Logger

from fluxd.errors import ProtocolError
from fluxd.formats.idset import IDset
from fluxd.message.types import CONTROL, EVENT, REQUEST, RESPONSE, Message
from fluxd.overlay import health

__all__ = ["ParentSide", "ChildSide", "CONTROL_HEARTBEAT", "CONTROL_STATUS",
           "CONTROL_DISCONNECT", "CONTROL_SHUTDOWN"]

# CONTROL message types (the matchtag field of a control message)
CONTROL_HEARTBEAT = 0
CONTROL_STATUS = 1
CONTROL_DISCONNECT = 2
CONTROL_SHUTDOWN = 3


class ParentSide:
    """Callbacks of the connection to the parent (the connecting side).

    :param overlay: the :class:`~fluxd.overlay.service.OverlayService`.
    """

    log = Logger()

    def __init__(self, overlay):
        self.overlay = overlay
        self._waiting = None
        self._timer = None

    def connection_made(self, proto):
        """Connected (TLS under way): say hello, give it ``hello_timeout``."""
        ov = self.overlay
        ov.set_tcp_timeout(proto)
        proto.peer_rank = ov.parent_rank
        proto.send(Message.request("overlay.hello", {
            "rank": ov.rank, "uuid": ov.uuid, "version": ov.version},
            nodeid=ov.parent_rank))
        self._cancel_timer()
        self._waiting = proto
        self._timer = ov.reactor.callLater(ov.hello_timeout, self._expired,
                                           proto)

    def _expired(self, proto):
        self._timer = None
        proto.drop(f"no answer to our hello within {self.overlay.hello_timeout}s")

    def _cancel_timer(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def stop(self):
        """The overlay is stopping: no more hello timeout."""
        self._cancel_timer()

    def message_received(self, proto, msg):
        """A message from the parent (first: the answer to our hello)."""
        ov = self.overlay
        if proto is self._waiting:
            self._answered(proto, msg)
        elif proto is not ov.parent:
            return
        elif msg.type == EVENT:
            ov.events.deliver(msg)
        elif msg.type == CONTROL:
            self._control(proto, msg)
        else:
            ov.receive(proto, msg)

    def _answered(self, proto, msg):
        ov = self.overlay
        self._cancel_timer()
        self._waiting = None
        if msg.type != RESPONSE or msg.topic != "overlay.hello":
            proto.drop("parent did not answer hello")
            return
        if msg.errnum:
            self.log.error("overlay: parent refused us: {err}",
                           err=msg.errstr or errno.errorcode.get(msg.errnum))
            proto.drop("refused by parent")
            return
        ov.parent = proto
        self.log.info("overlay: connected to parent rank {rank}",
                      rank=ov.parent_rank)
        ov.report_up()
        ov.parent_accepted()

    def _control(self, proto, msg):
        ov = self.overlay
        if msg.matchtag == CONTROL_DISCONNECT:
            self.log.warn("overlay: parent disconnected us"
                          " (administrative shutdown)")
            proto.closing = True
            ov.tell_parent_lost()
        elif msg.matchtag == CONTROL_SHUTDOWN:
            self.log.info("overlay: parent is shutting down")
            ov.tell_parent_lost()

    def connection_dropped(self, proto, reason):
        """We close the parent link because of ``reason``."""
        self.log.warn("overlay: dropping {peer}: {reason}",
                      peer=proto.describe(), reason=reason)

    def connection_lost(self, proto, reason):
        """The parent link is gone; ClientService reconnects."""
        ov = self.overlay
        if proto is self._waiting:
            self._cancel_timer()
            self._waiting = None
        if proto is ov.parent:
            ov.parent = None
            self.log.warn("overlay: lost connection to parent rank {rank}",
                          rank=ov.parent_rank)
        ov.forwarder.fail(proto)


class ChildSide:
    """Callbacks of the connections accepted from would-be children.

    :param overlay: the :class:`~fluxd.overlay.service.OverlayService`.
    """

    log = Logger()

    def __init__(self, overlay):
        self.overlay = overlay

    @property
    def _unauthenticated_log(self):
        return self.overlay.gate.log

    def connection_made(self, proto):
        """A new connection: the gate admits it to wait for its hello."""
        if self.overlay.gate.admit(proto):
            self.overlay.set_tcp_timeout(proto)

    def message_received(self, proto, msg):
        """A message from a child (first: its hello)."""
        ov = self.overlay
        if proto.peer_rank is None:
            self._hello(proto, msg)
            return
        child = ov.children.get(proto.peer_rank)
        if child is None or child.proto is not proto:
            return
        child.last_rx = ov.reactor.seconds()
        mtype = msg.type
        if mtype == REQUEST or mtype == RESPONSE:
            ov.receive(proto, msg)
        elif mtype == CONTROL:
            self._control(child, msg)
        else:
            proto.drop("children may not send events")

    def _refuse(self, proto, msg, text):
        self._unauthenticated_log.warn("overlay: refused {peer}: {text}",
                                       peer=proto.describe(), text=text)
        if msg.type == REQUEST:
            proto.send(msg.response(errnum=errno.EPERM, errstr=text))
        proto.close()

    def _hello(self, proto, msg):
        ov = self.overlay
        if msg.type != REQUEST or msg.topic != "overlay.hello":
            proto.drop("first message was not a hello")
            return
        try:
            body = msg.json()
        except ProtocolError:
            self._refuse(proto, msg, "malformed hello")
            return
        rank, version = body.get("rank"), body.get("version")
        if not isinstance(rank, int) or isinstance(rank, bool):
            self._refuse(proto, msg, "malformed hello")
        elif rank not in ov.children:
            self._refuse(proto, msg,
                         f"rank {rank} is not a child of rank {ov.rank}")
        elif version != ov.version:
            self._refuse(proto, msg, f"rank {rank} runs version {version},"
                         f" we run {ov.version}")
        else:
            self._accept(proto, msg, rank, body.get("uuid"))

    def _accept(self, proto, msg, rank, child_uuid):
        ov = self.overlay
        ov.gate.settle(proto)
        child = ov.children[rank]
        if child.proto is not None:
            # the child restarted before we noticed it was gone
            old = child.proto
            old.abort()
            ov.forwarder.fail(old)
        proto.peer_rank = rank
        child.proto = proto
        child.uuid = child_uuid
        now = ov.reactor.seconds()
        child.last_rx = now
        child.online = IDset([rank])
        child.torpid_below = IDset()
        child.torpid = False
        child.set_status(health.FULL if not ov.topology.children(rank)
                         else health.PARTIAL, now)
        self.log.info("overlay: rank {rank} connected", rank=rank)
        proto.send(msg.response({"rank": ov.rank}))
        ov.recompute()
        ov.membership_changed()

    def _control(self, child, msg):
        ov = self.overlay
        if msg.matchtag == CONTROL_STATUS:
            try:
                body = msg.json()
                status = body["status"]
                online = IDset(body["online"])
                torpid = IDset(body.get("torpid", ""))
            except Exception:
                child.proto.drop("malformed status message")
                return
            if status not in health.STATUSES:
                child.proto.drop("unknown status")
                return
            changed = online != child.online or torpid != child.torpid_below
            child.online, child.torpid_below = online, torpid
            child.set_status(status, ov.reactor.seconds())
            ov.recompute()
            if changed:
                ov.membership_changed()
        elif msg.matchtag == CONTROL_DISCONNECT:
            child.proto.closing = True
            child.goodbye = True

    def connection_dropped(self, proto, reason):
        """We close a child's connection because of ``reason``."""
        if proto.peer_rank is None:
            self._unauthenticated_log.warn("overlay: dropping {peer}: {reason}",
                                           peer=proto.describe(), reason=reason)
        else:
            self.log.warn("overlay: dropping {peer}: {reason}",
                          peer=proto.describe(), reason=reason)

    def connection_lost(self, proto, reason):
        """A connection from a (would-be) child is gone."""
        ov = self.overlay
        ov.gate.settle(proto)
        ov.forwarder.fail(proto)
        if proto.peer_rank is None:
            if proto.failure is not None or not proto.closing:
                # a failed TLS handshake (wrong or no certificate), or a
                # client that is not a broker at all
                self._unauthenticated_log.warn(
                    "overlay: refused {peer}: {reason}",
                    peer=proto.describe(), reason=reason.getErrorMessage())
            return
        child = ov.children.get(proto.peer_rank)
        if child is None or child.proto is not proto:
            return
        child.proto = None
        child.online = IDset()
        child.torpid_below = IDset()
        now = ov.reactor.seconds()
        if child.goodbye:
            child.goodbye = False
            child.set_status(health.OFFLINE, now, child.admin_error)
            self.log.info("overlay: rank {rank} disconnected", rank=child.rank)
        else:
            child.set_status(health.LOST, now, "lost connection")
            self.log.warn("overlay: lost connection to rank {rank}",
                          rank=child.rank)
        child.admin_error = None
        ov.recompute()
        ov.membership_changed()
        ov.check_gone()
