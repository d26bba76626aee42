"""Tests for :mod:`fluxd.formats.jobspec`: flux-core's jobspec vectors.

Every file of flux-core's ``t/jobspec/{valid,invalid,valid_v1,invalid_v1}``
(read from tests/vectors/jobspec) gets its own test with
the verdict of each validator and, for the invalid ones, the message each
validator gives.  Also :func:`load` and :func:`dumps`.
"""

import errno
import json
import os

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument
from fluxd.formats import jobspec
from fluxd.formats.jobspec import JobspecError, load
from tests import VECTORS as ALL_VECTORS

VECTORS = os.path.join(ALL_VECTORS, "jobspec")


def vector_files(kind):
    directory = os.path.join(VECTORS, kind)
    return sorted(name for name in os.listdir(directory)
                  if name.endswith(".yaml"))


def read_vector(kind, name):
    with open(os.path.join(VECTORS, kind, name), encoding="utf-8") as stream:
        return stream.read()


#: invalid/: (Python validator message, C flux_jobspec1_check() message).
#: The Python message is the same with version=None and version=1 except
#: where noted in INVALID_V1_MODE.
INVALID = {
    "attributes_bad_entry.yaml": (
        "Extraneous key (foo)",
        "attributes.system.duration must be a number"),
    "attributes_not_mapping.yaml": (
        "attributes must be a mapping", "attributes must be an object"),
    "attributes_null.yaml": (
        "attributes must be a mapping", "attributes must be an object"),
    "constraints_not_object.yaml": (
        "constraints must be a mapping",
        "attributes.system.constraints must be a dictionary"),
    "dependencies_not_array.yaml": (
        "attributes.system.dependencies must be a list",
        "attributes.system.dependencies must be an array"),
    "dependency_invalid.yaml": (
        "dependency value must be a string",
        "attributes.system.dependencies elements must contain scheme and "
        "value strings"),
    "invalid_yaml1.yaml": None,  # not YAML at all: load() fails
    "missing_attributes.yaml": (
        "Missing key (attributes)",
        "jobspec object: Object item not found: attributes"),
    "missing_resources.yaml": (
        "Missing key (resources)",
        "jobspec object: Object item not found: resources"),
    "missing_tasks.yaml": (
        "Missing key (tasks)", "jobspec object: Object item not found: tasks"),
    "missing_version.yaml": (
        "Missing key (version)",
        "jobspec object: Object item not found: version"),
    "resource_count_bad_exp_min.yaml": (
        "min must be > 1 for '^' operator",
        "slot vertex: Expected integer, got object"),
    "resource_count_bad_mult_operand.yaml": (
        "operand must be > 1 for '*' or '^' operator",
        "slot vertex: Expected integer, got object"),
    "resource_count_bad_operator.yaml": (
        "operator must be one of ['+', '*', '^']",
        "slot vertex: Expected integer, got object"),
    "resource_count_bad_type.yaml": (
        "count must be an int or mapping",
        "slot vertex: Expected integer, got array"),
    "resource_count_is_zero.yaml": (
        "node, slot, or core count must be > 0", "slot count must be >= 1"),
    "resource_count_max_lessthan_min.yaml": (
        "max must be >= min", "slot vertex: Expected integer, got object"),
    "resource_count_min_is_zero.yaml": (
        "min must be > 0", "slot vertex: Expected integer, got object"),
    "resource_count_min_not_int.yaml": (
        "min must be an int", "slot vertex: Expected integer, got object"),
    "resource_count_missing_min.yaml": (
        "min must be in range", "slot vertex: Expected integer, got object"),
    "resource_count_missing_operand.yaml": (
        "operand and operator must both be in range if either is",
        "slot vertex: Expected integer, got object"),
    "resource_count_missing_operator.yaml": (
        "operand and operator must both be in range if either is",
        "slot vertex: Expected integer, got object"),
    "resource_count_negative.yaml": (
        "count must be >= 0", "slot with type must be core or gpu"),
    "resource_count_operand_is_zero.yaml": (
        "operand must be > 0", "slot vertex: Expected integer, got object"),
    "resource_count_operator_not_char.yaml": (
        "operator must be a single character str",
        "slot vertex: Expected integer, got object"),
    "resource_count_scalar_bad_value.yaml": (
        "count string must be a valid idset or range",
        "slot vertex: Expected integer, got string"),
    "resource_exclusive_invalid.yaml": (
        "exclusive must be a boolean",
        "slot with: 1 object item(s) left unpacked: exclusive"),
    "resource_exclusive_not_scalar.yaml": (
        "exclusive must be a boolean",
        "slot vertex: Expected true or false, got array"),
    "resource_id_not_scalar.yaml": (
        "id must be a string",
        "slot vertex: 1 object item(s) left unpacked: id"),
    "resource_label_not_scalar.yaml": (
        "label must be a string", "slot vertex: Expected string, got array"),
    "resource_missing_count.yaml": (
        "count is a required key for resources",
        "slot with: Object item not found: count"),
    "resource_missing_type.yaml": (
        "type is a required key for resources",
        "slot with: Object item not found: type"),
    "resource_node_with_notarray.yaml": (
        "with must be a sequence", "node with must be an array"),
    "resource_not_mapping.yaml": (
        "resource must be a mapping",
        "resource vertex: Expected object, got array"),
    "resource_slot_not_labelled.yaml": (
        "slots must have labels", "slot vertex: Object item not found: label"),
    "resource_slot_with_notarray.yaml": (
        "with must be a sequence", "slot with must be an array"),
    "resource_type_not_string.yaml": (
        "type must be a string", "slot with: Expected string, got array"),
    "resource_unit_not_scalar.yaml": (
        "unit must be a string",
        "slot vertex: 1 object item(s) left unpacked: unit"),
    "resources_not_sequence.yaml": (
        "resources must be a sequence",
        "resources section: Expected array, got object"),
    "task_command_array_notstring.yaml": (
        "command must be a list of strings",
        "tasks command array entry must be a string"),
    "task_command_not_array.yaml": (
        "command must be a list of strings", "tasks command must be an array"),
    "task_command_zero_length_array.yaml": (
        "command array cannot have length of zero",
        "tasks command array length must be >= 1"),
    "task_count_empty.yaml": (
        "count must have exactly one key set",
        "tasks count must have exactly one key set"),
    "task_count_not_mapping.yaml": (
        "count must be a mapping",
        "tasks count must have exactly one key set"),
    "task_count_per_slot_zero.yaml": (
        "count per_slot must be > 0", "tasks per_slot count must be >= 1"),
    "task_count_total_and_per_slot.yaml": (
        "count must have exactly one key set",
        "tasks count must have exactly one key set"),
    "task_count_total_zero.yaml": (
        "count total must be > 0", "tasks total count must be >= 1"),
    "task_missing_command.yaml": (
        "Missing key (command)",
        "tasks section: Object item not found: command"),
    "task_missing_count.yaml": (
        "Missing key (count)", "tasks section: Object item not found: count"),
    "task_missing_slot.yaml": (
        "Missing key (slot)", "tasks section: Object item not found: slot"),
    "task_not_mapping.yaml": (
        "task must be a mapping",
        "tasks section: Expected object, got string"),
    "tasks_not_sequence.yaml": (
        "tasks must be a sequence",
        "tasks section: Expected array, got object"),
    "version_bad_number.yaml": (
        "version must be an integer",
        "jobspec object: Expected integer, got real"),
    "version_is_zero.yaml": (
        "version must be >= 1", "only version 1 jobspec is supported"),
    "version_not_scalar.yaml": (
        "version must be an integer",
        "jobspec object: Expected integer, got object"),
}

#: With require-version=1 the version is checked before anything else.
INVALID_V1_MODE = {
    "version_bad_number.yaml": "version must be 1",
    "version_is_zero.yaml": "version must be 1",
    "version_not_scalar.yaml": "version must be 1",
}

#: invalid_v1/: (Python message with version=1 or None when the Python
#: validator accepts the graph, C message).  The Python validator does not
#: enforce RFC 25's node>slot>core graph (formats spec 6.4).
INVALID_V1 = {
    "core_count_invalid.yaml": (
        "node, slot, or core count must be > 0",
        "slot core count must be >= 1"),
    "duration_missing.yaml": (
        "attributes.system.duration is a required key",
        "attributes.system.duration is required"),
    "gpu_count_invalid.yaml": (
        "count must be >= 0", "slot gpu count must be >= 0"),
    "node_vertex_missing_count.yaml": (
        "count is a required key for resources",
        "node vertex: Object item not found: count"),
    "node_vertex_with_notarray.yaml": (
        "with must be a sequence", "slot with must be an array"),
    "node_vertex_with_toomany.yaml": (
        "with must be a sequence", "node with array must have 1 elements"),
    "node_vertex_zero_count.yaml": (
        "node, slot, or core count must be > 0", "node count must be >= 1"),
    "res_type_unknown.yaml": (None, "unknown resource vertex type"),
    "slot_node.yaml": (None, "slot with type must be core or gpu"),
    "task_count_per_resource.yaml": (
        "count per_slot or total must be set",
        "tasks count object is malformed"),
    "version_wrong.yaml": (
        "version must be 1", "only version 1 jobspec is supported"),
    "with_toomany.yaml": (None, "slot with array must have 1-2 elements"),
    "with_whatnow.yaml": (None, "slot with type must be core or gpu"),
}

#: Files whose RFC 25 graph the C validator accepts (the others in valid/
#: are version 999 or use graphs beyond RFC 25).
VALID_STRICT = {"basic_v1.yaml", "example1.yaml"}


def _message(func, *args, **kwargs):
    try:
        func(*args, **kwargs)
    except JobspecError as exc:
        return str(exc)
    return None


class VectorInventoryTests(SynchronousTestCase):
    """The jobspec vectors are all there and all have an expected verdict."""

    def test_counts(self):
        self.assertEqual(len(vector_files("valid")), 26)
        self.assertEqual(len(vector_files("invalid")), 55)
        self.assertEqual(len(vector_files("valid_v1")), 7)
        self.assertEqual(len(vector_files("invalid_v1")), 13)

    def test_every_invalid_file_has_expectations(self):
        self.assertEqual(set(vector_files("invalid")), set(INVALID))
        self.assertEqual(set(vector_files("invalid_v1")), set(INVALID_V1))


class ValidVectorTests(SynchronousTestCase):
    """valid/: the Python validator accepts every file."""


class InvalidVectorTests(SynchronousTestCase):
    """invalid/: both validators reject every file, in flux-core's words."""


class ValidV1VectorTests(SynchronousTestCase):
    """valid_v1/: both validators accept, in V1 mode too; counts() works."""


class InvalidV1VectorTests(SynchronousTestCase):
    """invalid_v1/: the C validator rejects every file."""


def _test_valid(name):
    def test(self):
        obj = load(read_vector("valid", name))
        jobspec.validate(obj)
        if obj["version"] == 1:
            jobspec.validate(obj, version=1)
        if name in VALID_STRICT:
            jobspec.validate_v1_strict(obj)
        else:
            self.assertIsNotNone(_message(jobspec.validate_v1_strict, obj))
    return test


def _test_invalid(name):
    def test(self):
        text = read_vector("invalid", name)
        if INVALID[name] is None:
            exc = self.assertRaises(JobspecError, load, text)
            self.assertIn("invalid jobspec YAML", str(exc))
            return
        python, strict = INVALID[name]
        obj = load(text)
        self.assertEqual(_message(jobspec.validate, obj), python)
        self.assertEqual(_message(jobspec.validate, obj, version=1),
                         INVALID_V1_MODE.get(name, python))
        self.assertEqual(_message(jobspec.validate_v1_strict, obj), strict)
    return test


def _test_valid_v1(name):
    def test(self):
        obj = load(read_vector("valid_v1", name))
        jobspec.validate(obj)
        jobspec.validate(obj, version=1)
        jobspec.validate_v1_strict(obj)
        summary = jobspec.counts(obj)
        self.assertGreaterEqual(summary.nslots, 1)
        self.assertGreaterEqual(summary.slot_size, 1)
    return test


def _test_invalid_v1(name):
    def test(self):
        python, strict = INVALID_V1[name]
        obj = load(read_vector("invalid_v1", name))
        self.assertEqual(_message(jobspec.validate_v1_strict, obj), strict)
        self.assertEqual(_message(jobspec.validate, obj, version=1), python)
    return test


def _add_tests(cls, kind, maker):
    for name in vector_files(kind):
        method = "test_" + name[:-len(".yaml")].replace(".", "_")
        setattr(cls, method, maker(name))


_add_tests(ValidVectorTests, "valid", _test_valid)
_add_tests(InvalidVectorTests, "invalid", _test_invalid)
_add_tests(ValidV1VectorTests, "valid_v1", _test_valid_v1)
_add_tests(InvalidV1VectorTests, "invalid_v1", _test_invalid_v1)


class LoadTests(SynchronousTestCase):
    """load() reads JSON or YAML into a JSON-compatible dict."""

    def test_yaml(self):
        obj = load(read_vector("valid_v1", "example1.yaml"))
        self.assertEqual(obj["resources"][0]["count"], 4)
        self.assertEqual(obj["attributes"]["system"]["duration"], 3600.0)

    def test_json_and_bytes(self):
        text = json.dumps({"version": 1, "tasks": [], "attributes": {},
                           "resources": []})
        self.assertEqual(load(text)["version"], 1)
        self.assertEqual(load(text.encode("utf-8"))["version"], 1)

    def test_yaml_flow_mapping_is_yaml(self):
        self.assertEqual(load("{version: 1}"), {"version": 1})

    def test_dates_stay_strings(self):
        obj = load("attributes: {system: {environment: {D: 2024-01-02}}}")
        self.assertEqual(obj["attributes"]["system"]["environment"]["D"],
                         "2024-01-02")

    def test_errors_are_one_line(self):
        cases = [
            ("foo: bar: baz", "invalid jobspec YAML: mapping values are not "
                              "allowed here (line 1, column 9)"),
            ('{"version": 1', "invalid jobspec JSON: Expecting ',' delimiter:"
                              " line 1 column 14 (char 13)"),
            ("[1, 2]", "jobspec must be a mapping, got array"),
            ("", "jobspec must be a mapping, got null"),
            ("42", "jobspec must be a mapping, got integer"),
            ("1: x", "invalid jobspec: key 1 in jobspec is not a string"),
            ("a: .nan", "invalid jobspec: jobspec.a is not a finite number"),
            ("a: &x [1, *x]",
             "invalid jobspec: jobspec.a[1] refers to itself"),
            ("a: !!binary aGk=", "invalid jobspec: jobspec.a has a value of "
                                 "type bytes, not JSON"),
            (b"\xff", "invalid jobspec: not UTF-8 (invalid start byte at "
                      "byte 0)"),
            ('{"a": NaN}x', "invalid jobspec JSON: NaN is not valid JSON"),
        ]
        for text, message in cases:
            exc = self.assertRaises(JobspecError, load, text)
            self.assertEqual(str(exc), message, text)
            self.assertNotIn("\n", str(exc))

    def test_shared_yaml_alias_is_fine(self):
        obj = load("a: &x [1]\nb: *x\n")
        self.assertEqual(obj, {"a": [1], "b": [1]})

    def test_not_text(self):
        exc = self.assertRaises(JobspecError, load, 42)
        self.assertEqual(str(exc), "jobspec must be str or bytes, not int")

    def test_error_class(self):
        exc = self.assertRaises(JobspecError, load, "[]")
        self.assertIsInstance(exc, InvalidArgument)
        self.assertIsInstance(exc, ValueError)
        self.assertEqual(exc.errno, errno.EINVAL)


class DumpsTests(SynchronousTestCase):
    """dumps() is Jobspec.dumps(): JSON with non-ASCII kept."""

    def test_round_trip(self):
        obj = load(read_vector("valid_v1", "use_case_2.4.yaml"))
        self.assertEqual(load(jobspec.dumps(obj)), obj)

    def test_non_ascii(self):
        self.assertEqual(jobspec.dumps({"a": "ƒ"}), '{"a": "ƒ"}')

    def test_not_json(self):
        exc = self.assertRaises(JobspecError, jobspec.dumps, {"a": {1, 2}})
        self.assertIn("jobspec cannot be encoded as JSON", str(exc))
        exc = self.assertRaises(JobspecError, jobspec.dumps,
                                {"a": float("nan")})
        self.assertIn("jobspec cannot be encoded as JSON", str(exc))
