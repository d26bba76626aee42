"""Applying transactions (copy-on-write) and unrolling them into blobs."""

import errno
import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError, InvalidArgument
from fluxd.storage import blobref
from fluxd.storage import treeobj as T
from fluxd.storage.errors import MissingRef
from fluxd.storage.lookup import READDIR, walk
from fluxd.storage.txn import (APPEND, Transaction, check_ops, compact, unroll)


class Blobs:
    """A tiny object store: blobref -> decoded tree object / raw bytes."""

    def __init__(self):
        self.raw = {}
        self.objects = {}
        self.hidden = set()

    def get(self, ref):
        if ref in self.hidden or ref not in self.objects:
            raise MissingRef(ref)
        return self.objects[ref]

    def hash(self, data):
        return blobref.hash_blob(data)

    def commit(self, rootref, ops, namespace="primary"):
        root = self.get(rootref)
        txn = Transaction(self.get, self.hash, namespace)
        new = txn.apply(root, check_ops(ops))
        self.raw.update(txn.blobs)
        ref, blobs, objects = unroll(new, self.hash)
        self.raw.update(blobs)
        self.objects.update(objects)
        return ref

    def empty(self):
        ref, blobs, objects = unroll(T.create_dir(), self.hash)
        self.raw.update(blobs)
        self.objects.update(objects)
        return ref

    def value(self, rootref, key):
        parts, _ = T.split_key(key)
        obj = walk(self.get, rootref, parts)
        if obj["type"] == "val":
            return T.decode_val(obj)
        return b"".join(self.raw[r] for r in obj["data"])


def put(key, value, flags=0):
    return {"key": key, "flags": flags, "dirent": T.create_val(value)}


def append(key, value):
    return put(key, value, APPEND)


def unlink(key):
    return {"key": key, "flags": 0, "dirent": None}


def apply_batch(b, rootref, txns):
    """Apply ``txns`` (lists of operations) to ``rootref`` the KVS
    service's way: each transaction applies to the previous one's working
    root (a failing one is skipped), one unroll at the end.

    :returns: ``(rootref, blobs, objects)`` of the unroll.
    """
    current = b.get(rootref)
    for ops in txns:
        txn = Transaction(b.get, b.hash, "primary")
        try:
            current = txn.apply(current, check_ops(ops))
        except FluxError:
            continue
        b.raw.update(txn.blobs)
    return unroll(current, b.hash)


class CheckOpsTests(SynchronousTestCase):
    def test_good(self):
        ops = check_ops([put(".a.b.", b"x"), unlink("c"),
                         put("d", b"y", APPEND)])
        self.assertEqual([op.key for op in ops], ["a.b", "c", "d"])
        self.assertEqual(ops[0].parts, ("a", "b"))

    def test_errors_name_the_problem(self):
        cases = [
            ("not a list", errno.EPROTO, "array"),
            ([{"key": "a"}], errno.EPROTO, "op 0"),
            ([put("a..b", b"")], errno.EINVAL, "empty path component"),
            ([put(".", b"")], errno.EINVAL, "root directory"),
            ([put("a", b"", 7)], errno.EINVAL, "flags"),
            ([{"key": "a", "flags": 0, "dirent": {"ver": 1}}], errno.EINVAL,
             "key 'a'"),
            ([{"key": "a", "flags": APPEND, "dirent": T.create_dir()}],
             errno.EPROTO, "append needs a val"),
            ([{"key": "a", "flags": APPEND, "dirent": None}],
             errno.EPROTO, "append needs a val"),
        ]
        for ops, num, text in cases:
            with self.assertRaises(FluxError) as cm:
                check_ops(ops)
            self.assertEqual(cm.exception.errno, num, ops)
            self.assertIn(text, str(cm.exception))

    def test_oversized(self):
        check_ops([put("a", b"x" * 100)], blob_limit=100)
        with self.assertRaises(FluxError) as cm:
            check_ops([put("a", b"x" * 101)], blob_limit=100)
        self.assertEqual(cm.exception.errno, errno.EFBIG)
        self.assertIn("key 'a'", str(cm.exception))
        with self.assertRaises(FluxError):
            check_ops([{"key": "d", "flags": 0, "dirent": T.create_dir(
                {"x": T.create_val(b"y" * 200)})}], blob_limit=100)


class ApplyTests(SynchronousTestCase):
    def setUp(self):
        self.b = Blobs()
        self.root = self.b.empty()

    def test_put_and_nested(self):
        r = self.b.commit(self.root, [put("a.b.c", b"1"), put("x", b"2")])
        self.assertEqual(self.b.value(r, "a.b.c"), b"1")
        self.assertEqual(self.b.value(r, "x"), b"2")
        # the old root is untouched
        self.assertEqual(self.b.get(self.root)["data"], {})

    def test_put_over_value_makes_directory(self):
        r = self.b.commit(self.root, [put("a", b"1")])
        r = self.b.commit(r, [put("a.b", b"2")])
        self.assertEqual(self.b.value(r, "a.b"), b"2")

    def test_unlink(self):
        r = self.b.commit(self.root, [put("a.b", b"1"), put("a.c", b"2")])
        r = self.b.commit(r, [unlink("a.b"), unlink("nosuch.key"),
                              unlink("a.c.d")])
        a = walk(self.b.get, r, ("a",), READDIR)
        self.assertEqual(sorted(a["data"]), ["c"])

    def test_long_val_becomes_valref(self):
        long = b"z" * 100
        r = self.b.commit(self.root, [put("big", long), put("small", b"s")])
        root = self.b.get(r)
        self.assertEqual(root["data"]["big"]["type"], "valref")
        self.assertEqual(root["data"]["small"]["type"], "val")
        self.assertEqual(self.b.value(r, "big"), long)

    def test_append(self):
        r = self.b.commit(self.root, [put("log", b"a", APPEND)])
        self.assertEqual(self.b.get(r)["data"]["log"]["type"], "val")
        r = self.b.commit(r, [put("log", b"b", APPEND)])
        self.assertEqual(self.b.get(r)["data"]["log"]["type"], "valref")
        r = self.b.commit(r, [put("log", b"c", APPEND)])
        self.assertEqual(len(self.b.get(r)["data"]["log"]["data"]), 3)
        self.assertEqual(self.b.value(r, "log"), b"abc")

    def test_append_errors(self):
        r = self.b.commit(self.root, [put("d.x", b"1"),
                                      {"key": "l", "flags": 0,
                                       "dirent": T.create_symlink("d")}])
        with self.assertRaises(FluxError) as cm:
            self.b.commit(r, [put("d", b"x", APPEND)])
        self.assertEqual(cm.exception.errno, errno.EISDIR)
        with self.assertRaises(FluxError) as cm:
            self.b.commit(r, [put("l", b"x", APPEND)])
        self.assertEqual(cm.exception.errno, errno.EOPNOTSUPP)

    def test_symlink_followed_in_path(self):
        r = self.b.commit(self.root, [put("real.x", b"1"),
                                      {"key": "link", "flags": 0,
                                       "dirent": T.create_symlink("real")}])
        r = self.b.commit(r, [put("link.y", b"2")])
        self.assertEqual(self.b.value(r, "real.y"), b"2")

    def test_symlink_other_namespace(self):
        r = self.b.commit(self.root, [{"key": "link", "flags": 0,
                                       "dirent": T.create_symlink("a", "ns")}])
        with self.assertRaises(InvalidArgument) as cm:
            self.b.commit(r, [put("link.y", b"2")])
        self.assertIn("namespace 'ns'", str(cm.exception))

    def test_symlink_loop(self):
        r = self.b.commit(self.root, [
            {"key": "a", "flags": 0, "dirent": T.create_symlink("b")},
            {"key": "b", "flags": 0, "dirent": T.create_symlink("a")}])
        with self.assertRaises(FluxError) as cm:
            self.b.commit(r, [put("a.x", b"1")])
        self.assertEqual(cm.exception.errno, errno.ELOOP)

    def test_missing_ref_then_retry(self):
        r = self.b.commit(self.root, [put("a.b", b"1")])
        sub = self.b.get(r)["data"]["a"]["data"][0]
        self.b.hidden.add(sub)
        with self.assertRaises(MissingRef) as cm:
            self.b.commit(r, [put("a.c", b"2")])
        self.assertEqual(cm.exception.ref, sub)
        self.b.hidden.clear()
        r2 = self.b.commit(r, [put("a.c", b"2")])
        self.assertEqual(self.b.value(r2, "a.b"), b"1")

    def test_resume_after_missing_refs_names_them_together(self):
        r = self.b.commit(self.root, [put("a.x", b"1"), put("b.x", b"1"),
                                      put("c", b"1")])
        data = self.b.get(r)["data"]
        a, b = data["a"]["data"][0], data["b"]["data"][0]
        self.b.hidden.update((a, b))
        txn = Transaction(self.b.get, self.b.hash, "primary")
        ops = check_ops([put("c", b"2"), put("a.y", b"2"),
                         append("c", b"3"), put("b.y", b"2")])
        with self.assertRaises(MissingRef) as cm:
            txn.apply(self.b.get(r), ops)
        self.assertEqual(cm.exception.ref, a)
        # the look-ahead names b too: both can be loaded at once
        self.assertEqual(txn.missing(self.visible), {a, b})
        self.b.hidden.clear()
        new = txn.resume()
        ref, blobs, objects = unroll(new, self.b.hash)
        self.b.raw.update(txn.blobs)
        self.b.raw.update(blobs)
        self.b.objects.update(objects)
        # every operation applied once, in order
        self.assertEqual([self.b.value(ref, k) for k in
                          ("a.x", "a.y", "b.x", "b.y", "c")],
                         [b"1", b"2", b"1", b"2", b"23"])

    def visible(self, ref):
        return None if ref in self.b.hidden else self.b.objects.get(ref)

    def test_same_content_same_ref(self):
        r1 = self.b.commit(self.root, [put("a", b"1"), put("b", b"2")])
        r2 = self.b.commit(self.root, [put("b", b"2"), put("a", b"1")])
        self.assertEqual(r1, r2)

    def test_mkdir_and_treeobj_dir(self):
        d = {"key": "d", "flags": 0, "dirent": T.create_dir(
            {"x": T.create_val(b"1"), "sub": T.create_dir()})}
        r = self.b.commit(self.root, [d])
        self.assertEqual(self.b.get(r)["data"]["d"]["type"], "dirref")
        self.assertEqual(self.b.value(r, "d.x"), b"1")
        r = self.b.commit(r, [put("d.sub.y", b"2")])
        self.assertEqual(self.b.value(r, "d.x"), b"1")
        self.assertEqual(self.b.value(r, "d.sub.y"), b"2")

    @given(st.lists(st.tuples(st.sampled_from(["a", "b", "a.x", "a.y", "b.z"]),
                              st.binary(max_size=90),
                              st.sampled_from([0, APPEND, -1])),
                    max_size=12))
    def test_compact_same_result(self, spec):
        ops = []
        for key, data, flags in spec:
            ops.append(unlink(key) if flags == -1 else put(key, data, flags))
        checked = check_ops(ops)
        b = Blobs()
        root = b.empty()
        results = []
        for variant in (checked, compact(checked)):
            txn = Transaction(b.get, b.hash, "primary")
            try:
                new = txn.apply(b.get(root), variant)
            except FluxError as exc:
                results.append(exc.errno)
                continue
            b.raw.update(txn.blobs)
            ref, blobs, objects = unroll(new, b.hash)
            b.raw.update(blobs)
            b.objects.update(objects)
            results.append({k: self._value_or_none(b, ref, k)
                            for k in ["a", "b", "a.x", "a.y", "b.z"]})
        self.assertEqual(results[0], results[1])
        self.assertLessEqual(len(compact(checked)), len(checked))

    def _value_or_none(self, b, ref, key):
        try:
            return b.value(ref, key)
        except FluxError:
            return None


class IncrementalEncodingTests(SynchronousTestCase):
    """Large directories re-serialize only their changed entries
    (:func:`fluxd.storage.treeobj.encode_dir`): every blob must still be
    byte for byte what :func:`~fluxd.storage.treeobj.encode` gives."""

    def check_blobs(self, blobs, values=()):
        """Every blob hashes to its ref; every one but the raw values
        put (``values``, stored as blobs of their own when large) is a
        tree object encoded as :func:`~fluxd.storage.treeobj.encode`
        would."""
        for ref, data in blobs.items():
            self.assertEqual(blobref.hash_blob(data), ref)
            if data in values:
                continue
            obj = T.decode(data)
            self.assertEqual(T.encode(obj), data)

    def batch(self, b, rootref, txns):
        ref, blobs, objects = apply_batch(b, rootref, txns)
        self.check_blobs(blobs, {T.decode_val(op["dirent"])
                                 for ops in txns for op in ops
                                 if op["dirent"] is not None})
        b.raw.update(blobs)
        b.objects.update(objects)
        return ref

    def test_large_dir_changes(self):
        b = Blobs()
        r = b.commit(b.empty(), [put(f"job.{i:04x}.state", b"new")
                                 for i in range(T.PARTS_MIN + 8)])
        data = b.get(r)["data"]["job"]
        ref = data["data"][0]
        self.assertIsNotNone(b.get(ref)["data"].parts)
        r = self.batch(b, r, [[put("job.0003.state", b"run")],
                              [unlink("job.0004")],
                              [put("job.zzzz.state", b"new"),
                               put("job.0005.é\"x", b"q")]])
        self.assertEqual(self.b_value(b, r, "job.0003.state"), b"run")
        self.assertEqual(self.b_value(b, r, "job.0005.é\"x"), b"q")
        self.assertIsNone(self.b_value(b, r, "job.0004.state"))
        self.assertEqual(self.b_value(b, r, "job.zzzz.state"), b"new")
        job = b.get(b.get(r)["data"]["job"]["data"][0])
        self.assertIsNone(job["data"].base)    # no chain of old versions
        self.assertEqual(len(job["data"].parts), len(job["data"]))

    def b_value(self, b, r, key):
        try:
            return b.value(r, key)
        except FluxError:
            return None

    @given(st.one_of(st.sampled_from(["0000", "R", "a.b-c_d", "", "é",
                                      'q"', "x\\", "sp ace"]),
                     st.text(max_size=6)),
           st.sampled_from(["val", "valref", "dirref", "dir", "symlink"]),
           st.one_of(st.text(max_size=8),
                     st.sampled_from(["aGk=", "sha1-0a1b", "a/b+c==", ""]),
                     st.lists(st.one_of(
                         st.sampled_from(["sha1-0a1b", "sha256-ff"]),
                         st.text(max_size=4), st.integers()), max_size=3),
                     st.integers(), st.dictionaries(st.text(max_size=2),
                                                    st.integers(),
                                                    max_size=2)),
           st.sampled_from([1, True, 1.0, 2, "1"]),
           st.booleans())
    def test_entry_text_is_what_json_writes(self, name, kind, data, ver,
                                            extra):
        # the fast formatting of the usual entries, against json itself
        entry = {"ver": ver, "type": kind, "data": data}
        if extra:
            entry["x"] = 1
        self.assertEqual(T._part(name, entry), json.dumps(
            {name: entry}, separators=(",", ":"), sort_keys=True,
            ensure_ascii=False)[1:-1])

    @given(st.lists(st.lists(st.lists(st.tuples(
        st.integers(0, T.PARTS_MIN + 20), st.sampled_from(["s", "t"]),
        st.binary(max_size=80), st.booleans()), max_size=4), max_size=3),
        max_size=6))
    def test_same_blobs_as_full_encoding(self, batches):
        b = Blobs()
        r = b.commit(b.empty(), [put(f"d.{i}.s", b"x")
                                 for i in range(T.PARTS_MIN)])
        expect = {f"d.{i}.s": b"x" for i in range(T.PARTS_MIN)}
        for txns in batches:
            ops_list = []
            for txn in txns:
                ops = []
                for i, leaf, value, remove in txn:
                    key = f"d.{i}.{leaf}"
                    ops.append(unlink(f"d.{i}") if remove
                               else put(key, value))
                ops_list.append(ops)
                for op in ops:
                    if op["dirent"] is None:
                        for k in [k for k in expect
                                  if k.startswith(op["key"] + ".")]:
                            del expect[k]
                    else:
                        expect[op["key"]] = T.decode_val(op["dirent"])
            r = self.batch(b, r, ops_list)
        for key, value in expect.items():
            self.assertEqual(b.value(r, key), value)


class ChangedNamesTests(SynchronousTestCase):
    """A copy of an encoded large directory notes the names a commit
    touches (:attr:`fluxd.storage.treeobj.DirData.changed`), and unroll
    and :func:`~fluxd.storage.treeobj.encode_dir` look at those only:
    the blobs must be the very ones a store holding plain decoded
    directories (every entry looked at) makes."""

    def batch(self, b, rootref, txns, plain):
        ref, blobs, objects = apply_batch(b, rootref, txns)
        b.raw.update(blobs)
        if plain:
            # decoded afresh: no entry texts, no notes, the full path
            objects = {r: T.decode(blobs[r]) for r in objects}
        b.objects.update(objects)
        return ref

    def test_notes_only_touched_names(self):
        b = Blobs()
        r = b.commit(b.empty(), [put(f"job.{i:04x}.state", b"new")
                                 for i in range(T.PARTS_MIN + 8)])
        job = b.get(b.get(r)["data"]["job"]["data"][0])
        txn = Transaction(b.get, b.hash, "primary")
        root = txn.apply(b.get(r), check_ops([
            put("job.0003.state", b"run"), unlink("job.0004"),
            put("job.zzzz", b"v")]))
        copy = root["data"]["job"]["data"]
        self.assertIs(copy.base, job["data"])
        self.assertEqual(T.changed_names(copy), {"0003", "0004", "zzzz"})
        # the next transaction of the same batch carries them on
        txn = Transaction(b.get, b.hash, "primary")
        root = txn.apply(root, check_ops([put("job.0005.state", b"x")]))
        copy = root["data"]["job"]["data"]
        self.assertIs(copy.base, job["data"])
        self.assertEqual(T.changed_names(copy),
                         {"0003", "0004", "0005", "zzzz"})
        ref, blobs, objects = unroll(root, b.hash)
        self.assertIsNone(objects[ref]["data"].changed)
        for data in blobs.values():
            self.assertEqual(T.encode(T.decode(data)), data)

    @given(st.lists(st.lists(st.lists(st.tuples(
        st.integers(0, T.PARTS_MIN + 12),
        st.sampled_from(["put", "append", "unlink", "subdir", "long"]),
        st.binary(max_size=8)), max_size=4), max_size=3), max_size=6))
    def test_same_root_as_plain_directories(self, batches):
        fast, plain = Blobs(), Blobs()
        start = [put(f"d.{i}", b"x") for i in range(T.PARTS_MIN)]
        r1 = fast.commit(fast.empty(), start)
        r2 = self.batch(plain, plain.empty(), [start], True)
        self.assertEqual(r1, r2)
        for txns in batches:
            ops_list = []
            for txn in txns:
                ops = []
                for i, kind, value in txn:
                    key = f"d.{i}"
                    ops.append({"put": lambda: put(key, value),
                                "append": lambda: append(key, value),
                                "unlink": lambda: unlink(key),
                                "subdir": lambda: put(key + ".s", value),
                                "long": lambda: put(key, value * 20 + b"!"),
                                }[kind]())
                ops_list.append(ops)
            r1 = self.batch(fast, r1, ops_list, False)
            r2 = self.batch(plain, r2, ops_list, True)
            self.assertEqual(r1, r2)
            for ref, data in fast.raw.items():
                self.assertEqual(plain.raw.get(ref), data)
