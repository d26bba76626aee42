"""Tests for :mod:`fluxd.client.jsonc`: the same results as ``json``."""

import json
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.client import jsonc

scalars = (st.none() | st.booleans() | st.integers()
           | st.floats(allow_nan=False) | st.text())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=20)


class CodecTests(SynchronousTestCase):
    def test_accelerated(self):
        """On this Python the C accelerator is driven directly."""
        self.assertIsNotNone(jsonc._scan)
        self.assertIsNotNone(jsonc._encode)

    @given(values)
    def test_dumps_as_json(self, value):
        self.assertEqual(jsonc.dumps(value),
                         json.dumps(value, separators=(",", ":")))

    @given(values)
    def test_loads_as_json(self, value):
        text = json.dumps(value, indent=1)
        self.assertEqual(jsonc.loads(text), json.loads(text))
        self.assertEqual(jsonc.loads(text.encode()), value)

    def test_special_values(self):
        self.assertEqual(jsonc.dumps({1: float("inf")}), '{"1":Infinity}')
        self.assertEqual(jsonc.loads("[-Infinity]"), [float("-inf")])
        self.assertEqual(jsonc.loads(' "\\u00e9" \n'), "é")

    def test_errors_as_json(self):
        for text in ("", "  ", "{", "[1,]", "1 2", "nul", '"\\x"', "\ufeff1",
                     '{"a" 1}'):
            with self.assertRaises(ValueError) as ours:
                jsonc.loads(text)
            with self.assertRaises(ValueError) as theirs:
                json.loads(text)
            self.assertEqual(str(ours.exception), str(theirs.exception),
                             text)
        self.assertRaises(ValueError, jsonc.loads, b"\xff")

    def test_unserializable(self):
        self.assertRaises(TypeError, jsonc.dumps, object())
        self.assertRaises(TypeError, jsonc.dumps, {(1,): 2})
        loop = []
        loop.append(loop)
        self.assertRaises(ValueError, jsonc.dumps, loop)

    def test_no_json_package_import(self):
        code = ("import sys; from fluxd.client import jsonc;"
                " jsonc.loads(jsonc.dumps({'a': [1, 2.5, 'x']}));"
                " print(sorted(m for m in ('json', 're', 'enum')"
                " if m in sys.modules))")
        out = subprocess.run([sys.executable, "-c", code], check=True,
                             capture_output=True, text=True).stdout
        self.assertEqual(out.strip(), "[]")


class SyncClientAgreementTests(SynchronousTestCase):
    """The stdlib client keeps its own copy of a few RFC 3 values and of
    the payload encoder (to stay clear of ``json``): they agree with
    :mod:`fluxd.message.types`."""

    def test_constants(self):
        from fluxd.client import sync
        from fluxd.message import types
        self.assertEqual((sync.FLAG_STREAMING, sync.NODEID_ANY),
                         (types.FLAG_STREAMING, types.NODEID_ANY))

    @given(st.none() | st.binary() | st.text() | values)
    def test_encode_payload(self, payload):
        from fluxd.client import sync
        from fluxd.message import types
        self.assertEqual(sync.encode_payload(payload),
                         types.encode_payload(payload))
