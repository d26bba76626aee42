"""RFC 35 constraint queries (``flux submit --requires``), checked against
flux-core's parser tests and its MiniConstraintParser behaviour."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument
from fluxd.formats.constraint import ConstraintSyntaxError, parse_constraint

# flux-core's constraint parser unit test (t/python): operator_map
# {None: "t", "a": "op-a"}, nothing split or combined.
FLUX_VALID = [
    ("a", {"t": ["a"]}),
    ("(a)", {"t": ["a"]}),
    ("( a )", {"t": ["a"]}),
    ("'a'", {"t": ["a"]}),
    ("('a')", {"t": ["a"]}),
    ("a|b", {"or": [{"t": ["a"]}, {"t": ["b"]}]}),
    ("a or b", {"or": [{"t": ["a"]}, {"t": ["b"]}]}),
    ("a || b", {"or": [{"t": ["a"]}, {"t": ["b"]}]}),
    ("a||b", {"or": [{"t": ["a"]}, {"t": ["b"]}]}),
    ("a b c", {"and": [{"t": ["a"]}, {"t": ["b"]}, {"t": ["c"]}]}),
    ("a&b&c", {"and": [{"t": ["a"]}, {"t": ["b"]}, {"t": ["c"]}]}),
    ("a and b and c", {"and": [{"t": ["a"]}, {"t": ["b"]}, {"t": ["c"]}]}),
    ("a && b && c", {"and": [{"t": ["a"]}, {"t": ["b"]}, {"t": ["c"]}]}),
    ("a&b|c", {"or": [{"and": [{"t": ["a"]}, {"t": ["b"]}]}, {"t": ["c"]}]}),
    ("a&(b|c)", {"and": [{"t": ["a"]}, {"or": [{"t": ["b"]}, {"t": ["c"]}]}]}),
    ("(a&(b|c))",
     {"and": [{"t": ["a"]}, {"or": [{"t": ["b"]}, {"t": ["c"]}]}]}),
    ("(a&(b|-c))",
     {"and": [{"t": ["a"]},
              {"or": [{"t": ["b"]}, {"not": [{"t": ["c"]}]}]}]}),
    ("a or host:foo", {"or": [{"t": ["a"]}, {"host": ["foo"]}]}),
    ("a or -host:foo", {"or": [{"t": ["a"]}, {"not": [{"host": ["foo"]}]}]}),
    ("a or time:11:00am", {"or": [{"t": ["a"]}, {"time": ["11:00am"]}]}),
    ("a or test:'a quoted string'",
     {"or": [{"t": ["a"]}, {"test": ["a quoted string"]}]}),
    ("a or name:'/foo|(bar)|baz.*/'",
     {"or": [{"t": ["a"]}, {"name": ["/foo|(bar)|baz.*/"]}]}),
]
FLUX_INVALID = ["a|", "a:' ", "(a", "(a))", "-(a|b)", "4g,host:foo",
                "foo and a:"]
TEST_MAP = {None: "t", "a": "op-a"}


class FluxVectorTests(SynchronousTestCase):
    def test_valid(self):
        for query, expected in FLUX_VALID:
            self.assertEqual(parse_constraint(query, TEST_MAP, {}, set()),
                             expected, query)

    def test_invalid(self):
        for query in FLUX_INVALID:
            with self.assertRaises(ConstraintSyntaxError, msg=query):
                parse_constraint(query, TEST_MAP, {}, set())

    def test_operator_required_without_default(self):
        with self.assertRaises(ConstraintSyntaxError) as cm:
            parse_constraint("foo", {}, {}, set())
        self.assertEqual(str(cm.exception),
                         'Missing required operator in "foo"')

    def test_split_and_combine(self):
        split = {"t": ","}
        self.assertEqual(parse_constraint("xx,yy", {None: "t"}, split, set()),
                         {"t": ["xx", "yy"]})
        self.assertEqual(parse_constraint("t:xx,yy", {None: "t"}, split,
                                          set()), {"t": ["xx", "yy"]})
        combine = {"t"}
        self.assertEqual(parse_constraint("a:xx b:yy", {None: "t"}, {},
                                          combine),
                         {"and": [{"a": ["xx"]}, {"b": ["yy"]}]})
        self.assertEqual(parse_constraint("xx and yy", {None: "t"}, {},
                                          combine), {"t": ["xx", "yy"]})
        self.assertEqual(parse_constraint("not (xx and yy)", {None: "t"}, {},
                                          combine),
                         {"not": [{"t": ["xx", "yy"]}]})
        self.assertEqual(parse_constraint("xx|yy", {None: "t"}, {}, combine),
                         {"or": [{"t": ["xx"]}, {"t": ["yy"]}]})


class SubmitRequiresTests(SynchronousTestCase):
    """The defaults are ``flux submit --requires``'s parser."""

    def test_properties_and_aliases(self):
        self.assertEqual(parse_constraint("ib,gpu bigmem"),
                         {"properties": ["ib", "gpu", "bigmem"]})
        self.assertEqual(parse_constraint("-host:foo1 rank:0"),
                         {"and": [{"not": [{"hostlist": ["foo1"]}]},
                                  {"ranks": ["0"]}]})
        self.assertEqual(parse_constraint("hosts:foo[1-2]"),
                         {"hostlist": ["foo[1-2]"]})

    def test_yacc_precedence(self):
        # juxtaposition after an OR operand ends the OR; && extends it
        self.assertEqual(parse_constraint("a|b c"),
                         {"and": [{"or": [{"properties": ["a"]},
                                          {"properties": ["b"]}]},
                                  {"properties": ["c"]}]})
        self.assertEqual(parse_constraint("a|b&&c"),
                         {"or": [{"properties": ["a"]},
                                 {"properties": ["b", "c"]}]})
        # "not" binds tighter than juxtaposition
        self.assertEqual(parse_constraint("not a b"),
                         {"and": [{"not": [{"properties": ["a"]}]},
                                  {"properties": ["b"]}]})
        # a negated term after a juxtaposed one is grouped with it
        self.assertEqual(parse_constraint("a b -c"),
                         {"and": [{"properties": ["a"]},
                                  {"and": [{"properties": ["b"]},
                                           {"not": [{"properties": ["c"]}]}]}]})
        # an "and" list swallows later terms without merging properties
        self.assertEqual(parse_constraint("host:foo a b"),
                         {"and": [{"hostlist": ["foo"]},
                                  {"properties": ["a"]},
                                  {"properties": ["b"]}]})

    def test_quoted_operand_after_colon(self):
        self.assertEqual(parse_constraint('host: "foo bar"'),
                         {"hostlist": ["foo bar"]})

    def test_messages(self):
        cases = {
            "(a": "Unclosed parenthesis in position 0",
            "a)": "Mismatched parentheses starting at position 1.",
            "a |": "Unexpected end of input in 'a |'",
            "| a": "Invalid token '|' at position 0",
            "x=y:1": "invalid character '=' in operator 'x=y:'",
            "a:": "Missing argument to token 'a:'",
            '"abc': "Unclosed quote '\"' at position 1",
            "'abc": "Unclosed quote \"'\" at position 1",
        }
        for query, message in cases.items():
            with self.assertRaises(ConstraintSyntaxError) as cm:
                parse_constraint(query)
            self.assertEqual(str(cm.exception), message)
            self.assertIsInstance(cm.exception, InvalidArgument)
