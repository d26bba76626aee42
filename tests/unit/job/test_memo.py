"""``job-manager.memo`` (flux job memo): user annotations, kept in the
eventlog unless volatile, replayed at restart, merged as flux does."""

import errno
import io
import json

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli._job_memo import memo_of
from fluxd.errors import InvalidArgument
from fluxd.job import jobs as J
from fluxd.job.manager import job_key
from fluxd.storage import treeobj as T
from tests.unit.job.fakes import GUEST, OWNER, Instance


class MemoTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self)
        self.i.hello()
        [self.jobid] = self.i.submit()
        self.job = self.i.manager.get(self.jobid)

    def memo(self, memo, volatile=False, cred=OWNER):
        return self.i.ok("job-manager.memo", {
            "id": self.jobid, "volatile": volatile, "memo": memo}, cred)

    def entries(self):
        obj = self.successResultOf(self.i.broker.kvs.lookup(
            "primary", f"{job_key(self.jobid)}.eventlog"))
        return [json.loads(line) for line in
                T.decode_val(obj).decode().splitlines()]

    def test_memo_event_merges_into_user_annotations(self):
        self.assertEqual(self.memo({"uri": "local:///tmp/x/local"}), {})
        self.memo({"a": {"b": 1}, "s": "x"})
        self.assertEqual(self.job.annotations, {"user": {
            "uri": "local:///tmp/x/local", "a": {"b": 1}, "s": "x"}})
        memos = [e["context"] for e in self.entries() if e["name"] == "memo"]
        self.assertEqual(memos, [{"uri": "local:///tmp/x/local"},
                                 {"a": {"b": 1}, "s": "x"}])
        # a null removes a key; an object left empty goes
        self.memo({"a": {"b": None}, "s": None})
        self.assertEqual(self.job.annotations,
                         {"user": {"uri": "local:///tmp/x/local"}})
        self.memo({"uri": None})
        self.assertIsNone(self.job.annotations)

    def test_volatile_memo_stays_out_of_the_eventlog(self):
        self.memo({"note": "fleeting"}, volatile=True)
        self.assertEqual(self.job.annotations, {"user": {"note": "fleeting"}})
        self.assertNotIn("memo", [e["name"] for e in self.entries()])

    def test_memos_come_back_after_a_restart_but_volatile_ones_do_not(self):
        self.memo({"uri": "local:///tmp/y/local"})
        self.memo({"note": "fleeting"}, volatile=True)
        self.i.stop()
        again = Instance(self, broker=self.i.broker)
        job = again.manager.get(self.jobid)
        self.assertEqual(job.annotations,
                         {"user": {"uri": "local:///tmp/y/local"}})

    def test_replay_applies_the_memo_event(self):
        job = J.Job(7, 1000, 16, 1.0)
        J.apply(job, {"timestamp": 1.0, "name": "submit", "context": {}})
        J.apply(job, {"timestamp": 2.0, "name": "memo",
                      "context": {"uri": "local:///a", "x": 1}})
        J.apply(job, {"timestamp": 3.0, "name": "memo",
                      "context": {"x": None}})
        self.assertEqual(job.annotations, {"user": {"uri": "local:///a"}})

    def test_guest_may_not_memo_another_users_job(self):
        err = self.i.fail("job-manager.memo", {
            "id": self.jobid, "volatile": False, "memo": {"a": 1}}, GUEST)
        self.assertEqual(str(err),
                         "guests can only add a memo to their own jobs")
        self.assertIsNone(self.job.annotations)

    def test_guest_may_memo_own_job(self):
        self.job.userid = GUEST.userid
        self.memo({"a": 1}, cred=GUEST)
        self.assertEqual(self.job.annotations, {"user": {"a": 1}})

    def test_unknown_and_inactive_jobs(self):
        err = self.i.fail("job-manager.memo", {
            "id": self.jobid + 1, "volatile": False, "memo": {"a": 1}})
        self.assertEqual((err.errno, str(err)),
                         (errno.ENOENT, "unknown job id"))
        self.i.ok("job-manager.raise", {"id": self.jobid, "severity": 0,
                                        "type": "cancel", "note": ""})
        self.assertEqual(self.job.state, J.INACTIVE)
        err = self.i.fail("job-manager.memo", {
            "id": self.jobid, "volatile": False, "memo": {"a": 1}})
        self.assertEqual(str(err), "unknown job id")

    def test_bad_payloads(self):
        for payload, text in (
                ({"id": self.jobid, "memo": "x"}, "memo must be an object"),
                ({"id": self.jobid, "memo": {}, "volatile": 1},
                 "volatile must be a boolean"),
                ({"id": "x", "memo": {}}, "job id must be an integer")):
            err = self.i.fail("job-manager.memo", payload)
            self.assertEqual((err.errno, str(err)), (errno.EPROTO, text))
        self.assertIsNone(self.job.annotations)


class MemoArgsTests(SynchronousTestCase):
    def test_values_are_json_or_strings_and_keys_nest(self):
        self.assertEqual(
            memo_of(["uri=local:///x", "n=3", "a.b=[1]", "z=null",
                     "t=true", "s={bad"]),
            {"uri": "local:///x", "n": 3, "a": {"b": [1]}, "z": None,
             "t": True, "s": "{bad"})

    def test_value_from_stdin(self):
        self.assertEqual(memo_of(["k=-"], stdin=io.StringIO('{"a": 1}')),
                         {"k": {"a": 1}})

    def test_bad_words(self):
        with self.assertRaises(InvalidArgument) as cm:
            memo_of(["novalue"])
        self.assertEqual(str(cm.exception), "memo: no value for key=novalue")
        for word in ("=1", "a..b=1", "a.=1"):
            self.assertRaises(InvalidArgument, memo_of, [word])
        with self.assertRaises(InvalidArgument) as cm:
            memo_of(["a=1", "a.b=2"])
        self.assertEqual(str(cm.exception),
                         "memo: failed to set a.b=2 in memo object")
