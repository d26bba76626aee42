"""Instance security: the overlay's cluster certificate and its names,
and job request signatures.

- :mod:`fluxd.security.keys`: generating, writing and loading the cluster
  certificate (``flux keygen``, ``bootstrap.curve_cert``).
- :mod:`fluxd.security.names`: DNS names as flux checks them.
- :mod:`fluxd.security.sign`: RFC 39 signed job requests (mechanism none).

Pure Python (``cryptography`` only): no Twisted, and nothing from
:mod:`fluxd.overlay`, so ``flux keygen`` starts quickly.
"""
