# -*- test-case-name: tests.unit.security.test_sign -*-
"""Signed job requests: RFC 39 J, mechanisms ``none`` and ``munge``.

A J is ``HEADER.PAYLOAD.SIGNATURE``: the header is the RFC 38 key-value
encoding (``key\\0<type>value\\0`` per field: ``version`` ``i1``,
``mechanism`` ``snone``, ``userid`` ``iUID``) in standard base64, the
payload the jobspec bytes in standard base64, and the ``none``
mechanism's signature is the word ``none``.  It proves nothing by itself:
ingest accepts it only from the instance owner, whose userid must match
the header's (flux-security's ``sign-none``).  The ``munge`` mechanism's
signature is a MUNGE credential over ``0x01 || sha256(HEADER.PAYLOAD)``
(:mod:`fluxd.security.munge`); it is valid when munged decodes it, the
hash matches, the credential's uid is the header's userid and its encode
time plus ``[sign] max-ttl`` is not past (munge's own EXPIRED and
REPLAYED are ignored, as flux-security does).

:class:`SignConfig` is flux-security's ``[sign]`` table, read from the
security config directory (:func:`load_sign_config`); :func:`wrap` signs
with its ``default-type`` and :func:`verify` checks ``allowed-types``,
the signature and the TTL.

Stdlib only: the ``flux`` commands sign, the broker and the IMP verify.
"""

import base64
import binascii
import os
import time

from fluxd.errors import InvalidArgument

__all__ = ["wrap_none", "wrap", "unwrap", "verify", "SignError",
           "SignConfig", "load_sign_config", "security_confdir",
           "SECURITY_CONFDIR"]

#: flux-security's compiled-in signing config directory
SECURITY_CONFDIR = "/etc/flux/security/conf.d"
#: the mechanisms fluxd implements (``curve`` is a valid name it refuses)
MECHANISMS = ("none", "munge")


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
    """Decode a J without checking its signature (flux's NOVERIFY).

    :returns: ``(payload_bytes, userid, mechanism)``.
    :raises SignError: for anything that is not a well-formed J of a known
        mechanism.
    """
    fields, parts = _split(signed)
    return _b64decode(parts[1], "payload"), fields["userid"], \
        fields["mechanism"]


def _split(signed):
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
    if mechanism not in MECHANISMS:
        raise SignError(f"sign-unwrap: header mechanism={mechanism} unknown")
    if mechanism == "none" and parts[2] != "none":
        raise SignError("sign-unwrap: mechanism=none requires the"
                        " signature 'none'")
    return {"userid": userid, "mechanism": mechanism}, parts


class SignConfig:
    """flux-security's ``[sign]`` table.

    :param max_ttl: seconds a munge-signed J stays valid after signing.
    :param default_type: the mechanism :func:`wrap` uses.
    :param allowed_types: the mechanisms :func:`verify` accepts.
    :param munge_socket: munged's socket (``[sign.munge] socket-path``),
        None for libmunge's default.
    :raises SignError: for values flux-security refuses.
    """

    def __init__(self, max_ttl, default_type, allowed_types,
                 munge_socket=None):
        if not isinstance(max_ttl, int) or isinstance(max_ttl, bool) \
                or max_ttl <= 0:
            raise SignError("sign: max-ttl should be greater than zero")
        allowed = tuple(allowed_types)
        if not allowed:
            raise SignError("sign: allowed-types array is empty")
        for name in (*allowed, default_type):
            if name not in MECHANISMS and name != "curve":
                raise SignError(f"sign: unknown mechanism={name}")
        self.max_ttl = max_ttl
        self.default_type = default_type
        self.allowed_types = allowed
        self.munge_socket = munge_socket
        self._munge = None

    @classmethod
    def single_user(cls):
        """The config without a security directory: ``none`` only (today's
        single-user instance)."""
        return cls(1209600, "none", ("none",))

    def munge(self):
        """The :class:`fluxd.security.munge.Munge` of this config."""
        if self._munge is None:
            from fluxd.security.munge import Munge, MungeError
            try:
                self._munge = Munge(self.munge_socket)
            except MungeError as exc:
                raise SignError(f"sign-munge-init: {exc}") from None
        return self._munge


def security_confdir(environ=os.environ):
    """The signing config directory of the ``flux`` commands and the
    broker: ``FLUXD_SECURITY_CONF_DIR`` or :data:`SECURITY_CONFDIR`.
    (The IMP never takes it from the environment.)"""
    return environ.get("FLUXD_SECURITY_CONF_DIR") or SECURITY_CONFDIR


def load_sign_config(path, *, missing_ok=True):
    """Read ``[sign]`` from the security config directory ``path``.

    :param missing_ok: a missing directory gives
        :meth:`SignConfig.single_user` instead of an error.
    :raises SignError: one line naming the problem.
    """
    if missing_ok and not os.path.exists(path):
        return SignConfig.single_user()
    # (not before: the config machinery is most of a flux run's imports)
    from fluxd.config import load_config
    from fluxd.errors import FluxError, NotFound
    try:
        config = load_config(path, schema="security")
    except NotFound:
        raise SignError(f"sign: {path}: no such directory") from None
    except FluxError as exc:
        raise SignError(f"sign: config error: {exc}") from None
    return sign_config_from_table(config.as_dict().get("sign"))


def sign_config_from_table(table):
    """A :class:`SignConfig` from a decoded ``[sign]`` table (or None)."""
    if not isinstance(table, dict):
        raise SignError("sign: config error: [sign] table missing")
    for key in ("max-ttl", "default-type", "allowed-types"):
        if key not in table:
            raise SignError(f"sign: config error: missing required key"
                            f" '{key}'")
    socket_path = (table.get("munge") or {}).get("socket-path")
    return SignConfig(table["max-ttl"], table["default-type"],
                      table["allowed-types"], socket_path)


def _digest(text):
    import hashlib      # munge only: a flux run signing "none" skips it
    return b"\x01" + hashlib.sha256(text.encode("ascii")).digest()


def wrap(payload, userid, config, mechanism=None):
    """Sign ``payload`` (bytes) as ``userid`` (flux_sign_wrap_as).

    :param mechanism: None for ``config.default_type``.
    :returns: the J string.
    :raises SignError: ``sign-wrap: ...`` or ``sign-munge-sign: ...``.
    """
    mechanism = mechanism or config.default_type
    if mechanism == "none":
        return wrap_none(payload, userid)
    if mechanism != "munge":
        raise SignError(f"sign-wrap: unknown mechanism: {mechanism}")
    from fluxd.security.munge import MungeError
    header = _kv_encode([("version", 1), ("mechanism", "munge"),
                         ("userid", int(userid))])
    text = ".".join([base64.b64encode(header).decode("ascii"),
                     base64.b64encode(payload).decode("ascii")])
    try:
        cred = config.munge().encode(_digest(text))
    except MungeError as exc:
        raise SignError(f"sign-munge-sign: {exc}") from None
    return text + "." + cred


def verify(signed, config, now=time.time, details=None):
    """Decode and check a J (flux_sign_unwrap): its mechanism is allowed,
    and a munge signature is valid, by the header's userid, within
    ``max-ttl``.  A ``none`` signature proves nothing: the caller must
    check that the userid is the requestor's own (and the owner's).

    :param now: seconds since the epoch.
    :param details: a dict that gets ``expires``, the time after which a
        munge-signed J is refused (None for ``none``).
    :returns: ``(payload_bytes, userid, mechanism)``.
    :raises SignError: flux-security's message.
    """
    fields, parts = _split(signed)
    mechanism = fields["mechanism"]
    if mechanism not in config.allowed_types:
        raise SignError(f"sign-unwrap: header mechanism={mechanism}"
                        " not allowed")
    payload = _b64decode(parts[1], "payload")
    expires = None
    if mechanism == "munge":
        from fluxd.security.munge import MungeError
        try:
            data, uid, encoded, _ = config.munge().decode(parts[2])
        except MungeError as exc:
            raise SignError(f"sign-munge-verify: munge_decode: {exc}") \
                from None
        if not data or data[0] != 1:
            raise SignError("sign-munge-verify: unknown hash type")
        if data != _digest(parts[0] + "." + parts[1]):
            raise SignError("sign-munge-verify: SHA256 hash mismatch")
        if uid != fields["userid"]:
            raise SignError("sign-munge-verify: uid mismatch")
        expires = encoded + config.max_ttl
        if expires < now():
            raise SignError("sign-munge-verify: max-ttl exceeded")
    if details is not None:
        details["expires"] = expires
    return payload, fields["userid"], mechanism
