"""The content store (RFC 10) and the key-value store (RFC 11) of fluxd.

Pure modules (:mod:`.blobref`, :mod:`.treeobj`, :mod:`.txn`,
:mod:`.lookup`) import nothing from Twisted, so the ``flux kvs`` command
can use them; the services live in :mod:`.content_service`,
:mod:`.service` and :mod:`.watch`, and :mod:`.wiring` builds them for
:func:`fluxd.broker.build_broker`.
"""
