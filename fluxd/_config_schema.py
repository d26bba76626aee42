# -*- test-case-name: tests.unit.test_config -*-
"""The key table of fluxd's TOML configuration.

Every table and key of ``spec/config.md`` (flux-core ``flux-config-*(5)``,
flux-sched ``flux-config-sched-fluxion-*(5)``, flux-security
``flux-config-security*(5)``) is declared here with its type and default,
so a key is known, type-checked and has a default from the start, before
the service that reads it exists.  :mod:`fluxd.config` walks these nodes;
this module holds no loader logic, only the schema and its value checks.

A schema is a tree of nodes:

- :class:`Key`: one scalar (or plain array/opaque) value of a *kind*;
- :class:`Table`: a TOML table with known fields, optionally an ``extra``
  node for keys chosen by the site (queue names, plugin tables);
- :class:`ArrayOf`: an array whose items all follow one node;
- :class:`Either`: one of several nodes, chosen by the value's type
  (``resource.verify`` is a boolean or a table);
- :class:`Opaque`: anything (tables fluxd passes through untouched).

Nodes report problems through ``ctx.fail(path, message)``, which the loader
turns into a one-line error naming the file and the dotted key.
"""

from fluxd import _config_checks as chk
from fluxd._config_checks import UNSET

__all__ = [
    "UNSET", "Key", "Table", "ArrayOf", "Either", "Opaque", "SCHEMAS",
    "type_name", "iter_keys",
]


def type_name(value):
    """Name a value's type the way the error messages do.

    :param value: a value decoded from TOML or JSON.
    :returns: ``boolean``, ``integer``, ``real``, ``string``, ``array``,
        ``table``, ``null`` or ``datetime``.
    """
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    if value is None:
        return "null"
    return "datetime"


# kind -> (type predicate, name used in "expected X" messages)
_KINDS = {
    "boolean": (lambda v: isinstance(v, bool), "boolean"),
    "integer": (lambda v: isinstance(v, int) and not isinstance(v, bool),
                "integer"),
    "number": (lambda v: isinstance(v, (int, float))
               and not isinstance(v, bool), "number"),
    "string": (lambda v: isinstance(v, str), "string"),
    "fsd": (lambda v: isinstance(v, str), "FSD string"),
    "table": (lambda v: isinstance(v, dict), "table"),
}


class Node:
    """Base of the schema nodes.

    :ivar doc: one line saying what the key is for.
    :ivar restart: True when a change takes effect only at broker restart
        (a reload that changes it is refused).
    :ivar later: the fluxd service, not written yet, that will read it
        (None: read today, or never); see :func:`mark`.
    :ivar inert: why it has no effect in fluxd (None: it has one).
    """

    doc = ""
    restart = False
    later = None
    inert = None
    default = UNSET

    def accepts(self, value):
        """Whether ``value`` has a type this node could validate."""
        return True

    def expected(self):
        """The type name used in ``expected X, got Y`` messages."""
        return "value"

    def validate(self, value, path, ctx):
        """Check ``value`` found at ``path``; call ``ctx.fail`` on error."""

    def child(self, key):
        """The node for sub-key ``key``, or None (used for defaults)."""
        return None

    def default_value(self, config):
        """The schema default for this node, or :data:`UNSET`.

        :param config: the :class:`fluxd.config.Config` being queried, for
            defaults that depend on other keys (``tbon.topo``).
        """
        if callable(self.default):
            return self.default(config)
        return self.default


class Key(Node):
    """A value of one kind with an optional extra check.

    :param kind: ``boolean``, ``integer``, ``number``, ``string``, ``fsd``
        (a string that RFC 23 accepts) or ``table`` (any table).
    :param default: the value used when the key is absent (as it would be
        written in TOML), a callable ``f(config)`` giving it, or UNSET.
    :param check: ``f(value) -> message or None`` for value rules.
    """

    def __init__(self, kind, default=UNSET, *, check=None, doc="",
                 restart=False):
        self.kind = kind
        self.default = default
        self.check = check
        self.doc = doc
        self.restart = restart
        self._pred, self._name = _KINDS[kind]

    def accepts(self, value):
        return self._pred(value)

    def expected(self):
        return self._name

    def validate(self, value, path, ctx):
        if not self._pred(value):
            ctx.fail(path, f"expected {self._name}, got {type_name(value)}")
        if self.kind == "fsd":
            message = chk.fsd(value)
            if message:
                ctx.fail(path, message)
        if self.check is not None:
            message = self.check(value)
            if message:
                ctx.fail(path, message)


class ArrayOf(Node):
    """An array whose items all follow ``item``.

    :param nonempty: reject ``[]``.
    """

    def __init__(self, item, default=UNSET, *, nonempty=False, doc="",
                 restart=False):
        self.item = item
        self.default = default
        self.nonempty = nonempty
        self.doc = doc
        self.restart = restart

    def accepts(self, value):
        return isinstance(value, list)

    def expected(self):
        return "array"

    def validate(self, value, path, ctx):
        if not isinstance(value, list):
            ctx.fail(path, f"expected array, got {type_name(value)}")
        if self.nonempty and not value:
            ctx.fail(path, "array must not be empty")
        for index, item in enumerate(value):
            self.item.validate(item, path + [index], ctx)


class Table(Node):
    """A table with known ``fields``.

    :param fields: ``{key: node}``.
    :param extra: node for keys not in ``fields`` (None: unknown keys are
        errors).
    :param required: keys that must be present.
    :param checks: ``f(table, path, ctx)`` cross-key rules, run after the
        fields validated.
    """

    def __init__(self, fields, *, extra=None, required=(), checks=(),
                 doc="", default=UNSET, restart=False):
        self.fields = fields
        self.extra = extra
        self.required = tuple(required)
        self.checks = tuple(checks)
        self.doc = doc
        self.default = default
        self.restart = restart

    def accepts(self, value):
        return isinstance(value, dict)

    def expected(self):
        return "table"

    def validate(self, value, path, ctx):
        if not isinstance(value, dict):
            ctx.fail(path, f"expected table, got {type_name(value)}")
        for key in self.required:
            if key not in value:
                ctx.fail(path + [key], "required key is missing")
        for key, item in value.items():
            node = self.fields.get(key, self.extra)
            if node is None:
                ctx.fail(path + [key], "unknown key")
            node.validate(item, path + [key], ctx)
        for check in self.checks:
            check(value, path, ctx)

    def child(self, key):
        return self.fields.get(key, self.extra)


class Either(Node):
    """One of ``options``, chosen by the value's type."""

    def __init__(self, *options, default=UNSET, doc="", restart=False):
        self.options = options
        self.default = default
        self.doc = doc
        self.restart = restart

    def accepts(self, value):
        return any(opt.accepts(value) for opt in self.options)

    def expected(self):
        return " or ".join(opt.expected() for opt in self.options)

    def validate(self, value, path, ctx):
        for opt in self.options:
            if opt.accepts(value):
                opt.validate(value, path, ctx)
                return
        ctx.fail(path, f"expected {self.expected()}, got {type_name(value)}")

    def child(self, key):
        for opt in self.options:
            sub = opt.child(key)
            if sub is not None:
                return sub
        return None


class Opaque(Node):
    """Any value (``tables_only``: any table), passed through unchecked.

    :param not_table: message when ``tables_only`` and the value is not a
        table (default: ``expected table, got X``).
    """

    def __init__(self, *, tables_only=False, not_table=None, doc=""):
        self.tables_only = tables_only
        self.not_table = not_table
        self.doc = doc

    def accepts(self, value):
        return isinstance(value, dict) or not self.tables_only

    def expected(self):
        return "table" if self.tables_only else "value"

    def validate(self, value, path, ctx):
        if self.tables_only and not isinstance(value, dict):
            ctx.fail(path, self.not_table
                     or f"expected table, got {type_name(value)}")


def iter_keys(node, prefix=""):
    """Yield ``(dotted_key, node)`` for every declared key below ``node``.

    Array items appear as ``key[]``, site-chosen names as ``*``.

    :param node: a schema node, e.g. ``SCHEMAS["system"]``.
    :param prefix: dotted prefix of ``node``.
    """
    if isinstance(node, Table):
        for key, sub in node.fields.items():
            dotted = f"{prefix}.{key}" if prefix else key
            yield dotted, sub
            yield from iter_keys(sub, dotted)
        if node.extra is not None and not isinstance(node.extra, Opaque):
            dotted = f"{prefix}.*" if prefix else "*"
            yield dotted, node.extra
            yield from iter_keys(node.extra, dotted)
    elif isinstance(node, ArrayOf):
        yield from iter_keys(node.item, prefix + "[]")
    elif isinstance(node, Either):
        for opt in node.options:
            yield from iter_keys(opt, prefix)


# --- helpers for building the table ---------------------------------------

def _bool(default=False, doc="", restart=False):
    return Key("boolean", default, doc=doc, restart=restart)


def _strings(default=UNSET, *, check=None, nonempty=False, doc=""):
    return ArrayOf(Key("string", check=check), default, nonempty=nonempty,
                   doc=doc)


def _perilog(*, prolog):
    name = "prolog" if prolog else "epilog"
    return Table({
        "command": _strings(chk.imp_command(name),
                            doc=f"{name} argv (default: IMP run {name})"),
        "per-rank": _bool(doc=f"run the {name} on every rank of the job"),
        "timeout": Key("fsd", "30m" if prolog else "0",
                       doc="0 or infinity disables"),
        "kill-timeout": Key("number", 60, check=chk.at_least(0),
                            doc="seconds after SIGTERM before draining"),
        "cancel-on-exception": _bool(prolog),
        "exit-on-first-error": _bool(),
    }, doc=f"perilog.so {name}")


def _policy_table(prefix):
    job_size = Table({
        name: Key("integer", check=chk.at_least(-1), doc="-1 = unlimited")
        for name in ("nnodes", "ncores", "ngpus")
    })
    return Table({
        "jobspec": Table({
            "defaults": Table({
                "system": Table({
                    "duration": Key("fsd", doc="default job duration"),
                    "queue": Key("string", doc="default queue"),
                }),
            }),
        }),
        "limits": Table({
            "duration": Key("fsd", doc='max duration ("0" = unlimited)'),
            "job-size": Table({"max": job_size, "min": job_size}),
        }),
        "access": Table({
            "allow-user": _strings(), "allow-group": _strings(),
        }),
        "scheduler": Opaque(tables_only=True,
                            doc="opaque to core, read by the scheduler"),
    }, doc=f"RFC 33 policy ({prefix})")


_FSD_TBON = "overridden by the same-named broker attribute"

# ingest.frobnicator.NAME / ingest.validator.NAME: per-plugin tables, so a
# scalar there is a misspelt key rather than a plugin.
_PLUGIN_TABLE = Opaque(tables_only=True, doc="plugin configuration",
                       not_table="unknown key (plugin configuration must be "
                       "a table)")

# --- the system instance schema (spec/config.md sections 1-12) -----------

SYSTEM = Table({
    "access": Table({
        "allow-guest-user": _bool(doc="guests may connect (USER role)"),
        "allow-root-owner": _bool(doc="uid 0 gets the OWNER role"),
        "private-mode": _bool(doc="guests see only their own jobs"),
        "roles": Table({
            "admin": Table({"users": _strings(), "groups": _strings()}),
        }),
    }),
    "bootstrap": Table({
        "curve_cert": Key("string", doc="cluster certificate path"),
        "default_port": Key("integer", check=chk.port,
                            doc="substituted for %p"),
        "default_bind": Key("string", check=chk.bind_uri),
        "default_connect": Key("string", check=chk.connect_uri),
        "enable_ipv6": _bool(),
        "hosts": ArrayOf(Table({
            "host": Key("string", check=chk.hostlist),
            "bind": Key("string", check=chk.bind_uri),
            "connect": Key("string", check=chk.connect_uri),
            "parent": Key("string", check=chk.hostname),
        }, required=("host",))),
    }, checks=(chk.bootstrap_port_tokens,), restart=True),
    "tbon": Table({
        "topo": Key("string", chk.default_topo, check=chk.topo_uri,
                    restart=True),
        "torpid_min": Key("fsd", "5s", doc=_FSD_TBON),
        "torpid_max": Key("fsd", "30s", doc="0 disables"),
        "tcp_user_timeout": Key("fsd", "20s", restart=True),
        "connect_timeout": Key("fsd", "30s", restart=True),
        "zmqdebug": Key("integer", 0),
        "zmq_io_threads": Key("integer", 1, check=chk.at_least(1)),
        "child_rcvhwm": Key("integer", 0, check=chk.rcvhwm),
        "interface-hint": Key("string", "default-route"),
    }, checks=(chk.torpid,)),
    "exec": Table({
        "imp": Key("string", doc="path to flux-imp (guest jobs)"),
        "service": Key("string", "rexec", doc="rexec or sdexec"),
        "service-override": _bool(),
        "method": Key("string", "bulk-exec"),
        "job-shell": Key("string", doc="default: the built-in shell"),
        "kill-timeout": Key("fsd", "5s"),
        "max-kill-count": Key("integer", 8, check=chk.at_least(1)),
        "max-kill-timeout": Key("fsd", "300s"),
        "term-signal": Key("string", "SIGTERM", check=chk.signal_name),
        "kill-signal": Key("string", "SIGKILL", check=chk.signal_name),
        "barrier-timeout": Key("fsd", "30m", doc='"0" disables'),
        "shell-exit-timeout": Key("string", "30s", check=chk.fsd_or_none),
        "max-start-delay-percent": Key("number", 25,
                                       check=chk.at_least(0)),
        "sdexec-constrain-resources": _bool(),
        "sdexec-properties": Table(
            {}, extra=Key("string"), checks=(chk.sdexec_properties,),
            doc="systemd unit properties (string values)"),
        "sdexec-stop-timer-sec": Key("integer", check=chk.at_least(0)),
        "sdexec-stop-timer-signal": Key("integer", 10,
                                        check=chk.at_least(1)),
        "testexec": Table({"allow-guests": _bool()}),
    }),
    "systemd": Table({
        "enable": _bool(doc="load sdbus/sdexec/sdmon"),
        "sdbus-debug": _bool(),
        "sdexec-debug": _bool(),
    }),
    "resource": Table({
        "path": Key("string", doc="RFC 20 R file", restart=True),
        "config": ArrayOf(Table({
            "hosts": Key("string", check=chk.hostlist),
            "cores": Key("string", check=chk.idset),
            "gpus": Key("string", check=chk.idset),
            "properties": _strings(check=chk.property_name),
        }, required=("hosts",)), restart=True),
        "scheduling": Key("string", doc="JSON file merged as R scheduling",
                          restart=True),
        "exclude": Key("string", check=chk.idset_or_hostlist,
                       doc="live: rank 0 follows a reload"),
        "norestrict": _bool(restart=True),
        "noverify": _bool(restart=True),
        "verify": Either(
            Key("boolean"),
            Table({name: Key("string", check=chk.verify_mode)
                   for name in ("default", "hostname", "core", "gpu")}),
            default=chk.default_verify, restart=True),
        "rediscover": _bool(),
        "no-update-watch": _bool(),
        "journal-max": Key("integer", 100000, check=chk.at_least(0)),
        "history": Key("fsd", "90d"),
        "reserve": Key("string", check=chk.reserve),
    }),
    "kvs": Table({
        "checkpoint-period": Key("fsd", restart=True),
        "gc-threshold": Key("integer", check=chk.at_least(1)),
    }),
    "ingest": Table({
        "batch-count": Key("integer", 0, check=chk.at_least(0)),
        "buffer-size": Key("string", "10M", check=chk.si_size),
        "frobnicator": Table({
            "disable": _bool(),
            "plugins": _strings(["defaults", "constraints"]),
            "args": _strings([]),
        }, extra=_PLUGIN_TABLE),
        "validator": Table({
            "disable": _bool(),
            "plugins": _strings(["jobspec"]),
            "args": _strings([]),
            "require-instance": Table({
                "minnodes": Key("integer", 0, check=chk.at_least(0)),
                "mincores": Key("integer", 0, check=chk.at_least(0)),
            }),
        }, extra=_PLUGIN_TABLE),
    }),
    "job-manager": Table({
        "inactive-age-limit": Key("fsd"),
        "inactive-num-limit": Key("integer", check=chk.at_least(0)),
        "stop-queues-on-restart": _bool(),
        "journal-size-limit": Key("integer", check=chk.at_least(0),
                                  doc="accepted, unused (man page only)"),
        "plugins": ArrayOf(Table({
            "load": Key("string"),
            "conf": Key("table"),
            "remove": Key("string"),
        }, checks=(chk.plugin_directive,)), restart=True,
            doc="loaded at start; flux jobtap changes them at run time"),
        "housekeeping": Table({
            "command": _strings(chk.housekeeping_command),
            "release-after": Key("fsd"),
            "exit-on-first-error": _bool(),
        }),
        "prolog": _perilog(prolog=True),
        "epilog": _perilog(prolog=False),
        "perilog": Table({"log-ignore": _strings(check=chk.regex)}),
    }),
    "policy": _policy_table("policy"),
    "queues": Table({}, extra=Table({
        "requires": _strings(check=chk.property_name),
        "policy": _policy_table("queue"),
        "parent": Key("string"),
    }, checks=(chk.queue_entry,))),
    "heartbeat": Table({
        "period": Key("fsd", "2s", check=chk.fsd_positive),
        "timeout": Key("fsd", "5m", doc="0 or infinity disables"),
        "warn_thresh": Key("integer", 3, check=chk.at_least(0)),
    }),
    "fake-resources": Table({
        "nnodes": Key("integer", check=chk.at_least(1)),
        "cores-per-node": Key("integer", 64, check=chk.at_least(1)),
        "gpus-per-node": Key("integer", 0, check=chk.at_least(0)),
        "host-prefix": Key("string", "fake"),
        "hwloc-xml-path": Key("string"),
        "amend-r": Key("string"),
    }, required=("nnodes",)),
    "pam": Table({
        "manage-user-slice": _bool(),
        "kill-user-slice": _bool(),
    }),
    "sched-fluxion-qmanager": Table({
        "queue-policy": Key("string", "fcfs", check=chk.queue_policy),
        "queue-policy-per-queue": Key("string",
                                      check=chk.queue_policy_per_queue),
        "queues": Key("string", doc="space-separated queue names"),
        "queue-params": Either(
            Key("string", check=chk.params("max-queue-depth",
                                           "queue-depth")),
            Table({"max-queue-depth": Key("integer", 1000000,
                                          check=chk.at_least(1)),
                   "queue-depth": Key("integer", 32,
                                      check=chk.at_least(1))})),
        "policy-params": Either(
            Key("string", check=chk.params("max-reservation-depth",
                                           "reservation-depth")),
            Table({"max-reservation-depth": Key("integer", 100000,
                                                check=chk.at_least(1)),
                   "reservation-depth": Key("integer", 64,
                                            check=chk.at_least(1))})),
    }),
    "sched-fluxion-resource": Table({
        "match-policy": Key("string", "first", check=chk.match_policy),
        # rv1_shorthand: fluxd writes the full rv1 graph (the scheduler
        # logs one warning saying so)
        "match-format": Key("string", "rv1_nosched",
                            check=chk.one_of("rv1_nosched", "rv1",
                                             "rv1_shorthand")),
        "load-allowlist": Key("string"),
        "reserve-vtx-vec": Key("integer", check=chk.between(1, 2000000)),
        "prune-filters": Key("string", "ALL:core,ALL:node",
                             check=chk.prune_filters),
        "load-format": Key("string", check=chk.one_of(
            "grug", "hwloc", "jgf", "rv1exec", "rv1exec_force")),
    }),
    "content-sqlite": Table({
        "journal_mode": Key("string", check=chk.one_of(
            "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF"),
            restart=True),
        "synchronous": Key("string", check=chk.one_of(
            "EXTRA", "FULL", "NORMAL", "OFF"), restart=True),
        "preallocate": Key("integer", check=chk.at_least(0)),
    }),
}, extra=Opaque(doc="site tables, passed through"),
    checks=(chk.default_queue_exists, chk.sdexec_needs_systemd,
            chk.ingest_pipeline))

# --- flux-security signing: /etc/flux/security/conf.d (section 13) -------

SECURITY = Table({
    "sign": Table({
        "max-ttl": Key("integer", check=chk.at_least(1),
                       doc="seconds; recommended 1209600"),
        "default-type": Key("string", check=chk.sign_type),
        "allowed-types": _strings(check=chk.sign_type, nonempty=True),
        "munge": Table({"socket-path": Key("string")}),
        "curve": Table({"require-ca": _bool(),
                        "cert-path": Key("string")}),
    }, checks=(chk.sign_default_allowed,)),
}, extra=Opaque())

# --- the IMP: /etc/flux/imp/conf.d (section 14) ---------------------------

IMP = Table({
    "allow-sudo": _bool(doc="testing only"),
    "log-level": Key("string", check=chk.one_of("warning", "info",
                                                "debug")),
    "exec": Table({
        "allowed-users": _strings(),
        "allowed-shells": _strings(),
        "pam-support": _bool(),
        "allow-unprivileged-exec": _bool(doc="testing only"),
    }),
    "run": Table({}, extra=Table({
        "allowed-users": _strings(),
        "allowed-environment": _strings(),
        "path": Key("string", check=chk.absolute_path),
    })),
}, extra=Opaque())

#: Schema name -> root node (``flux config get -c system|security|imp``).
SCHEMAS = {"system": SYSTEM, "security": SECURITY, "imp": IMP}

#: Top-level tables of other Flux projects that share the system config
#: and that fluxd passes through without a word: flux-accounting's
#: ``[accounting]`` (its priority plugin's factor weights).
FOREIGN_TABLES = frozenset({"accounting"})


def mark(root, dotted, *, later=None, inert=None):
    """Record what fluxd does with a key: nothing yet (``later``: the
    service that will read it) or nothing ever (``inert``: why)."""
    node = root
    for seg in dotted.split("."):
        node = node.child(seg)
    if later is not None:
        node.later = later
    if inert is not None:
        node.inert = inert


_EXEC = "the exec service (job shells and the IMP)"
_POLICY = "per-queue access and scheduler policy"
_SCHED = "a scheduler"
_LISTING = "the admin role (multi-user instance)"

#: ``exec.testexec``, the exec service's signals and timeouts
#: (``kill-timeout``, ``max-kill-count``, ``max-kill-timeout``,
#: ``term-signal``, ``kill-signal``, ``shell-exit-timeout``,
#: ``max-start-delay-percent``, ``barrier-timeout``, ``imp``),
#: ``job-manager.inactive-age-limit`` and ``inactive-num-limit`` are read;
#: the rest of those tables waits for the issues that bring their services
_LATER_EXEC = ("service-override", "method", "job-shell",
               "sdexec-constrain-resources", "sdexec-properties",
               "sdexec-stop-timer-sec", "sdexec-stop-timer-signal")
#: ``[systemd]`` and ``exec.service``: accepted, one warning each
_OWN_SHELLS = "fluxd runs its shells itself, not in systemd units"
mark(SYSTEM, "exec.service", inert=_OWN_SHELLS)
for _key, _what in (
        *((f"exec.{k}", _EXEC) for k in _LATER_EXEC),
        ("policy.access", _POLICY), ("policy.scheduler", _POLICY),
        ("queues.NAME.policy.access", _POLICY),
        ("queues.NAME.policy.scheduler", _POLICY),
        ("access.roles", _LISTING), ("resource.reserve", _SCHED)):
    mark(SYSTEM, _key, later=_what)
# [sign] is read by the flux commands and job-ingest
# (fluxd.security.sign); only the curve mechanism is not implemented
mark(SECURITY, "sign.curve", inert="fluxd signs with munge or none only")
_GRAPH = "fluxd's scheduler keeps no Fluxion resource graph"
for _key, _why in (
        ("sched-fluxion-resource.load-allowlist", _GRAPH),
        ("sched-fluxion-resource.reserve-vtx-vec", _GRAPH),
        ("sched-fluxion-resource.prune-filters", _GRAPH),
        ("sched-fluxion-resource.load-format", _GRAPH),
        ("sched-fluxion-qmanager.queues", "queues come from [queues]")):
    mark(SYSTEM, _key, inert=_why)

_NO_ZMQ = "fluxd's overlay is TLS over TCP, not ZeroMQ"
for _key, _why in (
        ("tbon.zmqdebug", _NO_ZMQ), ("tbon.zmq_io_threads", _NO_ZMQ),
        ("tbon.child_rcvhwm", _NO_ZMQ),
        ("tbon.interface-hint", "fluxd never boots through PMI, the only"
         " time it is used"),
        ("systemd", _OWN_SHELLS),
        ("resource.rediscover", "it only matters to an instance run as a"
         " job of another"),
        ("resource.no-update-watch", "it only matters to an instance run as"
         " a job of another"),
        ("resource.journal-max", "fluxd's resource journal keeps only the"
         " events of the running broker"),
        ("resource.history", "fluxd keeps every resource.eventlog entry"),
        ("job-manager.journal-size-limit", "flux-core does not read it"
         " either"),
        ("ingest.batch-count", "job-ingest commits every job that arrives"
         " together in one transaction, whatever their number"),
        ("ingest.buffer-size", "job-ingest has no worker buffer: it"
         " validates in process"),
        ("fake-resources", "fluxd describes real or configured resources"
         " only"),
        ("pam", "it is read by the flux PAM module, not by the broker"),
        ("content-sqlite.preallocate", "fluxd does not preallocate"
         " content.sqlite")):
    mark(SYSTEM, _key, inert=_why)
