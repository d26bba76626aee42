# -*- test-case-name: tests.unit.message.test_router -*-
"""Cross-service contracts of the broker (zope.interface).

Each interface is small; services receive their collaborators typed by
these interfaces through their constructors (see :mod:`fluxd.broker`).
"""

from zope.interface import Attribute, Interface


class IModule(Interface):
    """A broker service addressed by topic prefix (a Flux "module")."""

    name = Attribute("The service name: the topic prefix before the first '.'")

    def flux_methods():
        """Return ``{method: (callable, MethodSpec)}`` for this service."""

    def disconnect(sender):
        """Forget what ``sender`` (a client identity) left pending."""


class IRouter(Interface):
    """Routes Flux messages to services by topic and nodeid."""

    rank = Attribute("This broker's rank")

    def add_module(module):
        """Register an :class:`IModule`'s methods under its name."""

    def remove_module(name):
        """Unregister a service by name."""

    def deliver(message, reply):
        """Deliver a request; ``reply(response)`` is called per response."""

    def call(topic, payload=None, nodeid=None):
        """An in-process RPC: returns a Deferred firing with the JSON reply."""

    def disconnect(sender):
        """A client went away: cancel its streams, tell every module."""

    def cancel(sender, matchtag):
        """End ``sender``'s streaming request ``matchtag`` with ECANCELED."""

    def modules():
        """The registered modules, in registration order."""


class IAttributes(Interface):
    """The broker attribute table (``flux getattr``/``setattr``/``lsattr``)."""

    def get(name):
        """Return the value (a string) or raise NotFound."""

    def set(name, value):
        """Set a runtime-writable attribute; raise PermissionDenied if not."""

    def names():
        """All attribute names, sorted."""
