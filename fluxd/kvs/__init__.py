"""The content store (RFC 10) and the key-value store (RFC 11) services.

The services live in :mod:`.content_service`, :mod:`.service`,
:mod:`.watch` and :mod:`.backing` (restore at start, dump in rc3); the
sqlite store's threads in :mod:`.content` and :mod:`._sqlite`; and
:mod:`.wiring` builds them for :func:`fluxd.broker.build_broker`.  What
they store and how (blobrefs, tree objects, ``content.sqlite``, dump
archives) is the Twisted-free :mod:`fluxd.storage`, which the ``flux``
commands use without this package.
"""
