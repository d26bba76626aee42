"""IOverlayStatus and IUpstream contracts: the real overlay and the fakes.

``make_ioverlaystatus_tests(factory)`` checks what the resource and groups
services rely on; it runs against a rank-0 :class:`OverlayService` (no
children connected yet) and :class:`FakeOverlayStatus`.
``make_iupstream_tests(factory)`` checks what the router relies on; it
runs against the overlay and the in-memory :class:`Link` of
:mod:`fluxd.testing.kvs`.
"""

import errno

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from fluxd.events import EventService
from fluxd.formats.idset import IDset
from fluxd.interfaces import IOverlayStatus, IUpstream
from fluxd.message.router import Router
from fluxd.message.types import Message
from fluxd.overlay.service import OverlayService
from fluxd.overlay.topology import Topology
from fluxd.testing.kvs import KVSBroker, Link
from fluxd.testing.overlay import FakeOverlayStatus


def real_overlay(rank=0, size=3):
    clock = Clock()
    router = Router(rank, clock=clock)
    events = EventService(rank, router)
    return OverlayService(clock, rank, size, Topology("kary:2", size), router,
                          events)


def make_ioverlaystatus_tests(factory):
    """A TestCase class for :class:`IOverlayStatus`; ``factory()`` makes a
    rank-0 provider whose only online rank is 0."""

    class Tests(SynchronousTestCase):
        def setUp(self):
            self.overlay = factory()

        def test_interface(self):
            self.assertTrue(verifyObject(IOverlayStatus, self.overlay))

        def test_rank0_alone_is_online(self):
            self.assertEqual(self.overlay.online_ranks(), IDset("0"))
            self.assertEqual(self.overlay.torpid_ranks(), IDset())

        def test_sets_are_copies(self):
            online = self.overlay.online_ranks()
            online.add(7)
            self.assertEqual(self.overlay.online_ranks(), IDset("0"))

        def test_membership_watchers_accepted(self):
            self.assertIsNone(self.overlay.on_membership(lambda: None))

    return Tests


def make_iupstream_tests(factory):
    """A TestCase class for :class:`IUpstream`; ``factory(test)`` returns
    ``(upstream, replies)`` where a request forwarded to an unknown
    service ends with one error response in ``replies``."""

    class Tests(SynchronousTestCase):
        def setUp(self):
            self.upstream, self.replies = factory(self)

        def test_interface(self):
            self.assertTrue(verifyObject(IUpstream, self.upstream))

        def test_unknown_service_answered_with_an_error(self):
            message = Message.request("nosuch.method", {}, nodeid=0)
            message.route = ["client"]
            self.upstream.forward(message, self.replies.append)
            [reply] = self.replies
            self.assertIn(reply.errnum, (errno.ENOSYS, errno.EHOSTUNREACH))

        def test_cancel_and_disconnect_of_unknown_streams_are_harmless(self):
            self.assertIsNone(self.upstream.forward_cancel("client", 99))
            self.assertIsNone(self.upstream.forward_disconnect("client"))

    return Tests


class RealOverlayStatusTests(make_ioverlaystatus_tests(real_overlay)):
    """The overlay itself."""


class FakeOverlayStatusTests(make_ioverlaystatus_tests(FakeOverlayStatus)):
    """The fake the resource service's unit tests use."""


def _overlay_upstream(test):
    # rank 1 whose parent link is down: requests up are unreachable
    return real_overlay(rank=1), []


def _link_upstream(test):
    parent = KVSBroker(0)
    test.successResultOf(parent.start())
    return Link(parent, "rank-1"), []


class RealUpstreamTests(make_iupstream_tests(_overlay_upstream)):
    """The overlay as a router's upstream."""


class LinkUpstreamTests(make_iupstream_tests(_link_upstream)):
    """The in-memory link of the KVS unit tests."""
