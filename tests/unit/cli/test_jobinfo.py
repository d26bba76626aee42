"""The ``flux jobs`` job model: derived fields in every state, headings,
``--json`` form, and flux-core's flux-jobs test vectors run through the
real command (``flux jobs -n --from-stdin --format=...``)."""

import json
import os
import signal

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli._jobinfo import (
    HEADINGS, JobInfo, fields_to_attrs, headings_for)
from fluxd.cli.formatting import Formatter
from fluxd.job import jobs as J
from fluxd.testing.cli import run_flux
from tests import VECTORS as ALL_VECTORS

VECTORS = os.path.join(ALL_VECTORS, "flux-jobs", "tests")
NOW = 1000.0


def info(**record):
    record.setdefault("id", 1)
    return JobInfo(record, now=lambda: NOW)


def render(fmt, *jobs):
    import string
    fields = [f for _, f, _, _ in string.Formatter().parse(fmt) if f]
    return Formatter(fmt, headings_for(fields)).render(list(jobs),
                                                       no_header=True)


class VectorTests(SynchronousTestCase):
    """Each vector: ``input`` through ``flux jobs -n --from-stdin
    --format=FORMAT`` prints ``output``."""

    def check(self, name):
        base = os.path.join(VECTORS, name)
        with open(os.path.join(base, "format")) as f:
            fmt = f.read().rstrip("\n")
        with open(os.path.join(base, "input")) as f:
            text = f.read()
        with open(os.path.join(base, "output")) as f:
            expected = f.read()
        r = run_flux(["jobs", "-n", "--from-stdin", f"--format={fmt}"],
                     stdin=text)
        self.assertEqual((r.rc, r.err), (0, ""))
        self.assertEqual(r.out, expected)

    def test_contextual_info(self):
        self.check("contextual_info")

    def test_returncode(self):
        self.check("returncode")

    def test_issue_2634(self):
        self.check("issue-2634")

    def test_issue_2658(self):
        self.check("issue-2658")

    def test_issue_5827(self):
        self.check("issue-5827")

    def test_every_vector_is_checked(self):
        self.assertEqual(set(os.listdir(VECTORS)), {
            "contextual_info", "returncode", "issue-2634", "issue-2658",
            "issue-5827"})


class StatusTests(SynchronousTestCase):
    def test_states(self):
        for state, name, single in ((J.DEPEND, "DEPEND", "D"),
                                    (J.PRIORITY, "PRIORITY", "P"),
                                    (J.SCHED, "SCHED", "S"),
                                    (J.RUN, "RUN", "R"),
                                    (J.CLEANUP, "CLEANUP", "C")):
            job = info(state=state)
            self.assertEqual((job.state, job.state_single, job.status,
                              job.status_abbrev, job.result),
                             (name, single, name, single, ""))

    def test_results(self):
        for result, name, abbrev in ((J.COMPLETED, "COMPLETED", "CD"),
                                     (J.FAILED, "FAILED", "F"),
                                     (J.CANCELED, "CANCELED", "CA"),
                                     (J.TIMEOUT, "TIMEOUT", "TO")):
            job = info(state=J.INACTIVE, result=result)
            self.assertEqual((job.state, job.status, job.status_abbrev,
                              job.result_abbrev),
                             ("INACTIVE", name, abbrev, abbrev))

    def test_emoji(self):
        self.assertEqual(info(state=J.RUN).status_emoji, "\U0001F3C3")
        self.assertEqual(info(state=J.INACTIVE,
                              result=J.COMPLETED).status_emoji, "\U0001F600")


class DerivedTests(SynchronousTestCase):
    def test_returncode(self):
        self.assertEqual(info(state=J.RUN).returncode, "")
        self.assertEqual(info(state=J.INACTIVE, result=J.COMPLETED,
                              waitstatus=0).returncode, 0)
        self.assertEqual(info(state=J.INACTIVE, result=J.FAILED,
                              waitstatus=42 << 8).returncode, 42)
        self.assertEqual(info(state=J.INACTIVE, result=J.FAILED,
                              waitstatus=signal.SIGKILL).returncode, -9)
        self.assertEqual(info(state=J.INACTIVE,
                              result=J.CANCELED).returncode, -128)
        self.assertEqual(info(state=J.INACTIVE,
                              result=J.FAILED).returncode, 1)

    def reason(self, **record):
        return info(state=J.INACTIVE, **record).inactive_reason

    def test_inactive_reason(self):
        self.assertEqual(info(state=J.RUN).inactive_reason, "")
        self.assertEqual(self.reason(result=J.COMPLETED, waitstatus=0),
                         "Exit 0")
        self.assertEqual(self.reason(
            result=J.CANCELED, exception_occurred=True,
            exception_type="cancel", exception_note="mecanceled"),
            "Canceled: mecanceled")
        self.assertEqual(self.reason(result=J.CANCELED,
                                     exception_occurred=True,
                                     exception_type="cancel",
                                     exception_note=""), "Canceled")
        self.assertEqual(self.reason(
            result=J.FAILED, exception_occurred=True, exception_severity=0,
            exception_type="myexception", exception_note="myexception"),
            "Exception: type=myexception note=myexception")
        self.assertEqual(self.reason(result=J.FAILED, waitstatus=143 << 8),
                         "Terminated")
        self.assertEqual(self.reason(result=J.FAILED, waitstatus=127 << 8),
                         "command not found")
        self.assertEqual(self.reason(result=J.FAILED, waitstatus=126 << 8),
                         "Command invoked cannot execute")
        self.assertEqual(self.reason(result=J.FAILED, waitstatus=128 << 8),
                         "Invalid argument to exit")
        self.assertEqual(self.reason(result=J.FAILED, waitstatus=3 << 8),
                         "Exit 3")
        self.assertEqual(self.reason(result=J.TIMEOUT, waitstatus=9),
                         "Timeout")

    def test_contextual_info_and_time(self):
        self.assertEqual(info(state=J.PRIORITY).contextual_info,
                         "priority-wait")
        self.assertEqual(info(state=J.DEPEND, dependencies=[
            "after-finish=f1", "x"]).contextual_info,
            "depends:after-finish=f1,x")
        self.assertEqual(info(state=J.SCHED, urgency=0,
                              priority=0).contextual_info, "held")
        self.assertEqual(info(state=J.SCHED, urgency=16,
                              priority=0).contextual_info, "priority-hold")
        self.assertEqual(info(state=J.SCHED, urgency=16,
                              priority=16).contextual_info, "")
        self.assertEqual(info(state=J.SCHED, urgency=16, priority=16,
                              annotations={"sched": {"t_estimate": NOW + 90}})
                         .contextual_info, "eta:1.5m")
        self.assertEqual(info(state=J.RUN, nodelist="n[1-2]")
                         .contextual_info, "n[1-2]")
        self.assertEqual(info(state=J.SCHED, duration=60.0).contextual_time,
                         60.0)
        self.assertEqual(info(state=J.RUN, t_run=NOW - 5).contextual_time,
                         5.0)

    def test_times(self):
        self.assertEqual(info(state=J.SCHED).runtime, 0.0)
        self.assertEqual(info(state=J.INACTIVE, t_run=10.0,
                              t_cleanup=12.5).runtime, 2.5)
        self.assertEqual(info(state=J.RUN, expiration=NOW + 30)
                         .t_remaining, 30.0)
        self.assertEqual(info(state=J.RUN, expiration=NOW - 30)
                         .t_remaining, 0.0)
        self.assertEqual(info(state=J.SCHED, expiration=NOW + 30)
                         .t_remaining, 0.0)

    def test_begin_time_dependency(self):
        from datetime import datetime
        when = datetime(2001, 2, 3, 4, 5, 6).timestamp()
        job = info(state=J.DEPEND, dependencies=[f"begin-time={when}"])
        self.assertEqual(job.contextual_info, "depends:begin@Feb03-04:05:06")

    def test_ids_users_and_missing_annotations(self):
        job = info(id=6731191091817518, state=J.RUN, userid=os.getuid())
        self.assertEqual((job.id.hex, job.id.dothex, job.id.f58plain),
                         ("0x17e9fb8df16c2e", "0017.e9fb.8df1.6c2e",
                          "fuZZybuNNy"))
        self.assertEqual(render("{id.kvs} {id:>20}", job),
                         ["job.0017.e9fb.8df1.6c2e     6731191091817518"])
        import pwd
        self.assertEqual(job.username, pwd.getpwuid(os.getuid()).pw_name)
        self.assertEqual(info(userid=4242424).username, "4242424")
        self.assertEqual(
            render("{annotations.foo},{annotations.foo:h},"
                   "{sched.t_estimate!d:%H:%M::h},{user.x.y:>3d},"
                   "{annotations}", job), [",-,-,   ,"])
        job = info(state=J.SCHED, annotations={"sched": {"reason": "r"},
                                               "user": {"k": 1}})
        self.assertEqual(render("{sched.reason}|{user.k}|{annotations.user}",
                                job), ['r|1|{"k": 1}'])

    def test_flux_headings(self):
        expected = {
            "id": "JOBID", "id.words": "JOBID", "userid": "UID",
            "urgency": "URG", "priority": "PRI", "state_single": "S",
            "ncores": "NCORES", "contextual_info": "INFO",
            "contextual_time": "TIME", "inactive_reason": "INACTIVE-REASON",
            "result_abbrev": "RS", "status_abbrev": "ST",
            "exception.note": "EXCEPTION-NOTE", "waitstatus": "WSTATUS",
            "returncode": "RC", "t_remaining": "T_REMAINING",
            "annotations.sched.foobar": "SCHED.FOOBAR",
            "sched.foobar": "SCHED.FOOBAR", "user.foobar": "USER.FOOBAR",
            "annotations.sched.t_estimate": "T_ESTIMATE",
            "sched.resource_summary": "RESOURCES"}
        headings = headings_for(list(expected))
        for field, heading in expected.items():
            self.assertEqual(headings[field], heading, field)
        fmt = " ".join(f"{{{f}}}" for f in ("runtime!F", "t_inactive!d",
                                             "expiration!D"))
        self.assertEqual(Formatter(fmt, HEADINGS).header(),
                         "RUNTIME T_INACTIVE EXPIRATION")

    def test_fields_to_attrs(self):
        self.assertEqual(fields_to_attrs(["id.f58", "username", "sched.x",
                                          "status_abbrev", "runtime"]),
                         ["annotations", "result", "state", "t_cleanup",
                          "t_run", "userid"])


class JsonTests(SynchronousTestCase):
    def test_active_job(self):
        got = info(id=5, state=J.RUN, userid=1, urgency=16, priority=16,
                   t_submit=1.0, t_depend=1.5, t_run=NOW - 2, name="x",
                   ntasks=1).to_dict()
        self.assertEqual(got["state"], "RUN")
        self.assertEqual(got["runtime"], 2.0)
        self.assertEqual(got["exception"], {"occurred": False})
        for absent in ("result", "t_cleanup", "nodelist", "waitstatus",
                       "returncode", "expiration", "t_remaining"):
            self.assertNotIn(absent, got)
        json.dumps(got)

    def test_inactive_job(self):
        got = info(id=5, state=J.INACTIVE, result=J.FAILED, userid=1,
                   urgency=16, t_submit=1.0, t_run=2.0, t_cleanup=3.0,
                   t_inactive=4.0, success=False, waitstatus=256,
                   exception_occurred=True, exception_severity=0,
                   exception_type="exec", exception_note="oops",
                   annotations={"user": {"uri": "local:///x", "k": 1}}
                   ).to_dict()
        self.assertEqual((got["result"], got["returncode"], got["success"]),
                         ("FAILED", 1, False))
        self.assertEqual(got["exception"], {"occurred": True, "severity": 0,
                                            "type": "exec", "note": "oops"})
        self.assertEqual(got["uri"], "local:///x")
        self.assertEqual(got["annotations"], {"user": {"k": 1}})
