"""Stores made for the storage tests: a real content.sqlite with a KVS
tree in it, written as the broker writes it."""

import os
import pickle
import subprocess
import sys

from fluxd.storage import sqlitedb
from fluxd.storage import treeobj as T
from fluxd.storage.blobref import hash_blob, to_digest
from fluxd.storage.txn import unroll

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def tree(keys):
    """``(rootref, {blobref: bytes})`` of a tree holding ``{key: bytes}``."""
    root = T.create_dir()
    for key, value in keys.items():
        node = root
        parts = key.split(".")
        for name in parts[:-1]:
            node = node["data"].setdefault(name, T.create_dir())
        node["data"][parts[-1]] = T.create_val(value)
    rootref, blobs, _ = unroll(root, hash_blob)
    return rootref, blobs


def write_store(path, keys, sequence=1, checkpoint=True):
    """A content.sqlite holding ``keys`` as the primary namespace."""
    conn = sqlitedb.connect(path)
    sqlitedb.init_schema(conn, "sha1")
    rootref, blobs = tree(keys)
    sqlitedb.write_batch(conn, [(to_digest(r), d) for r, d in blobs.items()],
                         [("primary", sqlitedb.root_record(rootref, sequence,
                                                           0))])
    if checkpoint:
        sqlitedb.checkpoint(conn)
    conn.close()
    return rootref, blobs


def crash_with_commits(path, batches):
    """Commit ``batches`` (lists of ``{key: bytes}``, one transaction each,
    each a new primary root over everything before) in a child process
    that then dies without closing: the commits stay in the ``-wal``.

    :returns: ``{key: bytes}`` of every committed key.
    """
    code = (
        "import sys, pickle, os\n"
        f"sys.path.insert(0, {REPO!r})\n"
        "from tests.unit.storage.helpers import _commit_all\n"
        "_commit_all(sys.argv[1], pickle.loads(sys.stdin.buffer.read()))\n"
        "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code, path],
                   input=pickle.dumps(batches), check=True)
    keys = {}
    for batch in batches:
        keys.update(batch)
    return keys


def _commit_all(path, batches):
    conn = sqlitedb.connect(path)
    sqlitedb.init_schema(conn, "sha1")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    keys = {}
    for seq, batch in enumerate(batches, 1):
        keys.update(batch)
        rootref, blobs = tree(keys)
        sqlitedb.write_batch(
            conn, [(to_digest(r), d) for r, d in blobs.items()],
            [("primary", sqlitedb.root_record(rootref, seq, 0))])
