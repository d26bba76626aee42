"""Instance security: the overlay's cluster certificate and its names,
and job request signatures.

- :mod:`fluxd.security.keys`: generating, writing and loading the cluster
  certificate (``flux keygen``, ``bootstrap.curve_cert``).
- :mod:`fluxd.security.names`: DNS names as flux checks them.
- :mod:`fluxd.security.sign`: RFC 39 signed job requests (mechanisms
  none and munge) and flux-security's ``[sign]`` config.
- :mod:`fluxd.security.munge`: MUNGE credentials through libmunge (ctypes).

Pure Python (``cryptography`` for the keys; ``sign`` and ``munge`` are
stdlib only, the IMP uses them): no Twisted, and nothing from
:mod:`fluxd.overlay`, so ``flux keygen`` starts quickly.
"""
