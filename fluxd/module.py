# -*- test-case-name: tests.unit.message.test_router -*-
"""The base class of broker services ("modules" in flux terms).

A module is a Twisted ``Service`` with a name (its topic prefix) and
``@method`` handlers.  Every module answers the generic ``NAME.ping`` and
``NAME.stats-get`` methods, as flux-core modules do.
"""

import uuid

from twisted.application import service
from zope.interface import implementer

from fluxd.interfaces import IModule
from fluxd.message.router import collect_methods, method
from fluxd.message.types import ROLE_USER


@implementer(IModule)
class Module(service.Service):
    """A broker service.

    :param rank: the broker rank this module runs on (reported by ping).
    """

    #: the service name; subclasses set it
    name = None
    #: services offered besides ``name`` (shown by ``flux module list``)
    extra_services = ()

    def __init__(self, rank=0):
        self.rank = rank
        self.uuid = uuid.uuid4().hex
        self.stats = {}

    def flux_methods(self):
        """``{method: (callable, spec)}`` found from the ``@method`` marks."""
        return collect_methods(self)

    def disconnect(self, sender):
        """A client left; modules holding per-client state override this."""
        return None

    @method("ping", roles=ROLE_USER)
    def flux_ping(self, request):
        """Echo the payload with the route, credentials and rank (RFC 6)."""
        payload = request.json()
        hops = [hop[:8].upper() for hop in request.message.route]
        hops.append(self.uuid[:8].upper())
        payload.update(route="!".join(hops), userid=request.userid,
                       rolemask=request.rolemask, rank=self.rank)
        return payload

    @method("stats-get", roles=ROLE_USER)
    def flux_stats_get(self, request):
        """This module's counters (a JSON object)."""
        return dict(self.stats)
