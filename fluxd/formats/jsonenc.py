# -*- test-case-name: tests.unit.formats.test_jsonenc -*-
"""Compact JSON encoders built once.

``json.dumps(obj, separators=(",", ":"), ...)`` builds a new encoder,
and its C scanner, at every call: about 3 microseconds more than the
encoding of a small object itself, paid some fifty times a job on the
broker's hot path (eventlog lines, tree objects, message payloads).
:func:`compact` builds the C encoder once for a set of options and
returns a function giving the same text as ``json.dumps`` with those
options (errors included: ``TypeError`` for what JSON cannot hold,
``ValueError`` for NaN/Infinity when ``allow_nan`` is false); without
the C accelerator it is ``json.dumps`` itself.
"""

import functools
import json
from json import encoder as _encoder

__all__ = ["compact", "dumps"]


def _default(obj):
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON"
                    " serializable")


def compact(sort_keys=False, ensure_ascii=True, allow_nan=True):
    """``fn(obj) -> str``: ``json.dumps(obj, separators=(",", ":"),
    sort_keys=..., ensure_ascii=..., allow_nan=...)``.  The values must
    not hold themselves (no check for cycles: JSON values from JSON text
    never do)."""
    make = _encoder.c_make_encoder
    if make is None:
        return functools.partial(json.dumps, separators=(",", ":"),
                                 sort_keys=sort_keys,
                                 ensure_ascii=ensure_ascii,
                                 allow_nan=allow_nan)
    quote = (_encoder.encode_basestring_ascii if ensure_ascii
             else _encoder.encode_basestring)
    encode = make(None, _default, quote, None, ":", ",", sort_keys, False,
                  allow_nan)
    join = "".join

    def dumps(obj):
        if isinstance(obj, str):
            return quote(obj)      # (the C encoder wants a container)
        return join(encode(obj, 0))
    return dumps


#: ``json.dumps(obj, separators=(",", ":"))``
dumps = compact()
