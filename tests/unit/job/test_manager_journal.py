"""``job-manager.events-journal``: the backlog (every active job, every job
with ``full``), its end marker, then live events, none lost or repeated
(flux-core's journal.c)."""

import errno
import json

from twisted.trial.unittest import SynchronousTestCase

from fluxd.job import jobs as J
from fluxd.job.manager import job_key
from fluxd.storage import treeobj as T
from tests.unit.job.fakes import OWNER, Instance

END = {"id": J.ANY_JOB, "events": []}


class JournalTests(SynchronousTestCase):
    def setUp(self):
        self.i = Instance(self)
        self.i.hello()
        self.done, self.held = self.i.submit(urgency=0), self.i.submit(
            urgency=0)
        self.done, self.held = self.done[0], self.held[0]
        self.i.ok("job-manager.raise", {"id": self.done, "severity": 0,
                                        "type": "cancel"})

    def journal(self, payload, settle=True):
        responses = []
        stream = self.i.router.stream("job-manager.events-journal", payload,
                                      cred=OWNER,
                                      on_response=responses.append)
        self.addCleanup(stream.cancel)
        if settle:
            self.i.settle()
        return stream, responses

    def eventlog(self, jobid):
        obj = self.successResultOf(self.i.broker.kvs.lookup(
            "primary", f"{job_key(jobid)}.eventlog"))
        return [json.loads(line) for line in
                T.decode_val(obj).decode().splitlines()]

    @staticmethod
    def of(responses, jobid):
        return [e["entry"] for r in responses for e in r["events"]
                if e["id"] == jobid]

    def test_full_sends_every_job_then_the_end_then_live_events(self):
        _, responses = self.journal({"full": True})
        end = responses.index(END)
        backlog = responses[:end]
        self.assertEqual(self.of(backlog, self.done), self.eventlog(self.done))
        self.assertEqual(self.of(backlog, self.held), self.eventlog(self.held))
        # inactive jobs first, as flux-core
        ids = [e["id"] for r in backlog for e in r["events"]]
        self.assertEqual(ids.index(self.held), ids.count(self.done))
        self.assertEqual(responses[end + 1:], [])
        self.i.ok("job-manager.raise", {"id": self.held, "severity": 0,
                                        "type": "cancel"})
        live = [e["entry"]["name"] for r in responses[end + 1:]
                for e in r["events"]]
        self.assertEqual(live, ["exception", "clean"])
        self.assertEqual(self.of(responses, self.held),
                         self.eventlog(self.held))

    def test_without_full_only_active_jobs(self):
        _, responses = self.journal({})
        end = responses.index(END)
        self.assertEqual(self.of(responses[:end], self.done), [])
        self.assertEqual(self.of(responses[:end], self.held),
                         self.eventlog(self.held))

    def test_events_not_yet_durable_are_sent_once(self):
        job = self.i.manager.get(self.held)
        self.i.manager.post(job, "urgency", {"userid": OWNER.userid,
                                             "urgency": 4})
        _, responses = self.journal({"full": True}, settle=False)
        self.i.manager.post(job, "urgency", {"userid": OWNER.userid,
                                             "urgency": 5})
        self.i.settle()
        self.i.ok("job-manager.raise", {"id": self.held, "severity": 0,
                                        "type": "cancel"})
        self.assertEqual(self.of(responses, self.held),
                         self.eventlog(self.held))
        names = [e["name"] for e in self.of(responses, self.held)]
        self.assertEqual(names.count("urgency"), 2)

    def test_new_jobs_after_the_request(self):
        _, responses = self.journal({"full": True})
        [new] = self.i.submit(urgency=0)
        self.assertEqual(self.of(responses, new), self.eventlog(new))

    def test_cancel_ends_the_stream(self):
        stream, _ = self.journal({})
        stream.cancel()
        self.i.settle()
        self.assertIsNone(self.successResultOf(stream.done))
        self.assertEqual(self.i.manager._journals, [])

    def test_full_must_be_a_boolean(self):
        stream, _ = self.journal({"full": "yes"})
        err = self.failureResultOf(stream.done).value
        self.assertEqual((err.errno, str(err)),
                         (errno.EPROTO, "full must be a boolean"))
