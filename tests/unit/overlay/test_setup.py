"""Tests for :mod:`fluxd.overlay.setup`: the overlay a config describes."""

import os
import resource
import tempfile

from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import config_from_object
from fluxd.events import EventService
from fluxd.message.router import Router
from fluxd.overlay import setup
from fluxd.overlay.tls import PinnedClientTLS, PinnedServerTLS
from fluxd.security.keys import keygen


class PendingLimitTests(SynchronousTestCase):

    def test_a_quarter_of_the_descriptors_at_most(self):
        self.assertEqual(setup.pending_limits(1024), (256, 64))
        self.assertEqual(setup.pending_limits(524288), (256, 64))
        self.assertEqual(setup.pending_limits(256), (64, 64))
        self.assertEqual(setup.pending_limits(100), (25, 25))
        self.assertEqual(setup.pending_limits(10), (8, 8))


class BuildTests(SynchronousTestCase):

    def build(self, hostname):
        tmp = tempfile.mkdtemp(prefix="fluxd-setup-")
        self.addCleanup(lambda: (os.unlink(cert), os.rmdir(tmp)))
        cert = os.path.join(tmp, "cert.pem")
        keygen(cert, name="flux")
        config = config_from_object({"bootstrap": {
            "curve_cert": cert,
            "hosts": [{"host": f"node{i}", "bind": f"tcp://127.0.0.1:{9000 + i}",
                       "connect": f"tcp://127.0.0.1:{9000 + i}"}
                      for i in range(3)]}})
        layout = setup.plan(config, hostname, {})
        reactor = MemoryReactorClock()
        router = Router(rank=layout.rank, clock=reactor)
        return setup.build_overlay(reactor, layout, config,
                                   {"tbon.torpid_max": "1m"}, router,
                                   EventService(layout.rank, router), "1.0")

    def test_leader(self):
        overlay = self.build("node0")
        self.assertIsInstance(overlay.listen_endpoint, TCP4ServerEndpoint)
        self.assertIsNone(overlay.parent_endpoint)
        self.assertIsInstance(overlay.server_tls, PinnedServerTLS)
        self.assertEqual(overlay.torpid_max, 60.0)
        self.assertEqual(overlay.hello_timeout, setup.HELLO_TIMEOUT)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.assertEqual((overlay.gate.max_pending, overlay.gate.max_per_source),
                         setup.pending_limits(soft))

    def test_follower(self):
        overlay = self.build("node2")
        self.assertIsNone(overlay.listen_endpoint)
        self.assertIsInstance(overlay.parent_endpoint, TCP4ClientEndpoint)
        self.assertIsInstance(overlay.client_tls, PinnedClientTLS)
        self.assertEqual(overlay.client_tls.name, "flux")


class PeerCertsTests(SynchronousTestCase):
    """``tbon.peer-certs``: the certificates a nested instance's brokers
    exchanged through PMI."""

    def test_every_certificate_of_the_file(self):
        from fluxd.security.keys import generate_cluster_cert
        certs = [generate_cluster_cert("flux") for _ in range(3)]
        path = self.mktemp()
        with open(path, "wb") as f:
            for cert in certs:
                f.write(cert.cert_pem)
        self.assertEqual(setup.peer_certs(path), [c.der for c in certs])
        self.assertIsNone(setup.peer_certs(None))

    def test_unusable_files_are_one_line(self):
        from fluxd.errors import InvalidArgument
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("not a certificate\n")
        for where, message in [(path, "tbon.peer-certs: " + path + ": "),
                               ("/nonexistent/x", "No such file")]:
            with self.assertRaises(InvalidArgument) as cm:
                setup.peer_certs(where)
            self.assertIn(message, str(cm.exception))
            self.assertNotIn("\n", str(cm.exception))
