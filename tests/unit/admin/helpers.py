"""Driving broker services through a real Router in unit tests."""

import json
import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.message.router import Router
from fluxd.message.types import FLAG_STREAMING, ROLE_OWNER, ROLE_USER, Message


class Call:
    """One request delivered to a router, with every reply it got."""

    def __init__(self, router, topic, payload=None, streaming=False,
                 rolemask=ROLE_OWNER, userid=0, sender="client0", matchtag=1):
        self.router = router
        self.sender = sender
        self.matchtag = matchtag
        self.message = Message.request(topic, payload,
                                       flags=FLAG_STREAMING if streaming else 0,
                                       matchtag=matchtag)
        self.message.rolemask = rolemask
        self.message.userid = userid
        self.message.route = [sender]
        self.replies = []
        router.deliver(self.message, self.replies.append)

    @property
    def payloads(self):
        """The decoded JSON of the successful replies."""
        return [json.loads(r.payload) if r.payload else None
                for r in self.replies if not r.errnum]

    @property
    def final(self):
        """(errnum, errstr) of the last reply, or None."""
        if not self.replies:
            return None
        last = self.replies[-1]
        return last.errnum, last.errstr

    def cancel(self):
        self.router.cancel(self.sender, self.matchtag)


def router_with(*modules, clock=None):
    """A Router with ``modules`` started and registered."""
    router = Router(clock=clock)
    for module in modules:
        module.startService()
        router.add_module(module)
    return router


GUEST = ROLE_USER


class TestCase(SynchronousTestCase):
    """SynchronousTestCase whose mktemp() is below the system temporary
    directory (trial's writes below the current directory) and removed
    after the test."""

    def mktemp(self):
        base = tempfile.mkdtemp(prefix="fluxd-test-")
        self.addCleanup(shutil.rmtree, base, ignore_errors=True)
        return os.path.join(base, "t")
