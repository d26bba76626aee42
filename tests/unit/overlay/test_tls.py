"""Tests for :mod:`fluxd.overlay.tls`: mutual TLS pinned to one certificate.

The TLS tests run real OpenSSL handshakes in memory
(``twisted.test.iosim`` pumps between two ``TLSMemoryBIOFactory``
protocols), so they need no sockets and no reactor.
"""

from OpenSSL import SSL
from twisted.internet.interfaces import (
    IHandshakeListener, IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import CertificateOptions
from twisted.internet.task import Clock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from fluxd.overlay.tls import (
    PeerCertificateError, PeerCheck, client_options, server_options)
from fluxd.security.keys import generate_cluster_cert, parse_cluster_cert

CERT = generate_cluster_cert("flux")
OTHER = generate_cluster_cert("flux")


@implementer(IHandshakeListener)
class Recorder(Protocol):
    """Records what the application layer above TLS saw."""

    def __init__(self, greeting=b""):
        self.greeting = greeting
        self.data = b""
        self.handshake = False
        self.lost = None

    def handshakeCompleted(self):
        self.handshake = True
        if self.greeting:
            self.transport.write(self.greeting)

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.lost = reason


def alien(cert=None):
    """Plain Twisted TLS settings: present ``cert`` (if any), check nothing."""
    if cert is None:
        return CertificateOptions()
    certificate, key = cert.to_cryptography()
    return CertificateOptions(privateKey=key, certificate=certificate)


def tls_pair(server_creator, client_creator):
    """Connect a TLS server and client in memory and run the handshake."""
    clock = Clock()
    server_app = Recorder(b"hello from server")
    client_app = Recorder(b"hello from client")
    server_factory = TLSMemoryBIOFactory(
        server_creator, False, Factory.forProtocol(lambda: server_app),
        clock=clock)
    client_factory = TLSMemoryBIOFactory(
        client_creator, True, Factory.forProtocol(lambda: client_app),
        clock=clock)
    client, server, pump = connectedServerAndClient(
        lambda: server_factory.buildProtocol(None),
        lambda: client_factory.buildProtocol(None), clock=clock)
    pump.flush()
    return server_app, client_app


class MutualTLSTests(SynchronousTestCase):

    def test_interfaces(self):
        self.assertTrue(IOpenSSLServerConnectionCreator.providedBy(
            server_options(CERT)))
        self.assertTrue(IOpenSSLClientConnectionCreator.providedBy(
            client_options(CERT)))

    def test_same_certificate_both_ways(self):
        server, client = tls_pair(server_options(CERT), client_options(CERT))
        self.assertTrue(server.handshake)
        self.assertTrue(client.handshake)
        self.assertEqual(server.data, b"hello from client")
        self.assertEqual(client.data, b"hello from server")
        self.assertIsNone(server.lost)
        self.assertIsNone(client.lost)

    def test_loaded_certificate_works_with_generated_one(self):
        loaded = parse_cluster_cert(CERT.to_pem())
        server, client = tls_pair(server_options(CERT), client_options(loaded))
        self.assertEqual((server.data, client.data),
                         (b"hello from client", b"hello from server"))

    def assertRefused(self, server, client):
        """Both ends lost the connection and no data crossed it."""
        self.assertIsNotNone(server.lost)
        self.assertIsNotNone(client.lost)
        self.assertEqual((server.data, client.data), (b"", b""))
        self.assertFalse(server.handshake)

    def test_other_keygen_refused_by_both(self):
        # each side pins its own certificate: the client refuses the
        # server's before it would send its own
        server, client = tls_pair(server_options(CERT), client_options(OTHER))
        self.assertRefused(server, client)
        self.assertFalse(client.handshake)
        client.lost.trap(PeerCertificateError)
        self.assertIn(f"is not the cluster certificate {OTHER.fingerprint}",
                      str(client.lost.value))
        self.assertIn(f"peer certificate {CERT.fingerprint}",
                      str(client.lost.value))

    def test_server_refuses_client_with_other_certificate(self):
        server, client = tls_pair(server_options(CERT), alien(OTHER))
        self.assertRefused(server, client)
        server.lost.trap(PeerCertificateError)
        self.assertEqual(str(server.lost.value),
                         f"peer certificate {OTHER.fingerprint} is not the "
                         f"cluster certificate {CERT.fingerprint}")

    def test_server_refuses_client_without_certificate(self):
        server, client = tls_pair(server_options(CERT), alien())
        self.assertRefused(server, client)
        server.lost.trap(SSL.Error)

    def test_client_refuses_server_with_other_certificate(self):
        server, client = tls_pair(alien(OTHER), client_options(CERT))
        self.assertRefused(server, client)
        self.assertFalse(client.handshake)
        client.lost.trap(PeerCertificateError)

    def test_client_checks_the_name(self):
        server, client = tls_pair(server_options(CERT),
                                  client_options(CERT, name="elsewhere"))
        self.assertRefused(server, client)
        client.lost.trap(PeerCertificateError)
        self.assertTrue(str(client.lost.value).startswith(
            "peer certificate does not match name 'elsewhere': "),
            str(client.lost.value))

    def test_plain_tcp_garbage_is_dropped(self):
        clock = Clock()
        server_app = Recorder()
        server_factory = TLSMemoryBIOFactory(
            server_options(CERT), False,
            Factory.forProtocol(lambda: server_app), clock=clock)

        class Garbage(Protocol):
            lost = None

            def connectionMade(self):
                self.transport.write(b"GET / HTTP/1.0\r\n\r\n" + bytes(200))

            def connectionLost(self, reason):
                self.lost = reason

        client, server, pump = connectedServerAndClient(
            lambda: server_factory.buildProtocol(None), Garbage, clock=clock)
        pump.flush()
        self.assertIsNotNone(server_app.lost)
        server_app.lost.trap(SSL.Error)
        self.assertIsNotNone(client.lost)
        self.assertEqual(server_app.data, b"")
        self.assertFalse(server_app.handshake)


class RecheckTests(SynchronousTestCase):
    """The handshake-done guard refuses a peer the verify callback missed."""

    class FakeTLSProtocol:
        reason = None

        def failVerification(self, reason):
            self.reason = reason

    class FakeConnection:
        def __init__(self, peer):
            self.peer = peer

        def get_peer_certificate(self):
            return self.peer

    def info_callback(self, name):
        proto = self.FakeTLSProtocol()
        return proto, PeerCheck(CERT.der, name, proto).info

    def test_no_peer_certificate(self):
        proto, info = self.info_callback(None)
        info(self.FakeConnection(None), SSL.SSL_CB_HANDSHAKE_DONE, 1)
        proto.reason.trap(PeerCertificateError)
        self.assertEqual(str(proto.reason.value),
                         "peer presented no certificate")

    def test_other_and_same_certificate(self):
        from OpenSSL import crypto
        other = crypto.X509.from_cryptography(OTHER.to_cryptography()[0])
        same = crypto.X509.from_cryptography(CERT.to_cryptography()[0])
        proto, info = self.info_callback("flux")
        info(self.FakeConnection(same), SSL.SSL_CB_HANDSHAKE_DONE, 1)
        self.assertIsNone(proto.reason)
        info(self.FakeConnection(other), SSL.SSL_CB_LOOP, 1)   # not done yet
        self.assertIsNone(proto.reason)
        info(self.FakeConnection(other), SSL.SSL_CB_HANDSHAKE_DONE, 1)
        proto.reason.trap(PeerCertificateError)


class PeerCertificatesTests(SynchronousTestCase):
    """``trusted``: each broker of a nested instance presents its own
    certificate and accepts exactly those exchanged through PMI."""

    THIRD = generate_cluster_cert("flux")

    def test_own_certificates_accepted_both_ways(self):
        trusted = [CERT.der, OTHER.der]
        server, client = tls_pair(server_options(CERT, trusted),
                                  client_options(OTHER, trusted=trusted))
        self.assertEqual((server.data, client.data),
                         (b"hello from client", b"hello from server"))

    def test_a_certificate_outside_the_set_is_refused(self):
        trusted = [CERT.der, OTHER.der]
        server, client = tls_pair(server_options(CERT, trusted),
                                  alien(self.THIRD))
        self.assertIsNotNone(server.lost)
        server.lost.trap(PeerCertificateError)
        self.assertIn(f"peer certificate {self.THIRD.fingerprint}",
                      str(server.lost.value))
        server, client = tls_pair(alien(self.THIRD),
                                  client_options(CERT, trusted=trusted))
        self.assertIsNotNone(client.lost)
        client.lost.trap(PeerCertificateError)
