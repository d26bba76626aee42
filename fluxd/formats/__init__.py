"""Flux data formats, pure Python with no Twisted import.

Submodules (import the one you need; this package imports none of them so
that ``flux hostlist`` pays only for hostlist):

- :mod:`fluxd.formats.hostlist` RFC 29 hostlists
- :mod:`fluxd.formats.idset` RFC 22 idsets
- :mod:`fluxd.formats.fsd` RFC 23 Flux Standard Duration
- :mod:`fluxd.formats.fluid` RFC 19 FLUIDs (job IDs) and their encodings
- :mod:`fluxd.formats.eventlog` RFC 18 eventlogs
- :mod:`fluxd.formats.jobspec` RFC 14/25 jobspec
- :mod:`fluxd.formats.rv1` RFC 20 resource sets (R version 1)
- :mod:`fluxd.formats.jsonenc` compact JSON encoders built once
"""
