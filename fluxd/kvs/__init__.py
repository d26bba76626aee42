"""The content store (RFC 10) and the key-value store (RFC 11) of fluxd.

Pure modules (:mod:`.blobref`, :mod:`.treeobj`, :mod:`.txn`,
:mod:`.lookup`, :mod:`.archive`, :mod:`.sqlitedb`) import nothing from
Twisted, so the ``flux kvs``/``dump``/``restore`` commands can use them;
the services live in :mod:`.content_service`, :mod:`.service`,
:mod:`.watch` and :mod:`.backing` (restore at start, dump at stop), and
:mod:`.wiring` builds them for :func:`fluxd.broker.build_broker`.
"""
