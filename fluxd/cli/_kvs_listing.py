# -*- test-case-name: tests.integration.test_kvs_cli -*-
"""Output of ``flux kvs dir`` and ``flux kvs ls``, as flux-kvs(1) prints it.

``dir`` prints ``key = value`` lines (``key.`` for a directory, ``key ->
target`` or ``key -> ns::target`` for a symlink), each cut to the output
width with ``...`` (at a newline or a non-printable character too)
unless the width is 0.  ``ls`` lays names out in columns like ls(1).
The width is ``-w COLS``, else the terminal's, else ``$COLUMNS``, else 80.
"""

import os
import sys

__all__ = ["window_width", "kv_line", "columns", "write_bytes", "key_at"]


def window_width(option):
    """The output width: the ``-w`` option, the tty, ``$COLUMNS`` or 80."""
    if option is not None and option >= 0:
        return option
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError, AttributeError):
        pass
    try:
        width = int(os.environ.get("COLUMNS", ""))
        if width >= 0:
            return width
    except ValueError:
        pass
    return 80


def _printable(byte):
    return 0x20 <= byte <= 0x7E


def kv_line(key, value, maxcol):
    """One ``dir`` line (bytes, newline included).

    :param key: the full key.
    :param value: the value bytes (a C string: cut at the first NUL).
    :param maxcol: the output width; 0 means no limit.
    """
    if maxcol != 0 and maxcol <= 3:
        maxcol = 0
    nul = value.find(b"\0")
    if nul >= 0:
        value = value[:nul]
    kv = key.encode("utf-8", "surrogateescape") + b" = " + value
    overflow = False
    if maxcol:
        if len(kv) > maxcol - 3:
            kv, overflow = kv[:maxcol - 3], True
        newline = kv.find(b"\n")
        if newline >= 0:
            if newline + 1 < len(kv):
                overflow = True
            kv = kv[:newline]
        for i, byte in enumerate(kv):
            if not _printable(byte):
                kv, overflow = kv[:i], True
                break
    return kv + (b"..." if overflow else b"") + b"\n"


def columns(names, width, col_width=None):
    """Lay ``names`` out in columns (flux-kvs's ``ls`` algorithm).

    :param width: the window width (0: one line, 1: one name per line).
    :param col_width: the column width; default the longest name + 4.
    :returns: the text, newline-terminated (empty for no names).
    """
    if col_width is None:
        col_width = max((len(n) for n in names), default=0) + 4
    out, col, last_len = [], 0, 0
    for name in names:
        if width != 0 and col + col_width > width and col > 0:
            out.append("\n")
            col = 0
        elif last_len > 0:
            out.append(" " * (col_width - last_len))
        out.append(name)
        last_len = len(name)
        col += col_width
    if col > 0:
        out.append("\n")
    return "".join(out)


def write_bytes(data):
    """Write bytes to standard output (text streams get UTF-8 text)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        sys.stdout.flush()
        buffer.write(data)
        buffer.flush()
    else:
        sys.stdout.write(data.decode("utf-8", "replace"))


def key_at(dirkey, name):
    """The key of entry ``name`` in directory ``dirkey``."""
    return name if dirkey == "." else f"{dirkey}.{name}"
