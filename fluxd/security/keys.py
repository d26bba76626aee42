# -*- test-case-name: tests.unit.security.test_keys -*-
"""The cluster certificate: generating, writing and loading it.

Flux secures its overlay with one ZeroMQ CURVE certificate shared by every
broker of a system instance (admin guide, "Configuring the Network
Certificate"; ``spec/broker.md`` section 5, ``flux keygen``).  fluxd keeps
that model over TLS (``DESIGN.md``, Overlay): ``flux keygen`` writes ONE
self-signed certificate and its private key, every broker presents it, and
a broker accepts a peer only if the peer presents that very certificate
(:mod:`fluxd.overlay.tls` does the pinning).

The file (mode 0600, PEM) holds the certificate and the key, preceded by
comment lines that record its metadata the way flux's CURVE certificate
does (``name``, ``keygen.hostname``, ``keygen.time``, ``keygen.userid``,
``keygen.fluxd-version`` and any ``--meta`` pairs)::

    #   fluxd cluster certificate and **secret** key
    #   DO NOT DISTRIBUTE beyond the brokers of this instance
    #
    #   metadata
    #       name = "mgmt0"
    #       keygen.hostname = "mgmt0"
    ...
    -----BEGIN CERTIFICATE-----
    ...
    -----BEGIN PRIVATE KEY-----

The key is EC P-256; the name (``--name``, by default the host name, as
flux's) is the subject common name and the only subjectAltName DNS
entry.  The certificate never expires (notAfter 9999-12-31, RFC 5280's
"no well-defined expiration"), as a CURVE key does not.

Loading refuses, with one line, a file that is missing, unreadable, not a
certificate and matching key, readable or writable by group or other, or
not owned by the user running the broker.

Pure: ``cryptography`` only, no Twisted and nothing from
:mod:`fluxd.overlay`, so ``flux keygen`` starts quickly.
"""

import datetime
import hashlib
import json
import os
import re
import shlex
import socket
import stat
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fluxd import __version__
from fluxd.errors import (
    InvalidArgument, NotFound, PermissionDenied, from_errno)
from fluxd.security.names import validate_domain_name

__all__ = [
    "ClusterCert", "CertificateError", "fingerprint", "generate_cluster_cert", "keygen", "load_cluster_cert",
    "parse_cluster_cert", "write_cluster_cert",
]

#: A cluster certificate file is a few hundred bytes; refuse anything huge.
MAX_FILE_SIZE = 1 << 20
#: The subject common name is limited to 64 characters (RFC 5280).
MAX_NAME_LENGTH = 64

_NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59,
                               tzinfo=datetime.timezone.utc)
_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_META_LINE = re.compile(r'^#\s+([^\s="#]+) = (".*")\s*$')
_META_KEY = re.compile(r'[^\s="#]+')
_KEY_BLOCKS = ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")

_HEADER = """\
#   fluxd cluster certificate and **secret** key
#   DO NOT DISTRIBUTE beyond the brokers of this instance
#
#   metadata
"""


class CertificateError(InvalidArgument):
    """invalid cluster certificate"""


def fingerprint(der):
    """``SHA256:AB:CD:...`` of a DER certificate (for logs and errors)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return "SHA256:" + ":".join(digest[i:i + 2]
                                for i in range(0, len(digest), 2))


@dataclass(frozen=True)
class ClusterCert:
    """A cluster certificate and its key, as loaded or generated.

    :ivar name: the DNS name in the certificate (service identity).
    :ivar der: the certificate, DER encoded: what peers must present.
    :ivar metadata: ``((key, value), ...)`` from the file's comments.
    :ivar path: the file it was loaded from or written to, or None.
    """

    name: str
    der: bytes = field(repr=False)
    cert_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)
    metadata: tuple = ()
    path: object = None

    @property
    def fingerprint(self):
        """``SHA256:AB:CD:...`` of the certificate (for logs)."""
        return fingerprint(self.der)

    def meta(self, key, default=None):
        """One metadata value (e.g. ``keygen.time``), or ``default``."""
        for k, v in self.metadata:
            if k == key:
                return v
        return default

    def to_pem(self):
        """The file contents: metadata comments, certificate, key."""
        lines = [_HEADER]
        for key, value in self.metadata:
            lines.append(f"#       {key} = "
                         f"{json.dumps(value, ensure_ascii=False)}\n")
        text = "".join(lines).encode("utf-8")
        return text + self.cert_pem + self.key_pem

    def to_cryptography(self):
        """The certificate and key as ``cryptography`` objects.

        :returns: ``(x509.Certificate, private key)``.
        """
        return (x509.load_der_x509_certificate(self.der),
                serialization.load_pem_private_key(self.key_pem, None))


# -- generating ------------------------------------------------------------


def _check_name(name):
    if not isinstance(name, str):
        raise CertificateError("certificate name must be a string")
    if len(name) > MAX_NAME_LENGTH:
        raise CertificateError(f"invalid certificate name '{name}': at most "
                               f"{MAX_NAME_LENGTH} characters")
    reason = validate_domain_name(name)
    if reason is not None:
        raise CertificateError(f"invalid certificate name '{name}': {reason}")


def generate_cluster_cert(name, metadata=(), *, now=None):
    """Make a new self-signed cluster certificate and key in memory.

    ``flux start --test-size`` uses this directly; :func:`keygen` adds the
    keygen metadata and writes the file.

    :param name: a DNS name for the subject CN and subjectAltName.
    :param metadata: ``(key, value)`` pairs recorded in the file's
        comments (a ``name`` pair is forced to ``name``).
    :param now: an aware datetime for notBefore (default: now).
    :returns: a :class:`ClusterCert` (``path`` None).
    :raises CertificateError: when ``name`` is not a valid DNS name.
    """
    _check_name(name)
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        # a day of slack for brokers whose clocks lag the keygen host's
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                       critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH,
             ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    meta = [("name", name)] + [(k, v) for k, v in metadata if k != "name"]
    return ClusterCert(
        name=name,
        der=cert.public_bytes(serialization.Encoding.DER),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
        metadata=tuple(meta))


def _meta_pairs(meta):
    if meta is None:
        return []
    items = meta.items() if isinstance(meta, dict) else meta
    pairs = []
    for item in items:
        if isinstance(item, str):
            key, _, value = item.partition("=")
        else:
            key, value = item
        if not isinstance(key, str) or not _META_KEY.fullmatch(key):
            raise InvalidArgument(f"invalid metadata key '{key}'")
        pairs.append((key, str(value)))
    return pairs


def keygen(path=None, name=None, meta=(), *, hostname=None, now=None,
           userid=None):
    """Generate the cluster certificate as ``flux keygen`` does.

    Metadata follows flux's rule that the first value set for a key wins:
    ``name`` (``--name``) first, then the ``meta`` pairs in order, then
    the defaults ``name`` = ``keygen.hostname`` = this host's name,
    ``keygen.time`` (local ISO 8601), ``keygen.userid`` and
    ``keygen.fluxd-version``.  So ``meta=[("name", "x")]`` also names the
    certificate, and ``--name`` beats a ``name=`` in ``meta``.

    :param path: where to write it (see :func:`write_cluster_cert`), or
        None to only generate it.
    :param name: the certificate name, or None for the final ``name``
        metadata value (by default the host name).
    :param meta: ``"KEY=VALUE"`` strings (``"KEY"`` alone means an empty
        value, as in flux), ``(key, value)`` pairs, or a dict.
    :param hostname: this host's name (default ``socket.gethostname()``).
    :param now: a datetime for ``keygen.time`` and notBefore.
    :param userid: for ``keygen.userid`` (default ``os.getuid()``).
    :returns: the :class:`ClusterCert`.
    :raises CertificateError: for an invalid name (a host name that is not
        a valid DNS name needs ``--name``).
    :raises InvalidArgument: for an invalid metadata key.
    :raises FluxError: when the file cannot be written.
    """
    if hostname is None:
        hostname = socket.gethostname()
    if now is None:
        now = datetime.datetime.now().astimezone()
    if userid is None:
        userid = os.getuid()
    # flux's meta_set(): the first value given for a key is kept
    values = {}
    if name is not None:
        values["name"] = name
    for key, value in _meta_pairs(meta):
        values.setdefault(key, value)
    named = "name" in values
    values.setdefault("name", hostname)
    values.setdefault("keygen.hostname", hostname)
    values.setdefault("keygen.time", now.strftime("%Y-%m-%dT%H:%M:%S"))
    values.setdefault("keygen.userid", str(userid))
    values.setdefault("keygen.fluxd-version", __version__)
    cert_name = values.pop("name")
    try:
        _check_name(cert_name)
    except CertificateError as exc:
        if named:
            raise
        raise CertificateError(f"{exc}: give a name with --name") from None
    cert = generate_cluster_cert(cert_name, list(values.items()),
                                 now=now.astimezone(datetime.timezone.utc))
    if path is not None:
        write_cluster_cert(cert, path)
        cert = ClusterCert(cert.name, cert.der, cert.cert_pem, cert.key_pem,
                           cert.metadata, path)
    return cert


def write_cluster_cert(cert, path):
    """Write ``cert`` to ``path``, readable by its owner only.

    Like flux keygen, an existing file is overwritten in place (so its
    owner stays the same, e.g. the ``flux`` user's file rewritten by
    root).  Unlike flux, an existing regular file's mode is first reduced
    to 0600, before any secret is written into it, so the broker will not
    refuse it afterwards.

    :raises PermissionDenied: when the mode cannot be set (another user's
        file).
    :raises FluxError: ``open PATH: <strerror>`` on other I/O errors.
    """
    data = cert.to_pem()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
                     | os.O_NOCTTY, 0o600)
    except OSError as exc:
        raise from_errno(exc.errno, f"open {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            if stat.S_IMODE(st.st_mode) != 0o600:
                try:
                    os.fchmod(fd, 0o600)
                except OSError as exc:
                    raise PermissionDenied(
                        f"{path}: cannot make it private (chmod 600): "
                        f"{exc.strerror}") from None
            os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise from_errno(exc.errno, f"write {path}: {exc.strerror}") \
            from None
    finally:
        os.close(fd)


# -- loading ---------------------------------------------------------------


def parse_cluster_cert(data, source="<memory>"):
    """Parse the contents of a cluster certificate file.

    :param data: bytes (as :meth:`ClusterCert.to_pem` writes them).
    :param source: the file name used in error messages.
    :returns: a :class:`ClusterCert` (``path`` None).
    :raises CertificateError: ``SOURCE: <why>`` when the data is not one
        certificate with its matching, unencrypted private key and a DNS
        name.
    """
    def bad(why):
        return CertificateError(f"{source}: {why}")

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise bad("not a cluster certificate (not text)") from None
    blocks = {}
    for match in _PEM_BLOCK.finditer(text):
        blocks.setdefault(match.group(1), []).append(match.group(0))
    certs = blocks.pop("CERTIFICATE", [])
    keys = [b for kind in _KEY_BLOCKS for b in blocks.pop(kind, [])]
    if "ENCRYPTED PRIVATE KEY" in blocks:
        raise bad("the private key is encrypted: make a new certificate "
                  "with flux keygen")
    if not certs:
        raise bad("not a cluster certificate (no certificate; make one "
                  "with flux keygen)")
    if not keys:
        raise bad("not a cluster certificate (no private key; make one "
                  "with flux keygen)")
    if len(certs) > 1 or len(keys) > 1:
        raise bad("holds more than one certificate or key")
    try:
        cert = x509.load_pem_x509_certificate(certs[0].encode("ascii"))
        key = serialization.load_pem_private_key(keys[0].encode("ascii"),
                                                 None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise bad(f"invalid certificate or key: {reason}") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != \
            cert.public_key().public_bytes(der, spki):
        raise bad("the private key does not match the certificate")
    try:
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if not names:
        raise bad("the certificate has no DNS name (subjectAltName): make "
                  "one with flux keygen")
    metadata = []
    for line in text.split("-----BEGIN", 1)[0].splitlines():
        match = _META_LINE.match(line)
        if match:
            try:
                value = json.loads(match.group(2))
            except ValueError:
                continue
            if isinstance(value, str):
                metadata.append((match.group(1), value))
    return ClusterCert(
        name=names[0], der=cert.public_bytes(der),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=keys[0].encode("ascii") + b"\n", metadata=tuple(metadata))


def _read_private(fd, path, euid):
    """Check an open certificate file's type, mode and owner; read it."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise CertificateError(f"{path}: not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    fix = f"chmod 600 {shlex.quote(path)}"
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        raise PermissionDenied(f"{path}: readable by group/other: {fix}")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionDenied(f"{path}: writable by group/other: {fix}")
    if euid is None:
        euid = os.geteuid()
    if st.st_uid != euid:
        raise PermissionDenied(
            f"{path}: owned by uid {st.st_uid}, not by the user running "
            f"the broker (uid {euid})")
    if st.st_size > MAX_FILE_SIZE:
        raise CertificateError(f"{path}: too large for a cluster "
                               "certificate")
    chunks = []
    size = 0
    try:
        while size <= MAX_FILE_SIZE:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise from_errno(exc.errno, f"{path}: {exc.strerror}") from None
    if size > MAX_FILE_SIZE:
        raise CertificateError(f"{path}: too large for a cluster "
                               "certificate")
    return b"".join(chunks)


def load_cluster_cert(path, *, euid=None):
    """Load the cluster certificate a broker will present.

    :param path: ``bootstrap.curve_cert``.
    :param euid: the uid that must own the file (default: the running
        user's effective uid).
    :returns: a :class:`ClusterCert` with ``path`` set.
    :raises NotFound: ``PATH: No such file or directory``.
    :raises PermissionDenied: when it cannot be read, is readable or
        writable by group/other (``PATH: readable by group/other: chmod
        600 PATH``), or is not owned by the running user.
    :raises CertificateError: when it is not a regular file, too large,
        or not a certificate with its key (see :func:`parse_cluster_cert`).
    """
    try:
        # O_NONBLOCK: a FIFO must not hang the broker; checked below
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY
                     | os.O_NONBLOCK)
    except FileNotFoundError:
        raise NotFound(f"{path}: No such file or directory") from None
    except PermissionError:
        raise PermissionDenied(f"{path}: Permission denied") from None
    except OSError as exc:
        raise from_errno(exc.errno, f"{path}: {exc.strerror}") from None
    try:
        data = _read_private(fd, path, euid)
    finally:
        os.close(fd)
    cert = parse_cluster_cert(data, path)
    return ClusterCert(cert.name, cert.der, cert.cert_pem, cert.key_pem,
                       cert.metadata, path)
