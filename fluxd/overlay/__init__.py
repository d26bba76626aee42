"""The overlay network: a tree (TBON) of brokers linked by mutual TLS.

- :mod:`fluxd.overlay.topology`: the tree's shape from a topology URI
  (``kary:K``, ``mincrit[:K]``, ``binomial``, ``custom``); pure.
- :mod:`fluxd.overlay.bootstrap`: an instance's layout (size, rank, URIs,
  topology, certificate path) from a ``[bootstrap]`` config table.
- :mod:`fluxd.overlay.tls`: TLS connection settings pinned to the cluster
  certificate (:mod:`fluxd.security.keys` makes and loads it).
- :mod:`fluxd.overlay.service`: the overlay service (health, routing,
  lifecycle); :mod:`fluxd.overlay.links` its parent and child sides,
  :mod:`fluxd.overlay.routing` the requests it forwards,
  :mod:`fluxd.overlay.gate` the bounds on connections that have not said
  hello, :mod:`fluxd.overlay.protocol` the TLS framing protocol.
- :mod:`fluxd.overlay.setup`: the overlay a configuration describes.

Importing this package imports nothing from Twisted: the ``flux`` CLI
(``flux overlay``, ``flux R parse-config``) uses the pure modules.
"""
