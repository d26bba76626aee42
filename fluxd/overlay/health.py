# -*- test-case-name: tests.integration.test_overlay_faults -*-
"""Subtree health of the TBON (spec/broker.md section 4.2), pure.

Each broker's status is computed from its children's: a leaf is
``full``; a child that is ``partial`` or ``offline`` makes its parent
``partial``; one that is ``degraded`` or ``lost`` makes it ``degraded``.
"""

from fluxd.formats.idset import IDset

FULL, PARTIAL, DEGRADED, LOST, OFFLINE, UNKNOWN = (
    "full", "partial", "degraded", "lost", "offline", "unknown")
STATUSES = (FULL, PARTIAL, DEGRADED, LOST, OFFLINE, UNKNOWN)


def combine(child_statuses):
    """The status of a broker whose children have ``child_statuses``."""
    status = FULL
    for child in child_statuses:
        if child in (DEGRADED, LOST):
            return DEGRADED
        if child in (PARTIAL, OFFLINE, UNKNOWN):
            status = PARTIAL
    return status


class ChildState:
    """What a parent knows about one child link.

    :ivar status: the child's subtree status as the parent sees it:
        ``offline`` until it connects, ``lost`` after a failure, else what
        the child last reported.
    :ivar online: ranks online in the child's subtree (child included).
    :ivar torpid_below: ranks below the child that their parents see torpid.
    """

    def __init__(self, rank, now):
        self.rank = rank
        self.status = OFFLINE
        self.since = now
        self.error = None
        self.online = IDset()
        self.torpid_below = IDset()
        self.proto = None
        self.last_rx = now
        self.torpid = False
        self.uuid = None

    def set_status(self, status, now, error=None):
        """Change status; returns True when it changed."""
        changed = status != self.status or error != self.error
        if status != self.status:
            self.since = now
        self.status = status
        self.error = error
        return changed

    def as_dict(self, now):
        """The ``overlay.health`` child entry."""
        entry = {"rank": self.rank, "status": self.status,
                 "duration": now - self.since}
        if self.error:
            entry["error"] = self.error
        if self.torpid:
            entry["torpid"] = True
        return entry
