"""The job record: RFC 21 transitions and results from eventlog entries."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument
from fluxd.formats.jobspec import from_command
from fluxd.job import jobs as J


def entry(name, ts=1.0, **context):
    return {"timestamp": ts, "name": name, "context": context}


def run(job, *names):
    for name in names:
        if isinstance(name, tuple):
            J.apply(job, entry(name[0], **name[1]))
        else:
            J.apply(job, entry(name))
    return job


class JobTests(SynchronousTestCase):
    def make(self):
        job = J.Job(7, 1000, 16, 1.0, jobspec=from_command(["sleep", "1"]))
        J.apply(job, entry("submit", urgency=16, userid=1000, flags=0,
                           version=1))
        return job

    def test_summary_from_jobspec(self):
        job = self.make()
        self.assertEqual((job.name, job.ntasks, job.ncores), ("sleep", 1, 1))

    def test_completed(self):
        job = run(self.make(), "validate", "depend", ("priority",
                  {"priority": 16}), "alloc", "start", ("finish", {"status": 0}),
                  "free", "clean")
        self.assertEqual(job.state, J.INACTIVE)
        self.assertEqual(job.result, J.COMPLETED)
        self.assertTrue(job.success)
        self.assertIsNone(job.jobspec)

    def test_failed_and_timeout_and_canceled(self):
        failed = run(self.make(), "validate", "depend", ("priority",
                     {"priority": 1}), "alloc", ("finish", {"status": 256}),
                     "free", "clean")
        self.assertEqual(failed.result, J.FAILED)
        timeout = run(self.make(), "validate", "depend", ("priority",
                      {"priority": 1}), "alloc",
                      ("exception", {"type": "timeout", "severity": 0,
                                     "note": "resource allocation expired"}),
                      ("finish", {"status": 9}), "free", "clean")
        self.assertEqual(timeout.result, J.TIMEOUT)
        canceled = run(self.make(), "validate", "depend",
                       ("exception", {"type": "cancel", "severity": 0}),
                       "clean")
        self.assertEqual(canceled.result, J.CANCELED)
        self.assertEqual(canceled.t_run, 0.0)

    def test_urgency_moves_sched_back_to_priority(self):
        job = run(self.make(), "validate", "depend", ("priority",
                  {"priority": 1}))
        self.assertEqual(job.state, J.SCHED)
        run(job, ("urgency", {"urgency": 0, "userid": 1000}))
        self.assertEqual((job.state, job.urgency), (J.PRIORITY, 0))

    def test_most_severe_exception_kept(self):
        job = run(self.make(), ("exception", {"type": "a", "severity": 3}),
                  ("exception", {"type": "b", "severity": 1}),
                  ("exception", {"type": "c", "severity": 2}))
        self.assertEqual((job.exception_type, job.exception_severity), ("b", 1))

    def test_event_out_of_order_refused(self):
        self.assertRaises(InvalidArgument, J.apply, self.make(), entry("alloc"))

    def test_parse_states(self):
        self.assertEqual(J.parse_states("pending,run"), J.PENDING | J.RUN)
        with self.assertRaises(InvalidArgument) as caught:
            J.parse_states("bogus")
        self.assertEqual(str(caught.exception), "Invalid state bogus specified")
