# -*- test-case-name: tests.unit.test_attr_table -*-
"""The broker attributes a user may set, with their value rules.

Every attribute of ``flux-broker-attributes(7)`` that can be given with
``-Sname=value`` (or changed with ``flux setattr``) is declared here with
its kind of value, so that a bad value is refused with one line when it is
given, not when a service first reads it.  Each entry also says what fluxd
does with it (the ``status``):

- ``implemented``: the broker or one of its services acts on it;
- ``warned``: accepted (the guide's command lines use it), but it has no
  effect in fluxd; the broker says so in one warning line at start;
- ``later: WHAT``: read by a service fluxd does not have yet (WHAT names
  it); the broker notes it in one line at start.

A few names are *aliases*: ``broker.quorum-timeout`` is what flux-core
called ``broker.quorum-warn`` before 2025 (it only ever timed the "quorum
delayed" warning; the admin guide's ``systemctl status`` line still shows
it) and ``tbon.fanout=K`` is the legacy spelling of ``tbon.topo=kary:K``.

This module is pure (no Twisted): the CLI may use it.
"""

import re

from fluxd.errors import InvalidArgument

__all__ = ["AttrSpec", "ATTRIBUTES", "ALIASES", "RUNTIME_WRITABLE",
           "check_value", "canonical"]


class AttrSpec:
    """One settable attribute.

    :param kind: the value rule, a key of :data:`_CHECKS`.
    :param status: ``implemented``, ``warned`` or ``later: WHAT``.
    :param why: for ``warned`` attributes, why it does nothing in fluxd.
    :param runtime: ``flux setattr`` may change it while the broker runs.
    """

    __slots__ = ("kind", "status", "why", "runtime")

    def __init__(self, kind, status="implemented", why="", runtime=False):
        self.kind = kind
        self.status = status
        self.why = why
        self.runtime = runtime


# --- value rules: f(value) -> error text or None ---------------------------

def _int(value):
    try:
        return int(value.strip(), 0) if value.strip() else None
    except ValueError:
        return None


def _fsd(value):
    from fluxd.formats.fsd import FSDError, parse_fsd
    try:
        parse_fsd(value)
    except FSDError:
        return f"invalid duration '{value}' (expected an RFC 23 duration" \
            " such as 30s, 5m or 1.5h)"
    return None


def _fsd_or_none(value):
    return None if value == "none" else _fsd(value)


def _at_least(low, what):
    def check(value):
        number = _int(value)
        if number is None or number < low:
            return f"invalid value '{value}' (expected {what})"
        return None
    return check


def _level(value):
    number = _int(value)
    if number is None or not -1 <= number <= 7:
        return f"invalid log level '{value}' (expected -1 to 7)"
    return None


def _exit_code(value):
    number = _int(value)
    if number is None or not 1 <= number <= 255:
        return f"invalid exit code '{value}' (expected 1 to 255)"
    return None


def _bool01(value):
    if value not in ("0", "1"):
        return f"invalid value '{value}' (expected 0 or 1)"
    return None


def _flag(value):
    # flux tests presence only: -Sbroker.rc2_none and -Sbroker.rc2_none=1
    # mean the same
    return None


def _one_of(*choices):
    def check(value):
        if value not in choices:
            return (f"invalid value '{value}' (expected "
                    + " or ".join(choices) + ")")
        return None
    return check


def _nonempty(value):
    if not value:
        return "a value is required"
    return None


def _local_uri(value):
    if not value.startswith("local://") or len(value) <= len("local://"):
        return f"invalid URI '{value}' (expected local:///PATH)"
    return None


def _hostname(value):
    if not value or set(value) & set(" \t,[]"):
        return f"invalid host name '{value}'"
    return None


def _hostlist(value):
    from fluxd._config_checks import hostlist
    return hostlist(value)


def _idset(value):
    from fluxd._config_checks import idset
    return idset(value)


def _topo(value):
    from fluxd._config_checks import topo_uri
    return topo_uri(value)


def _quorum(value):
    # flux-core still takes the old idset forms "0" (= 1) and "0-N"
    # (= all N+1 brokers); the broker checks N against the size
    if re.fullmatch(r"0(-[0-9]+)?", value.strip()):
        return None
    return _at_least(1, "a positive number of brokers")(value)


def _rcvhwm(value):
    number = _int(value)
    if number is None or number < 0 or number == 1:
        return f"invalid value '{value}' (expected 0 or a number >= 2)"
    return None


_BOOT = re.compile(r"config|single|simple|libpmi(:.+)?")


def _boot_method(value):
    if not _BOOT.fullmatch(value):
        return (f"invalid boot method '{value}' (expected config, single,"
                " simple or libpmi[:PATH])")
    return None


_CHECKS = {
    "flag": _flag,
    "bool01": _bool01,
    "fsd": _fsd,
    "fsd|none": _fsd_or_none,
    "level": _level,
    "exitcode": _exit_code,
    "count": _at_least(1, "a positive integer"),
    "size": _at_least(0, "a non-negative integer"),
    "int": _at_least(-2 ** 31, "an integer"),
    "threads": _at_least(1, "a positive integer"),
    "rcvhwm": _rcvhwm,
    "quorum": _quorum,
    "path": _nonempty,
    "string": lambda value: None,
    "local-uri": _local_uri,
    "hostname": _hostname,
    "hostlist": _hostlist,
    "idset": _idset,
    "topo": _topo,
    "boot-method": _boot_method,
    "stderr-mode": _one_of("leader", "local"),
    "hash": _one_of("sha1", "sha256"),
    "backing": _one_of("content-sqlite"),
}

_NO_ZMQ = "fluxd's overlay is TLS over TCP, not ZeroMQ"
_NO_PMI = ("a nested instance's brokers (flux batch, flux alloc) always use the"
           " address of the default route's interface")

#: name -> AttrSpec, in the order of flux-broker-attributes(7)
ATTRIBUTES = {
    "rundir": AttrSpec("path"),
    "rundir-cleanup": AttrSpec("bool01"),
    "statedir": AttrSpec("path"),
    "statedir-cleanup": AttrSpec("bool01"),
    "local-uri": AttrSpec("local-uri"),
    "hostlist": AttrSpec("hostlist"),
    "hostname": AttrSpec("hostname"),
    "broker.critical-ranks": AttrSpec(
        "idset", "warned", "it only matters to an enclosing instance that"
        " runs this one as a job, which fluxd does not do"),
    "broker.boot-method": AttrSpec("boot-method"),
    # a nested instance's place (set by ``flux broker``, fluxd.nest)
    "instance-level": AttrSpec("size"),
    "jobid": AttrSpec("string"),
    "parent-uri": AttrSpec("string"),
    "parent-kvs-namespace": AttrSpec("string"),
    "broker.quorum": AttrSpec("quorum"),
    "broker.quorum-warn": AttrSpec("fsd|none"),
    "broker.shutdown-warn": AttrSpec("fsd|none"),
    "broker.shutdown-timeout": AttrSpec("fsd|none"),
    "broker.cleanup-timeout": AttrSpec("fsd|none"),
    "broker.unload-builtins-timeout": AttrSpec("fsd|none"),
    "broker.rc1_path": AttrSpec("string"),
    "broker.rc3_path": AttrSpec("string"),
    "broker.rc2_none": AttrSpec("flag"),
    "broker.rc2_pgrp": AttrSpec(
        "flag", "warned", "the initial program always runs in the"
        " broker's process group"),
    "broker.exit-restart": AttrSpec("exitcode", runtime=True),
    "broker.exit-norestart": AttrSpec("exitcode"),
    "broker.module-nopanic": AttrSpec(
        "flag", "warned", "fluxd's modules run inside the broker and never"
        " exit on their own", runtime=True),
    "broker.sd-notify": AttrSpec("bool01"),
    "broker.sd-stop-timeout": AttrSpec("fsd|none"),
    "broker.recovery-mode": AttrSpec("flag"),
    "broker.manhole": AttrSpec("path"),
    "conf.shell_initrc": AttrSpec("string", runtime=True),
    "conf.shell_pluginpath": AttrSpec("string", runtime=True),
    "config.path": AttrSpec("path"),
    "tbon.topo": AttrSpec("topo"),
    "tbon.peer-certs": AttrSpec("path"),
    "tbon.prefertcp": AttrSpec("bool01", "warned", _NO_PMI),
    "tbon.interface-hint": AttrSpec("string", "warned", _NO_PMI,
                                    runtime=True),
    "tbon.torpid_min": AttrSpec("fsd"),
    "tbon.torpid_max": AttrSpec("fsd"),
    "tbon.tcp_user_timeout": AttrSpec("fsd"),
    "tbon.connect_timeout": AttrSpec("fsd"),
    "tbon.zmqdebug": AttrSpec("int", "warned", _NO_ZMQ),
    "tbon.zmq_io_threads": AttrSpec("threads", "warned", _NO_ZMQ),
    "tbon.child_rcvhwm": AttrSpec("rcvhwm", "warned", _NO_ZMQ),
    "log-ring-size": AttrSpec("size", runtime=True),
    "log-forward-level": AttrSpec("level", runtime=True),
    "log-critical-level": AttrSpec("level", runtime=True),
    "log-stderr-level": AttrSpec("level", runtime=True),
    "log-stderr-mode": AttrSpec("stderr-mode", runtime=True),
    "log-level": AttrSpec("level", runtime=True),
    "log-filename": AttrSpec("path", runtime=True),
    "log-syslog-enable": AttrSpec("bool01", runtime=True),
    "log-syslog-level": AttrSpec("level", runtime=True),
    "content.backing-module": AttrSpec("backing"),
    "content.hash": AttrSpec("hash"),
    "content.dump": AttrSpec("string"),
    "content.restore": AttrSpec("string"),
    "content.blob-size-limit": AttrSpec("count"),
    "connector-local.guest-message-limit": AttrSpec("count"),
    "connector-local.guest-buffer-limit": AttrSpec("count"),
    # flux-core's resource module option (``flux module load resource
    # monitor-force-up``): fluxd's modules are built in, so it is set here
    "resource.monitor-force-up": AttrSpec("flag"),
    "cron.directory": AttrSpec(
        "path", "warned", "fluxd has no cron service to load crontabs"),
}

#: old or legacy name -> (name, function turning the value into its value)
ALIASES = {
    "broker.quorum-timeout": ("broker.quorum-warn", lambda value: value),
    "tbon.fanout": ("tbon.topo", lambda value: f"kary:{value}"),
}

#: attributes ``flux setattr`` may change while the broker runs
RUNTIME_WRITABLE = frozenset(name for name, spec in ATTRIBUTES.items()
                             if spec.runtime)


def canonical(name, value):
    """Resolve an alias: ``(name, value)`` as the broker stores it.

    The value is checked against the alias's own rule first
    (``tbon.fanout=x`` is refused as a fanout, not as a topology).
    """
    if name not in ALIASES:
        return name, value
    target, convert = ALIASES[name]
    if name == "tbon.fanout":
        message = _at_least(0, "a fanout >= 0")(value)
        if message:
            raise ValueError(message)
    return target, convert(value)


def check_value(name, value):
    """Whether ``value`` suits attribute ``name``.

    :returns: None when it does, else the reason (one line, without the
        attribute's name).
    :raises KeyError: when ``name`` is not a settable attribute.
    """
    return _CHECKS[ATTRIBUTES[name].kind](value)


#: names ``-S`` may set at start (aliases included)
SETTABLE = frozenset(ATTRIBUTES) | frozenset(ALIASES)


def parse_setattr(items):
    """Turn ``-S name=value`` strings into a dict, checking names and values.

    As flux-broker does, a bare ``-Sname`` sets the attribute with no value
    (the flags ``broker.rc2_none``, ``broker.recovery-mode``...); legacy
    names are translated (``broker.quorum-timeout`` is
    ``broker.quorum-warn``, ``tbon.fanout=K`` is ``tbon.topo=kary:K``).

    :raises fluxd.errors.InvalidArgument: for a malformed item, an attribute
        that cannot be set at start, or a value of the wrong kind, naming
        the attribute and the reason in one line.
    """
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not name:
            raise InvalidArgument(f"--setattr {item}: expected NAME[=VALUE]")
        if name not in SETTABLE:
            raise InvalidArgument(f"--setattr {name}: unknown attribute or not"
                                  " settable on the command line")
        try:
            name, value = canonical(name, value)
        except ValueError as exc:
            raise InvalidArgument(f"{name}: {exc}") from None
        why = check_value(name, value)
        if why:
            raise InvalidArgument(f"{name}: {why}")
        result[name] = value
    return result
