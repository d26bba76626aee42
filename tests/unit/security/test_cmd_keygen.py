"""Tests for :mod:`fluxd.cli.cmd_keygen` (``flux keygen``), in-process."""

import os
import socket
import stat
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.main import COMMANDS
from fluxd.security.keys import load_cluster_cert
from fluxd.testing.cli import run_flux


class KeygenCommandTests(SynchronousTestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-keygen-")
        self.path = os.path.join(self.dir, "curve.cert")
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def assertFailsCleanly(self, argv, message):
        result = run_flux(["keygen", *argv])
        self.assertEqual((result.rc, result.out, result.err),
                         (1, "", f"flux-keygen: {message}\n"))

    def test_registered(self):
        self.assertEqual(COMMANDS["keygen"][0], "fluxd.cli.cmd_keygen")
        self.assertIn(" keygen ", run_flux(["help"]).out)

    def test_writes_certificate(self):
        result = run_flux(["keygen", "--name=cluster", "--meta", "site=lab,x",
                           "--meta=site=ignored,rack=4", self.path])
        self.assertEqual((result.rc, result.out, result.err), (0, "", ""))
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        cert = load_cluster_cert(self.path)
        self.assertEqual(cert.name, "cluster")
        meta = dict(cert.metadata)
        self.assertEqual((meta["site"], meta["x"], meta["rack"]),
                         ("lab", "", "4"))
        self.assertEqual(meta["keygen.userid"], str(os.getuid()))
        self.assertEqual(meta["keygen.hostname"], socket.gethostname())
        self.assertRegex(meta["keygen.time"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")

    def test_short_name_option(self):
        self.assertEqual(run_flux(["keygen", "-n", "c2", self.path]).rc, 0)
        self.assertEqual(load_cluster_cert(self.path).name, "c2")

    def test_overwrites_like_flux(self):
        self.assertEqual(run_flux(["keygen", "-n", "a", self.path]).rc, 0)
        first = load_cluster_cert(self.path)
        self.assertEqual(run_flux(["keygen", "-n", "a", self.path]).rc, 0)
        self.assertNotEqual(load_cluster_cert(self.path).der, first.der)

    def test_without_path_warns(self):
        result = run_flux(["keygen", "-n", "a"])
        self.assertEqual((result.rc, result.out, result.err),
                         (0, "", "flux-keygen: WARNING: add PATH argument to "
                          "save generated certificate\n"))
        self.assertEqual(os.listdir(self.dir), [])

    def test_bad_input(self):
        self.assertFailsCleanly(["a", "b"], "unrecognized arguments: b")
        self.assertFailsCleanly(["--bogus", self.path],
                                "unrecognized arguments: --bogus")
        self.assertFailsCleanly(["--name"],
                                "argument -n/--name: expected one argument")
        self.assertFailsCleanly(["--name=no way", self.path],
                                "invalid certificate name 'no way': domain "
                                "label contains invalid character ' ' (0x20)")
        self.assertFailsCleanly(["--meta", "a b=1", self.path],
                                "invalid metadata key 'a b'")
        self.assertFailsCleanly(["--meta", "=1", self.path],
                                "invalid metadata key ''")
        missing = os.path.join(self.dir, "no", "cert")
        self.assertFailsCleanly(["-n", "a", missing],
                                f"open {missing}: No such file or directory")
        self.assertEqual(os.listdir(self.dir), [])

    def test_help(self):
        result = run_flux(["keygen", "--help"])
        self.assertEqual(result.rc, 0)
        self.assertIn("usage: flux-keygen [OPTIONS] [PATH]", result.out)
        self.assertIn("--meta KEYVALS", result.out)
