"""Tests for fluxd.formats.eventlog: RFC 18 eventlogs and their text form."""

import json
import sys
import time
from datetime import timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument
from fluxd.formats import eventlog
from fluxd.formats.eventlog import EventlogError, EventlogFormatter

# t/python/t0033-eventlog-formatter.py input and expected renderings (UTC).
TEST_EVENTLOG = """\
{"timestamp":1738774194.078433,"name":"submit","context":{"userid":1001,"urgency":16,"flags":0,"version":1}}
{"timestamp":1738774194.0947378,"name":"validate"}
{"timestamp":1738774194.1073177,"name":"depend"}
{"timestamp":1738774194.107436,"name":"priority","context":{"priority":16}}
{"timestamp":1738774194.110116,"name":"alloc","context":{"annotations":{"sched":{"resource_summary":"rank[0-3]/core[0-7]"}}}}
{"timestamp":1738774194.1177957,"name":"start"}
{"timestamp":1738774194.1777956,"name":"memo","context":{"test":"ƒ Φ Ψ Ω Ö"}}
{"timestamp":1738774194.1820674,"name":"finish","context":{"status":0}}
{"timestamp":1738774194.1853716,"name":"release","context":{"ranks":"all","final":true}}
{"timestamp":1738774194.1854134,"name":"free"}
{"timestamp":1738774194.1854289,"name":"clean"}
"""

CONTEXTS = [
    " userid=1001 urgency=16 flags=0 version=1", "", "", " priority=16",
    ' annotations={"sched":{"resource_summary":"rank[0-3]/core[0-7]"}}', "",
    ' test="ƒ Φ Ψ Ω Ö"', " status=0", ' ranks="all" final=true', "", "",
]
NAMES = ["submit", "validate", "depend", "priority", "alloc", "start", "memo",
         "finish", "release", "free", "clean"]

RAW_TIMES = ["1738774194.078433", "1738774194.094738", "1738774194.107318",
             "1738774194.107436", "1738774194.110116", "1738774194.117796",
             "1738774194.177796", "1738774194.182067", "1738774194.185372",
             "1738774194.185413", "1738774194.185429"]
HUMAN_TIMES = ["[Feb05 16:49]", "[  +0.016305]", "[  +0.028885]", "[  +0.029003]",
               "[  +0.031683]", "[  +0.039363]", "[  +0.099363]", "[  +0.103634]",
               "[  +0.106939]", "[  +0.106980]", "[  +0.106996]"]
OFFSET_TIMES = ["0.000000", "0.016305", "0.028885", "0.029003", "0.031683",
                "0.039363", "0.099363", "0.103634", "0.106939", "0.106980",
                "0.106996"]
ISO_TIMES = ["2025-02-05T16:49:54.%sZ" % us for us in (
    "078433", "094737", "107317", "107435", "110116", "117795", "177795",
    "182067", "185371", "185413", "185428")]


def expected(times):
    return [f"{t} {n}{c}" for t, n, c in zip(times, NAMES, CONTEXTS)]


class EncodeEntryTests(SynchronousTestCase):
    """encode_entry(): one compact line, flux's key order."""

    def test_key_order_and_compact(self):
        line = eventlog.encode_entry(
            "submit", {"userid": 5588, "urgency": 16, "flags": 0, "version": 1},
            timestamp=1552593348.073045)
        self.assertEqual(
            line,
            '{"timestamp":1552593348.073045,"name":"submit","context":'
            '{"userid":5588,"urgency":16,"flags":0,"version":1}}\n')

    def test_context_omitted(self):
        self.assertEqual(eventlog.encode_entry("clean", timestamp=2.5),
                         '{"timestamp":2.5,"name":"clean"}\n')

    def test_empty_context_kept(self):
        self.assertEqual(eventlog.encode_entry("x", {}, timestamp=1),
                         '{"timestamp":1.0,"name":"x","context":{}}\n')

    def test_integer_timestamp_is_real(self):
        self.assertEqual(json.loads(eventlog.encode_entry("x", timestamp=7))["timestamp"], 7.0)
        self.assertIn('"timestamp":7.0,', eventlog.encode_entry("x", timestamp=7))

    def test_now(self):
        for ts in (None, 0, 0.0):
            before = time.time()
            entry = eventlog.decode_entry(eventlog.encode_entry("x", timestamp=ts))
            after = time.time()
            self.assertTrue(before <= entry["timestamp"] <= after)

    def test_unicode_written_as_is(self):
        line = eventlog.encode_entry("memo", {"test": "ƒ Ω"}, timestamp=1.5)
        self.assertIn('"test":"ƒ Ω"', line)

    def test_errors(self):
        bad = [
            (("",), {}), ((None,), {}), ((5,), {}),
            (("x", [1]), {}), (("x", "str"), {}),
            (("x",), {"timestamp": -1}), (("x",), {"timestamp": float("nan")}),
            (("x",), {"timestamp": float("inf")}), (("x",), {"timestamp": "1"}),
            (("x",), {"timestamp": True}),
            (("x", {"a": object()}), {"timestamp": 1}),
            (("x", {"a": float("nan")}), {"timestamp": 1}),
        ]
        for args, kwargs in bad:
            with self.assertRaises(EventlogError, msg=repr((args, kwargs))):
                eventlog.encode_entry(*args, **kwargs)
        self.assertTrue(issubclass(EventlogError, InvalidArgument))


class DecodeEntryTests(SynchronousTestCase):
    """decode_entry(): exactly one line ending in a newline."""

    def test_valid(self):
        entry = eventlog.decode_entry('{"timestamp":1.5,"name":"a","context":{"k":[1]}}\n')
        self.assertEqual(entry, {"timestamp": 1.5, "name": "a", "context": {"k": [1]}})

    def test_extra_keys_and_integer_timestamp(self):
        entry = eventlog.decode_entry('{"timestamp":3,"name":"a","extra":true}\n')
        self.assertEqual(entry["extra"], True)
        self.assertEqual(entry["timestamp"], 3)

    def test_bytes(self):
        self.assertEqual(eventlog.decode_entry(b'{"timestamp":1,"name":"a"}\n')["name"], "a")

    def test_invalid(self):
        bad = [
            "", "\n", '{"timestamp":1,"name":"a"}', '{"timestamp":1,"name":"a"}\n\n',
            '{"timestamp":1,\n"name":"a"}\n', "not json\n", "[1,2]\n", '"str"\n',
            '{"name":"a"}\n', '{"timestamp":1}\n', '{"timestamp":"1","name":"a"}\n',
            '{"timestamp":true,"name":"a"}\n', '{"timestamp":1,"name":5}\n',
            '{"timestamp":1,"name":"a","context":[]}\n',
            '{"timestamp":1,"name":"a","context":null}\n',
            '{"timestamp":NaN,"name":"a"}\n', '{"timestamp":Infinity,"name":"a"}\n',
            None, 5, b"\xff\n",
        ]
        for line in bad:
            self.assertRaises(EventlogError, eventlog.decode_entry, line)


class DecodeTests(SynchronousTestCase):
    """decode(): libeventlog's whole-log rules."""

    def test_empty(self):
        self.assertEqual(eventlog.decode(""), [])
        self.assertEqual(eventlog.decode(b""), [])

    def test_entries(self):
        entries = eventlog.decode(TEST_EVENTLOG)
        self.assertEqual([e["name"] for e in entries], NAMES)
        self.assertEqual(entries[8]["context"], {"ranks": "all", "final": True})

    def test_text_after_last_newline_ignored(self):
        text = '{"timestamp":1,"name":"a"}\n{"timestamp":2,"na'
        self.assertEqual(eventlog.decode(text), [{"timestamp": 1, "name": "a"}])

    def test_needs_a_newline(self):
        with self.assertRaises(EventlogError) as cm:
            eventlog.decode('{"timestamp":1,"name":"a"}')
        self.assertIn("no complete line", str(cm.exception))

    def test_empty_lines(self):
        for text in ("\n", '\n{"timestamp":1,"name":"a"}\n',
                     '{"timestamp":1,"name":"a"}\n\n{"timestamp":2,"name":"b"}\n',
                     '{"timestamp":1,"name":"a"}\n\n'):
            self.assertRaises(EventlogError, eventlog.decode, text)

    def test_bad_line_named(self):
        with self.assertRaises(EventlogError) as cm:
            eventlog.decode('{"timestamp":1,"name":"a"}\n{"timestamp":1}\n')
        self.assertTrue(str(cm.exception).startswith("eventlog line 2:"))
        self.assertNotIn("\n", str(cm.exception))

    def test_not_text(self):
        self.assertRaises(EventlogError, eventlog.decode, None)
        self.assertRaises(EventlogError, eventlog.decode, b"\xff\xfe\n")

    def test_encode_round_trip(self):
        self.assertEqual(eventlog.encode(eventlog.decode(TEST_EVENTLOG)), TEST_EVENTLOG)
        self.assertEqual(eventlog.encode([]), "")
        self.assertRaises(EventlogError, eventlog.encode, [{"name": "x"}])
        self.assertRaises(EventlogError, eventlog.encode,
                          [{"name": "x", "timestamp": 1, "context": {"a": {1, 2}}}])

    def test_contains_event(self):
        self.assertTrue(eventlog.contains_event(TEST_EVENTLOG, "alloc"))
        self.assertFalse(eventlog.contains_event(TEST_EVENTLOG, "exception"))
        self.assertFalse(eventlog.contains_event("", "alloc"))
        self.assertRaises(EventlogError, eventlog.contains_event, "x", "alloc")

    def test_validate_entry(self):
        eventlog.validate_entry({"timestamp": 1, "name": "a", "context": {}})
        for bad in ([], {"timestamp": 1}, {"name": "a", "timestamp": None},
                    {"name": "a", "timestamp": 1, "context": 3}):
            self.assertRaises(EventlogError, eventlog.validate_entry, bad)

    @given(st.text(min_size=1),
           st.none() | st.dictionaries(st.text(), st.integers() | st.text() | st.booleans()),
           st.floats(min_value=0.001, max_value=4e9))
    def test_entry_round_trip(self, name, context, ts):
        line = eventlog.encode_entry(name, context, timestamp=ts)
        self.assertEqual(line.count("\n"), 1)
        entry = eventlog.decode_entry(line)
        self.assertEqual(list(entry), ["timestamp", "name"] + (["context"] if context is not None else []))
        self.assertEqual(entry["timestamp"], ts)
        self.assertEqual(entry["name"], name)
        self.assertEqual(entry.get("context"), context)


class FormatterTests(SynchronousTestCase):
    """The text form, checked against flux-core's t0033 renderings."""

    def setUp(self):
        self.entries = eventlog.decode(TEST_EVENTLOG)

    def render(self, evf):
        return [evf.format(e) for e in self.entries]

    def test_raw(self):
        self.assertEqual(self.render(EventlogFormatter()), expected(RAW_TIMES))

    def test_human(self):
        evf = EventlogFormatter("human", tz=timezone.utc)
        self.assertEqual(self.render(evf), expected(HUMAN_TIMES))

    def test_offset(self):
        self.assertEqual(self.render(EventlogFormatter("offset")), expected(OFFSET_TIMES))

    def test_iso_utc(self):
        evf = EventlogFormatter("iso", tz=timezone.utc)
        self.assertEqual(self.render(evf), expected(ISO_TIMES))

    def test_iso_offsets(self):
        entry = self.entries[0]
        west = EventlogFormatter("iso", tz=timezone(timedelta(hours=-7)))
        self.assertEqual(west.format(entry).split()[0], "2025-02-05T09:49:54.078433-07:00")
        east = EventlogFormatter("iso", tz=timezone(timedelta(hours=5, minutes=30)))
        self.assertEqual(east.format(entry).split()[0], "2025-02-05T22:19:54.078433+05:30")

    def test_iso_local_zone(self):
        stamp = EventlogFormatter("iso").format(self.entries[0]).split()[0]
        self.assertRegex(stamp, r"^2025-02-0[56]T\d\d:\d\d:54\.078433(Z|[+-]\d\d:\d\d)$")

    def test_json(self):
        evf = EventlogFormatter(entry_format="json")
        self.assertEqual(self.render(evf), TEST_EVENTLOG.splitlines())

    def test_human_new_minute(self):
        base = 1738774194.0    # 16:49:54 UTC
        evf = EventlogFormatter("human", tz=timezone.utc)
        out = [evf.format({"timestamp": base + d, "name": "e"})[:-2]
               for d in (0, 5.5, 6.0, 70.25, 71.0)]
        # 16:50:00 is a new calendar minute even though < 60 s have passed.
        self.assertEqual(out, ["[Feb05 16:49]", "[  +5.500000]", "[Feb05 16:50]",
                               "[Feb05 16:51]", "[  +0.750000]"])

    def test_human_negative_timestamp(self):
        evf = EventlogFormatter("human", tz=timezone.utc)
        self.assertEqual(evf.format({"timestamp": -1.5, "name": "x"}), "[  -1.500000] x")

    def test_reset_and_aliases(self):
        evf = EventlogFormatter("OFFSET")
        evf.format(self.entries[0])
        self.assertEqual(evf.format(self.entries[1]).split()[0], "0.016305")
        evf.reset()
        self.assertEqual(evf.format(self.entries[1]).split()[0], "0.000000")
        human = EventlogFormatter("reltime", tz=timezone.utc)
        self.assertEqual(human.time_format, "human")

    def test_color(self):
        evf = EventlogFormatter("raw", color="always")
        line = evf.format({"timestamp": 1.0, "name": "exception",
                           "context": {"type": "cancel", "severity": 0}})
        self.assertEqual(
            line,
            "\033[32m1.000000\033[0m \033[1m\033[31mexception\033[0m"
            " \033[34mtype\033[0m=\033[35m\"cancel\"\033[0m"
            " \033[34mseverity\033[0m=\033[37m0\033[0m")
        plain = EventlogFormatter("raw", color="never")
        self.assertNotIn("\033", plain.format(self.entries[0]))
        self.assertEqual(EventlogFormatter(color="auto").color, sys.stdout.isatty())

    def test_invalid_choices(self):
        self.assertRaises(EventlogError, EventlogFormatter, "foo")
        self.assertRaises(EventlogError, EventlogFormatter, entry_format="foo")
        self.assertRaises(EventlogError, EventlogFormatter, color="foo")
        self.assertRaises(EventlogError, EventlogFormatter().format, {"name": "x"})

    def test_format_line_string(self):
        line = TEST_EVENTLOG.splitlines()[3]
        self.assertEqual(EventlogFormatter().format(line),
                         "1738774194.107436 priority priority=16")
        self.assertEqual(EventlogFormatter().format(line + "\n"),
                         "1738774194.107436 priority priority=16")

    def test_format_entry(self):
        entry = self.entries[1]
        self.assertEqual(eventlog.format_entry(entry), "1738774194.094738 validate")
        self.assertEqual(eventlog.format_entry(entry, "offset"), "0.000000 validate")
        self.assertEqual(eventlog.format_entry(entry, "offset", first_ts=1738774194.078433),
                         "0.016305 validate")
        self.assertEqual(eventlog.format_entry(entry, "human", tz=timezone.utc),
                         "[Feb05 16:49] validate")
        self.assertEqual(eventlog.format_entry(entry, "human", first_ts=1738774194.078433,
                                               tz=timezone.utc),
                         "[  +0.016305] validate")
        self.assertEqual(eventlog.format_entry(entry, entry_format="json"),
                         '{"timestamp":1738774194.0947378,"name":"validate"}')
