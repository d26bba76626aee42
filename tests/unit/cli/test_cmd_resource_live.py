"""``flux resource undrain`` and ``flux resource eventlog`` against a fake
broker handle (the real service is exercised by the integration tests)."""

import io

from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli._resource_eventlog import (
    event_matches, parse_matches, resolve_include)
from fluxd.cli.cmd_resource import ResourceCommand
from fluxd.errors import FluxError, InvalidArgument
from fluxd.formats.idset import IDset

JOURNAL = [
    {"timestamp": 100.0, "name": "drain",
     "context": {"idset": "1", "nodelist": "test2", "reason": "old"}},
    {"timestamp": 200.0, "name": "restart",
     "context": {"ranks": "0-3", "online": "", "nodelist": "test[1-4]"}},
    {"timestamp": 200.5, "name": "online", "context": {"idset": "0-3"}},
    {"timestamp": 201.0, "name": "resource-define",
     "context": {"method": "configuration"}},
]
LATER = [
    {"timestamp": 300.0, "name": "drain",
     "context": {"idset": "2", "nodelist": "test3", "reason": "x",
                 "overwrite": 0}},
    {"timestamp": 301.0, "name": "drain",
     "context": {"idset": "3", "nodelist": "test4", "reason": "y",
                 "overwrite": 0}},
]


class FakeHandle:
    """Answers RPCs from a table; ``resource.journal`` streams the
    backlog, the end marker, then the later events."""

    def __init__(self, answers=None, journal=JOURNAL, later=LATER):
        self.answers = answers or {}
        self.journal, self.later = journal, later
        self.calls = []
        self.streamed = 0
        self.closed = False

    def rpc(self, topic, payload=None, nodeid=None, **kw):
        self.calls.append((topic, payload, nodeid))
        answer = self.answers.get(topic, {})
        if isinstance(answer, Exception):
            raise answer
        return answer

    def stream(self, topic, payload=None, nodeid=None):
        self.calls.append((topic, payload, nodeid))
        for entry in self.journal:
            self.streamed += 1
            yield {"events": [entry]}
        yield {"events": []}
        for entry in self.later:
            self.streamed += 1
            yield {"events": [entry]}

    def close(self):
        self.closed = True


def run(argv, handle):
    out, err = io.StringIO(), io.StringIO()
    cmd = ResourceCommand(stdin=io.StringIO(), stdout=out, stderr=err,
                          environ={}, connect=lambda: handle)
    rc = cmd.run(argv)
    return rc, out.getvalue(), err.getvalue()


class UndrainTests(SynchronousTestCase):
    def test_payloads(self):
        cases = [
            (["undrain", "1"], {"targets": "1"}),
            (["undrain", "-f", "test[1-2]", "back", "in", "service"],
             {"targets": "test[1-2]", "mode": "force",
              "reason": "back in service"}),
        ]
        for argv, payload in cases:
            handle = FakeHandle()
            self.assertEqual(run(argv, handle), (0, "", ""))
            self.assertEqual(handle.calls, [("resource.undrain", payload, 0)])
            self.assertTrue(handle.closed)

    def test_error_is_raised_for_the_dispatcher(self):
        handle = FakeHandle({"resource.undrain":
                             InvalidArgument("rank 1 not drained")})
        with self.assertRaises(InvalidArgument) as cm:
            run(["undrain", "1"], handle)
        self.assertEqual(str(cm.exception), "rank 1 not drained")
        self.assertTrue(handle.closed)


class EventlogTests(SynchronousTestCase):
    def test_backlog_only_by_default(self):
        handle = FakeHandle()
        rc, out, _ = run(["eventlog"], handle)
        self.assertEqual(rc, 0)
        self.assertEqual(out.splitlines(), [
            '100.000000 drain idset="1" nodelist="test2" reason="old"',
            '200.000000 restart ranks="0-3" online="" nodelist="test[1-4]"',
            '200.500000 online idset="0-3"',
            '201.000000 resource-define method="configuration"'])
        self.assertEqual(handle.calls, [("resource.journal", {}, 0)])
        self.assertEqual(handle.streamed, len(JOURNAL))

    def test_json_and_offset(self):
        _, out, _ = run(["eventlog", "-f", "json"], FakeHandle())
        self.assertEqual(out.splitlines()[2],
                         '{"timestamp":200.5,"name":"online",'
                         '"context":{"idset":"0-3"}}')
        _, out, _ = run(["eventlog", "-T", "offset"], FakeHandle())
        self.assertEqual([line.split()[0] for line in out.splitlines()],
                         ["0.000000", "100.000000", "100.500000",
                          "101.000000"])

    def test_follow_reads_to_the_end(self):
        _, out, _ = run(["eventlog", "-F"], FakeHandle())
        self.assertEqual(len(out.splitlines()), len(JOURNAL) + len(LATER))

    def test_wait_for_an_event(self):
        handle = FakeHandle()
        rc, out, _ = run(["eventlog", "-w", "drain", "-m", "idset=\"3\""],
                         handle)
        self.assertEqual(rc, 0)
        self.assertTrue(out.splitlines()[-1].startswith("301.000000 drain"))
        # a matching event in the backlog ends the wait at once
        handle = FakeHandle()
        _, out, _ = run(["eventlog", "-w", "drain"], handle)
        self.assertEqual(len(out.splitlines()), 1)
        self.assertEqual(handle.streamed, 1)

    def test_wait_ends_with_the_stream(self):
        with self.assertRaises(FluxError) as cm:
            run(["eventlog", "-w", "undrain"], FakeHandle())
        self.assertEqual(str(cm.exception),
                         "resource eventlog ended before the undrain event")

    def test_include(self):
        handle = FakeHandle({"attr.get": {"value": "test[1-4]"}})
        _, out, _ = run(["eventlog", "-F", "-i", "test[3-4]"], handle)
        self.assertEqual([line.split()[1] for line in out.splitlines()],
                         ["restart", "online", "drain", "drain"])
        self.assertIn(("attr.get", {"name": "hostlist"}, 0), handle.calls)
        _, out, _ = run(["eventlog", "-i", "1"], FakeHandle(
            {"attr.get": {"value": "test[1-4]"}}))
        self.assertEqual(len(out.splitlines()), 3)

    def test_bad_options(self):
        cases = [
            (["-m", "noequals"],
             "--match-context: 'noequals' is not KEY=VALUE"),
            (["-m", "=val"], "--match-context: empty key in '=val'"),
            (["-t", "notanumber"],
             "--timeout: invalid duration 'notanumber'"),
            (["-i", "foo"], "--include: invalid hosts: foo"),
            (["-i", "42"], "--include: rank 42 is not in this instance"),
        ]
        for argv, message in cases:
            handle = FakeHandle({"attr.get": {"value": "test[1-4]"}})
            with self.assertRaises(InvalidArgument) as cm:
                run(["eventlog", *argv], handle)
            self.assertEqual(str(cm.exception), message)

    def test_human_and_color(self):
        _, out, _ = run(["eventlog", "-H"], FakeHandle())
        self.assertRegex(out.splitlines()[0],
                         r"^\[[A-Z][a-z]{2}\d\d \d\d:\d\d\] drain ")
        _, out, _ = run(["eventlog", "-L"], FakeHandle())
        self.assertIn("\033[", out)
        _, out, _ = run(["eventlog"], FakeHandle())
        self.assertNotIn("\033[", out)


class HelperTests(SynchronousTestCase):
    def test_matches(self):
        self.assertEqual(parse_matches(["a=1", "b=x", 'c="1"', "d=1.5"]),
                         {"a": 1, "b": "x", "c": "1", "d": 1.5})
        entry = {"name": "resource-update",
                 "context": {"expiration": 1700000000.0, "idset": "1"}}
        self.assertTrue(event_matches(entry, "resource-update",
                                      {"expiration": 1700000000.000001}))
        self.assertFalse(event_matches(entry, "resource-update",
                                       {"expiration": 1700000001}))
        self.assertFalse(event_matches(entry, "resource-update",
                                       {"idset": 1}))
        self.assertFalse(event_matches(entry, "drain", {}))

    def test_include(self):
        hosts = ["a1", "a2", "a3"]
        self.assertEqual(resolve_include("a[1,3]", hosts), IDset("0,2"))
        self.assertEqual(resolve_include("1-2", hosts), IDset("1-2"))
        with self.assertRaises(InvalidArgument):
            resolve_include("a[1-", hosts)
