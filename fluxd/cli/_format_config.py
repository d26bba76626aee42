# -*- test-case-name: tests.unit.cli.test_formatting -*-
"""Named output formats of flux's Python commands (spec/cli.md section 0).

A tool ships built-in formats (``default`` and others) and users may add
their own in ``flux-TOOL.{toml,json,yaml}`` files under the XDG config
directories (``$XDG_CONFIG_HOME`` or ``~/.config``, then each of
``$XDG_CONFIG_DIRS`` or ``/etc/xdg``, each with a ``flux/`` subdirectory)::

    # ~/.config/flux/flux-jobs.toml
    [formats.myformat]
    description = "My flux jobs format"
    format = "{id.f58:>12} {name}"

A tool with subcommands keeps one table per subcommand
(``[list.formats.NAME]`` in ``flux-resource.toml``).  ``-o NAME`` picks a
format, ``-o help`` lists them, ``-o get-config=NAME`` prints a config
snippet, and ``FLUX_TOOL[_SUBCOMMAND]_FORMAT_DEFAULT`` (a format or a
name) replaces ``default``.  This is flux-core's ``flux.util.UtilConfig``.
"""

import copy
import glob
import json
import os
import tomllib

from fluxd.errors import InvalidArgument

__all__ = ["FormatConfig", "xdg_searchpath"]


def xdg_searchpath(environ=None):
    """The config directories, highest precedence first.

    :param environ: the environment (default :data:`os.environ`).
    :returns: a list of ``.../flux`` directory paths.
    """
    environ = os.environ if environ is None else environ
    home = environ.get("XDG_CONFIG_HOME") or os.path.join(
        os.path.expanduser("~"), ".config")
    dirs = (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")
    return [os.path.join(d, "flux") for d in [home, *dirs] if d]


def _merge(dst, src):
    """Merge mapping ``src`` into ``dst`` recursively (src wins)."""
    for key, value in src.items():
        if isinstance(dst.get(key), dict) and isinstance(value, dict):
            _merge(dst[key], value)
        else:
            dst[key] = value
    return dst


def _load_file(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        if path.endswith(".toml"):
            return tomllib.loads(data.decode("utf-8"))
        if path.endswith(".json"):
            return json.loads(data)
        import yaml
        return yaml.safe_load(data) or {}
    except Exception as exc:  # any parser's syntax error, one line
        message = " ".join(str(exc).split())
        raise InvalidArgument(f"{path}: {message}") from None


class FormatConfig:
    """The named formats of one tool (or one subcommand of a tool).

    :param name: the tool, e.g. ``flux-jobs``: config files are
        ``NAME.toml`` etc., the environment variable is derived from it.
    :param builtin_formats: format name -> ``{"description", "format"}``;
        with ``subcommand``, subcommand -> such a mapping.
    :param subcommand: the subcommand whose formats to use, or None.
    :param environ: the environment (default :data:`os.environ`).
    :param searchpath: config directories, highest precedence first
        (default :func:`xdg_searchpath`).
    """

    def __init__(self, name, builtin_formats, subcommand=None, *,
                 environ=None, searchpath=None):
        self.name = name
        self.subcommand = subcommand
        self.environ = os.environ if environ is None else environ
        self.searchpath = (xdg_searchpath(self.environ)
                           if searchpath is None else list(searchpath))
        if subcommand is None:
            self._builtins = {None: builtin_formats}
            self.config = {"formats": copy.deepcopy(builtin_formats)}
        else:
            self._builtins = dict(builtin_formats)
            self.config = {sub: {"formats": copy.deepcopy(formats)}
                           for sub, formats in builtin_formats.items()}

    @property
    def formats(self):
        """name -> entry for this tool/subcommand (built-in and user)."""
        table = self.config if self.subcommand is None else \
            self.config.get(self.subcommand, {})
        return table.get("formats", {})

    def load(self):
        """Read the user and system config files (lowest precedence first,
        files of one directory in name order).

        :returns: self.
        :raises InvalidArgument: ``PATH: ...`` for a syntax error, an
            unknown key or an invalid format entry.
        """
        for directory in reversed(self.searchpath):
            pattern = os.path.join(glob.escape(directory), self.name + ".*")
            for path in sorted(glob.glob(pattern)):
                if os.path.splitext(path)[1] not in (".toml", ".json",
                                                     ".yaml"):
                    continue
                conf = _load_file(path)
                self.validate(path, conf)
                _merge(self.config, conf)
        return self

    def validate(self, path, conf):
        """Check one loaded file.

        :raises InvalidArgument: naming ``path`` and the bad key.
        """
        if not isinstance(conf, dict):
            raise InvalidArgument(f"{path}: expected a table")
        if self.subcommand is None:
            self._validate_table(path, conf, None, "")
            return
        for key, value in conf.items():
            if key not in self._builtins:
                raise InvalidArgument(f"{path}: invalid key {key}")
            if not isinstance(value, dict):
                raise InvalidArgument(f"{path}: {key} must be a table")
            self._validate_table(path, value, key, f"{key}.")

    def _validate_table(self, path, table, sub, where):
        for key, value in table.items():
            if key != "formats":
                raise InvalidArgument(f"{path}: invalid key {where}{key}")
            self._validate_formats(path, value, self._builtins[sub])

    @staticmethod
    def _validate_formats(path, formats, builtins):
        if not isinstance(formats, dict):
            raise InvalidArgument(f"{path}: the 'formats' key must be a"
                                  " mapping")
        for name, entry in formats.items():
            if name in builtins:
                raise InvalidArgument(f"{path}: override of builtin format"
                                      f" '{name}' not permitted")
            if not isinstance(entry, dict):
                raise InvalidArgument(f"{path}: 'formats.{name}' must be a"
                                      " mapping")
            if "format" not in entry:
                raise InvalidArgument(f"{path}: formats.{name}: required key"
                                      " 'format' missing")
            if not isinstance(entry["format"], str):
                raise InvalidArgument(f"{path}: formats.{name}: 'format' key"
                                      " must be a string")

    def default_env_name(self):
        """``FLUX_RESOURCE_LIST_FORMAT_DEFAULT`` for flux-resource list."""
        name = self.name.upper().replace("-", "_")
        if self.subcommand:
            name += "_" + self.subcommand.upper().replace("-", "_")
        return name + "_FORMAT_DEFAULT"

    def describe(self, format_name):
        """The text ``-o help`` / ``-o get-config=NAME`` print.

        :param format_name: the ``-o`` argument.
        :returns: the text (ending in a newline), or None when
            ``format_name`` is neither query.
        :raises InvalidArgument: ``--format: No such format X``.
        """
        if format_name == "help":
            lines = ["", f"Configured {self.name} output formats:", ""]
            for name, entry in self.formats.items():
                desc = entry.get("description")
                lines.append(f"  {name:<12} {desc}" if desc is not None
                             else f"  {name:<12}")
            return "\n".join(lines) + "\n"
        if format_name.startswith("get-config="):
            name = format_name.split("=", 1)[1]
            entry = self.formats.get(name)
            if entry is None:
                raise InvalidArgument(f"--format: No such format {name}")
            table = f"{self.subcommand}.formats" if self.subcommand \
                else "formats"
            lines = [f"[{table}.{name}]"]
            if "description" in entry:
                lines.append("description = "
                             + json.dumps(entry["description"],
                                          ensure_ascii=False))
            lines.append("format = "
                         + json.dumps(entry["format"], ensure_ascii=False))
            return "\n".join(lines) + "\n"
        return None

    def get_format_string(self, format_name):
        """Resolve a ``-o`` argument to a format string.

        A value containing ``{`` is a format already.  ``default`` may be
        replaced by the environment variable (a format or a name).

        :raises InvalidArgument: ``--format: No such format X``.
        """
        if "{" in format_name:
            return format_name
        if format_name == "default":
            override = self.environ.get(self.default_env_name())
            if override:
                if "{" in override:
                    return override
                format_name = override
        entry = self.formats.get(format_name)
        if entry is None:
            raise InvalidArgument(f"--format: No such format {format_name}")
        return entry["format"]
