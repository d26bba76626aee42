"""Tests for :mod:`fluxd.client.uri`: the ``local://`` parser shared by
the clients and the broker."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd import broker
from fluxd.client import sync, tx, uri
from fluxd.errors import InvalidArgument, NotConnected


class LocalUriPathTests(SynchronousTestCase):
    def test_path_after_scheme(self):
        self.assertEqual(uri.local_uri_path("local:///run/flux/local"),
                         "/run/flux/local")
        self.assertEqual(uri.local_uri_path("local://rel/sock"), "rel/sock")

    def test_bad_uris(self):
        for text in ("local://", "tcp://x:1", "/run/flux/local", "", None):
            exc = self.assertRaises(InvalidArgument, uri.local_uri_path, text)
            self.assertEqual(str(exc), f"local-uri {text}: expected"
                             " local:///PATH")

    def test_broker_uses_the_same_parser(self):
        self.assertIs(broker.local_uri_path, uri.local_uri_path)


class SocketPathTests(SynchronousTestCase):
    def test_uri_or_bare_path(self):
        self.assertEqual(uri.socket_path("local:///tmp/x"), "/tmp/x")
        self.assertEqual(uri.socket_path("/tmp/x"), "/tmp/x")

    def test_other_schemes_refused(self):
        for text in ("ssh://host/path", "local://", "relative"):
            exc = self.assertRaises(NotConnected, uri.socket_path, text)
            self.assertEqual(str(exc), "Unable to connect to Flux:"
                             f" unsupported URI {text}")

    def test_clients_use_it(self):
        self.assertIs(sync.socket_path, uri.socket_path)
        self.assertIs(tx.socket_path, uri.socket_path)
        self.assertEqual(sync.SYSTEM_URI, "local:///run/flux/local")

    def test_sync_client_refuses_unsupported_uri(self):
        exc = self.assertRaises(NotConnected, sync.Flux, "ssh://host/x")
        self.assertIn("unsupported URI ssh://host/x", str(exc))
