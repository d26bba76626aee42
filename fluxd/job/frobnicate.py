# -*- test-case-name: tests.unit.job.test_frobnicate -*-
"""job-ingest's first stage: frobnicator plugins that modify jobspec
(flux-core ``flux job-frobnicator``; spec/jobs.md section 2).

Built in, run in this order by default (``[ingest.frobnicator] plugins``
changes the list):

``defaults``
    fills ``attributes.system.*`` from ``policy.jobspec.defaults.system``:
    the general table, then the parent queue's, then the job's queue's
    (RFC 33), each key only when the job did not set it (``duration`` only
    when it is 0 or unset).  With ``[queues]`` a job must name a queue
    unless a default queue is configured (``no queue specified``), and it
    must name a configured one (``Invalid queue 'X' specified``).
``constraints``
    adds the queue's ``requires`` properties (a virtual queue's parent's)
    to ``attributes.system.constraints``: appended to a top-level
    ``properties`` list, else ANDed with the constraints the job has, else
    set as ``{"properties": [...]}``.

A site frobnicator is a Python file whose module defines ``Frobnicator``:
``Frobnicator(parser)`` may add options to the argparse group ``parser``;
``configure(args, config)`` gets the parsed options and the instance
config as a dict; ``frob(jobspec, userid, urgency, flags)`` changes the
jobspec dict in place or raises ``ValueError``/``TypeError``/``OSError``
with the message the submitter sees.

Pure Python, no Twisted: ``flux job-frobnicator --list-plugins`` imports
it.
"""

import copy

from fluxd.formats.fsd import FSDError, parse_fsd

__all__ = ["DefaultsFrobnicator", "ConstraintsFrobnicator", "BUILTINS",
           "DEFAULT_PLUGINS", "queue_defaults"]

DEFAULT_PLUGINS = ("defaults", "constraints")


def _system_defaults(policy):
    if not isinstance(policy, dict):
        return {}
    return policy.get("jobspec", {}).get("defaults", {}).get("system", {})


def queue_defaults(config):
    """The effective ``policy.jobspec.defaults.system`` of each queue.

    :param config: the instance config as a dict.
    :returns: ``(general, {queue: merged})``: the general table and, for
        each configured queue, general < parent queue < queue (per key).
    """
    general = dict(_system_defaults(config.get("policy", {})))
    queues = config.get("queues", {}) or {}
    merged = {}
    for name, entry in queues.items():
        table = dict(general)
        parent = entry.get("parent")
        if parent is not None and parent in queues:
            table.update(_system_defaults(queues[parent].get("policy", {})))
        table.update(_system_defaults(entry.get("policy", {})))
        merged[name] = table
    return general, merged


def _compile(defaults):
    """Split a defaults table into (duration seconds or None, other keys),
    so that no FSD is parsed per job."""
    other = {k: v for k, v in defaults.items() if k != "duration"}
    duration = defaults.get("duration")
    if duration is not None:
        try:
            duration = parse_fsd(duration)
        except FSDError as exc:
            raise ValueError(str(exc)) from None
    return duration, other


class DefaultsFrobnicator:
    """The ``defaults`` plugin."""

    description = "Apply defaults to incoming jobspec based on broker config"

    def __init__(self, parser):
        self._general = (None, {})
        self._queues = {}
        self._default_queue = None
        self._named = False

    def configure(self, args, config):
        """Read ``[policy]`` and ``[queues]`` from ``config`` (a dict)."""
        general, merged = queue_defaults(config)
        self._default_queue = general.get("queue")
        self._named = bool(config.get("queues"))
        if self._default_queue is not None and \
                self._default_queue not in merged:
            raise ValueError(f"default queue '{self._default_queue}' must"
                             " be in [queues]")
        self._general = _compile(general)
        self._queues = {name: _compile(t) for name, t in merged.items()}

    def frob(self, jobspec, userid, urgency, flags):
        """Fill the defaults into ``jobspec``.

        :raises ValueError: ``no queue specified`` or ``Invalid queue 'X'
            specified``.
        """
        system = jobspec["attributes"]["system"]
        queue = system.get("queue") or self._default_queue
        if queue is None and self._named:
            raise ValueError("no queue specified")
        if queue and self._named:
            compiled = self._queues.get(queue)
            if compiled is None:
                raise ValueError(f"Invalid queue '{queue}' specified")
        else:
            compiled = self._general
        duration, other = compiled
        if duration is not None and not system.get("duration"):
            system["duration"] = duration
        for key, value in other.items():
            if key not in system:
                system[key] = copy.deepcopy(value)


class ConstraintsFrobnicator:
    """The ``constraints`` plugin."""

    description = "Apply constraints to incoming jobspec based on broker" \
        " config"

    def __init__(self, parser):
        self._queues = {}

    def configure(self, args, config):
        """Read each queue's ``requires`` (a virtual queue: its parent's)."""
        queues = config.get("queues", {}) or {}
        self._queues = {}
        for name, entry in queues.items():
            parent = entry.get("parent")
            if parent is not None:
                if parent not in queues:
                    raise ValueError(f"queue '{name}': parent queue"
                                     f" '{parent}' is not configured")
                entry = queues[parent]
            self._queues[name] = entry.get("requires")

    def frob(self, jobspec, userid, urgency, flags):
        """Add the job's queue's properties to its constraints.

        :raises ValueError: ``Invalid queue 'X' specified``.
        """
        system = jobspec["attributes"]["system"]
        queue = system.get("queue")
        if not queue:
            return
        if queue not in self._queues:
            raise ValueError(f"Invalid queue '{queue}' specified")
        requires = self._queues[queue]
        if requires is None:
            return
        constraints = system.get("constraints")
        if isinstance(constraints, dict) and \
                isinstance(constraints.get("properties"), list):
            have = constraints["properties"]
            have.extend(p for p in requires if p not in have)
        elif constraints is not None:
            system["constraints"] = {
                "and": [constraints, {"properties": list(requires)}]}
        else:
            system["constraints"] = {"properties": list(requires)}


#: name -> class of the built-in frobnicators
BUILTINS = {"defaults": DefaultsFrobnicator,
            "constraints": ConstraintsFrobnicator}
