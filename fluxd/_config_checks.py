# -*- test-case-name: tests.unit.test_config -*-
"""Value rules used by the configuration key table.

Two shapes of rule live here, both used by :mod:`fluxd._config_schema`:

- *value checks* ``f(value) -> str | None`` return an error message (the
  loader prefixes it with the file and dotted key) or None when the value
  is fine;
- *table checks* ``f(table, path, ctx)`` look across keys of one table (or
  of the whole config) and call ``ctx.fail(path, message)``.

Wording follows flux-core where it has a message for the same rule
(``conf_policy.c``, ``ovconf.c``); the file/key prefix replaces flux's
``error parsing [table] config table:`` preamble.

Formats: RFC 23 durations, RFC 22 idsets and RFC 29 hostlists come from
:mod:`fluxd.formats`; they are imported lazily so the ``flux`` CLI pays for
them only when a config actually uses them.
"""

import re
import signal
import warnings

__all__ = ["UNSET"]


class _Unset:
    """Marker for "no default": a key that is absent stays absent."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "UNSET"

    def __bool__(self):
        return False


#: The "no default" marker.
UNSET = _Unset()


# --- simple value checks ---------------------------------------------------

def fsd(value):
    """An RFC 23 duration string."""
    from fluxd.formats.fsd import FSDError, parse_fsd
    try:
        parse_fsd(value)
    except FSDError as exc:
        return str(exc)
    return None


def fsd_positive(value):
    """An RFC 23 duration greater than zero."""
    from fluxd.formats.fsd import FSDError, parse_fsd
    try:
        if parse_fsd(value) <= 0:
            return "must be greater than zero"
    except FSDError as exc:
        return str(exc)
    return None


def fsd_or_none(value):
    """An RFC 23 duration, or ``none`` to disable."""
    if value == "none":
        return None
    return fsd(value)


def at_least(low):
    """Build a check: number >= ``low``."""
    def check(value):
        if value < low:
            return f"must be >= {low}, got {value}"
        return None
    return check


def between(low, high):
    """Build a check: ``low`` <= number <= ``high``."""
    def check(value):
        if not low <= value <= high:
            return f"must be between {low} and {high}, got {value}"
        return None
    return check


def one_of(*choices):
    """Build a check: the value is one of ``choices``."""
    def check(value):
        if value not in choices:
            return (f"invalid value '{value}' (expected "
                    + ", ".join(choices) + ")")
        return None
    return check


def port(value):
    """A TCP port number."""
    return between(1, 65535)(value)


def rcvhwm(value):
    """``tbon.child_rcvhwm``: 0 (unlimited) or >= 2 (ovconf.c)."""
    if value < 0 or value == 1:
        return "must be 0 (unlimited) or >= 2"
    return None


def absolute_path(value):
    """An absolute path (IMP ``run.NAME.path``)."""
    if not value.startswith("/"):
        return f"'{value}' is not an absolute path"
    return None


def regex(value):
    """A regular expression (``perilog.log-ignore``)."""
    # POSIX ERE is close to Python re; nested-set warnings for [[:alpha:]]
    # are noise here, only a compile error is a config error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            re.compile(value)
        except re.error as exc:
            return f"invalid regular expression '{value}': {exc}"
    return None


def signal_name(value):
    """A signal as ``SIGTERM``, ``TERM`` or a number (sigutil_signum)."""
    if value.isdigit() and 0 < int(value) < signal.NSIG:
        return None
    name = value if value.startswith("SIG") else "SIG" + value
    if name in signal.Signals.__members__:
        return None
    return f"invalid signal '{value}'"


_SI_SIZE = re.compile(r"(\d+(\.\d*)?|\.\d+)[kKMGTPE]?")


def si_size(value):
    """A size with an optional SI suffix (``10M``, ``4.5M``, ``1024K``)."""
    if not _SI_SIZE.fullmatch(value):
        return f"invalid size '{value}'"
    return None


# RFC 20 property names: these characters have meaning in constraints.
_PROPERTY_BANNED = set(" \t!&'\"^`|()")


def property_name(value):
    """An RFC 20 resource property name."""
    if not value or set(value) & _PROPERTY_BANNED:
        return f"invalid property name '{value}'"
    return None


# --- formats ---------------------------------------------------------------

def idset(value):
    """An RFC 22 idset (cores, gpus)."""
    from fluxd.formats.idset import IDset, IdsetError
    try:
        IDset.decode(value)
    except IdsetError as exc:
        return f"invalid idset '{value}': {exc}"
    return None


def hostlist(value):
    """A non-empty RFC 29 hostlist."""
    from fluxd.formats.hostlist import Hostlist, HostlistError
    try:
        hosts = Hostlist.decode(value)
    except HostlistError as exc:
        # its message already quotes the input: Invalid hostlist: 'x': why
        return str(exc)
    if len(hosts) == 0:
        return "hostlist is empty"
    return None


def hostname(value):
    """A single host name (``bootstrap.hosts[].parent``)."""
    if not value or set(value) & set(" \t,[]"):
        return f"invalid host name '{value}'"
    return None


def idset_or_hostlist(value):
    """``resource.exclude``: an idset of ranks or a hostlist."""
    if idset(value) is None:
        return None
    if hostlist(value) is None:
        return None
    return f"'{value}' is neither an idset nor a hostlist"


def reserve(value):
    """``resource.reserve``: ``cores[@ranks] [cores[@ranks]]...``."""
    for token in value.split():
        cores, _, ranks = token.partition("@")
        for part in (cores, ranks) if "@" in token else (cores,):
            message = idset(part) if part else "empty idset"
            if message:
                return f"invalid reserve spec '{token}': {message}"
    return None


# --- bootstrap URIs --------------------------------------------------------

_TOKENS = {"h": "host", "p": "1", "%": "%"}


def _expand(value):
    """Expand %h/%p/%% as flux does; return (text, uses_p) or raise."""
    out = []
    uses_p = False
    i = 0
    while i < len(value):
        c = value[i]
        if c == "%":
            token = value[i + 1:i + 2]
            if token not in _TOKENS:
                raise ValueError(f"invalid token '%{token}' in '{value}'")
            uses_p = uses_p or token == "p"
            out.append(_TOKENS[token])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out), uses_p


def _uri(value, *, bind):
    try:
        text, _ = _expand(value)
    except ValueError as exc:
        return str(exc)
    if text.startswith("ipc://"):
        return None if len(text) > 6 else f"'{value}' has no ipc path"
    if not text.startswith("tcp://"):
        return f"'{value}' must be a tcp:// or ipc:// URI"
    addr, sep, port_text = text[6:].rpartition(":")
    if not sep or not addr:
        return f"'{value}' must include an address and a port"
    if port_text == "*":
        return f"'{value}': port wildcard is not allowed"
    if not port_text.isdigit():
        return f"'{value}': invalid port '{port_text}'"
    if addr == "*" and not bind:
        return f"'{value}': a connect URI needs a host name or address"
    return None


def bind_uri(value):
    """``tcp://IFACE|IP|*:PORT`` or ``ipc://PATH`` (%h, %p expanded)."""
    return _uri(value, bind=True)


def connect_uri(value):
    """``tcp://HOST|IP:PORT`` or ``ipc://PATH`` (%h, %p expanded)."""
    return _uri(value, bind=False)


def bootstrap_port_tokens(table, path, ctx):
    """``%p`` is only meaningful when ``default_port`` is set."""
    if "default_port" in table:
        return
    candidates = [(["default_bind"], table.get("default_bind")),
                  (["default_connect"], table.get("default_connect"))]
    for index, entry in enumerate(table.get("hosts", [])):
        for key in ("bind", "connect"):
            candidates.append((["hosts", index, key], entry.get(key)))
    for sub, value in candidates:
        if value is not None and _expand(value)[1]:
            ctx.fail(path + sub, "%p is used but bootstrap.default_port "
                     "is not set")


# --- tbon ------------------------------------------------------------------

_TOPO = re.compile(r"kary:\d+|mincrit(:\d+)?|binomial|custom")


def topo_uri(value):
    """``kary:K``, ``mincrit[:K]``, ``binomial`` or ``custom``."""
    if not _TOPO.fullmatch(value):
        return f"invalid topology URI '{value}'"
    return None


def default_topo(config):
    """``custom`` when ``[bootstrap]`` exists (config boot), else kary:32."""
    return "custom" if config.is_set("bootstrap") else "kary:32"


def torpid(table, path, ctx):
    """torpid_min must be nonzero and below torpid_max (unless 0)."""
    from fluxd.formats.fsd import parse_fsd
    tmin = parse_fsd(table.get("torpid_min", "5s"))
    tmax = parse_fsd(table.get("torpid_max", "30s"))
    if tmin == 0:
        ctx.fail(path + ["torpid_min"], "must be nonzero")
    if tmax != 0 and not tmin < tmax:
        if "torpid_min" in table:
            ctx.fail(path + ["torpid_min"], "must be less than torpid_max")
        ctx.fail(path + ["torpid_max"], "must be greater than torpid_min")


# --- exec ------------------------------------------------------------------

_RESERVED_PROPERTIES = frozenset((
    "AllowedCPUs", "Description", "Environment", "ExecStart", "KillMode",
    "RemainAfterExit", "SendSIGKILL", "StandardInputFileDescriptor",
    "StandardOutputFileDescriptor", "StandardErrorFileDescriptor",
    "TimeoutStopUSec", "Type", "WorkingDirectory",
))
_MEMORY_PROPERTIES = frozenset((
    "MemoryMax", "MemoryHigh", "MemoryMin", "MemoryLow", "MemorySwapMax",
))
_MEMORY_VALUE = re.compile(r"\d+[KMGT]?|\d+(\.\d+)?%|infinity")


def sdexec_properties(table, path, ctx):
    """Reserved unit properties are refused; typed ones are checked."""
    for name, value in table.items():
        if name in _RESERVED_PROPERTIES:
            ctx.fail(path + [name], "reserved for use by Flux")
        if name in _MEMORY_PROPERTIES and not _MEMORY_VALUE.fullmatch(value):
            ctx.fail(path + [name], f"invalid memory value '{value}'")
        if name == "OOMScoreAdjust":
            if not re.fullmatch(r"-?\d+", value) \
                    or not -1000 <= int(value) <= 1000:
                ctx.fail(path + [name], f"invalid value '{value}' "
                         "(expected -1000 to 1000)")


def sdexec_needs_systemd(root, path, ctx):
    """``exec.service = "sdexec"`` requires ``systemd.enable = true``."""
    service = root.get("exec", {}).get("service")
    if service == "sdexec" and not root.get("systemd", {}).get("enable"):
        ctx.fail(path + ["exec", "service"],
                 "sdexec requires systemd.enable = true")


# --- resource --------------------------------------------------------------

def verify_mode(value):
    """A ``resource.verify`` mode."""
    return one_of("strict", "allow-extra", "allow-missing", "ignore")(value)


def default_verify(config):
    """Verification modes used when ``resource.verify`` is absent."""
    return {"default": "allow-extra", "gpu": "ignore", "hostname": "strict"}


# --- job-manager -----------------------------------------------------------

def imp_command(name):
    """Build the default perilog command: ``[exec.imp, "run", name]``."""
    def default(config):
        imp = config.get("exec.imp", None)
        return [imp, "run", name] if imp else UNSET
    return default


def housekeeping_command(config):
    """``imp run housekeeping`` when the housekeeping table exists."""
    imp = config.get("exec.imp", None)
    if imp and config.is_set("job-manager.housekeeping"):
        return [imp, "run", "housekeeping"]
    return UNSET


def plugin_directive(entry, path, ctx):
    """A jobtap directive has ``load`` or ``remove``; ``conf`` needs load."""
    if "load" not in entry and "remove" not in entry:
        ctx.fail(path, "plugin directive needs 'load' or 'remove'")
    if "conf" in entry and "load" not in entry:
        ctx.fail(path + ["conf"], "'conf' is valid only with 'load'")


# --- policy and queues (RFC 33, conf_policy.c) -----------------------------

def queue_entry(entry, path, ctx):
    """Rules for one ``[queues.NAME]`` table."""
    policy = entry.get("policy", {})
    system = policy.get("jobspec", {}).get("defaults", {}).get("system", {})
    if "queue" in system:
        ctx.fail(path + ["policy"], "'policy' must not define a default "
                 "queue!")
    if "parent" in entry:
        if "requires" in entry:
            ctx.fail(path + ["requires"],
                     "a virtual queue must not set 'requires'")
        if "scheduler" in policy:
            ctx.fail(path + ["policy", "scheduler"],
                     "a virtual queue must not set 'policy.scheduler'")


def default_queue_exists(root, path, ctx):
    """Virtual queue parents and the default queue must be in [queues]."""
    queues = root.get("queues", {})
    for name, entry in queues.items():
        parent = entry.get("parent")
        if parent is None:
            continue
        where = path + ["queues", name, "parent"]
        if parent == name:
            ctx.fail(where, "parent queue is itself")
        if parent not in queues:
            ctx.fail(where, f"parent queue '{parent}' is not configured")
        if "parent" in queues[parent]:
            ctx.fail(where, f"parent queue '{parent}' is itself a virtual "
                     "queue")
    system = root.get("policy", {}).get("jobspec", {}) \
        .get("defaults", {}).get("system", {})
    queue = system.get("queue")
    if queue is not None and queue not in queues:
        ctx.fail(path + ["policy", "jobspec", "defaults", "system", "queue"],
                 f"the [policy] config table defines a default queue "
                 f"{queue} that is not in [queues] table")


def ingest_pipeline(root, path, ctx):
    """The ingest pipeline must build from ``[ingest]``, ``[policy]`` and
    ``[queues]``: plugins found, ``args`` parsed, limits valid."""
    from fluxd.job.pipeline import check_config
    problem = check_config(root)
    if problem is not None:
        where, message = problem
        ctx.fail(path + where, message)


# --- fluxion ---------------------------------------------------------------

_QUEUE_POLICIES = ("fcfs", "easy", "hybrid", "conservative")


def queue_policy(value):
    """A Fluxion queuing policy."""
    return one_of(*_QUEUE_POLICIES)(value)


def queue_policy_per_queue(value):
    """``"batch:easy debug:fcfs"``."""
    for token in value.split():
        name, sep, policy = token.partition(":")
        if not sep or not name or policy not in _QUEUE_POLICIES:
            return f"invalid queue policy '{token}' (expected QUEUE:POLICY)"
    return None


def params(*keys):
    """Build a check for ``"key=N,key=N"`` Fluxion parameter strings."""
    def check(value):
        for token in value.split(","):
            key, sep, number = token.strip().partition("=")
            if key not in keys or not sep or not number.isdigit() \
                    or int(number) < 1:
                return (f"invalid parameter '{token}' (expected "
                        + " or ".join(f"{k}=N" for k in keys) + ")")
        return None
    return check


_MATCH_POLICIES = frozenset((
    "first", "firstnodex", "high", "low", "hinode", "lonode", "hinodex",
    "lonodex", "locality", "variation",
))
_MATCH_ATTRS = {
    "policy": ("low", "high"),
    "node_centric": ("true", "false"),
    "node_exclusive": ("true", "false"),
    # the man page spells it set_stop_on_1_matches; the code reads
    # stop_on_1_matches.  Accept both.
    "stop_on_1_matches": ("true", "false"),
    "set_stop_on_1_matches": ("true", "false"),
}


def match_policy(value):
    """A built-in Fluxion match policy or ``key=value`` attributes."""
    if value in _MATCH_POLICIES:
        return None
    tokens = value.split()
    for token in tokens:
        key, sep, setting = token.partition("=")
        if not sep or setting not in _MATCH_ATTRS.get(key, ()):
            return f"unknown match policy '{value}'"
    return None if tokens else f"unknown match policy '{value}'"


_PRUNE_FILTER = re.compile(r"[A-Za-z0-9_-]+:[A-Za-z0-9_-]+")


def prune_filters(value):
    """``HL:LL[,HL:LL...]``."""
    for token in value.split(","):
        if not _PRUNE_FILTER.fullmatch(token.strip()):
            return f"invalid prune filter '{token}' (expected HL:LL)"
    return None


# --- flux-security ---------------------------------------------------------

def sign_type(value):
    """A signing mechanism."""
    return one_of("munge", "curve", "none")(value)


def sign_default_allowed(table, path, ctx):
    """``default-type`` must be one of ``allowed-types``."""
    allowed = table.get("allowed-types")
    default = table.get("default-type")
    if allowed is not None and default is not None and default not in allowed:
        ctx.fail(path + ["default-type"],
                 f"'{default}' is not in allowed-types")
