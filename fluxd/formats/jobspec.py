# -*- test-case-name: tests.unit.formats.test_jobspec -*-
"""Jobspec: RFC 14 canonical job specifications and RFC 25 version 1.

A jobspec is a JSON object with four keys::

    {"version": 1,
     "resources": [{"type": "node", "count": 2, "with": [
         {"type": "slot", "count": 1, "label": "task",
          "with": [{"type": "core", "count": 4}]}]}],
     "tasks": [{"command": ["app"], "slot": "task",
                "count": {"per_slot": 1}}],
     "attributes": {"system": {"duration": 3600.0}}}

RFC 14 allows any resource graph and ranges or RFC 45 strings as counts;
RFC 25 (version 1, the only version flux-core runs) restricts resources
to ``node>slot>core[,gpu]`` or ``slot>core[,gpu]`` with integer counts and
requires ``attributes.system.duration``.

This module is the public face; the work is split into private modules:

- :func:`load` (``_jobspec_json``): YAML or JSON text to a dict;
- :func:`validate` and :func:`validate_v1_strict` (``_jobspec_validate``):
  flux-core's Python and C validators, with their messages;
- :func:`counts` (``_jobspec_counts``): the scheduler's summary
  (libjob ``jj``/``jjc``);
- :func:`from_command`, :func:`from_nodes_and_cores`
  (``_jobspec_build``) and :func:`build_from_argv` (``_jobspec_cli``):
  jobspec as ``flux submit`` builds it;
- :class:`Count` (``_rfc45``): one RFC 14/45 resource count.

Every error is a :class:`JobspecError` (an
:class:`~fluxd.errors.InvalidArgument`) with a one-line message.
"""

from fluxd.formats._jobspec_build import (
    duration_seconds, from_command, from_nodes_and_cores, parse_keyval,
    set_attribute, set_shell_option,
)
from fluxd.formats._jobspec_cli import (
    add_arguments, build_from_argv, filter_environment, jobspec_from_args,
    parse_urgency,
)
from fluxd.formats._jobspec_counts import JobspecCounts, counts
from fluxd.formats._jobspec_json import JobspecError, dumps, load
from fluxd.formats._jobspec_validate import validate, validate_v1_strict
from fluxd.formats._rfc45 import COUNT_MAX, Count, CountError

__all__ = [
    "JobspecError", "CountError", "Count", "COUNT_MAX", "JobspecCounts",
    "load", "dumps", "validate", "validate_v1_strict", "counts",
    "from_command", "from_nodes_and_cores", "build_from_argv",
    "add_arguments", "jobspec_from_args", "filter_environment",
    "parse_urgency", "parse_keyval", "set_attribute", "set_shell_option",
    "duration_seconds",
]
