"""RFC 39 J signed with munge, through a real private munged."""

import base64
import os
import time

import pytest
from twisted.trial.unittest import SynchronousTestCase

from fluxd.security.munge import EMUNGE_CRED_REPLAYED, Munge, MungeError
from fluxd.security.sign import (
    SignConfig, SignError, load_sign_config, unwrap, verify, wrap, wrap_none)
from fluxd.testing.munged import MUNGED, private_munged

if MUNGED is None:
    pytest.skip("munged not installed (.ci/run installs the munge package)",
                allow_module_level=True)


class MungeSignTests(SynchronousTestCase):
    def setUp(self):
        self._munged = private_munged()
        self.socket = self._munged.__enter__()
        self.addCleanup(self._munged.__exit__, None, None, None)
        self.config = SignConfig(60, "munge", ("munge",), self.socket)

    def test_munge_round_trip_and_replay(self):
        m = Munge(self.socket)
        cred = m.encode(b"\x01data")
        data, uid, encoded, code = m.decode(cred)
        self.assertEqual((data, uid, code), (b"\x01data", os.getuid(), 0))
        self.assertLessEqual(abs(encoded - time.time()), 5)
        self.assertEqual(m.decode(cred)[3], EMUNGE_CRED_REPLAYED)
        with self.assertRaises(MungeError):
            m.decode(cred[:-6] + "AAAAA:")

    def test_wrap_verify(self):
        signed = wrap(b'{"a":1}', os.getuid(), self.config)
        header = base64.b64decode(signed.split(".")[0])
        self.assertEqual(header, b"version\0i1\0mechanism\0smunge\0userid\0i"
                         + str(os.getuid()).encode() + b"\0")
        self.assertTrue(signed.split(".")[2].startswith("MUNGE:"))
        expect = (b'{"a":1}', os.getuid(), "munge")
        self.assertEqual(verify(signed, self.config), expect)
        # verified twice (munge says REPLAYED: ignored, as flux-security)
        self.assertEqual(verify(signed, self.config), expect)
        self.assertEqual(unwrap(signed), expect)

    def check_refused(self, signed, message, config=None, now=time.time):
        with self.assertRaises(SignError) as caught:
            verify(signed, config or self.config, now=now)
        self.assertEqual(str(caught.exception), message)

    def test_expired(self):
        signed = wrap(b"x", os.getuid(), self.config)
        self.check_refused(signed, "sign-munge-verify: max-ttl exceeded",
                           now=lambda: time.time() + 120)
        # within max-ttl, even though munged's own TTL is long past
        self.assertEqual(verify(signed, self.config,
                                now=lambda: time.time() + 50)[0], b"x")

    def test_tampered_payload(self):
        head, _, cred = wrap(b'{"a":1}', os.getuid(), self.config).split(".")
        forged = ".".join([head, base64.b64encode(b'{"a":2}').decode(), cred])
        self.check_refused(forged, "sign-munge-verify: SHA256 hash mismatch")

    def test_uid_mismatch(self):
        # munged vouches for this process's uid, the header claims another
        signed = wrap(b"x", os.getuid() + 4242, self.config)
        self.check_refused(signed, "sign-munge-verify: uid mismatch")

    def test_bad_credential(self):
        head, pay, _ = wrap(b"x", os.getuid(), self.config).split(".")
        self.check_refused(f"{head}.{pay}.MUNGE:garbage:",
                           "sign-munge-verify: munge_decode: Failed to"
                           " base64-decode credential")

    def test_mechanism_not_allowed(self):
        self.check_refused(wrap_none(b"x", os.getuid()),
                           "sign-unwrap: header mechanism=none not allowed")
        munged = wrap(b"x", os.getuid(), self.config)
        self.check_refused(munged,
                           "sign-unwrap: header mechanism=munge not allowed",
                           config=SignConfig.single_user())

    def test_munged_unreachable(self):
        config = SignConfig(60, "munge", ("munge",),
                            self.socket + ".missing")
        with self.assertRaises(SignError) as caught:
            wrap(b"x", os.getuid(), config)
        self.assertIn("sign-munge-sign: Failed to access", str(caught.exception))


class SignConfigTests(SynchronousTestCase):
    def write(self, text):
        path = self.mktemp()
        os.mkdir(path)
        with open(os.path.join(path, "sign.toml"), "w") as f:
            f.write(text)
        return path

    def test_load(self):
        config = load_sign_config(self.write(
            '[sign]\nmax-ttl = 1209600\ndefault-type = "munge"\n'
            'allowed-types = ["munge"]\n[sign.munge]\n'
            'socket-path = "/x/sock"\n'))
        self.assertEqual((config.max_ttl, config.default_type,
                          config.allowed_types, config.munge_socket),
                         (1209600, "munge", ("munge",), "/x/sock"))

    def test_missing_directory_is_single_user(self):
        config = load_sign_config(self.mktemp())
        self.assertEqual((config.default_type, config.allowed_types),
                         ("none", ("none",)))
        with self.assertRaises(SignError):
            load_sign_config(self.mktemp(), missing_ok=False)

    def test_bad_config(self):
        cases = {
            '[sign]\ndefault-type = "munge"\nallowed-types = ["munge"]\n':
                "missing required key 'max-ttl'",
            '[sign]\nmax-ttl = 0\ndefault-type = "munge"\n'
            'allowed-types = ["munge"]\n': "max-ttl",
            '[sign]\nmax-ttl = 5\ndefault-type = "munge"\n'
            'allowed-types = ["none"]\n': "default-type",
            '[sign]\nmax-ttl = 5\ndefault-type = "munge"\n'
            'allowed-types = ["rsa"]\n': "allowed-types",
            "": "[sign] table missing",
        }
        for text, message in cases.items():
            with self.assertRaises(SignError) as caught:
                load_sign_config(self.write(text))
            self.assertIn(message, str(caught.exception), text)
            self.assertNotIn("\n", str(caught.exception))
