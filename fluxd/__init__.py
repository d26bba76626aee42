"""fluxd: a Flux-style resource manager for HPC clusters, written on Twisted.

The broker, its services, the client libraries and the ``flux`` command
live in this package.  Pure data formats (RFC 19, 22, 23, 29, ...) are in
:mod:`fluxd.formats` and import nothing from Twisted.
"""

__version__ = "0.1.0"
