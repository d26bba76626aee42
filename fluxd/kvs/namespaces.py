# -*- test-case-name: tests.unit.kvs.test_service -*-
"""KVS namespaces: their roots, owners and access rules (RFC 11/16).

Every namespace has a root directory blobref and a root *sequence*
number that grows by one with each applied commit batch.  ``primary``
always exists and belongs to the instance owner; other namespaces are
created by the owner for a user (a job's guest namespace), who may then
read and write it.  The instance owner may use every namespace.

A :class:`Namespace` also keeps the ``wait-version`` waiters and, on
rank 0, the queue of commits not yet applied.
"""

import re

from twisted.internet import defer

from fluxd.errors import InvalidArgument, PermissionDenied
from fluxd.message.types import ROLE_OWNER

__all__ = ["PRIMARY", "USERID_UNKNOWN", "Namespace", "check_name",
           "check_access"]

PRIMARY = "primary"
#: "no owner given": the namespace belongs to the instance owner
USERID_UNKNOWN = 0xFFFFFFFF

# Names end up in event topics (kvs.namespace-NAME-setroot) and in the
# ns:NAME/key syntax, so keep them to printable characters without '/'.
_NAME = re.compile(r"[^\s/]{1,255}")


def check_name(name):
    """Return ``name`` if it is a valid namespace name.

    :raises InvalidArgument: for a non-string, empty, overlong name or one
        with whitespace or ``/``.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument(f"invalid namespace name {name!r}")
    return name


def check_access(namespace, userid, rolemask):
    """Raise PermissionDenied unless the credential may use ``namespace``.

    The instance owner may use any namespace; a guest only one it owns.
    """
    if rolemask & ROLE_OWNER or userid == namespace.owner:
        return
    raise PermissionDenied("Operation not permitted")


class Namespace:
    """One namespace as known to this broker.

    :ivar rootref: the current root directory's blobref.
    :ivar seq: the root sequence number.
    :ivar owner: the uid allowed besides the instance owner.
    :ivar flags: namespace flags (kept for ``namespace-list``).
    """

    def __init__(self, name, rootref, seq, owner, flags=0):
        self.name = name
        self.rootref = rootref
        self.seq = seq
        self.owner = owner
        self.flags = flags
        self.removed = False
        #: rank 0: some broker or client fetched it with ``kvs.getroot``
        #: (a batch publishes its setroot and removed events only then)
        self.followed = False
        #: rank 0: the decoded directories of a small namespace as the
        #: last batch left it (``{blobref: dir}``): the next one need not
        #: load them again
        self.kept = {}
        self.queue = []         # rank 0: commits waiting to be applied
        self.running = False    # rank 0: the apply loop is running
        self._idle = []         # Deferreds waiting for the loop to end
        self._waiters = []      # [(seq, Deferred)]

    def info(self):
        """The ``kvs.getroot`` answer."""
        return {"namespace": self.name, "rootref": self.rootref,
                "rootseq": self.seq, "owner": self.owner, "flags": self.flags}

    def advance(self, rootref, seq):
        """Move to a newer root; wake the ``wait-version`` waiters it satisfies.

        :returns: False (and changes nothing) if ``seq`` is not newer.
        """
        if seq <= self.seq:
            return False
        self.rootref, self.seq = rootref, seq
        ready = [w for w in self._waiters if w[0] <= seq]
        self._waiters = [w for w in self._waiters if w[0] > seq]
        for _, d in ready:
            d.callback(seq)
        return True

    def wait_version(self, seq):
        """A Deferred firing (with the sequence) once the root reaches ``seq``."""
        if self.seq >= seq:
            return defer.succeed(self.seq)
        d = defer.Deferred()
        self._waiters.append((seq, d))
        return d

    def when_idle(self):
        """A Deferred firing once no commit batch is being applied."""
        if not self.running:
            return defer.succeed(None)
        d = defer.Deferred()
        self._idle.append(d)
        return d

    def fire_idle(self):
        """The apply loop ended: wake :meth:`when_idle` callers."""
        idle, self._idle = self._idle, []
        for d in idle:
            d.callback(None)

    def fail_waiters(self, error):
        """End every waiter (namespace removed, service stopping)."""
        waiters, self._waiters = self._waiters, []
        for _, d in waiters:
            d.errback(error)
