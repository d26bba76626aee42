"""``job-exec.expiration``: the job manager moves a running test job's
time limit (``flux update ID duration=...`` by the instance owner)."""

import signal

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError
from tests.unit.exec.fakejm import R, Bench, jobspec


class ExpirationTests(SynchronousTestCase):
    def setUp(self):
        self.bench = Bench(self)
        self.now = self.bench.clock.seconds()

    def expire(self, payload):
        return self.bench.call("job-exec.expiration", payload)

    def test_limit_moves_earlier_and_later(self):
        bench = self.bench
        s = bench.start(1, jobspec(run_duration="100s"),
                        R(self.now, self.now + 60))
        self.successResultOf(self.expire({"id": 1,
                                          "expiration": self.now + 5}))
        bench.advance(5)
        self.assertEqual(s.kinds(), ["start", "exception", "finish",
                                     "release"])
        self.assertEqual(s.data("finish"), [{"status": signal.SIGALRM}])
        s = bench.start(2, jobspec(run_duration="100s"),
                        R(self.now + 5, self.now + 10))
        self.successResultOf(self.expire({"id": 2,
                                          "expiration": self.now + 200}))
        bench.advance(10)
        self.assertEqual(s.kinds(), ["start"])
        bench.advance(90)
        self.assertEqual(s.kinds(), ["start", "finish", "release"])

    def test_zero_lifts_the_limit_and_bad_requests(self):
        bench = self.bench
        s = bench.start(1, jobspec(run_duration="30s"),
                        R(self.now, self.now + 10))
        self.successResultOf(self.expire({"id": 1, "expiration": 0}))
        bench.advance(30)
        self.assertEqual(s.kinds(), ["start", "finish", "release"])
        for payload in ({"id": "x", "expiration": 1.0}, {"id": 1},
                        {"id": 1, "expiration": -1}, {"id": 1,
                                                      "expiration": True}):
            f = self.failureResultOf(self.expire(payload))
            self.assertIsInstance(f.value, FluxError)
        f = self.failureResultOf(self.expire({"id": 99, "expiration": 1.0}))
        self.assertEqual(str(f.value), "Job not found")
