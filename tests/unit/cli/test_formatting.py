"""Tests for the output format mini-language (fluxd.cli.formatting).

Covers spec/cli.md section 0 (fields, headers, ``?:``/``+:``/``?+:``, the
``h`` and ``+`` suffixes, conversions, ``sort:``), named formats and their
configuration files, and the flux-jobs test vectors that exercise only the
formatter.  Those vectors need a job record; the few derived values they
use (``t_*`` defaulting to 0.0, ``runtime``) come from a small stand-in
record here, as the ``flux jobs`` job model will provide them.
"""

import io
import json
import os
import shutil
import tempfile
import time

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.cli._fieldformat import display_width
from fluxd.cli.formatting import (
    AltField, Deduplicator, FormatConfig, FormatSpec, Formatter,
)
from fluxd.errors import InvalidArgument
from tests import VECTORS as ALL_VECTORS

JOBS_VECTORS = os.path.join(ALL_VECTORS, "flux-jobs", "tests")

HEADINGS = {"name": "NAME", "n": "N", "t": "TIME", "d": "DURATION",
            "queue": "QUEUE", "props": "PROPERTIES", "x.y": "XY",
            "up": "UP", "up.ascii": "UP"}


class Obj:
    """An object with attributes."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def render(fmt, items, headings=HEADINGS, no_header=False):
    return Formatter(fmt, headings).render(items, no_header=no_header)


class UTC:
    """Mixin: run the test in UTC so datetime renderings are fixed."""

    def setUp(self):
        old = os.environ.get("TZ")
        os.environ["TZ"] = "UTC"
        time.tzset()

        def restore():
            if old is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = old
            time.tzset()
        self.addCleanup(restore)


class HeaderAndFieldTests(SynchronousTestCase):

    def test_header_aligned_like_fields(self):
        lines = render("{name:>8} {n:<4} {queue}", [Obj(name="a", n=1,
                                                        queue="q")])
        self.assertEqual(lines, ["    NAME N    QUEUE", "       a 1    q"])

    def test_header_keeps_only_align_and_width(self):
        f = Formatter("{n:>08.3f} {t!d:%H::^9}", HEADINGS)
        self.assertEqual(f.header_format(), "{n:>8} {t:^9}")
        self.assertEqual(f.header(), "       N   TIME   ")

    def test_no_header(self):
        self.assertEqual(render("{n}", [Obj(n=3)], no_header=True), ["3"])

    def test_header_printed_with_no_items(self):
        self.assertEqual(render("{name:<6}|", []), ["NAME  |"])

    def test_unknown_field(self):
        with self.assertRaises(InvalidArgument) as cm:
            Formatter("{nope}", HEADINGS)
        self.assertEqual(str(cm.exception), "Unknown format field: nope")

    def test_malformed_format(self):
        self.assertRaises(InvalidArgument, Formatter, "{name", HEADINGS)

    def test_dict_items_and_dotted_fields(self):
        lines = render("{name} {x.y}", [{"name": "a", "x": {"y": 5}},
                                        Obj(name="b", x=Obj(y=6))],
                       no_header=True)
        self.assertEqual(lines, ["a 5", "b 6"])

    def test_missing_field_on_object(self):
        f = Formatter("{name}", HEADINGS)
        with self.assertRaises(InvalidArgument) as cm:
            f.format(Obj())
        self.assertIn("Invalid format field", str(cm.exception))

    def test_blank_rows_skipped(self):
        self.assertEqual(render("{name}", [Obj(name=""), Obj(name="x")],
                                no_header=True), ["x"])

    def test_alt_field(self):
        up = AltField("✔", "y")
        self.assertEqual(render("{up:>2} {up.ascii:>2}", [Obj(up=up)]),
                         ["UP UP", " ✔  y"])
        self.assertEqual(str(up), "✔")

    def test_fields_in_order_with_sort_keys(self):
        f = Formatter("sort:-n {name} {n} {name}", HEADINGS)
        self.assertEqual(f.fields, ["name", "n"])
        f = Formatter("sort:queue {name}", HEADINGS)
        self.assertEqual(f.fields, ["name", "queue"])


class SuffixTests(UTC, SynchronousTestCase):

    def test_h_suffix_renders_empty_as_dash(self):
        items = [Obj(d=v) for v in ("", "0s", "0.0", "0:00:00", 0.0, "x")]
        self.assertEqual(render("{d:>3h}", items, no_header=True),
                         ["  -"] * 5 + ["  x"])

    def test_h_suffix_keeps_integer_zero(self):
        # "0" is not an empty rendering: NNODES 0 stays 0.
        self.assertEqual(render("{n:>2h}", [Obj(n=0)], no_header=True),
                         [" 0"])

    def test_truncation_mark(self):
        lines = render("{name:<5.5+}|{name:<5.5}|", [Obj(name="abcdefg"),
                                                    Obj(name="abc")],
                       no_header=True)
        self.assertEqual(lines, ["abcd+|abcde|", "abc  |abc  |"])

    def test_wide_characters(self):
        self.assertEqual(display_width("ƒ3ctHRVy"), 8)
        self.assertEqual(display_width("😀a"), 3)
        lines = render("{name:<4W}|", [Obj(name="😀a")], no_header=True)
        self.assertEqual(lines, ["😀a |"])

    def test_bad_spec_is_invalid_argument(self):
        f = Formatter("{n:>4.2d}", HEADINGS)
        self.assertRaises(InvalidArgument, f.format, Obj(n=3))


class ConversionTests(UTC, SynchronousTestCase):

    def fmt(self, fmt, **values):
        return Formatter(fmt, HEADINGS).format(Obj(**values))

    def test_datetime(self):
        t = 1608109225.5  # 2020-12-16 09:00:25 UTC
        self.assertEqual(self.fmt("{t!d:%b%d %R::<12}|", t=t),
                         "Dec16 09:00 |")
        self.assertEqual(self.fmt("{t!d}", t=t), "2020-12-16T09:00:25")
        self.assertEqual(self.fmt("{t!d:%H:%M::>7}", t=t), "  09:00")

    def test_datetime_epoch_and_empty(self):
        self.assertEqual(self.fmt("{t!d:%b%d::<6}|", t=0.0), "      |")
        self.assertEqual(self.fmt("{t!d:%b%d::<6h}|", t=""), "-     |")
        self.assertEqual(self.fmt("{t!d:%b%d %R::<12}|", t=""),
                         "            |")

    def test_iso_date(self):
        self.assertEqual(self.fmt("{t!D}", t=1608109225.5),
                         "2020-12-16T09:00:25")
        self.assertEqual(self.fmt("{t!D:h}", t=0.0), "-")
        self.assertEqual(self.fmt("[{t!D}]", t=""), "[]")

    def test_fsd(self):
        self.assertEqual(self.fmt("{d!F}", d=6.5934), "6.593s")
        self.assertEqual(self.fmt("{d!F:>8h}", d=0.0), "       -")
        self.assertEqual(self.fmt("{d!F}", d=float("inf")), "inf")
        self.assertEqual(self.fmt("[{d!F}]", d=""), "[]")

    def test_hms(self):
        self.assertEqual(self.fmt("{d!H}", d=3725.4), "1:02:05")
        self.assertEqual(self.fmt("{d!H}", d=0.2), "0:00:01")
        self.assertEqual(self.fmt("{d!H:h}", d=0), "-")

    def test_percent(self):
        self.assertEqual(self.fmt("{d!P}", d=0.5), "50%")
        self.assertEqual(self.fmt("{d!P}", d=0.001), "0.10%")
        self.assertEqual(self.fmt("{d!P}", d=0.12345), "12.3%")
        self.assertEqual(self.fmt("[{d!P}]", d=""), "[]")

    def test_standard_conversions_still_work(self):
        self.assertEqual(self.fmt("{name!r}", name="a"), "'a'")

    def test_bad_value_for_conversion(self):
        self.assertRaises(InvalidArgument, self.fmt, "{d!F}", d="soon")
        self.assertRaises(InvalidArgument, self.fmt, "{d!d}", d="soon")


class SentinelTests(SynchronousTestCase):

    def test_filter_drops_empty_column(self):
        items = [Obj(name="a", queue=""), Obj(name="b", queue="")]
        self.assertEqual(render("{name} ?:{queue:<8} |", items),
                         ["NAME |", "a |", "b |"])

    def test_filter_keeps_column_with_a_value(self):
        items = [Obj(name="a", queue=""), Obj(name="b", queue="debug")]
        self.assertEqual(render("{name} ?:{queue:<3}|", items),
                         ["NAME QUEUE|", "a    |", "b debug|"])

    def test_filter_counts_zero_durations_as_empty(self):
        items = [Obj(name="a", d="0s"), Obj(name="b", d="0:00:00")]
        self.assertEqual(render("{name}?:{d:>4}", items, no_header=True),
                         ["a", "b"])

    def test_maxwidth_widens_to_widest_value_and_heading(self):
        items = [Obj(queue="batch", n=1), Obj(queue="averylongqueue", n=2)]
        self.assertEqual(render("+:{queue:<3} {n}", items),
                         ["QUEUE          N", "batch          1",
                          "averylongqueue 2"])
        # Heading counts unless there is no header:
        self.assertEqual(render("+:{props:<2}|", [Obj(props="ab")]),
                         ["PROPERTIES|", "ab        |"])
        self.assertEqual(render("+:{props:<2}|", [Obj(props="abc")],
                                no_header=True), ["abc|"])

    def test_maxwidth_never_narrows(self):
        self.assertEqual(render("+:{n:>6}|", [Obj(n=1)]),
                         ["     N|", "     1|"])

    def test_maxwidth_widens_precision_too(self):
        items = [Obj(props="abcdefghijkl")]
        self.assertEqual(render("+:{props:<4.4}|", items, no_header=True),
                         ["abcdefghijkl|"])

    def test_both(self):
        empty = [Obj(name="a", queue="")]
        # The column goes with the text before it.
        self.assertEqual(render("{name} ?+:{queue:<5}|", empty),
                         ["NAME|", "a|"])
        full = [Obj(name="a", queue="pbatch1")]
        self.assertEqual(render("{name} ?+:{queue:<5}|", full),
                         ["NAME QUEUE  |", "a pbatch1|"])

    def test_filter_ignores_spec_width(self):
        # The spec would pad even an empty value: measured without it.
        items = [Obj(name="x", n="")]
        self.assertEqual(render("{name}?:{n:>8}", items, no_header=True),
                         ["x"])

    def test_filter_result_keeps_sort_prefix(self):
        f = Formatter("sort:-n ?:{queue} {n}", HEADINGS)
        self.assertEqual(f.filter([Obj(queue="", n=1)]), "sort:-n  {n}")
        self.assertEqual(f.sort_keys, [("n", True)])

    def test_filter_with_datetime_keeps_time_format(self):
        f = Formatter("+:{t!d:%Y::<2}|", HEADINGS)
        self.assertEqual(f.filter([Obj(t=1608109225.0)], no_header=True),
                         "{t!d:%Y::<4}|")

    def test_original_format_unchanged_by_filter(self):
        f = Formatter("{name} ?:{queue:<8}", HEADINGS)
        f.render([Obj(name="a", queue="")])
        self.assertEqual(f.get_format(orig=True), "{name} ?:{queue:<8}")


class SortTests(SynchronousTestCase):

    def test_sort_prefix(self):
        items = [Obj(name="b", n=1), Obj(name="a", n=2), Obj(name="c", n=2)]
        self.assertEqual(render("sort:name {name}", items, no_header=True),
                         ["a", "b", "c"])
        self.assertEqual(render("sort:-n,name {name}", items,
                                no_header=True), ["a", "c", "b"])

    def test_sort_key_not_shown(self):
        items = [Obj(name="b", n=1), Obj(name="a", n=2)]
        self.assertEqual(render("sort:-n {name}", items), ["NAME", "a", "b"])

    def test_set_sort_keys_overrides(self):
        f = Formatter("sort:name {name}", HEADINGS)
        f.set_sort_keys("-name")
        self.assertEqual(f.get_format(), "sort:-name {0.name}")
        self.assertEqual(f.render([Obj(name="a"), Obj(name="b")],
                                  no_header=True), ["b", "a"])

    def test_invalid_sort_key(self):
        with self.assertRaises(InvalidArgument) as cm:
            Formatter("sort:bogus {name}", HEADINGS)
        self.assertEqual(str(cm.exception), "Invalid sort key: bogus")

    def test_print_items_writes_lines(self):
        out = io.StringIO()
        Formatter("{name}", HEADINGS).print_items([Obj(name="x")], out=out)
        self.assertEqual(out.getvalue(), "NAME\nx\n")


class FormatSpecTests(SynchronousTestCase):

    def test_round_trip(self):
        for spec in ("", ">10", "<30.30+", "*^+#012,.3fh", ">6h", "<8W",
                     "%b%d %R::<12"):
            self.assertEqual(str(FormatSpec(spec)), spec)

    def test_parts(self):
        spec = FormatSpec("%H::>12.4+")
        self.assertEqual((spec.prefix, spec.align, spec.width,
                          spec.precision), ("%H::", ">", 12, 4))
        spec.width = 20
        self.assertEqual(str(spec), "%H::>20.20+")

    @given(st.text(alphabet="abc", max_size=12), st.integers(1, 15))
    def test_truncation_mark_width(self, value, width):
        f = Formatter(f"{{name:<{width}.{width}+}}", HEADINGS)
        line = f.format(Obj(name=value))
        self.assertEqual(len(line), width)
        if len(value) > width:
            self.assertEqual(line, value[:width - 1] + "+")
        else:
            self.assertEqual(line.rstrip(" "), value)


class CopyAndDeduplicatorTests(SynchronousTestCase):

    def test_copy_except_fields_keeps_spacing(self):
        f = Formatter("{name:>12} {queue}{n:>2}{props} {t:>6} {x.y}",
                      HEADINGS)
        copy = f.copy(except_fields=["queue", "props"])
        self.assertEqual(copy.get_format(orig=True),
                         "{name:>12} {n:>2} {t:>6} {x.y}")

    def test_copy_except_fields_drops_sentinels(self):
        f = Formatter("{name} ?:{queue:<5} +:{n:>3}", HEADINGS)
        self.assertEqual(f.copy(except_fields=["queue", "n"])
                         .get_format(orig=True), "{name}  ")

    def test_copy_nullifies_expansion(self):
        f = Formatter("{name} +:{props:<10.10} ?+:{queue:<3}", HEADINGS)
        self.assertEqual(f.copy(nullify_expansion=True)
                         .get_format(orig=True), "{name} {props} {queue}")

    def test_deduplicator_merges_by_rendering(self):
        f = Formatter("{name:>4} {n:>3} +:{props:<3.3}", HEADINGS)
        merged = []
        dedup = Deduplicator(f, except_fields=["n"],
                             combine=lambda a, b: merged.append((a, b)))
        one = Obj(name="a", n=1, props="long-property")
        two = Obj(name="a", n=2, props="long-property")
        three = Obj(name="a", n=3, props="long-propertyX")
        for item in (one, two, three):
            dedup.append(item)
        # Full (untruncated) values are compared: three stays apart.
        self.assertEqual(list(dedup), [one, three])
        self.assertEqual(merged, [(one, two)])
        self.assertEqual(len(dedup), 2)

    def test_deduplicator_without_combine_drops(self):
        dedup = Deduplicator(Formatter("{name}", HEADINGS))
        dedup.append(Obj(name="a"))
        dedup.append(Obj(name="a"))
        self.assertEqual(len(dedup), 1)


BUILTIN = {"default": {"description": "Default format",
                       "format": "{name}"},
           "long": {"description": "Long format", "format": "{name} {n}"}}
SUB_BUILTIN = {"status": BUILTIN,
               "list": {"default": {"description": "List default",
                                    "format": "{queue}"}}}


class FormatConfigTests(SynchronousTestCase):

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="fluxd-fmtconf-")
        self.addCleanup(shutil.rmtree, self.home, ignore_errors=True)
        self.user = os.path.join(self.home, "user", "flux")
        self.system = os.path.join(self.home, "sys", "flux")
        os.makedirs(self.user)
        os.makedirs(self.system)
        self.environ = {"XDG_CONFIG_HOME": os.path.dirname(self.user),
                        "XDG_CONFIG_DIRS": os.path.dirname(self.system)}

    def write(self, directory, name, text):
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)

    def config(self, sub=None, builtin=BUILTIN, **env):
        environ = dict(self.environ, **env)
        return FormatConfig("flux-jobs" if sub is None else "flux-resource",
                            builtin if sub is None else SUB_BUILTIN, sub,
                            environ=environ).load()

    def test_builtin_and_format_passthrough(self):
        conf = self.config()
        self.assertEqual(conf.get_format_string("default"), "{name}")
        self.assertEqual(conf.get_format_string("long"), "{name} {n}")
        self.assertEqual(conf.get_format_string("{n}"), "{n}")

    def test_unknown_name(self):
        with self.assertRaises(InvalidArgument) as cm:
            self.config().get_format_string("nope")
        self.assertEqual(str(cm.exception), "--format: No such format nope")

    def test_env_default(self):
        self.assertEqual(self.config(FLUX_JOBS_FORMAT_DEFAULT="{n} x")
                         .get_format_string("default"), "{n} x")
        self.assertEqual(self.config(FLUX_JOBS_FORMAT_DEFAULT="long")
                         .get_format_string("default"), "{name} {n}")
        conf = self.config("status",
                           FLUX_RESOURCE_STATUS_FORMAT_DEFAULT="long")
        self.assertEqual(conf.default_env_name(),
                         "FLUX_RESOURCE_STATUS_FORMAT_DEFAULT")
        self.assertEqual(conf.get_format_string("default"), "{name} {n}")

    def test_user_config_toml_json_yaml(self):
        self.write(self.user, "flux-jobs.toml",
                   '[formats.mine]\ndescription = "Mine"\nformat = "{n}"\n')
        self.write(self.system, "flux-jobs.json",
                   json.dumps({"formats": {"site": {"format": "{queue}"}}}))
        self.write(self.system, "flux-jobs.yaml",
                   "formats:\n  y:\n    format: '{t}'\n")
        self.write(self.user, "flux-jobs.txt", "ignored")
        conf = self.config()
        self.assertEqual(conf.get_format_string("mine"), "{n}")
        self.assertEqual(conf.get_format_string("site"), "{queue}")
        self.assertEqual(conf.get_format_string("y"), "{t}")

    def test_user_overrides_system(self):
        self.write(self.system, "flux-jobs.toml",
                   '[formats.mine]\nformat = "{n}"\n')
        self.write(self.user, "flux-jobs.toml",
                   '[formats.mine]\nformat = "{name}"\n')
        self.assertEqual(self.config().get_format_string("mine"), "{name}")

    def test_subcommand_tables(self):
        self.write(self.user, "flux-resource.toml",
                   '[list.formats.mine]\nformat = "{queue} {n}"\n'
                   '[status.formats.s]\nformat = "{n}"\n')
        self.assertEqual(self.config("list").get_format_string("mine"),
                         "{queue} {n}")
        self.assertEqual(self.config("status").get_format_string("s"), "{n}")
        self.assertRaises(InvalidArgument,
                          self.config("status").get_format_string, "mine")

    def test_invalid_files(self):
        cases = [
            ("flux-jobs.toml", "[formats.default]\nformat = '{n}'\n",
             "override of builtin format 'default' not permitted"),
            ("flux-jobs.toml", "[formats.x]\ndescription = 'd'\n",
             "formats.x: required key 'format' missing"),
            ("flux-jobs.toml", "[formats.x]\nformat = 3\n",
             "formats.x: 'format' key must be a string"),
            ("flux-jobs.toml", "formats = 3\n",
             "the 'formats' key must be a mapping"),
            ("flux-jobs.toml", "[other]\nx = 1\n", "invalid key other"),
            ("flux-jobs.toml", "[formats\n", "flux-jobs.toml: "),
            ("flux-jobs.json", "{", "flux-jobs.json: "),
        ]
        for name, text, message in cases:
            for leftover in os.listdir(self.user):
                os.unlink(os.path.join(self.user, leftover))
            self.write(self.user, name, text)
            with self.assertRaises(InvalidArgument) as cm:
                self.config()
            self.assertIn(message, str(cm.exception))
            self.assertIn(self.user, str(cm.exception))

    def test_invalid_subcommand_key(self):
        self.write(self.user, "flux-resource.toml",
                   '[bogus.formats.x]\nformat = "{n}"\n')
        with self.assertRaises(InvalidArgument) as cm:
            self.config("status")
        self.assertIn("invalid key bogus", str(cm.exception))

    def test_help(self):
        self.write(self.user, "flux-jobs.toml",
                   '[formats.nodesc]\nformat = "{n}"\n')
        self.assertEqual(self.config().describe("help"),
                         "\nConfigured flux-jobs output formats:\n\n"
                         "  default      Default format\n"
                         "  long         Long format\n"
                         "  nodesc      \n")

    def test_get_config(self):
        self.assertEqual(self.config().describe("get-config=long"),
                         '[formats.long]\ndescription = "Long format"\n'
                         'format = "{name} {n}"\n')
        self.assertEqual(self.config("list").describe("get-config=default"),
                         '[list.formats.default]\n'
                         'description = "List default"\n'
                         'format = "{queue}"\n')
        self.assertRaises(InvalidArgument, self.config().describe,
                          "get-config=nope")
        self.assertIsNone(self.config().describe("long"))


class JobRecord:
    """Stand-in for the ``flux jobs`` job record, limited to what the
    formatter-only vectors use: every ``t_*`` timestamp defaults to 0.0 and
    ``runtime`` is ``t_cleanup - t_run`` once the job has run."""

    def __init__(self, record):
        self.record = record

    def __getattr__(self, name):
        if name.startswith("t_"):
            return self.record.get(name, 0.0)
        try:
            return self.record[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def runtime(self):
        if self.t_run > 0.0 and self.t_cleanup > 0.0:
            return self.t_cleanup - self.t_run
        return 0.0


JOBS_HEADINGS = {"runtime": "RUNTIME", "t_run": "T_RUN"}


class FluxJobsVectorTests(SynchronousTestCase):
    """flux-jobs/tests vectors whose fields need no job-state model.

    contextual_info and returncode need the job model of ``flux jobs``
    (state names, dependencies, exceptions, wait status) and are run by
    its tests, not here."""

    def check(self, name):
        base = os.path.join(JOBS_VECTORS, name)
        with open(os.path.join(base, "format")) as f:
            fmt = f.read().rstrip("\n")
        with open(os.path.join(base, "input")) as f:
            records = [JobRecord(json.loads(line)) for line in f
                       if line.strip()]
        with open(os.path.join(base, "output")) as f:
            expected = f.read()
        formatter = Formatter(fmt, JOBS_HEADINGS)
        lines = [formatter.format(record) for record in records]
        self.assertEqual("".join(line + "\n" for line in lines), expected)

    def test_issue_2634_runtime_dash_for_unrun_job(self):
        self.check("issue-2634")

    def test_issue_2658_runtime_fsd(self):
        self.check("issue-2658")

    def test_issue_5827_D_conversion_of_epoch(self):
        self.check("issue-5827")
