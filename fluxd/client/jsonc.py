# -*- test-case-name: tests.unit.client.test_jsonc -*-
"""JSON payloads for the ``flux`` command, without ``json``'s start-up.

Importing the ``json`` package compiles regular expressions and pulls in
``re`` and ``enum``: a few milliseconds, a large share of a short ``flux``
command such as ``flux getattr rank``.  The C accelerator behind
``json`` (``_json``) needs none of that, so this module drives it
directly, configured exactly as ``json.loads`` and ``json.dumps(obj,
separators=(",", ":"))`` configure it.  Results are identical (the tests
compare them); where the accelerator is missing this falls back to
``json``.
"""

__all__ = ["dumps", "loads"]

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"),
              "NaN": float("nan")}


class _DecoderSettings:
    """What the C scanner reads from a ``json.JSONDecoder``: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


def _reject(obj):
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON"
                    " serializable")


try:
    from _json import encode_basestring_ascii as _encode_string
    from _json import make_encoder as _make_encoder
    from _json import make_scanner as _make_scanner
    _scan = _make_scanner(_DecoderSettings())
    _encode = _make_encoder({}, _reject, _encode_string, None, ":", ",",
                            False, False, True)
except (ImportError, TypeError):  # another Python: the json package
    _scan = _encode = None


def _error(message, text, pos):
    from json import JSONDecodeError
    return JSONDecodeError(message, text, pos)


def loads(data):
    """Decode one JSON document, as ``json.loads``.

    :param data: str, or bytes in UTF-8.
    :raises ValueError: (``json.JSONDecodeError``, ``UnicodeDecodeError``)
        when it is not JSON.
    """
    if _scan is None:
        import json
        return json.loads(data)
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) \
        else data
    if text.startswith("\ufeff"):
        raise _error("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        raise _error("Expecting value", text, exc.value) from None
    if text[end:].strip(_WHITESPACE):
        end = len(text) - len(text[end:].lstrip(_WHITESPACE))
        raise _error("Extra data", text, end)
    return value


def dumps(obj):
    """Encode compactly, as ``json.dumps(obj, separators=(",", ":"))``.

    :returns: str (ASCII).
    :raises TypeError: for a value JSON cannot hold.
    :raises ValueError: for a circular reference.
    """
    if _encode is None:
        import json
        return json.dumps(obj, separators=(",", ":"))
    if isinstance(obj, str):
        return _encode_string(obj)
    return "".join(_encode(obj, 0))
