"""``flux queue list`` rows: limits by precedence, effective ranges from a
queue's resources, the default queue's mark (spec/cli.md section 2)."""

import io

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli._queue_list import FORMATS, HEADINGS, queue_infos
from fluxd.cli.formatting import Formatter
from fluxd.errors import InvalidArgument
from fluxd.resource._schedlist import SchedResourceList

R = {"version": 1, "execution": {
    "R_lite": [{"rank": "0-1", "children": {"core": "0-7"}},
               {"rank": "2-3", "children": {"core": "0-3", "gpu": "0"}}],
    "nodelist": ["test[1-4]"],
    "properties": {"debug": "0-1", "batch": "2-3"},
    "starttime": 0.0, "expiration": 0.0}}

CONFIG = {
    "policy": {"jobspec": {"defaults": {"system": {"duration": "1m",
                                                   "queue": "debug"}}},
               "limits": {"duration": "2h",
                          "job-size": {"max": {"nnodes": 8, "ncores": 32}}}},
    "queues": {"debug": {"requires": ["debug"],
                         "policy": {"limits": {"duration": "30m",
                                               "job-size": {"max": {
                                                   "nnodes": 1}}}}},
               "batch": {"requires": ["batch"],
                         "policy": {"limits": {"duration": "0",
                                               "job-size": {"min": {
                                                   "nnodes": 2}}}}}},
}


def render(fmt, rows):
    out = io.StringIO()
    Formatter(fmt, headings=HEADINGS).print_items(rows, out=out)
    return out.getvalue()


def status(name):
    if name == "batch":
        return {"enable": False, "start": False,
                "disable_reason": "x"}
    return {"enable": True, "start": True}


class QueueListTests(SynchronousTestCase):
    def rows(self, **kw):
        return queue_infos(["batch", "debug"], CONFIG, status,
                           SchedResourceList({"all": R}), **kw)

    def test_default_format(self):
        self.assertEqual(render(FORMATS["default"]["format"], self.rows()), (
            "QUEUE    EN ST TDEFAULT   TLIMIT     NNODES     NCORES      NGPUS\n"
            "batch     ✗  ✗       1m      inf        2-2        0-8        0-2\n"
            "debug*    ✔  ✔       1m      30m        0-1       0-16        0-0\n"
        ))

    def test_policy_format_and_fields(self):
        self.assertEqual(render(FORMATS["policy"]["format"], self.rows()), (
            "QUEUE    EN ST TDEFAULT   TLIMIT     NNODES     NCORES      NGPUS\n"
            "batch     ✗  ✗       1m      inf        2-8       0-32      0-inf\n"
            "debug*    ✔  ✔       1m      30m        0-1       0-32      0-inf\n"
        ))
        self.assertEqual(render(
            "{queue} {submission} {scheduling} {limits.max.ngpus}"
            " {resources.all.ncores} {started.ascii}", self.rows(
                only=["debug"])),
            "QUEUE SUBMIT SCHED MAXGPUS CORES ST\n"
            "debug enabled started inf 16 y\n")

    def test_anonymous_queue_drops_the_name_columns(self):
        rows = queue_infos([], {}, lambda name: {"enable": True,
                                                 "start": False},
                           SchedResourceList({"all": R}))
        self.assertEqual(render(FORMATS["default"]["format"], rows), (
            # the separator before EN stays, as flux-core's filter leaves it
            " EN ST TDEFAULT   TLIMIT     NNODES     NCORES      NGPUS\n"
            "  ✔  ✗      inf      inf        0-4       0-24        0-2\n"))

    def test_unknown_queue(self):
        with self.assertRaises(InvalidArgument) as cm:
            self.rows(only=["express"])
        self.assertEqual(str(cm.exception), "express: no such queue")
