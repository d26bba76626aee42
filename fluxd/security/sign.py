# -*- test-case-name: tests.unit.security.test_sign -*-
"""Signed job requests: RFC 39 J, with the ``none`` mechanism.

A J is ``HEADER.PAYLOAD.SIGNATURE``: the header is the RFC 38 key-value
encoding (``key\\0<type>value\\0`` per field: ``version`` ``i1``,
``mechanism`` ``snone``, ``userid`` ``iUID``) in standard base64, the
payload the jobspec bytes in standard base64, and the ``none``
mechanism's signature is the word ``none``.  It proves nothing by itself:
ingest accepts it only from the instance owner, whose userid must match
the header's (flux-security's ``sign-none``).  The ``munge`` mechanism
comes with the multi-user instance.

Pure Python: the ``flux`` commands sign, the broker verifies.
"""

import base64
import binascii

from fluxd.errors import InvalidArgument

__all__ = ["wrap_none", "unwrap", "SignError"]


class SignError(InvalidArgument):
    """A J that cannot be decoded (EINVAL)."""


def _kv_encode(fields):
    parts = []
    for key, value in fields:
        if isinstance(value, bool):
            raise TypeError("booleans are not used in J headers")
        kind = "i" if isinstance(value, int) else "s"
        parts.append(f"{key}\0{kind}{value}\0")
    return "".join(parts).encode("utf-8")


def _kv_decode(raw):
    if not raw.endswith(b"\0"):
        raise SignError("sign-unwrap: header is not NUL terminated")
    items = raw[:-1].split(b"\0")
    if len(items) % 2:
        raise SignError("sign-unwrap: header has a key without a value")
    fields = {}
    for key, value in zip(items[::2], items[1::2]):
        try:
            key, value = key.decode("utf-8"), value.decode("utf-8")
        except UnicodeDecodeError:
            raise SignError("sign-unwrap: header is not UTF-8") from None
        if not value:
            raise SignError(f"sign-unwrap: header field {key} has no type")
        kind, text = value[0], value[1:]
        if kind == "i":
            if not text.isdigit() or not text.isascii():
                raise SignError(f"sign-unwrap: header field {key} is not"
                                " an integer")
            fields[key] = int(text)
        elif kind == "s":
            fields[key] = text
        else:
            raise SignError(f"sign-unwrap: header field {key} has unknown"
                            f" type '{kind}'")
    return fields


def _b64decode(text, what):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignError(f"sign-unwrap: {what} is not valid base64") from None


def wrap_none(payload, userid):
    """Sign ``payload`` (bytes) with the ``none`` mechanism as ``userid``.

    :returns: the J string.
    """
    header = _kv_encode([("version", 1), ("mechanism", "none"),
                         ("userid", int(userid))])
    return ".".join([base64.b64encode(header).decode("ascii"),
                     base64.b64encode(payload).decode("ascii"), "none"])


def unwrap(signed):
    """Decode a J.

    :returns: ``(payload_bytes, userid, mechanism)``.
    :raises SignError: for anything that is not a well-formed J of a known
        mechanism (only ``none`` is known here).
    """
    if not isinstance(signed, str):
        raise SignError("sign-unwrap: J must be a string")
    parts = signed.split(".")
    if len(parts) != 3:
        raise SignError("sign-unwrap: J must have three parts"
                        " (HEADER.PAYLOAD.SIGNATURE)")
    fields = _kv_decode(_b64decode(parts[0], "header"))
    if fields.get("version") != 1:
        raise SignError("sign-unwrap: header version must be 1")
    # flux-core's built-in signer writes "mech"; flux-security "mechanism"
    mechanism = fields.get("mechanism", fields.get("mech"))
    userid = fields.get("userid")
    if not isinstance(mechanism, str):
        raise SignError("sign-unwrap: header has no mechanism")
    if not isinstance(userid, int):
        raise SignError("sign-unwrap: header has no userid")
    if mechanism != "none":
        raise SignError(f"sign-unwrap: unknown mechanism={mechanism}")
    if parts[2] != "none":
        raise SignError("sign-unwrap: mechanism=none requires the"
                        " signature 'none'")
    return _b64decode(parts[1], "payload"), userid, mechanism
