# -*- test-case-name: tests.unit.overlay.test_tls -*-
"""Mutual TLS pinned to the cluster certificate.

Every broker presents the one cluster certificate
(:mod:`fluxd.security.keys`) and accepts a peer only if the peer presents
that very certificate (compared byte for byte, DER) and proves it holds
the key (the TLS handshake's signature).  No certificate authority is
involved: the pin is the trust.  The connecting side also checks, with
``service_identity``, that the certificate carries the expected name.

:func:`server_options` and :func:`client_options` make Twisted's
``IOpenSSLServerConnectionCreator`` / ``IOpenSSLClientConnectionCreator``
providers: they work with Twisted's ``TLSMemoryBIOFactory`` and with the
overlay's own TLS framing protocol (:mod:`fluxd.overlay.protocol`), which
both report a refused peer through ``failVerification``.
"""

import hmac

from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL
from service_identity import CertificateError as NoIdentity
from service_identity import VerificationError
from service_identity.cryptography import verify_certificate_hostname
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator, IOpenSSLServerConnectionCreator)
from twisted.internet.ssl import CertificateOptions
from twisted.python.failure import Failure
from zope.interface import implementer

from fluxd.errors import PermissionDenied
from fluxd.security.keys import fingerprint

__all__ = ["PeerCertificateError", "PinnedServerTLS", "PinnedClientTLS",
           "server_options", "client_options"]


class PeerCertificateError(PermissionDenied):
    """peer certificate refused"""


class PeerCheck:
    """The pin check of one TLS connection.

    :meth:`verify` is OpenSSL's verify callback; :meth:`info` is an info
    callback that checks the pin again once the handshake is done, in case
    a handshake completes without calling the verify callback (no peer
    certificate).  The first refusal is reported to the connection's TLS
    protocol through ``failVerification(Failure)``.

    :param der: the pinned certificate, DER, or a collection of them (a
        nested instance: each broker's own, exchanged through PMI).
    :param name: the DNS name the peer's certificate must carry, or None
        (the listening side does not check names).
    :param tls_protocol: the connection's TLS protocol.
    """

    def __init__(self, der, name, tls_protocol):
        self._ders = [der] if isinstance(der, bytes) else list(der)
        self._fingerprint = ", ".join(fingerprint(d) for d in self._ders)
        self._name = name
        self._pending = [tls_protocol]

    def refuse(self, reason):
        """Report ``reason`` once; returns False (refuse) for OpenSSL."""
        if self._pending:
            self._pending.pop().failVerification(
                Failure(PeerCertificateError(reason)))
        return False

    def verify(self, conn, x509, errnum, depth, preverify_ok):
        """OpenSSL's verify callback: True accepts the peer certificate.

        OpenSSL's own verdict (a self-signed certificate it does not trust)
        is deliberately ignored: the pin decides.
        """
        try:
            peer = x509.to_cryptography()
            der = peer.public_bytes(Encoding.DER)
            if not any(hmac.compare_digest(der, pin) for pin in self._ders):
                return self.refuse(f"peer certificate {fingerprint(der)} is "
                                   "not the cluster certificate "
                                   f"{self._fingerprint}")
            if self._name is not None and depth == 0:
                try:
                    verify_certificate_hostname(peer, self._name)
                except (VerificationError, NoIdentity) as exc:
                    return self.refuse(f"peer certificate does not match "
                                       f"name '{self._name}': {exc}")
            return True
        except Exception as exc:  # never let an error escape into OpenSSL
            return self.refuse(f"peer certificate check failed: {exc}")

    def info(self, conn, where, ret):
        """OpenSSL's info callback: check the pin once handshaken."""
        if not where & SSL.SSL_CB_HANDSHAKE_DONE:
            return
        try:
            peer = conn.get_peer_certificate()
        except Exception as exc:  # never let an error escape into OpenSSL
            self.refuse(f"peer certificate check failed: {exc}")
            return
        if peer is None:
            self.refuse("peer presented no certificate")
        else:
            self.verify(conn, peer, 0, 0, False)


class _PinnedTLS:
    """Makes OpenSSL connections that present and demand one certificate.

    :param cert: the :class:`fluxd.security.keys.ClusterCert`.
    :param name: the name the peer's certificate must carry, or None.
    :param trusted: the DER certificates a peer may present (default:
        ``cert`` itself).
    """

    def __init__(self, cert, name=None, trusted=None):
        certificate, key = cert.to_cryptography()
        # Twisted's defaults for protocol versions and ciphers; verification
        # is ours, set per connection below.
        self._context = CertificateOptions(
            privateKey=key, certificate=certificate).getContext()
        self._der = list(trusted) if trusted else cert.der
        self.name = name

    def _connection(self, tls_protocol):
        conn = SSL.Connection(self._context)
        check = PeerCheck(self._der, self.name, tls_protocol)
        conn.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
                        check.verify)
        conn.set_info_callback(check.info)
        return conn


@implementer(IOpenSSLServerConnectionCreator)
class PinnedServerTLS(_PinnedTLS):
    """TLS settings of the listening side (see :func:`server_options`)."""

    def serverConnectionForTLS(self, tlsProtocol):
        """A new server-side ``OpenSSL.SSL.Connection`` for ``tlsProtocol``."""
        return self._connection(tlsProtocol)


@implementer(IOpenSSLClientConnectionCreator)
class PinnedClientTLS(_PinnedTLS):
    """TLS settings of the connecting side (see :func:`client_options`)."""

    def clientConnectionForTLS(self, tlsProtocol):
        """A new client-side ``OpenSSL.SSL.Connection`` (SNI set)."""
        conn = self._connection(tlsProtocol)
        conn.set_tlsext_host_name(self.name.encode("ascii"))
        return conn


def server_options(cert, trusted=None):
    """TLS settings for accepting children: mutual TLS pinned to ``cert``.

    The server presents ``cert``, requires the client's certificate and
    refuses the handshake unless it is ``cert`` itself.  A refused peer's
    ``connectionLost`` reason is a :class:`PeerCertificateError`.

    :param cert: the :class:`fluxd.security.keys.ClusterCert`.
    :param trusted: DER certificates to accept instead of ``cert`` alone.
    :returns: a :class:`PinnedServerTLS`.
    """
    return PinnedServerTLS(cert, trusted=trusted)


def client_options(cert, name=None, trusted=None):
    """TLS settings for connecting to the parent, pinned to ``cert``.

    The client presents ``cert`` (the server demands it), sends the name
    as SNI, and accepts the server only if it presents ``cert`` itself and
    ``service_identity`` finds ``name`` in it.

    With TLS 1.3 a client finishes its handshake before the server has
    checked the client's certificate, so a refused client learns it only
    when the connection drops: wait for the parent's first message before
    treating the link as up.

    :param cert: the :class:`fluxd.security.keys.ClusterCert`.
    :param name: the name to expect (default: ``cert.name``).
    :param trusted: DER certificates to accept instead of ``cert`` alone.
    :returns: a :class:`PinnedClientTLS`.
    """
    return PinnedClientTLS(cert, name if name is not None else cert.name,
                           trusted=trusted)
