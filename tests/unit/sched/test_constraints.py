"""RFC 31 constraints with flux-core's match.c semantics and messages."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.sched.constraints import ConstraintError, compile_constraint

NODES = [(0, "n0", {"batch"}), (1, "n1", {"batch", "big"}),
         (2, "n2", set()), (3, "n3", {"debug"})]


def matching(constraint):
    match = compile_constraint(constraint)
    return [rank for rank, host, props in NODES if match(rank, host, props)]


class ConstraintTests(SynchronousTestCase):
    def test_operators(self):
        self.assertEqual(matching({}), [0, 1, 2, 3])
        self.assertEqual(matching({"properties": ["batch"]}), [0, 1])
        self.assertEqual(matching({"properties": ["batch", "^big"]}), [0])
        self.assertEqual(matching({"properties": ["n2"]}), [2])
        self.assertEqual(matching({"hostlist": ["n[0,3]"]}), [0, 3])
        self.assertEqual(matching({"ranks": ["1-2", "3"]}), [1, 2, 3])
        self.assertEqual(matching({"or": [{"properties": ["big"]},
                                          {"ranks": ["3"]}]}), [1, 3])
        self.assertEqual(matching({"or": []}), [0, 1, 2, 3])
        self.assertEqual(matching({"and": [{"properties": ["batch"]},
                                           {"ranks": ["1-3"]}]}), [1])
        self.assertEqual(matching({"not": [{"properties": ["batch"]}]}),
                         [2, 3])

    def test_errors(self):
        cases = [
            ([], "constraint must be JSON object"),
            ({"ranks": ["0"], "hostlist": ["n0"]},
             "constraint must only contain 1 element"),
            ({"foo": []}, "unknown constraint operator: foo"),
            ({"properties": "batch"}, "properties value must be an array"),
            ({"properties": [1]}, "non-string property specified"),
            ({"properties": ["a|b"]}, "invalid character '|' in property"
             " \"a|b\""),
            ({"hostlist": ["n["]}, "invalid hostlist 'n[' in [\"n[\"]"),
            ({"ranks": ["0", "x"]}, "invalid idset 'x' in [\"0\", \"x\"]"),
            ({"and": {}}, "and operator value must be an array"),
            ({"not": [{"bad": 1}]}, "unknown constraint operator: bad"),
        ]
        for constraint, message in cases:
            exc = self.assertRaises(ConstraintError, compile_constraint,
                                    constraint)
            self.assertEqual(str(exc), message)
