"""The overlay network: a tree (TBON) of brokers linked by mutual TLS.

- :mod:`fluxd.overlay.topology`: the tree's shape from a topology URI
  (``kary:K``, ``mincrit[:K]``, ``binomial``, ``custom``); pure.
- :mod:`fluxd.overlay.bootstrap`: an instance's layout (size, rank, URIs,
  topology, certificate path) from a ``[bootstrap]`` config table.
- :mod:`fluxd.overlay.tls`: the cluster certificate (``flux keygen``) and
  TLS connection settings pinned to it.
- :mod:`fluxd.overlay.service`, :mod:`fluxd.overlay.protocol`: the overlay
  service and its framing protocol.

Importing this package imports nothing from Twisted: the ``flux`` CLI
(``flux keygen``) uses the pure modules.
"""
