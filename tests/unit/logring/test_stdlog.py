"""RFC 5424 records as flux carries them."""

import datetime

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.logring import stdlog

T0 = 1714686663.123456  # 2024-05-02T21:51:03.123456Z


class EncodeDecodeTests(SynchronousTestCase):
    def test_layout(self):
        record = stdlog.encode(6, "broker", 0, "hello world", T0, procid=42)
        self.assertEqual(
            record, "<14>1 2024-05-02T21:51:03.123456Z 0 broker 42 - - hello world")

    def test_decode(self):
        rec = stdlog.decode("<11>1 2024-05-02T21:51:03.123456Z 3 kvs - - - oops")
        self.assertEqual((rec.facility, rec.severity, rec.rank, rec.appname,
                          rec.message), (1, 3, 3, "kvs", "oops"))
        self.assertEqual(rec.severity_name, "err")
        self.assertAlmostEqual(rec.timestamp, T0, places=5)

    def test_trailing_newlines_dropped(self):
        record = stdlog.encode(5, "logger", 0, "line\r\n\n", T0)
        self.assertTrue(record.endswith(" line"))

    def test_structured_data_with_spaces(self):
        rec = stdlog.decode('<13>1 - 0 app - - [x a="b c"] the message')
        self.assertEqual((rec.structured_data, rec.message),
                         ('[x a="b c"]', "the message"))
        self.assertIsNone(rec.timestamp)

    def test_bytes_and_nul(self):
        rec = stdlog.decode(stdlog.encode(7, "a", 1, "x", T0).encode() + b"\0")
        self.assertEqual(rec.message, "x")

    def test_non_numeric_hostname(self):
        self.assertIsNone(stdlog.decode("<14>1 - host app - - - m").rank)

    @given(st.integers(0, 7), st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1,
                                      max_size=48),
           st.integers(0, 2**31), st.text().filter(lambda t: "\r" not in t and not
                                             t.endswith(("\n", "\0"))))
    def test_round_trip(self, severity, appname, rank, message):
        rec = stdlog.decode(stdlog.encode(severity, appname, rank, message, T0))
        self.assertEqual((rec.severity, rec.appname, rec.rank, rec.message),
                         (severity, appname, rank, message))

    def test_bad_records(self):
        for bad in ["", "hello", "<x>1 - - - - - - m", "<14>1 - 0 app",
                    "<200>1 - 0 a - - - m", "<14>x - 0 a - - - m",
                    "<14>1 - 0 a - - [unterminated"]:
            with self.subTest(bad=bad):
                self.assertRaises(stdlog.StdlogError, stdlog.decode, bad)

    def test_bad_fields(self):
        self.assertRaises(stdlog.StdlogError, stdlog.encode, 8, "a", 0, "m")
        self.assertRaises(stdlog.StdlogError, stdlog.encode, 6, "two words", 0, "m")
        self.assertRaises(stdlog.StdlogError, stdlog.encode, 6, "a" * 49, 0, "m")


class SeverityTests(SynchronousTestCase):
    def test_names(self):
        self.assertEqual([stdlog.severity_from_name(n) for n in stdlog.SEVERITIES],
                         list(range(8)))
        self.assertEqual(stdlog.severity_from_name("WARNING"), 4)
        self.assertRaises(stdlog.StdlogError, stdlog.severity_from_name, "loud")
        self.assertEqual(stdlog.severity_name(9), "-")


class LineTests(SynchronousTestCase):
    def test_journal_line(self):
        rec = stdlog.decode(stdlog.encode(6, "broker", 2, "start: none->join 0.0162958s", T0))
        self.assertEqual(stdlog.journal_line(rec),
                         "broker.info[2]: start: none->join 0.0162958s")

    def test_leader_line(self):
        rec = stdlog.decode(stdlog.encode(3, "kvs", 0, "bad", T0))
        tz = datetime.timezone(datetime.timedelta(hours=-7), "PDT")
        self.assertEqual(stdlog.leader_line(rec, tz),
                         "May 02 14:51:03.123456 PDT 2024 kvs.err[0]: bad")

    def test_timestamps(self):
        self.assertEqual(stdlog.format_timestamp(T0), "2024-05-02T21:51:03.123456Z")
        self.assertAlmostEqual(stdlog.parse_timestamp("2024-05-02T14:51:03.5-07:00"),
                               1714686663.5)
        self.assertIsNone(stdlog.parse_timestamp("yesterday"))
        self.assertIsNone(stdlog.parse_timestamp("2024-05-02T14:51:03"))
