"""kvs-watch: streaming lookups of keys and directories."""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.storage import treeobj as T
from fluxd.storage.lookup import (
    READDIR, STREAM, TREEOBJ, WAITCREATE, WATCH, WATCH_APPEND, WATCH_FULL,
    WATCH_INITIAL_SENTINEL, WATCH_UNIQ)
from fluxd.storage.txn import APPEND
from fluxd.kvs.watch import touches
from fluxd.message.types import FLAG_STREAMING, ROLE_OWNER, ROLE_USER, Message
from fluxd.testing.kvs import KVSBroker
from tests.unit.kvs.test_service import put

ENODATA = 61


class Stream:
    """The responses of one streaming request."""

    _tag = 0

    def __init__(self, broker, key, flags, namespace="primary",
                 userid=1000, rolemask=ROLE_OWNER, sender="client"):
        Stream._tag += 1
        self.tag = Stream._tag
        self.sender = sender
        self.broker = broker
        self.replies = []
        msg = Message.request("kvs-watch.lookup",
                              {"key": key, "flags": flags, "namespace": namespace},
                              flags=FLAG_STREAMING, matchtag=self.tag)
        msg.userid, msg.rolemask, msg.route = userid, rolemask, [sender]
        broker.router.deliver(msg, self.replies.append)

    def values(self):
        return [T.decode_val(r.json()["val"]) for r in self.replies
                if not r.errnum and "val" in r.json()]

    @property
    def ended(self):
        return self.replies[-1].errnum if self.replies and \
            self.replies[-1].errnum else None

    def cancel(self):
        self.broker.router.cancel(self.sender, self.tag)


class WatchTests(SynchronousTestCase):
    def setUp(self):
        self.b = KVSBroker(0)
        self.successResultOf(self.b.start())

    def commit(self, *ops, namespace="primary"):
        return self.successResultOf(self.b.kvs.commit(namespace, list(ops)))

    def watchers(self):
        return self.successResultOf(self.b.call("kvs-watch.stats-get"))["watchers"]

    def test_touches(self):
        self.assertTrue(touches("a.b", "a.b"))
        self.assertTrue(touches("a.b", "a"))
        self.assertTrue(touches("a", "a.b.c"))
        self.assertTrue(touches(".", "x"))
        self.assertFalse(touches("a.b", "a.bc"))
        self.assertFalse(touches("a.b", "x"))

    def test_watch_every_write_in_order(self):
        self.commit(put("k", b"0"))
        s = Stream(self.b, "k", WATCH)
        self.assertEqual(self.watchers(), 1)
        for i in range(1, 4):
            self.commit(put("k", b"%d" % i))
        self.commit(put("other", b"x"))
        self.commit(put("k", b"3"))
        self.assertEqual(s.values(), [b"0", b"1", b"2", b"3", b"3"])
        seqs = [r.json()["rootseq"] for r in s.replies]
        self.assertEqual(seqs, sorted(seqs))
        s.cancel()
        self.assertEqual(s.ended, errno.ECANCELED)
        self.assertEqual(self.watchers(), 0)

    def test_uniq(self):
        self.commit(put("k", b"0"))
        s = Stream(self.b, "k", WATCH | WATCH_UNIQ)
        self.commit(put("k", b"0"))
        self.commit(put("k", b"1"))
        self.assertEqual(s.values(), [b"0", b"1"])

    def test_full_sees_change_through_symlink(self):
        self.commit(put("real", b"0"), {"key": "l", "flags": 0,
                                        "dirent": T.create_symlink("real")})
        plain = Stream(self.b, "l", WATCH)
        full = Stream(self.b, "l", WATCH | WATCH_FULL)
        self.commit(put("real", b"1"))
        self.commit(put("unrelated", b"1"))
        self.assertEqual(plain.values(), [b"0"])
        self.assertEqual(full.values(), [b"0", b"1"])

    def test_append(self):
        self.commit(put("log", b"a"))
        s = Stream(self.b, "log", WATCH | WATCH_APPEND)
        self.commit(put("log", b"b", APPEND))
        self.commit(put("log", b"c", APPEND), put("log", b"d", APPEND))
        self.commit(put("elsewhere", b""))
        self.assertEqual(s.values(), [b"a", b"b", b"cd"])
        self.commit(put("log", b"overwritten"))
        self.assertEqual(s.ended, errno.EINVAL)

    def test_waitcreate(self):
        once = Stream(self.b, "later", WAITCREATE)
        keep = Stream(self.b, "later", WAITCREATE | WATCH)
        self.assertEqual(once.replies, [])
        self.commit(put("later", b"1"))
        self.commit(put("later", b"2"))
        self.assertEqual(once.values(), [b"1"])
        self.assertEqual(once.ended, ENODATA)
        self.assertEqual(keep.values(), [b"1", b"2"])

    def test_missing_and_removed(self):
        s = Stream(self.b, "nope", WATCH)
        self.assertEqual(s.ended, errno.ENOENT)
        self.commit(put("k", b"1"))
        s = Stream(self.b, "k", WATCH)
        self.commit({"key": "k", "flags": 0, "dirent": None})
        self.assertEqual(s.values(), [b"1"])
        self.assertEqual(s.ended, errno.ENOENT)

    def test_namespace_removed(self):
        self.successResultOf(self.b.kvs.create_namespace("ns"))
        s = Stream(self.b, "k", WATCH | WAITCREATE, namespace="ns")
        self.successResultOf(self.b.kvs.remove_namespace("ns"))
        self.assertEqual(s.ended, errno.EOPNOTSUPP)
        s = Stream(self.b, "k", WATCH, namespace="nothere")
        self.assertEqual(s.ended, errno.EOPNOTSUPP)

    def test_directory(self):
        self.commit(put("d.a", b"1"))
        s = Stream(self.b, "d", WATCH | READDIR)
        self.commit(put("d.b.c", b"2"))
        self.commit(put("x", b"2"))
        names = [sorted(r.json()["val"]["data"]) for r in s.replies]
        self.assertEqual(names, [["a"], ["a", "b"]])

    def test_stream_blobs_and_sentinel(self):
        self.commit(put("log", b"a" * 100))
        self.commit(put("log", b"b" * 100, APPEND))
        s = Stream(self.b, "log", STREAM)
        self.assertEqual(s.values(), [b"a" * 100, b"b" * 100])
        self.assertEqual(s.ended, ENODATA)
        t = Stream(self.b, "log", WATCH | WATCH_INITIAL_SENTINEL | TREEOBJ)
        self.assertEqual(t.replies[0].json()["val"]["type"], "valref")
        self.assertNotIn("val", t.replies[1].json())

    def test_guest(self):
        self.successResultOf(self.b.kvs.create_namespace("job-1", 55))
        self.commit(put("k", b"1"), namespace="job-1")
        mine = Stream(self.b, "k", WATCH, "job-1", userid=55, rolemask=ROLE_USER)
        self.assertEqual(mine.values(), [b"1"])
        denied = Stream(self.b, "k", WATCH, "primary", userid=55,
                        rolemask=ROLE_USER)
        self.assertEqual(denied.ended, errno.EPERM)

    def test_bad_flags(self):
        s = Stream(self.b, "k", 1 << 20)
        self.assertEqual(s.ended, errno.EPROTO)
        s = Stream(self.b, "a..b", WATCH)
        self.assertEqual(s.ended, errno.EINVAL)

    def test_disconnect_and_stop(self):
        self.commit(put("k", b"1"))
        Stream(self.b, "k", WATCH, sender="gone")
        s = Stream(self.b, "k", WATCH)
        self.b.router.disconnect("gone")
        self.assertEqual(self.watchers(), 1)
        self.b.watch.stopService()
        self.assertEqual(s.ended, errno.ENOSYS)
