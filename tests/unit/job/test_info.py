"""The job-info service over a real in-memory KVS and a fake job table:
lookups with owner/guest checks and eventlog updates applied, and
eventlog watches that stream appends and end once the job is inactive."""

import errno
import json

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError
from fluxd.job import jobs as J
from fluxd.job.info import CURRENT, JSON_DECODE, JobInfoService, apply_updates
from fluxd.storage import treeobj as T
from fluxd.storage.txn import APPEND
from fluxd.message.router import Credential
from fluxd.message.types import ROLE_OWNER, ROLE_USER
from fluxd.security.sign import wrap_none
from fluxd.testing.jobs import FakeJobTable, job_kvs_key
from fluxd.testing.kvs import KVSBroker
from tests.unit.job.test_listquery import R2, jobspec

OWNER = Credential(1000, ROLE_OWNER)
ALICE = Credential(2000, ROLE_USER)
BOB = Credential(3000, ROLE_USER)


def line(name, ts, **context):
    entry = {"timestamp": ts, "name": name}
    if context:
        entry["context"] = context
    return json.dumps(entry, separators=(",", ":")) + "\n"


class InfoTestCase(SynchronousTestCase):
    def setUp(self):
        self.broker = KVSBroker(owner=1000)
        self.successResultOf(self.broker.start())
        self.addCleanup(self.broker.stop)
        self.table = FakeJobTable(self.broker.kvs)
        self.service = JobInfoService(self.broker.router, self.table)
        self.service.startService()
        self.broker.router.add_module(self.service)
        self.addCleanup(self.service.stopService)
        spec = jobspec()
        self.job = self.successResultOf(self.table.submit(
            16777216, 2000, spec, 100.0,
            J_text=wrap_none(json.dumps(spec).encode(), 2000)))

    def call(self, payload, cred=OWNER):
        return self.broker.router.call("job-info.lookup", payload, cred=cred)

    def watch(self, payload, cred=OWNER):
        got = []
        stream = self.broker.router.stream("job-info.eventlog-watch",
                                           payload, cred=cred,
                                           on_response=got.append)
        return stream, got

    def append(self, key, text):
        op = {"key": f"{job_kvs_key(self.job.id)}.{key}", "flags": APPEND,
              "dirent": T.create_val(text.encode())}
        self.successResultOf(self.table.write(self.job.id, [op]))

    def events(self, got):
        return [json.loads(r["event"])["name"] for r in got]


class LookupTests(InfoTestCase):
    def test_keys_as_text(self):
        self.table.run_to(self.job, J.RUN, R=R2)
        answer = self.successResultOf(self.call(
            {"id": self.job.id, "keys": ["eventlog", "J", "eventlog"],
             "flags": 0}, ALICE))
        self.assertEqual(sorted(answer), ["J", "eventlog", "id"])
        self.assertTrue(answer["eventlog"].startswith(
            '{"timestamp":100.0,"name":"submit"'))
        self.assertEqual(answer["eventlog"].count("\n"), 6)
        self.assertEqual(answer["J"].count("."), 2)

    def test_json_decode(self):
        answer = self.successResultOf(self.call(
            {"id": self.job.id, "keys": ["jobspec"], "flags": JSON_DECODE}))
        self.assertEqual(answer["jobspec"]["tasks"][0]["command"],
                         ["sleep", "1"])

    def test_current_applies_update_events(self):
        self.table.run_to(self.job, J.SCHED)
        self.table.post(self.job, "jobspec-update",
                        {"attributes.system.duration": 60.0,
                         "attributes.system.queue": "batch"}, 200.0)
        answer = self.successResultOf(self.call(
            {"id": self.job.id, "keys": ["jobspec"], "flags": CURRENT}))
        current = json.loads(answer["jobspec"])
        self.assertEqual(current["attributes"]["system"]["duration"], 60.0)
        self.assertEqual(current["attributes"]["system"]["queue"], "batch")
        base = self.successResultOf(self.call(
            {"id": self.job.id, "keys": ["jobspec"], "flags": 0}))
        # the job's record follows the updates; flags 0 is the original
        self.assertNotIn("queue",
                         json.loads(base["jobspec"])["attributes"]["system"])
        self.assertEqual(self.table.get(self.job.id).queue, "batch")

    def test_apply_updates_to_R(self):
        updated = apply_updates("R", R2, [
            {"name": "resource-update", "context": {"expiration": 99.0}},
            {"name": "jobspec-update", "context": {"x": 1}}])
        self.assertEqual(updated["execution"]["expiration"], 99.0)
        self.assertEqual(R2["execution"]["expiration"], 70.0)

    def test_unknown_job_missing_key_and_bad_payloads(self):
        f = self.failureResultOf(self.call({"id": 42, "keys": ["eventlog"],
                                            "flags": 0}))
        self.assertEqual((f.value.errno, str(f.value)),
                         (errno.ENOENT, "invalid job id"))
        f = self.failureResultOf(self.call({"id": self.job.id, "keys": ["R"],
                                            "flags": 0}))
        self.assertEqual((f.value.errno, str(f.value)),
                         (errno.ENOENT, "R: key not found"))
        for payload in ({"id": "x", "keys": ["R"]},
                        {"id": self.job.id, "keys": "R"},
                        {"id": self.job.id, "keys": []},
                        {"id": self.job.id, "keys": ["R"], "flags": 8}):
            f = self.failureResultOf(self.call(payload))
            self.assertEqual(f.value.errno, errno.EPROTO, payload)
        f = self.failureResultOf(self.call({"id": self.job.id,
                                            "keys": ["a..b"]}))
        self.assertEqual(f.value.errno, errno.EINVAL)

    def test_guests_read_only_their_own_jobs(self):
        f = self.failureResultOf(self.call(
            {"id": self.job.id, "keys": ["eventlog"], "flags": 0}, BOB))
        self.assertEqual((f.value.errno, str(f.value)),
                         (errno.EPERM,
                          "access is restricted to job/instance owner"))
        self.successResultOf(self.call(
            {"id": self.job.id, "keys": ["eventlog"], "flags": 0}, ALICE))


class WatchTests(InfoTestCase):
    def test_streams_appends_until_inactive(self):
        stream, got = self.watch({"id": self.job.id, "path": "eventlog",
                                  "flags": 0}, ALICE)
        self.assertEqual(self.events(got), ["submit"])
        self.table.run_to(self.job, J.RUN, R=R2)
        self.assertEqual(len(got), 6)
        self.assertNoResult(stream.done)
        for name, context in (("finish", {"status": 0}), ("free", None)):
            self.table.post(self.job, name, context, 300.0)
        self.assertNoResult(stream.done)
        self.table.post(self.job, "clean", None, 301.0)
        self.assertEqual(self.events(got)[-3:], ["finish", "free", "clean"])
        self.assertIsNone(self.successResultOf(stream.done))
        self.assertTrue(all(r["event"].endswith("}\n") for r in got))
        self.assertEqual(self.service._watches, {})

    def test_guest_exec_eventlog_lines_written_with_the_end(self):
        self.table.run_to(self.job, J.RUN, R=R2)
        self.append("guest.exec.eventlog", line("init", 1.0))
        stream, got = self.watch({"id": self.job.id, "flags": 0,
                                  "path": "guest.exec.eventlog"})
        self.assertEqual(self.events(got), ["init"])
        self.append("guest.exec.eventlog",
                    line("starting", 2.0) + line("complete", 3.0, status=0))
        self.table.post(self.job, "finish", {"status": 0}, 400.0)
        done = {"key": f"{job_kvs_key(self.job.id)}.guest.exec.eventlog",
                "flags": APPEND, "dirent": T.create_val(
                    line("done", 4.0).encode())}
        self.table.post(self.job, "free", None, 401.0)
        self.table.post(self.job, "clean", None, 402.0, extra_ops=[done])
        self.assertEqual(self.events(got),
                         ["init", "starting", "complete", "done"])
        self.successResultOf(stream.done)

    def test_waitcreate(self):
        stream, got = self.watch({"id": self.job.id, "flags": 1,
                                  "path": "guest.exec.eventlog"})
        self.assertEqual(got, [])
        self.assertNoResult(stream.done)
        self.append("guest.exec.eventlog", line("init", 1.0))
        self.assertEqual(self.events(got), ["init"])
        stream.cancel()
        self.successResultOf(stream.done)

    def test_missing_log_without_waitcreate(self):
        stream, got = self.watch({"id": self.job.id, "flags": 0,
                                  "path": "guest.exec.eventlog"})
        f = self.failureResultOf(stream.done)
        self.assertEqual(f.value.errno, errno.ENOENT)
        self.assertEqual(self.service._watches, {})

    def test_inactive_job_answers_its_whole_log(self):
        self.table.run_to(self.job, J.INACTIVE, exception=("cancel", "x"))
        stream, got = self.watch({"id": self.job.id, "flags": 0,
                                  "path": "eventlog"}, ALICE)
        self.assertEqual(self.events(got)[0], "submit")
        self.assertEqual(self.events(got)[-1], "clean")
        self.successResultOf(stream.done)
        stream, got = self.watch({"id": self.job.id, "flags": 1,
                                  "path": "guest.output"})
        self.assertEqual(got, [])
        self.successResultOf(stream.done)

    def test_cancel_stops_the_stream(self):
        stream, got = self.watch({"id": self.job.id, "flags": 0,
                                  "path": "eventlog"})
        stream.cancel()
        self.successResultOf(stream.done)
        self.table.post(self.job, "validate", None, 101.0)
        self.assertEqual(self.events(got), ["submit"])
        self.assertEqual(self.service._watches, {})
        self.assertEqual(
            self.successResultOf(self.broker.call("kvs-watch.stats-get",
                                                  {}))["watchers"], 0)

    def test_access_and_bad_requests(self):
        stream, _ = self.watch({"id": self.job.id, "path": "eventlog"}, BOB)
        self.assertEqual(self.failureResultOf(stream.done).value.errno,
                         errno.EPERM)
        stream, _ = self.watch({"id": 99, "path": "eventlog"})
        self.assertEqual(self.failureResultOf(stream.done).value.errno,
                         errno.ENOENT)
        stream, _ = self.watch({"id": self.job.id, "path": 3})
        self.assertIsInstance(self.failureResultOf(stream.done).value,
                              FluxError)

    def test_service_stop_ends_watches(self):
        stream, _ = self.watch({"id": self.job.id, "path": "eventlog"})
        self.service.stopService()
        self.assertEqual(self.failureResultOf(stream.done).value.errno,
                         errno.ENOSYS)


class _LaggingRouter:
    """kvs-watch that has sent only the first chunk when the job ends."""

    instance_cred = OWNER

    def __init__(self):
        self.cancelled = False
        self.on_response = None

    def stream(self, topic, payload, cred, on_response):
        from twisted.internet import defer
        self.on_response = on_response
        stream = type("S", (), {})()
        stream.done = defer.Deferred()
        stream.cancel = lambda: setattr(self, "cancelled", True)
        return stream


class _Service:
    def __init__(self, data):
        self.router = _LaggingRouter()
        self.data = data
        self.forgotten = []

    async def read(self, jobid, path):
        return self.data

    def _forget(self, watch):
        self.forgotten.append(watch)


class _Request:
    def __init__(self):
        self.responses = []

    def respond(self, payload):
        self.responses.append(payload)

    def on_cancel(self, callback):
        self.cancel = callback


class WatchEndTests(SynchronousTestCase):
    def test_last_read_sends_exactly_what_the_watch_had_not(self):
        from fluxd.job.info import _Watch
        log = (line("a", 1.0) + line("b", 2.0) + line("c", 3.0)).encode()
        first = log[:len(line("a", 1.0)) + 5]   # a, and part of b
        service, request = _Service(log), _Request()
        watch = _Watch(service, request, 1, "eventlog", False)
        watch.start()
        service.router.on_response({"val": T.create_val(first)})
        self.assertEqual(len(request.responses), 1)
        watch.job_inactive()
        self.assertTrue(service.router.cancelled)
        # a late kvs-watch response after the end is ignored
        service.router.on_response({"val": T.create_val(log[len(first):])})
        self.assertEqual([json.loads(r["event"])["name"]
                          for r in request.responses], ["a", "b", "c"])
        self.assertIsNone(self.successResultOf(watch.done))
        self.assertEqual(service.forgotten, [watch])
