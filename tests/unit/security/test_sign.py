"""RFC 39 J with the none mechanism."""

import base64

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.security.sign import SignError, unwrap, wrap_none


class SignNoneTests(SynchronousTestCase):
    def test_round_trip(self):
        signed = wrap_none(b'{"version":1}', 1000)
        self.assertEqual(unwrap(signed), (b'{"version":1}', 1000, "none"))

    def test_header_layout(self):
        header = wrap_none(b"x", 42).split(".")[0]
        self.assertEqual(base64.b64decode(header),
                         b"version\0i1\0mechanism\0snone\0userid\0i42\0")

    def test_flux_core_builtin_header_accepted(self):
        # flux-core's sign_none.c writes "mech", not "mechanism"
        header = base64.b64encode(b"version\0i1\0userid\0i5\0mech\0snone\0")
        signed = header.decode() + "." + base64.b64encode(b"p").decode() + ".none"
        self.assertEqual(unwrap(signed), (b"p", 5, "none"))

    def test_bad_input(self):
        good = wrap_none(b"x", 1).split(".")
        cases = {
            "one.two": "three parts",
            "!!!." + good[1] + ".none": "header is not valid base64",
            good[0] + ".@@@.none": "payload is not valid base64",
            good[0] + "." + good[1] + ".sig": "signature 'none'",
            base64.b64encode(b"version\0i2\0mechanism\0snone\0userid\0i1\0")
            .decode() + "." + good[1] + ".none": "version must be 1",
            base64.b64encode(b"version\0i1\0mechanism\0sfoo\0userid\0i1\0")
            .decode() + "." + good[1] + ".none": "header mechanism=foo unknown",
            base64.b64encode(b"version\0i1\0mechanism\0snone\0").decode()
            + "." + good[1] + ".none": "no userid",
            base64.b64encode(b"version\0i1\0userid\0i-1\0mechanism\0snone\0")
            .decode() + "." + good[1] + ".none": "not an integer",
            base64.b64encode(b"version\0i1\0userid").decode()
            + "." + good[1] + ".none": "not NUL terminated",
        }
        for text, message in cases.items():
            with self.assertRaises(SignError) as caught:
                unwrap(text)
            self.assertIn(message, str(caught.exception), text)
        self.assertRaises(SignError, unwrap, None)

    @given(st.binary(max_size=200), st.integers(0, 2**32 - 1))
    def test_any_payload_round_trips(self, payload, userid):
        self.assertEqual(unwrap(wrap_none(payload, userid)),
                         (payload, userid, "none"))
