"""flux_imp: the fluxd IMP (``flux-imp``), tiny, synchronous, stdlib only.

(Mapped from ``imp/`` in setup.cfg, because a bare ``imp`` would shadow
the standard library module on Python 3.11.)

- :mod:`flux_imp.main`: ``flux-imp exec|run|kill|version``.
- :mod:`flux_imp.api`: the command lines and input a caller (the exec
  service) passes to the IMP.
- :mod:`flux_imp.conf`: the IMP and signing config, refused unless root
  owns every file and directory and nobody else may write them.
- :mod:`flux_imp.pam`: the ``flux`` PAM session (``[exec] pam-support``).
- :mod:`flux_imp.install`: installs the IMP under a prefix: a copy of
  the code, the root-only launcher with that prefix baked in, and the
  sudoers rule that lets the instance owner run it as root.
"""

from fluxd import __version__

__all__ = ["__version__"]
