"""Tests for the jobspec validators beyond flux-core's vector files.

:func:`validate` is ``flux.job.validate_jobspec()`` and
:func:`validate_v1_strict` is ``flux_jobspec1_check()``; each case below
mutates a valid V1 jobspec and checks the exact message (formats spec 6.4).
"""

import copy
import json

from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats.jobspec import (
    JobspecError, validate, validate_v1_strict,
)

BASE = {
    "resources": [{"type": "node", "count": 2, "with": [
        {"type": "slot", "count": 1, "label": "task",
         "with": [{"type": "core", "count": 2}]}]}],
    "tasks": [{"command": ["app"], "slot": "task",
               "count": {"per_slot": 1}}],
    "attributes": {"system": {"duration": 0}},
    "version": 1,
}


def mutate(**paths):
    """A deep copy of BASE with ``a__b__0__c=value`` style replacements
    (a value of ``DELETE`` removes the key)."""
    obj = copy.deepcopy(BASE)
    for path, value in paths.items():
        *parents, last = [int(p) if p.isdigit() else p
                          for p in path.split("__")]
        node = obj
        for name in parents:
            node = node[name]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return obj


DELETE = object()
SLOT = ["resources", 0, "with", 0]


class PythonValidatorTests(SynchronousTestCase):
    """validate(): flux.job.validate_jobspec() semantics and messages."""

    def assertMessage(self, obj, message, version=None):
        exc = self.assertRaises(JobspecError, validate, obj, version)
        self.assertEqual(str(exc), message)

    def test_base_is_valid(self):
        validate(BASE)
        validate(BASE, version=1)
        validate_v1_strict(BASE)

    def test_top_level(self):
        self.assertMessage([], "jobspec must be a mapping, got array")
        self.assertMessage(mutate(foo=1), "Extraneous key (foo)")
        self.assertMessage(mutate(resources="node"),
                           "resources must be a sequence")
        self.assertMessage(mutate(tasks={}), "tasks must be a sequence")
        self.assertMessage(mutate(version=True), "version must be an integer")
        self.assertMessage(mutate(version=2), "version must be 1", version=1)
        self.assertMessage(mutate(version=-3), "version must be >= 1")

    def test_empty_sections(self):
        self.assertMessage(mutate(resources=[]), "resources must not be empty")
        self.assertMessage(mutate(tasks=[]), "tasks must not be empty")

    def test_version_argument(self):
        self.assertRaises(ValueError, validate, BASE, 2)

    def test_text_is_loaded_first(self):
        validate(json.dumps(BASE), version=1)
        validate_v1_strict(json.dumps(BASE).encode("utf-8"))
        self.assertMessage("version: 1", "Missing key (resources)")
        exc = self.assertRaises(JobspecError, validate_v1_strict, "[")
        self.assertTrue(str(exc).startswith("invalid jobspec"))

    def test_deep_nesting(self):
        constraint = {"properties": ["a"]}
        for _ in range(5000):
            constraint = {"and": [constraint]}
        self.assertMessage(mutate(attributes__system__constraints=constraint),
                           "jobspec is nested too deeply")
        resources = BASE["resources"]
        for _ in range(5000):
            resources = [{"type": "rack", "count": 1, "with": resources}]
        validate(mutate(resources=resources, version=9))

    def test_canonical_version_rules(self):
        obj = mutate(version=999, attributes={})
        validate(obj)
        self.assertMessage(obj, "version must be 1", version=1)

    def test_resource_counts(self):
        self.assertMessage(mutate(resources__0__count=True),
                           "count must be an int or mapping")
        self.assertMessage(mutate(resources__0__count=1.5),
                           "count must be an int or mapping")
        self.assertMessage(mutate(resources__0__count=0),
                           "node, slot, or core count must be > 0")
        other = mutate()
        other["resources"][0]["with"][0]["with"].append(
            {"type": "gpu", "count": -2})
        self.assertMessage(other, "count must be >= 0")

    def test_count_strings(self):
        obj = mutate(version=5, attributes={})
        for good in ("4", "4,9,16", "[1-3]", "2-32:2:*", "[100+]", "2+:1:+",
                     "3-9:2", "2-16:2:^"):
            obj["resources"][0]["count"] = good
            validate(obj)
        for bad in ("0", "", "0-3", "x", "3-2", "3:2", "2-32:1:*", "01",
                    "[2+", "2+:1:+x", "-5", '{"min": 2}'):
            obj["resources"][0]["count"] = bad
            self.assertMessage(obj, "count string must be a valid idset or "
                                    "range")
        obj["resources"][0]["count"] = "1-8:2:^"
        self.assertMessage(obj, "min must be > 1 for '^' operator")

    def test_count_ranges(self):
        obj = mutate(version=5, attributes={})
        cases = [
            ({"min": 1, "foo": 2}, "Extraneous key (foo)"),
            ({"min": True}, "min must be an int"),
            ({"min": 1, "max": 0}, "max must be > 0"),
            ({"min": 2, "operand": 2, "operator": 7},
             "operator must be a single character str"),
            ({"min": 2, "operand": 1, "operator": "^"},
             "operand must be > 1 for '*' or '^' operator"),
        ]
        for count, message in cases:
            obj["resources"][0]["count"] = count
            self.assertMessage(obj, message)
        obj["resources"][0]["count"] = {"min": 2, "max": 8, "operand": 2,
                                        "operator": "*"}
        validate(obj)

    def test_v1_counts_must_be_integers(self):
        self.assertMessage(mutate(resources__0__count="4"),
                           "resource count must be an integer for type "
                           "'node' (got 'str')")
        obj = mutate()
        obj["resources"][0]["with"][0]["count"] = {"min": 1}
        self.assertMessage(obj, "resource count must be an integer for type "
                                "'slot' (got 'dict')")

    def test_resource_fields(self):
        obj = mutate()
        obj["resources"][0]["with"][0]["exclusive"] = "yes"
        self.assertMessage(obj, "exclusive must be a boolean")
        obj = mutate()
        del obj["resources"][0]["with"][0]["label"]
        self.assertMessage(obj, "slots must have labels")
        self.assertMessage(mutate(resources__0__with=None),
                           "with must be a sequence")
        self.assertMessage(mutate(resources__0__with="slot"),
                           "with must be a sequence")
        self.assertMessage(mutate(resources__0__type=4),
                           "type must be a string")

    def test_parent_checked_before_children(self):
        obj = mutate(resources__0__count=0)
        obj["resources"][0]["with"][0]["count"] = -1
        self.assertMessage(obj, "node, slot, or core count must be > 0")

    def test_node_exclusive_is_accepted(self):
        # flux-core's CLI puts exclusive on the node (formats spec 6.4)
        validate(mutate(resources__0__exclusive=True), version=1)

    def test_tasks(self):
        self.assertMessage(mutate(tasks__0__count__total="3"),
                           "count must have exactly one key set")
        self.assertMessage(mutate(tasks__0__count={"total": "3"}),
                           "count total must be an int")
        self.assertMessage(mutate(tasks__0__count={"per_slot": 1.0}),
                           "count per_slot must be an int")
        self.assertMessage(mutate(tasks__0__count={"bogus": 1}),
                           "count per_slot, per_resource, or total must be "
                           "set")
        self.assertMessage(mutate(tasks__0__slot=3), "slot must be a string")
        self.assertMessage(mutate(tasks__0__attributes=[]),
                           "attributes must be a mapping")
        self.assertMessage(mutate(tasks__0__command=""),
                           "command array cannot have length of zero")
        self.assertMessage(mutate(tasks__0__command=7),
                           "command must be a list of strings")

    def test_per_resource_is_canonical_only(self):
        obj = mutate(tasks__0__count={"per_resource": {"type": "node",
                                                       "count": 1}})
        obj["version"] = 2
        validate(obj)
        obj["version"] = 1
        self.assertMessage(obj, "count per_slot or total must be set")

    def test_system_attributes(self):
        self.assertMessage(mutate(attributes__user={}, attributes__x=1),
                           "Extraneous key (x)")
        self.assertMessage(mutate(attributes__system=None),
                           "attributes.system must be a mapping")
        self.assertMessage(mutate(attributes={}),
                           "attributes.system is a required key")
        self.assertMessage(mutate(attributes__system__duration=DELETE,
                                  attributes__system__cwd="/"),
                           "attributes.system.duration is a required key")
        self.assertMessage(mutate(attributes__system__duration="1h"),
                           "attributes.system.duration must be a number")
        self.assertMessage(mutate(attributes__system__duration=False),
                           "attributes.system.duration must be a number")

    def test_dependencies(self):
        def deps(value):
            return mutate(attributes__system__dependencies=value)
        validate(deps([{"scheme": "afterok", "value": "f1", "x": 1}]))
        self.assertMessage(deps("afterok"),
                           "attributes.system.dependencies must be a list")
        self.assertMessage(deps(["afterok"]), "dependency must be a mapping")
        self.assertMessage(deps([{"value": "1"}]), "Missing key (scheme)")
        self.assertMessage(deps([{"scheme": 1, "value": "1"}]),
                           "dependency scheme must be a string")

    def test_constraints(self):
        def constraint(value):
            return mutate(attributes__system__constraints=value)
        validate(constraint({"and": [{"properties": ["a", "^b"]},
                                     {"not": [{"ranks": ["0-3"]}]},
                                     {"hostlist": ["node[1-4]"]}]}))
        self.assertMessage(constraint({"properties": ["a|b"]}),
                           "invalid character in property 'a|b'")
        self.assertMessage(constraint({"or": [{"foo": ["x"]}]}),
                           "unknown constraint operator 'foo'")
        self.assertMessage(constraint({"properties": "abc"}),
                           "argument to constraint properties must be a "
                           "sequence")
        self.assertMessage(constraint({"and": ["x"]}),
                           "constraints must be a mapping")
        self.assertMessage(constraint({"properties": [3]}),
                           "invalid property 3: not a string")
        exc = self.assertRaises(JobspecError, validate,
                                constraint({"ranks": ["3-1"]}))
        self.assertTrue(str(exc).startswith("invalid ranks constraint '3-1'"))
        exc = self.assertRaises(JobspecError, validate,
                                constraint({"hostlist": ["node[1-"]}))
        self.assertTrue(
            str(exc).startswith("invalid hostlist constraint 'node[1-'"))
        self.assertMessage(constraint({"hostlist": [["a", "b"]]}),
                           "invalid hostlist constraint '['a', 'b']': "
                           "not a string")


class StrictValidatorTests(SynchronousTestCase):
    """validate_v1_strict(): flux_jobspec1_check() and its messages."""

    def assertMessage(self, obj, message):
        exc = self.assertRaises(JobspecError, validate_v1_strict, obj)
        self.assertEqual(str(exc), message)

    def test_top_level(self):
        self.assertMessage(None, "jobspec object: Expected object, got null")
        self.assertMessage(mutate(foo=1, bar=2),
                           "jobspec object: 2 object item(s) left unpacked: "
                           "foo, bar")
        self.assertMessage(mutate(version="1"),
                           "jobspec object: Expected integer, got string")

    def test_resources(self):
        self.assertMessage(mutate(resources=[]),
                           "resources section: Array index 0 out of range")
        self.assertMessage(mutate(resources=[{"count": 1}]),
                           "resource vertex: Object item not found: type")
        self.assertMessage(mutate(resources__0__exclusive=True),
                           "node vertex: 1 object item(s) left unpacked: "
                           "exclusive")
        validate_v1_strict(mutate(resources__0__unit="x"))
        self.assertMessage(mutate(resources__0__count=1.0),
                           "node vertex: Expected integer, got real")
        self.assertMessage(mutate(resources__0__with=[]),
                           "node with array must have 1 elements")

    def test_slot(self):
        obj = mutate()
        obj["resources"][0]["with"][0]["exclusive"] = True
        validate_v1_strict(obj)
        obj["resources"][0]["with"][0]["exclusive"] = 1
        self.assertMessage(obj, "slot vertex: Expected true or false, got "
                                "integer")
        obj = mutate()
        obj["resources"][0]["with"][0]["with"] = [
            {"type": "core", "count": 1}, {"type": "gpu", "count": 0}]
        validate_v1_strict(obj)
        obj["resources"][0]["with"][0]["with"] = [
            {"type": "core", "count": 1, "id": "x"}]
        self.assertMessage(obj, "slot with: 1 object item(s) left unpacked: "
                                "id")
        obj["resources"][0]["with"][0]["with"] = []
        self.assertMessage(obj, "slot with array must have 1-2 elements")

    def test_tasks(self):
        self.assertMessage(mutate(tasks=[]),
                           "tasks section: Array index 0 out of range")
        self.assertMessage(mutate(tasks__0__attributes={}),
                           "tasks section: 1 object item(s) left unpacked: "
                           "attributes")
        self.assertMessage(mutate(tasks__0__count={"per_slot": "1"}),
                           "tasks count object is malformed")
        self.assertMessage(mutate(tasks__0__count={"per_slot": 0}),
                           "tasks per_slot count must be >= 1")
        # only the first task is examined, as jansson's "[{...}]" does
        obj = mutate()
        obj["tasks"].append({"bogus": True})
        validate_v1_strict(obj)

    def test_attributes(self):
        self.assertMessage(mutate(attributes__user={}),
                           "if present, attributes.user must contain values")
        self.assertMessage(mutate(attributes__system={}),
                           "if present, attributes.system must contain "
                           "values")
        self.assertMessage(mutate(attributes={"user": {"a": 1}}),
                           "attributes.system is required")
        self.assertMessage(mutate(attributes__extra={"a": 1}),
                           "unknown attributes section extra")
        self.assertMessage(mutate(attributes__system__duration=True),
                           "attributes.system.duration must be a number")
        self.assertMessage(mutate(attributes__system__environment=[]),
                           "attributes.system.environment must be a "
                           "dictionary")
        self.assertMessage(mutate(attributes__system__dependencies=["x"]),
                           "attributes.system.dependencies elements must be "
                           "an object")
        self.assertMessage(mutate(attributes__system__shell={"options": 1}),
                           "attributes.shell.options must be a dictionary")
        validate_v1_strict(mutate(attributes__system__shell="x"))
