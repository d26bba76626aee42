"""fluxd.formats.jsonenc: the prebuilt encoders write what json.dumps does."""

import json

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats import jsonenc

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20)
_OPTIONS = [dict(sort_keys=s, ensure_ascii=a, allow_nan=n)
            for s in (False, True) for a in (False, True)
            for n in (False, True)]


def _outcome(fn, value):
    """The text, or the type of the error."""
    try:
        return fn(value)
    except (TypeError, ValueError) as exc:
        return type(exc)


class CompactTests(SynchronousTestCase):

    @given(_values)
    def test_same_text_as_json_dumps(self, value):
        for options in _OPTIONS:
            self.assertEqual(
                _outcome(jsonenc.compact(**options), value),
                _outcome(lambda v: json.dumps(
                    v, separators=(",", ":"), **options), value))
        self.assertEqual(jsonenc.dumps(value),
                         json.dumps(value, separators=(",", ":")))

    def test_errors_as_json_dumps(self):
        strict = jsonenc.compact(allow_nan=False)
        with self.assertRaises(ValueError):
            strict({"a": float("nan")})
        self.assertEqual(jsonenc.dumps([float("inf")]), "[Infinity]")
        with self.assertRaises(TypeError) as caught:
            jsonenc.dumps({"a": object()})
        self.assertIn("not JSON serializable", str(caught.exception))
        with self.assertRaises(TypeError):
            jsonenc.dumps({(1, 2): 3})

    def test_non_ascii_kept_or_escaped(self):
        self.assertEqual(jsonenc.compact(ensure_ascii=False)({"ƒ": "é"}),
                         '{"ƒ":"é"}')
        self.assertEqual(jsonenc.dumps({"ƒ": "é"}),
                         '{"\\u0192":"\\u00e9"}')
