"""flux_shell: the fluxd job shell (``flux-shell``), one per job per node.

The shell itself arrives with the exec issue; this package reserves the
import name ``flux_shell`` (mapped from ``shell/`` in setup.cfg).
"""
