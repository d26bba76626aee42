# -*- test-case-name: tests.unit.test_config -*-
"""fluxd's configuration: TOML files merged into one validated table.

Loading follows flux-core's ``flux_conf_parse()`` (``flux-config(5)``):

- a *directory* (``--config-path``, ``FLUX_CONF_DIR``, the system
  instance's ``/etc/flux/system/conf.d``): every ``*.toml`` in it, read in
  name order and merged into one table;
- a *file*: TOML, or JSON when the name ends in ``.json``;
- nothing (None or ``""``): the empty config, where every key has its
  built-in default (:func:`default_config`, what ``flux start`` uses).

Where fluxd is stricter than flux-core: a key defined in two files of a
directory is an error naming both files (flux silently lets the later file
win), and the tables fluxd owns (see :mod:`fluxd._config_schema`, the key
table of ``spec/config.md``) reject unknown keys and ill-typed values with a
one-line :class:`ConfigError` naming the file and the dotted key.  Tables
fluxd does not own are kept untouched; those of other Flux projects
(flux-accounting's ``[accounting]``) quietly, any other one with a warning
naming the nearest known table (:func:`unknown_tables`: ``[boostrap]``
would otherwise start a size-1 instance without a word).
:func:`config_notes` names the keys fluxd accepts without acting on them
and :func:`restart_changes` those a reload may not change.

Durations are RFC 23 Flux Standard Duration strings, core and GPU sets RFC
22 idsets, host names RFC 29 hostlists; :meth:`Config.get_typed` gives
``flux config get --type`` semantics (``spec/cli.md`` section 7).

This module is pure (stdlib ``tomllib`` and ``json``, no Twisted), so the
``flux`` CLI can use it cheaply.
"""

import copy
import datetime
import glob
import json
import math
import os
import re
import stat
import tomllib

from fluxd._config_schema import SCHEMAS, UNSET, iter_keys, type_name
from fluxd.errors import InvalidArgument, NotFound

__all__ = [
    "ConfigError", "Config", "load_config", "load_config_text",
    "config_from_object", "default_config", "parse_duration_key",
    "known_keys", "TYPES", "unknown_tables", "config_notes",
    "restart_changes",
]

#: The ``--type`` names of ``flux config get`` accepted by get_typed().
TYPES = ("any", "string", "integer", "real", "boolean", "object", "array",
         "fsd", "fsd-integer", "fsd-real")

_MISSING = object()


class ConfigError(InvalidArgument):
    """invalid configuration"""


def _display(path):
    """``["bootstrap", "hosts", 0, "host"]`` -> ``bootstrap.hosts[0].host``."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else seg
    return out


class _Context:
    """Validation context: turns a failing path into a ConfigError."""

    def __init__(self, origins, default_source):
        self.origins = origins
        self.default_source = default_source

    def file_for(self, path):
        keys = []
        for seg in path:
            if isinstance(seg, int):
                break
            keys.append(seg)
        for n in range(len(keys), 0, -1):
            source = self.origins.get(tuple(keys[:n]))
            if source is not None:
                return source
        return self.default_source

    def fail(self, path, message):
        source = self.file_for(path)
        where = _display(path)
        parts = [p for p in (source, where) if p]
        raise ConfigError(": ".join(parts + [message]))


def _validate(data, origins, schema, default_source=None):
    root = _schema_root(schema)
    root.validate(data, [], _Context(origins, default_source))


def _schema_root(schema):
    try:
        return SCHEMAS[schema]
    except KeyError:
        raise InvalidArgument(f"unknown config schema '{schema}'") from None


def _record(value, path, source, origins):
    """Note ``source`` as the origin of ``value`` and everything below it."""
    origins[path] = source
    if isinstance(value, dict):
        for key, item in value.items():
            _record(item, path + (key,), source, origins)


def _merge(dst, src, prefix, source, origins):
    """Merge table ``src`` from ``source`` into ``dst``; no redefinitions."""
    for key, value in src.items():
        path = prefix + (key,)
        if key in dst:
            if isinstance(dst[key], dict) and isinstance(value, dict):
                _merge(dst[key], value, path, source, origins)
                continue
            raise ConfigError(f"{source}: {'.'.join(path)}: already "
                              f"defined in {origins[path]}")
        dst[key] = value
        _record(value, path, source, origins)


def _normalize(value):
    """TOML dates become ``{"iso-8601-ts": ...}`` objects as in flux."""
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        utc = value.astimezone(datetime.timezone.utc)
        return {"iso-8601-ts": utc.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return {"iso-8601-ts": value.isoformat()}
    return value


_TOML_WHERE = re.compile(r" \(at line (\d+), column \d+\)$")
_TOML_END = " (at end of document)"


def _parse_toml(text, source):
    try:
        return _normalize(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_WHERE.search(message)
        if match:
            line = int(match.group(1))
            message = message[:match.start()]
        else:
            line = text.count("\n") + 1
            message = message.removesuffix(_TOML_END)
        raise ConfigError(f"{source}:{line}: {message}") from None


def _parse_json(text, source):
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{source}: expected a JSON object, got "
                          f"{type_name(obj)}")
    return obj


def _read(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: invalid UTF-8 at byte {exc.start}") \
            from None


def read_config_tables(path):
    """Read and merge a config directory or file, without checking keys.

    :param path: as for :func:`load_config` (not empty).
    :returns: ``(data, origins)``: the merged table and a dict mapping each
        key path (a tuple) to the file that set it.
    :raises NotFound: when ``path`` does not exist.
    :raises ConfigError: on a syntax error (``file:line: message``) or a
        key defined in two files.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NotFound(f"stat: {path}: No such file or directory") from None
    except OSError as exc:
        raise ConfigError(f"stat: {path}: {exc.strerror}") from None
    data = {}
    origins = {}
    if stat.S_ISDIR(st.st_mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise ConfigError(f"{path}: Permission denied")
        for name in sorted(glob.glob(os.path.join(glob.escape(path),
                                                  "*.toml"))):
            table = _parse_toml(_read(name), name)
            _merge(data, table, (), name, origins)
    else:
        text = _read(path)
        if path.endswith(".json"):
            table = _parse_json(text, path)
        else:
            table = _parse_toml(text, path)
        _merge(data, table, (), path, origins)
    return data, origins


def load_config(path, *, schema="system"):
    """Load and validate a config directory or file.

    :param path: a directory (all ``*.toml`` merged, in name order), a
        TOML file, a JSON file (name ends ``.json``), or None/``""`` for
        the empty config.
    :param schema: ``system`` (the broker), ``security`` (flux-security
        signing) or ``imp`` (the IMP), as ``flux config get -c`` selects.
    :returns: a :class:`Config`.
    :raises NotFound: when ``path`` does not exist.
    :raises ConfigError: on a syntax error (``file:line: message``), a key
        defined in two files, or a key fluxd rejects (``file: key: why``).
    """
    _schema_root(schema)
    if not path:
        return Config._trusted({}, {}, schema, None)
    data, origins = read_config_tables(path)
    _validate(data, origins, schema)
    return Config._trusted(data, origins, schema, path)


def load_config_text(text, *, source="<stdin>", schema="system"):
    """Parse config text as ``flux config load`` reads stdin.

    :param text: TOML, or JSON when it starts with ``{`` (as flux decides).
    :param source: the name errors use in place of a file name.
    :param schema: as for :func:`load_config`.
    :returns: a validated :class:`Config`.
    :raises ConfigError: on a syntax error or a rejected key.
    """
    if text.lstrip().startswith("{"):
        obj = _parse_json(text, source)
    else:
        obj = _parse_toml(text, source)
    return config_from_object(obj, source=source, schema=schema)


def config_from_object(obj, *, source=None, schema="system"):
    """Validate an already-decoded table (``config.load`` RPC payload).

    :param obj: a dict, as decoded from JSON or TOML.
    :param source: name errors and :meth:`Config.sources` use, or None.
    :param schema: as for :func:`load_config`.
    :returns: a :class:`Config` holding a private copy of ``obj``.
    :raises ConfigError: when ``obj`` is not a table or a key is rejected.
    """
    if not isinstance(obj, dict):
        raise ConfigError(f"config must be a table, got {type_name(obj)}")
    data = _normalize(copy.deepcopy(obj))
    origins = {}
    if source is not None:
        for key, value in data.items():
            _record(value, (key,), source, origins)
    _validate(data, origins, schema, source)
    return Config._trusted(data, origins, schema, None)


def default_config():
    """The embedded default config: nothing written, all defaults apply.

    :returns: an empty system :class:`Config`.
    """
    return Config._trusted({}, {}, "system", None)


def known_keys(schema="system"):
    """The dotted keys the schema declares (``[]`` array items, ``*`` names).

    :param schema: ``system``, ``security`` or ``imp``.
    :returns: a list of dotted key strings in declaration order.
    """
    return [key for key, _ in iter_keys(_schema_root(schema))]


def _split(dotted):
    return [] if not dotted else dotted.split(".")


class Config:
    """An immutable, validated view of a merged configuration table.

    Values come back as written (``tbon.tcp_user_timeout`` is ``"2m"``,
    not 120); :meth:`get_typed` and :func:`parse_duration_key` convert.
    Every accessor returns a copy, so callers cannot change the config.
    Two configs are equal when their tables are equal, wherever the keys
    came from, so a reload can tell whether anything changed.

    Build one with :func:`load_config`, :func:`load_config_text`,
    :func:`config_from_object` or :func:`default_config`.
    """

    __slots__ = ("_data", "_origins", "_schema", "_path")

    @classmethod
    def _trusted(cls, data, origins, schema, path):
        self = object.__new__(cls)
        self._data = data
        self._origins = origins
        self._schema = schema
        self._path = path
        return self

    def __init__(self, obj=None, *, source=None, schema="system"):
        """
        :param obj: a table to validate and copy (None: empty config).
        :param source: file name to attribute the keys to, or None.
        :param schema: ``system``, ``security`` or ``imp``.
        :raises ConfigError: when a key is rejected.
        """
        other = config_from_object(obj or {}, source=source, schema=schema)
        self._data = other._data
        self._origins = other._origins
        self._schema = schema
        self._path = None

    @property
    def schema(self):
        """The schema name this config was validated against."""
        return self._schema

    @property
    def path(self):
        """The directory or file it was loaded from, or None."""
        return self._path

    def _lookup(self, dotted):
        node = self._data
        for seg in _split(dotted):
            if not isinstance(node, dict) or seg not in node:
                return _MISSING
            node = node[seg]
        return node

    def is_set(self, dotted):
        """Whether ``dotted`` is written in the config (defaults ignored).

        :param dotted: e.g. ``"bootstrap"`` or ``"exec.imp"``.
        """
        return self._lookup(dotted) is not _MISSING

    __contains__ = is_set

    def default_for(self, dotted):
        """The schema default of ``dotted``, or :data:`UNSET`.

        A key below an absent table whose default is a table (``resource.
        verify.gpu``) takes its value from that table default.

        :param dotted: a dotted key.
        :returns: a fresh copy of the default, or ``UNSET`` when the
            schema gives none.
        """
        segs = _split(dotted)
        for depth in range(len(segs), 0, -1):
            node = _schema_root(self._schema)
            for seg in segs[:depth]:
                node = node.child(seg) if node is not None else None
            if node is None:
                continue
            value = node.default_value(self)
            if value is UNSET:
                continue
            if depth < len(segs) and self.is_set(".".join(segs[:depth])):
                # the table is written: its default no longer applies
                return UNSET
            for seg in segs[depth:]:
                if not isinstance(value, dict) or seg not in value:
                    return UNSET
                value = value[seg]
            return copy.deepcopy(value)
        return UNSET

    def _resolve(self, dotted, default, schema_default):
        """(value, from_caller_default) or raise NotFound."""
        value = self._lookup(dotted)
        if value is not _MISSING:
            return copy.deepcopy(value), False
        if default is not _MISSING:
            return default, True
        if schema_default:
            value = self.default_for(dotted)
            if value is not UNSET:
                return value, False
        raise NotFound(f"{dotted} is not set")

    def get(self, dotted, default=_MISSING, *, schema_default=True):
        """Return a value as written.

        :param dotted: a dotted key (``"tbon.tcp_user_timeout"``); None or
            ``""`` gives the whole table.
        :param default: returned when the key is absent (before any schema
            default is considered).
        :param schema_default: when the key is absent and no ``default`` is
            given, fall back to the schema default.  ``flux config get``
            passes False: it reports what is written.
        :returns: a copy of the value.
        :raises NotFound: ``"NAME is not set"`` when absent with no default.
        """
        return self._resolve(dotted, default, schema_default)[0]

    def get_typed(self, dotted, type, default=_MISSING, *,
                  schema_default=True):
        """Return a value checked against a ``flux config get --type``.

        :param dotted: a dotted key, or None/``""`` for the whole table.
        :param type: ``any``, ``string``, ``integer``, ``real``,
            ``boolean``, ``object``, ``array``, ``fsd`` (an FSD string,
            returned as written), ``fsd-integer`` (its seconds truncated to
            an int: ``"2m"`` -> 120) or ``fsd-real`` (seconds as a float).
            Case does not matter.
        :param default: returned unchecked when the key is absent.
        :param schema_default: as for :meth:`get`.
        :returns: the value (converted for the fsd types).
        :raises InvalidArgument: ``"NAME does not have the requested
            type"``, or ``"Unknown type: T"``.
        :raises NotFound: ``"NAME is not set"``.
        """
        want = type.lower()
        if want not in TYPES:
            raise InvalidArgument(f"Unknown type: {type}")
        value, given = self._resolve(dotted, default, schema_default)
        if given or want == "any":
            return value
        bad = InvalidArgument(f"{dotted or 'value'} does not have the "
                              "requested type")
        if want.startswith("fsd"):
            from fluxd.formats.fsd import FSDError, parse_fsd
            if not isinstance(value, str):
                raise bad
            try:
                seconds = parse_fsd(value)
            except FSDError:
                raise bad from None
            if want == "fsd":
                return value
            if want == "fsd-real":
                return seconds
            if not math.isfinite(seconds):
                raise bad
            return int(seconds)
        if not _TYPE_CHECKS[want](value):
            raise bad
        return value

    def as_dict(self):
        """The merged table as written (a deep copy)."""
        return copy.deepcopy(self._data)

    def to_json(self):
        """Compact JSON of the whole table (``flux config get``)."""
        return json.dumps(self._data, separators=(",", ":"),
                          ensure_ascii=False)

    def sources(self):
        """Map each written leaf key (dotted) to the file it came from.

        Arrays (of tables too) are leaves.  Keys of a config built from an
        object without a source are absent.
        """
        return {".".join(path): source
                for path, source in self._origins.items()
                if not isinstance(self._lookup(".".join(path)), dict)}

    def source_of(self, dotted):
        """The file ``dotted`` (or its nearest written table) came from.

        :returns: a file name, or None.
        """
        return _Context(self._origins, None).file_for(_split(dotted))

    def with_value(self, dotted, value, *, source="<runtime>"):
        """A new config with ``dotted`` set (``flux config set``).

        :param dotted: a dotted key; missing tables are created.
        :param value: the new value, as it would be decoded from JSON.
        :param source: what :meth:`sources` reports for the key.
        :returns: a new validated :class:`Config`.
        :raises ConfigError: when the result is rejected, or a prefix of
            ``dotted`` names a value that is not a table.
        """
        segs = _split(dotted)
        if not segs:
            raise InvalidArgument("a key name is required")
        data = copy.deepcopy(self._data)
        node = data
        for depth, seg in enumerate(segs[:-1]):
            node = node.setdefault(seg, {})
            if not isinstance(node, dict):
                prefix = ".".join(segs[:depth + 1])
                raise ConfigError(f"{dotted}: {prefix} is not a table")
        node[segs[-1]] = _normalize(copy.deepcopy(value))
        origins = {path: src for path, src in self._origins.items()
                   if path[:len(segs)] != tuple(segs)}
        _record(node[segs[-1]], tuple(segs), source, origins)
        _validate(data, origins, self._schema)
        return Config._trusted(data, origins, self._schema, self._path)

    def without(self, dotted):
        """A new config with ``dotted`` removed (``flux config unset``).

        Removing an absent key is not an error.

        :returns: a new validated :class:`Config`.
        :raises ConfigError: when the result is rejected (e.g. removing a
            queue that ``policy.jobspec.defaults.system.queue`` names).
        """
        segs = _split(dotted)
        if not segs:
            raise InvalidArgument("a key name is required")
        data = copy.deepcopy(self._data)
        node = data
        for seg in segs[:-1]:
            node = node.get(seg) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(segs[-1], None)
        origins = {path: src for path, src in self._origins.items()
                   if path[:len(segs)] != tuple(segs)}
        _validate(data, origins, self._schema)
        return Config._trusted(data, origins, self._schema, self._path)

    def __eq__(self, other):
        if not isinstance(other, Config):
            return NotImplemented
        return self._schema == other._schema and self._data == other._data

    def __hash__(self):
        return hash((self._schema,
                     json.dumps(self._data, sort_keys=True, default=str)))

    def __repr__(self):
        where = f" from {self._path}" if self._path else ""
        return f"<Config {self._schema}{where}: {sorted(self._data)}>"


_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "real": lambda v: isinstance(v, float),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def parse_duration_key(config, dotted, default=_MISSING):
    """Read a duration key as seconds: an FSD string or a plain number.

    Most flux keys take FSD strings only (the schema enforces that); this
    helper also takes numbers of seconds, as flux's perilog
    ``kill-timeout`` and broker attributes do, so services have one way to
    read any duration.

    :param config: a :class:`Config`.
    :param dotted: the key; its schema default applies when absent.
    :param default: value used when the key is absent (FSD or number).
    :returns: seconds as a float (``math.inf`` for ``"inf"``).
    :raises NotFound: when the key is absent with no default.
    :raises ConfigError: when the value is neither a valid FSD nor a
        non-negative number; the message names the file and key.
    """
    value = config.get(dotted, default)
    where = ": ".join(p for p in (config.source_of(dotted), dotted) if p)
    if isinstance(value, str):
        from fluxd.formats.fsd import FSDError, parse_fsd
        try:
            return parse_fsd(value)
        except FSDError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isnan(value) or value < 0:
            raise ConfigError(f"{where}: duration must be >= 0, got {value}")
        return float(value)
    raise ConfigError(f"{where}: expected FSD string or number, got "
                      f"{type_name(value)}")


# imported last: these helpers read Config objects through their methods
from fluxd._config_notes import (  # noqa: E402
    config_notes, restart_changes, unknown_tables)
