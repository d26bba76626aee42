"""RFC 11 tree objects and KVS keys."""

import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument
from fluxd.storage import blobref
from fluxd.storage import treeobj as T

REF = blobref.hash_blob(b"x")


class CreateTests(SynchronousTestCase):
    def test_val(self):
        obj = T.create_val(b"foo\0")
        self.assertEqual(obj, {"ver": 1, "type": "val", "data": "Zm9vAA=="})
        self.assertEqual(T.decode_val(obj), b"foo\0")
        self.assertEqual(T.decode_val(T.create_val("é")), "é".encode())

    def test_encode_matches_flux(self):
        # jansson JSON_COMPACT|JSON_SORT_KEYS, as flux-core's treeobj_encode
        self.assertEqual(T.encode(T.create_val(b"foo\0")),
                         b'{"data":"Zm9vAA==","type":"val","ver":1}')
        self.assertEqual(T.encode(T.create_dir()),
                         b'{"data":{},"type":"dir","ver":1}')

    def test_refs_and_symlink(self):
        self.assertEqual(T.create_dirref(REF)["data"], [REF])
        self.assertEqual(T.create_valref([REF, REF])["data"], [REF, REF])
        self.assertEqual(T.create_symlink("a.b")["data"], {"target": "a.b"})
        self.assertEqual(T.create_symlink("a", "ns")["data"],
                         {"target": "a", "namespace": "ns"})
        with self.assertRaises(InvalidArgument):
            T.create_valref([])
        with self.assertRaises(InvalidArgument):
            T.create_dirref("nope")

    def test_blobrefs(self):
        d = T.create_dir({"a": T.create_valref([REF]),
                          "b": T.create_dir({"c": T.create_dirref(REF)}),
                          "s": T.create_symlink("x")})
        self.assertEqual(sorted(T.blobrefs(d)), [REF, REF])


class ValidateTests(SynchronousTestCase):
    def bad(self, obj, text):
        with self.assertRaises(T.TreeobjError) as cm:
            T.validate(obj, "key 'k'")
        self.assertIn(text, str(cm.exception))
        self.assertTrue(str(cm.exception).startswith("key 'k'"))

    def test_rejects(self):
        self.bad([], "must be a JSON object")
        self.bad({"ver": 1, "type": "val"}, "missing data")
        self.bad({"ver": 1, "type": "val", "data": "", "x": 1}, "unexpected x")
        self.bad({"ver": 2, "type": "val", "data": ""}, "version 2")
        self.bad({"ver": 1, "type": "val", "data": "!!"}, "base64")
        self.bad({"ver": 1, "type": "val", "data": 5}, "base64 string")
        self.bad({"ver": 1, "type": "valref", "data": []}, "non-empty array")
        self.bad({"ver": 1, "type": "valref", "data": ["x"]}, "invalid blobref")
        self.bad({"ver": 1, "type": "dirref", "data": [REF, REF]}, "exactly one")
        self.bad({"ver": 1, "type": "dir", "data": []}, "JSON object")
        self.bad({"ver": 1, "type": "dir", "data": {"a.b": T.create_dir()}},
                 "contains '.'")
        self.bad({"ver": 1, "type": "dir", "data": {"a": {"ver": 1}}},
                 "entry 'a'")
        self.bad({"ver": 1, "type": "symlink", "data": "a.b"}, "symlink data")
        self.bad({"ver": 1, "type": "symlink", "data": {"target": ""}},
                 "non-empty")
        self.bad({"ver": 1, "type": "symlink",
                  "data": {"target": "a", "namespace": 3}}, "namespace")
        self.bad({"ver": 1, "type": "hdir", "data": {}}, "not supported")
        self.bad({"ver": 1, "type": "blob", "data": {}}, "unknown")

    def test_decode(self):
        obj = T.decode(b'{"ver":1,"type":"dir","data":{}}')
        self.assertEqual(obj, T.create_dir())
        with self.assertRaises(T.TreeobjError):
            T.decode(b"not json")

    @given(st.binary(max_size=200))
    def test_val_round_trip(self, data):
        obj = T.create_val(data)
        self.assertEqual(T.decode(T.encode(obj)), obj)
        self.assertEqual(T.decode_val(obj), data)


class KeyTests(SynchronousTestCase):
    def test_split(self):
        self.assertEqual(T.split_key("a.b.c"), (("a", "b", "c"), False))
        self.assertEqual(T.split_key("."), ((), False))
        self.assertEqual(T.split_key(".a"), (("a",), False))
        self.assertEqual(T.split_key("a.b."), (("a", "b"), True))
        self.assertEqual(T.normalize_key(".a.b."), "a.b")
        self.assertEqual(T.join_key(()), ".")

    def test_bad_keys(self):
        for key, text in [("", "non-empty"), (None, "non-empty"),
                          ("a..b", "empty path component"),
                          ("..", "empty path component"),
                          ("..a", "empty path component"),
                          ("a..", "empty path component"),
                          ("a\0b", "NUL")]:
            with self.assertRaises(T.BadKey) as cm:
                T.split_key(key)
            self.assertIn(text, str(cm.exception))
            self.assertEqual(cm.exception.errno, 22)

    @given(st.lists(st.text(alphabet="abcxyz-_0", min_size=1), min_size=1,
                    max_size=6))
    def test_join_split_property(self, parts):
        key = ".".join(parts)
        self.assertEqual(T.split_key(key)[0], tuple(parts))
        self.assertEqual(json.loads(json.dumps(key)), key)
