"""The storage of fluxd's KVS, without Twisted: what the broker's KVS
service and the offline ``flux`` commands (``dump``, ``restore``,
``fsck``, ``kvs``, ``content``) share.

- :mod:`.blobref`: RFC 10 blobrefs; :mod:`.treeobj`: RFC 11 tree objects
  and keys; :mod:`.lookup` and :mod:`.txn`: walking and changing trees;
- :mod:`.sqlitedb`: ``content.sqlite``, its schema and statements;
  :mod:`.check` and :mod:`.wal`: the checks it passes before any use;
  :mod:`.fsck`: the full check of ``flux fsck``;
- :mod:`.archive`: ``flux dump`` archives (flux-core's tar layout);
- :mod:`.errors`: the one error tree of the store and of trees;
- :mod:`.fsync`: the one fsync helper; :mod:`.sdnotify`: the one
  ``sd_notify`` client.

No module here imports Twisted (``tests/unit/storage/test_isolation.py``
checks it), so the ``flux`` command stays quick to start.
"""
