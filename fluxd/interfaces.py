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


class IContentStore(Interface):
    """Rank 0's backing store (RFC 10): blobs by blobref, plus the KVS
    namespace roots, written together so that a root never names a blob
    that is not stored."""

    hash_name = Attribute("The hash algorithm of the blobrefs: sha1 or sha256")

    def open():
        """Prepare the store; a Deferred firing with None when ready."""

    def load(blobref):
        """A Deferred firing with the blob's bytes (NotFound if absent)."""

    def write(blobs, roots):
        """Store ``{blobref: bytes}`` and set or delete (None) namespace
        roots ``{namespace: record}`` in one transaction; the Deferred
        fires once both are durable."""

    def roots():
        """A Deferred firing with ``{namespace: record}`` as stored."""

    def flush():
        """A Deferred firing once every write issued before is durable."""

    def close():
        """Finish pending writes and release the store (a Deferred)."""


class IKVS(Interface):
    """The key-value store of one broker (RFC 11): reads served locally,
    commits applied by rank 0."""

    def lookup(namespace, key, flags=0, rootref=None):
        """A Deferred firing with the tree object found at ``key``."""

    def commit(namespace, ops, flags=0):
        """Apply a transaction; a Deferred firing with ``{rootref, rootseq}``
        once the new root is durable and visible on this broker."""

    def getroot(namespace):
        """A Deferred firing with ``{rootref, rootseq, owner, flags}``."""

    def wait_version(namespace, rootseq):
        """A Deferred firing once the local root reaches ``rootseq``."""

    def add_root_listener(callback):
        """Call ``callback(namespace, rootref, rootseq, keys)`` after each
        local root change (``rootref`` None: the namespace was removed);
        returns a callable that removes the listener."""


class IReconfigurable(Interface):
    """A service that follows configuration changes (``flux config reload``,
    SIGHUP): told about each new config in module-list order."""

    def reconfigure(config):
        """Adopt ``config`` (a :class:`fluxd.config.Config`).

        May return a Deferred.  Raise a :class:`fluxd.errors.FluxError`
        to refuse it: the broker then keeps the old config everywhere.
        """
