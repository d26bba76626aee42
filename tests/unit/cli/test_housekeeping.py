"""``flux housekeeping list|kill`` against a canned broker."""

import io

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli._submit import CommandEnv
from fluxd.cli.cmd_housekeeping import HousekeepingCommand
from fluxd.errors import PermissionDenied
from fluxd.formats import fluid

JOB1, JOB2 = 1234567890123, 2234567890123


class CannedBroker:
    """Answers ``attr.get hostlist``, ``stats-get`` and records kills."""

    def __init__(self, running, refuse=False):
        self.running = running
        self.refuse = refuse
        self.calls = []

    def rpc(self, topic, payload=None, nodeid=None, flags=0, timeout=None):
        self.calls.append((topic, payload))
        if topic == "attr.get":
            return {"value": "node[0-3]"}
        if topic == "job-manager.stats-get":
            return {"housekeeping": {"running": self.running}}
        if self.refuse:
            raise PermissionDenied("Request requires owner credentials")
        return None

    def close(self):
        pass


def hk(argv, broker):
    env = CommandEnv(stdin=io.StringIO(), stdout=io.StringIO(),
                     stderr=io.StringIO(), environ={},
                     connect=lambda: broker)
    try:
        rc = HousekeepingCommand(env, clock=lambda: 1000.0).run(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, env.stdout.getvalue(), env.stderr.getvalue()


RUNNING = {
    fluid.encode(JOB1, "f58"): {"pending": "3", "allocated": "2-3",
                                "t_start": 990.0},
    fluid.encode(JOB2, "f58"): {"pending": "0-1", "allocated": "0-1",
                                "t_start": 999.5},
}


class ListTests(SynchronousTestCase):
    def test_default_format(self):
        rc, out, err = hk(["list"], CannedBroker(RUNNING))
        self.assertEqual((rc, err), (0, ""))
        f1, f2 = fluid.encode(JOB1, "f58"), fluid.encode(JOB2, "f58")
        self.assertEqual(out.splitlines(), [
            "       JOBID NNODES #ACTIVE  RUNTIME NODELIST",
            f"{f1:>12}      2       1      10s node[2-3]",
            f"{f2:>12}      2       2   0.500s node[0-1]",
        ])

    def test_include_hosts_or_ranks_and_no_header(self):
        f1 = fluid.encode(JOB1, "f58")
        for target in ("3", "node3"):
            rc, out, _ = hk(["list", "-n", "-i", target, "-o",
                             "{id.f58} {ranks} {pending.ranks}"],
                            CannedBroker(RUNNING))
            self.assertEqual((rc, out), (0, f"{f1} 3 3\n"))

    def test_nothing_running_prints_the_header_only(self):
        self.assertEqual(hk(["list", "-o", "pending"], CannedBroker({})),
                         (0, "       JOBID #ACTIVE  RUNTIME ACTIVE_NODES\n",
                          ""))

    def test_unknown_field(self):
        rc, out, err = hk(["list", "-o", "{bogus}"], CannedBroker({}))
        self.assertEqual((rc, err), (1, "flux-housekeeping: ERROR: Unknown"
                                     " format field: bogus\n"))


class KillTests(SynchronousTestCase):
    def kills(self, broker):
        return [p for t, p in broker.calls
                if t == "job-manager.housekeeping-kill"]

    def test_targets_by_job_host_and_all(self):
        broker = CannedBroker(RUNNING)
        f1 = fluid.encode(JOB1, "f58")
        self.assertEqual(hk(["kill", "-j", f1], broker), (0, "", ""))
        self.assertEqual(hk(["kill", "-t", "node[1,3]", "-s", "9"], broker),
                         (0, "", ""))
        self.assertEqual(hk(["kill", "--all"], broker), (0, "", ""))
        self.assertEqual(self.kills(broker), [
            {"signum": 15, "jobid": JOB1},
            {"signum": 9, "ranks": "1,3"},
            {"signum": 15}])

    def test_bad_requests(self):
        broker = CannedBroker(RUNNING)
        cases = [
            (["kill"], "specify at least one of --targets, --jobid, or"
                       " --all"),
            (["kill", "--all", "-j", "ƒ2"], "do not specify --jobid with"
                                            " --all"),
            (["kill", "-t", "nohost"], "didn't find nohost in instance"
                                       " hostlist"),
        ]
        for argv, message in cases:
            self.assertEqual(hk(argv, broker),
                             (1, "", f"flux-housekeeping: ERROR: {message}\n"))
        self.assertEqual(self.kills(broker), [])
        rc, _, err = hk(["kill", "-j", "notajob"], broker)
        self.assertEqual(rc, 2)
        self.assertIn("invalid JobID value: 'notajob'", err)

    def test_a_guest_is_refused(self):
        rc, out, err = hk(["kill", "--all"], CannedBroker({}, refuse=True))
        self.assertEqual((rc, err), (1, "flux-housekeeping: ERROR: Request"
                                     " requires owner credentials\n"))
