# -*- test-case-name: tests.unit.cli.test_formatting -*-
"""The output format mini-language of flux's Python commands.

``flux jobs``, ``flux resource list|status|drain`` and ``flux queue list``
take ``-o FORMAT``: a Python :meth:`str.format` string whose fields name
attributes (or mapping items) of the objects listed, extended as
spec/cli.md section 0 describes (flux-core's ``flux.util.OutputFormat``):

* a header row made of each field's heading, aligned and padded like the
  field (only the alignment and width of the spec are kept);
* ``?:{f}`` drops the column when every row renders empty (``""``, ``0s``,
  ``0.0``, ``0:00:00``, the epoch); ``+:{f:<8}`` widens the column to its
  widest value (heading included, the spec width being the minimum);
  ``?+:`` does both;
* ``sort:KEY[,-KEY]`` in front of the format sorts the rows (``-`` =
  descending);
* conversions and spec suffixes of :mod:`fluxd.cli._fieldformat`.

:class:`Formatter` is generic: a tool gives it the field -> heading map
(which also defines the valid fields) and any objects.  Named formats,
``-o help`` and the user configuration are :class:`FormatConfig`'s job;
:class:`Deduplicator` merges rows that would print alike.

Pure Python: no Twisted.
"""

import copy
import string
import sys

from fluxd.cli._fieldformat import (
    FieldFormatter, FormatSpec, display_width, empty_outputs, lookup_field,
)
from fluxd.cli._format_config import FormatConfig
from fluxd.errors import InvalidArgument

__all__ = ["Formatter", "FormatSpec", "Deduplicator", "AltField",
           "FormatConfig", "FieldFormatter"]

#: prefixes of a field that ask for column filtering / widening
SENTINELS = {"?+:": "both", "?:": "filter", "+:": "maxwidth"}

def _sentinel_of(text):
    """The sentinel a field's leading text ends with, or None."""
    for sentinel in SENTINELS:  # longest first: "?+:" before "+:"
        if text.endswith(sentinel):
            return sentinel
    return None


def _field_tuple(text, field, spec, conv):
    """Rebuild ``text{field!conv:spec}`` (just ``text`` without a field)."""
    if not field:
        return text
    conv = "!" + conv if conv else ""
    spec = ":" + spec if spec else ""
    return f"{text}{{{field}{conv}{spec}}}"


def _parse(fmt):
    try:
        return [[part or "" for part in entry]
                for entry in string.Formatter().parse(fmt)]
    except ValueError as exc:
        raise InvalidArgument(f"Invalid format '{fmt}': {exc}") from None


class _HeaderFormatter(FieldFormatter):
    """Looks a field's heading up by its literal (dotted) name."""

    def get_field(self, field_name, args, kwargs):
        if field_name in kwargs:
            return kwargs[field_name], field_name
        return super().get_field(field_name, args, kwargs)


class Formatter:
    """One parsed output format.

    :param fmt: the format, e.g. ``"{state:>10} ?:{queue:<8} {nodelist}"``,
        optionally starting with ``sort:KEY[,-KEY] ``.
    :param headings: field name -> column heading; only these fields (and
        sort keys) are accepted.  Subclasses may set a class attribute.
    :param prepend: text put before every field when rendering (``"0."``
        makes ``{f}`` mean attribute ``f`` of the first argument).
    :raises InvalidArgument: ``Unknown format field: X``, ``Invalid sort
        key: X`` or a malformed format.
    """

    headings = {}

    def __init__(self, fmt, headings=None, prepend="0."):
        if headings is not None:
            self.headings = dict(headings)
        self.prepend = prepend
        self.format_list = _parse(fmt)
        self.sort_keys = []
        if self.format_list and self.format_list[0][0].startswith("sort:"):
            # The keys end at the first blank; the blanks after them go too.
            text = self.format_list[0][0]
            keys = text.split(None, 1)[0]
            rest = text[len(keys):].lstrip()
            self.format_list[0][0] = rest
            self.set_sort_keys(keys[len("sort:"):])
            fmt = fmt[len(text) - len(rest):]
        self.fmt_orig = fmt
        self._fields = [entry[1] for entry in self.format_list if entry[1]]
        for field in self._fields:
            name = field[2:] if field.startswith("0.") else field
            if name and name not in self.headings:
                raise InvalidArgument(f"Unknown format field: {name}")
        self.fmt = (self.get_format_prepended(prepend,
                                              include_sort_prefix=False)
                    if prepend else fmt)

    @property
    def fields(self):
        """The fields of the format followed by the sort keys, each once,
        in order of appearance."""
        result = []
        for name in self._fields + [key for key, _ in self.sort_keys]:
            if name not in result:
                result.append(name)
        return result

    def set_sort_keys(self, sort_keys):
        """Replace the sort keys (``--sort`` overrides a ``sort:`` prefix).

        :param sort_keys: ``"KEY[,-KEY]..."``; ``-`` sorts descending.
        :raises InvalidArgument: ``Invalid sort key: X`` (not a heading).
        """
        self.sort_keys = []
        for key in sort_keys.split(","):
            key = key.strip()
            reverse = key.startswith("-")
            key = key[1:] if reverse else key
            if key not in self.headings:
                raise InvalidArgument(f"Invalid sort key: {key}")
            self.sort_keys.append((key, reverse))

    def _sort_prefix(self):
        if not self.sort_keys:
            return ""
        keys = [f"-{key}" if rev else key for key, rev in self.sort_keys]
        return "sort:" + ",".join(keys) + " "

    def get_format(self, orig=False, include_sort_prefix=True):
        """:returns: the format (``orig``: as given, else with fields
            prefixed), with the ``sort:`` prefix if asked."""
        fmt = self.fmt_orig if orig else self.fmt
        return (self._sort_prefix() if include_sort_prefix else "") + fmt

    def get_format_prepended(self, prepend, except_fields=None,
                             include_sort_prefix=True,
                             nullify_expansion_sentinel=False):
        """The format with ``prepend`` before every field.

        :param except_fields: fields to leave out; the text before such a
            field stays, minus any ``?:``/``+:``/``?+:`` sentinel.
        :param nullify_expansion_sentinel: turn ``+:{f:<10.10}`` into
            ``{f}`` (the full value, as :class:`Deduplicator` compares).
        :returns: a format string.
        """
        except_fields = except_fields or ()
        out = []
        for text, field, spec, conv in self.format_list:
            sentinel = _sentinel_of(text)
            if field and field in except_fields:
                out.append(text[:-len(sentinel)] if sentinel else text)
                continue
            if field and not field.startswith(prepend):
                field = prepend + field
            if nullify_expansion_sentinel and text.endswith("+:"):
                text, spec = text[:-len(sentinel)], ""
            out.append(_field_tuple(text, field, spec, conv))
        prefix = self._sort_prefix() if include_sort_prefix else ""
        return prefix + "".join(out)

    def copy(self, except_fields=None, nullify_expansion=False):
        """A new formatter of the same class without ``except_fields``.

        :param nullify_expansion: see :meth:`get_format_prepended`.
        """
        fmt = self.get_format_prepended(
            "", except_fields, nullify_expansion_sentinel=nullify_expansion)
        return type(self)(fmt, headings=self.headings, prepend=self.prepend)

    def header_format(self):
        """The format of the header row: every spec cut to alignment and
        width, conversions dropped."""
        out = []
        for text, field, spec, _ in self.format_list:
            spec = FormatSpec(spec)
            out.append(_field_tuple(text, field,
                                    f"{spec.align}{spec.width or ''}", ""))
        return "".join(out)

    def header(self):
        """:returns: the header row (headings formatted like the fields)."""
        return _HeaderFormatter().format(self.header_format(), **self.headings)

    def format(self, obj):
        """Render one object.

        :raises InvalidArgument: for a field the object lacks, or a spec or
            conversion that does not fit its value.
        """
        try:
            return FieldFormatter().format(
                self.get_format(include_sort_prefix=False), obj)
        except (KeyError, AttributeError, IndexError) as exc:
            raise InvalidArgument(f"Invalid format field {exc} for"
                                  f" {type(obj).__name__}") from None

    def filter(self, items, no_header=False):
        """Apply the ``?:``, ``+:`` and ``?+:`` sentinels for ``items``.

        :param items: the objects that will be printed (a sequence).
        :param no_header: leave the headings out of the widest-value count.
        :returns: a new format string (sort prefix kept, sentinels gone).
        """
        entries = []
        for index, (text, field, spec, conv) in enumerate(self.format_list):
            sentinel = _sentinel_of(text) if field else None
            if not sentinel:
                continue
            kind = SENTINELS[sentinel]
            fspec = FormatSpec(spec)
            maxwidth = fspec.width
            if kind != "filter" and not no_header:
                maxwidth = max(maxwidth,
                               display_width(self.headings.get(field, "")))
            # Measure without the spec (a width would make anything look
            # non-empty), but with the strftime part of a datetime spec.
            measure = _field_tuple("", "0." + field,
                                   fspec.prefix[:-2] if fspec.prefix else "",
                                   conv)
            entries.append(dict(index=index, kind=kind, spec=fspec,
                                maxwidth=maxwidth, width=0, fmt=measure))
        if not entries:
            return self.get_format(orig=True)
        formatter, empty = FieldFormatter(), empty_outputs()
        for item in items:
            for entry in entries:
                result = formatter.format(entry["fmt"], item)
                width = 0 if result in empty else display_width(result)
                entry["maxwidth"] = max(entry["maxwidth"], width)
                entry["width"] = max(entry["width"], width)
        format_list = copy.deepcopy(self.format_list)
        remove = set()
        for entry in entries:
            if entry["width"] == 0 and entry["kind"] in ("filter", "both"):
                remove.add(entry["index"])
            elif entry["kind"] in ("maxwidth", "both"):
                entry["spec"].width = entry["maxwidth"]
                format_list[entry["index"]][2] = str(entry["spec"])
        result = []
        for index, (text, field, spec, conv) in enumerate(format_list):
            if index in remove:
                continue
            for sentinel in SENTINELS:
                text = text.replace(sentinel, "")
            result.append(_field_tuple(text, field, spec, conv))
        return self._sort_prefix() + "".join(result)

    def sort_items(self, items):
        """Sort ``items`` (a list, in place) by the sort keys; returns it."""
        for key, reverse in reversed(self.sort_keys):
            items.sort(key=lambda item, key=key: _lookup_path(item, key),
                       reverse=reverse)
        return items

    def render(self, items, no_header=False):
        """The lines :meth:`print_items` prints (without newlines).

        :param items: an iterable of objects.
        :param no_header: leave out the header row.
        :returns: a list of str; rows that render empty or blank are
            skipped, the header never is.
        """
        items = list(items)
        formatter = type(self)(self.filter(items, no_header=no_header),
                               headings=self.headings, prepend=self.prepend)
        items = self.sort_items(items)
        lines = [] if no_header else [formatter.header()]
        for item in items:
            line = formatter.format(item)
            if line and not line.isspace():
                lines.append(line)
        return lines

    def print_items(self, items, no_header=False, out=None):
        """Filter, sort and print ``items`` with a header row.

        :param out: a text stream (default :data:`sys.stdout`).
        """
        out = out or sys.stdout
        for line in self.render(items, no_header=no_header):
            out.write(line + "\n")


def _lookup_path(obj, dotted):
    for name in dotted.split("."):
        obj = lookup_field(obj, name)
    return obj


class Deduplicator:
    """Collects items, merging those whose rendering is the same once the
    ``except_fields`` (counts, lists) are left out.

    :param formatter: the :class:`Formatter` the items will be printed with.
    :param except_fields: fields not compared (e.g. ``nnodes``, ``ranks``).
    :param combine: ``combine(kept, new)`` merges a duplicate into the item
        kept; None simply drops duplicates.
    """

    def __init__(self, formatter, except_fields=None, combine=None):
        self.formatter = formatter.copy(except_fields=except_fields,
                                        nullify_expansion=True)
        self.combine = combine
        self._by_key = {}
        self.items = []

    def append(self, item):
        """Add ``item``, or merge it into an earlier item that renders the
        same."""
        key = self.formatter.format(item)
        kept = self._by_key.get(key)
        if kept is None:
            self._by_key[key] = item
            self.items.append(item)
        elif self.combine is not None:
            self.combine(kept, item)

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


class AltField:
    """A value with a second, ASCII rendering: ``{up}`` gives ``✔``,
    ``{up.ascii}`` gives ``y``.

    :param default: the normal rendering.
    :param ascii: the ASCII one.
    """

    def __init__(self, default, ascii):
        self.default = default
        self.ascii = ascii

    def __str__(self):
        return self.default

    def __format__(self, spec):
        return format(self.default, spec)
