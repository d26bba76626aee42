# -*- test-case-name: tests.unit.test_config_notes -*-
"""What a configuration means to fluxd beyond its validity.

A config that passes the schema may still deserve a word (``spec/config.md``
and issue 14):

- :func:`unknown_tables`: a top-level table the schema does not know is
  kept (it may belong to a site tool), but it is most often a misspelt
  one (``[boostrap]`` starts a size-1 instance quietly), so each gets one
  warning naming the nearest known table;
- :func:`config_notes`: keys fluxd accepts but does not act on, either
  never (``inert``: a warning saying why) or not yet (``later``: an info
  line naming the service that will read them);
- :func:`restart_changes`: the keys whose change needs a broker restart,
  which a reload must refuse.

Pure: no Twisted, so the CLI can use it.
"""

import difflib

from fluxd._config_schema import (
    FOREIGN_TABLES, SCHEMAS, ArrayOf, Either, Table, iter_keys)
from fluxd.errors import NotFound

__all__ = ["unknown_tables", "config_notes", "restart_changes"]

_MISSING = object()


def _where(config, dotted):
    source = config.source_of(dotted)
    return f"{source}: " if source else ""


def unknown_tables(config):
    """One warning line per top-level name the schema does not know.

    :param config: a :class:`fluxd.config.Config`.
    :returns: a list of strings, e.g. ``conf.d/a.toml: [boostrap]: unknown
        table, ignored (did you mean [bootstrap]?)``.
    """
    root = SCHEMAS[config.schema]
    known = sorted(root.fields)
    lines = []
    for name, value in config.as_dict().items():
        if name in root.fields or name in FOREIGN_TABLES:
            continue
        what = "table" if isinstance(value, dict) else "key"
        text = f"{_where(config, name)}[{name}]: unknown {what}, ignored"
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if near:
            text += f" (did you mean [{near[0]}]?)"
        lines.append(text)
    return lines


def _walk(node, value, path, found):
    """Collect ``(dotted, node)`` for marked nodes present in ``value``."""
    if node is None:
        return
    if node.later is not None or node.inert is not None:
        found.append((".".join(path), node))
    if isinstance(node, Either):
        for option in node.options:
            if option.accepts(value):
                _walk(option, value, path, found)
                return
        return
    if isinstance(node, Table) and isinstance(value, dict):
        for key, item in value.items():
            _walk(node.fields.get(key, node.extra), item, path + [key], found)
    elif isinstance(node, ArrayOf) and isinstance(value, list):
        for item in value:
            _walk(node.item, item, path, found)


def config_notes(config):
    """The keys of ``config`` fluxd accepts without acting on them.

    :returns: ``[(level, text)]`` with level ``warn`` for a key that has no
        effect in fluxd (and why) and ``info`` for a table read by a
        service fluxd does not have yet; one line per key or table, in
        file order.
    """
    found = []
    _walk(SCHEMAS[config.schema], config.as_dict(), [], found)
    notes, seen = [], set()
    for dotted, node in found:
        if dotted in seen:
            continue
        seen.add(dotted)
        where = _where(config, dotted)
        name = f"[{dotted}]" if isinstance(node, Table) else dotted
        if node.inert is not None:
            notes.append(("warn", f"{where}{name}: has no effect in fluxd"
                                  f" ({node.inert})"))
        else:
            notes.append(("info", f"{where}{name}: not used until fluxd"
                                  f" has {node.later}"))
    return notes


def _value(config, dotted):
    try:
        return config.get(dotted)
    except NotFound:
        return _MISSING


def restart_changes(old, new):
    """The keys whose value differs between two configs and that only a
    broker restart can change (schema ``restart``).

    Values are compared as the services read them: an absent key counts
    as its schema default.  A changed table is named once, not its keys.

    :returns: dotted names, in schema order.
    """
    changed = []
    for dotted, node in iter_keys(SCHEMAS[new.schema]):
        if not node.restart or "[]" in dotted or "*" in dotted:
            continue
        if any(dotted.startswith(prefix + ".") for prefix in changed):
            continue
        if _value(old, dotted) != _value(new, dotted):
            changed.append(dotted)
    return changed
