# -*- test-case-name: tests.integration.test_imp -*-
"""Install the IMP under a prefix, as root.

Python cannot be setuid, so privilege comes from sudo:

- ``PREFIX/lib/flux-imp/``: a root-owned copy of :mod:`flux_imp` and of
  the stdlib-only parts of fluxd it uses (RFC 39 signatures, libmunge);
- ``PREFIX/libexec/flux/flux-imp-privileged``: the program sudo runs: the
  interpreter in isolated mode (``-I``: no PYTHONPATH, no user site),
  with the prefix baked in, so its config directories
  (``PREFIX/etc/flux/imp/conf.d``, ``PREFIX/etc/flux/security/conf.d``)
  never come from the caller;
- ``PREFIX/libexec/flux/flux-imp``: the launcher ``[exec] imp`` points
  at: ``sudo -n`` the program above with the caller's arguments;
- the sudoers rule (``conf/sudoers.d/flux`` shows the system one): the
  listed users may run the program as root, keeping ``FLUX_*``
  (``FLUX_IMP_EXEC_HELPER``, ``FLUX_JOB_ID``...) in its environment.

Usage: ``python3 -m flux_imp.install PREFIX USER[,USER...] [SUDOERS_FILE]``
(run by root; the interpreter should be the system's own).
"""

import os
import subprocess
import sys

__all__ = ["install", "plan", "sudoers_rule"]

_FLUXD_FILES = ("__init__.py", "errors.py", "security/__init__.py",
                "security/sign.py", "security/munge.py")
_IMP_FILES = ("__init__.py", "api.py", "conf.py", "main.py", "pam.py",
              "install.py")

PRIVILEGED = """#!{python} -I
# the fluxd IMP, run as root by sudo (installed by flux_imp.install)
import sys
sys.path.insert(0, {libdir!r})
from flux_imp.main import main
sys.exit(main(prefix={prefix!r}))
"""

LAUNCHER = """#!/bin/sh
# the fluxd IMP launcher: [exec] imp points here
exec /usr/bin/sudo -n {privileged} "$@"
"""


def sudoers_rule(privileged, users):
    """The sudoers text that lets ``users`` run ``privileged`` as root."""
    return (f'Defaults!{privileged} env_keep += "FLUX_*", !requiretty,'
            f' !lecture\n'
            f'{",".join(users)} ALL=(root) NOPASSWD: {privileged}\n')


def _write(path, text, mode):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.chown(tmp, 0, 0)
    os.replace(tmp, path)


def plan(prefix, users, python="/usr/bin/python3", sudoers=None,
         libexecdir=None, libdir=None):
    """What :func:`install` writes: ``{path: (text, mode)}``, all owned
    by root (``flux install-system`` compares it with what is there).

    :param libexecdir: where the programs go (default
        ``PREFIX/libexec/flux``; a system root uses ``/usr/libexec/flux``,
        where ``[exec] imp`` points).
    :param libdir: where the code goes (default ``PREFIX/lib/flux-imp``).
    """
    prefix = os.path.abspath(prefix)
    import fluxd as package
    here = os.path.dirname(os.path.abspath(__file__))
    fluxd = os.path.dirname(os.path.abspath(package.__file__))
    libdir = libdir or os.path.join(prefix, "lib/flux-imp")
    libexecdir = libexecdir or os.path.join(prefix, "libexec/flux")
    files = {}
    for top, package_name, names in ((here, "flux_imp", _IMP_FILES),
                                     (fluxd, "fluxd", _FLUXD_FILES)):
        for name in names:
            with open(os.path.join(top, name)) as f:
                files[os.path.join(libdir, package_name, name)] = (
                    f.read(), 0o644)
    privileged = os.path.join(libexecdir, "flux-imp-privileged")
    files[privileged] = (PRIVILEGED.format(python=python, libdir=libdir,
                                           prefix=prefix), 0o755)
    files[os.path.join(libexecdir, "flux-imp")] = (
        LAUNCHER.format(privileged=privileged), 0o755)
    if sudoers is not None:
        files[sudoers] = (sudoers_rule(privileged, users), 0o440)
    return files


def install(prefix, users, python="/usr/bin/python3", sudoers=None,
            libexecdir=None, libdir=None):
    """Install the IMP under ``prefix`` (root only).

    :param users: the users the sudoers rule lets run the IMP (the
        instance owner; ``[exec] allowed-users`` is checked on top).
    :param sudoers: where to write the rule (checked with ``visudo -c``);
        None: do not write one.
    :param libexecdir, libdir: as for :func:`plan`.
    :returns: the launcher's path.
    :raises RuntimeError: not root, or the rule is refused by visudo.
    """
    if os.geteuid() != 0:
        raise RuntimeError("installing the IMP needs root")
    prefix = os.path.abspath(prefix)
    files = plan(prefix, users, python, sudoers, libexecdir, libdir)
    for path, (text, mode) in files.items():
        if path != sudoers:
            _write(path, text, mode)
    launcher = os.path.join(libexecdir or os.path.join(prefix, "libexec/flux"),
                            "flux-imp")
    for sub in ("etc/flux/imp/conf.d", "etc/flux/security/conf.d"):
        os.makedirs(os.path.join(prefix, sub), mode=0o755, exist_ok=True)
    statedir = os.path.join(prefix, "run/flux-imp")
    os.makedirs(statedir, mode=0o700, exist_ok=True)
    if sudoers is not None:
        tmp = sudoers + ".check"
        _write(tmp, files[sudoers][0], 0o440)
        check = subprocess.run(["visudo", "-cqf", tmp], capture_output=True,
                               text=True)
        if check.returncode != 0:
            os.unlink(tmp)
            raise RuntimeError(f"sudoers rule refused: {check.stdout}"
                               f"{check.stderr}".strip())
        os.replace(tmp, sudoers)
    return launcher


def main(argv=None):
    """``python3 -m flux_imp.install PREFIX USERS [SUDOERS_FILE]``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__.split("Usage: ")[1])
        return 1
    try:
        launcher = install(argv[0], argv[1].split(","),
                           sudoers=argv[2] if len(argv) == 3 else None)
    except (OSError, RuntimeError) as exc:
        sys.stderr.write(f"flux-imp install: {exc}\n")
        return 1
    sys.stdout.write(launcher + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
