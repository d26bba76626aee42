# -*- test-case-name: tests.contracts.test_overlay_status -*-
"""A fake of the overlay's status side, for services that ask it who is up.

:class:`FakeOverlayStatus` answers :class:`fluxd.interfaces.IOverlayStatus`
from sets a test controls; ``tests/contracts/test_overlay_status.py``
holds it and the real :class:`fluxd.overlay.service.OverlayService` to the
same contract.
"""

from twisted.internet import defer
from zope.interface import implementer

from fluxd.formats.idset import IDset
from fluxd.interfaces import IOverlayStatus


@implementer(IOverlayStatus)
class FakeOverlayStatus:
    """Online and torpid ranks set by the test.

    :param online: the online ranks (an idset string).
    :param torpid: the torpid ranks.
    :ivar ready: fire it to make :meth:`parent_ready` fire (a follower
        joining its parent).
    """

    def __init__(self, online="0", torpid=""):
        self.online = IDset(online)
        self.torpid = IDset(torpid)
        self.watchers = []
        self.ready = defer.Deferred()

    def online_ranks(self):
        """A copy of the online set."""
        return self.online.copy()

    def torpid_ranks(self):
        """A copy of the torpid set."""
        return self.torpid.copy()

    def on_membership(self, callback):
        """Remember ``callback`` for :meth:`change`."""
        self.watchers.append(callback)

    def parent_ready(self):
        """A new Deferred firing once :attr:`ready` has fired."""
        d = defer.Deferred()
        self.ready.addCallback(lambda r: (d.callback(None), r)[1])
        return d

    def change(self, online=None, torpid=None):
        """Set new online/torpid sets and tell the watchers."""
        if online is not None:
            self.online = IDset(online)
        if torpid is not None:
            self.torpid = IDset(torpid)
        for callback in list(self.watchers):
            callback()
