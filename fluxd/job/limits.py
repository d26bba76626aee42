# -*- test-case-name: tests.unit.job.test_limits -*-
"""Policy limits: flux-core's ``limit-duration``, ``limit-job-size`` and
``validate-duration`` checks (spec/jobs.md section 2.1, RFC 33).

Checked after the jobspec defaults are applied:

- ``policy.limits.duration`` (FSD; ``"0"`` or ``"inf"`` = unlimited): a
  job asking for more, or for no limit at all (duration 0), is refused
  with ``requested duration (3h) exceeds policy limit of 2h``;
- ``policy.limits.job-size.{max,min}.{nnodes,ncores,ngpus}`` (``-1`` =
  unlimited): ``requested nnodes (9) exceeds policy limit of 8``,
  ``requested ncores (1) is under policy limit of 2``; ncores counts
  ``nslots * slot_size`` and ngpus ``nslots * slot_gpus``;
- a job with a queue gets ``" for queue Q"`` after the limit.

Precedence is per key: ``[policy]`` < parent queue ``policy`` < the
queue's own ``policy``, so a queue may raise, lower or lift (``-1``,
``"0"``) a general limit.

``validate-duration``: with an instance expiration (an instance running
as a job of another), a duration longer than the time left is refused
with ``job duration (2h) exceeds remaining instance lifetime (1.5h)``.
An instance without expiration (0) accepts every duration.

The checks run in the job manager's ``job.validate`` jobtap topic, from
the builtins ``.limit-duration``, ``.limit-job-size`` and
``.validate-duration`` (:mod:`fluxd.job.plugins`), each holding the part
of :class:`PolicyLimits` it checks.

Pure Python (no Twisted); the config is read once per (re)configure.
"""

import math

from fluxd.formats.fsd import FSDError, format_fsd, parse_fsd
from fluxd.formats.jobspec import counts

__all__ = ["PolicyLimits", "check_lifetime"]

_SIZES = ("nnodes", "ncores", "ngpus")
_UNSET = None


def _limits_table(policy):
    if not isinstance(policy, dict):
        return {}
    return policy.get("limits", {}) or {}


def _layer(table, into):
    """Override ``into`` with the keys set in one ``limits`` table."""
    duration = table.get("duration")
    if duration is not None:
        try:
            seconds = parse_fsd(duration)
        except FSDError:
            raise ValueError("policy.limits.duration: FSD value is"
                             " malformed") from None
        into["duration"] = 0.0 if math.isinf(seconds) else seconds
    size = table.get("job-size", {}) or {}
    for bound in ("max", "min"):
        for key in _SIZES:
            value = (size.get(bound) or {}).get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) \
                    or value < -1:
                raise ValueError(f"policy.limits.job-size.{bound}: size must"
                                 " be -1 (unlimited), or >= 0")
            into[(bound, key)] = value


class PolicyLimits:
    """The limits of the general policy and of every queue.

    :param config: the instance config as a dict.
    :param kinds: what to check: ``duration``, ``size`` or both.
    :raises ValueError: a one-line message naming a bad value.
    """

    def __init__(self, config, kinds=("duration", "size")):
        self._kinds = kinds
        general = {}
        _layer(_limits_table(config.get("policy")), general)
        queues = config.get("queues", {}) or {}
        self._general = general
        self._queues = {}
        for name, entry in queues.items():
            merged = dict(general)
            parent = entry.get("parent")
            try:
                if parent is not None and parent in queues:
                    _layer(_limits_table(queues[parent].get("policy")),
                           merged)
                _layer(_limits_table(entry.get("policy")), merged)
            except ValueError as exc:
                raise ValueError(f"queues.{name}.{exc}") from None
            self._queues[name] = merged
        self.active = bool(self._effective(general)) or any(
            self._effective(q) for q in self._queues.values())
        self._general = self._effective(general)
        self._queues = {n: self._effective(q) for n, q in self._queues.items()}

    def _effective(self, limits):
        """Drop unlimited markers: what is left must be checked."""
        out = {}
        for key, value in limits.items():
            if ("duration" if key == "duration" else "size") \
                    not in self._kinds:
                continue
            if key == "duration":
                if value > 0:
                    out[key] = value
            elif value != -1:
                out[key] = value
        return out

    def check(self, jobspec):
        """Check one (frobnicated) jobspec.

        :returns: None, or the refusal message.
        :raises fluxd.formats.jobspec.JobspecError: when the resource
            request cannot be counted.
        """
        if not self.active:
            return None
        system = jobspec["attributes"]["system"]
        queue = system.get("queue")
        limits = self._queues.get(queue, self._general) if queue \
            else self._general
        if not limits:
            return None
        where = f" for queue {queue}" if queue else ""
        limit = limits.get("duration")
        if limit is not None:
            duration = system.get("duration") or 0
            if duration == 0 or duration > limit:
                shown = "unlimited" if duration == 0 else format_fsd(duration)
                return (f"requested duration ({shown}) exceeds policy limit"
                        f" of {format_fsd(limit)}{where}")
        if len(limits) == (limit is not None):
            return None
        c = counts(jobspec)
        values = {"nnodes": c.nnodes, "ncores": c.ncores, "ngpus": c.ngpus}
        for bound, word in (("max", "exceeds"), ("min", "is under")):
            for key in _SIZES:
                limit = limits.get((bound, key))
                if limit is None:
                    continue
                value = values[key]
                if (value > limit) if bound == "max" else (value < limit):
                    return (f"requested {key} ({value}) {word} policy limit"
                            f" of {limit}{where}")
        return None


def check_lifetime(jobspec, expiration, now):
    """``validate-duration``: a job may not outlast its instance.

    :param expiration: the instance's expiration (epoch seconds; 0: none).
    :param now: the current time (epoch seconds).
    :returns: None, or the refusal message.
    """
    if expiration <= 0:
        return None
    duration = jobspec["attributes"]["system"].get("duration") or 0
    if duration <= 0:
        return None
    remaining = expiration - now
    if duration > remaining:
        try:
            return (f"job duration ({format_fsd(duration, 2)}) exceeds"
                    " remaining instance lifetime"
                    f" ({format_fsd(max(remaining, 0.0), 2)})")
        except FSDError:
            return "duration exceeds instance lifetime"
    return None
