"""Tests for :mod:`fluxd.security.keys`: keygen, writing and loading."""

import datetime
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from fluxd import __version__
from fluxd.errors import InvalidArgument, NotFound, PermissionDenied
from fluxd.security.keys import (
    CertificateError, ClusterCert, generate_cluster_cert, keygen,
    load_cluster_cert, parse_cluster_cert, write_cluster_cert)

# one generation per module: EC keys are cheap, but keep tests quick
CERT = generate_cluster_cert("flux")
OTHER = generate_cluster_cert("flux")
NOW = datetime.datetime(2025, 3, 4, 5, 6, 7).astimezone()


class _TempDir(SynchronousTestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fluxd-tls-")
        self.addCleanup(self._rmtree)

    def _rmtree(self):
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
        os.rmdir(self.dir)

    def path(self, name="cert.pem"):
        return os.path.join(self.dir, name)

    def write(self, data, name="cert.pem", mode=0o600):
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path


class KeygenTests(_TempDir):

    def test_writes_private_pem_with_metadata(self):
        path = self.path()
        cert = keygen(path, hostname="mgmt0", now=NOW, userid=1234)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(cert.path, path)
        self.assertEqual(cert.name, "mgmt0")   # default: the host name
        text = open(path, encoding="utf-8").read()
        self.assertEqual(text.splitlines()[:9], [
            "#   fluxd cluster certificate and **secret** key",
            "#   DO NOT DISTRIBUTE beyond the brokers of this instance",
            "#",
            "#   metadata",
            '#       name = "mgmt0"',
            '#       keygen.hostname = "mgmt0"',
            '#       keygen.time = "2025-03-04T05:06:07"',
            '#       keygen.userid = "1234"',
            f'#       keygen.fluxd-version = "{__version__}"'])
        self.assertEqual(len(re.findall("-----BEGIN CERTIFICATE-----", text)),
                         1)
        self.assertEqual(len(re.findall("-----BEGIN PRIVATE KEY-----", text)),
                         1)
        loaded = load_cluster_cert(path)
        self.assertEqual(loaded, cert)
        self.assertEqual(loaded.meta("keygen.userid"), "1234")
        self.assertEqual(loaded.meta("nosuch", "x"), "x")

    def test_certificate_contents(self):
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        cert = x509.load_der_x509_certificate(CERT.der)
        self.assertEqual(
            cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
            "flux")
        self.assertEqual(cert.issuer, cert.subject)
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        self.assertEqual(san.get_values_for_type(x509.DNSName), ["flux"])
        self.assertIsInstance(cert.public_key(), ec.EllipticCurvePublicKey)
        self.assertEqual(cert.public_key().curve.name, "secp256r1")
        self.assertEqual(cert.not_valid_after_utc.year, 9999)
        self.assertNotEqual(CERT.der, OTHER.der)
        self.assertRegex(CERT.fingerprint, r"^SHA256(:[0-9A-F]{2}){32}$")
        self.assertNotIn("PRIVATE", repr(CERT))

    def test_name_and_meta_precedence(self):
        cert = keygen(None, name="cluster", meta=["name=ignored", "a=1",
                                                  "a=2", "flag",
                                                  "keygen.hostname=x"],
                      hostname="h0", now=NOW, userid=0)
        self.assertEqual(cert.name, "cluster")
        self.assertEqual(cert.metadata[:4], (("name", "cluster"), ("a", "1"),
                                            ("flag", ""),
                                            ("keygen.hostname", "x")))
        self.assertIsNone(cert.path)
        # a name given only through --meta names the certificate (as flux)
        self.assertEqual(keygen(None, meta={"name": "viameta"},
                                hostname="h0").name, "viameta")

    def test_meta_values_round_trip(self):
        cert = keygen(self.path(), meta=[("note", 'quote " and \\ and\nnl'),
                                         ("utf", "caf\u00e9")],
                      hostname="h0")
        loaded = load_cluster_cert(cert.path)
        self.assertEqual(loaded.meta("note"), 'quote " and \\ and\nnl')
        self.assertEqual(loaded.meta("utf"), "caf\u00e9")

    def test_bad_names_and_keys(self):
        for name, why in (("bad name", "domain label contains invalid "
                           "character ' ' (0x20)"),
                          ("-x", "domain label must not start or end with "
                           "'-'"),
                          ("a" * 65, "at most 64 characters")):
            with self.assertRaises(CertificateError) as cm:
                keygen(None, name=name, hostname="h0")
            self.assertEqual(str(cm.exception),
                             f"invalid certificate name '{name}': {why}")
        with self.assertRaises(CertificateError) as cm:
            keygen(None, hostname="my_host")
        self.assertEqual(str(cm.exception),
                         "invalid certificate name 'my_host': domain label "
                         "contains invalid character '_' (0x5f): give a name "
                         "with --name")
        self.assertEqual(keygen(None, name="ok", hostname="my_host").name,
                         "ok")
        for key in ("", "a b", "x#"):
            with self.assertRaises(InvalidArgument) as cm:
                keygen(None, meta=[f"{key}=1"], hostname="h0")
            self.assertEqual(str(cm.exception),
                             f"invalid metadata key '{key}'")

    def test_overwrites_in_place_and_tightens_mode(self):
        path = self.write(b"old secret\n", mode=0o644)
        inode = os.stat(path).st_ino
        cert = keygen(path, hostname="h0")
        st = os.stat(path)
        self.assertEqual((st.st_ino, stat.S_IMODE(st.st_mode)),
                         (inode, 0o600))
        self.assertEqual(load_cluster_cert(path).der, cert.der)

    def test_write_errors(self):
        missing = os.path.join(self.dir, "nodir", "cert.pem")
        with self.assertRaises(NotFound) as cm:
            write_cluster_cert(CERT, missing)
        self.assertEqual(str(cm.exception),
                         f"open {missing}: No such file or directory")
        os.mkdir(self.path("adir"))
        with self.assertRaises(Exception) as cm:
            write_cluster_cert(CERT, self.path("adir"))
        self.assertEqual(str(cm.exception),
                         f"open {self.path('adir')}: Is a directory")


class LoadTests(_TempDir):

    def assertRefused(self, path, exc_type, message, **kwargs):
        with self.assertRaises(exc_type) as cm:
            load_cluster_cert(path, **kwargs)
        self.assertEqual(str(cm.exception), message)
        self.assertNotIn("\n", str(cm.exception))

    def test_missing(self):
        path = self.path("nosuch")
        self.assertRefused(path, NotFound,
                           f"{path}: No such file or directory")

    def test_modes(self):
        for mode, what in ((0o640, "readable"), (0o604, "readable"),
                           (0o644, "readable"), (0o620, "writable"),
                           (0o602, "writable")):
            path = self.write(CERT.to_pem(), mode=mode)
            self.assertRefused(path, PermissionDenied,
                               f"{path}: {what} by group/other: "
                               f"chmod 600 {path}")
        for mode in (0o400, 0o600, 0o700):
            path = self.write(CERT.to_pem(), mode=mode)
            self.assertEqual(load_cluster_cert(path).der, CERT.der)

    def test_chmod_hint_is_quoted(self):
        path = self.write(CERT.to_pem(), name="a b.pem", mode=0o644)
        self.assertRefused(path, PermissionDenied,
                           f"{path}: readable by group/other: "
                           f"chmod 600 '{path}'")

    def test_owner(self):
        path = self.write(CERT.to_pem())
        uid = os.geteuid()
        self.assertRefused(path, PermissionDenied,
                           f"{path}: owned by uid {uid}, not by the user "
                           f"running the broker (uid {uid + 1})",
                           euid=uid + 1)
        if uid == 0:   # a real file of another owner, when we can make one
            os.chown(path, 65534, -1)
            self.assertRefused(path, PermissionDenied,
                               f"{path}: owned by uid 65534, not by the user "
                               "running the broker (uid 0)")

    def test_not_regular(self):
        self.assertRefused(self.dir, CertificateError,
                           f"{self.dir}: not a regular file")
        fifo = self.path("fifo")
        os.mkfifo(fifo, 0o600)
        self.assertRefused(fifo, CertificateError,
                           f"{fifo}: not a regular file")

    def test_symlink_is_followed(self):
        path = self.write(CERT.to_pem())
        link = self.path("link")
        os.symlink(path, link)
        self.assertEqual(load_cluster_cert(link).path, link)

    def test_bad_contents(self):
        from cryptography.hazmat.primitives import serialization
        key = serialization.load_pem_private_key(OTHER.key_pem, None)
        encrypted = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"))
        no_san = _cert_without_san()
        rows = [
            (b"", "not a cluster certificate (no certificate; make one with "
             "flux keygen)"),
            (b"garbage\n" * 10, "not a cluster certificate (no certificate; "
             "make one with flux keygen)"),
            (b"\xff\xfe\x00", "not a cluster certificate (not text)"),
            (CERT.cert_pem, "not a cluster certificate (no private key; make "
             "one with flux keygen)"),
            (CERT.key_pem, "not a cluster certificate (no certificate; make "
             "one with flux keygen)"),
            (CERT.cert_pem + OTHER.key_pem,
             "the private key does not match the certificate"),
            (CERT.cert_pem + OTHER.cert_pem + CERT.key_pem,
             "holds more than one certificate or key"),
            (CERT.cert_pem + encrypted, "the private key is encrypted: make "
             "a new certificate with flux keygen"),
            (no_san, "the certificate has no DNS name (subjectAltName): make "
             "one with flux keygen"),
            (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
             + CERT.key_pem, None),
        ]
        for data, why in rows:
            path = self.write(data)
            with self.assertRaises(CertificateError) as cm:
                load_cluster_cert(path)
            message = str(cm.exception)
            self.assertNotIn("\n", message)
            if why is None:
                self.assertTrue(message.startswith(
                    f"{path}: invalid certificate or key: "), message)
            else:
                self.assertEqual(message, f"{path}: {why}")

    def test_too_large(self):
        path = self.write(b"#" * (1 << 20) + b"\n" + CERT.to_pem())
        self.assertRaises(CertificateError, load_cluster_cert, path)

    def test_parse_without_comments(self):
        cert = parse_cluster_cert(CERT.cert_pem + CERT.key_pem)
        self.assertEqual((cert.name, cert.der, cert.metadata),
                         ("flux", CERT.der, ()))


def _cert_without_san():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


class ClusterCertTests(SynchronousTestCase):

    def test_frozen_and_comparable(self):
        self.assertIsInstance(CERT, ClusterCert)
        with self.assertRaises(AttributeError):
            CERT.name = "x"
        self.assertEqual(parse_cluster_cert(CERT.to_pem()), CERT)
        self.assertNotEqual(CERT, OTHER)

    def test_system_hostname_default(self):
        host = socket.gethostname()
        try:
            cert = keygen(None)
        except CertificateError as exc:   # a host name that is no DNS name
            self.assertIn("give a name with --name", str(exc))
        else:
            self.assertEqual((cert.name, cert.meta("keygen.hostname")),
                             (host, host))


class PurityTests(SynchronousTestCase):

    def test_keygen_imports_neither_twisted_nor_the_overlay(self):
        code = ("import sys, fluxd.security.keys, fluxd.cli.cmd_keygen;"
                " print(sorted({m.split('.')[0] for m in sys.modules"
                " if m.startswith('twisted') or m.startswith('fluxd.overlay')"
                " or m.startswith('OpenSSL')}))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, check=True).stdout
        self.assertEqual(out.strip(), "[]")
