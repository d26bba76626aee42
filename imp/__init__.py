"""flux_imp: the fluxd IMP (``flux-imp``), tiny, synchronous, stdlib only.

The IMP arrives with the multi-user exec issue; this package reserves the
import name ``flux_imp`` (mapped from ``imp/`` in setup.cfg, because a bare
``imp`` would shadow the standard library module on Python 3.11).
"""
