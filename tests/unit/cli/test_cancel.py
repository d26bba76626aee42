"""``flux cancel`` against the fake job broker (spec/cli.md section 5)."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli.cmd_cancel import CancelCommand, parse_states

from tests.unit.cli.fakejobs import GUEST, OWNER, FakeJobBroker
from tests.unit.cli.test_submit import f58, make_env, run as submit


def cancel(argv, broker=None):
    env = make_env(broker)
    try:
        rc = CancelCommand(env).run(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, env.stdout.getvalue(), env.stderr.getvalue()


def pending(broker, count=3, urgency="hold"):
    ids = "1" if count == 1 else f"1-{count}"
    submit([f"--cc={ids}", f"--urgency={urgency}", "true"], broker)
    return sorted(broker.jobs)


def exceptions(broker, jobid):
    return [e["context"] for e in broker.jobs[jobid].eventlog
            if e["name"] == "exception"]


class CancelIdsTests(SynchronousTestCase):
    def test_cancel_ids(self):
        broker = FakeJobBroker()
        ids = pending(broker)
        rc, out, err = cancel(["-m", "bye", f58(ids[0]), str(ids[1])],
                              broker)
        self.assertEqual((rc, out, err), (0, "", ""))
        self.assertEqual(exceptions(broker, ids[0]), [
            {"type": "cancel", "severity": 0, "note": "bye",
             "userid": OWNER}])
        self.assertEqual(len(exceptions(broker, ids[1])), 1)
        self.assertEqual(exceptions(broker, ids[2]), [])

    def test_dry_run(self):
        broker = FakeJobBroker()
        ids = pending(broker)
        self.assertEqual(cancel(["-n", f58(ids[0])], broker),
                         (0, "", "flux-cancel: Would cancel 1 job\n"))
        self.assertEqual(cancel(["--dry-run", *map(str, ids)], broker),
                         (0, "", "flux-cancel: Would cancel 3 jobs\n"))
        self.assertEqual(exceptions(broker, ids[0]), [])

    def test_errors(self):
        broker = FakeJobBroker()
        ids = pending(broker, 1)
        rc, out, err = cancel([f58(ids[0]), "123456"], broker)
        self.assertEqual(rc, 1)
        self.assertEqual(err, "flux-cancel: ERROR: ƒ.*: unknown job id\n"
                         .replace("ƒ.*", f58(123456)))
        self.assertEqual(len(exceptions(broker, ids[0])), 1)
        self.assertEqual(cancel([]), (1, "", "flux-cancel: ERROR: No target"
                                      " jobs were provided\n"))
        self.assertEqual(cancel(["--all", "123"]),
                         (1, "", "flux-cancel: ERROR: Do not specify a list"
                          " of jobids with --all,--user,--states options\n"))
        rc, out, err = cancel(["notajob"])
        self.assertEqual(rc, 2)
        self.assertIn("invalid JobID value: 'notajob'", err)

    def test_guest_cannot_cancel_others(self):
        broker = FakeJobBroker()
        ids = pending(broker, 1)
        broker.userid, broker.owner = GUEST, False
        rc, out, err = cancel([f58(ids[0])], broker)
        self.assertEqual(rc, 1)
        self.assertEqual(err, f"flux-cancel: ERROR: {f58(ids[0])}: guests"
                         " can only raise exceptions on their own jobs\n")


class CancelAllTests(SynchronousTestCase):
    def test_guide_example(self):
        broker = FakeJobBroker()
        ids = pending(broker)
        self.assertEqual(cancel(["--user=all", "--dry-run"], broker),
                         (0, "", "flux-cancel: Would cancel 3 jobs\n"))
        self.assertEqual(cancel(["--user=all"], broker),
                         (0, "", "flux-cancel: Canceled 3 jobs (0 errors)\n"))
        for jobid in ids:
            self.assertEqual(exceptions(broker, jobid)[0]["type"], "cancel")
        self.assertEqual(cancel(["--user=all"], broker),
                         (0, "", "flux-cancel: Matched 0 jobs\n"))
        self.assertEqual(cancel(["--all", "-q"], broker), (0, "", ""))
        [(_, payload)] = [c for c in broker.calls
                          if c[0] == "job-manager.raiseall"][:1]
        self.assertEqual(payload, {"dry_run": True, "userid": 0xFFFFFFFF,
                                   "states": 62, "severity": 0,
                                   "type": "cancel"})

    def test_one_job_and_states(self):
        broker = FakeJobBroker()
        pending(broker, 1)
        self.assertEqual(cancel(["-S", "sched,Run", "-m", "x"], broker),
                         (0, "", "flux-cancel: Canceled 1 job (0 errors)\n"))
        payload = [p for t, p in broker.calls
                   if t == "job-manager.raiseall"][0]
        self.assertEqual((payload["states"], payload["userid"],
                          payload["note"]), (24, OWNER, "x"))

    def test_bad_states_and_users(self):
        self.assertEqual(cancel(["-S", "pending,bogus"]),
                         (1, "", "flux-cancel: ERROR: Invalid state bogus"
                          " specified\n"))
        self.assertEqual(cancel(["--states=inactive"]),
                         (1, "", "flux-cancel: ERROR: Invalid state inactive"
                          " specified\n"))
        self.assertEqual(cancel(["-u", "no such user"]),
                         (1, "", "flux-cancel: ERROR: Invalid user no such"
                          " user specified\n"))
        self.assertEqual(parse_states(["pending", "running"]), 62)

    def test_guest_all_users_refused(self):
        broker = FakeJobBroker(userid=GUEST, owner=False)
        rc, out, err = cancel(["--user=all"], broker)
        self.assertEqual(rc, 1)
        self.assertEqual(err, "flux-cancel: ERROR: guests can only raise"
                         " exceptions on their own jobs\n")
