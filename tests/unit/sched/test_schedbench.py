"""The scheduler benchmarks' rank 0 (:mod:`fluxd.testing.schedbench`):
the workload is the issue's mix, and the simulated cluster allocates and
frees through the real services."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.testing.schedbench import Cluster, jobspec, workload


class SchedBenchTests(SynchronousTestCase):
    def test_workload_mix_is_fixed_and_as_the_issue_says(self):
        jobs = workload(2000)
        self.assertEqual(jobs, workload(2000))
        small = sum(1 for _, _, n, _ in jobs if n == 0)
        wide = sum(1 for _, _, n, _ in jobs if n > 16)
        self.assertTrue(0.65 < small / 2000 < 0.75, small)
        self.assertTrue(0.07 < wide / 2000 < 0.13, wide)
        self.assertTrue(all(60 <= d <= 12 * 3600 for *_, d in jobs))

    def test_cluster_allocates_and_frees(self):
        cluster = Cluster(16)
        self.assertEqual(cluster.sched.policy.totals(), (16 * 64, 16 * 64))
        got = []
        jobid = cluster.next_id()
        cluster.alloc(jobid, jobspec(64, 0, 4, 60.0), got.append)
        cluster.settle()
        R = got[-1]["R"]
        self.assertEqual(got[-1]["type"], 0)
        self.assertEqual(cluster.sched.policy.totals()[0], 12 * 64)
        cluster.free(jobid, R)
        cluster.settle()
        self.assertEqual(cluster.sched.policy.totals()[0], 16 * 64)
