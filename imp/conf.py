# -*- test-case-name: tests.integration.test_imp -*-
"""The IMP's configuration: ``[exec]``, ``[run.NAME]`` and ``[sign]``.

Both directories are fixed when the IMP is installed (:class:`Paths`,
from the prefix baked into the installed launcher), never taken from the
caller.  Each directory from the prefix down and each ``*.toml`` file
must be owned by root and writable by nobody else, or the IMP refuses
to run: a config that another user could change would let that user
run anything as anyone.

Stdlib only (``tomllib``).
"""

import glob
import os
import stat
import tomllib

__all__ = ["Paths", "ImpError", "load_imp_config", "load_sign_table",
           "check_secure"]


class ImpError(Exception):
    """A refusal: ``flux-imp: Fatal: MESSAGE``, exit status ``code``."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class Paths:
    """Where an installed IMP finds its files, all under ``prefix``.

    :param prefix: the installation prefix (``/`` on a real system).
    """

    def __init__(self, prefix):
        self.prefix = prefix
        self.imp_confdir = os.path.join(prefix, "etc/flux/imp/conf.d")
        self.security_confdir = os.path.join(prefix,
                                             "etc/flux/security/conf.d")
        #: records of the jobs the IMP started (``flux-imp kill``)
        self.statedir = os.path.join(prefix, "run/flux-imp")
        #: the PAM configuration directory (None: the system's /etc/pam.d)
        self.pam_confdir = (None if os.path.normpath(prefix) == "/"
                            else os.path.join(prefix, "etc/pam.d"))


def check_secure(path):
    """Refuse ``path`` unless root owns it and only root may write it.

    :raises ImpError: naming the path and the problem.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ImpError(f"{path}: {exc.strerror}") from None
    if st.st_uid != 0:
        raise ImpError(f"{path}: not owned by root")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ImpError(f"{path}: writable by group or others")


def _load_dir(path, what, top):
    # the directories from the prefix down too: whoever may write one of
    # them may replace what lies below it
    parts = os.path.relpath(path, top).split(os.sep)
    for depth in range(len(parts) + 1):
        check_secure(os.path.join(top, *parts[:depth]))
    table = {}
    for name in sorted(glob.glob(os.path.join(path, "*.toml"))):
        check_secure(name)
        try:
            with open(name, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ImpError(f"{what}: {name}: {exc}") from None
        for key, value in data.items():
            if key in table:
                raise ImpError(f"{what}: {name}: {key} defined twice")
            table[key] = value
    return table


def _strings(table, key, where):
    value = table.get(key, [])
    if not isinstance(value, list) or \
            not all(isinstance(v, str) for v in value):
        raise ImpError(f"config: {where}.{key} must be an array of strings")
    return value


def _bool(table, key, where):
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ImpError(f"config: {where}.{key} must be a boolean")
    return value


def load_imp_config(paths):
    """The checked ``[exec]`` and ``[run]`` tables of the IMP.

    :returns: ``{"exec": {...}, "run": {NAME: {...}}}`` with every key
        present (defaults filled in).
    :raises ImpError: an insecure file or a bad value.
    """
    table = _load_dir(paths.imp_confdir, "config", paths.prefix)
    for key in table:
        # flux-security's allow-sudo and log-level have no meaning here:
        # this IMP always runs through sudo and logs only its refusals
        if key not in ("exec", "run"):
            raise ImpError(f"config: {key} is not a known key")
    exec_ = table.get("exec", {})
    if not isinstance(exec_, dict):
        raise ImpError("config: exec must be a table")
    known = {"allowed-users", "allowed-shells", "pam-support",
             "allow-unprivileged-exec"}
    for key in exec_:
        if key not in known:
            raise ImpError(f"config: exec.{key} is not a known key")
    result = {"exec": {
        "allowed-users": _strings(exec_, "allowed-users", "exec"),
        "allowed-shells": _strings(exec_, "allowed-shells", "exec"),
        "pam-support": _bool(exec_, "pam-support", "exec"),
        "allow-unprivileged-exec": _bool(exec_, "allow-unprivileged-exec",
                                         "exec"),
    }, "run": {}}
    run = table.get("run", {})
    if not isinstance(run, dict):
        raise ImpError("config: run must be a table")
    for name, entry in run.items():
        where = f"run.{name}"
        if not isinstance(entry, dict):
            raise ImpError(f"config: {where} must be a table")
        for key in entry:
            if key not in ("allowed-users", "allowed-environment", "path"):
                raise ImpError(f"config: {where}.{key} is not a known key")
        path = entry.get("path")
        result["run"][name] = {
            "allowed-users": _strings(entry, "allowed-users", where),
            "allowed-environment": _strings(entry, "allowed-environment",
                                            where),
            "path": path if isinstance(path, str) else None,
        }
    return result


def load_sign_table(paths):
    """The ``[sign]`` table of the security config directory.

    :raises ImpError: an insecure file, or no ``[sign]`` table.
    """
    table = _load_dir(paths.security_confdir, "sign", paths.prefix)
    return table.get("sign")
